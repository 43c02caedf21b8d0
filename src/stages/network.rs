//! The network stage. (Being built: see issue 7.)

use crate::error::{Error, Result};
use crate::journal::Resource;
use crate::sys::Sys;

/// Undo a network resource from the journal.
pub fn undo(_sys: &Sys, r: &Resource) -> Result<()> {
    Err(Error::new(
        format!(
            "cannot undo {}: the network stage is not built yet",
            r.describe()
        ),
        "follow issue 7",
    ))
}

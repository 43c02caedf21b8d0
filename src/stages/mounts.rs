//! The mount stage. (Being built: see issue 5.)

use crate::cli::MountArgs;
use crate::error::{Error, Result};
use crate::sys::Sys;

pub fn main(_a: &MountArgs, _sys: &Sys) -> Result<i32> {
    Err(Error::new(
        "glassbox mount is not built yet",
        "follow issue 5",
    ))
}

//! The enter stage. (Being built: see issue 5.)

use crate::cli::EnterArgs;
use crate::error::{Error, Result};
use crate::sys::Sys;

pub fn main(_a: &EnterArgs, _sys: &Sys) -> Result<i32> {
    Err(Error::new(
        "glassbox enter is not built yet",
        "follow issue 5",
    ))
}

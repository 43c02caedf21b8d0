//! The root stages: chroot and pivot-root. (Being built: see issue 5.)

use crate::cli::RootArgs;
use crate::error::{Error, Result};
use crate::sys::Sys;

pub fn chroot_main(_a: &RootArgs, _sys: &Sys) -> Result<i32> {
    Err(Error::new(
        "glassbox chroot is not built yet",
        "follow issue 5",
    ))
}

pub fn pivot_root_main(_a: &RootArgs, _sys: &Sys) -> Result<i32> {
    Err(Error::new(
        "glassbox pivot-root is not built yet",
        "follow issue 5",
    ))
}

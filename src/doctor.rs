//! `glassbox doctor`: what this host supports. (Being built: see issue 3.)

use crate::cli::DoctorArgs;
use crate::error::{Error, Result};

pub fn main(_a: &DoctorArgs) -> Result<i32> {
    Err(Error::new(
        "glassbox doctor is not built yet",
        "follow issue 3",
    ))
}

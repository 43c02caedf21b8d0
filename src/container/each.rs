//! Acting on each container a command names, as docker's CLI does: shared by stop, rm,
//! kill, pause, update and wait, below all of them.

use crate::error::Result;
use crate::store::containers::{find, Container};
use crate::store::need_root;

/// Do `what` to each container named, as docker's CLI does: print each name done, report
/// each failure and go on; exit status 1 if any failed.
pub(super) fn each(
    what: &str,
    refs: &[String],
    act: impl Fn(Container) -> Result<()>,
) -> Result<i32> {
    need_root(what)?;
    Ok(for_each(refs, |r, c| act(c).map(|()| r.to_string())))
}

/// Find each container named (as `r`) and print the line `act` gives for it; report each
/// failure and go on. The exit status: 1 if any failed.
pub(super) fn for_each<T: std::fmt::Display>(
    refs: &[String],
    act: impl Fn(&str, Container) -> Result<T>,
) -> i32 {
    let mut code = 0;
    for r in refs {
        match find(r).and_then(|c| act(r, c)) {
            Ok(line) => crate::outln!("{line}"),
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    code
}

//! One way to take a lock: flock(2) on a file, held until the guard is dropped. Containers,
//! names, the image store and the image cache each have one, so two glassbox commands never
//! change the same thing at once.

use crate::error::{Error, Result};
use std::path::Path;

pub type Guard = crate::sys::own::Lock;

/// Lock `path` (made 0600 if missing), waiting while another process holds it. `what` names
/// it in an error: "the image store".
pub fn exclusive(path: &Path, what: &str) -> Result<Guard> {
    crate::sys::own::lock_exclusive(open_lock_file(path, what)?)
        .map_err(|e| Error::sys(format!("cannot lock {what}"), e, "try again"))
}

/// [`exclusive`] if nobody holds it now; None if somebody does (or it cannot be opened).
pub fn try_exclusive(path: &Path, what: &str) -> Option<Guard> {
    crate::sys::own::try_lock_exclusive(open_lock_file(path, what).ok()?).ok()
}

/// The lock file at `path`, made 0600 if missing.
fn open_lock_file(path: &Path, what: &str) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Error::io(
                format!("cannot open the lock of {what} ({})", path.display()),
                &e,
                "check that glassbox's data directory is writable (run as root)",
            )
        })
}

/// Lock a directory that exists already (a cgroup hierarchy's root), as [`exclusive`] does.
pub fn exclusive_dir(path: &Path, what: &str) -> Result<Guard> {
    let f = std::fs::File::open(path).map_err(|e| {
        Error::io(
            format!("cannot open {} to lock {what}", path.display()),
            &e,
            "run glassbox as root",
        )
    })?;
    crate::sys::own::lock_exclusive(f)
        .map_err(|e| Error::sys(format!("cannot lock {what}"), e, "try again"))
}

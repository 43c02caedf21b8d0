//! Empty container directories, kept for the next container.
//!
//! A `--rm` container's files live on a tmpfs mounted over its directory (`run/scratch.rs`),
//! so when it ends the disk holds only the empty directory it was mounted on. Removing that
//! is not free on every disk: a directory has a block of its own, and ext4 mounted with
//! `discard` (as many cloud disks are) makes the last close of a removed directory wait
//! while the disk discards that block (~0.3 ms a run on the machine bench/README.md
//! describes). Moved aside instead, it becomes the next container's directory: two
//! renames, and the disk allocates and frees nothing. At most [`KEPT`] wait, in
//! `DATA/spare/0` .. `DATA/spare/7`; the rest are removed.

use crate::sys::Sys;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// How many empty directories wait at most: enough for the runs that end at the same
/// moment on one machine to find one each; a few blocks of disk.
const KEPT: usize = 8;

/// Where they wait.
fn dir() -> PathBuf {
    super::data_dir().join("spare")
}

/// Make `into`, a new container's directory, out of a waiting spare; false when none waits
/// (make it yourself, then). An error when `into` is already there, or when a spare found
/// not empty cannot be removed. Slot 0 first (runs one after another use only it), then
/// whichever the pool holds.
pub fn take(sys: &Sys, into: &Path) -> std::io::Result<bool> {
    if !move_one_in(sys, into)? {
        return Ok(false);
    }
    // Empty, as it was kept: unless something wrote into the directory on the disk while
    // its container ended (a rename or update of it racing its --rm end). Then it goes.
    if std::fs::read_dir(into).is_ok_and(|mut d| d.next().is_none()) {
        return Ok(true);
    }
    sys.remove_path(into)
        .map(|()| false)
        .map_err(|e| match e.errno {
            Some(errno) => std::io::Error::from_raw_os_error(errno as i32),
            None => std::io::Error::other(e.what),
        })
}

fn move_one_in(sys: &Sys, into: &Path) -> std::io::Result<bool> {
    let spares = dir();
    let mut slots = vec!["0".to_string()];
    let mut listed = false;
    while let Some(slot) = slots.pop() {
        match sys.rename_quietly(
            &spares.join(&slot),
            into,
            false,
            "the container's directory: an empty one a finished container left, moved here (no new block for the disk to allocate)",
        ) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound && !listed => {
                listed = true;
                slots = std::fs::read_dir(&spares)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(e),
            // Another filesystem, a read-only one: make the directory instead.
            Err(_) => return Ok(false),
        }
    }
    Ok(false)
}

/// Keep `empty`, a finished container's empty directory, for the next one; false when
/// [`KEPT`] already wait (or it cannot be moved): remove it, then.
pub fn keep(sys: &Sys, empty: &Path) -> bool {
    let spares = dir();
    let mut made = false;
    let mut slot = 0;
    while slot < KEPT {
        match sys.rename_quietly(
            empty,
            &spares.join(slot.to_string()),
            false,
            "keep the container's empty directory for the next container: removing it would make this disk discard its block, and wait",
        ) {
            Ok(()) => return true,
            // RENAME_NOREPLACE: a slot taken is EEXIST, whatever it holds.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => slot += 1,
            Err(e) if e.kind() == ErrorKind::NotFound && !made => {
                made = true;
                if std::fs::create_dir_all(&spares).is_err() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

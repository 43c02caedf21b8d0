//! `glassbox diff`: what a container changed, read from its upper directory.
//!
//! overlayfs writes every change a container makes into its upper directory and nothing
//! else: a new or changed file is there whole (changed files are *copied up* first), a
//! deleted one is a whiteout (a character device 0/0), and a directory that was removed
//! and made again carries `trusted.overlay.opaque="y"`, hiding all the image had in it.
//! The directories above a changed file are copied up too, to hold it. So the upper
//! directory, compared with the image's read-only layers, is the whole answer:
//!
//! - a whiteout → `D` (deleted);
//! - anything else → `C` (changed) when the image's layers have that path, `A` (added) when
//!   they do not — which makes a directory copied up to hold a change a `C`;
//! - an opaque directory (and every directory below one) also hides what the image had in
//!   it: each such name that the container did not make again → `D`.
//!
//! A container run with `--userns private` mounted its overlay with `userxattr`: its opaque
//! directories carry `user.overlay.opaque` instead (see run/userns.rs).
//!
//! Lines are `KIND /path`, sorted by path, as `docker diff` prints them. The container's
//! init layer (/etc/hostname, /etc/hosts) is one of the read-only layers, so it shows only
//! where the container itself changed those files.

use super::walk::{self, Kind, Visit};
use crate::error::Result;
use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// 'A', 'C' or 'D'.
    pub kind: char,
    /// From the container's root: `/etc/passwd`.
    pub path: PathBuf,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.path.display())
    }
}

/// The changes recorded in `upper` over the read-only layers `lowers` (topmost first);
/// `opaque_xattr` is the marker the upper directory's overlay wrote.
pub fn changes(upper: &Path, lowers: &[PathBuf], opaque_xattr: &str) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    // Directories of the upper layer that do not merge with the layers below (opaque ones
    // and everything under them).
    let mut replaced: Vec<PathBuf> = Vec::new();
    let abs = |rel: &Path| Path::new("/").join(rel);
    walk::walk(upper, &mut |e| {
        if e.is_whiteout() {
            out.push(Change {
                kind: 'D',
                path: abs(e.rel),
            });
            return Ok(Visit::Skip);
        }
        let existed = walk::lower_lookup(lowers, e.rel).is_some();
        out.push(Change {
            kind: if existed { 'C' } else { 'A' },
            path: abs(e.rel),
        });
        if e.kind != Kind::Dir {
            return Ok(Visit::Skip);
        }
        let opaque = e
            .dir_fd
            .and_then(|fd| crate::sys::quiet::get_xattr(fd, opaque_xattr))
            .as_deref()
            == Some(b"y");
        let under_replaced = e
            .rel
            .parent()
            .is_some_and(|p| replaced.iter().any(|r| r == p));
        if (opaque || under_replaced) && existed {
            replaced.push(e.rel.to_path_buf());
            let here: BTreeSet<CString> = e
                .dir_fd
                .map(|fd| crate::sys::quiet::names(fd).unwrap_or_default())
                .unwrap_or_default()
                .into_iter()
                .collect();
            for gone in walk::lower_children(lowers, e.rel) {
                if !here.contains(&gone) {
                    out.push(Change {
                        kind: 'D',
                        path: abs(&e.rel.join(std::ffi::OsStr::from_bytes(gone.to_bytes()))),
                    });
                }
            }
        } else if opaque || under_replaced {
            replaced.push(e.rel.to_path_buf());
        }
        Ok(Visit::Descend)
    })?;
    out.sort_by(|a, b| {
        a.path
            .as_os_str()
            .as_bytes()
            .cmp(b.path.as_os_str().as_bytes())
    });
    Ok(out)
}

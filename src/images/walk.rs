//! Reading a layer directory without ever following a link out of it.
//!
//! A container's upper directory is written by the container: it may hold symlinks to the
//! host's `/`, and while the container runs it may swap a directory for a symlink between
//! two of our calls. So every directory is opened relative to its parent's descriptor with
//! `O_NOFOLLOW|O_DIRECTORY`, every entry is looked at with `fstatat(AT_SYMLINK_NOFOLLOW)`,
//! and files are opened with `O_NOFOLLOW`: nothing outside the tree is ever read. These are
//! reads only; nothing here changes the host, so they are not narrated.
//!
//! Entries come in byte order of their names, depth first, so two walks of one tree see
//! the same sequence (the layer tar built from it is then the same, bit for bit).

use crate::error::{Error, Result};
use crate::sys::quiet::{fstatat_nofollow, get_xattr, lstat, names, open_at, open_dir_path};
use nix::errno::Errno;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::store::overlay;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// One entry of the tree, with its parent directory open.
pub struct Entry<'a> {
    /// The parent directory's descriptor (to open or read the entry relative to it).
    pub parent: RawFd,
    /// The entry's own name.
    pub name: &'a CString,
    /// Its path relative to the walked directory, without a leading `/`.
    pub rel: &'a Path,
    pub st: libc::stat,
    pub kind: Kind,
    /// For a directory: its open descriptor (for its xattrs).
    pub dir_fd: Option<RawFd>,
}

impl Entry<'_> {
    /// An overlayfs whiteout: a character device 0/0.
    pub fn is_whiteout(&self) -> bool {
        overlay::is_whiteout(self.st.st_mode, self.st.st_rdev)
    }
    pub fn mode(&self) -> u32 {
        self.st.st_mode & 0o7777
    }
}

fn kind_of(mode: u32) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        libc::S_IFCHR => Kind::Char,
        libc::S_IFBLK => Kind::Block,
        libc::S_IFIFO => Kind::Fifo,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::File,
    }
}

fn fail(what: String, errno: Errno) -> Error {
    Error::sys(
        what,
        errno,
        "check that the directory is there and readable (run as root)",
    )
}

/// What to do after a directory was visited.
#[derive(PartialEq, Eq)]
pub enum Visit {
    Descend,
    Skip,
}

/// Walk the tree under `root` (not the root itself), calling `f` on every entry in order;
/// a directory's entries follow it when `f` says `Descend`.
pub fn walk(root: &Path, f: &mut dyn FnMut(&Entry) -> Result<Visit>) -> Result<()> {
    let fd = open_dir_path(root)?;
    walk_dir(root, fd.as_raw_fd(), Path::new(""), f)
}

fn walk_dir(
    root: &Path,
    dir: RawFd,
    rel: &Path,
    f: &mut dyn FnMut(&Entry) -> Result<Visit>,
) -> Result<()> {
    let list =
        names(dir).map_err(|e| fail(format!("cannot list {}", root.join(rel).display()), e))?;
    for name in &list {
        let child_rel = rel.join(OsStr::from_bytes(name.to_bytes()));
        let st = match fstatat_nofollow(dir, name) {
            Ok(st) => st,
            Err(errno) => match errno {
                // Gone since it was listed (a running container removed it).
                Errno::ENOENT => continue,
                e => {
                    return Err(fail(
                        format!("cannot look at {}", root.join(&child_rel).display()),
                        e,
                    ))
                }
            },
        };
        let kind = kind_of(st.st_mode);
        if kind == Kind::Dir {
            let sub = match open_at(dir, name, true) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => continue,
                // Swapped for something else since the stat: not followed.
                Err(Errno::ENOTDIR) | Err(Errno::ELOOP) => continue,
                Err(e) => {
                    return Err(fail(
                        format!("cannot open {}", root.join(&child_rel).display()),
                        e,
                    ))
                }
            };
            let e = Entry {
                parent: dir,
                name,
                rel: &child_rel,
                st,
                kind,
                dir_fd: Some(sub.as_raw_fd()),
            };
            if f(&e)? == Visit::Descend {
                walk_dir(root, sub.as_raw_fd(), &child_rel, f)?;
            }
        } else {
            let e = Entry {
                parent: dir,
                name,
                rel: &child_rel,
                st,
                kind,
                dir_fd: None,
            };
            f(&e)?;
        }
    }
    Ok(())
}

/// What one read-only layer has at a path.
enum AtLayer {
    /// The path itself: its stat, and whether this layer hides the layers below it (an
    /// opaque directory at it or above it).
    Found(libc::stat, bool),
    /// Nothing there; `true` when an opaque directory above it hides the layers below.
    Missing(bool),
    /// A whiteout or a non-directory at the path or above it: nothing below shows.
    Hidden,
}

/// Look at `comps` in one layer, one component at a time with lstat (no symlink followed).
fn at_layer(layer: &Path, comps: &[&OsStr]) -> AtLayer {
    let mut p = layer.to_path_buf();
    let mut opaque_above = false;
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let Some(st) = lstat(&p) else {
            return AtLayer::Missing(opaque_above);
        };
        let kind = kind_of(st.st_mode);
        if kind == Kind::Char && st.st_rdev == 0 {
            return AtLayer::Hidden;
        }
        if i + 1 == comps.len() {
            let opaque_here = kind == Kind::Dir && is_opaque_path(&p);
            return AtLayer::Found(st, opaque_above || opaque_here);
        }
        if kind != Kind::Dir {
            return AtLayer::Hidden;
        }
        opaque_above |= is_opaque_path(&p);
    }
    AtLayer::Missing(opaque_above)
}

/// How a path looks through a stack of read-only layers (topmost first), as overlayfs
/// resolves it: the first layer that has the path decides, a whiteout hides it, and an
/// opaque directory or a non-directory in a layer hides what the layers below have under it.
pub fn lower_lookup(lowers: &[PathBuf], rel: &Path) -> Option<libc::stat> {
    let comps: Vec<&OsStr> = rel.iter().collect();
    if comps.is_empty() {
        return None;
    }
    for layer in lowers {
        match at_layer(layer, &comps) {
            AtLayer::Found(st, _) => return Some(st),
            AtLayer::Missing(false) => continue,
            AtLayer::Missing(true) | AtLayer::Hidden => return None,
        }
    }
    None
}

/// The names a stack of layers shows in the directory `rel` (whiteouts and opaque
/// directories applied): what an opaque upper directory hides.
pub fn lower_children(lowers: &[PathBuf], rel: &Path) -> Vec<CString> {
    let comps: Vec<&OsStr> = rel.iter().collect();
    let mut seen: std::collections::BTreeSet<CString> = Default::default();
    let mut hidden: std::collections::BTreeSet<CString> = Default::default();
    for layer in lowers {
        let stop = if comps.is_empty() {
            false // the layer's root
        } else {
            match at_layer(layer, &comps) {
                AtLayer::Found(st, stop) if kind_of(st.st_mode) == Kind::Dir => stop,
                AtLayer::Missing(false) => continue,
                _ => break,
            }
        };
        if let Ok(fd) = open_dir_path(&layer.join(rel)) {
            for n in names(fd.as_raw_fd()).unwrap_or_default() {
                if hidden.contains(&n) || seen.contains(&n) {
                    continue;
                }
                let whiteout = fstatat_nofollow(fd.as_raw_fd(), &n)
                    .is_ok_and(|st| overlay::is_whiteout(st.st_mode, st.st_rdev));
                if whiteout {
                    hidden.insert(n);
                } else {
                    seen.insert(n);
                }
            }
        }
        if stop {
            break;
        }
    }
    seen.into_iter().collect()
}

fn is_opaque_path(p: &Path) -> bool {
    let value = open_dir_path(p)
        .ok()
        .and_then(|fd| get_xattr(fd.as_raw_fd(), overlay::store_opaque_xattr()));
    overlay::is_opaque_value(value.as_deref())
}

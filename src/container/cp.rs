//! `glassbox cp [-a] C:PATH DEST` and `cp [-a] SRC C:PATH`: files between the host and a
//! running container, as docker cp (a symlink is copied as the link unless -L).
//!
//! The container's files are its root as the kernel shows it from outside,
//! /proc/PID/root. Every container path is resolved by the kernel *inside* that root:
//! openat2(2) with RESOLVE_IN_ROOT treats the root as `/`, so `..`, an absolute symlink or a
//! chain of them cannot climb out. A symlink `/x -> /etc/passwd` in the container leads to
//! the container's /etc/passwd, never the host's; a file copied onto it replaces the link
//! (O_EXCL|O_NOFOLLOW after an unlink), never writes through it. `-a` keeps owners.

use crate::cli::CpArgs;
use crate::error::{Error, Result};
use crate::store::containers::find;
use crate::sys::tree::{list_dir, stat_at, DirFd};
use crate::sys::Sys;
use nix::errno::Errno;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// `C:PATH` as (container, path); a path with a `/` before its first `:` is a host path.
fn container_side(s: &str) -> Option<(&str, &str)> {
    let (c, p) = s.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// A container path as relative to its root (`/etc/x` → `etc/x`; `/` → `.`).
fn rel(p: &str) -> String {
    let r = p.trim_start_matches('/').trim_end_matches('/');
    if r.is_empty() {
        ".".into()
    } else {
        r.to_string()
    }
}

fn parent_and_name(p: &str) -> (String, String) {
    let r = rel(p);
    match r.rsplit_once('/') {
        Some((d, n)) => (d.to_string(), n.to_string()),
        None => (".".into(), r),
    }
}

fn fail(what: String, (errno, call): (Errno, String)) -> Error {
    Error::sys(
        format!("{what} ({call})"),
        errno,
        "check the path inside the container (glassbox exec C ls -l PATH)",
    )
    .with_code(1)
}

fn host_fail(what: String, e: std::io::Error) -> Error {
    Error::io(what, &e, "check the host path and its permissions").with_code(1)
}

/// A container path that is a symlink is copied as the link, as docker cp does (a trailing
/// `/` follows it). True if it was one.
fn copy_link_out(sys: &Sys, root: &DirFd, path: &str, to: &Path) -> Result<bool> {
    let (parent, name) = parent_and_name(path);
    if path.ends_with('/') || name == "." {
        return Ok(false);
    }
    let Ok(dir) = sys.openat2_dir(root, &parent, IN_ROOT) else {
        return Ok(false);
    };
    if stat_at(&dir, &name).is_none_or(|st| st.st_mode & libc::S_IFMT != libc::S_IFLNK) {
        return Ok(false);
    }
    let n = std::ffi::CString::new(name.as_str()).expect("no NUL in a name");
    let Ok(target) = crate::sys::quiet::read_link_at(dir.raw(), &n) else {
        return Ok(false);
    };
    let _ = std::fs::remove_file(to);
    std::os::unix::fs::symlink(&target, to)
        .map_err(|e| host_fail(format!("cannot make {}", to.display()), e))?;
    Ok(true)
}

/// Copy container path `path` (resolved in `root`) to host path `to`.
fn copy_out(sys: &Sys, root: &DirFd, path: &str, to: &Path, keep: bool) -> Result<()> {
    let r = rel(path);
    match sys.openat2_dir(root, &r, IN_ROOT) {
        Ok(dir) => {
            std::fs::create_dir_all(to)
                .map_err(|e| host_fail(format!("cannot make {}", to.display()), e))?;
            for name in list_dir(&dir) {
                let Some(st) = stat_at(&dir, &name) else {
                    continue;
                };
                let inner = format!("{r}/{name}");
                let dest = to.join(&name);
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR | libc::S_IFREG => copy_out(sys, root, &inner, &dest, keep)?,
                    libc::S_IFLNK => {
                        let n = std::ffi::CString::new(name.as_str()).expect("no NUL in a name");
                        if let Ok(target) = crate::sys::quiet::read_link_at(dir.raw(), &n) {
                            // The link itself, as docker cp copies it: its target is not followed.
                            let _ = std::fs::remove_file(&dest);
                            std::os::unix::fs::symlink(&target, &dest).map_err(|e| {
                                host_fail(format!("cannot make {}", dest.display()), e)
                            })?;
                        }
                    }
                    _ => sys
                        .narrator
                        .note(&format!("{inner}: a device, fifo or socket, not copied")),
                }
                if keep {
                    let _ = std::os::unix::fs::lchown(&dest, Some(st.st_uid), Some(st.st_gid));
                }
            }
            let st = stat_at(&dir, ".");
            if let Some(st) = st {
                let _ = std::fs::set_permissions(
                    to,
                    std::fs::Permissions::from_mode(st.st_mode & 0o7777),
                );
            }
            Ok(())
        }
        Err((Errno::ENOTDIR, _)) => {
            let mut from = sys
                .open_file_in_root(
                    root,
                    &r,
                    "open the file inside the container's root: no path out of it",
                )
                .map_err(|e| fail(format!("cannot open {path} in the container"), e))?;
            let meta = from
                .metadata()
                .map_err(|e| host_fail(format!("cannot read {path}"), e))?;
            let _ = std::fs::remove_file(to);
            let mut out = std::fs::File::create(to)
                .map_err(|e| host_fail(format!("cannot create {}", to.display()), e))?;
            std::io::copy(&mut from, &mut out)
                .map_err(|e| host_fail(format!("cannot copy {path}"), e))?;
            out.flush()
                .map_err(|e| host_fail(format!("cannot write {}", to.display()), e))?;
            let _ = out.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777));
            if keep {
                let _ = std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()));
            }
            Ok(())
        }
        Err(e) => Err(fail(format!("cannot find {path} in the container"), e)),
    }
}

/// Copy host path `from` into directory `dir` (in the container) as `name`.
fn copy_in(sys: &Sys, dir: &DirFd, name: &str, from: &Path, keep: bool) -> Result<()> {
    let meta = std::fs::symlink_metadata(from)
        .map_err(|e| host_fail(format!("cannot read {}", from.display()), e))?;
    let shown = format!("{}/{name}", dir.shown);
    let existing = stat_at(dir, name).map(|st| st.st_mode & libc::S_IFMT);
    if meta.is_dir() {
        if existing.is_some_and(|t| t != libc::S_IFDIR) {
            return Err(Error::usage(
                format!(
                    "cannot copy the directory {} onto {shown}: it is not a directory there",
                    from.display()
                ),
                "remove it in the container first, or copy to another path",
            )
            .with_code(1));
        }
        if existing.is_none() {
            sys.mkdirat(dir, name, meta.mode() & 0o7777)
                .map_err(|e| fail(format!("cannot make {shown}"), e))?;
        }
        let sub = sys
            .open_subdir(dir, name)
            .map_err(|e| fail(format!("cannot open {shown}"), e))?;
        for entry in std::fs::read_dir(from)
            .map_err(|e| host_fail(format!("cannot list {}", from.display()), e))?
        {
            let entry =
                entry.map_err(|e| host_fail(format!("cannot list {}", from.display()), e))?;
            copy_in(
                sys,
                &sub,
                &entry.file_name().to_string_lossy(),
                &entry.path(),
                keep,
            )?;
        }
        if keep {
            sys.fchownat(sub.raw(), &sub.shown, "", meta.uid(), meta.gid())
                .map_err(|e| fail(format!("cannot give {shown} its owner"), e))?;
        }
        return Ok(());
    }
    // Whatever is there (a file, or a symlink that may point anywhere) is replaced, not
    // written through.
    match existing {
        Some(libc::S_IFDIR) => {
            return Err(Error::usage(
                format!(
                    "cannot copy {} onto {shown}: it is a directory there",
                    from.display()
                ),
                "copy into it: give the directory as the destination",
            )
            .with_code(1))
        }
        Some(_) => sys
            .unlinkat(dir, name, false)
            .map_err(|e| fail(format!("cannot replace {shown}"), e))?,
        None => {}
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)
            .map_err(|e| host_fail(format!("cannot read {}", from.display()), e))?;
        return sys
            .symlinkat(&target.to_string_lossy(), dir, name)
            .map_err(|e| fail(format!("cannot make {shown}"), e));
    }
    if !meta.is_file() {
        sys.narrator.note(&format!(
            "{}: a device, fifo or socket, not copied",
            from.display()
        ));
        return Ok(());
    }
    let mut src = std::fs::File::open(from)
        .map_err(|e| host_fail(format!("cannot open {}", from.display()), e))?;
    let mut out = sys
        .create_file_at_for(
            dir,
            name,
            0o600,
            "a new file in the container: O_EXCL|O_NOFOLLOW, never through a link",
        )
        .map_err(|e| fail(format!("cannot create {shown}"), e))?;
    std::io::copy(&mut src, &mut out)
        .map_err(|e| host_fail(format!("cannot copy {}", from.display()), e))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&out);
    sys.fchmod(fd, &shown, meta.mode() & 0o7777)
        .map_err(|e| fail(format!("cannot give {shown} its mode"), e))?;
    if keep {
        sys.fchownat(fd, &shown, "", meta.uid(), meta.gid())
            .map_err(|e| fail(format!("cannot give {shown} its owner"), e))?;
    }
    Ok(())
}

pub fn main(a: &CpArgs, sys: &Sys) -> Result<i32> {
    crate::store::need_root("cp")?;
    let (out, (ctr, path), host) =
        match (container_side(&a.src), container_side(&a.dest)) {
            (Some(c), None) => (true, c, PathBuf::from(&a.dest)),
            (None, Some(c)) => (false, c, PathBuf::from(&a.src)),
            _ => return Err(Error::usage(
                "cp copies between a container and the host: exactly one side is CONTAINER:PATH",
                "for example: glassbox cp web:/etc/hostname . or glassbox cp ./f web:/tmp/",
            )),
        };
    let c = find(ctr).map_err(|e| e.with_code(1))?;
    let Some(pid) = c.state().running_pid() else {
        return Err(Error::usage(
            format!("cannot copy with container {}: it is not running (its files are an overlay mounted only while it runs)", c.name()),
            format!("start it first: glassbox start {}", c.name()),
        )
        .with_code(1));
    };
    sys.narrator.stage(
        "cp",
        &format!(
            "{} the container's root, every path resolved by the kernel inside it",
            if out { "from" } else { "into" }
        ),
    );
    let root = sys.open_tree_root(
        Path::new(&format!("/proc/{pid}/root")),
        "the container's root as the kernel shows it from outside: every path below is resolved in it (RESOLVE_IN_ROOT)",
    )?;
    if out {
        // Into a host directory that exists: under the source's own name, as cp(1) does.
        let name = parent_and_name(path).1;
        let to = if host.is_dir() && name != "." {
            host.join(name)
        } else {
            host
        };
        if !a.follow_link && copy_link_out(sys, &root, path, &to)? {
            return Ok(0);
        }
        return copy_out(sys, &root, path, &to, a.archive).map(|()| 0);
    }
    let host_name = host
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    let (dir, name) = match sys.openat2_dir(&root, &rel(path), IN_ROOT) {
        // An existing directory: the copy goes in it under the source's name.
        Ok(d) => (d, host_name),
        Err(_) => {
            let (parent, name) = parent_and_name(path);
            let d = sys.openat2_dir(&root, &parent, IN_ROOT).map_err(|e| {
                fail(
                    format!("cannot find the directory of {path} in the container"),
                    e,
                )
            })?;
            (d, name)
        }
    };
    copy_in(sys, &dir, &name, &host, a.archive).map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_host_paths() {
        assert_eq!(container_side("web:/etc/x"), Some(("web", "/etc/x")));
        assert_eq!(container_side("./a:b"), None);
        assert_eq!(container_side("/tmp/x"), None);
        assert_eq!(parent_and_name("/etc/x"), ("etc".into(), "x".into()));
        assert_eq!(parent_and_name("/x"), (".".into(), "x".into()));
        assert_eq!(rel("/"), ".");
    }
}

//! File calls that change the host or the container's tree: mkdir(2), mkdirat(2), rmdir(2),
//! mknod(2), fchownat(2), fchown(2), symlink(2), and writes to kernel files (/proc,
//! /sys/fs/cgroup) shown as the write they are.

use super::{check, cstring, diagnose, qpath, quote, Diagnosis, Sys};
use crate::error::{Error, Result};
use crate::narrate::Call;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

impl Sys<'_> {
    /// mkdir(2).
    pub fn mkdir(&self, path: &Path, mode: u32, why: &str) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new(
                "mkdir",
                vec![qpath(path), format!("0{mode:o}")],
                "mkdir(2)",
                why,
            )
            .by_hand(format!("mkdir -m {mode:o} {}", path.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::mkdir(p.as_ptr(), mode as libc::mode_t) } as libc::c_long)
        })?;
        Ok(())
    }

    /// mkdirat(2): `name` in the directory open as `dir` (whose path is `dir_path`, shown
    /// as strace -y shows a descriptor). The directory itself, not whatever its path leads
    /// to by now; and no /proc/self/fd/N to look up in a /proc that may not know this
    /// process yet.
    pub fn mkdir_in(
        &self,
        dir: std::os::fd::BorrowedFd,
        dir_path: &Path,
        name: &std::ffi::OsStr,
        mode: u32,
        why: &str,
    ) -> Result<()> {
        let n = cstring(&name.to_string_lossy())?;
        let raw = dir.as_raw_fd();
        // Without the trailing slash a root joined with "" has.
        let dir_path = dir_path.components().as_path();
        let call = || {
            Call::new(
                "mkdirat",
                vec![
                    format!("{raw}<{}>", dir_path.display()),
                    quote(&name.to_string_lossy()),
                    format!("0{mode:o}"),
                ],
                "mkdir(2)",
                why,
            )
            .by_hand(format!(
                "mkdir -m {mode:o} {}",
                dir_path.join(name).display()
            ))
        };
        self.call_plain(call, || {
            check(unsafe { libc::mkdirat(raw, n.as_ptr(), mode as libc::mode_t) } as libc::c_long)
        })?;
        Ok(())
    }

    /// rmdir(2).
    pub fn rmdir(&self, path: &Path, why: &str) -> Result<()> {
        self.rmdir_diagnosed(path, why, |e| diagnose::generic("rmdir", e))
    }

    /// rmdir(2) whose refusal `diagnose` explains (or, with no `why`, expects).
    pub fn rmdir_diagnosed(
        &self,
        path: &Path,
        why: &str,
        diagnose: impl FnOnce(nix::errno::Errno) -> Diagnosis,
    ) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new("rmdir", vec![qpath(path)], "rmdir(2)", why)
                .by_hand(format!("rmdir {}", path.display()))
        };
        self.call(
            call,
            || check(unsafe { libc::rmdir(p.as_ptr()) } as libc::c_long),
            diagnose,
        )?;
        Ok(())
    }

    /// mknod(2) for a character device, with its major and minor numbers.
    pub fn mknod_char(
        &self,
        path: &Path,
        mode: u32,
        major: u32,
        minor: u32,
        why: &str,
    ) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let dev = libc::makedev(major, minor);
        let call = || {
            Call::new(
                "mknod",
                vec![qpath(path), format!("S_IFCHR|0{mode:o}"), {
                    // strace prints 0 as `0` and other numbers in hex.
                    let h = |n: u32| {
                        if n == 0 {
                            "0".to_string()
                        } else {
                            format!("{n:#x}")
                        }
                    };
                    format!("makedev({}, {})", h(major), h(minor))
                }],
                "mknod(2)",
                why,
            )
            .by_hand(format!(
                "mknod -m {mode:o} {} c {major} {minor}",
                path.display()
            ))
        };
        self.call_plain(call, || {
            check(unsafe { libc::mknod(p.as_ptr(), libc::S_IFCHR | mode, dev) } as libc::c_long)
        })?;
        Ok(())
    }

    /// mknod(2) of an empty regular file (what `touch` makes), for a bind mount to cover.
    pub fn mknod_file(&self, path: &Path, mode: u32, why: &str) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new(
                "mknod",
                vec![qpath(path), format!("S_IFREG|0{mode:o}")],
                "mknod(2)",
                why,
            )
            .by_hand(format!("touch {}", path.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::mknod(p.as_ptr(), libc::S_IFREG | mode, 0) } as libc::c_long)
        })?;
        Ok(())
    }

    /// fchownat(2) from the working directory, not following a symlink (what `chown -h`
    /// does): give a file glassbox made another owner — the host uid that is root inside a
    /// container's user namespace.
    pub fn lchown(&self, path: &Path, uid: u32, gid: u32, why: &str) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new(
                "fchownat",
                vec![
                    "AT_FDCWD".into(),
                    qpath(path),
                    uid.to_string(),
                    gid.to_string(),
                    "AT_SYMLINK_NOFOLLOW".into(),
                ],
                "chown(2)",
                why,
            )
            .by_hand(format!("chown -h {uid}:{gid} {}", path.display()))
        };
        self.call_plain(call, || {
            check(unsafe {
                libc::fchownat(
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } as libc::c_long)
        })?;
        Ok(())
    }

    /// fchown(2) of an open file: give a file glassbox made another owner (the container's
    /// root in its user namespace) without looking its path up again.
    pub fn fchown(
        &self,
        file: &std::fs::File,
        shown: &str,
        uid: u32,
        gid: u32,
        why: &str,
    ) -> Result<()> {
        let fd = file.as_raw_fd();
        let call = || {
            Call::new(
                "fchown",
                vec![format!("{fd}<{shown}>"), uid.to_string(), gid.to_string()],
                "chown(2)",
                why,
            )
            .by_hand(format!("chown {uid}:{gid} {shown}"))
        };
        self.call_plain(call, || {
            check(unsafe { libc::fchown(fd, uid, gid) } as libc::c_long)
        })?;
        Ok(())
    }

    /// symlink(2): make `link` point at `target`.
    pub fn symlink(&self, target: &str, link: &Path, why: &str) -> Result<()> {
        let t = cstring(target)?;
        let l = cstring(&link.to_string_lossy())?;
        let call = || {
            Call::new(
                "symlink",
                vec![quote(target), qpath(link)],
                "symlink(2)",
                why,
            )
            .by_hand(format!("ln -s {target} {}", link.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::symlink(t.as_ptr(), l.as_ptr()) } as libc::c_long)
        })?;
        Ok(())
    }

    /// Write `value` to a kernel file (a cgroup limit, a uid_map, a sysctl) in one write(2),
    /// narrated as `write(3</path>, "value", N)`, by hand `echo value > path`.
    /// `diagnose` explains a refusal (the kernel answers through the write's errno).
    pub fn write_file(
        &self,
        path: &Path,
        value: &str,
        why: &str,
        diagnose: impl FnOnce(nix::errno::Errno) -> Diagnosis,
    ) -> Result<()> {
        let mut file = self.open_to_write(path, value)?;
        self.write_value(file.as_mut(), path, value, why, diagnose)
    }

    /// Write each `(value, why)` to one kernel file, opened once: one write(2) a value, for
    /// files that take one record a write (devices.allow: one rule each). Each is narrated
    /// as [`Sys::write_file`] narrates its one; `diagnose` explains a refused value.
    pub fn write_file_each(
        &self,
        path: &Path,
        writes: &[(&str, &str)],
        mut diagnose: impl FnMut(&str, nix::errno::Errno) -> Diagnosis,
    ) -> Result<()> {
        let Some((first, _)) = writes.first() else {
            return Ok(());
        };
        let mut file = self.open_to_write(path, first)?;
        for (value, why) in writes {
            self.write_value(file.as_mut(), path, value, why, |e| diagnose(value, e))?;
        }
        Ok(())
    }

    /// The kernel file `path` opened for writing (`first`, the value to write, for the
    /// error); none in a dry run.
    fn open_to_write(&self, path: &Path, first: &str) -> Result<Option<std::fs::File>> {
        if self.dry_run() {
            return Ok(None);
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| {
                let todo = match e.raw_os_error() {
                    Some(libc::ENOENT) => "check that the file exists: the kernel feature behind it may be missing (see `glassbox doctor`)",
                    Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => "run glassbox as root (sudo)",
                    _ => "see `glassbox doctor` for what this host supports",
                };
                Error::io(format!("cannot open {} to write {first:?}", path.display()), &e, todo)
            })
            .map(Some)
    }

    /// One narrated write(2) of `value` to `file` (opened on `path`; none: a dry run).
    fn write_value(
        &self,
        file: Option<&mut std::fs::File>,
        path: &Path,
        value: &str,
        why: &str,
        diagnose: impl FnOnce(nix::errno::Errno) -> Diagnosis,
    ) -> Result<()> {
        let by_hand = format!("echo {value} > {}", path.display());
        let Some(file) = file else {
            let call = || {
                Call::new(
                    "write",
                    vec![
                        format!("?<{}>", path.display()),
                        quote(value),
                        value.len().to_string(),
                    ],
                    "write(2)",
                    why,
                )
                .by_hand(by_hand)
            };
            return self
                .call(call, || Ok(value.len() as i64), diagnose)
                .map(|_| ());
        };
        let fd = file.as_raw_fd();
        let call = || {
            Call::new(
                "write",
                vec![
                    format!("{fd}<{}>", path.display()),
                    quote(value),
                    value.len().to_string(),
                ],
                "write(2)",
                why,
            )
            .by_hand(by_hand)
        };
        self.call(
            call,
            || match file.write(value.as_bytes()) {
                Ok(n) => Ok(n as i64),
                Err(e) => Err(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(libc::EIO),
                )),
            },
            diagnose,
        )?;
        Ok(())
    }

    /// [`Sys::write_file`] with the generic diagnosis.
    pub fn write_file_plain(&self, path: &Path, value: &str, why: &str) -> Result<()> {
        self.write_file(path, value, why, |e| diagnose::generic("write", e))
    }
}

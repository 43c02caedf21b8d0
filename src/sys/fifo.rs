//! A named pipe (FIFO) as a wake-up between processes that share no descriptor (made by
//! [`Sys::mkfifo`]): openat(2), a one-byte write(2), and poll(2) for its hang-up. Closing a FIFO costs
//! nothing (unlike an inotify descriptor, whose close waits for an RCU grace period), and the
//! kernel closes it for a process that is killed: a reader always wakes.

use super::{check, cstring, qpath, render_flags, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

const FLAGS: &[(u64, &str)] = &[
    (libc::O_RDWR as u64, "O_RDWR"),
    (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
];

impl Sys<'_> {
    /// openat(2) a FIFO without blocking: `write` opens it O_RDWR (a writer that needs no
    /// reader), otherwise O_RDONLY. None when calls are not made.
    pub fn open_fifo(&self, path: &Path, write: bool, why: &str) -> Result<Option<OwnedFd>> {
        let access = if write { libc::O_RDWR } else { libc::O_RDONLY };
        let flags = access | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let shown = render_flags(flags as u64, FLAGS);
        let shown = if write {
            shown
        } else {
            format!("O_RDONLY|{shown}")
        };
        self.open_cwd(&path.to_string_lossy(), flags, &shown, why)
    }

    /// write(2) one byte into a FIFO: its readers' poll for input returns.
    pub fn fifo_mark(&self, fifo: &OwnedFd, why: &str) -> Result<()> {
        let fd = fifo.as_raw_fd();
        let call = || {
            Call::new(
                "write",
                vec![fd.to_string(), "\"x\"".into(), "1".into()],
                "write(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) } as libc::c_long)
        })?;
        Ok(())
    }

    /// poll(2) a FIFO's read end for its hang-up only (no events asked: a byte in it does
    /// not wake): true once every writer has closed it, false when `limit` passed.
    pub fn poll_hangup(&self, fifo: &OwnedFd, limit: Duration, why: &str) -> Result<bool> {
        let fd = fifo.as_raw_fd();
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        Ok(self.poll_one(fd, &fd.to_string(), 0, ms, why)? > 0)
    }

    /// openat(2) /proc/PID/ns/KIND: a reference that keeps that namespace alive after its
    /// last process has ended, until it is closed.
    pub fn open_ns(&self, pid: i32, kind: &str, why: &str) -> Result<Option<OwnedFd>> {
        let path = format!("/proc/{pid}/ns/{kind}");
        let flags = libc::O_RDONLY | libc::O_CLOEXEC;
        self.open_cwd(&path, flags, "O_RDONLY|O_CLOEXEC", why)
    }

    /// openat(AT_FDCWD, path, flags) with the flags `shown` as strace spells them. None when
    /// calls are not made.
    fn open_cwd(&self, path: &str, flags: i32, shown: &str, why: &str) -> Result<Option<OwnedFd>> {
        let p = cstring(path)?;
        let call = || {
            Call::new(
                "openat",
                vec!["AT_FDCWD".into(), qpath(Path::new(path)), shown.into()],
                "openat(2)",
                why,
            )
        };
        let fd = self.call_plain(call, || {
            check(unsafe { libc::openat(libc::AT_FDCWD, p.as_ptr(), flags) } as libc::c_long)
        })?;
        if !self.kernel.makes_calls() {
            return Ok(None);
        }
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }
}

//! pipe2(2): a one-way channel between processes, as a detached container's stdout and
//! stderr reach the process that writes its log.

use super::{check, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{FromRawFd, OwnedFd};

impl Sys<'_> {
    /// A pipe, close-on-exec at both ends: (read end, write end).
    pub fn pipe(&self, why: &str) -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [-1 as libc::c_int; 2];
        let call = || {
            Call::new(
                "pipe2",
                vec!["...".into(), "O_CLOEXEC".into()],
                "pipe2(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)
        })?;
        if fds[0] < 0 {
            // A dry run made no pipe: /dev/null stands in for both ends.
            let null = |w: bool| {
                std::fs::OpenOptions::new()
                    .read(!w)
                    .write(w)
                    .open("/dev/null")
            };
            let (r, w) = (null(false), null(true));
            return match (r, w) {
                (Ok(r), Ok(w)) => Ok((r.into(), w.into())),
                (Err(e), _) | (_, Err(e)) => Err(crate::error::Error::io(
                    "cannot open /dev/null",
                    &e,
                    "check that /dev/null exists",
                )),
            };
        }
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }
}

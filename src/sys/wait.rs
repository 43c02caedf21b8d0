//! Waiting for a process to end without sleeping: pidfd_open(2), then poll(2) on the
//! descriptor, which the kernel makes readable the moment the process exits. `stop` and
//! `rm -f` wait this way for a container's PID 1 and for its supervisor, instead of
//! looking again every few milliseconds.

use super::{check, Sys};
use crate::error::Result;
use crate::narrate::Call;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

impl Sys<'_> {
    /// pidfd_open(2): a descriptor for `pid`. `None` when the process is already gone
    /// (ESRCH) or in a dry run.
    pub fn pidfd_open(&self, pid: i32, why: &str) -> Result<Option<OwnedFd>> {
        let call = Call::new(
            "pidfd_open",
            vec![pid.to_string(), "0".into()],
            "pidfd_open(2)",
            why,
        );
        self.narrator.before(&call);
        let made = self.perform(&call, || {
            check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
        });
        match made {
            Ok(_) if self.dry_run() => Ok(None),
            Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
            Err(Errno::ESRCH) => Ok(None),
            Err(Errno::ENOSYS) => Err(crate::error::Error::sys(
                format!("pidfd_open({pid}) failed"),
                Errno::ENOSYS,
                "Linux 5.3 or newer is needed to wait for a process this way: upgrade the kernel",
            )),
            Err(e) => {
                let d = super::diagnose::generic("pidfd_open", e);
                let mut err =
                    crate::error::Error::sys(format!("pidfd_open({pid}) failed"), e, d.todo);
                err.why = d.why;
                Err(err)
            }
        }
    }

    /// poll(2) on a pidfd: true once the process has exited, false when `limit` passed.
    pub fn poll_exit(&self, pidfd: &OwnedFd, limit: Duration, why: &str) -> Result<bool> {
        let fd = pidfd.as_raw_fd();
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        Ok(self.poll_in(fd, &fd.to_string(), ms, why)? > 0)
    }

    /// sched_yield(2): let a process this one just woke run first on this CPU (the kernel
    /// tends to queue a woken process behind its waker).
    pub fn yield_cpu(&self, why: &str) {
        let call = || Call::new("sched_yield", vec![], "sched_yield(2)", why);
        let _ = self.call_plain(call, || {
            check(unsafe { libc::sched_yield() } as libc::c_long)
        });
    }

    /// poll(2) for input on one descriptor (`shown` as the narration names it) for up to
    /// `ms` milliseconds: 1 when it is ready, 0 when the time passed.
    pub fn poll_in(&self, fd: i32, shown: &str, ms: i32, why: &str) -> Result<i64> {
        self.poll_one(fd, shown, libc::POLLIN, ms, why)
    }

    /// poll(2) one descriptor for `events` (0: only its hang-up or an error) for up to `ms`
    /// milliseconds, again when a signal interrupts it: 1 when it is ready, 0 when the time
    /// passed.
    pub(super) fn poll_one(
        &self,
        fd: i32,
        shown: &str,
        events: libc::c_short,
        ms: i32,
        why: &str,
    ) -> Result<i64> {
        let call = || {
            let events = if events == libc::POLLIN {
                "POLLIN"
            } else {
                "0"
            };
            Call::new(
                "poll",
                vec![
                    format!("[{{fd={shown}, events={events}}}]"),
                    "1".into(),
                    ms.to_string(),
                ],
                "poll(2)",
                why,
            )
            .blocking()
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        self.call_plain(call, || loop {
            match check(unsafe { libc::poll(&mut pfd, 1, ms) } as libc::c_long) {
                Err(Errno::EINTR) => continue,
                other => return other,
            }
        })
    }

    /// poll(2) several descriptors (each with how the narration names it) for input, for up
    /// to `ms` milliseconds, again when a signal interrupts it: which of them are ready
    /// (none when the time passed).
    pub fn poll_ins(&self, fds: &[(i32, String)], ms: i32, why: &str) -> Result<Vec<bool>> {
        let call = || {
            let shown: Vec<String> = fds
                .iter()
                .map(|(_, s)| format!("{{fd={s}, events=POLLIN}}"))
                .collect();
            Call::new(
                "poll",
                vec![
                    format!("[{}]", shown.join(", ")),
                    fds.len().to_string(),
                    ms.to_string(),
                ],
                "poll(2)",
                why,
            )
            .blocking()
        };
        let mut pfds: Vec<libc::pollfd> = fds
            .iter()
            .map(|&(fd, _)| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        self.call_plain(call, || loop {
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            match check(n as libc::c_long) {
                Err(Errno::EINTR) => continue,
                other => return other,
            }
        })?;
        Ok(pfds.iter().map(|p| p.revents != 0).collect())
    }

    /// Wait up to `limit` for `pid` to end: true if it has (or was gone already).
    pub fn wait_exit(&self, pid: i32, limit: Duration, why: &str) -> Result<bool> {
        match self.pidfd_open(pid, why)? {
            Some(fd) => self.poll_exit(&fd, limit, why),
            None => Ok(true),
        }
    }
}

//! What a container's init (`run --init`) does with signals and orphans: block them, wait
//! for one at a time, pass it on, and reap every child that ends.
//!
//! A PID 1 gets no signal it has no handler for (the kernel drops it), but a *blocked*
//! signal is never dropped: it waits, pending, until rt_sigtimedwait(2) takes it. That is
//! how tini, docker's init, sees every signal without installing a handler.

use super::{check, Sys};
use crate::error::Result;
use crate::narrate::Call;
use crate::sys::process::Ended;

/// Signals an init must not block: the kernel sends them to the thread that faulted, and a
/// blocked one kills it anyway (tini leaves the same ones out).
const SYNCHRONOUS: &[libc::c_int] = &[
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// The set as strace shows it: every signal but those (RTMIN and RT_1 are glibc's own).
const ALL_BUT: &str = "~[ILL TRAP ABRT BUS FPE SEGV TTIN TTOU SYS RTMIN RT_1]";

/// The set an init waits on: every signal but the synchronous ones.
pub fn init_set() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for &s in SYNCHRONOUS {
            libc::sigdelset(&mut set, s);
        }
        set
    }
}

impl Sys<'_> {
    /// rt_sigprocmask(SIG_BLOCK, set): hold `set`'s signals pending instead of acting on
    /// them. Returns the mask before, for [`Sys::unblock_signals`].
    pub fn block_signals(&self, set: &libc::sigset_t, why: &str) -> Result<libc::sigset_t> {
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        let call = || {
            Call::new(
                "rt_sigprocmask",
                vec!["SIG_BLOCK".into(), ALL_BUT.into(), "...".into(), "8".into()],
                "sigprocmask(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, set, &mut old) } as libc::c_long)
        })?;
        Ok(old)
    }

    /// rt_sigprocmask(SIG_SETMASK, old): the mask as it was (a blocked mask survives execve,
    /// so the command would otherwise start with every signal blocked).
    pub fn unblock_signals(&self, old: &libc::sigset_t, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "rt_sigprocmask",
                vec![
                    "SIG_SETMASK".into(),
                    "...".into(),
                    "NULL".into(),
                    "8".into(),
                ],
                "sigprocmask(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }

    /// rt_sigtimedwait(2) with no time limit: take the next pending signal of `set`.
    pub fn wait_signal(&self, set: &libc::sigset_t, why: &str) -> Result<libc::c_int> {
        let call = || {
            Call::new(
                "rt_sigtimedwait",
                vec![ALL_BUT.into(), "...".into(), "NULL".into(), "8".into()],
                "sigtimedwait(2)",
                why,
            )
            .blocking()
        };
        loop {
            let got = self.call_plain(call, || {
                check(
                    unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), std::ptr::null()) }
                        as libc::c_long,
                )
            });
            match got {
                Err(e) if e.errno == Some(nix::errno::Errno::EINTR) => continue,
                other => return other.map(|s| s as libc::c_int),
            }
        }
    }

    /// close_range(first, ~0, 0): close every descriptor from `first` on, but `keep` (the
    /// narration's own trace file): one close_range for each run of descriptors around it.
    pub fn close_from(&self, first: u32, keep: Option<u32>, why: &str) -> Result<()> {
        let ranges = match keep {
            Some(k) if k > first => vec![(first, k - 1), (k + 1, u32::MAX)],
            Some(k) if k == first => vec![(first + 1, u32::MAX)],
            _ => vec![(first, u32::MAX)],
        };
        for (lo, hi) in ranges {
            self.close_range(lo, hi, why)?;
        }
        Ok(())
    }

    /// wait4(-1, WNOHANG): collect one ended child, if any has ended (its pid and how).
    pub fn reap(&self, why: &str) -> Result<Option<(i32, Ended)>> {
        let mut status: libc::c_int = 0;
        let call = || {
            Call::new(
                "wait4",
                vec!["-1".into(), "...".into(), "WNOHANG".into(), "NULL".into()],
                "wait4(2)",
                why,
            )
        };
        let pid = match self.call_plain(call, || {
            check(
                unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, std::ptr::null_mut()) }
                    as libc::c_long,
            )
        }) {
            Ok(0) => return Ok(None),
            Ok(pid) => pid as i32,
            // No child left at all.
            Err(e) if e.errno == Some(nix::errno::Errno::ECHILD) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ended = if libc::WIFSIGNALED(status) {
            Ended::Signaled(libc::WTERMSIG(status))
        } else {
            Ended::Exited(libc::WEXITSTATUS(status))
        };
        Ok(Some((pid, ended)))
    }
}

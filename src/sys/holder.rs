//! A helper that keeps a container's mount namespace until glassbox itself has exited.
//!
//! When a container's last process exits, the kernel takes its mount namespace down inside
//! that exit: every mount unmounted, the overlay's and the tmpfs's superblocks freed, and a
//! wait for an RCU grace period (every CPU passing a quiet point) — ~0.3 ms on the machine
//! bench/README.md describes, all before wait4(2) returns to glassbox. bwrap's parent is
//! told the exit status by its own pid 1 before that teardown; a glassbox container's pid 1
//! is the command itself, so its status comes only after it.
//!
//! So a helper holds the namespace (a descriptor of /proc/PID/ns/mnt) and lets go of it when
//! glassbox's own exit closes the one pipe it reads: the teardown then runs beside whatever
//! the shell does next, not between the command's end and glassbox's answer. The helper
//! shares glassbox's memory (clone(2) with CLONE_VM: nothing is copied to make it; it also
//! takes the address space down after glassbox has gone), runs nothing but raw syscalls on a
//! stack of its own, and starts with every signal blocked: only glassbox's exit (or SIGKILL)
//! ends it. A killed glassbox closes the pipe too, so the helper never outlives it by more
//! than its own exit.

use super::{check, cstring, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// The helper's stack: it calls only close_range, read and exit.
const STACK_BYTES: usize = 16 * 1024;

/// What the helper keeps: the namespace, and the pipe glassbox's exit closes.
struct Held {
    namespace: libc::c_int,
    pipe: libc::c_int,
}

impl Sys<'_> {
    /// Keep `pid`'s mount namespace in a helper until this process exits (see the module).
    /// Made only when nobody watches (`run -q`'s foreground `--rm` container): it changes
    /// nothing a user sees but when the kernel does the unmounting.
    pub fn hold_mount_namespace(&self, pid: i32, why: &str) -> Result<()> {
        let path = format!("/proc/{pid}/ns/mnt");
        let c_path = cstring(&path)?;
        let open = || {
            Call::new(
                "openat",
                vec![
                    "AT_FDCWD".into(),
                    super::quote(&path),
                    "O_RDONLY|O_CLOEXEC".into(),
                ],
                "open(2)",
                why,
            )
        };
        let fd = self.call_plain(open, || {
            check(
                unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
                    as libc::c_long,
            )
        })?;
        // SAFETY: a descriptor this process just opened and owns.
        let namespace = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        let (read_end, write_end) = self.pipe(why)?;
        let held: &'static Held = Box::leak(Box::new(Held {
            namespace: namespace.as_raw_fd(),
            pipe: read_end.as_raw_fd(),
        }));
        // The helper runs on it after this process has gone: never freed.
        let stack: &'static mut [u8] = Box::leak(vec![0u8; STACK_BYTES].into_boxed_slice());
        let clone = || {
            Call::new(
                "clone",
                vec!["child_stack=...".into(), "flags=CLONE_VM|SIGCHLD".into()],
                "clone(2)",
                why,
            )
        };
        self.call_plain(clone, || {
            // SAFETY: the helper starts with every signal blocked (the mask is inherited)
            // and touches only `held` and its own stack, both leaked; it never returns into
            // this process's frames. The mask here is restored at once.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                let mut old: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
                let top = stack.as_mut_ptr().add(STACK_BYTES);
                let top = top.sub(top as usize % 16);
                let ret = libc::clone(
                    hold,
                    top.cast(),
                    libc::CLONE_VM | libc::SIGCHLD,
                    held as *const Held as *mut libc::c_void,
                );
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
                check(ret as libc::c_long)
            }
        })?;
        // The helper has its own copies of the namespace and the read end. This process
        // keeps the write end open until it exits: that close is the helper's signal.
        drop(namespace);
        drop(read_end);
        let _ = write_end.into_raw_fd();
        Ok(())
    }
}

/// The helper: close every descriptor but the namespace and the pipe, wait for the pipe's
/// end of file (glassbox has exited), exit. Raw syscalls only: it shares the memory of a
/// process that goes on (and then is gone), so nothing here allocates or takes a lock.
extern "C" fn hold(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the leaked `Held` hold_mount_namespace passed.
    let held = unsafe { &*(arg as *const Held) };
    let (low, high) = match held.namespace < held.pipe {
        true => (held.namespace as libc::c_uint, held.pipe as libc::c_uint),
        false => (held.pipe as libc::c_uint, held.namespace as libc::c_uint),
    };
    // SAFETY: raw syscalls on plain integers and a byte on this stack.
    unsafe {
        if low > 0 {
            libc::syscall(libc::SYS_close_range, 0, low - 1, 0);
        }
        if high > low + 1 {
            libc::syscall(libc::SYS_close_range, low + 1, high - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, high + 1, libc::c_uint::MAX, 0);
        let mut byte = 0u8;
        libc::syscall(libc::SYS_read, held.pipe, &mut byte as *mut u8, 1usize);
        libc::syscall(libc::SYS_exit, 0);
    }
    0
}

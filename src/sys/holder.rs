//! A helper that keeps a container's namespaces until glassbox itself has exited.
//!
//! When a container's last process exits, the kernel takes its mount namespace down inside
//! that exit: every mount unmounted, the overlay's and the tmpfs's superblocks freed, and a
//! wait for an RCU grace period (every CPU passing a quiet point) — ~0.3 ms on the machine
//! bench/README.md describes, all before wait4(2) returns to glassbox. bwrap's parent is
//! told the exit status by its own pid 1 before that teardown; a glassbox container's pid 1
//! is the command itself, so its status comes only after it.
//!
//! So a helper holds the namespace (a descriptor of /proc/PID/ns/mnt; the network and IPC
//! ones too, whose teardown kernel workers would otherwise run beside glassbox's own end)
//! and lets go of them when glassbox's own exit closes the one pipe it reads: the teardown
//! then runs beside whatever the shell does next, not between the command's end and
//! glassbox's answer. The helper
//! shares glassbox's memory (clone(2) with CLONE_VM: nothing is copied to make it; it also
//! takes the address space down after glassbox has gone), runs nothing but raw syscalls on a
//! stack of its own, and starts with every signal blocked: only glassbox's exit (or SIGKILL)
//! ends it. A killed glassbox closes the pipe too, and PR_SET_PDEATHSIG kills the helper
//! with it besides, so the helper never outlives it by more than its own exit.
//!
//! Not for a container with volumes: a bind mount held past glassbox's answer would keep
//! its source's filesystem busy for a moment after it (an `umount` right after the run
//! would detach it without shutting it down yet).

use super::{check, cstring, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// The helper's stack: it calls only close_range, read and exit.
const STACK_BYTES: usize = 16 * 1024;

/// The namespaces held: the mount namespace (its unmounting waits for an RCU grace
/// period), the network one (taken down by a kernel worker that would otherwise run beside
/// glassbox's own end, on the other CPU and in the grace period its unmount waits for) and
/// the IPC one (freed by a worker too).
const HELD: [&str; 3] = ["mnt", "net", "ipc"];

/// What the helper keeps: the namespaces' descriptors and the pipe's read end, in
/// ascending order, and how many of `keep` there are; the pipe's write end, which it must
/// not keep; and glassbox's pid, to end with it.
struct Held {
    keep: [libc::c_int; HELD.len() + 1],
    count: usize,
    pipe: libc::c_int,
    write_end: libc::c_int,
    glassbox: libc::pid_t,
}

impl Sys<'_> {
    /// Keep `pid`'s mount, network and IPC namespaces in a helper until this process exits
    /// (see the module). Made only when nobody watches (`run -q`'s foreground `--rm`
    /// container): it changes nothing a user sees but when the kernel takes them down.
    pub fn hold_namespaces(&self, pid: i32, why: &str) -> Result<()> {
        if !self.kernel.makes_calls() {
            // Nothing to hold (and no descriptor to keep: the calls return 0).
            return Ok(());
        }
        let mut namespaces = Vec::with_capacity(HELD.len());
        for kind in HELD {
            namespaces.push(self.open_namespace(pid, kind, why)?);
        }
        let (read_end, write_end) = self.pipe(why)?;
        let mut keep = [-1; HELD.len() + 1];
        let mut count = 0;
        for fd in namespaces
            .iter()
            .map(AsRawFd::as_raw_fd)
            .chain([read_end.as_raw_fd()])
        {
            keep[count] = fd;
            count += 1;
        }
        keep[..count].sort_unstable();
        let held: &'static Held = Box::leak(Box::new(Held {
            keep,
            count,
            pipe: read_end.as_raw_fd(),
            write_end: write_end.as_raw_fd(),
            glassbox: super::quiet::pid() as libc::pid_t,
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
        // The helper has its own copies of the namespaces and the read end. This process
        // keeps the write end open until it exits: that close is the helper's signal.
        drop(namespaces);
        drop(read_end);
        let _ = write_end.into_raw_fd();
        Ok(())
    }

    /// open(2) of /proc/PID/ns/KIND.
    fn open_namespace(&self, pid: i32, kind: &str, why: &str) -> Result<OwnedFd> {
        let path = format!("/proc/{pid}/ns/{kind}");
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
        Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
    }
}

/// The helper: close every descriptor but the namespaces and the pipe, wait for the pipe's
/// end of file (glassbox has exited), exit. Raw syscalls only: it shares the memory of a
/// process that goes on (and then is gone), so nothing here allocates or takes a lock.
/// (glibc's clone wrapper is safe with CLONE_VM alone since glibc 2.25, which cached pids
/// before; glassbox links its own glibc, newer, statically.)
extern "C" fn hold(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the leaked `Held` hold_namespaces passed.
    let held = unsafe { &*(arg as *const Held) };
    // SAFETY: raw syscalls on plain integers and a byte on this stack.
    unsafe {
        // First what must never be kept, one by one: the pipe's write end (kept, the read
        // would never end) and the caller's stdin, stdout and stderr (kept, a caller
        // reading glassbox's output would wait for this helper).
        for fd in [held.write_end, 0, 1, 2] {
            if !held.keep[..held.count].contains(&fd) {
                libc::syscall(libc::SYS_close, fd);
            }
        }
        // Ended with glassbox whatever happens below (SIGKILL cannot be blocked).
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL,
            0,
            0,
            0,
        );
        if libc::syscall(libc::SYS_getppid) != held.glassbox as libc::c_long {
            libc::syscall(libc::SYS_exit, 0);
        }
        // The gaps around the kept descriptors (ascending), from 3 on. A
        // kernel without close_range (before 5.9) gets no holding: the helper just exits.
        let mut from: libc::c_uint = 3;
        let mut closed = true;
        for &fd in &held.keep[..held.count] {
            let fd = fd as libc::c_uint;
            if fd > from {
                closed &= libc::syscall(libc::SYS_close_range, from, fd - 1, 0) == 0;
            }
            from = from.max(fd + 1);
        }
        closed &= libc::syscall(libc::SYS_close_range, from, libc::c_uint::MAX, 0) == 0;
        if closed {
            let mut byte = 0u8;
            libc::syscall(libc::SYS_read, held.pipe, &mut byte as *mut u8, 1usize);
        }
        libc::syscall(libc::SYS_exit, 0);
    }
    0
}

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
//! glassbox's answer. The helper shares glassbox's memory (clone(2) with CLONE_VM: nothing
//! is copied to make it; it also takes the address space down after glassbox has gone),
//! runs nothing but raw syscalls on a stack of its own, and starts with every signal
//! blocked: only glassbox's exit (or SIGKILL) ends it. A killed glassbox closes the pipe
//! too, and PR_SET_PDEATHSIG kills the helper with it besides, so the helper never outlives
//! it by more than its own exit.
//!
//! Not for a container with volumes: a bind mount held past glassbox's answer would keep
//! its source's filesystem busy for a moment after it (an `umount` right after the run
//! would detach it without shutting it down yet).

use super::{vm_helper, Sys};
use crate::error::Result;
use std::os::fd::{AsRawFd, IntoRawFd};

/// The namespaces held: the mount namespace (its unmounting waits for an RCU grace
/// period), the network one (taken down by a kernel worker that would otherwise run beside
/// glassbox's own end, on the other CPU and in the grace period its unmount waits for) and
/// the IPC one (freed by a worker too).
const HELD: [&str; 3] = ["mnt", "net", "ipc"];

/// What the helper keeps: the namespaces' descriptors and the pipe's read end, in
/// ascending order; and glassbox's pid, to end with it.
struct Held {
    keep: [libc::c_int; HELD.len() + 1],
    pipe: libc::c_int,
    glassbox: libc::pid_t,
}

impl Sys<'_> {
    /// Keep `pid`'s mount, network and IPC namespaces in a helper until this process exits
    /// (see the module). Made only when nobody watches (`run -q`'s foreground `--rm`
    /// container): it changes nothing a user sees but when the kernel takes them down.
    pub fn hold_namespaces(&self, pid: i32, why: &str) -> Result<()> {
        if !self.kernel.makes_calls() || !vm_helper::AVAILABLE {
            // Nothing to hold (and no descriptor to keep: the calls return 0), or no helper
            // on this architecture: the namespaces go down in the container's exit.
            return Ok(());
        }
        let mut namespaces = Vec::with_capacity(HELD.len());
        for kind in HELD {
            let Some(ns) = self.open_ns(pid, kind, why)? else {
                return Ok(());
            };
            namespaces.push(ns);
        }
        let (read_end, write_end) = self.pipe(why)?;
        let mut keep = [-1; HELD.len() + 1];
        let kept = namespaces.iter().chain([&read_end]).map(AsRawFd::as_raw_fd);
        for (slot, fd) in keep.iter_mut().zip(kept) {
            *slot = fd;
        }
        keep.sort_unstable();
        let held: &'static Held = Box::leak(Box::new(Held {
            keep,
            pipe: read_end.as_raw_fd(),
            glassbox: super::quiet::pid() as libc::pid_t,
        }));
        let clone = || vm_helper::clone_call(why);
        // SAFETY: `hold` keeps to raw syscalls; `held` is leaked.
        self.call_plain(clone, || unsafe {
            super::vm_helper::spawn(hold, held as *const Held as *const libc::c_void)
        })?;
        // The helper has its own copies of the namespaces and the read end. This process
        // keeps the write end open until it exits: that close is the helper's signal.
        drop(namespaces);
        drop(read_end);
        let _ = write_end.into_raw_fd();
        Ok(())
    }
}

/// The helper: close every descriptor but the namespaces and the pipe, wait for the pipe's
/// end of file (glassbox has exited), exit (see vm_helper.rs for what it may do).
extern "C" fn hold(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the leaked `Held` hold_namespaces passed; only raw syscalls follow.
    unsafe {
        let held = &*(arg as *const Held);
        // Not the pipe's write end (the read would never end), nor the caller's stdio.
        if vm_helper::keep_only(&held.keep, held.glassbox) {
            vm_helper::wait_then_exit(held.pipe)
        }
        vm_helper::exit()
    }
}

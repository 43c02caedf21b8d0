//! A network namespace with lo up, made by a helper beside glassbox's own start.
//!
//! Making a network namespace is the kernel's slowest (~0.35 ms here: every network
//! subsystem sets itself up in it). For a quiet foreground `--rm` container in an empty
//! network (see `run::parent::ChildAhead`) the parent used to make it after the clone, while
//! the child built the container, and the child waited for it. Now a helper makes it from the
//! start of the run, on the CPU that is idle while the parent plans the container: it
//! unshares a network namespace of its own, brings lo up (one rtnetlink request), says so on
//! a pipe and waits. The parent then opens /proc/HELPER/ns/net and lets it go. The helper
//! shares glassbox's memory and keeps to raw syscalls (see vm_helper.rs); what it did is
//! narrated by the parent once it is done, with the results it got.

use super::{check, cstring, vm_helper, Sys};
use crate::error::{Error, Result};
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI64, Ordering};

/// The request bringing lo up, at most this long.
const REQUEST_BYTES: usize = 64;

/// The helper's work and what came of it.
struct Job {
    request: [u8; REQUEST_BYTES],
    request_len: usize,
    /// Written when done (a byte): the parent reads it.
    done: libc::c_int,
    /// Written to (or closed) by the parent once it has the namespace: the helper then
    /// exits.
    release: libc::c_int,
    /// The parent's ends, which the helper must not keep.
    theirs: [libc::c_int; 2],
    glassbox: libc::pid_t,
    /// The CPUs it may run on: all glassbox may, but the one glassbox runs on (it would
    /// take that one's time, which is the parent's).
    cpus: libc::cpu_set_t,
    /// unshare(2)'s return (0, or -errno).
    unshare: AtomicI64,
    /// lo up: 0, or -errno (the call that failed, or the kernel's answer).
    lo_up: AtomicI64,
}

/// A network namespace being made by a helper; [`EmptyNet::take`] opens it.
pub struct EmptyNet {
    pid: i32,
    done: OwnedFd,
    release: Option<OwnedFd>,
    job: &'static Job,
}

impl Sys<'_> {
    /// Start a helper that makes an empty network namespace with lo up (see the module).
    /// None when calls are not made, or the helper cannot be started: the parent makes the
    /// namespace itself then.
    pub fn start_empty_net(&self) -> Option<EmptyNet> {
        if !self.kernel.makes_calls() || !vm_helper::AVAILABLE {
            return None;
        }
        let cpus = other_cpus()?;
        let request = super::net::lo_up_request();
        let mut buf = [0u8; REQUEST_BYTES];
        buf.get_mut(..request.len())?.copy_from_slice(&request);
        let (done_read, done_write) = pipe()?;
        let (release_read, release_write) = pipe()?;
        let job: &'static Job = Box::leak(Box::new(Job {
            request: buf,
            request_len: request.len(),
            done: done_write.as_raw_fd(),
            release: release_read.as_raw_fd(),
            theirs: [done_read.as_raw_fd(), release_write.as_raw_fd()],
            glassbox: super::quiet::pid() as libc::pid_t,
            cpus,
            unshare: AtomicI64::new(-(libc::EINPROGRESS as i64)),
            lo_up: AtomicI64::new(-(libc::EINPROGRESS as i64)),
        }));
        // SAFETY: `make` keeps to raw syscalls; `job` is leaked.
        let pid = unsafe { vm_helper::spawn(make, job as *const Job as *const libc::c_void) };
        // The helper has its own copies of its ends.
        drop((done_write, release_read));
        Some(EmptyNet {
            pid: pid.ok()? as i32,
            done: done_read,
            release: Some(release_write),
            job,
        })
    }
}

impl EmptyNet {
    /// The namespace, once the helper has made it: its calls narrated with their results,
    /// then /proc/HELPER/ns/net opened, and the helper let go.
    pub fn take(self, sys: &Sys, why: &str) -> Result<std::fs::File> {
        let mut byte = 0u8;
        // SAFETY: a read into a byte on this stack.
        let _ = unsafe { libc::read(self.done.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        let unshare = self.job.unshare.load(Ordering::SeqCst);
        let lo_up = self.job.lo_up.load(Ordering::SeqCst);
        let made = |ret: i64| {
            if ret < 0 {
                Err(nix::errno::Errno::from_raw(-ret as i32))
            } else {
                Ok(ret)
            }
        };
        let call = || {
            Call::new("unshare", vec!["CLONE_NEWNET".into()], "unshare(2)", why)
                .by_hand("unshare --net (made by a helper process beside glassbox's start)")
        };
        sys.call_plain(call, || made(unshare))?;
        if lo_up != 0 {
            let errno = nix::errno::Errno::from_raw(-lo_up as i32);
            return Err(Error::sys(
                "ip link set lo up in the container's new network namespace failed",
                errno,
                "check that this kernel supports network namespaces (glassbox doctor)",
            ));
        }
        sys.narrator
            .note("lo is up in it (the helper's one rtnetlink request, ip link set lo up)");
        let path = format!("/proc/{}/ns/net", self.pid);
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
                "the helper's network namespace, kept open: it lives on after the helper",
            )
        };
        let fd = sys.call_plain(open, || {
            check(
                // SAFETY: a NUL-terminated path.
                unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
                    as libc::c_long,
            )
        })?;
        // SAFETY: a descriptor this process just opened and owns.
        Ok(unsafe { std::fs::File::from_raw_fd(fd as libc::c_int) })
    }
}

impl Drop for EmptyNet {
    /// Let the helper go (its namespace goes with it, unless opened). Told by
    /// a byte, not only by the pipe's end: a child cloned since holds a copy of this end
    /// until it execs.
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let byte = 1u8;
            // SAFETY: a write of a byte on this stack.
            unsafe { libc::write(release.as_raw_fd(), (&byte as *const u8).cast(), 1) };
        }
        // Reaped if it has ended already; otherwise not waited for (it may have to wait
        // for a CPU the container's child is using): its zombie goes when glassbox does.
        let mut status = 0;
        // SAFETY: this process's own child.
        unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
    }
}

/// The CPUs this process may run on but the one it runs on now; None when there is no
/// other (the helper would only take the parent's time: the parent makes the namespace).
fn other_cpus() -> Option<libc::cpu_set_t> {
    // SAFETY: a cpu_set_t filled in by the kernel, and plain calls on it.
    unsafe {
        let mut cpus: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut cpus) != 0 {
            return None;
        }
        let here = libc::sched_getcpu();
        if here >= 0 {
            libc::CPU_CLR(here as usize, &mut cpus);
        }
        (libc::CPU_COUNT(&cpus) > 0).then_some(cpus)
    }
}

/// pipe2(O_CLOEXEC), quietly: the helper's plumbing.
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: two descriptors written into `fds`.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    // SAFETY: two descriptors the kernel just made for this process.
    (ret == 0).then(|| unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The helper: unshare a network namespace, bring lo up, say so, wait to be let go, exit
/// (see vm_helper.rs for what it may do).
extern "C" fn make(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the leaked `Job`; only raw syscalls and atomics follow.
    unsafe {
        let job = &*(arg as *const Job);
        let mut keep = [job.done, job.release];
        keep.sort_unstable();
        // Off glassbox's CPU first, before it takes any of its time.
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let cpus = &job.cpus as *const libc::cpu_set_t as usize;
        vm_helper::raw(libc::SYS_sched_setaffinity, [0, size, cpus, 0, 0, 0]);
        let first = [job.theirs[0], job.theirs[1], 0, 1, 2];
        if !vm_helper::keep_only(&keep, &first, job.glassbox) {
            vm_helper::exit()
        }
        let ret = vm_helper::raw(
            libc::SYS_unshare,
            [libc::CLONE_NEWNET as usize, 0, 0, 0, 0, 0],
        );
        job.unshare.store(ret, Ordering::SeqCst);
        if ret == 0 {
            job.lo_up.store(lo_up(job), Ordering::SeqCst);
        }
        let byte = 1u8;
        let said = [job.done as usize, &byte as *const u8 as usize, 1, 0, 0, 0];
        vm_helper::raw(libc::SYS_write, said);
        vm_helper::wait_then_exit(job.release)
    }
}

/// In the helper: send the lo-up request on a new rtnetlink socket and read its answer: 0,
/// or -errno.
///
/// # Safety
/// Only in the helper.
unsafe fn lo_up(job: &Job) -> i64 {
    use vm_helper::raw;
    let kind = (libc::SOCK_RAW | libc::SOCK_CLOEXEC) as usize;
    let socket = [
        libc::AF_NETLINK as usize,
        kind,
        libc::NETLINK_ROUTE as usize,
        0,
        0,
        0,
    ];
    let fd = raw(libc::SYS_socket, socket);
    if fd < 0 {
        return fd;
    }
    let request = job.request.as_ptr() as usize;
    let sent = raw(
        libc::SYS_sendto,
        [fd as usize, request, job.request_len, 0, 0, 0],
    );
    // The ack: struct nlmsghdr (16 bytes), then struct nlmsgerr's error (0: done).
    let mut reply = [0u8; 256];
    let answer = match sent {
        ..0 => sent,
        _ => {
            let into = [
                fd as usize,
                reply.as_mut_ptr() as usize,
                reply.len(),
                0,
                0,
                0,
            ];
            match raw(libc::SYS_recvfrom, into) {
                got @ ..0 => got,
                got if got >= 20 => {
                    i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]) as i64
                }
                _ => -(libc::EPROTO as i64),
            }
        }
    };
    raw(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
    answer
}

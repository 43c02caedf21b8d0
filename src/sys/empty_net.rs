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
//! narrated by the parent once it is done (or given up), with the results it got: the
//! clone, the unshare, the routing socket and the request, as strace shows them.

use super::{vm_helper, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};

/// The request bringing lo up, at most this long.
const REQUEST_BYTES: usize = 64;

/// Not reached (yet): what a step's result holds until the helper makes the call.
const NOT_MADE: i64 = -(libc::EINPROGRESS as i64);

/// The helper's work and what came of it.
struct Job {
    request: [u8; REQUEST_BYTES],
    request_len: usize,
    /// The kernel's address, as glassbox's own netlink requests give it.
    kernel: libc::sockaddr_nl,
    /// Written when done (a byte): the parent reads it.
    done: libc::c_int,
    /// Written to (or closed) by the parent once it has the namespace: the helper then
    /// exits.
    release: libc::c_int,
    glassbox: libc::pid_t,
    /// Each call's return (what it returned, or -errno), [`NOT_MADE`] if not made.
    unshare: AtomicI64,
    socket: AtomicI64,
    socket_inode: AtomicU64,
    sendto: AtomicI64,
    /// The kernel's answer to the request: 0, or -errno.
    ack: AtomicI64,
}

/// The helper last started, to reap once the container has ended.
static HELPER: AtomicI32 = AtomicI32::new(0);

/// A network namespace being made by a helper; [`EmptyNet::take`] opens it. Dropped
/// without being taken, it narrates what the helper did and lets it go.
pub struct EmptyNet<'s, 'n> {
    sys: &'s Sys<'n>,
    pid: i32,
    done: OwnedFd,
    release: OwnedFd,
    job: &'static Job,
    /// Whether the helper said it was done (None: not asked yet).
    finished: Option<bool>,
}

impl<'n> Sys<'n> {
    /// Start a helper that makes an empty network namespace with lo up (see the module).
    /// None when calls are not made, there is no other CPU to make it on, or the helper
    /// cannot be started: the parent makes the namespace itself then.
    pub fn start_empty_net(&self) -> Option<EmptyNet<'_, 'n>> {
        if !self.kernel.makes_calls() || !vm_helper::AVAILABLE {
            return None;
        }
        let cpus = other_cpus()?;
        let request = super::net::lo_up_request();
        let mut buf = [0u8; REQUEST_BYTES];
        buf.get_mut(..request.len())?.copy_from_slice(&request);
        let said = "the helper's word that the network namespace is made";
        let (done_read, done_write) = self.pipe(said).ok()?;
        let let_go = "closed (or a byte written) when the helper may exit";
        let (release_read, release_write) = self.pipe(let_go).ok()?;
        // SAFETY: a plain C struct, all zeroes but its family.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as u16;
        let job: &'static Job = Box::leak(Box::new(Job {
            request: buf,
            request_len: request.len(),
            kernel,
            done: done_write.as_raw_fd(),
            release: release_read.as_raw_fd(),
            glassbox: super::quiet::pid() as libc::pid_t,
            unshare: AtomicI64::new(NOT_MADE),
            socket: AtomicI64::new(NOT_MADE),
            socket_inode: AtomicU64::new(0),
            sendto: AtomicI64::new(NOT_MADE),
            ack: AtomicI64::new(NOT_MADE),
        }));
        let clone = || {
            vm_helper::clone_call("a helper makes the container's network namespace on another CPU while glassbox plans the container")
        };
        // SAFETY: `make` keeps to raw syscalls; `job` is leaked.
        let pid = self.call_plain(clone, || unsafe {
            vm_helper::spawn(make, job as *const Job as *const libc::c_void)
        });
        // The helper has its own copies of its ends.
        drop((done_write, release_read));
        let pid = pid.ok()? as i32;
        HELPER.store(pid, Ordering::SeqCst);
        // Off glassbox's CPU before it has run: the kernel often queues a new process on
        // its parent's CPU, where it would wait until the parent blocks (up to 0.7 ms, in
        // one traced run of six here). Moving a process that is only queued is cheap; one
        // moving itself once it runs needs the CPU's migration thread. Refused, it stays
        // where it is and only starts later.
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: a cpu_set_t filled in by the kernel; the helper is this process's child.
        unsafe { libc::sched_setaffinity(pid, size, &cpus) };
        Some(EmptyNet {
            sys: self,
            pid,
            done: done_read,
            release: release_write,
            job,
            finished: None,
        })
    }
}

impl EmptyNet<'_, '_> {
    /// The namespace, once the helper has made it: its calls narrated with their results,
    /// then /proc/HELPER/ns/net opened, and the helper let go. None when the helper gave up
    /// before its work (make the namespace here, then).
    pub fn take(mut self, why: &str) -> Result<Option<std::fs::File>> {
        if !self.finish(why)? {
            return Ok(None);
        }
        let why = "the helper's network namespace, kept open: it lives on after the helper";
        let ns = self.sys.open_ns(self.pid, "net", why)?;
        Ok(ns.map(std::fs::File::from))
    }

    /// Wait for the helper's word (once), then narrate what it did, with what each call
    /// returned and the kernel's answer to the request: false when it made none of it. An
    /// error when one of them failed, or the kernel refused.
    fn finish(&mut self, why: &str) -> Result<bool> {
        if let Some(done) = self.finished {
            return Ok(done);
        }
        let mut byte = 0u8;
        // SAFETY: a read into a byte on this stack.
        let said = unsafe { libc::read(self.done.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        let made = |ret: i64| match ret {
            ..0 => Err(nix::errno::Errno::from_raw(-ret as i32)),
            _ => Ok(ret),
        };
        let job = self.job;
        let unshare = job.unshare.load(Ordering::SeqCst);
        let done = said == 1 && unshare != NOT_MADE;
        self.finished = Some(done);
        if !done {
            return Ok(false);
        }
        let sys = self.sys;
        let call = || {
            Call::new("unshare", vec!["CLONE_NEWNET".into()], "unshare(2)", why)
                .by_hand("unshare --net (in the helper)")
        };
        let diagnose = |e| super::diagnose::unshare(libc::CLONE_NEWNET, e);
        sys.call(call, || made(unshare), diagnose)?;
        let socket = job.socket.load(Ordering::SeqCst);
        let call = || super::net::socket_call("the helper's routing socket, in the new namespace");
        sys.call_plain(call, || made(socket))?;
        let shown = format!(
            "{socket}<socket:[{}]>",
            job.socket_inode.load(Ordering::SeqCst)
        );
        let call = || {
            super::net::sendto_call(
                &shown,
                super::net::RTM_NEWLINK,
                job.request_len,
                super::net::LO_UP_WHY,
                "ip link set lo up",
            )
        };
        sys.call_plain(call, || made(job.sendto.load(Ordering::SeqCst)))?;
        let ack = made(job.ack.load(Ordering::SeqCst)).map(drop);
        let refused = |e| super::net::link_diagnosis("lo", e);
        sys.netlink_ack(ack, super::net::RTM_NEWLINK, "ip link set lo up", refused)?;
        Ok(true)
    }
}

impl Drop for EmptyNet<'_, '_> {
    /// Let the helper go (its namespace goes with it, unless opened), after narrating what
    /// it did if nobody asked. Told by a byte, not only by the pipe's end: a child cloned
    /// since holds a copy of that end until it execs.
    fn drop(&mut self) {
        // Waited for only to be told: untold, the helper is let go at once.
        if self.sys.describes_calls() {
            let _ = self.finish("a network namespace the run did not need after all");
        }
        let byte = 1u8;
        // SAFETY: a write of a byte on this stack.
        unsafe { libc::write(self.release.as_raw_fd(), (&byte as *const u8).cast(), 1) };
    }
}

/// Reap the helper, if it has ended (it is let go when its namespace is taken, and may
/// have to wait for a CPU the container's child is using): called once the container has
/// ended. A helper not ended yet goes to init (or a subreaper) when glassbox exits, which
/// reaps it.
pub fn reap_helper() {
    let pid = HELPER.swap(0, Ordering::SeqCst);
    if pid > 0 {
        let mut status = 0;
        // SAFETY: this process's own child.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
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

/// The helper: unshare a network namespace, bring lo up, say so, wait to be let go, exit
/// (see vm_helper.rs for what it may do).
extern "C" fn make(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the leaked `Job`; only raw syscalls and atomics follow.
    unsafe {
        let job = &*(arg as *const Job);
        let keep = match job.done < job.release {
            true => [job.done, job.release],
            false => [job.release, job.done],
        };
        // Not the parent's ends of its pipes, nor the caller's stdio.
        if !vm_helper::keep_only(&keep, job.glassbox) {
            vm_helper::exit()
        }
        let ret = vm_helper::raw(
            libc::SYS_unshare,
            [libc::CLONE_NEWNET as usize, 0, 0, 0, 0, 0],
        );
        job.unshare.store(ret, Ordering::SeqCst);
        if ret == 0 {
            lo_up(job);
        }
        let byte = 1u8;
        let said = [job.done as usize, &byte as *const u8 as usize, 1, 0, 0, 0];
        vm_helper::raw(libc::SYS_write, said);
        vm_helper::wait_then_exit(job.release)
    }
}

/// In the helper: send the lo-up request on a new rtnetlink socket and read the kernel's
/// answer, each result into the job.
///
/// # Safety
/// Only in the helper.
unsafe fn lo_up(job: &Job) {
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
    if fd >= 0 {
        // The socket's inode, which strace -y shows beside its number.
        let mut st: libc::stat = std::mem::zeroed();
        if raw(
            libc::SYS_fstat,
            [fd as usize, &mut st as *mut libc::stat as usize, 0, 0, 0, 0],
        ) == 0
        {
            job.socket_inode.store(st.st_ino, Ordering::SeqCst);
        }
    }
    job.socket.store(fd, Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let request = job.request.as_ptr() as usize;
    let to = &job.kernel as *const libc::sockaddr_nl as usize;
    let to_len = std::mem::size_of::<libc::sockaddr_nl>();
    let sent = raw(
        libc::SYS_sendto,
        [fd as usize, request, job.request_len, 0, to, to_len],
    );
    job.sendto.store(sent, Ordering::SeqCst);
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
    job.ack.store(answer, Ordering::SeqCst);
    raw(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
}

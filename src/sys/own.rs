//! Calls about glassbox's own process that no stage makes and that change nothing a
//! container or the host sees, so they are not narrated: the narration's own descriptor
//! and shared memory, the locks between glassbox commands, and SIGPIPE.

use nix::errno::Errno;
use std::os::fd::RawFd;

/// An exclusive flock(2), held until it is dropped.
pub type Lock = nix::fcntl::Flock<std::fs::File>;

/// flock(2) `LOCK_EX` on `file`, waiting while another process holds it.
pub fn lock_exclusive(file: std::fs::File) -> Result<Lock, Errno> {
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e)
}

/// [`lock_exclusive`] if nobody holds it now; EWOULDBLOCK if somebody does.
pub fn try_lock_exclusive(file: std::fs::File) -> Result<Lock, Errno> {
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e)
}

/// A duplicate of `fd` numbered 3 or above, closed at execve (fcntl F_DUPFD_CLOEXEC).
pub fn dup_cloexec(fd: RawFd) -> Option<RawFd> {
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    (new >= 0).then_some(new)
}

/// write(2) of `buf` to `fd`, as much as the kernel takes at once.
pub fn write(fd: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `size` bytes of zeroed memory shared with the children this process forks (mmap
/// MAP_SHARED|MAP_ANONYMOUS); None when it cannot be made.
pub fn map_shared(size: usize) -> Option<*mut libc::c_void> {
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (base != libc::MAP_FAILED).then_some(base)
}

/// munmap(2) of a mapping [`map_shared`] made.
///
/// # Safety
/// `base` and `size` are those of a live mapping, which nothing uses afterwards.
pub unsafe fn unmap(base: *mut libc::c_void, size: usize) {
    libc::munmap(base, size);
}

/// SIGPIPE back to its default action: a write to a pipe nobody reads ends the process.
pub fn default_sigpipe() {
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Merge malloc's fast free lists now, before a fork. malloc merges them at the first large
/// request; after a fork that writes to pages the two processes share, so each page is copied
/// (~30 page faults a run, half in the child). mallopt merges them first thing, whatever it
/// sets; M_MXFAST set to its default changes nothing else. No system call.
pub fn settle_heap() {
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(
            libc::M_MXFAST,
            64 * std::mem::size_of::<usize>() as libc::c_int / 4,
        )
    };
}

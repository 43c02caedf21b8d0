//! Helpers that share glassbox's memory: clone(2) with CLONE_VM, so nothing is copied to
//! make one (~15 µs, against ~80 µs for a fork of glassbox), each running one `extern "C"`
//! function on a stack of its own.
//!
//! What such a helper may do is narrow: raw syscalls only ([`raw`]: the instruction itself).
//! It shares the memory of a process that goes on running Rust code, so it must not
//! allocate, take a lock or unwind; it has no TLS of its own, so it must not call libc
//! either (a failing call would write errno into glassbox's). It starts with every signal
//! blocked, and dies with glassbox (PR_SET_PDEATHSIG). Only where [`raw`] is written
//! (x86_64, aarch64): elsewhere [`AVAILABLE`] is false and glassbox does without helpers.
//! glibc's clone wrapper is safe with CLONE_VM without CLONE_THREAD since glibc 2.25 (which
//! cached pids before); glassbox links its own glibc, newer, statically.

use super::check;

/// Whether helpers can be made on this architecture (see [`raw`]).
pub(super) const AVAILABLE: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// A system call by its number, with the kernel's own return: the result, or -errno. No
/// libc, no errno.
///
/// # Safety
/// As the call itself: the arguments are whatever the kernel takes for `nr`.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn raw(nr: libc::c_long, args: [usize; 6]) -> i64 {
    let ret: i64;
    std::arch::asm!(
        "syscall",
        inlateout("rax") nr => ret,
        in("rdi") args[0],
        in("rsi") args[1],
        in("rdx") args[2],
        in("r10") args[3],
        in("r8") args[4],
        in("r9") args[5],
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    ret
}

/// See the x86_64 one.
///
/// # Safety
/// As the call itself.
#[cfg(target_arch = "aarch64")]
pub(super) unsafe fn raw(nr: libc::c_long, args: [usize; 6]) -> i64 {
    let ret: i64;
    std::arch::asm!(
        "svc 0",
        in("x8") nr,
        inlateout("x0") args[0] as i64 => ret,
        in("x1") args[1],
        in("x2") args[2],
        in("x3") args[3],
        in("x4") args[4],
        in("x5") args[5],
        options(nostack),
    );
    ret
}

/// Nowhere to call: never used ([`AVAILABLE`] is false).
///
/// # Safety
/// None needed.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) unsafe fn raw(_nr: libc::c_long, _args: [usize; 6]) -> i64 {
    -(libc::ENOSYS as i64)
}

/// A helper's stack: it calls a few syscalls and returns.
const STACK_BYTES: usize = 16 * 1024;

/// How a helper's clone is narrated (as strace shows it).
pub(super) fn clone_call(why: &str) -> crate::narrate::Call {
    crate::narrate::Call::new(
        "clone",
        vec!["child_stack=...".into(), "flags=CLONE_VM|SIGCHLD".into()],
        "clone(2)",
        why,
    )
}

/// Start `entry(arg)` in a helper (see the module); its pid, or the clone's errno.
///
/// # Safety
/// `entry` must keep to raw syscalls (see the module), and `arg` must point at memory that
/// outlives the helper (leaked).
pub(super) unsafe fn spawn(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *const libc::c_void,
) -> std::result::Result<i64, nix::errno::Errno> {
    // The helper may run on it after this process has gone: never freed.
    let stack: &'static mut [u8] = Box::leak(vec![0u8; STACK_BYTES].into_boxed_slice());
    // Every signal blocked across the clone (the raw call: glibc's leaves its own two
    // open): the helper inherits the mask; this thread gets its own back.
    let all: u64 = !0;
    let mut old: u64 = 0;
    let mask = |set: *const u64, old: *mut u64| {
        [
            libc::SIG_SETMASK as usize,
            set as usize,
            old as usize,
            8,
            0,
            0,
        ]
    };
    raw(libc::SYS_rt_sigprocmask, mask(&all, &mut old));
    let top = stack.as_mut_ptr().add(STACK_BYTES);
    let top = top.sub(top as usize % 16);
    let ret = libc::clone(
        entry,
        top.cast(),
        libc::CLONE_VM | libc::SIGCHLD,
        arg as *mut libc::c_void,
    );
    raw(libc::SYS_rt_sigprocmask, mask(&old, std::ptr::null_mut()));
    check(ret as libc::c_long)
}

/// In a helper: set to die with `glassbox`, then close every descriptor but `keep`
/// (ascending): glassbox's own ends of pipes, the caller's stdio (a caller reading glassbox's
/// output would wait for the helper) and all else it was cloned with. False when that cannot
/// be done (glassbox is gone already, or a kernel before 5.9 has no close_range): the helper
/// should exit, which closes them all.
///
/// # Safety
/// Only in a helper (see the module).
pub(super) unsafe fn keep_only(keep: &[libc::c_int], glassbox: libc::pid_t) -> bool {
    // Ended with glassbox whatever happens (SIGKILL cannot be blocked).
    let deathsig = [
        libc::PR_SET_PDEATHSIG as usize,
        libc::SIGKILL as usize,
        0,
        0,
        0,
        0,
    ];
    raw(libc::SYS_prctl, deathsig);
    if raw(libc::SYS_getppid, [0; 6]) != glassbox as i64 {
        return false;
    }
    let mut from: usize = 0;
    let mut closed = true;
    for &fd in keep {
        let fd = fd as usize;
        if fd > from {
            closed &= raw(libc::SYS_close_range, [from, fd - 1, 0, 0, 0, 0]) == 0;
        }
        from = from.max(fd + 1);
    }
    let rest = [from, libc::c_uint::MAX as usize, 0, 0, 0, 0];
    closed && raw(libc::SYS_close_range, rest) == 0
}

/// In a helper: block until `pipe`'s other end is closed (or a byte comes), then exit.
///
/// # Safety
/// Only in a helper (see the module).
pub(super) unsafe fn wait_then_exit(pipe: libc::c_int) -> ! {
    let mut byte = 0u8;
    raw(
        libc::SYS_read,
        [pipe as usize, &mut byte as *mut u8 as usize, 1, 0, 0, 0],
    );
    exit()
}

/// In a helper: exit.
///
/// # Safety
/// Only in a helper (see the module).
pub(super) unsafe fn exit() -> ! {
    loop {
        raw(libc::SYS_exit, [0; 6]);
    }
}

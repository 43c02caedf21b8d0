//! The kernel's flag tables, named as strace names them: what every narrated clone,
//! unshare and setns shows, and what the diagnoses and `explain` look flags up in.

use super::render_flags;

/// clone3(2)'s flag: start the child in the cgroup v2 directory given by `cgroup` (Linux 5.7).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The CLONE_* flags, in ascending bit order, as strace names them.
pub const CLONE_FLAGS: &[(u64, &str)] = &[
    (libc::CLONE_VM as u64, "CLONE_VM"),
    (libc::CLONE_FS as u64, "CLONE_FS"),
    (libc::CLONE_FILES as u64, "CLONE_FILES"),
    (libc::CLONE_SIGHAND as u64, "CLONE_SIGHAND"),
    (libc::CLONE_PIDFD as u64, "CLONE_PIDFD"),
    (libc::CLONE_PTRACE as u64, "CLONE_PTRACE"),
    (libc::CLONE_VFORK as u64, "CLONE_VFORK"),
    (libc::CLONE_PARENT as u64, "CLONE_PARENT"),
    (libc::CLONE_THREAD as u64, "CLONE_THREAD"),
    (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
    (libc::CLONE_SYSVSEM as u64, "CLONE_SYSVSEM"),
    (libc::CLONE_SETTLS as u64, "CLONE_SETTLS"),
    (libc::CLONE_PARENT_SETTID as u64, "CLONE_PARENT_SETTID"),
    (libc::CLONE_CHILD_CLEARTID as u64, "CLONE_CHILD_CLEARTID"),
    (libc::CLONE_DETACHED as u64, "CLONE_DETACHED"),
    (libc::CLONE_UNTRACED as u64, "CLONE_UNTRACED"),
    (libc::CLONE_CHILD_SETTID as u64, "CLONE_CHILD_SETTID"),
    (libc::CLONE_NEWCGROUP as u64, "CLONE_NEWCGROUP"),
    (libc::CLONE_NEWUTS as u64, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
    (libc::CLONE_NEWUSER as u64, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID as u64, "CLONE_NEWPID"),
    (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
    (libc::CLONE_IO as u32 as u64, "CLONE_IO"),
    (0x1_0000_0000, "CLONE_CLEAR_SIGHAND"),
    (CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"),
    (0x80, "CLONE_NEWTIME"),
];

/// Namespace flags only, with the `unshare(1)` option that sets each.
pub const NAMESPACES: &[(libc::c_int, &str, &str)] = &[
    (libc::CLONE_NEWNS, "mount", "--mount"),
    (libc::CLONE_NEWUTS, "uts", "--uts"),
    (libc::CLONE_NEWIPC, "ipc", "--ipc"),
    (libc::CLONE_NEWNET, "net", "--net"),
    (libc::CLONE_NEWPID, "pid", "--pid"),
    (libc::CLONE_NEWUSER, "user", "--user"),
    (libc::CLONE_NEWCGROUP, "cgroup", "--cgroup"),
    (0x80, "time", "--time"),
];

pub fn clone_flags(flags: libc::c_int) -> String {
    render_flags(flags as u32 as u64, CLONE_FLAGS)
}

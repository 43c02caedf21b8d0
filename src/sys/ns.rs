//! Namespace calls: unshare(2), setns(2), sethostname(2).

use super::{check, cstring, diagnose, quote, render_flags, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, BorrowedFd};

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
    (super::process::CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"),
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

/// The `unshare(1)` options for a set of namespace flags: `--mount --uts`.
pub fn unshare_options(flags: libc::c_int) -> String {
    NAMESPACES
        .iter()
        .filter(|(bit, _, _)| flags & bit != 0)
        .map(|(_, _, opt)| *opt)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sys<'_> {
    /// unshare(2): move this process into new namespaces of the given kinds.
    pub fn unshare(&self, flags: libc::c_int, why: &str) -> Result<()> {
        let call = Call::new("unshare", vec![clone_flags(flags)], "unshare(2)", why)
            .by_hand(format!("unshare {}", unshare_options(flags)));
        self.call(
            call,
            || check(unsafe { libc::unshare(flags) } as libc::c_long),
            |errno| diagnose::unshare(flags, errno),
        )?;
        Ok(())
    }

    /// setns(2): join the namespace that `fd` refers to. `link` is what the namespace file
    /// points at (`net:[4026532008]`, as strace -y shows the descriptor) and `path` the file
    /// it was opened from (`/proc/4242/ns/net`, for the by-hand nsenter line).
    pub fn setns(
        &self,
        fd: BorrowedFd,
        link: &str,
        path: &str,
        nstype: libc::c_int,
        why: &str,
    ) -> Result<()> {
        let raw = fd.as_raw_fd();
        let call = Call::new(
            "setns",
            vec![format!("{raw}<{link}>"), clone_flags(nstype)],
            "setns(2)",
            why,
        )
        .by_hand(format!("nsenter --{}={path}", ns_name(nstype)));
        self.call_plain(call, || {
            check(unsafe { libc::setns(raw, nstype) } as libc::c_long)
        })?;
        Ok(())
    }

    /// sethostname(2): set the hostname of this process's UTS namespace.
    pub fn sethostname(&self, name: &str, why: &str) -> Result<()> {
        let c = cstring(name)?;
        let call = Call::new(
            "sethostname",
            vec![quote(name), name.len().to_string()],
            "sethostname(2)",
            why,
        )
        .by_hand(format!("hostname {name}"));
        self.call_plain(call, || {
            check(unsafe { libc::sethostname(c.as_ptr(), name.len()) } as libc::c_long)
        })?;
        Ok(())
    }
}

/// The short name of a single namespace flag (`mnt` style names as /proc/PID/ns uses).
pub fn ns_name(flag: libc::c_int) -> &'static str {
    NAMESPACES
        .iter()
        .find(|(bit, _, _)| *bit == flag)
        .map(|(_, name, _)| *name)
        .unwrap_or("ns")
}

impl Sys<'_> {
    /// setgid(2), used after joining a user namespace to become its group 0 (as nsenter does).
    pub fn setgid(&self, gid: u32, why: &str) -> Result<()> {
        let call = Call::new("setgid", vec![gid.to_string()], "setgid(2)", why);
        self.call_plain(call, || check(unsafe { libc::setgid(gid) } as libc::c_long))?;
        Ok(())
    }

    /// setuid(2), used after joining a user namespace to become its user 0 (as nsenter does).
    pub fn setuid(&self, uid: u32, why: &str) -> Result<()> {
        let call = Call::new("setuid", vec![uid.to_string()], "setuid(2)", why);
        self.call_plain(call, || check(unsafe { libc::setuid(uid) } as libc::c_long))?;
        Ok(())
    }
}

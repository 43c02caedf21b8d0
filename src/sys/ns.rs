//! Namespace calls: unshare(2), setns(2), sethostname(2).

use super::flags::{clone_flags, NAMESPACES};
use super::{check, cstring, diagnose, quote, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, BorrowedFd};

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
        let call = || {
            Call::new("unshare", vec![clone_flags(flags)], "unshare(2)", why)
                .by_hand(format!("unshare {}", unshare_options(flags)))
        };
        self.call(
            call,
            || check(unsafe { libc::unshare(flags) } as libc::c_long),
            |errno| diagnose::unshare(flags, errno),
        )?;
        super::quiet::ns_changed(flags);
        if flags & libc::CLONE_NEWUSER != 0 {
            super::quiet::self_changed();
        }
        Ok(())
    }

    /// setns(2): join the namespace that `fd` refers to. `link` is what the namespace file
    /// points at (`net:[4026532008]`, as strace -y shows the descriptor), given when it
    /// must be read ahead (a mount namespace joined before changes what /proc/self is);
    /// None: read from the descriptor only when the call is shown. `path` is the file it
    /// was opened from (`/proc/4242/ns/net`, for the by-hand nsenter line).
    pub fn setns(
        &self,
        fd: BorrowedFd,
        link: Option<&str>,
        path: &str,
        nstype: libc::c_int,
        why: &str,
    ) -> Result<()> {
        let raw = fd.as_raw_fd();
        let call = || {
            let link = match link {
                Some(given) => given.to_string(),
                None => super::fd_link(raw),
            };
            Call::new(
                "setns",
                vec![format!("{raw}<{link}>"), clone_flags(nstype)],
                "setns(2)",
                why,
            )
            .by_hand(format!("nsenter --{}={path}", ns_name(nstype)))
        };
        self.call_plain(call, || {
            check(unsafe { libc::setns(raw, nstype) } as libc::c_long)
        })?;
        super::quiet::ns_changed(nstype);
        super::quiet::self_changed();
        Ok(())
    }

    /// sethostname(2): set the hostname of this process's UTS namespace.
    pub fn sethostname(&self, name: &str, why: &str) -> Result<()> {
        let c = cstring(name)?;
        let call = || {
            Call::new(
                "sethostname",
                vec![quote(name), name.len().to_string()],
                "sethostname(2)",
                why,
            )
            .by_hand(format!("hostname {name}"))
        };
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
        let call = || Call::new("setgid", vec![gid.to_string()], "setgid(2)", why);
        self.call_plain(call, || check(unsafe { libc::setgid(gid) } as libc::c_long))?;
        super::quiet::self_changed();
        Ok(())
    }

    /// setuid(2), used after joining a user namespace to become its user 0 (as nsenter does).
    pub fn setuid(&self, uid: u32, why: &str) -> Result<()> {
        let call = || Call::new("setuid", vec![uid.to_string()], "setuid(2)", why);
        self.call_plain(call, || check(unsafe { libc::setuid(uid) } as libc::c_long))?;
        super::quiet::self_changed();
        Ok(())
    }
}

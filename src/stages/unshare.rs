//! The unshare stage: new namespaces for this process, then the rest of the command line.
//!
//! As unshare(1): one unshare(2) call with every requested CLONE_NEW* flag; with a user
//! namespace, the setgroups deny and the uid/gid maps are written next; with a mount
//! namespace, the whole tree is made private before anything else, so no mount made inside
//! propagates to the host. A pid (or time) namespace applies only to children, so the
//! command is forked and becomes PID 1.

use crate::error::{Error, Result};
use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use std::path::Path;

/// What `glassbox unshare` is asked for, as unshare(1)'s options.
#[derive(Debug, Clone, Default)]
pub struct UnshareSpec {
    pub mount: bool,
    pub uts: bool,
    pub ipc: bool,
    pub net: bool,
    pub pid: bool,
    pub user: bool,
    pub cgroup: bool,
    pub time: bool,
    pub fork: bool,
    pub map_root_user: bool,
    pub map_user: Option<u32>,
    pub map_group: Option<u32>,
    pub hostname: Option<String>,
}

/// The namespace flags the arguments ask for (the implications of unshare(1) applied).
pub fn flags_for(a: &UnshareSpec) -> libc::c_int {
    let mut f = 0;
    let wants_user = a.user || a.map_root_user || a.map_user.is_some() || a.map_group.is_some();
    for (on, bit) in [
        (a.mount, libc::CLONE_NEWNS),
        (a.uts || a.hostname.is_some(), libc::CLONE_NEWUTS),
        (a.ipc, libc::CLONE_NEWIPC),
        (a.net, libc::CLONE_NEWNET),
        (a.pid, libc::CLONE_NEWPID),
        (wants_user, libc::CLONE_NEWUSER),
        (a.cgroup, libc::CLONE_NEWCGROUP),
        (a.time, 0x80),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

pub fn main(a: &UnshareSpec, command: &[String], sys: &Sys) -> Result<i32> {
    let flags = flags_for(a);
    if flags == 0 {
        return Err(Error::usage(
            "no namespace was asked for",
            "add at least one of --mount --uts --ipc --net --pid --user --cgroup --time (see `glassbox explain unshare`)",
        ));
    }
    if let Some(h) = &a.hostname {
        if h.is_empty() || h.len() > 64 {
            return Err(Error::usage(
                format!("the hostname {h:?} is not 1 to 64 characters long"),
                "give a shorter --hostname",
            ));
        }
    }
    let n = sys.narrator;
    n.stage("unshare", "give this process new namespaces");
    let (uid, gid) = (crate::sys::quiet::euid(), crate::sys::quiet::egid());
    sys.unshare(
        flags,
        "new namespaces: from here on this process sees its own copy of each",
    )?;

    if flags & libc::CLONE_NEWUSER != 0 {
        enter_user_mapping(sys, a, uid, gid)?;
    }
    if flags & libc::CLONE_NEWNS != 0 {
        make_mounts_private(sys)?;
        // Tell later stages (mount, pivot-root) this namespace is private, by its inode:
        // a new /proc in a new pid namespace hides the host's PID 1 they would compare with.
        if let Some(ino) = super::root::ns_inode("/proc/self/ns/mnt") {
            std::env::set_var(super::root::PRIVATE_MNT_NS_ENV, ino.to_string());
        }
    }
    if let Some(h) = &a.hostname {
        sys.sethostname(
            h,
            "the new UTS namespace has its own hostname; the host's is unchanged",
        )?;
    }
    let must_fork = a.fork || flags & (libc::CLONE_NEWPID | 0x80) != 0;
    if !must_fork {
        return super::exec_tail(sys, command);
    }
    if a.pid && !a.fork {
        n.note(
            "a new pid namespace applies to children only: forking so the command becomes PID 1",
        );
    }
    let ended = super::fork_exec_wait(
        sys,
        0,
        command,
        "a child, the first process in the new namespaces",
    )?;
    n.note(&format!("the command {}", ended.describe()));
    Ok(ended.code())
}

/// Mark every mount in the new namespace private (MS_REC|MS_PRIVATE), so mounts made inside
/// do not propagate back to the host (systemd makes / shared by default).
pub fn make_mounts_private(sys: &Sys) -> Result<()> {
    sys.mount(
        &MountArgs {
            source: None,
            target: Path::new("/"),
            fstype: None,
            flags: libc::MS_REC | libc::MS_PRIVATE,
            data: None,
        },
        "make every mount private, so nothing mounted inside leaks out to the host",
        "mount --make-rprivate /",
    )
}

/// Write the setgroups deny and the uid/gid maps for a new user namespace.
fn enter_user_mapping(sys: &Sys, a: &UnshareSpec, uid: u32, gid: u32) -> Result<()> {
    let inside_uid = if a.map_root_user { Some(0) } else { a.map_user };
    let inside_gid = if a.map_root_user {
        Some(0)
    } else {
        a.map_group
    };
    if inside_uid.is_none() && inside_gid.is_none() {
        sys.narrator
            .note("no uid map written: inside, every uid shows as 65534 (nobody) until one is");
        return Ok(());
    }
    if let Some(inside) = inside_gid {
        // The kernel refuses an unprivileged gid_map until setgroups is denied (user_namespaces(7)).
        sys.write_file_plain(
            Path::new("/proc/self/setgroups"),
            "deny",
            "forbid setgroups(2) in the namespace: the kernel requires it before an unprivileged gid_map",
        )?;
        sys.write_file_plain(
            Path::new("/proc/self/gid_map"),
            &format!("{inside} {gid} 1"),
            &format!("group {gid} outside is group {inside} inside"),
        )?;
    }
    if let Some(inside) = inside_uid {
        sys.write_file_plain(
            Path::new("/proc/self/uid_map"),
            &format!("{inside} {uid} 1"),
            &format!("user {uid} outside is user {inside} inside"),
        )?;
    }
    Ok(())
}

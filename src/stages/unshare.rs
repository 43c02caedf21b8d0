//! The unshare stage: new namespaces for this process, then the rest of the command line.
//!
//! As unshare(1): one unshare(2) call with every requested CLONE_NEW* flag; with a user
//! namespace, the setgroups deny and the uid/gid maps are written next; with a mount
//! namespace, the whole tree is made private before anything else, so no mount made inside
//! propagates to the host. A pid (or time) namespace applies only to children, so the
//! command is forked and becomes PID 1.

use super::ops::{self, Op, Place};
use crate::error::{Error, Result};
use crate::sys::Sys;

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
    let (uid, gid) = (crate::sys::quiet::euid(), crate::sys::quiet::egid());
    ops::execute(sys, &ops(a, flags, uid, gid))?;
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
/// The operations of the stage for a process of `uid` and `gid` asking for `flags`.
pub fn ops(a: &UnshareSpec, flags: libc::c_int, uid: u32, gid: u32) -> Vec<Op> {
    let mut ops = vec![
        Op::Stage {
            name: "unshare",
            title: "give this process new namespaces",
        },
        Op::Unshare {
            flags,
            why: "new namespaces: from here on this process sees its own copy of each".into(),
        },
    ];
    if flags & libc::CLONE_NEWUSER != 0 {
        user_mapping_ops(&mut ops, a, uid, gid);
    }
    if flags & libc::CLONE_NEWNS != 0 {
        ops.push(private_mounts());
        ops.push(Op::MarkPrivateMountNs);
    }
    if let Some(h) = &a.hostname {
        ops.push(Op::SetHostname {
            name: h.clone(),
            why: "the new UTS namespace has its own hostname; the host's is unchanged".into(),
        });
    }
    ops
}

pub fn make_mounts_private(sys: &Sys) -> Result<()> {
    ops::execute(sys, &[private_mounts()])
}

fn private_mounts() -> Op {
    Op::Mount {
        source: None,
        target: Place::Path("/".into()),
        fstype: None,
        flags: libc::MS_REC | libc::MS_PRIVATE,
        data: None,
        why: "make every mount private, so nothing mounted inside leaks out to the host".into(),
        by_hand: "mount --make-rprivate /".into(),
    }
}

fn user_mapping_ops(ops: &mut Vec<Op>, a: &UnshareSpec, uid: u32, gid: u32) {
    let inside_uid = if a.map_root_user { Some(0) } else { a.map_user };
    let inside_gid = if a.map_root_user {
        Some(0)
    } else {
        a.map_group
    };
    if inside_uid.is_none() && inside_gid.is_none() {
        ops.push(Op::Note(
            "no uid map written: inside, every uid shows as 65534 (nobody) until one is".into(),
        ));
        return;
    }
    if let Some(inside) = inside_gid {
        ops.push(Op::WriteFile {
            path: "/proc/self/setgroups".into(),
            value: "deny".into(),
            why: "forbid setgroups(2) in the namespace: the kernel requires it before an unprivileged gid_map".into(),
        });
        ops.push(Op::WriteFile {
            path: "/proc/self/gid_map".into(),
            value: format!("{inside} {gid} 1"),
            why: format!("group {gid} outside is group {inside} inside"),
        });
    }
    if let Some(inside) = inside_uid {
        ops.push(Op::WriteFile {
            path: "/proc/self/uid_map".into(),
            value: format!("{inside} {uid} 1"),
            why: format!("user {uid} outside is user {inside} inside"),
        });
    }
}

#[cfg(test)]
mod planned {
    use super::*;

    #[test]
    fn a_rootless_unshare_maps_its_ids_before_it_makes_mounts_private() {
        let spec = UnshareSpec {
            mount: true,
            map_root_user: true,
            hostname: Some("box".into()),
            ..UnshareSpec::default()
        };
        let lines = ops::lines(&ops(&spec, flags_for(&spec), 1000, 100));
        assert_eq!(
            lines[1..],
            [
                "unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWUSER)",
                "write(\"/proc/self/setgroups\", \"deny\")",
                "write(\"/proc/self/gid_map\", \"0 100 1\")",
                "write(\"/proc/self/uid_map\", \"0 1000 1\")",
                "mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)",
                "GLASSBOX_PRIVATE_MNT_NS=<inode of /proc/self/ns/mnt>",
                "sethostname(\"box\")",
            ]
        );
    }
}

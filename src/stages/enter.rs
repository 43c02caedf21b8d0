//! The enter stage: `glassbox enter PID -- CMD…`, what nsenter(1) and `docker exec` do.
//!
//! It joins the namespaces of a running process with setns(2), in an order that works:
//! every namespace file, the root and the working directory are opened first (once the
//! mount namespace is joined, /proc/PID may no longer be reachable); the user namespace is
//! joined first when it differs (it grants the capabilities the other joins need), the
//! mount namespace last but one and the root after it (fchdir to the target's root, chroot
//! "."), then the target's working directory. A pid (or time) namespace applies only to
//! children, so when it differs glassbox forks and the child runs the command, in it.
//!
//! With it a learner builds a container in one terminal and looks into it from another:
//! `glassbox enter $(pgrep -n -f 'sleep 1000') -- /bin/sh`.

use super::ops::Op;
use crate::error::{Error, Result};
use crate::sys::Sys;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

/// The namespaces in the order they are joined: user first, mount last.
const ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("time", 0x80),
    ("mnt", libc::CLONE_NEWNS),
];

fn open(path: &Path, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map(OwnedFd::from)
}

fn link(path: &Path) -> String {
    std::fs::read_link(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.display().to_string())
}

/// The inode of a file (a namespace link's target), or None.
fn ino(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

pub fn main(pid: i32, command: &[String], sys: &Sys) -> Result<i32> {
    let fork = join(sys, pid)?;
    if !fork {
        return super::exec_tail(sys, command);
    }
    let ended =
        super::fork_exec_wait(sys, 0, command, "a child, born in the joined pid namespace")?;
    sys.narrator
        .note(&format!("the command {}", ended.describe()));
    Ok(ended.code())
}

/// Join the namespaces, root and working directory of process `pid`. Returns whether a
/// fork is needed for the pid (or time) namespace to apply.
pub fn join(sys: &Sys, pid: i32) -> Result<bool> {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    if pid <= 0 || !proc_dir.is_dir() {
        return Err(Error::usage(
            format!("there is no process {pid} to enter"),
            "give the pid of a running process (pgrep, or `ps` on the host, shows it)",
        ));
    }
    if pid as u32 == std::process::id() {
        return Err(Error::usage(
            "glassbox cannot enter itself",
            "give the pid of another process",
        ));
    }
    // Joining a user namespace (one the user made, without root) gives the capabilities
    // the other joins need; otherwise they must be glassbox's own.
    let user_ns = |p: &Path| ino(&p.join("ns/user"));
    let theirs = user_ns(&proc_dir);
    if theirs.is_none() || theirs == user_ns(Path::new("/proc/self")) {
        sys.require(|| {
            super::root::require_cap("enter", super::root::CAP_SYS_ADMIN, "CAP_SYS_ADMIN (root)")
        })?;
    }
    // Open everything before the first setns: after the mount namespace changes, /proc/PID
    // may be gone from view.
    let mut joins = Vec::new();
    for (name, flag) in ORDER {
        let theirs = proc_dir.join("ns").join(name);
        let ours = Path::new("/proc/self/ns").join(name);
        if !theirs.exists() {
            continue;
        }
        if ino(&theirs) == ino(&ours) {
            continue;
        }
        let fd = open(&theirs, libc::O_CLOEXEC).map_err(|e| {
            Error::io(
                format!("cannot open {} to join it", theirs.display()),
                &e,
                "run glassbox enter as root, and check the process still runs",
            )
        })?;
        joins.push(Join {
            fd: Arc::new(fd),
            shown: link(&theirs),
            path: theirs.display().to_string(),
            nstype: *flag,
        });
    }
    let root_fd =
        open(&proc_dir.join("root"), libc::O_DIRECTORY | libc::O_CLOEXEC).map_err(|e| {
            Error::io(
                format!("cannot open the root of process {pid}"),
                &e,
                "run glassbox enter as root",
            )
        })?;
    let cwd_fd = open(&proc_dir.join("cwd"), libc::O_DIRECTORY | libc::O_CLOEXEC).ok();
    // The descriptors' paths as strace -y shows them, read while /proc/self is still ours.
    let opened = |fd: OwnedFd| {
        use std::os::fd::AsRawFd;
        let shown = link(&Path::new("/proc/self/fd").join(fd.as_raw_fd().to_string()));
        (Arc::new(fd), shown)
    };
    let (ops, fork) = ops(pid, joins, opened(root_fd), cwd_fd.map(opened));
    super::ops::execute(sys, &ops)?;
    Ok(fork)
}

/// A namespace of the process to join: its file open, its link (`net:[4026…]`), its path.
pub struct Join {
    pub fd: Arc<OwnedFd>,
    pub shown: String,
    pub path: String,
    pub nstype: libc::c_int,
}

/// The enter stage's plan: join each namespace in `joins` (in [`ORDER`]), then take the
/// process's root (`root`: its directory open, and its path) and working directory (`cwd`,
/// or / when it is gone); in a joined user namespace, become its root. Also whether a fork
/// is needed for a pid (or time) namespace to apply.
pub fn ops(
    pid: i32,
    joins: Vec<Join>,
    root: (Arc<OwnedFd>, String),
    cwd: Option<(Arc<OwnedFd>, String)>,
) -> (Vec<Op>, bool) {
    let mut ops = vec![Op::Stage {
        name: "enter",
        title: "join the namespaces, root and working directory of a process",
    }];
    if joins.is_empty() {
        ops.push(Op::Note(format!(
            "process {pid} shares every namespace with glassbox: nothing to join"
        )));
    }
    let fork = joins
        .iter()
        .any(|j| j.nstype == libc::CLONE_NEWPID || j.nstype == 0x80);
    let user = joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER);
    for j in joins {
        let why = match j.nstype {
            libc::CLONE_NEWUSER => "join its user namespace first: it gives the capabilities the other joins need there",
            libc::CLONE_NEWNS => "join its mount namespace last: from here on paths are the container's",
            libc::CLONE_NEWPID => "its pid namespace: it applies to children, so glassbox forks below",
            0x80 => "its time namespace: it applies to children, so glassbox forks below",
            _ => "join this namespace of the process",
        };
        ops.push(Op::SetNs {
            fd: j.fd,
            shown: j.shown,
            path: j.path,
            nstype: j.nstype,
            why: why.into(),
        });
    }
    // The working directory and root of the process: setns(CLONE_NEWNS) set them to the
    // namespace's root, which is not the container's root after pivot_root/chroot.
    ops.push(Op::Fchdir {
        fd: root.0,
        shown: root.1,
        why: "go to the process's root directory".into(),
    });
    ops.push(Op::Chroot {
        dir: ".".into(),
        why: "make it this process's root too".into(),
    });
    ops.push(match cwd {
        Some((fd, shown)) => Op::Fchdir {
            fd,
            shown,
            why: "and its working directory".into(),
        },
        None => Op::Chdir {
            dir: "/".into(),
            why: "its working directory is gone: start at /".into(),
        },
    });
    if user {
        // The host's root is not mapped in the joined user namespace: become its root, as
        // nsenter does, so the command runs as uid 0 there (and as the mapped uid outside).
        ops.push(Op::SetGid {
            gid: 0,
            why: "become group 0 of the joined user namespace".into(),
        });
        ops.push(Op::SetUid {
            uid: 0,
            why: "become user 0 of the joined user namespace".into(),
        });
    }
    (ops, fork)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;
    use crate::sys::Recorder;

    fn dir_fd() -> (Arc<OwnedFd>, String) {
        (
            Arc::new(open(Path::new("/"), libc::O_DIRECTORY).unwrap()),
            "/".into(),
        )
    }

    fn join(nstype: libc::c_int, shown: &str) -> Join {
        Join {
            fd: dir_fd().0,
            shown: shown.into(),
            path: format!("/proc/42/ns/{shown}"),
            nstype,
        }
    }

    #[test]
    fn enter_joins_user_first_mount_last_then_root_cwd_and_uid_0() {
        let joins = vec![
            join(libc::CLONE_NEWUSER, "user:[1]"),
            join(libc::CLONE_NEWNET, "net:[2]"),
            join(libc::CLONE_NEWNS, "mnt:[3]"),
        ];
        let (ops, fork) = ops(42, joins, dir_fd(), None);
        assert!(!fork, "no pid namespace to join: no fork");
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        super::super::ops::execute(&Sys::with_kernel(&narrator, &recorder), &ops).unwrap();
        assert_eq!(
            recorder.names(),
            ["setns", "setns", "setns", "fchdir", "chroot", "chdir", "setgid", "setuid"]
        );
        let lines = recorder.lines();
        assert!(lines[0].ends_with("CLONE_NEWUSER)"), "{}", lines[0]);
        assert!(lines[2].ends_with("CLONE_NEWNS)"), "{}", lines[2]);
        assert_eq!(lines[5], "chdir(\"/\")");
    }

    #[test]
    fn a_pid_namespace_means_a_fork_and_no_uid_change_without_a_user_namespace() {
        let (ops, fork) = ops(
            42,
            vec![join(libc::CLONE_NEWPID, "pid:[4]")],
            dir_fd(),
            Some(dir_fd()),
        );
        assert!(fork);
        assert_eq!(
            crate::stages::ops::lines(&ops)[1..],
            [
                "setns(\"pid:[4]\", CLONE_NEWPID)",
                "fchdir(\"/\")",
                "chroot(\".\")",
                "fchdir(\"/\")",
            ]
        );
    }
}

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

use crate::error::{Error, Result};
use crate::sys::Sys;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

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
    let mut joins: Vec<(OwnedFd, String, String, libc::c_int)> = Vec::new();
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
        joins.push((fd, link(&theirs), theirs.display().to_string(), *flag));
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
    let shown = |fd: &OwnedFd| {
        use std::os::fd::AsRawFd;
        link(&Path::new("/proc/self/fd").join(fd.as_raw_fd().to_string()))
    };
    let root_shown = shown(&root_fd);
    let cwd_shown = cwd_fd.as_ref().map(shown);

    let n = sys.narrator;
    n.stage(
        "enter",
        &format!("join the namespaces, root and working directory of process {pid}"),
    );
    if joins.is_empty() {
        n.note(&format!(
            "process {pid} shares every namespace with glassbox: nothing to join"
        ));
    }
    let mut fork = false;
    for (fd, shown, path, flag) in &joins {
        let why = match *flag {
            libc::CLONE_NEWUSER => "join its user namespace first: it gives the capabilities the other joins need there",
            libc::CLONE_NEWNS => "join its mount namespace last: from here on paths are the container's",
            libc::CLONE_NEWPID => "its pid namespace: it applies to children, so glassbox forks below",
            0x80 => "its time namespace: it applies to children, so glassbox forks below",
            _ => "join this namespace of the process",
        };
        sys.setns(fd.as_fd(), shown, path, *flag, why)?;
        if *flag == libc::CLONE_NEWPID || *flag == 0x80 {
            fork = true;
        }
    }
    // The working directory and root of the process: setns(CLONE_NEWNS) set them to the
    // namespace's root, which is not the container's root after pivot_root/chroot.
    sys.fchdir(
        root_fd.as_fd(),
        &root_shown,
        "go to the process's root directory",
    )?;
    sys.chroot(Path::new("."), "make it this process's root too")?;
    match (&cwd_fd, &cwd_shown) {
        (Some(fd), Some(s)) => {
            sys.fchdir(fd.as_fd(), s, "and its working directory")?;
        }
        _ => sys.chdir(Path::new("/"), "its working directory is gone: start at /")?,
    }
    drop(root_fd);
    drop(cwd_fd);
    if joins.iter().any(|j| j.3 == libc::CLONE_NEWUSER) {
        // The host's root is not mapped in the joined user namespace: become its root, as
        // nsenter does, so the command runs as uid 0 there (and as the mapped uid outside).
        sys.setgid(0, "become group 0 of the joined user namespace")?;
        sys.setuid(0, "become user 0 of the joined user namespace")?;
    }
    Ok(fork)
}

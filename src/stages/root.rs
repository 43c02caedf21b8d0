//! The root stages: `glassbox chroot DIR -- CMD…` and `glassbox pivot-root DIR -- CMD…`.
//!
//! Both make DIR the process's `/`, then run the rest of the command line.
//!
//! - chroot is what chroot(8) does: chroot(DIR), chdir("/"). It changes only where path
//!   lookups start for this process. The old root stays mounted and reachable: a root process
//!   inside can chroot into a subdirectory (so its working directory is now *outside* its
//!   root) and walk `..` up to the host's `/`. That is the lesson `glassbox explain chroot`
//!   tells, and tests/isolation_root.rs shows it.
//! - pivot-root is what runtimes (runc, youki) do, inside a private mount namespace:
//!   bind DIR onto itself (pivot_root needs the new root to be a mount point; MS_REC keeps the
//!   /proc, /sys, /dev that `glassbox mount --root DIR` put under it), chdir(DIR),
//!   pivot_root(".", ".") (the old root is stacked on top of the new one, at "/"),
//!   umount2(".", MNT_DETACH) (the old root is detached: nothing of the host is reachable by
//!   any path), chdir("/").
//!
//! The by-hand chain (see `glassbox --help`):
//!
//! ```text
//! glassbox unshare --mount --uts --ipc --net --pid --fork -- \
//!   glassbox mount --root ROOTFS proc sys tmp dev -- \
//!   glassbox pivot-root ROOTFS -- /bin/sh
//! ```

use super::ops::{self, Op, Place};
pub use super::ops::{ns_inode, PRIVATE_MNT_NS_ENV};
use crate::error::{Error, Result};
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// Capability numbers (capabilities(7)).
pub const CAP_SYS_CHROOT: u32 = 18;
pub const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process has capability `cap` in its effective set (from /proc/self/status).
pub fn has_cap(cap: u32) -> bool {
    match crate::host::own_caps("CapEff") {
        Some(mask) => mask & (1u64 << cap) != 0,
        None => crate::sys::quiet::is_root(),
    }
}

/// Refuse a stage that needs `cap` when the process does not have it (before any call).
pub fn require_cap(stage: &str, cap: u32, cap_name: &str) -> Result<()> {
    if has_cap(cap) {
        return Ok(());
    }
    Err(Error::usage(
        format!("glassbox {stage} needs {cap_name}, and this process (uid {}) does not have it", crate::sys::quiet::euid()),
        format!("run it as root (sudo glassbox {stage} …), or inside `glassbox unshare --user --map-root-user --mount …`"),
    ))
}

/// Whether this process is in a mount namespace of its own whose mounts are all private,
/// so mounts and unmounts made here cannot reach the host. Err says why not, in one sentence.
pub fn check_private_mount_ns(stage: &str) -> Result<()> {
    let todo = format!(
        "run it inside a new mount namespace: glassbox unshare --mount -- glassbox {stage} …"
    );
    let ours = ns_inode("/proc/self/ns/mnt");
    let marked = std::env::var(PRIVATE_MNT_NS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let own_ns = match (ours, marked) {
        (Some(a), Some(b)) if a == b => true,
        _ => match (ours, ns_inode("/proc/1/ns/mnt")) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        },
    };
    if !own_ns {
        return Err(Error::usage(
            format!("glassbox {stage} refuses to run in the host's mount namespace: its mounts would change the host's mount table"),
            todo,
        ));
    }
    let mounts = crate::host::mountinfo::current();
    if let Some(m) = mounts.iter().find(|m| m.is_shared()) {
        return Err(Error::usage(
            format!(
                "{} has shared propagation in this mount namespace, so a change made here would reach the host",
                m.mount_point.display()
            ),
            "make every mount private first: mount --make-rprivate / (glassbox unshare --mount does it)",
        ));
    }
    Ok(())
}

/// Check DIR: it must exist and be a directory. Returns it made absolute (not resolved:
/// the kernel resolves it when the call is made).
fn check_dir(dir: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::io(
            format!("the new root {} cannot be used", dir.display()),
            &e,
            "give a directory that holds a root filesystem (glassbox unpack busybox DIR makes one)",
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::usage(
            format!("the new root {} is not a directory", dir.display()),
            "give a directory that holds a root filesystem",
        ));
    }
    Ok(if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    })
}

/// The command is looked up inside the new root; say so clearly before changing anything.
fn check_command_inside(dir: &Path, command: &[String]) -> Result<()> {
    let Some(cmd) = command.first() else {
        return Err(Error::usage(
            "no command was given to run in the new root",
            "put the command after `--`, for example `-- /bin/sh`",
        ));
    };
    let path_var = std::env::var("PATH").ok();
    let found = if cmd.contains('/') {
        let p = Path::new(cmd);
        let inside = dir.join(p.strip_prefix("/").unwrap_or(p));
        inside.exists() || inside.is_symlink()
    } else {
        path_var
            .as_deref()
            .unwrap_or(crate::sys::process::DEFAULT_PATH)
            .split(':')
            .filter(|d| d.starts_with('/'))
            .any(|d| {
                let inside = dir.join(d.trim_start_matches('/')).join(cmd);
                inside.exists() || inside.is_symlink()
            })
    };
    if !found {
        return Err(Error::new(
            format!("the command {cmd:?} is not in the new root {}", dir.display()),
            "give a program that exists inside the new root (its PATH is searched there), for example /bin/sh",
        )
        .with_code(crate::error::exit::NOT_FOUND));
    }
    Ok(())
}

pub fn chroot_main(dir: &Path, command: &[String], sys: &Sys) -> Result<i32> {
    sys.require(|| require_cap("chroot", CAP_SYS_CHROOT, "CAP_SYS_CHROOT (root)"))?;
    let dir = check_dir(dir)?;
    check_command_inside(&dir, command)?;
    ops::execute(sys, &chroot_ops(&dir))?;
    super::exec_tail(sys, command)
}

/// What chroot(8) does: path lookups start at `dir`, and the working directory moves in.
pub fn chroot_ops(dir: &Path) -> Vec<Op> {
    vec![
        Op::Stage {
            name: "chroot",
            title: "change where path lookups start (escapable: see `glassbox explain chroot`)",
        },
        Op::Chroot {
            dir: dir.to_path_buf(),
            why: "path lookups of this process now start at DIR".into(),
        },
        Op::Chdir {
            dir: "/".into(),
            why: "move the working directory inside the new root (chroot does not move it)".into(),
        },
        Op::Note("the host's root is still mounted and reachable from here by a root process: chroot is not a security boundary".into()),
    ]
}

pub fn pivot_root_main(dir: &Path, command: &[String], sys: &Sys) -> Result<i32> {
    sys.require(|| require_cap("pivot-root", CAP_SYS_ADMIN, "CAP_SYS_ADMIN (root)"))?;
    let dir = check_dir(dir)?;
    check_command_inside(&dir, command)?;
    sys.require(|| check_private_mount_ns("pivot-root"))?;
    pivot_into(sys, &dir)?;
    super::exec_tail(sys, command)
}

/// Make `dir` the root of this mount namespace and detach the old root (what
/// `glassbox pivot-root` and `run` both do).
pub fn pivot_into(sys: &Sys, dir: &Path) -> Result<()> {
    ops::execute(sys, &pivot_ops(dir))
}

/// The operations of [`pivot_into`], in order.
pub fn pivot_ops(dir: &Path) -> Vec<Op> {
    vec![
        Op::Stage {
            name: "pivot-root",
            title: "make DIR the root of this mount namespace and detach the old one",
        },
        Op::Mount {
            source: Some(dir.to_string_lossy().into()),
            target: Place::Path(dir.to_path_buf()),
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
            why: "pivot_root needs the new root to be a mount point: bind DIR onto itself (MS_REC keeps the mounts under it)".into(),
            by_hand: format!("mount --rbind {0} {0}", dir.display()),
        },
        Op::Chdir {
            dir: dir.to_path_buf(),
            why: "work from inside the new root, so pivot_root can be given \".\"".into(),
        },
        Op::PivotRoot {
            new_root: ".".into(),
            put_old: ".".into(),
            why: "the new root becomes /, and the old root is stacked on top of it at / for now".into(),
        },
        Op::Umount {
            target: ".".into(),
            flags: libc::MNT_DETACH,
            why: "detach the old root (the top of the stack): no path leads to the host's files any more".into(),
        },
        Op::Chdir {
            dir: "/".into(),
            why: "start at the new root".into(),
        },
        Op::Note("the old root is gone from this mount namespace: unlike chroot, there is nothing to climb back to".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;
    use crate::sys::Recorder;

    #[test]
    fn pivot_into_binds_enters_pivots_detaches_the_old_root_and_starts_at_slash() {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        pivot_into(&sys, Path::new("/c/rootfs")).unwrap();
        assert_eq!(
            recorder.lines(),
            [
                "mount(\"/c/rootfs\", \"/c/rootfs\", NULL, MS_BIND|MS_REC, NULL)",
                "chdir(\"/c/rootfs\")",
                "pivot_root(\".\", \".\")",
                "umount2(\".\", MNT_DETACH)",
                "chdir(\"/\")",
            ]
        );
    }

    #[test]
    fn a_failed_pivot_root_stops_the_stage_before_the_old_root_is_touched() {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        recorder.fail_next("pivot_root", nix::errno::Errno::EINVAL);
        assert!(pivot_into(&sys, Path::new("/c/rootfs")).is_err());
        assert_eq!(recorder.names(), ["mount", "chdir", "pivot_root"]);
    }
}

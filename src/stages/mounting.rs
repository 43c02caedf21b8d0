//! The mounts the executor performs for `Op::Mask`, `Op::ReadOnly` and `Op::Volume`:
//! below the ops (which name them) and the mounts stage (which plans them), so the
//! executor needs nothing from a stage.

use crate::error::Result;
use crate::sys::mount::{refusal, MountArgs, Refused, RootDir, Target};
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// A parsed `--volume HOST:CTR[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: PathBuf,
    pub ctr: PathBuf,
    pub read_only: bool,
}

/// The flags a read-only remount must keep: in a user namespace the kernel locks nosuid,
/// nodev, noexec and the atime flags of a mount, and refuses a remount that drops them.
fn kept_flags(path: &Path) -> libc::c_ulong {
    let Some(f) = crate::sys::quiet::statvfs_flags(path) else {
        return 0;
    };
    let mut out = 0;
    for (st_bit, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_bit != 0 {
            out |= ms;
        }
    }
    out
}

/// Remount a bind mount read-only, keeping its locked flags.
fn remount_ro(sys: &Sys, p: &Path, why: &str) -> Result<()> {
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | kept_flags(p);
    sys.mount(
        &MountArgs {
            source: None,
            target: p,
            fstype: None,
            flags,
            data: None,
        },
        why,
        &format!("mount -o remount,bind,ro {}", p.display()),
    )
}

/// `Op::Mask`: looked up only now, inside the filesystem just mounted.
pub fn mask(sys: &Sys, root: &RootDir, m: &str) -> Result<()> {
    let Some(found) = sys.mount_target_in(root, m, false)? else {
        sys.narrator.detail(&format!(
            "{m} does not exist on this kernel: nothing to mask"
        ));
        return Ok(());
    };
    let t = &found.path;
    // What the check opened is what is looked at, not the path again.
    let st = match &found.fd {
        Some(fd) => crate::sys::quiet::fstat(std::os::fd::AsRawFd::as_raw_fd(fd)),
        None => crate::sys::quiet::lstat(t),
    };
    let is_dir = st.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let (source, fstype, flags, why, by_hand) = if is_dir {
        (
            "tmpfs",
            Some("tmpfs"),
            libc::MS_RDONLY,
            format!("mask {m}: an empty read-only tmpfs hides what the kernel shows there"),
            format!("mount -t tmpfs -o ro tmpfs {}", t.display()),
        )
    } else {
        (
            "/dev/null",
            None,
            libc::MS_BIND,
            format!("mask {m}: /dev/null bound over it, so it reads empty and what is written there goes nowhere"),
            format!("mount --bind /dev/null {}", t.display()),
        )
    };
    sys.mount(
        &MountArgs {
            source: Some(source),
            target: t,
            fstype,
            flags,
            data: None,
        },
        &why,
        &by_hand,
    )
}

/// `Op::ReadOnly`: bound onto itself, so it can get mount flags of its own, then
/// remounted read-only; nothing when this kernel does not have it.
pub fn read_only(sys: &Sys, root: &RootDir, r: &str) -> Result<()> {
    let Some(t) = target(sys, root, r, false)? else {
        return Ok(());
    };
    let ts = t.to_string_lossy().to_string();
    sys.mount(
        &MountArgs {
            source: Some(&ts),
            target: &t,
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        },
        &format!("{r}: bind it onto itself, so it can get mount flags of its own"),
        &format!("mount --rbind {ts} {ts}"),
    )?;
    remount_ro(
        sys,
        &t,
        &format!("{r} read-only: the container may read these kernel settings, not change them"),
    )
}

/// `Op::Volume`.
pub fn mount_volume(sys: &Sys, root: &RootDir, v: &Volume) -> Result<()> {
    let rel = v
        .ctr
        .strip_prefix("/")
        .unwrap_or(&v.ctr)
        .to_string_lossy()
        .to_string();
    sys.narrator.note(&format!(
        "volume: {} on {}{}",
        v.host.display(),
        v.ctr.display(),
        if v.read_only { " (read-only)" } else { "" }
    ));
    let target = if v.host.is_dir() {
        sys.mount_target_in(root, &rel, true)?.expect("created")
    } else {
        match sys.mount_target_in(root, &rel, false)? {
            Some(t) => t,
            None => return Err(refusal(&root.path, &v.ctr, Refused::Missing)),
        }
    };
    let t = &target.path;
    let hs = v.host.to_string_lossy().to_string();
    sys.mount(
        &MountArgs {
            source: Some(&hs),
            target: &target.at(),
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        },
        &format!("a bind mount: the same files seen at a second place, inside the root (at {}, through the descriptor its check opened, so a symlink swapped in since cannot redirect it)", t.display()),
        &format!("mount --rbind {hs} {}", t.display()),
    )?;
    if v.read_only {
        // Looked up again: the descriptor above holds the directory under the new mount.
        let again = sys.mount_target_in(root, &rel, false)?;
        let on_top = match again.as_ref() {
            Some(found) => found.at(),
            // Only planned (nothing was made): the path is all there is to show.
            None if target.fd.is_none() => t.clone(),
            None => return Err(refusal(&root.path, Path::new(&rel), Refused::Missing)),
        };
        // A remount with MS_RDONLY would change only the top mount: the mounts under it
        // (a host's /proc, /sys/fs/cgroup, any submount) would stay writable (as Docker 25).
        sys.mount_setattr_rdonly_recursive(
            &on_top,
            "read-only, with every mount under it: one remount would leave the mounts below writable",
        )?;
    }
    Ok(())
}

/// The host path of `rel` inside the root, resolved safely ([`Sys::mount_target`]).
fn target(sys: &Sys, root: &RootDir, rel: &str, create: bool) -> Result<Option<PathBuf>> {
    Ok(sys.mount_target_in(root, rel, create)?.map(|t| t.path))
}

/// As [`target`], keeping the descriptor, in a root given by its path.
pub fn target_fd(sys: &Sys, root: &Path, rel: &str, create: bool) -> Result<Option<Target>> {
    sys.mount_target(root, rel, create)
}

//! Mount-table and root calls: mount(2), mount_setattr(2), umount2(2), pivot_root(2),
//! chroot(2), chdir(2), and the working directory reached without a /proc magic link
//! (openat2(2) + fchdir(2)).

use super::{check, cstring, diagnose, qpath, quote, render_flags, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::path::Path;

/// The MS_* flags, in ascending bit order, as strace names them.
pub const MS_FLAGS: &[(u64, &str)] = &[
    (libc::MS_RDONLY, "MS_RDONLY"),
    (libc::MS_NOSUID, "MS_NOSUID"),
    (libc::MS_NODEV, "MS_NODEV"),
    (libc::MS_NOEXEC, "MS_NOEXEC"),
    (libc::MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (libc::MS_REMOUNT, "MS_REMOUNT"),
    (libc::MS_MANDLOCK, "MS_MANDLOCK"),
    (libc::MS_DIRSYNC, "MS_DIRSYNC"),
    (libc::MS_NOATIME, "MS_NOATIME"),
    (libc::MS_NODIRATIME, "MS_NODIRATIME"),
    (libc::MS_BIND, "MS_BIND"),
    (libc::MS_MOVE, "MS_MOVE"),
    (libc::MS_REC, "MS_REC"),
    (libc::MS_SILENT, "MS_SILENT"),
    (libc::MS_POSIXACL, "MS_POSIXACL"),
    (libc::MS_UNBINDABLE, "MS_UNBINDABLE"),
    (libc::MS_PRIVATE, "MS_PRIVATE"),
    (libc::MS_SLAVE, "MS_SLAVE"),
    (libc::MS_SHARED, "MS_SHARED"),
    (libc::MS_RELATIME, "MS_RELATIME"),
    (libc::MS_STRICTATIME, "MS_STRICTATIME"),
];

pub const UMOUNT_FLAGS: &[(u64, &str)] = &[
    (libc::MNT_FORCE as u64, "MNT_FORCE"),
    (libc::MNT_DETACH as u64, "MNT_DETACH"),
    (libc::MNT_EXPIRE as u64, "MNT_EXPIRE"),
    (libc::UMOUNT_NOFOLLOW as u64, "UMOUNT_NOFOLLOW"),
];

/// What a mount(2) call takes; `None` is a NULL pointer.
pub struct MountArgs<'a> {
    pub source: Option<&'a str>,
    pub target: &'a Path,
    pub fstype: Option<&'a str>,
    pub flags: libc::c_ulong,
    pub data: Option<&'a str>,
}

fn opt_quote(s: Option<&str>) -> String {
    s.map(quote).unwrap_or_else(|| "NULL".into())
}

impl Sys<'_> {
    /// mount(2). `by_hand` is the mount(8) command that does the same.
    pub fn mount(&self, m: &MountArgs, why: &str, by_hand: &str) -> Result<()> {
        let src = m.source.map(cstring).transpose()?;
        let tgt = cstring(&m.target.to_string_lossy())?;
        let fst = m.fstype.map(cstring).transpose()?;
        let dat = m.data.map(cstring).transpose()?;
        let call = || {
            Call::new(
                "mount",
                vec![
                    opt_quote(m.source),
                    qpath(m.target),
                    opt_quote(m.fstype),
                    render_flags(m.flags, MS_FLAGS),
                    opt_quote(m.data),
                ],
                "mount(2)",
                why,
            )
            .by_hand(by_hand)
        };
        let ptr =
            |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        self.call(
            call,
            || {
                check(unsafe {
                    libc::mount(
                        ptr(&src),
                        tgt.as_ptr(),
                        ptr(&fst),
                        m.flags,
                        ptr(&dat) as *const libc::c_void,
                    )
                } as libc::c_long)
            },
            |errno| diagnose::mount(m.target, m.fstype, m.flags, errno),
        )?;
        Ok(())
    }

    /// umount2(2).
    pub fn umount2(&self, target: &Path, flags: libc::c_int, why: &str) -> Result<()> {
        let tgt = cstring(&target.to_string_lossy())?;
        let lazy = if flags & libc::MNT_DETACH != 0 {
            " -l"
        } else {
            ""
        };
        let call = || {
            Call::new(
                "umount2",
                vec![qpath(target), render_flags(flags as u64, UMOUNT_FLAGS)],
                "umount2(2)",
                why,
            )
            .by_hand(format!("umount{lazy} {}", target.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::umount2(tgt.as_ptr(), flags) } as libc::c_long)
        })?;
        Ok(())
    }

    /// pivot_root(2): make `new_root` the root, and put the old root at `put_old`.
    pub fn pivot_root(&self, new_root: &Path, put_old: &Path, why: &str) -> Result<()> {
        let n = cstring(&new_root.to_string_lossy())?;
        let o = cstring(&put_old.to_string_lossy())?;
        let call = || {
            Call::new(
                "pivot_root",
                vec![qpath(new_root), qpath(put_old)],
                "pivot_root(2)",
                why,
            )
            .by_hand(format!(
                "pivot_root {} {}",
                new_root.display(),
                put_old.display()
            ))
        };
        self.call(
            call,
            || check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) }),
            |errno| diagnose::pivot_root(new_root, put_old, errno),
        )?;
        Ok(())
    }

    /// chroot(2): change this process's root directory.
    pub fn chroot(&self, dir: &Path, why: &str) -> Result<()> {
        let d = cstring(&dir.to_string_lossy())?;
        let call = || {
            Call::new("chroot", vec![qpath(dir)], "chroot(2)", why)
                .by_hand(format!("chroot {}", dir.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::chroot(d.as_ptr()) } as libc::c_long)
        })?;
        Ok(())
    }

    /// chdir(2): change the working directory.
    pub fn chdir(&self, dir: &Path, why: &str) -> Result<()> {
        let d = cstring(&dir.to_string_lossy())?;
        let call = || {
            Call::new("chdir", vec![qpath(dir)], "chdir(2)", why)
                .by_hand(format!("cd {}", dir.display()))
        };
        self.call_plain(call, || {
            check(unsafe { libc::chdir(d.as_ptr()) } as libc::c_long)
        })?;
        Ok(())
    }
}

/// Why a path inside a root was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A component is a symlink (a rootfs could point it anywhere, even at the host).
    Symlink,
    /// The path climbs out of the root (`..` past it).
    ClimbsOut,
    /// It does not exist.
    Missing,
    /// Any other errno from the kernel.
    Other(nix::errno::Errno),
}

/// Resolve `rel` inside `root` the way the kernel resolves it, not by comparing strings:
/// openat2(2) with RESOLVE_BENEATH (no `..` or absolute jump out of the root) and
/// RESOLVE_NO_SYMLINKS (no symlink anywhere on the way). Returns the host path of the target
/// (root joined with the checked components) and an O_PATH descriptor for it.
/// It only looks: nothing is changed, so it is not narrated as a call.
pub fn resolve_beneath(
    root: &Path,
    rel: &Path,
) -> std::result::Result<(std::path::PathBuf, std::os::fd::OwnedFd), Refused> {
    RootDir::open(root).resolve(rel)
}

/// A root the mounts go into, opened once (O_PATH): every path inside it is resolved from
/// this one descriptor instead of opening the root again for each.
pub struct RootDir {
    pub path: std::path::PathBuf,
    fd: std::result::Result<std::os::fd::OwnedFd, Refused>,
}

impl RootDir {
    /// Open `root`; a failure is kept and answered by every [`RootDir::resolve`].
    pub fn open(root: &Path) -> RootDir {
        use std::os::fd::FromRawFd;
        let fd = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|_| Refused::Missing)
            .and_then(|croot| {
                let fd = unsafe {
                    libc::open(
                        croot.as_ptr(),
                        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                    )
                };
                if fd < 0 {
                    return Err(match nix::errno::Errno::last() {
                        nix::errno::Errno::ENOENT => Refused::Missing,
                        e => Refused::Other(e),
                    });
                }
                Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
            });
        RootDir {
            path: root.to_path_buf(),
            fd,
        }
    }

    /// `rel` inside this root, as [`resolve_beneath`] resolves it.
    pub fn resolve(
        &self,
        rel: &Path,
    ) -> std::result::Result<(std::path::PathBuf, std::os::fd::OwnedFd), Refused> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let rootfd = self.fd.as_ref().map_err(Clone::clone)?;
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let target = if rel.as_os_str().is_empty() {
            std::ffi::CString::new(".").unwrap()
        } else {
            std::ffi::CString::new(rel.as_os_str().as_encoded_bytes())
                .map_err(|_| Refused::Missing)?
        };
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        // No O_NOFOLLOW: with O_PATH it would hand back the link itself instead of refusing it.
        how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
        how.resolve =
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                rootfd.as_raw_fd(),
                target.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(match nix::errno::Errno::last() {
                nix::errno::Errno::ELOOP => Refused::Symlink,
                nix::errno::Errno::EXDEV => Refused::ClimbsOut,
                nix::errno::Errno::ENOENT => Refused::Missing,
                e => Refused::Other(e),
            });
        }
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        Ok((self.path.join(rel), fd))
    }
}

impl Sys<'_> {
    /// fchdir(2): change the working directory to an open directory.
    pub fn fchdir(&self, fd: std::os::fd::BorrowedFd, shown: &str, why: &str) -> Result<()> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let call = || {
            Call::new("fchdir", vec![format!("{raw}<{shown}>")], "fchdir(2)", why)
                .by_hand(format!("cd {shown}"))
        };
        self.call_plain(call, || check(unsafe { libc::fchdir(raw) } as libc::c_long))?;
        Ok(())
    }

    /// Go to the container's working directory `dir` the safe way: openat2(2) with
    /// RESOLVE_NO_MAGICLINKS, then fchdir(2) to that descriptor. A plain chdir would follow
    /// /proc/self/fd/N to wherever a descriptor inherited from the host points, and so put
    /// the container's command in a host directory (runc's CVE-2024-21626).
    pub fn chdir_no_magiclinks(&self, dir: &Path, why: &str) -> Result<()> {
        use std::os::fd::{AsFd, FromRawFd, OwnedFd};
        let d = cstring(&dir.to_string_lossy())?;
        let flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        let call = || {
            Call::new(
            "openat2",
            vec![
                "AT_FDCWD".into(),
                qpath(dir),
                "{flags=O_RDONLY|O_CLOEXEC|O_PATH|O_DIRECTORY, resolve=RESOLVE_NO_MAGICLINKS}"
                    .into(),
                "24".into(),
            ],
            "openat2(2)",
            "reach the working directory without following a /proc magic link (a descriptor or another process's root), which could lead out of the container",
        )
        };
        let fd = self.call(
            call,
            || {
                let mut how: libc::open_how = unsafe { std::mem::zeroed() };
                how.flags = flags;
                how.resolve = libc::RESOLVE_NO_MAGICLINKS;
                check(unsafe {
                    libc::syscall(
                        libc::SYS_openat2,
                        libc::AT_FDCWD,
                        d.as_ptr(),
                        &how as *const libc::open_how,
                        std::mem::size_of::<libc::open_how>(),
                    )
                })
            },
            |errno| diagnose::workdir(dir, errno),
        )?;
        if self.dry_run() {
            let call = || {
                Call::new(
                    "fchdir",
                    vec![format!("?<{}>", dir.display())],
                    "fchdir(2)",
                    why,
                )
                .by_hand(format!("cd {}", dir.display()))
            };
            return self.call_plain(call, || Ok(0)).map(|_| ());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        self.fchdir(fd.as_fd(), &dir.to_string_lossy(), why)
    }
}

/// struct mount_attr of mount_setattr(2) (linux/mount.h, MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

impl Sys<'_> {
    /// mount_setattr(AT_FDCWD, path, AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY}): make the
    /// mount at `path` and every mount below it read-only in one call (Linux 5.12).
    /// A remount with MS_RDONLY changes only the one mount it names.
    pub fn mount_setattr_rdonly_recursive(&self, path: &Path, why: &str) -> Result<()> {
        let p = cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new(
                "mount_setattr",
                vec![
                    "AT_FDCWD".into(),
                    qpath(path),
                    "AT_RECURSIVE".into(),
                    "{attr_set=MOUNT_ATTR_RDONLY, attr_clr=0, ...}".into(),
                    "32".into(),
                ],
                "mount_setattr(2)",
                why,
            )
        };
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        self.call(
            call,
            || {
                check(unsafe {
                    libc::syscall(
                        libc::SYS_mount_setattr,
                        libc::AT_FDCWD,
                        p.as_ptr(),
                        libc::AT_RECURSIVE,
                        &attr as *const MountAttr,
                        std::mem::size_of::<MountAttr>(),
                    )
                })
            },
            |errno| diagnose::mount_setattr(path, errno),
        )?;
        Ok(())
    }
}

/// A mount target checked inside a root: its host path (to show) and the O_PATH descriptor
/// the kernel resolved it to (none when it was only planned: a dry run made no directory).
pub struct Target {
    pub path: std::path::PathBuf,
    pub fd: Option<std::os::fd::OwnedFd>,
}

impl Target {
    /// What mount(2) is given: /proc/self/fd/N, the directory the check found, whatever its
    /// path has become since (a directory of a shared volume swapped for a symlink to the
    /// host is runc's CVE-2021-30465); the host path only when nothing was made.
    pub fn at(&self) -> std::path::PathBuf {
        match &self.fd {
            Some(fd) => fd_path(fd),
            None => self.path.clone(),
        }
    }
}

/// /proc/self/fd/N for an open descriptor.
pub fn fd_path(fd: &std::os::fd::OwnedFd) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// One sentence for a refused mount target.
pub fn refusal(root: &Path, rel: &Path, r: Refused) -> crate::error::Error {
    use crate::error::Error;
    let shown = root.join(rel.strip_prefix("/").unwrap_or(rel));
    match r {
        Refused::Symlink => Error::usage(
            format!("the mount target {} is a symlink (or lies under one): a root filesystem could point it anywhere, even at the host, so glassbox refuses it", shown.display()),
            "make it a real directory in the root filesystem (rm the link, mkdir the directory)",
        ),
        Refused::ClimbsOut => Error::usage(
            format!("the mount target {} climbs out of the root {}", rel.display(), root.display()),
            "give a path inside the root, without `..`",
        ),
        Refused::Missing => Error::usage(
            format!("the mount target {} does not exist", shown.display()),
            "create it in the root filesystem first",
        ),
        Refused::Other(e) => Error::sys(
            format!("cannot look up the mount target {} inside the root", shown.display()),
            e,
            "check the root filesystem's permissions",
        ),
    }
}

impl Sys<'_> {
    /// `rel` inside `root` where an earlier step of this run mounted a filesystem (sysfs's
    /// fs/cgroup): resolved as [`resolve_beneath`] does, with its descriptor; when calls are
    /// not made nothing was mounted, so it is only its path as planned.
    pub fn resolve_mounted(&self, root: &Path, rel: &str) -> std::result::Result<Target, Refused> {
        match resolve_beneath(root, Path::new(rel)) {
            Ok((path, fd)) => Ok(Target { path, fd: Some(fd) }),
            Err(_) if !self.kernel.makes_calls() => Ok(Target {
                path: root.join(rel),
                fd: None,
            }),
            Err(r) => Err(r),
        }
    }

    /// The mount target `rel` inside `root`, resolved by the kernel ([`resolve_beneath`]);
    /// a missing last component is made as a directory (as Docker makes missing mount
    /// points) through its parent's descriptor when `create` is true, then resolved again.
    /// When calls are not made, a directory to make is only planned: its path, no descriptor.
    pub fn mount_target(&self, root: &Path, rel: &str, create: bool) -> Result<Option<Target>> {
        self.mount_target_in(&RootDir::open(root), rel, create)
    }

    /// As [`Sys::mount_target`], inside a root already opened.
    pub fn mount_target_in(
        &self,
        root: &RootDir,
        rel: &str,
        create: bool,
    ) -> Result<Option<Target>> {
        let relp = Path::new(rel);
        match root.resolve(relp) {
            Ok((path, fd)) => Ok(Some(Target { path, fd: Some(fd) })),
            Err(Refused::Missing) if create => {
                let parent = relp.parent().unwrap_or(Path::new(""));
                let name = relp.file_name().unwrap_or_default();
                let (pp, pfd) = match root.resolve(parent) {
                    Ok(found) => found,
                    // Nothing was made before it (a dry run): the planned path.
                    Err(_) if self.dry_run() => {
                        return Ok(Some(Target {
                            path: root.path.join(relp.strip_prefix("/").unwrap_or(relp)),
                            fd: None,
                        }))
                    }
                    Err(r) => return Err(refusal(&root.path, parent, r)),
                };
                self.mkdir_in(
                    std::os::fd::AsFd::as_fd(&pfd),
                    &pp,
                    name,
                    0o755,
                    &format!(
                        "make the missing mount point {} in the directory the check found",
                        pp.join(name).display()
                    ),
                )?;
                if self.dry_run() {
                    return Ok(Some(Target {
                        path: pp.join(name),
                        fd: None,
                    }));
                }
                match root.resolve(relp) {
                    Ok((path, fd)) => Ok(Some(Target { path, fd: Some(fd) })),
                    Err(r) => Err(refusal(&root.path, relp, r)),
                }
            }
            Err(Refused::Missing) => Ok(None),
            Err(r) => Err(refusal(&root.path, relp, r)),
        }
    }
}

/// One step of configuring a filesystem context (fsconfig(2)).
pub enum FsConfig<'a> {
    /// `FSCONFIG_SET_STRING key=value` (overlayfs's `lowerdir+` takes one layer a call).
    String(&'a str, &'a str),
    /// `FSCONFIG_SET_FLAG key` (a flag option, as `userxattr`).
    Flag(&'a str),
    /// `FSCONFIG_CMD_CREATE`: make the superblock from what was set.
    Create,
}

/// A descriptor of the new mount API (a filesystem context, a detached mount), closed when
/// dropped; when calls are not made, the number the narration showed and nothing to close.
pub struct MountFd {
    raw: i32,
    _owned: Option<std::os::fd::OwnedFd>,
}

impl MountFd {
    fn new(sys: &Sys, raw: i64) -> MountFd {
        use std::os::fd::FromRawFd;
        MountFd {
            raw: raw as i32,
            _owned: sys
                .kernel
                .makes_calls()
                .then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(raw as i32) }),
        }
    }
}

/// The new mount API (Linux 5.2; overlayfs's `lowerdir+` since 6.8): a filesystem is
/// configured one option per call instead of in one string that the kernel takes up to a
/// page, so an overlay of many layers can be mounted.
impl Sys<'_> {
    /// fsopen(2): a filesystem context of this type, to configure. Returns its fd.
    pub fn fsopen(&self, fstype: &str, why: &str) -> Result<MountFd> {
        let t = cstring(fstype)?;
        let call = || {
            Call::new(
                "fsopen",
                vec![quote(fstype), "FSOPEN_CLOEXEC".into()],
                "fsopen(2)",
                why,
            )
        };
        let fd = self.call_plain(call, || {
            check(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), libc::FSOPEN_CLOEXEC) })
        })?;
        Ok(MountFd::new(self, fd))
    }

    /// fsconfig(2): one option of a filesystem context, or its creation.
    pub fn fsconfig(&self, fd: &MountFd, step: FsConfig, why: &str) -> Result<()> {
        let fd = fd.raw;
        let (cmd, name, key, value) = match step {
            FsConfig::String(k, v) => (
                libc::FSCONFIG_SET_STRING,
                "FSCONFIG_SET_STRING",
                Some(k),
                Some(v),
            ),
            FsConfig::Flag(k) => (libc::FSCONFIG_SET_FLAG, "FSCONFIG_SET_FLAG", Some(k), None),
            FsConfig::Create => (libc::FSCONFIG_CMD_CREATE, "FSCONFIG_CMD_CREATE", None, None),
        };
        let k = key.map(cstring).transpose()?;
        let v = value.map(cstring).transpose()?;
        let shown = |s: Option<&str>| s.map_or("NULL".to_string(), quote);
        let call = || {
            Call::new(
                "fsconfig",
                vec![
                    fd.to_string(),
                    name.into(),
                    shown(key),
                    shown(value),
                    "0".into(),
                ],
                "fsconfig(2)",
                why,
            )
        };
        let ptr =
            |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        self.call_plain(call, || {
            check(unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fd,
                    cmd as libc::c_uint,
                    ptr(&k),
                    ptr(&v),
                    0,
                )
            })
        })?;
        Ok(())
    }

    /// fsmount(2): a detached mount of a created context. Returns its fd.
    pub fn fsmount(&self, fd: &MountFd, why: &str) -> Result<MountFd> {
        let fd = fd.raw;
        let call = || {
            Call::new(
                "fsmount",
                vec![fd.to_string(), "FSMOUNT_CLOEXEC".into(), "0".into()],
                "fsmount(2)",
                why,
            )
        };
        let m = self.call_plain(call, || {
            check(unsafe { libc::syscall(libc::SYS_fsmount, fd, libc::FSMOUNT_CLOEXEC, 0) })
        })?;
        Ok(MountFd::new(self, m))
    }

    /// move_mount(2): attach a detached mount at `target`.
    pub fn move_mount(&self, fd: &MountFd, target: &Path, why: &str) -> Result<()> {
        let fd = fd.raw;
        let empty = cstring("")?;
        let tgt = cstring(&target.to_string_lossy())?;
        let call = || {
            Call::new(
                "move_mount",
                vec![
                    fd.to_string(),
                    "\"\"".into(),
                    "AT_FDCWD".into(),
                    qpath(target),
                    "MOVE_MOUNT_F_EMPTY_PATH".into(),
                ],
                "move_mount(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe {
                libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    tgt.as_ptr(),
                    libc::MOVE_MOUNT_F_EMPTY_PATH,
                )
            })
        })?;
        Ok(())
    }
}

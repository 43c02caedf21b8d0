//! Typed setup operations, as bubblewrap's `SetupOp` list: a stage first plans what it will
//! do as a list of [`Op`]s, each carrying its arguments and its why, and one function,
//! [`execute`], performs them in order through `sys`. The list is the stage's plan: `explain`
//! prints it, `--step` walks it, and a dry run executes it on a kernel that makes no call,
//! so what it prints is what a real run narrates.
//!
//! Paths inside a container's root are resolved by the kernel when the op is performed
//! (a [`Place::Beneath`]), not when it is planned: /proc's masked paths exist only once
//! /proc is mounted, and a directory swapped for a symlink in between must not redirect a
//! mount.

use super::mounting::{self, Volume};
use crate::error::Result;
use crate::sys::mount::{refusal, MountArgs, Refused, RootDir};
use crate::sys::{qpath, quote, render_flags, Sys};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable that `glassbox unshare --mount` sets to the inode of the mount
/// namespace it made private, so later stages can tell it is not the host's even after a new
/// /proc hides the host's PID 1.
pub const PRIVATE_MNT_NS_ENV: &str = "GLASSBOX_PRIVATE_MNT_NS";

/// The inode of a namespace link (`/proc/self/ns/mnt`), or None if unreadable.
pub fn ns_inode(link: &str) -> Option<u64> {
    // This process's own: looked at once while it stays in the same namespaces.
    if let Some(kind) = link.strip_prefix("/proc/self/ns/") {
        return crate::host::own_ns_inode(kind);
    }
    std::fs::metadata(link).ok().map(|m| m.ino())
}

/// Where an op acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A path taken as it is.
    Path(PathBuf),
    /// `rel` inside `root`, found by the kernel with no symlink and no way out; a missing
    /// last directory is made first when `create` is true.
    Beneath {
        root: PathBuf,
        rel: String,
        create: bool,
    },
}

impl Place {
    /// The path as planned: `root/rel` before the kernel has looked.
    pub fn planned(&self) -> PathBuf {
        match self {
            Place::Path(p) => p.clone(),
            Place::Beneath { root, rel, .. } => root.join(rel),
        }
    }
}

/// One setup operation, with its arguments and its why.
#[derive(Clone)]
pub enum Op {
    /// A stage begins (its header in the narration; where `--step` pauses).
    Stage {
        name: &'static str,
        title: &'static str,
    },
    Note(String),
    Warn(String),
    /// Shown only at the most detailed level.
    Detail(String),
    /// mount(2) on the path `target` resolves to (`{target}` in `why` and `by_hand`).
    Mount {
        source: Option<String>,
        target: Place,
        fstype: Option<String>,
        flags: libc::c_ulong,
        data: Option<String>,
        why: String,
        by_hand: String,
    },
    /// Docker's mask of `path` inside `root`: an empty read-only tmpfs over a directory,
    /// /dev/null over a file; nothing when this kernel does not have it.
    Mask {
        root: PathBuf,
        path: &'static str,
    },
    /// Make `path` inside `root` read-only: bound onto itself, then remounted read-only.
    ReadOnly {
        root: PathBuf,
        path: &'static str,
    },
    /// A `--volume`: a recursive bind mount, and with `:ro` read-only all the way down.
    Volume {
        root: PathBuf,
        volume: Volume,
    },
    /// mkdir(2).
    MakeDir {
        path: PathBuf,
        mode: u32,
        why: String,
    },
    /// umask(2), remembering the old mask for [`Op::RestoreUmask`] (also restored when a
    /// later op fails).
    Umask {
        mask: u32,
        why: String,
    },
    RestoreUmask,
    /// A device node `name` in `dir`: mknod, or in a user namespace (where mknod is not
    /// allowed) an empty file with the host's device bound over it.
    Device {
        dir: Place,
        name: &'static str,
        major: u32,
        minor: u32,
        bind_from_host: bool,
    },
    /// symlink(2): `dir/name` pointing at `to`.
    Symlink {
        to: String,
        dir: Place,
        name: String,
        why: String,
    },
    Chroot {
        dir: PathBuf,
        why: String,
    },
    Chdir {
        dir: PathBuf,
        why: String,
    },
    PivotRoot {
        new_root: PathBuf,
        put_old: PathBuf,
        why: String,
    },
    Umount {
        target: PathBuf,
        flags: libc::c_int,
        why: String,
    },
    SetHostname {
        name: String,
        why: String,
    },
    /// unshare(2) with `flags` (CLONE_NEW*).
    Unshare {
        flags: libc::c_int,
        why: String,
    },
    /// A write to a kernel file (/proc/self/uid_map).
    WriteFile {
        path: PathBuf,
        value: String,
        why: String,
    },
    /// Tell later stages (through the environment) which mount namespace was made private,
    /// so they can tell it is not the host's even once a new /proc hides the host's PID 1.
    MarkPrivateMountNs,
    /// prctl(PR_CAPBSET_DROP, cap).
    CapbsetDrop {
        cap: u32,
        why: String,
    },
    /// prctl(PR_SET_KEEPCAPS, on).
    KeepCaps {
        on: bool,
        why: String,
    },
    SetGroups {
        why: String,
    },
    SetResGid {
        gid: u32,
        why: String,
    },
    SetResUid {
        uid: u32,
        why: String,
    },
    /// capset(2): permitted and effective `caps`, inheritable empty.
    Capset {
        caps: u64,
        why: String,
    },
    ClearAmbientCaps {
        why: String,
    },
    NoNewPrivs {
        why: String,
    },
    /// seccomp(2) with a compiled BPF program (`name` says which filter it is).
    Seccomp {
        name: &'static str,
        program: Vec<libc::sock_filter>,
        why: String,
    },
    /// close_range(first, ~0, CLOSE_RANGE_CLOEXEC).
    CloexecFrom {
        first: u32,
        why: String,
    },
    /// setns(2) into the namespace open at `fd` (`shown` is its link, `path` its file).
    SetNs {
        fd: Arc<OwnedFd>,
        shown: String,
        path: String,
        nstype: libc::c_int,
        why: String,
    },
    /// fchdir(2) to the directory open at `fd` (`shown` is its path).
    Fchdir {
        fd: Arc<OwnedFd>,
        shown: String,
        why: String,
    },
    SetGid {
        gid: u32,
        why: String,
    },
    SetUid {
        uid: u32,
        why: String,
    },
}

impl fmt::Display for Op {
    /// One line an op: the syscall as the narration shows it (the path inside a root as
    /// planned), or the narration's own line for a stage, a note or a warning.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |s: &Option<String>| s.as_deref().map(quote).unwrap_or("NULL".into());
        match self {
            Op::Stage { name, title } => write!(f, "▶ {name} — {title}"),
            Op::Note(t) => write!(f, "  {t}"),
            Op::Warn(t) => write!(f, "  warning: {t}"),
            Op::Detail(t) => write!(f, "    {t}"),
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
                ..
            } => write!(
                f,
                "mount({}, {}, {}, {}, {})",
                q(source),
                qpath(&target.planned()),
                q(fstype),
                render_flags(*flags, crate::sys::mount::MS_FLAGS),
                q(data)
            ),
            Op::Mask { root, path } => write!(f, "mask {}", qpath(&beneath(root, path))),
            Op::ReadOnly { root, path } => {
                write!(f, "read-only {}", qpath(&beneath(root, path)))
            }
            Op::Volume { root, volume } => write!(
                f,
                "volume {} on {}{}",
                qpath(&volume.host),
                qpath(&beneath(root, &volume.ctr.to_string_lossy())),
                if volume.read_only { " read-only" } else { "" }
            ),
            Op::MakeDir { path, mode, .. } => write!(f, "mkdir({}, 0{mode:o})", qpath(path)),
            Op::Umask { mask, .. } => write!(f, "umask({mask:03o})"),
            Op::RestoreUmask => write!(f, "umask(old)"),
            Op::Device {
                dir,
                name,
                major,
                minor,
                bind_from_host,
            } => {
                let p = dir.planned().join(name);
                if *bind_from_host {
                    write!(f, "mknod({}, S_IFREG|0666) + bind /dev/{name}", qpath(&p))
                } else {
                    write!(f, "mknod({}, S_IFCHR|0666, {major}:{minor})", qpath(&p))
                }
            }
            Op::Symlink { to, dir, name, .. } => write!(
                f,
                "symlink({}, {})",
                quote(to),
                qpath(&dir.planned().join(name))
            ),
            Op::Chroot { dir, .. } => write!(f, "chroot({})", qpath(dir)),
            Op::Chdir { dir, .. } => write!(f, "chdir({})", qpath(dir)),
            Op::PivotRoot {
                new_root, put_old, ..
            } => write!(f, "pivot_root({}, {})", qpath(new_root), qpath(put_old)),
            Op::Umount { target, flags, .. } => write!(
                f,
                "umount2({}, {})",
                qpath(target),
                render_flags(*flags as u64, crate::sys::mount::UMOUNT_FLAGS)
            ),
            Op::SetHostname { name, .. } => write!(f, "sethostname({})", quote(name)),
            Op::Unshare { flags, .. } => {
                write!(f, "unshare({})", crate::sys::flags::clone_flags(*flags))
            }
            Op::WriteFile { path, value, .. } => {
                write!(f, "write({}, {})", qpath(path), quote(value))
            }
            Op::MarkPrivateMountNs => {
                write!(f, "{}=<inode of /proc/self/ns/mnt>", PRIVATE_MNT_NS_ENV)
            }
            Op::CapbsetDrop { cap, .. } => write!(
                f,
                "prctl(PR_CAPBSET_DROP, {})",
                crate::sys::security::cap_name(*cap)
            ),
            Op::KeepCaps { on, .. } => write!(f, "prctl(PR_SET_KEEPCAPS, {})", *on as u8),
            Op::SetGroups { .. } => write!(f, "setgroups(0, [])"),
            Op::SetResGid { gid, .. } => write!(f, "setresgid({gid}, {gid}, {gid})"),
            Op::SetResUid { uid, .. } => write!(f, "setresuid({uid}, {uid}, {uid})"),
            Op::Capset { caps, .. } => write!(
                f,
                "capset(permitted=effective={}, inheritable=0)",
                (0..64)
                    .filter(|n| caps & (1u64 << n) != 0)
                    .map(crate::sys::security::cap_name)
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            Op::ClearAmbientCaps { .. } => {
                write!(f, "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)")
            }
            Op::NoNewPrivs { .. } => write!(f, "prctl(PR_SET_NO_NEW_PRIVS, 1)"),
            Op::Seccomp { name, .. } => write!(f, "seccomp(SECCOMP_SET_MODE_FILTER, 0, {name})"),
            Op::CloexecFrom { first, .. } => {
                write!(f, "close_range({first}, ~0, CLOSE_RANGE_CLOEXEC)")
            }
            Op::SetNs { shown, nstype, .. } => write!(
                f,
                "setns({}, {})",
                quote(shown),
                crate::sys::flags::clone_flags(*nstype)
            ),
            Op::Fchdir { shown, .. } => write!(f, "fchdir({})", quote(shown)),
            Op::SetGid { gid, .. } => write!(f, "setgid({gid})"),
            Op::SetUid { uid, .. } => write!(f, "setuid({uid})"),
        }
    }
}

/// `root` joined with an absolute or relative path inside it.
fn beneath(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The plan as lines, one an op (what `explain` and the unit tests read).
pub fn lines(ops: &[Op]) -> Vec<String> {
    ops.iter().map(|o| o.to_string()).collect()
}

/// Perform `ops` in order through `sys`; stop at the first that fails.
pub fn execute(sys: &Sys, ops: &[Op]) -> Result<()> {
    execute_with(sys, ops, |_| {})
}

/// As [`execute`], calling `before_stage` with each stage's name before its header (where
/// `run --step` pauses).
pub fn execute_with(sys: &Sys, ops: &[Op], mut before_stage: impl FnMut(&str)) -> Result<()> {
    let mut ex = Executor {
        sys,
        old_umask: None,
        dirs: Vec::new(),
        roots: Vec::new(),
    };
    for op in ops {
        if let Op::Stage { name, .. } = op {
            before_stage(name);
        }
        if let Err(e) = ex.perform(op) {
            if let Some(old) = ex.old_umask.take() {
                sys.umask(old, "the umask as it was")?;
            }
            return Err(e);
        }
    }
    Ok(())
}

struct Executor<'s, 'n> {
    sys: &'s Sys<'n>,
    /// The umask before an [`Op::Umask`], until it is restored.
    old_umask: Option<u32>,
    /// Places already resolved (the /dev a tmpfs was mounted on, for its devices).
    dirs: Vec<(Place, PathBuf)>,
    /// The roots paths are resolved in, each opened once for the whole list.
    roots: Vec<RootDir>,
}

impl Executor<'_, '_> {
    /// `root`, opened the first time it is asked for.
    fn root(&mut self, root: &Path) -> &RootDir {
        let i = match self.roots.iter().position(|r| r.path == root) {
            Some(i) => i,
            None => {
                self.roots.push(RootDir::open(root));
                self.roots.len() - 1
            }
        };
        &self.roots[i]
    }

    /// The host path of `place`, resolved by the kernel the first time it is asked for.
    fn place(&mut self, place: &Place) -> Result<PathBuf> {
        if let Some((_, p)) = self.dirs.iter().find(|(pl, _)| pl == place) {
            return Ok(p.clone());
        }
        let path = match place {
            Place::Path(p) => p.clone(),
            Place::Beneath { root, rel, create } => {
                let sys = self.sys;
                match sys.mount_target_in(self.root(root), rel, *create)? {
                    Some(t) => t.path,
                    None => return Err(refusal(root, Path::new(rel), Refused::Missing)),
                }
            }
        };
        self.dirs.push((place.clone(), path.clone()));
        Ok(path)
    }

    fn perform(&mut self, op: &Op) -> Result<()> {
        let sys = self.sys;
        let n = sys.narrator;
        match op {
            Op::Stage { name, title } => n.stage(name, title),
            Op::Note(t) => n.note(t),
            Op::Warn(t) => n.warn(t),
            Op::Detail(t) => n.detail(t),
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
                why,
                by_hand,
            } => {
                let t = self.place(target)?;
                let shown = t.to_string_lossy();
                sys.mount(
                    &MountArgs {
                        source: source.as_deref(),
                        target: &t,
                        fstype: fstype.as_deref(),
                        flags: *flags,
                        data: data.as_deref(),
                    },
                    &why.replace("{target}", &shown),
                    &by_hand.replace("{target}", &shown),
                )?;
            }
            Op::Mask { root, path } => mounting::mask(sys, self.root(root), path)?,
            Op::ReadOnly { root, path } => mounting::read_only(sys, self.root(root), path)?,
            Op::Volume { root, volume } => mounting::mount_volume(sys, self.root(root), volume)?,
            Op::MakeDir { path, mode, why } => sys.mkdir(path, *mode, why)?,
            Op::Umask { mask, why } => {
                let old = sys.umask(*mask, why)?;
                self.old_umask.get_or_insert(old);
            }
            Op::RestoreUmask => {
                if let Some(old) = self.old_umask.take() {
                    sys.umask(old, "the umask as it was")?;
                }
            }
            Op::Device {
                dir,
                name,
                major,
                minor,
                bind_from_host,
            } => {
                let p = self.place(dir)?.join(name);
                if *bind_from_host {
                    let host = format!("/dev/{name}");
                    sys.mknod_file(
                        &p,
                        0o666,
                        "an empty file for the host's device to be bound onto",
                    )?;
                    sys.mount(
                        &MountArgs {
                            source: Some(&host),
                            target: &p,
                            fstype: None,
                            flags: libc::MS_BIND,
                            data: None,
                        },
                        &format!("the host's /dev/{name}, bound in"),
                        &format!("touch {0}; mount --bind {host} {0}", p.display()),
                    )?;
                } else {
                    sys.mknod_char(
                        &p,
                        0o666,
                        *major,
                        *minor,
                        &format!("/dev/{name}: character device {major}:{minor}"),
                    )?;
                }
            }
            Op::Symlink { to, dir, name, why } => {
                let link = self.place(dir)?.join(name);
                sys.symlink(to, &link, why)?;
            }
            Op::Chroot { dir, why } => sys.chroot(dir, why)?,
            Op::Chdir { dir, why } => sys.chdir(dir, why)?,
            Op::PivotRoot {
                new_root,
                put_old,
                why,
            } => sys.pivot_root(new_root, put_old, why)?,
            Op::Umount { target, flags, why } => sys.umount2(target, *flags, why)?,
            Op::SetHostname { name, why } => sys.sethostname(name, why)?,
            Op::Unshare { flags, why } => sys.unshare(*flags, why)?,
            Op::WriteFile { path, value, why } => sys.write_file_plain(path, value, why)?,
            Op::MarkPrivateMountNs => {
                if let Some(ino) = ns_inode("/proc/self/ns/mnt") {
                    std::env::set_var(PRIVATE_MNT_NS_ENV, ino.to_string());
                }
            }
            Op::CapbsetDrop { cap, why } => sys.capbset_drop(*cap, why)?,
            Op::KeepCaps { on, why } => sys.set_keepcaps(*on, why)?,
            Op::SetGroups { why } => sys.setgroups(&[], why)?,
            Op::SetResGid { gid, why } => sys.setresgid(*gid, why)?,
            Op::SetResUid { uid, why } => sys.setresuid(*uid, why)?,
            Op::Capset { caps, why } => sys.capset(*caps, *caps, 0, why)?,
            Op::ClearAmbientCaps { why } => sys.clear_ambient_caps(why)?,
            Op::NoNewPrivs { why } => sys.set_no_new_privs(why)?,
            Op::Seccomp { program, why, .. } => sys.seccomp_filter(program, why)?,
            Op::CloexecFrom { first, why } => sys.cloexec_from(*first, why)?,
            Op::SetNs {
                fd,
                shown,
                path,
                nstype,
                why,
            } => sys.setns(fd.as_fd(), Some(shown), path, *nstype, why)?,
            Op::Fchdir { fd, shown, why } => sys.fchdir(fd.as_fd(), shown, why)?,
            Op::SetGid { gid, why } => sys.setgid(*gid, why)?,
            Op::SetUid { uid, why } => sys.setuid(*uid, why)?,
        }
        Ok(())
    }
}

//! The mount stage: `glassbox mount [--root DIR] proc sys tmp dev devpts shm
//! [--volume HOST:CTR[:ro]]… -- CMD…`.
//!
//! It mounts each filesystem a container needs the way runc (and so Docker) mounts it, inside
//! DIR (default: the current root), then runs the rest of the command line:
//!
//! - proc: `mount -t proc` with nosuid,nodev,noexec; then Docker's masked paths (/proc/kcore,
//!   /proc/keys, … — /dev/null bound over files, an empty read-only tmpfs over directories)
//!   and read-only paths (/proc/sys, /proc/sysrq-trigger, … — bound onto themselves, then
//!   remounted read-only);
//! - tmp: a tmpfs on /tmp with a size;
//! - dev: a small tmpfs on /dev holding only null, zero, full, random, urandom and tty (made with
//!   mknod, or bound from the host's /dev inside a user namespace, where mknod is not allowed),
//!   and the links fd, stdin, stdout, stderr and ptmx;
//! - devpts: a new devpts instance on /dev/pts (its own pty numbers); shm: a tmpfs on /dev/shm;
//! - sys: sysfs read-only (and /sys/firmware masked), last, as in runc's default spec;
//! - volumes: recursive bind mounts; `:ro` makes the volume and every mount under it read-only
//!   (mount_setattr with AT_RECURSIVE, as Docker 25 does).
//!
//! Every mount target is resolved inside the root by the kernel (openat2 with RESOLVE_BENEATH
//! and RESOLVE_NO_SYMLINKS), never by comparing strings: a root filesystem whose /proc is a
//! symlink to /proc of the host, or a volume target with `..`, is refused. Volumes (and
//! run's --tmpfs) are then mounted onto the descriptor that check opened (/proc/self/fd/N),
//! and missing mount points are made through their parent's: a directory swapped for a
//! symlink in between (in a volume another container shares) cannot redirect them.
//! The stage refuses to run in the host's mount namespace, where it would change the host's
//! mount table: run it after `glassbox unshare --mount`. The by-hand chain:
//!
//! ```text
//! glassbox unshare --mount --uts --ipc --net --pid --fork -- \
//!   glassbox mount --root ROOTFS proc sys tmp dev -- \
//!   glassbox pivot-root ROOTFS -- /bin/sh
//! ```

pub use super::mounting::{target_fd, Volume};
use super::ops::{self, Op, Place};
use crate::error::{Error, Result};
#[cfg(test)]
use crate::sys::mount::resolve_beneath;
use crate::sys::mount::{refusal, Refused, RootDir};
use crate::sys::Sys;
use std::path::{Component, Path, PathBuf};

/// The filesystems this stage knows, in the order they are mounted. /sys comes last, as in
/// runc's default spec: it shows the interfaces of the network namespace it is mounted in,
/// and a container's first process that joins its namespace late (see run::child) mounts
/// the rest before it.
pub const FILESYSTEMS: &[(&str, &str)] = &[
    ("proc", "/proc: the processes of this pid namespace"),
    ("tmp", "/tmp: a tmpfs with a size"),
    ("dev", "/dev: a tmpfs with only the safe devices"),
    ("devpts", "/dev/pts: a new devpts instance for terminals"),
    ("shm", "/dev/shm: a tmpfs for POSIX shared memory"),
    ("sys", "/sys: the kernel's devices and settings, read-only"),
];

/// Docker's default masked paths (moby oci/defaults.go): hidden from the container.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes on /dev: name, major, minor (as runc's default devices).
pub const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The links on /dev: name and target.
pub const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// The inode of the initial user namespace (PROC_USER_INIT_INO), fixed by the kernel.
const INIT_USER_NS: u64 = 0xEFFF_FFFD;
/// The inode of the initial pid namespace (PROC_PID_INIT_INO).
const INIT_PID_NS: u64 = 0xEFFF_FFFC;
/// The inode of the initial network namespace (PROC_NET_INIT_INO, kernels ≥ 6.x; older ones
/// number it dynamically and the warning below is then only skipped).
const INIT_NET_NS: u64 = 0xEFFF_FFF9;

/// Parse `HOST:CTR[:ro|:rw]`; CTR must be absolute and may not hold `..`.
pub fn parse_volume(s: &str) -> Result<Volume> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, None),
        [h, c, m] => (*h, *c, Some(*m)),
        _ => {
            return Err(Error::usage(
                format!("the volume {s:?} is not HOST:CTR or HOST:CTR:ro"),
                "write it as --volume /host/dir:/dir/in/container[:ro]",
            ))
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => {
            return Err(Error::usage(
                format!("the volume option {m:?} in {s:?} is not ro or rw"),
                "end the volume with :ro for read-only, or leave it off",
            ))
        }
    };
    if host.is_empty() || ctr.is_empty() {
        return Err(Error::usage(
            format!("the volume {s:?} has an empty side"),
            "write it as --volume /host/dir:/dir/in/container[:ro]",
        ));
    }
    let ctr = PathBuf::from(ctr);
    if !ctr.is_absolute() || ctr.components().any(|c| c == Component::ParentDir) {
        return Err(Error::usage(
            format!(
                "the container path {} of the volume {s:?} is not absolute or holds `..`",
                ctr.display()
            ),
            "give the container side as an absolute path without `..`, for example /data",
        ));
    }
    if ctr == Path::new("/") {
        // As docker: a volume over the whole root would hide every mount made after it.
        return Err(Error::usage(
            format!("the volume {s:?} would cover the container's root: / cannot be a mount point"),
            "mount the volume on a directory such as /data",
        ));
    }
    let host = std::fs::canonicalize(host).map_err(|e| {
        Error::io(
            format!("the host side {host:?} of the volume {s:?} cannot be used"),
            &e,
            "give a file or directory that exists on the host",
        )
    })?;
    Ok(Volume {
        host,
        ctr,
        read_only,
    })
}

/// Check a size like `64m`, `1g`, `65536k` or a plain number of bytes.
fn check_size(s: &str) -> Result<()> {
    let digits = s.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
        || s.len() - digits.len() > 1
    {
        return Err(Error::usage(
            format!("the size {s:?} is not a number of bytes with an optional k, m or g"),
            "give a size such as --tmp-size 64m",
        ));
    }
    Ok(())
}

/// What the stage will do, checked before the first call.
pub struct Plan {
    root: PathBuf,
    fs: Vec<&'static str>,
    volumes: Vec<Volume>,
    tmp_size: String,
    in_user_ns: bool,
    /// This process is in the host's pid namespace (a warning for /proc).
    host_pid_ns: bool,
    /// This process is in the host's network namespace (a warning for /sys).
    host_net_ns: bool,
    /// Docker's masked and read-only /proc and /sys paths (off with --unmasked, as
    /// `docker run --security-opt systempaths=unconfined`).
    pub mask_system_paths: bool,
}

/// What to mount, as `glassbox mount` and `run` ask for it: checked by [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MountSpec {
    /// The root filesystem the mounts go into (None: the current root).
    pub root: Option<PathBuf>,
    /// Filesystems by name: proc, sys, tmp, dev, devpts, shm.
    pub filesystems: Vec<String>,
    /// `HOST:CTR[:ro]` bind mounts.
    pub volume: Vec<String>,
    /// The size of the tmpfs on /tmp.
    pub tmp_size: String,
    /// Leave /proc's and /sys's sensitive paths open (systempaths=unconfined).
    pub unmasked: bool,
}

pub fn plan(a: &MountSpec) -> Result<Plan> {
    let root = match &a.root {
        None => PathBuf::from("/"),
        Some(r) => std::fs::canonicalize(r).map_err(|e| {
            Error::io(
                format!("the root {} cannot be used", r.display()),
                &e,
                "give a directory that holds a root filesystem (glassbox unpack busybox DIR makes one)",
            )
        })?,
    };
    if !root.is_dir() {
        return Err(Error::usage(
            format!("the root {} is not a directory", root.display()),
            "give --root a directory that holds a root filesystem",
        ));
    }
    let p = plan_in(a, root, NewNamespaces::default())?;
    p.check_targets()?;
    Ok(p)
}

/// The namespaces a process was cloned into (or joins before it mounts /sys), known to be
/// new without a look at /proc/self/ns: a new one is never the host's. A process cloned
/// into new ones would otherwise look them up in a /proc that has never seen its pid (a
/// few tens of microseconds on the way to the container's command).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewNamespaces {
    pub user: bool,
    pub pid: bool,
    pub net: bool,
}

impl NewNamespaces {
    /// Those that clone(2) `flags` make.
    pub fn of_clone_flags(flags: libc::c_int) -> NewNamespaces {
        NewNamespaces {
            user: flags & libc::CLONE_NEWUSER != 0,
            pid: flags & libc::CLONE_NEWPID != 0,
            net: flags & libc::CLONE_NEWNET != 0,
        }
    }
}

/// As [`plan`], in a root directory whose path is already the one to use (`run`'s, which
/// glassbox made): not looked up again one component at a time, and its mount points not
/// checked ahead: each is checked as it is mounted (the same refusal), in the child's own
/// mount namespace, which ends with it.
pub fn plan_in(a: &MountSpec, root: PathBuf, new: NewNamespaces) -> Result<Plan> {
    for name in &a.filesystems {
        if !FILESYSTEMS.iter().any(|(n, _)| n == name) {
            return Err(Error::usage(
                format!("glassbox mount does not know the filesystem {name:?}"),
                format!(
                    "use some of: {}",
                    FILESYSTEMS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
        }
    }
    let fs: Vec<&'static str> = FILESYSTEMS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| a.filesystems.iter().any(|f| f == n))
        .collect();
    let volumes = a
        .volume
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    if fs.is_empty() && volumes.is_empty() {
        return Err(Error::usage(
            "no filesystem or volume was given to mount",
            "name some of: proc sys tmp dev devpts shm, or add --volume HOST:CTR",
        ));
    }
    check_size(&a.tmp_size)?;
    // Only /dev cares (mknod is not allowed in a user namespace).
    let in_user_ns = fs.contains(&"dev")
        && (new.user || ops::ns_inode("/proc/self/ns/user").is_some_and(|i| i != INIT_USER_NS));
    if fs.contains(&"dev") && in_user_ns && root == Path::new("/") {
        return Err(Error::usage(
            "glassbox mount dev in a user namespace needs --root: its devices are bound from the host's /dev, which a new /dev on / would hide",
            "give the root filesystem with --root DIR",
        ));
    }
    // Looked at once here, not each time the operations are listed.
    let host_pid_ns =
        fs.contains(&"proc") && !new.pid && ops::ns_inode("/proc/self/ns/pid") == Some(INIT_PID_NS);
    let host_net_ns =
        fs.contains(&"sys") && !new.net && ops::ns_inode("/proc/self/ns/net") == Some(INIT_NET_NS);
    Ok(Plan {
        root,
        fs,
        volumes,
        tmp_size: a.tmp_size.clone(),
        in_user_ns,
        host_pid_ns,
        host_net_ns,
        mask_system_paths: !a.unmasked,
    })
}

fn mount_point(fs: &str) -> &'static str {
    match fs {
        "proc" => "proc",
        "sys" => "sys",
        "tmp" => "tmp",
        "dev" => "dev",
        "devpts" => "dev/pts",
        _ => "dev/shm",
    }
}

pub fn main(a: &MountSpec, command: &[String], sys: &Sys) -> Result<i32> {
    sys.require(|| {
        super::root::require_cap("mount", super::root::CAP_SYS_ADMIN, "CAP_SYS_ADMIN (root)")
    })?;
    let p = plan(a)?;
    sys.require(|| super::root::check_private_mount_ns("mount"))?;
    apply(sys, &p)?;
    super::exec_tail(sys, command)
}

/// Mount everything the plan holds (what `glassbox mount` and `run` both do).
pub fn apply(sys: &Sys, p: &Plan) -> Result<()> {
    ops::execute(sys, &p.ops())
}

/// A mount of `source` (of type `fstype`) on `rel` inside `root`, made when missing.
#[allow(clippy::too_many_arguments)]
fn mount_op(
    root: &Path,
    rel: &str,
    source: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<String>,
    why: &str,
    by_hand: &str,
) -> Op {
    Op::Mount {
        source: Some(source.into()),
        target: Place::Beneath {
            root: root.to_path_buf(),
            rel: rel.into(),
            create: true,
        },
        fstype: Some(fstype.into()),
        flags,
        data,
        why: why.into(),
        by_hand: by_hand.into(),
    }
}

/// How this stage mounts filesystem `name` (proc, sys, tmp…; /tmp of `tmp_size`): its
/// mount operation, which the runtime spec lists so that the two cannot drift apart.
pub fn mount_of(name: &str, tmp_size: &str) -> Option<Op> {
    let name = FILESYSTEMS.iter().map(|(n, _)| *n).find(|n| *n == name)?;
    let plan = Plan {
        root: PathBuf::from("/"),
        fs: vec![name],
        volumes: Vec::new(),
        tmp_size: tmp_size.into(),
        in_user_ns: false,
        host_pid_ns: false,
        host_net_ns: false,
        mask_system_paths: false,
    };
    plan.ops()
        .into_iter()
        .find(|op| matches!(op, Op::Mount { .. }))
}

impl Plan {
    /// Every mount point that exists already must be a real directory inside the root:
    /// checked before the first mount.
    fn check_targets(&self) -> Result<()> {
        let root = &self.root;
        let mut targets: Vec<PathBuf> = self
            .fs
            .iter()
            .map(|f| Path::new("/").join(mount_point(f)))
            .collect();
        targets.extend(self.volumes.iter().map(|v| v.ctr.clone()));
        let opened = RootDir::open(root);
        for t in &targets {
            match opened.resolve(t) {
                Ok(_) | Err(Refused::Missing) => {}
                Err(r) => return Err(refusal(root, t, r)),
            }
        }
        Ok(())
    }

    /// Every filesystem, masked, on `root`, outside any user namespace: what `explain`
    /// shows.
    pub fn example(root: &Path) -> Plan {
        Plan {
            root: root.to_path_buf(),
            fs: FILESYSTEMS.iter().map(|(n, _)| *n).collect(),
            volumes: Vec::new(),
            tmp_size: "64m".into(),
            in_user_ns: false,
            host_pid_ns: false,
            host_net_ns: false,
            mask_system_paths: true,
        }
    }

    /// For a process that joins a network namespace of its own just before /sys is mounted
    /// (see [`split_before_sysfs`]): the warning that it is in the host's is not for it.
    pub fn network_joined_before_sys(mut self) -> Plan {
        self.host_net_ns = false;
        self
    }

    /// The operations that carry the plan out, in order.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops = vec![Op::Stage {
            name: "mount",
            title: "mount the filesystems a container needs, as a runtime does",
        }];
        let root = &self.root;
        for fs in &self.fs {
            let title = FILESYSTEMS
                .iter()
                .find(|(f, _)| f == fs)
                .map(|(_, t)| *t)
                .unwrap_or("");
            ops.push(Op::Note(title.into()));
            match *fs {
                "proc" => proc_ops(&mut ops, root, self.mask_system_paths, self.host_pid_ns),
                "sys" => sys_ops(&mut ops, root, self.mask_system_paths, self.host_net_ns),
                "tmp" => {
                    let data = format!("mode=1777,size={}", self.tmp_size);
                    ops.push(mount_op(root, "tmp", "tmpfs", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, Some(data.clone()),
                        "a private, size-limited /tmp in memory: nothing written there reaches the host's disk",
                        &format!("mount -t tmpfs -o nosuid,nodev,{data} tmpfs {{target}}")));
                }
                "dev" => dev_ops(&mut ops, root, self.in_user_ns),
                "devpts" => {
                    let data = "newinstance,ptmxmode=0666,mode=0620";
                    ops.push(mount_op(root, "dev/pts", "devpts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, Some(data.into()),
                        "a new devpts instance: the container's terminals are its own, and it cannot open the host's",
                        &format!("mount -t devpts -o nosuid,noexec,{data} devpts {{target}}")));
                }
                _ => {
                    let data = "mode=1777,size=65536k";
                    ops.push(mount_op(
                        root,
                        "dev/shm",
                        "shm",
                        "tmpfs",
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        Some(data.into()),
                        "a tmpfs of its own for POSIX shared memory (shm_open), not the host's",
                        &format!("mount -t tmpfs -o nosuid,nodev,noexec,{data} shm {{target}}"),
                    ));
                }
            }
        }
        for v in &self.volumes {
            ops.push(Op::Volume {
                root: root.clone(),
                volume: v.clone(),
            });
        }
        ops
    }
}

/// `ops` cut before the sysfs mount (and the lines that introduce it): sysfs shows the
/// interfaces of the network namespace it is mounted in, so a process that joins its
/// namespace late makes the first part before it joins. Without sysfs, all comes first.
pub fn split_before_sysfs(ops: &[Op]) -> (&[Op], &[Op]) {
    let is_sysfs = |op: &Op| matches!(op, Op::Mount { fstype: Some(t), .. } if t == "sysfs");
    let at = match ops.iter().position(is_sysfs) {
        Some(i) => {
            let lines = ops[..i]
                .iter()
                .rev()
                .take_while(|op| matches!(op, Op::Note(_) | Op::Warn(_)))
                .count();
            i - lines
        }
        None => ops.len(),
    };
    ops.split_at(at)
}

fn proc_ops(ops: &mut Vec<Op>, root: &Path, masks: bool, host_pid_ns: bool) {
    if host_pid_ns {
        ops.push(Op::Warn("this process is in the host's pid namespace: the new /proc shows every host process (run inside glassbox unshare --pid --fork)".into()));
    }
    ops.push(mount_op(
        root,
        "proc",
        "proc",
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
        "a proc of this pid namespace: ps and /proc show only its processes",
        "mount -t proc -o nosuid,nodev,noexec proc {target}",
    ));
    if !masks {
        ops.push(Op::Warn(
            "--unmasked: /proc's masked and read-only paths are left open, as the host has them"
                .into(),
        ));
        return;
    }
    mask_and_protect(ops, root, "/proc/")
}

fn sys_ops(ops: &mut Vec<Op>, root: &Path, masks: bool, host_net_ns: bool) {
    if host_net_ns {
        ops.push(Op::Warn("this process is in the host's network namespace: /sys/class/net shows the host's interfaces (run inside glassbox unshare --net)".into()));
    }
    ops.push(mount_op(root, "sys", "sysfs", "sysfs", libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, None,
        "sysfs read-only: the container may look at the kernel's devices and settings, not change them",
        "mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {target}"));
    if masks {
        mask_and_protect(ops, root, "/sys/")
    }
}

/// Docker's masked and read-only paths under `prefix` (/proc/ or /sys/).
fn mask_and_protect(ops: &mut Vec<Op>, root: &Path, prefix: &str) {
    for m in MASKED.iter().filter(|m| m.starts_with(prefix)) {
        ops.push(Op::Mask {
            root: root.to_path_buf(),
            path: m,
        });
    }
    for r in READONLY.iter().filter(|r| r.starts_with(prefix)) {
        ops.push(Op::ReadOnly {
            root: root.to_path_buf(),
            path: r,
        });
    }
}

fn dev_ops(ops: &mut Vec<Op>, root: &Path, in_user_ns: bool) {
    ops.push(mount_op(root, "dev", "tmpfs", "tmpfs", libc::MS_NOSUID | libc::MS_STRICTATIME, Some("mode=755,size=65536k".into()),
        "an empty /dev of its own: only the devices put there next are reachable, not the host's disks",
        "mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs {target}"));
    // mknod's mode is cut by the umask; the devices must be 0666 as on every Linux.
    ops.push(Op::Umask {
        mask: 0,
        why: "mknod's mode is cut by the umask: none while /dev is filled, so the devices are 0666"
            .into(),
    });
    if in_user_ns {
        ops.push(Op::Note("in a user namespace mknod is not allowed: each device is an empty file with the host's device bound over it (as runc does)".into()));
    }
    let dev = Place::Beneath {
        root: root.to_path_buf(),
        rel: "dev".into(),
        create: true,
    };
    for (name, major, minor) in DEVICES {
        ops.push(Op::Device {
            dir: dev.clone(),
            name,
            major: *major,
            minor: *minor,
            bind_from_host: in_user_ns,
        });
    }
    ops.push(Op::RestoreUmask);
    for (name, to) in DEV_LINKS {
        ops.push(Op::Symlink {
            to: to.to_string(),
            dir: dev.clone(),
            name: name.to_string(),
            why: format!("/dev/{name}, as every Linux has it"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse_and_bad_ones_are_refused() {
        let v = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(v.ctr, PathBuf::from("/data"));
        assert!(v.read_only);
        assert!(!parse_volume("/tmp:/data").unwrap().read_only);
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/a/../../etc").is_err());
        assert!(parse_volume("/tmp:/data:rx").is_err());
        assert!(parse_volume("/no/such/dir/here:/data").is_err());
        assert!(parse_volume("/tmp").is_err());
        let e = parse_volume("/tmp:/").unwrap_err();
        assert!(e.what.contains("cannot be a mount point"), "{}", e.what);
        assert!(parse_volume("/tmp:/.").is_err());
    }

    #[test]
    fn sizes_are_checked() {
        assert!(check_size("64m").is_ok());
        assert!(check_size("1048576").is_ok());
        assert!(check_size("m").is_err());
        assert!(check_size("64mb").is_err());
    }

    #[test]
    fn namespaces_the_clone_makes_are_new_without_a_look() {
        let flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET;
        let new = NewNamespaces::of_clone_flags(flags);
        assert_eq!(
            new,
            NewNamespaces {
                user: false,
                pid: true,
                net: true
            }
        );
        assert!(NewNamespaces::of_clone_flags(libc::CLONE_NEWUSER).user);
        // Cloned into a new pid and network namespace, /proc and /sys are the container's
        // own: no warning that they show the host's, wherever the test itself runs.
        let d = tempfile::tempdir().unwrap();
        let spec = MountSpec {
            unmasked: false,
            root: None,
            filesystems: vec!["proc".into(), "sys".into(), "dev".into()],
            volume: Vec::new(),
            tmp_size: "64m".into(),
        };
        let p = plan_in(&spec, d.path().to_path_buf(), new).unwrap();
        assert!(!p.host_pid_ns && !p.host_net_ns);
        let warned = p.ops().iter().any(|op| matches!(op, Op::Warn(_)));
        assert!(!warned, "a new namespace was taken for the host's");
        // A new user namespace is one without a look either (/dev binds the host's nodes).
        let in_user = NewNamespaces::of_clone_flags(libc::CLONE_NEWUSER | libc::CLONE_NEWPID);
        assert!(
            plan_in(&spec, d.path().to_path_buf(), in_user)
                .unwrap()
                .in_user_ns
        );
    }

    #[test]
    fn the_resolver_refuses_symlinks_and_climbing_out() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/proc", d.path().join("link")).unwrap();
        std::os::unix::fs::symlink("real", d.path().join("rel")).unwrap();
        assert!(resolve_beneath(d.path(), Path::new("/real")).is_ok());
        assert_eq!(
            resolve_beneath(d.path(), Path::new("/link")).unwrap_err(),
            Refused::Symlink
        );
        assert_eq!(
            resolve_beneath(d.path(), Path::new("rel")).unwrap_err(),
            Refused::Symlink
        );
        assert_eq!(
            resolve_beneath(d.path(), Path::new("real/../../etc")).unwrap_err(),
            Refused::ClimbsOut
        );
        assert_eq!(
            resolve_beneath(d.path(), Path::new("nothere")).unwrap_err(),
            Refused::Missing
        );
    }
}

#[cfg(test)]
mod recorded {
    use super::*;
    use crate::narrate::Narrator;
    use crate::sys::Recorder;

    /// The calls `apply` asks for, in order, with the root shown as ROOT.
    fn recorded(spec: &MountSpec, root: &Path) -> Vec<String> {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        apply(&sys, &plan(spec).unwrap()).unwrap();
        let root = root.canonicalize().unwrap().display().to_string();
        recorder
            .lines()
            .iter()
            .map(|l| l.replace(&root, "ROOT"))
            .collect()
    }

    #[test]
    fn filesystems_are_mounted_in_the_stage_order_dev_filled_and_sys_last() {
        let root = tempfile::tempdir().unwrap();
        for d in ["proc", "sys", "dev", "tmp"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        let spec = MountSpec {
            root: Some(root.path().to_path_buf()),
            // Asked for in another order: mounted in the stage's.
            filesystems: ["dev", "tmp", "sys", "proc"].map(String::from).to_vec(),
            volume: vec![],
            tmp_size: "32m".into(),
            unmasked: false,
        };
        assert_eq!(
            recorded(&spec, root.path()),
            [
                "mount(\"proc\", \"ROOT/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                "mount(\"tmpfs\", \"ROOT/tmp\", \"tmpfs\", MS_NOSUID|MS_NODEV, \"mode=1777,size=32m\")",
                "mount(\"tmpfs\", \"ROOT/dev\", \"tmpfs\", MS_NOSUID|MS_STRICTATIME, \"mode=755,size=65536k\")",
                "umask(000)",
                "mknod(\"ROOT/dev/null\", S_IFCHR|0666, makedev(0x1, 0x3))",
                "mknod(\"ROOT/dev/zero\", S_IFCHR|0666, makedev(0x1, 0x5))",
                "mknod(\"ROOT/dev/full\", S_IFCHR|0666, makedev(0x1, 0x7))",
                "mknod(\"ROOT/dev/random\", S_IFCHR|0666, makedev(0x1, 0x8))",
                "mknod(\"ROOT/dev/urandom\", S_IFCHR|0666, makedev(0x1, 0x9))",
                "mknod(\"ROOT/dev/tty\", S_IFCHR|0666, makedev(0x5, 0))",
                // The recorder makes no call: the old mask it "returns" is 0.
                "umask(000)",
                "symlink(\"/proc/self/fd\", \"ROOT/dev/fd\")",
                "symlink(\"/proc/self/fd/0\", \"ROOT/dev/stdin\")",
                "symlink(\"/proc/self/fd/1\", \"ROOT/dev/stdout\")",
                "symlink(\"/proc/self/fd/2\", \"ROOT/dev/stderr\")",
                "symlink(\"pts/ptmx\", \"ROOT/dev/ptmx\")",
                "mount(\"sysfs\", \"ROOT/sys\", \"sysfs\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
            ]
        );
    }

    #[test]
    fn the_ops_split_before_sysfs_and_the_lines_that_introduce_it() {
        let root = Path::new("/r");
        let plan = |fs: &[&'static str]| Plan {
            fs: fs.to_vec(),
            ..Plan::example(root)
        };
        let all = plan(&["proc", "dev", "sys"]).ops();
        let (first, rest) = split_before_sysfs(&all);
        assert_eq!(first.len() + rest.len(), all.len());
        // The rest starts with /sys's title, then its mount; nothing of /sys comes first.
        assert!(matches!(&rest[0], Op::Note(t) if t.starts_with("/sys")));
        assert!(matches!(&rest[1], Op::Mount { fstype: Some(t), .. } if t == "sysfs"));
        let of_sys = |op: &Op| match op {
            Op::Mount {
                fstype: Some(t), ..
            } => t == "sysfs",
            Op::Mask { path, .. } | Op::ReadOnly { path, .. } => path.starts_with("/sys/"),
            _ => false,
        };
        assert!(!first.iter().any(of_sys));
        assert!(first
            .iter()
            .any(|op| matches!(op, Op::Mount { fstype: Some(t), .. } if t == "proc")));
        // The warning that sysfs shows the host's interfaces goes with sysfs, and is not
        // given to a process that joins its own network first.
        let warned = Plan {
            host_net_ns: true,
            ..plan(&["proc", "sys"])
        };
        let is_warn = |op: &Op| matches!(op, Op::Warn(w) if w.contains("host's network"));
        let all = warned.ops();
        assert!(split_before_sysfs(&all).1.iter().any(is_warn));
        assert!(!warned.network_joined_before_sys().ops().iter().any(is_warn));
        // No sysfs: everything comes first.
        let none = plan(&["proc", "dev"]).ops();
        let (first, rest) = split_before_sysfs(&none);
        assert_eq!((first.len(), rest.len()), (none.len(), 0));
    }

    #[test]
    fn a_failed_mount_stops_the_stage_there() {
        let root = tempfile::tempdir().unwrap();
        for d in ["proc", "sys"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        let spec = MountSpec {
            root: Some(root.path().to_path_buf()),
            filesystems: ["proc", "sys"].map(String::from).to_vec(),
            tmp_size: "64m".into(),
            ..MountSpec::default()
        };
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        recorder.fail_next("mount", nix::errno::Errno::EPERM);
        assert!(apply(&sys, &plan(&spec).unwrap()).is_err());
        assert_eq!(
            recorder.names(),
            ["mount"],
            "nothing after the failed proc mount"
        );
    }
}

//! The container's own process, from its clone to its command: what an engine's config.json
//! asks, in runc's order. Until it is ready it reports failures to `create`; then it waits
//! on exec.fifo for `start`, cuts its privileges and execs.

use super::bundle::Bundle;
use crate::error::{Error, Result};
use crate::stages::mounts::target_fd;
use crate::sys::channel::{Channel, Message};
use crate::sys::mount::fd_path;
use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Mount options as mount(8) names them: (name, clears the flag, flag).
pub const MOUNT_FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("ro", false, libc::MS_RDONLY),
    ("rro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("nosuid", false, libc::MS_NOSUID),
    ("suid", true, libc::MS_NOSUID),
    ("nodev", false, libc::MS_NODEV),
    ("dev", true, libc::MS_NODEV),
    ("noexec", false, libc::MS_NOEXEC),
    ("exec", true, libc::MS_NOEXEC),
    ("relatime", false, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("noatime", false, libc::MS_NOATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
];

const PROPAGATION: &[(&str, libc::c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// A mount's options split into mount flags, propagation flags and the filesystem's data.
pub fn parse_options(options: &[String]) -> (libc::c_ulong, libc::c_ulong, Vec<String>) {
    let (mut flags, mut prop, mut data) = (0, 0, Vec::new());
    for o in options {
        if let Some((_, clear, f)) = MOUNT_FLAGS.iter().find(|(n, _, _)| n == o) {
            if *clear {
                flags &= !f;
            } else {
                flags |= f;
            }
        } else if let Some((_, p)) = PROPAGATION.iter().find(|(n, _)| n == o) {
            prop |= p;
        } else if o != "defaults" {
            data.push(o.clone());
        }
    }
    (flags, prop, data)
}

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// Everything before the command's turn; returns exec.fifo opened O_PATH (the host's
/// --root directory is out of sight after the pivot).
fn prepare(sys: &Sys, b: &Bundle, fifo: &Path, st: &serde_json::Value) -> Result<OwnedFd> {
    let spec = &b.spec;
    let n = sys.narrator;
    n.stage(
        "namespaces",
        "join the namespaces config.json names by path",
    );
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
    {
        let Some(path) = ns.path() else { continue };
        let f = std::fs::File::open(path).map_err(|e| {
            Error::io(
                format!("cannot open the namespace {}", path.display()),
                &e,
                "check that the engine's namespace file still exists",
            )
        })?;
        let (flag, link) = ns_flag(ns.typ());
        sys.setns(
            f.as_fd(),
            Some(link),
            &path.to_string_lossy(),
            flag,
            "join the namespace the engine made for this container",
        )?;
    }
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        sys.write_file_plain(
            Path::new("/proc/self/oom_score_adj"),
            &adj.to_string(),
            "process.oomScoreAdj: how readily the OOM killer picks this process",
        )?;
    }
    let fifo = open_path(fifo)?;
    if has_ns(spec, LinuxNamespaceType::Mount) {
        n.stage(
            "mounts",
            "the mounts config.json lists, into the root filesystem",
        );
        let prop = spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().clone())
            .map(|p| parse_options(&[p]).1)
            .filter(|p| *p != 0)
            .unwrap_or(libc::MS_PRIVATE | libc::MS_REC);
        sys.mount(
            &MountArgs {
                source: None,
                target: Path::new("/"),
                fstype: None,
                flags: prop,
                data: None,
            },
            "no mount made here may reach the host (linux.rootfsPropagation)",
            "mount --make-rprivate /",
        )?;
        sys.mount(
            &MountArgs {
                source: Some(&b.rootfs.to_string_lossy()),
                target: &b.rootfs,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
            "the root filesystem as a mount of its own: pivot_root needs one",
            &format!("mount --rbind {0} {0}", b.rootfs.display()),
        )?;
        for m in spec.mounts().iter().flatten() {
            mount_one(sys, &b.rootfs, m, has_ns(spec, LinuxNamespaceType::Cgroup))?;
        }
        devices(sys, spec, &b.rootfs)?;
        if let Some(h) = spec.hostname() {
            if has_ns(spec, LinuxNamespaceType::Uts) {
                sys.sethostname(h, "the hostname config.json gives")?;
            }
        }
        // createContainer hooks: in the container's mount namespace, its mounts made, before
        // pivot_root (their paths are the host's).
        super::hooks::hooks(sys, b, "createContainer", st, true)?;
        crate::stages::root::pivot_into(sys, &b.rootfs)?;
        let linux = spec.linux().clone().unwrap_or_default();
        for p in linux.masked_paths().iter().flatten() {
            mask(sys, p)?;
        }
        for p in linux.readonly_paths().iter().flatten() {
            read_only(sys, p, true)?;
        }
        if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            read_only(sys, "/", false)?;
        }
    } else if let Some(h) = spec.hostname() {
        if has_ns(spec, LinuxNamespaceType::Uts) {
            sys.sethostname(h, "the hostname config.json gives")?;
        }
    }
    for r in spec
        .process()
        .as_ref()
        .and_then(|p| p.rlimits().clone())
        .unwrap_or_default()
    {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let Some(res) = rlimit_number(&name) else {
            n.warn(&format!(
                "{name} is not a resource limit this glassbox knows: left as it is"
            ));
            continue;
        };
        sys.setrlimit(res, &name, r.soft(), r.hard(), "process.rlimits")?;
    }
    Ok(fifo)
}

fn open_path(p: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(p)
        .map(OwnedFd::from)
        .map_err(|e| {
            Error::io(
                format!("cannot open {}", p.display()),
                &e,
                "delete the container and create it again",
            )
        })
}

fn ns_flag(t: LinuxNamespaceType) -> (libc::c_int, &'static str) {
    match t {
        LinuxNamespaceType::Mount => (libc::CLONE_NEWNS, "mnt"),
        LinuxNamespaceType::Cgroup => (libc::CLONE_NEWCGROUP, "cgroup"),
        LinuxNamespaceType::Uts => (libc::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::Ipc => (libc::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::User => (libc::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Pid => (libc::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (libc::CLONE_NEWNET, "net"),
        LinuxNamespaceType::Time => (libc::CLONE_NEWTIME, "time"),
    }
}

/// The CLONE_NEW* flags of the namespaces config.json asks to be made (not joined).
pub fn clone_flags(spec: &Spec) -> libc::c_int {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .filter(|n| n.path().is_none())
        .fold(0, |f, n| f | ns_flag(n.typ()).0)
}

fn rlimit_number(name: &str) -> Option<u32> {
    let all = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    all.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// This process's cgroup in the v1 hierarchy mounted with `data` (its controllers, or
/// `none,name=NAME`), from /proc/self/cgroup.
fn own_cgroup(data: &str) -> Option<String> {
    let want: Vec<&str> = data.split(',').filter(|c| *c != "none").collect();
    std::fs::read_to_string("/proc/self/cgroup")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            let have: Vec<&str> = ctrls.split(',').collect();
            (!ctrls.is_empty() && want.iter().all(|w| have.contains(w)) && have.len() == want.len())
                .then(|| path.to_string())
        })
}

fn mount_one(sys: &Sys, root: &Path, m: &Mount, own_ns: bool) -> Result<()> {
    let options = m.options().clone().unwrap_or_default();
    let (flags, prop, data) = parse_options(&options);
    let typ = m.typ().clone().unwrap_or_else(|| "none".into());
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let dest = m.destination().to_string_lossy().into_owned();
    let bind = flags & libc::MS_BIND != 0 || typ == "bind";
    // A file bound onto a file: its mount point must be a file.
    if bind
        && source.as_ref().is_some_and(|s| Path::new(s).is_file())
        && target_fd(sys, root, &dest, false)?.is_none()
    {
        let parent = Path::new(&dest).parent().unwrap_or(Path::new("/"));
        let p = target_fd(sys, root, &parent.to_string_lossy(), true)?.ok_or_else(|| {
            Error::new(
                format!("cannot make {}", parent.display()),
                "check the root filesystem",
            )
        })?;
        let name = Path::new(&dest).file_name().unwrap_or_default();
        let at = p.at().join(name);
        std::fs::File::create(&at).map_err(|e| {
            Error::io(
                format!("cannot make the mount point {dest}"),
                &e,
                "check the root filesystem",
            )
        })?;
    }
    let Some(t) = target_fd(sys, root, &dest, true)? else {
        return Ok(());
    };
    let at = t.at();
    if typ == "cgroup" {
        return cgroups(sys, root, &at, &dest, flags, own_ns);
    }
    let (fstype, first) = match typ.as_str() {
        _ if bind => (None, libc::MS_BIND | (flags & libc::MS_REC)),
        // In its cgroup namespace the container sees its own cgroups as the root.
        "cgroup" | "cgroup2" => (Some("cgroup2"), flags & !libc::MS_BIND),
        other => (Some(other), flags & !libc::MS_BIND),
    };
    let data = data.join(",");
    sys.mount(
        &MountArgs {
            source: source.as_deref().or(Some(typ.as_str())),
            target: &at,
            fstype,
            flags: first,
            data: (!data.is_empty() && !bind).then_some(data.as_str()),
        },
        &format!("the mount config.json lists at {dest}"),
        &format!(
            "mount -t {typ} -o {} {} {}",
            options.join(","),
            source.as_deref().unwrap_or("none"),
            dest
        ),
    )?;
    // The descriptor found before is what lies under the new mount: look it up again.
    let now = target_fd(sys, root, &dest, false)?;
    let at = now.as_ref().map(|t| t.at()).unwrap_or(at);
    let extra = flags & !(libc::MS_BIND | libc::MS_REC);
    if bind && extra != 0 {
        sys.mount(
            &MountArgs {
                source: None,
                target: &at,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REMOUNT | extra,
                data: None,
            },
            "a bind mount takes its flags (ro, nosuid…) only when remounted",
            &format!("mount -o remount,bind,{} {dest}", options.join(",")),
        )?;
    }
    if prop != 0 {
        sys.mount(
            &MountArgs {
                source: None,
                target: &at,
                fstype: None,
                flags: prop,
                data: None,
            },
            "the propagation config.json asks for this mount",
            &format!(
                "mount --make-{} {dest}",
                options
                    .iter()
                    .find(|o| PROPAGATION.iter().any(|(n, _)| n == *o))
                    .map(String::as_str)
                    .unwrap_or("private")
            ),
        )?;
    }
    Ok(())
}

/// A `cgroup` mount as runc makes it: on a host with cgroup v1 hierarchies a tmpfs holding
/// each hierarchy (in the container's cgroup namespace each shows its own cgroup as the
/// root), else cgroup2.
fn cgroups(
    sys: &Sys,
    root: &Path,
    at: &Path,
    dest: &str,
    flags: libc::c_ulong,
    own_ns: bool,
) -> Result<()> {
    let host = crate::host::cgroups::CgroupHost::current();
    let flags = flags & !(libc::MS_BIND | libc::MS_REC);
    let mount =
        |source: &str, target: &Path, fstype: &str, flags, data: Option<&str>, why: &str| {
            sys.mount(
                &MountArgs {
                    source: Some(source),
                    target,
                    fstype: Some(fstype),
                    flags,
                    data,
                },
                why,
                &format!(
                    "mount -t {fstype} -o {} {source} {}",
                    data.unwrap_or("defaults"),
                    target.display()
                ),
            )
        };
    if host.v1_hierarchies.is_empty() {
        return mount(
            "cgroup",
            at,
            "cgroup2",
            flags,
            None,
            &format!("the container's cgroups at {dest} (cgroup v2)"),
        );
    }
    mount(
        "tmpfs",
        at,
        "tmpfs",
        flags & !libc::MS_RDONLY,
        Some("mode=755"),
        &format!("{dest}: a tmpfs to hold one mount per cgroup v1 hierarchy, as on the host"),
    )?;
    // The descriptor found before is the directory under the tmpfs: look it up again.
    let top = target_fd(sys, root, dest, false)?
        .ok_or_else(|| Error::new(format!("{dest} is gone"), "check the root filesystem"))?;
    let at = &top.at();
    for (ctrls, host_mount) in &host.v1_hierarchies {
        let name = host_mount
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let data = if ctrls.is_empty() {
            format!("none,name={name}")
        } else {
            ctrls.join(",")
        };
        let target = at.join(&name);
        sys.mkdir(
            &target,
            0o755,
            &format!("the mount point of the {name} hierarchy"),
        )?;
        if own_ns {
            mount("cgroup", &target, "cgroup", flags, Some(&data), &format!("the {name} hierarchy: in the container's cgroup namespace its own cgroup is the root"))?;
            continue;
        }
        // No cgroup namespace: the container's own cgroup directory, bound (as runc does),
        // so the container sees its limits, not the host's whole tree.
        let own = own_cgroup(&data).unwrap_or_default();
        let source = host_mount.join(own.trim_start_matches('/'));
        let src = source.to_string_lossy().into_owned();
        sys.mount(
            &MountArgs { source: Some(&src), target: &target, fstype: None, flags: libc::MS_BIND | libc::MS_REC, data: None },
            &format!("the {name} hierarchy: the container's own cgroup, bound here (no cgroup namespace)"),
            &format!("mount --rbind {src} {}", target.display()),
        )?;
        if flags != 0 {
            sys.mount(
                &MountArgs {
                    source: None,
                    target: &target,
                    fstype: None,
                    flags: libc::MS_BIND | libc::MS_REMOUNT | flags,
                    data: None,
                },
                "a bind mount takes its flags (ro, nosuid…) only when remounted",
                &format!("mount -o remount,bind,ro {}", target.display()),
            )?;
        }
    }
    if flags & libc::MS_RDONLY != 0 {
        sys.mount(
            &MountArgs {
                source: None,
                target: at,
                fstype: None,
                flags: libc::MS_REMOUNT | flags,
                data: Some("mode=755"),
            },
            &format!("{dest} read-only, now that its hierarchies are in"),
            &format!("mount -o remount,ro {dest}"),
        )?;
    }
    Ok(())
}

/// The device nodes config.json lists, and runc's defaults (/dev/null…) under a /dev of its own.
fn devices(sys: &Sys, spec: &Spec, root: &Path) -> Result<()> {
    let listed = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut want: Vec<(String, u32, u32, u32)> = listed
        .iter()
        .filter(|d| {
            matches!(
                d.typ(),
                oci_spec::runtime::LinuxDeviceType::C | oci_spec::runtime::LinuxDeviceType::U
            )
        })
        .map(|d| {
            (
                d.path().to_string_lossy().into_owned(),
                d.major() as u32,
                d.minor() as u32,
                d.file_mode().unwrap_or(0o666),
            )
        })
        .collect();
    let dev_is_own = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev"));
    if dev_is_own {
        for (name, major, minor) in crate::stages::mounts::DEVICES {
            let path = format!("/dev/{name}");
            if !want.iter().any(|w| w.0 == path) {
                want.push((path, *major, *minor, 0o666));
            }
        }
    }
    for (path, major, minor, mode) in want {
        let rel = Path::new(&path);
        let parent = rel.parent().unwrap_or(Path::new("/"));
        let Some(dir) = target_fd(sys, root, &parent.to_string_lossy(), true)? else {
            continue;
        };
        let at = dir.at().join(rel.file_name().unwrap_or_default());
        if crate::sys::quiet::lstat(&at).is_some() {
            continue;
        }
        sys.mknod_char(
            &at,
            mode & 0o7777,
            major,
            minor,
            &format!("the device {path} config.json lists"),
        )?;
    }
    if dev_is_own {
        for (target, link) in [
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
            ("pts/ptmx", "ptmx"),
        ] {
            if let Some(dev) = target_fd(sys, root, "/dev", false)? {
                let at = dev.at().join(link);
                if crate::sys::quiet::lstat(&at).is_none() {
                    sys.symlink(
                        target,
                        &at,
                        "a /dev link every program expects (runc makes it too)",
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn mask(sys: &Sys, p: &str) -> Result<()> {
    let path = Path::new(p);
    let Some(meta) = crate::sys::quiet::lstat(path) else {
        return Ok(());
    };
    let dir = meta.st_mode & libc::S_IFMT == libc::S_IFDIR;
    sys.mount(
        &MountArgs {
            source: Some(if dir { "tmpfs" } else { "/dev/null" }),
            target: path,
            fstype: dir.then_some("tmpfs"),
            flags: if dir { libc::MS_RDONLY } else { libc::MS_BIND },
            data: None,
        },
        &format!("mask {p} (linux.maskedPaths): it reads empty"),
        &format!("mount --bind /dev/null {p}"),
    )
}

fn read_only(sys: &Sys, p: &str, bind_first: bool) -> Result<()> {
    let path = Path::new(p);
    if crate::sys::quiet::lstat(path).is_none() {
        return Ok(());
    }
    if bind_first {
        sys.mount(
            &MountArgs {
                source: Some(p),
                target: path,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
            &format!("{p}: a mount of its own, so it can be made read-only"),
            &format!("mount --rbind {p} {p}"),
        )?;
    }
    let kept = crate::sys::quiet::statvfs_flags(path).unwrap_or(0);
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    for (st, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
    ] {
        if kept & st != 0 {
            flags |= ms;
        }
    }
    sys.mount(
        &MountArgs {
            source: None,
            target: path,
            fstype: None,
            flags,
            data: None,
        },
        &format!("{p} read-only (linux.readonlyPaths, root.readonly)"),
        &format!("mount -o remount,bind,ro {p}"),
    )
}

fn caps_of(set: &Option<oci_spec::runtime::Capabilities>) -> u64 {
    set.iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().and_then(crate::sys::security::cap_number))
        .fold(0u64, |a, n| a | (1u64 << n))
}

/// The process's user, capabilities, no_new_privs and seccomp, in runc's order; then exec.
/// `p` is config.json's process (or `exec`'s process.json); descriptors 3 to 3+`preserve`
/// (the engine's --preserve-fds) stay open across the exec.
pub fn become_command(
    sys: &Sys,
    spec: &Spec,
    p: &oci_spec::runtime::Process,
    preserve: u32,
) -> Result<std::convert::Infallible> {
    let caps = p.capabilities().clone().unwrap_or_default();
    let bounding = caps_of(caps.bounding());
    let nnp = p.no_new_privileges() == Some(true);
    let filters = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => super::seccomp::compile(s)?,
        None => Vec::new(),
    };
    let install = |sys: &Sys| -> Result<()> {
        for f in &filters {
            sys.seccomp_filter(f, "the seccomp profile config.json gives (linux.seccomp)")?;
        }
        Ok(())
    };
    sys.narrator.stage(
        "security",
        "the user, capabilities and filters config.json gives",
    );
    for cap in 0..=crate::stages::security::last_cap().min(63) {
        if bounding & (1u64 << cap) == 0 {
            sys.capbset_drop(
                cap,
                &format!(
                    "{} is not in process.capabilities.bounding",
                    crate::sys::security::cap_name(cap)
                ),
            )?;
        }
    }
    if !nnp {
        // Without no_new_privs a filter needs CAP_SYS_ADMIN: install it while it is held.
        install(sys)?;
    }
    let u = p.user();
    sys.set_keepcaps(
        true,
        "keep the permitted capabilities across the change of user",
    )?;
    let groups = u.additional_gids().clone().unwrap_or_default();
    sys.setgroups(&groups, "process.user.additionalGids")?;
    sys.setresgid(u.gid(), "process.user.gid")?;
    sys.setresuid(u.uid(), "process.user.uid")?;
    sys.capset(
        caps_of(caps.effective()),
        caps_of(caps.permitted()),
        caps_of(caps.inheritable()),
        "the capability sets of process.capabilities",
    )?;
    sys.clear_ambient_caps("no ambient capabilities")?;
    if nnp {
        sys.set_no_new_privs("process.noNewPrivileges")?;
        install(sys)?;
    }
    sys.chdir_no_magiclinks(p.cwd(), "process.cwd")?;
    sys.cloexec_from(
        3 + preserve,
        "only stdio (and the descriptors --preserve-fds names) cross into the container's command",
    )?;
    let args = p.args().clone().unwrap_or_default();
    let mut env = p.env().clone().unwrap_or_default();
    // Socket activation (kept in the environment only when meant for this runtime): the
    // command is told how many descriptors it got, and that they are its own.
    if let Ok(n) = std::env::var("LISTEN_FDS") {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push(format!("LISTEN_PID={}", std::process::id()));
    }
    sys.exec_env(&args, Some(&env), "the container's command (process.args)")
}

/// The child's whole life: prepare, say ready, wait for `start`, become the command.
pub fn container(
    sys: &Sys,
    b: &Bundle,
    id: &str,
    fifo: &Path,
    gate: Option<&Channel>,
    console: Option<std::os::fd::RawFd>,
    preserve: u32,
) -> Error {
    // Its pid as the host sees it, for the hooks' state (/proc is still the host's here).
    let pid = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_string_lossy().parse().ok())
        .unwrap_or(0);
    let st = super::hooks::state_json(id, "created", pid, b);
    let fifo = match prepare(sys, b, fifo, &st) {
        Ok(f) => f,
        Err(e) => return e,
    };
    // process.terminal: a terminal from the container's devpts, its master end sent over
    // the console socket (runc's way; the engine relays it).
    if let Some(socket) = console {
        if let Err(e) = crate::run::child::terminal_of_its_own(sys, socket) {
            return e;
        }
    }
    if let Some(g) = gate {
        if let Err(e) = sys.send_message(
            g,
            &Message::Ready,
            "tell create: the container waits for start",
        ) {
            return e;
        }
    }
    sys.narrator
        .note("wait on exec.fifo: `start` opens its other end");
    let path = fd_path(&fifo);
    let opened = std::fs::OpenOptions::new().write(true).open(&path);
    match opened {
        Ok(mut f) => {
            let _ = std::io::Write::write_all(&mut f, b"0");
            drop(f);
        }
        Err(e) => {
            return Error::io(
                "cannot open exec.fifo",
                &e,
                "is /proc mounted in the container?",
            );
        }
    }
    drop(fifo);
    // startContainer hooks: in the container, after start, before its command.
    if let Err(e) = super::hooks::hooks(sys, b, "startContainer", &st, true) {
        return e;
    }
    let p = b.spec.process().as_ref().expect("checked when loaded");
    match become_command(sys, &b.spec, p, preserve) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

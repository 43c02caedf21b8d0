//! A settled `run` plan in the runtime spec's words. Every value mirrors what glassbox's own
//! stages do with the plan (the mount stage's options, masked and read-only paths and
//! devices, the security stage's capabilities and seccomp denylist, the cgroup limits), so
//! runc running the bundle makes the same container; nothing here touches the host.

use super::annotation as key;
use crate::error::{Error, Result};
use crate::run::config::Stage;
use crate::run::Plan;
use crate::stages::cgroups::limits::{Limits, Swap};
use crate::stages::ops::Op;
use crate::stages::{mounts, security};
use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscallBuilder, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::HashMap;
use std::path::Path;

/// The runtime spec version written (what the oci-spec crate implements).
pub const OCI_VERSION: &str = oci_spec::runtime::VERSION;

/// The spec of the container `plan` settles, whose bundle (container directory) is `bundle`.
pub fn build(plan: &Plan, bundle: &Path) -> Result<Spec> {
    let (root_path, mut annotations) = root(plan, bundle);
    annotations.extend(glassbox_only(plan));
    let root = RootBuilder::default()
        .path(root_path)
        .readonly(plan.read_only)
        .build()
        .map_err(bug)?;
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(root)
        .process(process(plan)?)
        .mounts(mount_list(plan))
        .linux(linux(plan)?)
        .annotations(annotations)
        .build()
        .map_err(bug)?;
    // Without a UTS namespace of its own the container keeps the host's name.
    spec.set_hostname(plan.has(Stage::Namespaces).then(|| plan.hostname.clone()));
    Ok(spec)
}

/// The builder refused a value: glassbox's fault, not the user's.
fn bug(e: oci_spec::OciSpecError) -> Error {
    Error::new(
        format!("cannot build the container's OCI runtime spec: {e}"),
        "this is a bug in glassbox: please report it with the run command you used",
    )
}

/// root.path (relative to the bundle) and how that root is made.
fn root(plan: &Plan, bundle: &Path) -> (String, HashMap<String, String>) {
    let mut a = HashMap::new();
    if !plan.has(Stage::Rootfs) {
        a.insert(key::ROOTFS.into(), "host".into());
        return ("/".into(), a);
    }
    if !plan.overlay {
        a.insert(key::ROOTFS.into(), "copy".into());
        return ("rootfs".into(), a);
    }
    let mut fs = crate::store::containers::ContainerFs::at(bundle);
    if let Some(m) = &plan.userns {
        fs.lower = Some(crate::run::userns::copy_paths(&plan.image, m, bundle));
    }
    let options = crate::run::rootfs::overlay_options(&fs, plan);
    for part in options.split(',') {
        let field = match part.split_once('=') {
            Some(("lowerdir", v)) => Some((key::OVERLAY_LOWERDIR, v)),
            Some(("upperdir", v)) => Some((key::OVERLAY_UPPERDIR, v)),
            Some(("workdir", v)) => Some((key::OVERLAY_WORKDIR, v)),
            _ => None,
        };
        if let Some((k, v)) = field {
            a.insert(k.into(), v.into());
        }
    }
    a.insert(key::OVERLAY_OPTIONS.into(), options);
    a.insert(key::ROOTFS.into(), "overlay".into());
    ("merged".into(), a)
}

fn glassbox_only(plan: &Plan) -> HashMap<String, String> {
    let network = plan.network.name().to_string();
    let publish: Vec<String> = plan
        .publish
        .iter()
        .map(|p| {
            let ip = p.ip.map(|ip| format!("{ip}:")).unwrap_or_default();
            match p.host {
                0 if ip.is_empty() => format!("{}/{}", p.ctr, p.proto),
                0 => format!("{ip}:{}/{}", p.ctr, p.proto),
                host => format!("{ip}{host}:{}/{}", p.ctr, p.proto),
            }
        })
        .collect();
    let stages: Vec<&str> = plan.stages.iter().map(|s| s.name()).collect();
    let stdin = if plan.interactive { "inherit" } else { "null" };
    let mut a: HashMap<String, String> = [
        (key::ID, plan.id.clone()),
        (key::NAME, plan.name.clone()),
        (key::IMAGE, plan.image.source.clone()),
        (key::STAGES, stages.join(",")),
        (key::NETWORK, network),
        (key::STDIN, stdin.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if !publish.is_empty() {
        a.insert(key::PUBLISH.into(), publish.join(","));
    }
    let json = |v: serde_json::Value| v.to_string();
    a.insert(
        key::IMAGE_ROOTFS.into(),
        plan.image.rootfs.to_string_lossy().into_owned(),
    );
    a.insert(
        key::IMAGE_LAYERS.into(),
        json(serde_json::json!(plan.image.layers)),
    );
    a.insert(
        key::IMAGE_CONFIG.into(),
        json(serde_json::to_value(&plan.image.config).expect("serialisable")),
    );
    if let Some(r) = &plan.restart {
        a.insert(key::RESTART.into(), r.clone());
    }
    if plan.init {
        a.insert(key::INIT.into(), "true".into());
    }
    if let Some(s) = &plan.stop_signal {
        a.insert(key::STOP_SIGNAL.into(), s.clone());
    }
    if let Some(h) = &plan.health {
        a.insert(
            key::HEALTH.into(),
            serde_json::to_string(h).expect("serialisable"),
        );
    }
    if let Some(t) = plan.stop_timeout {
        a.insert(key::STOP_TIMEOUT.into(), t.to_string());
    }
    if plan.remove_after {
        a.insert(key::REMOVE.into(), "true".into());
    }
    if !plan.has(Stage::Namespaces) {
        a.insert(key::HOSTNAME.into(), plan.hostname.clone());
    }
    if let Some(m) = &plan.userns {
        a.insert(key::USERNS_SOURCE.into(), m.source.clone());
    }
    let mut list = |k: &str, v: serde_json::Value, empty: bool| {
        if !empty {
            a.insert(k.into(), json(v));
        }
    };
    list(
        key::EXTRA_HOSTS,
        serde_json::json!(plan.extra_hosts),
        plan.extra_hosts.is_empty(),
    );
    list(key::DNS, serde_json::json!(plan.dns), plan.dns.is_empty());
    list(
        key::ALIASES,
        serde_json::json!(plan.aliases),
        plan.aliases.is_empty(),
    );
    list(
        key::VOLUMES,
        serde_json::json!(plan.volumes),
        plan.volumes.is_empty(),
    );
    a
}

fn process(plan: &Plan) -> Result<oci_spec::runtime::Process> {
    let (uid, gid) = plan.user.unwrap_or((0, 0));
    let mut user = UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .build()
        .map_err(bug)?;
    // A user of its own (-u, or the image's): no supplementary groups, as glassbox's setgroups.
    if plan.user.is_some() {
        user.set_additional_gids(Some(Vec::new()));
    }
    let secure = plan.has(Stage::Security);
    let set = capabilities(kept_caps(plan));
    // A non-zero uid loses its permitted and effective sets at setuid, as in glassbox (and
    // docker); the bounding set still limits what a setuid binary could get back.
    let held = if uid == 0 {
        set.clone()
    } else {
        Capabilities::new()
    };
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(set)
        .permitted(held.clone())
        .effective(held)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(bug)?;
    let mut p = ProcessBuilder::default()
        .terminal(plan.tty)
        .user(user)
        .args(plan.command.clone())
        .env(plan.env.clone())
        .cwd(&plan.workdir)
        .capabilities(caps)
        .no_new_privileges(secure && plan.security.no_new_privs)
        .build()
        .map_err(bug)?;
    // glassbox sets no resource limits (and hard limits cannot be raised here): none.
    p.set_rlimits(None);
    Ok(p)
}

/// The capabilities the command keeps: the security stage's, or (without it) every one
/// glassbox had; either way within the bounding set.
fn kept_caps(plan: &Plan) -> u64 {
    let kept = if plan.has(Stage::Security) {
        plan.security.caps
    } else {
        (0..=security::last_cap().min(63)).fold(0, |a, n| a | (1u64 << n))
    };
    kept & bounding_set()
}

/// The capabilities any process here may ever hold (CapBnd; a sandboxed host may lack
/// some): glassbox cannot pass on more, and runc refuses to start when asked for more.
pub(crate) fn bounding_set() -> u64 {
    crate::host::own_caps("CapBnd").unwrap_or(u64::MAX)
}

/// Capability bits as the spec names them (numbers the crate does not know are left out).
fn capabilities(bits: u64) -> Capabilities {
    (0..64u32)
        .filter(|n| bits & (1u64 << n) != 0)
        .filter_map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(
                crate::sys::security::cap_name(n),
            ))
            .ok()
        })
        .collect()
}

/// The filesystems glassbox's mount stage would mount, in its order, then the volumes, then
/// `--tmpfs` (mounted on the root before the pivot).
fn mount_list(plan: &Plan) -> Vec<Mount> {
    let mut list = Vec::new();
    if plan.has(Stage::Mounts) {
        for (name, _) in mounts::FILESYSTEMS {
            if plan.mounts.filesystems.iter().any(|f| f == name) {
                list.push(filesystem(name, &plan.mounts.tmp_size));
            }
        }
        // The container's own cgroups, read-only, in its cgroup namespace (stages/cgroupns.rs).
        if plan.has(Stage::Cgroup) && plan.mounts.filesystems.iter().any(|f| f == "sys") {
            let o = ["ro", "nosuid", "nodev", "noexec", "relatime"].map(String::from);
            list.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &o));
        }
        // Every volume and bind mount, those a dry run has not made yet too.
        for v in &plan.volumes {
            let mut options = vec!["rbind".to_string()];
            if v.read_only {
                // Recursive read-only (mount_setattr with AT_RECURSIVE), as glassbox does.
                options.push("rro".into());
            }
            list.push(mount(
                &v.target.to_string_lossy(),
                "bind",
                &v.source.to_string_lossy(),
                &options,
            ));
        }
    }
    if plan.has(Stage::Rootfs) {
        for (path, size) in &plan.tmpfs {
            let mut options = vec!["nosuid".to_string(), "nodev".into(), "mode=1777".into()];
            options.extend(size.as_ref().map(|s| format!("size={s}")));
            list.push(mount(&path.to_string_lossy(), "tmpfs", "tmpfs", &options));
        }
    }
    list
}

/// One of the mount stage's filesystems, with the flags and data the stage mounts it with.
pub(super) fn filesystem(name: &str, tmp_size: &str) -> Mount {
    let Some(Op::Mount {
        source,
        target,
        fstype,
        flags,
        data,
        ..
    }) = mounts::mount_of(name, tmp_size)
    else {
        unreachable!("the mount stage mounts each of its filesystems")
    };
    // The flags by the names mount(8) and the spec give them.
    let names = [
        (libc::MS_RDONLY, "ro"),
        (libc::MS_NOSUID, "nosuid"),
        (libc::MS_NODEV, "nodev"),
        (libc::MS_NOEXEC, "noexec"),
        (libc::MS_STRICTATIME, "strictatime"),
    ];
    let mut options: Vec<String> = names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    options.extend(data.iter().flat_map(|d| d.split(',')).map(String::from));
    mount(
        &target.planned().to_string_lossy(),
        &fstype.unwrap_or_default(),
        &source.unwrap_or_default(),
        &options,
    )
}

fn mount(destination: &str, typ: &str, source: &str, options: &[String]) -> Mount {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.to_vec())
        .build()
        .expect("every field of a mount is set")
}

fn linux(plan: &Plan) -> Result<oci_spec::runtime::Linux> {
    let flags = plan.clone_flags();
    let namespaces = [
        (libc::CLONE_NEWPID, LinuxNamespaceType::Pid),
        (libc::CLONE_NEWNET, LinuxNamespaceType::Network),
        (libc::CLONE_NEWIPC, LinuxNamespaceType::Ipc),
        (libc::CLONE_NEWUTS, LinuxNamespaceType::Uts),
        (libc::CLONE_NEWNS, LinuxNamespaceType::Mount),
        (libc::CLONE_NEWUSER, LinuxNamespaceType::User),
    ]
    .into_iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, typ)| typ)
    // The child unshares its cgroup namespace once it is in its cgroups (stages/cgroupns.rs).
    .chain(
        plan.has(Stage::Cgroup)
            .then_some(LinuxNamespaceType::Cgroup),
    )
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
    .collect::<std::result::Result<Vec<_>, _>>()
    .map_err(bug)?;
    let mounted =
        |fs: &str| plan.has(Stage::Mounts) && plan.mounts.filesystems.iter().any(|f| f == fs);
    // Masked and read-only paths under the filesystems glassbox mounts, unless --unmasked.
    let guarded = |paths: &[&str]| -> Vec<String> {
        paths
            .iter()
            .filter(|_| !plan.mounts.unmasked)
            .filter(|p| {
                (p.starts_with("/proc/") && mounted("proc"))
                    || (p.starts_with("/sys/") && mounted("sys"))
            })
            .map(|p| p.to_string())
            .collect()
    };
    let mut b = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(guarded(mounts::MASKED))
        .readonly_paths(guarded(mounts::READONLY));
    if flags & libc::CLONE_NEWNS != 0 {
        // glassbox makes every mount private before it mounts anything.
        b = b.rootfs_propagation("rprivate");
    }
    if mounted("dev") {
        let devices = mounts::DEVICES
            .iter()
            .map(|(name, major, minor)| {
                LinuxDeviceBuilder::default()
                    .path(format!("/dev/{name}"))
                    .typ(LinuxDeviceType::C)
                    .major(*major as i64)
                    .minor(*minor as i64)
                    .file_mode(0o666u32)
                    .uid(0u32)
                    .gid(0u32)
                    .build()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bug)?;
        b = b.devices(devices);
    }
    if let Some(m) = &plan.userns {
        let map = |r: crate::store::idmap::Range| {
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(r.start)
                .size(r.count)
                .build()
                .map(|m| vec![m])
        };
        b = b
            .uid_mappings(map(m.uids).map_err(bug)?)
            .gid_mappings(map(m.gids).map_err(bug)?);
    }
    if let Some(ids) = &plan.rootless {
        // The mapping glassbox made: 0 is the user, 1… the user's range, if they have one.
        let map = |own: u32, range: Option<crate::store::idmap::Range>| {
            let mut entries = vec![(0, own, 1)];
            entries.extend(range.map(|r| (1, r.start, r.count)));
            entries
                .into_iter()
                .map(|(ctr, host, size)| {
                    LinuxIdMappingBuilder::default()
                        .container_id(ctr as u32)
                        .host_id(host)
                        .size(size)
                        .build()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
        };
        b = b
            .uid_mappings(map(ids.uid, ids.ranges.map(|r| r.0)).map_err(bug)?)
            .gid_mappings(map(ids.gid, ids.ranges.map(|r| r.1)).map_err(bug)?);
    }
    // Every run has a cgroup of its own (for its devices rule and its cgroup namespace).
    let limits = plan.limits.as_ref().filter(|_| plan.has(Stage::Cgroup));
    if plan.has(Stage::Cgroup) {
        b = b.cgroups_path(format!("/glassbox/{}", plan.cgroup_name()));
    }
    if plan.has(Stage::Security) && plan.security.seccomp {
        b = b.seccomp(seccomp(kept_caps(plan))?);
    }
    // glassbox confines devices in the container's cgroup: none without the cgroup stage.
    let privileged = !(plan.confine_devices && plan.has(Stage::Cgroup));
    b.resources(resources(limits, privileged)?)
        .build()
        .map_err(bug)
}

/// The devices a container may open: deny every device, then the devices rule's own
/// allowlist (runc's default, which glassbox writes to devices.allow or compiles into its
/// eBPF program: stages/cgroups/devices.rs). `--privileged` allows every device.
fn device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>> {
    use crate::stages::cgroups::devices::{Kind, DEFAULT};
    let all = LinuxDeviceCgroupBuilder::default()
        .allow(privileged)
        .access("rwm")
        .build()
        .map_err(bug)?;
    let mut rules = vec![all];
    if privileged {
        return Ok(rules);
    }
    for r in DEFAULT {
        let typ = match r.kind {
            Kind::Block => LinuxDeviceType::B,
            Kind::Char => LinuxDeviceType::C,
        };
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(r.access);
        if let Some(major) = r.major {
            b = b.major(major as i64);
        }
        if let Some(minor) = r.minor {
            b = b.minor(minor as i64);
        }
        rules.push(b.build().map_err(bug)?);
    }
    Ok(rules)
}

/// The device rules, and the limits as cgroup resources (memory.swap is memory and swap
/// together, as --memory-swap).
fn resources(limits: Option<&Limits>, privileged: bool) -> Result<LinuxResources> {
    let mut b = LinuxResourcesBuilder::default().devices(device_rules(privileged)?);
    let Some(l) = limits else {
        return b.build().map_err(bug);
    };
    if l.memory.is_some() || l.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(bytes) = l.memory {
            m = m.limit(bytes as i64);
        }
        match l.memory_swap {
            Some(Swap::Unlimited) => m = m.swap(-1i64),
            Some(Swap::Total(t)) => m = m.swap(t as i64),
            None => {}
        }
        b = b.memory(m.build().map_err(bug)?);
    }
    if l.cpus.is_some() || l.cpu_shares.is_some() {
        let mut c = LinuxCpuBuilder::default();
        if let Some(cpus) = l.cpus {
            c = c.quota(cpus.quota_us as i64).period(cpus.period_us);
        }
        if let Some(s) = l.cpu_shares {
            c = c.shares(s);
        }
        b = b.cpu(c.build().map_err(bug)?);
    }
    if let Some(pids) = l.pids {
        // -1: no limit ("max").
        let limit = pids.map_or(-1, |n| n as i64);
        b = b.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(bug)?,
        );
    }
    b.build().map_err(bug)
}

/// The security stage's filters as OCI rules, for a container that keeps `caps`: every call
/// allowed but the denylist, which answers EPERM (a capability it keeps opens some again);
/// without CAP_SYS_ADMIN also clone with a namespace flag (EPERM) and clone3 (ENOSYS: its
/// flags are out of a filter's reach, and the C library falls back to clone).
fn seccomp(caps: u64) -> Result<LinuxSeccomp> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64],
        "aarch64" => vec![Arch::ScmpArchAarch64],
        _ => vec![Arch::ScmpArchNative],
    };
    let rule = |names: &[&str], errno: i32, args: Option<Vec<LinuxSeccompArg>>| {
        let mut b = LinuxSyscallBuilder::default()
            .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno as u32);
        if let Some(args) = args {
            b = b.args(args);
        }
        b.build().map_err(bug)
    };
    let mut rules = vec![rule(&security::denied_syscalls(caps), libc::EPERM, None)?];
    let sys_admin =
        crate::sys::security::cap_number("CAP_SYS_ADMIN").is_some_and(|n| caps & (1u64 << n) != 0);
    if !sys_admin {
        // One rule a flag, as the filter has them: (flags & FLAG) == FLAG; any one matches.
        for (flag, _) in security::CLONE_NAMESPACE_FLAGS {
            let masked = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(*flag as u64)
                .value_two(*flag as u64)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .map_err(bug)?;
            rules.push(rule(&["clone"], libc::EPERM, Some(vec![masked]))?);
        }
        rules.push(rule(&["clone3"], libc::ENOSYS, None)?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(arch)
        .syscalls(rules)
        .build()
        .map_err(bug)
}

/// `--dry-run`: print the config.json the plan makes on stdout (where a container's own
/// output would go; nothing runs), so it can be saved and read, or handed to runc.
pub fn show(sys: &crate::sys::Sys, spec: &Spec, dir: &Path) -> Result<()> {
    sys.narrator.note(&format!(
        "dry run: the OCI runtime spec of this container ({} in {}, as docker writes it for runc) is on stdout",
        super::CONFIG,
        dir.display()
    ));
    print!("{}", super::file::to_json(spec));
    Ok(())
}

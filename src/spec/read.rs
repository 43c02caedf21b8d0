//! A container's config.json said as a `run` plan again: the inverse of [`super::build`].
//! `run` writes the spec and then executes the plan read back from it, and `start` and
//! `exec` read only the spec, so config.json is what runs. What the spec cannot say (the
//! stages, the network glassbox wires, the image a root is made from) comes from the
//! `org.glassbox.*` annotations.

use super::annotation as key;
use crate::error::{Error, Result};
use crate::images::resolve::Image;
use crate::run::config::Stage;
use crate::run::Plan;
use crate::stages::cgroups::limits::{Cpus, Limits, Swap};
use crate::stages::mounts::MountSpec;
use crate::stages::network::NetworkMode;
use crate::stages::security::SecurityPlan;
use crate::store::idmap::{Mapping, Range};
use oci_spec::runtime::{LinuxResources, Mount, Spec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The plan of the container whose spec is `spec`, in the bundle `bundle`. `step` is not
/// the container's but the caller's (a run's pauses): it is off here.
pub fn plan(spec: &Spec, bundle: &Path) -> Result<Plan> {
    let no = HashMap::new();
    let a = spec.annotations().as_ref().unwrap_or(&no);
    let get = |k: &str| a.get(k).map(String::as_str);
    let bad = |what: &str| {
        Error::new(
            format!(
                "{} cannot be run by glassbox: {what}",
                bundle.join(super::CONFIG).display()
            ),
            "remove the container (glassbox rm) and run it again",
        )
    };
    let id = get(key::ID).ok_or_else(|| bad("it has no org.glassbox.id annotation"))?;
    let stages = match get(key::STAGES) {
        Some("") => Vec::new(),
        Some(s) => s.split(',').map(Stage::parse).collect::<Result<_>>()?,
        None => Stage::ALL.to_vec(),
    };
    let has = |s: Stage| stages.contains(&s);
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("it has no process"))?;
    let linux = spec.linux().clone().unwrap_or_default();
    let mounts = spec.mounts().clone().unwrap_or_default();
    let user = process.user();
    // additionalGids (even empty) is how build says "a user of its own".
    let user = (user.additional_gids().is_some() || user.uid() != 0 || user.gid() != 0)
        .then(|| (user.uid(), user.gid()));
    let image = Image {
        rootfs: get(key::IMAGE_ROOTFS)
            .map(PathBuf::from)
            .unwrap_or_default(),
        layers: json(get(key::IMAGE_LAYERS)),
        config: json(get(key::IMAGE_CONFIG)),
        source: get(key::IMAGE).unwrap_or_default().to_string(),
    };
    let network = match get(key::NETWORK).unwrap_or("none") {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        // The other container's PID 1 of today, found again.
        name if name.starts_with("container:") => NetworkMode::parse(name)?,
        name => NetworkMode::Bridge(name.to_string()),
    };
    let publish = get(key::PUBLISH)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split(',')
                .map(crate::stages::network::ports::parse)
                .collect::<Result<Vec<_>>>()
                .map(|all| all.concat())
        })
        .transpose()?
        .unwrap_or_default();
    // Without root the mappings are the ones every rootless container gets (made again
    // from today's /etc/subuid when it starts), not a --userns private.
    let userns = match (linux.uid_mappings(), linux.gid_mappings()) {
        _ if crate::host::rootless() => None,
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Some(Mapping {
            uids: Range {
                start: u[0].host_id(),
                count: u[0].size(),
            },
            gids: Range {
                start: g[0].host_id(),
                count: g[0].size(),
            },
            source: get(key::USERNS_SOURCE)
                .unwrap_or("as config.json gives them")
                .to_string(),
        }),
        _ => None,
    };
    let (filesystems, volume, tmpfs) = split_mounts(&mounts, has(Stage::Rootfs));
    let masked = linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
        || linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|p| !p.is_empty());
    let unmasked = has(Stage::Mounts) && !filesystems.is_empty() && !masked;
    let resources = linux.resources().clone().unwrap_or_default();
    let confine_devices = has(Stage::Cgroup)
        && resources
            .devices()
            .as_ref()
            .and_then(|d| d.first())
            .is_some_and(|d| !d.allow());
    let hostname = spec
        .hostname()
        .clone()
        .or_else(|| get(key::HOSTNAME).map(String::from))
        .unwrap_or_else(|| id.to_string());
    // Without root the ids are the user's of today; a delegated cgroup subtree if the spec
    // has a cgroup (as run settles it).
    let rootless = match crate::host::rootless() {
        false => None,
        true => {
            let mut ids = crate::run::rootless::load()?;
            let controllers = has(Stage::Cgroup).then(|| {
                limits(&resources)
                    .map(|l| l.controllers())
                    .unwrap_or_default()
            });
            ids.cgroups = controllers.and_then(|c| {
                crate::run::rootless::delegated(&crate::host::cgroups::CgroupHost::current(), &c)
            });
            Some(ids)
        }
    };
    Ok(Plan {
        id: id.to_string(),
        name: get(key::NAME)
            .map(String::from)
            .unwrap_or_else(|| crate::store::containers::generated_name(id)),
        hostname,
        mounts: MountSpec {
            root: Some(image.rootfs.clone()),
            filesystems,
            volume,
            tmp_size: "64m".into(),
            unmasked,
        },
        command: process.args().clone().unwrap_or_default(),
        env: process.env().clone().unwrap_or_default(),
        workdir: process.cwd().to_string_lossy().into_owned(),
        user,
        network,
        publish,
        limits: has(Stage::Cgroup).then(|| limits(&resources)).flatten(),
        confine_devices,
        security: security(spec, has(Stage::Security))?,
        read_only: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        overlay: get(key::ROOTFS) == Some("overlay"),
        tmpfs,
        interactive: get(key::STDIN) == Some("inherit"),
        tty: process.terminal().unwrap_or(false),
        step: false,
        remove_after: get(key::REMOVE) == Some("true"),
        restart: get(key::RESTART).map(String::from),
        init: get(key::INIT) == Some("true"),
        stop_signal: get(key::STOP_SIGNAL).map(String::from),
        stop_timeout: get(key::STOP_TIMEOUT).and_then(|t| t.parse().ok()),
        health: get(key::HEALTH).and_then(|h| serde_json::from_str(h).ok()),
        extra_hosts: json(get(key::EXTRA_HOSTS)),
        dns: json(get(key::DNS)),
        aliases: json(get(key::ALIASES)),
        volumes: json(get(key::VOLUMES)),
        rootless,
        userns,
        image,
        stages,
    })
}

/// An annotation's JSON value; empty when absent (a bundle from an older glassbox).
fn json<T: serde::de::DeserializeOwned + Default>(v: Option<&str>) -> T {
    v.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

type Tmpfs = Vec<(PathBuf, Option<String>)>;

/// The mount stage's filesystems (each exactly as build writes it), the volumes
/// (`HOST:CTR[:ro]`) and the --tmpfs mounts.
fn split_mounts(mounts: &[Mount], rootfs: bool) -> (Vec<String>, Vec<String>, Tmpfs) {
    let (mut filesystems, mut volume, mut tmpfs) = (Vec::new(), Vec::new(), Vec::new());
    for m in mounts {
        let own = crate::stages::mounts::FILESYSTEMS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| *name != "tmp")
            .find(|name| super::build::filesystem(name, "64m") == *m);
        let options = m.options().clone().unwrap_or_default();
        let dest = m.destination().clone();
        match (own, m.typ().as_deref()) {
            (Some(name), _) => filesystems.push(name.to_string()),
            (None, Some("bind")) => {
                let host = m.source().clone().unwrap_or_default();
                let ro = if options.iter().any(|o| o == "rro" || o == "ro") {
                    ":ro"
                } else {
                    ""
                };
                volume.push(format!("{}:{}{ro}", host.display(), dest.display()));
            }
            (None, Some("tmpfs")) if rootfs => {
                let size = options
                    .iter()
                    .find_map(|o| o.strip_prefix("size="))
                    .map(String::from);
                tmpfs.push((dest, size));
            }
            // The container's cgroups at /sys/fs/cgroup come with the cgroup stage.
            _ => {}
        }
    }
    (filesystems, volume, tmpfs)
}

/// The cgroup limits in the resources (None: none asked for).
pub(crate) fn limits(r: &LinuxResources) -> Option<Limits> {
    let memory = r.memory().as_ref();
    let cpu = r.cpu().as_ref();
    let l = Limits {
        memory: memory.and_then(|m| m.limit()).map(|b| b as u64),
        memory_swap: memory.and_then(|m| m.swap()).map(|s| match s {
            -1 => Swap::Unlimited,
            t => Swap::Total(t as u64),
        }),
        cpus: cpu.and_then(|c| {
            Some(Cpus {
                quota_us: c.quota()? as u64,
                period_us: c.period()?,
            })
        }),
        cpu_shares: cpu.and_then(|c| c.shares()),
        pids: r
            .pids()
            .as_ref()
            .map(|p| (p.limit() > 0).then_some(p.limit() as u64)),
    };
    (l != Limits::default()).then_some(l)
}

/// The security stage's plan: the capabilities kept are the bounding set. Without the
/// stage nothing of it is used, and the plan is Docker's default.
fn security(spec: &Spec, on: bool) -> Result<SecurityPlan> {
    if !on {
        return Ok(SecurityPlan::docker_default());
    }
    let process = spec.process().as_ref();
    let bounding = process
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    let caps = bounding
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().and_then(crate::sys::security::cap_number))
        .fold(0u64, |a, n| a | (1u64 << n));
    Ok(SecurityPlan {
        caps,
        no_new_privs: process.and_then(|p| p.no_new_privileges()).unwrap_or(false),
        seccomp: spec.linux().as_ref().is_some_and(|l| l.seccomp().is_some()),
    })
}

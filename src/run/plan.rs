//! `run`'s plan: every flag checked and settled into one value before the first syscall
//! (a bad flag changes nothing). The parent and the child carry it out.

use super::{config, rootfs, userns};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::stages::cgroups::limits::Limits;
use crate::stages::mounts::MountSpec;
use crate::stages::network::NetworkMode;
use crate::stages::security::SecurityPlan;
use crate::sys::Sys;
use config::Stage;
use std::path::Path;

/// Everything `run` will do, settled before the first syscall.
pub struct Plan {
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub stages: Vec<Stage>,
    pub image: crate::images::resolve::Image,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: Option<(u32, u32)>,
    pub network: NetworkMode,
    pub publish: Vec<crate::stages::network::Publish>,
    pub limits: Option<Limits>,
    /// The devices rule in the container's cgroup (every run but --privileged, as docker).
    pub confine_devices: bool,
    pub security: SecurityPlan,
    pub mounts: MountSpec,
    pub read_only: bool,
    /// An overlay over the image (false: a private copy of it, --no-overlay).
    pub overlay: bool,
    /// `--tmpfs PATH[:SIZE]`: (path inside, size).
    pub tmpfs: Vec<(std::path::PathBuf, Option<String>)>,
    pub interactive: bool,
    pub tty: bool,
    pub step: bool,
    /// --rm: remove the container's directory when it ends.
    pub remove_after: bool,
    /// `--userns private`: the ids of the container's user namespace (None: the host's).
    pub userns: Option<crate::store::idmap::Mapping>,
}

impl Plan {
    pub fn has(&self, s: Stage) -> bool {
        self.stages.contains(&s)
    }

    /// The container's cgroups are named after its id, not its name: ids are unique on the
    /// machine, names only in one data directory (two glassbox users may each have a web).
    pub fn cgroup_name(&self) -> String {
        crate::store::containers::cgroup_name(&self.id)
    }

    /// The namespaces the child is cloned into.
    pub fn clone_flags(&self) -> libc::c_int {
        let mut f = if self.has(Stage::Namespaces) {
            libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID
        } else if self.has(Stage::Mounts) || self.has(Stage::Rootfs) {
            // Mounts are only ever made in a mount namespace of the container's own.
            libc::CLONE_NEWNS
        } else {
            0
        };
        // A network namespace of its own unless --network host, whichever stages are
        // skipped (unconfigured, lo down, when the network stage is): the network stage
        // must never wire up, or a skipped stage expose, the host's own namespace.
        if self.network != NetworkMode::Host {
            f |= libc::CLONE_NEWNET;
        }
        // Made first by the kernel: every other new namespace then belongs to it.
        if self.userns.is_some() {
            f |= libc::CLONE_NEWUSER;
        }
        f
    }
}

/// `--tmpfs PATH[:SIZE]`: an absolute path without `..`, and a size like 64m.
pub(super) fn parse_tmpfs(spec: &str) -> Result<(std::path::PathBuf, Option<String>)> {
    let (path, size) = match spec.split_once(':') {
        Some((p, s)) => (p, Some(s.to_string())),
        None => (spec, None),
    };
    let p = std::path::Path::new(path);
    let bad_path = !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        || p == std::path::Path::new("/");
    let bad_size = size.as_ref().is_some_and(|s| {
        let digits = s.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
        digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit())
    });
    if bad_path || bad_size {
        return Err(Error::usage(
            format!("--tmpfs {spec:?} is not PATH[:SIZE]"),
            "give an absolute path inside the container (not / and without ..), and a size such as 64m",
        ));
    }
    Ok((p.to_path_buf(), size))
}

/// Check every flag and settle the plan. Nothing is changed on the host.
pub fn plan(a: &RunArgs, sys: &Sys) -> Result<Plan> {
    plan_with(a, sys, None)
}

/// The plan of an existing container (`start`, `exec`): its id, image and user namespace
/// ids as recorded.
pub fn plan_existing(
    c: &crate::store::containers::Container,
    a: &RunArgs,
    sys: &Sys,
) -> Result<Plan> {
    let r = &c.record;
    let config = crate::stages::export::config::load_config(&r.rootfs)?.unwrap_or_default();
    let image = crate::images::resolve::Image {
        rootfs: r.rootfs.clone(),
        layers: r.layers.clone(),
        config: r.image_config.clone().unwrap_or(config),
        source: r.image.clone(),
    };
    let recorded = r.userns.clone().map(|m| crate::store::idmap::Mapping {
        source:
            "as recorded when the container was made (its files on the host are owned by these ids)"
                .into(),
        ..m
    });
    plan_with(a, sys, Some((r.id.clone(), image, recorded)))
}

type Existing = (
    String,
    crate::images::resolve::Image,
    Option<crate::store::idmap::Mapping>,
);

pub(super) fn plan_with(a: &RunArgs, sys: &Sys, existing: Option<Existing>) -> Result<Plan> {
    let stages = config::stages(&a.skip, &a.only)?;
    let (id, image, recorded) = match existing {
        Some((id, image, m)) => (id, Some(image), m),
        None => (config::new_id(), None, None),
    };
    let name = match &a.name {
        Some(n) => {
            crate::store::containers::check_name(n)?;
            n.clone()
        }
        None => format!("gb-{id}"),
    };
    let hostname = a.hostname.clone().unwrap_or_else(|| id.clone());
    config::check_hostname(&hostname)?;
    // glassbox run's default is --network none (docker's is bridge): nothing on the host's
    // network changes unless asked.
    let network = match a.network.as_deref() {
        None => NetworkMode::None,
        Some(name) => NetworkMode::parse(name)?,
    };
    let publish = crate::stages::network::parse_publish_all(&a.publish, &network)?;
    let userns = match (userns::parse_mode(a.userns.as_deref())?, recorded) {
        (false, _) => None,
        (true, Some(m)) => Some(m),
        (true, None) => Some(userns::load()?),
    };
    if let Some(m) = &userns {
        if !stages.contains(&Stage::Rootfs) {
            return Err(Error::usage(
                "--userns private needs the rootfs stage: the container's root must be the image copied for its user namespace, not the host's /",
                "leave rootfs in the stages (drop --skip rootfs, or add it to --only)",
            ));
        }
        // Before anything is made: the data directory and the volumes must be reachable
        // for the mapped root (run/rootfs.rs checks the container's own paths again).
        let mut paths = vec![userns::Reach::into(
            crate::store::data_dir(),
            "glassbox's data directory",
        )];
        for v in &a.volume {
            let host = crate::stages::mounts::parse_volume(v)?.host;
            paths.push(userns::Reach::to(host, "the volume"));
        }
        userns::check_reachable(&paths, m)?;
    }
    let tmpfs = a
        .tmpfs
        .iter()
        .map(|t| parse_tmpfs(t))
        .collect::<Result<Vec<_>>>()?;
    let security = SecurityPlan::from_opts(&a.security.spec())?;
    let limits = Limits::parse(&a.limit_spec())?;
    let limits = (!limits.controllers().is_empty()).then_some(limits);
    if a.tty {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(
                "-t was given but stdin is not a terminal",
                "leave out -t, or run glassbox from a terminal",
            ));
        }
    }
    let image = match image {
        Some(i) => i,
        None => crate::images::resolve::resolve_pulling(sys, &a.image, a.pull)?,
    };
    let command = if a.command.is_empty() {
        crate::images::resolve::default_command(&image.config)
    } else {
        a.command.clone()
    };
    if command.is_empty() {
        return Err(Error::usage(
            "no command to run: the image has none",
            "give the command after the image, for example: glassbox run busybox sh",
        ));
    }
    let env = config::environment(&image.config.env, &hostname, a)?;
    let workdir = a
        .workdir
        .clone()
        .or_else(|| Some(image.config.working_dir.clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !workdir.starts_with('/') {
        return Err(Error::usage(
            format!("the working directory {workdir:?} is not absolute"),
            "give -w a path that starts with /",
        ));
    }
    let user = match a
        .user
        .clone()
        .or_else(|| Some(image.config.user.clone()))
        .filter(|u| !u.is_empty())
    {
        Some(u) => {
            let mut layers: Vec<&Path> = image.layers.iter().map(|p| p.as_path()).collect();
            layers.push(&image.rootfs);
            Some(config::resolve_user(&u, &layers)?)
        }
        None => None,
    };
    let mut filesystems: Vec<String> = ["proc", "sys", "dev", "devpts", "shm"]
        .map(String::from)
        .to_vec();
    if network == NetworkMode::Host {
        // sysfs belongs to a network namespace: the host's cannot be mounted from inside.
        filesystems.retain(|f| f != "sys");
    }
    let unmasked = a.security.spec().systempaths_unconfined();
    let mounts = MountSpec {
        unmasked,
        root: Some(image.rootfs.clone()),
        filesystems,
        volume: a.volume.clone(),
        tmp_size: "64m".into(),
    };
    // In a dry run the image may not be exported yet: its mounts are checked when it is.
    if image.rootfs.is_dir() {
        crate::stages::mounts::plan(&mounts)?;
    }
    Ok(Plan {
        id,
        name,
        hostname,
        stages,
        image,
        command,
        env,
        workdir,
        user,
        network,
        publish,
        limits,
        confine_devices: !a.security.privileged,
        security,
        mounts,
        read_only: a.read_only,
        overlay: !a.no_overlay && rootfs::overlay_supported(),
        tmpfs,
        interactive: a.interactive,
        tty: a.tty,
        step: a.step,
        remove_after: a.rm,
        userns,
    })
}

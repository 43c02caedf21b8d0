//! `run`'s plan: every flag checked and settled into one value before the first syscall
//! (a bad flag changes nothing). The parent and the child carry it out.

use super::{config, rootfs, rootless, userns};
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
#[derive(Debug, Clone, PartialEq)]
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
    /// --add-host NAME:IP, for its /etc/hosts.
    pub extra_hosts: Vec<(String, std::net::Ipv4Addr)>,
    /// --dns, for its /etc/resolv.conf.
    pub dns: Vec<std::net::Ipv4Addr>,
    /// --network-alias: more names it answers to on a user-defined network.
    pub aliases: Vec<String>,
    pub limits: Option<Limits>,
    /// The devices rule in the container's cgroup (every run but --privileged, as docker).
    pub confine_devices: bool,
    pub security: SecurityPlan,
    pub mounts: MountSpec,
    /// Its volumes and bind mounts (run/volumes.rs); also in `mounts.volume`.
    pub volumes: Vec<crate::store::volumes::Attached>,
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
    /// `--restart` as given (no, on-failure[:N], always, unless-stopped); None: no.
    pub restart: Option<String>,
    /// `--init`: glassbox stays as PID 1 and runs the command as its child (run/init.rs).
    pub init: bool,
    /// `--stop-signal` (or the image's STOPSIGNAL) and `--stop-timeout`: what stop sends
    /// first, and how long it waits before SIGKILL (None: SIGTERM, 10 s).
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    /// `--health-cmd` and its settings (run/health.rs).
    pub health: Option<super::health::Check>,
    /// `--userns private`: the ids of the container's user namespace (None: the host's).
    pub userns: Option<crate::store::idmap::Mapping>,
    /// glassbox runs as an ordinary user: the ids of the container's user namespace.
    pub rootless: Option<rootless::Ids>,
}

impl Plan {
    /// The plan a bundle's spec says (see crate::spec::read): what `run`, `start` and
    /// `exec` execute.
    pub fn from_spec(spec: &oci_spec::runtime::Spec, bundle: &Path) -> Result<Plan> {
        crate::spec::from_spec(spec, bundle)
    }

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
        // --network container:NAME joins that one's instead (see child), when the network
        // stage runs.
        let joins = matches!(self.network, NetworkMode::Container(..)) && self.has(Stage::Network);
        if self.network != NetworkMode::Host && !joins {
            f |= libc::CLONE_NEWNET;
        }
        // Made first by the kernel: every other new namespace then belongs to it.
        if self.userns.is_some() || self.rootless.is_some() {
            f |= libc::CLONE_NEWUSER;
        }
        f
    }
}

/// The plan of an existing container (`start`, `exec`): its config.json read back, never
/// the flags it was made with.
pub fn plan_existing(c: &crate::store::containers::Container) -> Result<Plan> {
    let spec = c.spec()?;
    let mut plan = Plan::from_spec(&spec, &c.dir)?;
    // Docker fills a new volume when the container is made, not each time it starts.
    for v in &mut plan.volumes {
        v.copy_up = false;
    }
    Ok(plan)
}

/// Check every flag and settle the plan. Nothing is changed on the host. A setting that
/// belongs to a stage that is off takes its neutral value: config.json cannot say it, and
/// the plan is what config.json says (crate::spec::read).
pub fn plan(a: &RunArgs, sys: &Sys) -> Result<Plan> {
    let mut stages = config::stages(&a.skip, &a.only)?;
    let id = config::new_id();
    let name = match &a.name {
        Some(n) => {
            crate::store::containers::check_name(n)?;
            n.clone()
        }
        None => crate::store::containers::generated_name(&id),
    };
    let hostname = a.hostname.clone().unwrap_or_else(|| id.clone());
    config::check_hostname(&hostname)?;
    // glassbox run's default is --network none (docker's is bridge): nothing on the host's
    // network changes unless asked.
    let network = match a.network.as_deref() {
        None => NetworkMode::None,
        Some(name) => NetworkMode::parse(name)?,
    };
    let limits = Limits::parse(&a.limit_spec())?;
    let limits = (!limits.controllers().is_empty()).then_some(limits);
    // Without root: what needs it refused in one sentence, and a cgroup of its own only
    // in a subtree delegated to the user.
    let mut rootless = match crate::host::rootless() {
        true => Some(rootless::load()?),
        false => None,
    };
    if let Some(ids) = rootless.as_mut() {
        let private = userns::parse_mode(a.userns.as_deref())?;
        let host = crate::host::cgroups::CgroupHost::current();
        // With a delegated subtree, a cgroup of its own, as root has: to hold, count, pause
        // and kill its processes.
        let wanted = limits.as_ref().map(|l| l.controllers()).unwrap_or_default();
        ids.cgroups = rootless::delegated(&host, &wanted);
        let refused = limits.is_some() && ids.cgroups.is_none();
        rootless::refuse(&network, refused, private)?;
        if ids.cgroups.is_none() {
            stages.retain(|s| *s != Stage::Cgroup);
        }
    }
    let publish = crate::stages::network::parse_publish_all(&a.publish, &network)?;
    if let (NetworkMode::Container(..), Some(_)) = (&network, &a.userns) {
        return Err(Error::usage(
            "--network container:NAME cannot be used with --userns private: a user namespace of its own has no right to join the other container's network namespace",
            "leave out one of them",
        ));
    }
    let (extra_hosts, dns) = config::hosts_and_dns(a)?;
    for alias in &a.network_alias {
        config::check_hostname(alias)?;
    }
    let userns = match userns::parse_mode(a.userns.as_deref())? {
        false => None,
        true => Some(userns::load()?),
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
        for host in super::volumes::bind_hosts(a)? {
            paths.push(userns::Reach::to(host, "the volume"));
        }
        userns::check_reachable(&paths, m)?;
    }
    let mut tmpfs = a
        .tmpfs
        .iter()
        .map(|t| super::volumes::parse_tmpfs(t))
        .collect::<Result<Vec<_>>>()?;
    let mut security = SecurityPlan::from_opts(&a.security.spec())?;
    let mut limits = limits;
    // Checked above whatever the stages; kept only where a stage uses them.
    if !stages.contains(&Stage::Security) {
        security = SecurityPlan::docker_default();
    }
    // No process here can ever hold a capability outside the bounding set.
    security.caps &= crate::spec::build::bounding_set();
    if !stages.contains(&Stage::Cgroup) {
        limits = None;
    }
    if !stages.contains(&Stage::Rootfs) {
        tmpfs.clear();
    }
    // -dt: the terminal is the container's own, attached to later; none is needed here.
    if a.tty && !a.detach {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(
                "-t was given but stdin is not a terminal",
                "leave out -t, or run glassbox from a terminal",
            ));
        }
    }
    let image = crate::images::resolve::resolve_pulling(sys, &a.image, a.pull)?;
    let mut image = image;
    let command = match (&a.entrypoint, a.command.is_empty()) {
        (None, true) => crate::images::resolve::default_command(&image.config),
        _ => {
            let (ep, cmd) = crate::images::resolve::command_parts(
                &image.config,
                &a.command,
                a.entrypoint.as_deref(),
            );
            // The container's own config, as docker keeps it: commit records this.
            image.config.entrypoint = (!ep.is_empty()).then(|| ep.clone());
            image.config.cmd = (!cmd.is_empty()).then(|| cmd.clone());
            [ep, cmd].concat()
        }
    };
    if command.is_empty() {
        return Err(Error::usage(
            "no command to run: the image has none",
            "give the command after the image, for example: glassbox run busybox sh",
        ));
    }
    let mut publish = publish;
    if a.publish_all {
        let exposed = crate::stages::network::ports::exposed(&image.config.exposed_ports, &publish);
        publish.extend(exposed);
        if !matches!(network, NetworkMode::Bridge(_)) {
            return Err(Error::usage(
                format!(
                    "-P needs a bridge network, and --network {} has none",
                    network.name()
                ),
                "leave out -P, or use --network bridge",
            ));
        }
    }
    if rootless.is_some() {
        // slirp4netns listens on the host ports itself: each checked free, or chosen.
        publish = super::usernet::host_ports(&publish)?;
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
    let mut layers: Vec<&Path> = image.layers.iter().map(|p| p.as_path()).collect();
    layers.push(&image.rootfs);
    let user_spec = a
        .user
        .clone()
        .or_else(|| Some(image.config.user.clone()))
        .filter(|u| !u.is_empty());
    let user = match &user_spec {
        Some(u) => Some(config::resolve_user(u, &layers)?),
        None => None,
    };
    let mut env = env;
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // docker's HOME: the user's entry in the image's passwd, unless the env sets one.
        let name = user_spec.as_deref().unwrap_or("root");
        let name = name.split(':').next().unwrap_or(name);
        let home = config::home_of(name, user.map_or(0, |u| u.0), &layers);
        env.push(format!("HOME={home}"));
    }
    let mut filesystems: Vec<String> = ["proc", "dev", "devpts", "shm", "sys"]
        .map(String::from)
        .to_vec();
    if network == NetworkMode::Host {
        // sysfs belongs to a network namespace: the host's cannot be mounted from inside.
        filesystems.retain(|f| f != "sys");
    }
    let mut user = user;
    if let Some(ids) = &rootless {
        rootless::refuse_user(user, ids)?;
        if ids.ranges.is_none() {
            // Root already, and setgroups(2) is denied: there is no one else to become.
            user = None;
        }
    }
    let mut volumes = super::volumes::resolve(a, &id, &image.config, None)?;
    tmpfs.append(&mut volumes.tmpfs);
    // A volume not made yet (volumes::ensure makes it) is checked when it is mounted.
    let mut mounts = MountSpec {
        unmasked: a.security.spec().systempaths_unconfined(),
        root: Some(image.rootfs.clone()),
        filesystems,
        volume: volumes.specs(true),
        tmp_size: "64m".into(),
    };
    // In a dry run the image may not be exported yet: its mounts are checked when it is.
    if image.rootfs.is_dir() {
        crate::stages::mounts::plan(&mounts)?;
    }
    // Then every volume, as volumes::ensure makes them; a dry run makes none, so it mounts
    // only those there already.
    mounts.volume = sys.compound("", || Ok(volumes.specs(false)), || volumes.specs(true))?;
    if !stages.contains(&Stage::Mounts) {
        mounts.filesystems.clear();
        mounts.volume.clear();
        mounts.unmasked = false;
    }
    // docker's default: the image's STOPSIGNAL; checked now, used by stop.
    let stop_signal = a
        .stop_signal
        .clone()
        .or_else(|| Some(image.config.stop_signal.clone()))
        .filter(|s| !s.is_empty());
    if let Some(s) = &stop_signal {
        crate::sys::signals::parse_signal(s)?;
    }
    let confine_devices = !a.security.privileged && stages.contains(&Stage::Cgroup);
    let overlay = stages.contains(&Stage::Rootfs) && !a.no_overlay && rootfs::overlay_supported();
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
        extra_hosts,
        dns,
        aliases: a.network_alias.clone(),
        limits,
        confine_devices: confine_devices && rootless.is_none(),
        security,
        mounts,
        volumes: volumes.attached,
        read_only: a.read_only,
        overlay: overlay && (rootless.is_none() || rootless::overlay_in_userns()),
        tmpfs,
        interactive: a.interactive,
        tty: a.tty,
        step: a.step,
        remove_after: a.rm,
        restart: a.restart.clone().filter(|r| r != "no"),
        init: a.init,
        stop_signal,
        stop_timeout: a.stop_timeout,
        health: super::health::from_args(a)?,
        userns,
        rootless,
    })
}

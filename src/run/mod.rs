//! `glassbox run`: every stage composed into one container, as `docker run` does.
//!
//! The parent stays in the host's namespaces. The child is cloned straight into new ones
//! (clone(2) with CLONE_NEW* flags: it is PID 1 of its pid namespace from its first
//! instruction; clone3 with CLONE_INTO_CGROUP puts it in its cgroup v2 too) and waits at a
//! gate while the parent wires its network. Let go, the child moves itself into its cgroups
//! v1 (cheaper than a move by pid from outside), unshares a cgroup namespace rooted at them,
//! mounts its root filesystem (an overlay over the image), the filesystems a container needs
//! and its cgroups read-only at /sys/fs/cgroup, pivots into it, cuts its
//! privileges and execs the command. The parent forwards signals, waits, reports how the
//! command ended and undoes what it made, on every path; what a SIGKILL of glassbox leaves
//! behind is in the journal for `glassbox cleanup`, and PR_SET_PDEATHSIG takes the
//! container down with its parent.
//!
//! With `--userns private` the child is cloned into a user namespace too; at the gate the
//! parent also writes its uid and gid maps and moves it into its cgroups v1 by pid (it
//! cannot move itself: to the host's cgroup files it is an unprivileged uid), and the root
//! filesystem is a copy of the image with shifted owners (see [`userns`]).

pub mod bisect;
pub mod config;
pub(crate) mod console;
mod copy;
pub(crate) mod detach;
pub mod rootfs;
mod step;
pub mod userns;

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::stages::cgroupns;
use crate::stages::cgroups::{self, limits::Limits};
use crate::stages::mounts::MountSpec;
use crate::stages::network::NetworkMode;
use crate::stages::security::SecurityPlan;
use crate::sys::mount::MountArgs;
use crate::sys::process::{forward_signals_with_grace, Forked};
use crate::sys::Sys;
use config::Stage;
use std::path::Path;

/// Seconds between a forwarded SIGTERM/SIGINT and the SIGKILL that follows it.
pub const STOP_GRACE_SECS: u32 = 3;

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
        format!("gb-{}", self.id)
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

/// `--tmpfs`: a tmpfs on a directory of the container's root, found inside the root by the
/// kernel (a symlink or `..` that leads out is refused, as for the mount stage's targets).
fn mount_tmpfs(sys: &Sys, root: &Path, path: &Path, size: Option<&str>) -> Result<()> {
    let refused = || {
        Error::usage(
            format!("--tmpfs {}: the path leads out of the container's root, or its parent directory is missing", path.display()),
            "give a directory of the image, or one whose parent exists in it",
        )
    };
    let rel = path.strip_prefix("/").unwrap_or(path).to_string_lossy();
    // Missing: made, as docker does, but only inside a parent found within the root.
    let target = match crate::stages::mounts::target_fd(sys, root, &rel, true) {
        Ok(Some(t)) => t,
        Err(_) if sys.dry_run() => crate::stages::mounts::Target {
            path: root.join(&*rel),
            fd: None,
        },
        Ok(None) => return Err(refused()),
        Err(e) => return Err(e),
    };
    let data = match size {
        Some(s) => format!("mode=1777,size={s}"),
        None => "mode=1777".to_string(),
    };
    sys.mount(
        &MountArgs {
            source: Some("tmpfs"),
            target: &target.at(),
            fstype: Some("tmpfs"),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(&data),
        },
        &format!("--tmpfs: a directory in memory at {}, empty at every start and gone with the container (mounted through the descriptor its check opened)", target.path.display()),
        &format!(
            "mount -t tmpfs -o nosuid,nodev,{data} tmpfs {}",
            target.path.display()
        ),
    )
}

/// `--tmpfs PATH[:SIZE]`: an absolute path without `..`, and a size like 64m.
fn parse_tmpfs(spec: &str) -> Result<(std::path::PathBuf, Option<String>)> {
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

fn plan_with(a: &RunArgs, sys: &Sys, existing: Option<Existing>) -> Result<Plan> {
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
        None => crate::images::resolve::resolve(sys, &a.image)?,
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
    let unmasked = a
        .security
        .security_opt
        .iter()
        .any(|o| o.replace(':', "=") == "systempaths=unconfined");
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

/// What the parent made, to undo on every path.
#[derive(Default)]
struct Made {
    cgroups: Option<(cgroups::Plan, cgroups::Made)>,
    network: Option<crate::stages::network::Wiring>,
    fs: Option<crate::store::containers::ContainerFs>,
}

pub fn main(a: &RunArgs, sys: &Sys) -> Result<i32> {
    sys.close_inherited("a descriptor inherited from the caller must not reach the container")?;
    let plan = plan(a, sys)?;
    if !sys.dry_run() && !crate::host::is_root() {
        return Err(Error::new(
            "glassbox run needs root: it makes namespaces, mounts and cgroups",
            "run it with sudo, or see the whole plan without root: glassbox run --dry-run …",
        ));
    }
    if a.detach && (a.tty || a.interactive || a.step) {
        return Err(Error::usage(
            "-d cannot be combined with -i, -t or --step: a detached container has no terminal to read",
            "leave out -d to run it in the foreground, or leave out -i/-t/--step",
        ));
    }
    let journal = if sys.dry_run() {
        None
    } else {
        Some(Journal::open()?)
    };
    announce(sys, &plan);
    let container = if sys.dry_run() {
        crate::spec::file::show(sys, &plan)?;
        None
    } else {
        let removal = if a.rm {
            rootfs::journal_removal(journal.as_ref(), &plan.id)?
        } else {
            None
        };
        Some((create_container(a, &plan)?, removal))
    };
    match container {
        Some((c, removal)) if a.detach => {
            detach::start(sys, journal.as_ref(), &plan, &c, removal, true)
        }
        Some((c, removal)) => supervise(sys, journal.as_ref(), &plan, Some(&c), removal, None),
        None => supervise(sys, journal.as_ref(), &plan, None, None, None),
    }
}

/// `glassbox start`: run an existing container again, detached.
pub fn start_detached(
    sys: &Sys,
    journal: &Journal,
    plan: &Plan,
    c: &crate::store::containers::Container,
) -> Result<i32> {
    announce(sys, plan);
    detach::start(sys, Some(journal), plan, c, None, false)
}

fn announce(sys: &Sys, plan: &Plan) {
    let n = sys.narrator;
    n.stage(
        "run",
        &format!(
            "container {} ({}) from {}",
            plan.name,
            plan.id,
            plan.image.describe()
        ),
    );
    n.note(&format!(
        "stages: {}",
        plan.stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

/// The container's record and directories, before anything else is made for it.
fn create_container(a: &RunArgs, plan: &Plan) -> Result<crate::store::containers::Container> {
    let mut args = a.clone();
    // A relative path means another directory when `glassbox start` runs it again.
    if let Ok(abs) = std::fs::canonicalize(&a.image) {
        if a.image != "busybox" {
            args.image = abs.display().to_string();
        }
    }
    args.name = Some(plan.name.clone());
    let spec = crate::spec::build(plan, &crate::store::container_dir(&plan.id))?;
    let record = crate::store::containers::Record {
        format: crate::store::containers::FORMAT,
        id: plan.id.clone(),
        name: plan.name.clone(),
        image: a.image.clone(),
        rootfs: plan.image.rootfs.clone(),
        layers: plan.image.layers.clone(),
        image_config: Some(plan.image.config.clone()),
        command: plan.command.clone(),
        created: crate::store::now(),
        args,
        userns: plan.userns.clone(),
    };
    crate::store::containers::create(record, &crate::spec::file::to_json(&spec))
}

/// Make the container, run it, wait for it, record how it ended and undo what was made for
/// it: the body of a foreground `run`, and of a detached container's supervisor.
pub(crate) fn supervise(
    sys: &Sys,
    journal: Option<&Journal>,
    plan: &Plan,
    container: Option<&crate::store::containers::Container>,
    removal: Option<String>,
    detached: Option<detach::Detached>,
) -> Result<i32> {
    let mut made = Made::default();
    let result = run_container(sys, journal, plan, container, removal, detached, &mut made);
    let rm = plan.remove_after;
    if let (Some(c), Err(e)) = (container, &result) {
        let mut s = c.state();
        if s.status != crate::store::containers::Status::Exited {
            s.status = crate::store::containers::Status::Exited;
            s.exit_code = Some(e.code);
            s.error = Some(e.what.clone());
            s.finished = Some(crate::store::now());
            let _ = c.save_state(&s);
        }
    }
    undo(sys, journal, &mut made, rm);
    result
}

fn run_container(
    sys: &Sys,
    journal: Option<&Journal>,
    plan: &Plan,
    container: Option<&crate::store::containers::Container>,
    removal: Option<String>,
    mut detached: Option<detach::Detached>,
    made: &mut Made,
) -> Result<i32> {
    let n = sys.narrator;
    if let Some(m) = &plan.userns {
        userns::announce(sys, m);
    }
    if plan.has(Stage::Rootfs) {
        step::pause(sys, plan, Stage::Rootfs, None);
        // Recorded before it is filled: if preparing fails, --rm still removes the directory.
        let fs = made.fs.insert(
            crate::store::containers::ContainerFs::at(&crate::store::container_dir(&plan.id))
                .journaled(removal),
        );
        rootfs::prepare(sys, plan, fs)?;
    } else if container.is_some() {
        made.fs = Some(
            crate::store::containers::ContainerFs::at(&crate::store::container_dir(&plan.id))
                .journaled(removal),
        );
    }
    let mut cgroup_plan = None;
    if plan.has(Stage::Cgroup) {
        step::pause(sys, plan, Stage::Cgroup, None);
        // Without limits too, as docker does: a cgroup of its own to hold, count and kill
        // its processes, and to be the root of its cgroup namespace.
        n.stage(
            "cgroup",
            match (&plan.limits, plan.confine_devices) {
                (Some(_), true) => {
                    "limit memory, CPU and processes for the container, and confine its devices"
                }
                (Some(_), false) => "limit memory, CPU and processes for the container",
                (None, true) => {
                    "confine the container's devices: a host device node it makes cannot be opened"
                }
                (None, false) => "a cgroup of the container's own (no limits were asked for)",
            },
        );
        let host = crate::host::cgroups::CgroupHost::current();
        let limits = plan.limits.clone().unwrap_or_default();
        let cp = if plan.confine_devices {
            cgroups::plan_container(&host, &limits, &plan.cgroup_name())?
        } else {
            cgroups::plan(&host, &limits, &plan.cgroup_name())?
        };
        let m = cgroups::apply(sys, journal, &cp)?;
        made.cgroups = Some((cp.clone(), m));
        cgroup_plan = Some(cp);
    }
    let mut inside = None;
    if let (true, NetworkMode::Bridge(name)) = (plan.has(Stage::Network), &plan.network) {
        step::pause(sys, plan, Stage::Network, None);
        let w = crate::stages::network::prepare(sys, name, None, &plan.publish)?;
        inside = Some(w.inside());
        if let Some(fs) = &made.fs {
            rootfs::write_network_files(sys, fs, plan, w.addr)?;
        }
        made.network = Some(w);
    }
    step::pause(sys, plan, Stage::Namespaces, None);
    n.stage(
        "namespaces",
        "clone the container's first process straight into new namespaces",
    );
    // -t: a socket for the container to send its terminal's master end back on.
    let console = match (plan.tty, sys.dry_run()) {
        (true, false) => Some(console::socket()?),
        _ => None,
    };
    let why = "the container's first process: PID 1 of its own pid namespace";
    // Born in its cgroup v2, if there is one: no move by pid, which costs milliseconds.
    let (forked, gate, born_in_v2) = match cgroup_plan.as_ref().and_then(cgroups::v2_dir) {
        Some(dir) => sys.fork_gated_into(plan.clone_flags(), &dir, why)?,
        None => {
            let (forked, gate) = sys.fork_gated(plan.clone_flags(), why)?;
            (forked, gate, false)
        }
    };
    let root_fs = made.fs.as_ref().filter(|_| plan.has(Stage::Rootfs));
    match forked {
        Forked::Child => {
            if let (true, Some(m)) = (sys.dry_run(), &plan.userns) {
                // A dry run goes on as the child: show what the parent would write first.
                n.stage(
                    "run",
                    "the parent prepares what the child cannot do for itself",
                );
                userns::write_maps(sys, None, m)?;
            }
            let log = detached.as_ref().map(|d| d.log_fd());
            let console = console
                .as_ref()
                .map(|c| std::os::fd::AsRawFd::as_raw_fd(&c.theirs));
            let err = match child(
                sys,
                plan,
                root_fs,
                inside,
                log,
                cgroup_plan.as_ref(),
                console,
            ) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            crate::report_child_error(&err);
            if let Some(d) = &detached {
                d.child_failed(err.code);
            }
            std::process::exit(err.code);
        }
        Forked::Parent(pid) => {
            n.stage(
                "run",
                "the parent prepares what the child cannot do for itself",
            );
            let prepared = (|| -> Result<()> {
                if let Some(m) = &plan.userns {
                    userns::write_maps(sys, Some(pid), m)?;
                }
                if let (Some(cp), Some(_)) = (&cgroup_plan, &plan.userns) {
                    // In a user namespace the child cannot enter its cgroups v1 itself: to
                    // the host's cgroup files its root is an unprivileged uid. Moved by pid.
                    cgroups::attach_v1(sys, cp, pid)?;
                }
                // Otherwise the child enters its v1 cgroups itself (see `child`); its v2 one
                // is moved into here only if it could not be born there.
                if let (Some(cp), false) = (&cgroup_plan, born_in_v2) {
                    cgroups::attach_v2(sys, cp, pid)?;
                }
                if let Some(w) = made.network.as_mut() {
                    w.connect(sys, pid, &plan.publish)?;
                }
                Ok(())
            })();
            if let Err(e) = prepared {
                // The child must not go on half-prepared: end it before it leaves the gate.
                let _ = sys.kill(
                    pid,
                    libc::SIGKILL,
                    "the parent's preparation failed: the container must not start",
                );
                drop(gate);
                let _ = sys.wait(pid, "collect the child");
                return Err(e);
            }
            if let Some(c) = container {
                let mut s = c.state();
                s.status = crate::store::containers::Status::Running;
                s.process = crate::journal::Owner::of(pid as u32);
                s.supervisor = Some(crate::journal::Owner::current());
                s.detached = detached.is_some();
                s.started = Some(crate::store::now());
                s.finished = None;
                s.exit_code = None;
                s.error = None;
                c.save_state(&s)?;
            }
            let gate = match detached.as_mut() {
                // Let the child go now, to learn whether its command started.
                Some(d) => {
                    drop(gate);
                    d.report_start(sys, pid, container)?;
                    None
                }
                None => gate,
            };
            forward_signals_with_grace(pid, STOP_GRACE_SECS);
            if plan.tty {
                // With -t, Ctrl-C and Ctrl-\ are keys for the container's terminal, which
                // signals its foreground job: they are not glassbox's to act on.
                unsafe {
                    libc::signal(libc::SIGINT, libc::SIG_IGN);
                    libc::signal(libc::SIGQUIT, libc::SIG_IGN);
                }
            }
            // The relay starts when the container sends its terminal (after the gate opens).
            let relay = console.map(|c| console::relay_in_background(c, plan.interactive));
            n.note(&format!(
                "SIGINT and SIGTERM to glassbox go to the container; if it has not ended {STOP_GRACE_SECS} s later (PID 1 ignores signals it has no handler for) it gets SIGKILL, as with docker stop"
            ));
            let start = std::time::Instant::now();
            let ended = sys.wait_releasing(pid, gate, "wait for the container to end");
            // Its last output copied, your terminal as it was — whatever the wait said.
            drop(relay.and_then(|r| r.join().ok()));
            let ended = ended?;
            n.stage("run", "the container ended");
            let code = match (&plan.limits, &cgroup_plan) {
                // The cgroup report says how it ended, with what the limits did to it.
                (Some(limits), Some(cp)) => {
                    let usage = cgroups::report::read(&cp.groups, &cp.name);
                    for line in cgroups::report::lines(&usage, limits, ended, start.elapsed()) {
                        n.note(&line);
                    }
                    cgroups::exit_code(ended, &usage)
                }
                _ => {
                    n.note(&format!("the command {}", ended.describe()));
                    ended.code()
                }
            };
            if let Some(c) = container {
                let mut s = c.state();
                s.status = crate::store::containers::Status::Exited;
                s.exit_code = Some(code);
                s.finished = Some(crate::store::now());
                c.save_state(&s)?;
            }
            Ok(code)
        }
    }
}

fn undo(sys: &Sys, journal: Option<&Journal>, made: &mut Made, remove_container: bool) {
    if let Some(w) = made.network.as_mut() {
        if let Err(e) = w.undo(sys) {
            sys.narrator.warn(&format!(
                "the network was not fully undone ({}); `glassbox cleanup` will finish it",
                e.what
            ));
        }
    }
    if let Some((_, m)) = made.cgroups.as_mut() {
        cgroups::undo(sys, journal, m);
    }
    if let (Some(fs), true) = (made.fs.take(), remove_container) {
        rootfs::remove(sys, journal, fs);
    }
}

/// -t: a terminal pair from the container's own devpts becomes its controlling terminal and
/// its stdin, stdout and stderr; the master end goes to glassbox, which relays it.
pub(crate) fn terminal_of_its_own(sys: &Sys, socket: std::os::fd::RawFd) -> Result<()> {
    use std::os::fd::AsRawFd;
    sys.narrator.stage(
        "terminal",
        "-t: a terminal of the container's own, as docker gives it",
    );
    let (master, slave) = sys.open_console()?;
    sys.setsid("a new session: only a session leader can take a controlling terminal")?;
    sys.make_controlling_terminal(
        slave.as_raw_fd(),
        "the container's terminal: Ctrl-C on it signals the container's foreground job",
    )?;
    // The narration keeps the terminal glassbox was started from.
    sys.narrator.keep_own_stderr();
    for fd in 0..3 {
        sys.dup2(
            slave.as_raw_fd(),
            fd,
            "the terminal is the command's stdin, stdout and stderr",
        )?;
    }
    sys.send_fd(
        socket,
        master.as_raw_fd(),
        "hand the other end to glassbox, which relays your keys in and the output out",
    )
}

/// The container's side: everything from here on happens inside its namespaces.
fn child(
    sys: &Sys,
    plan: &Plan,
    fs: Option<&crate::store::containers::ContainerFs>,
    inside: Option<crate::stages::network::Inside>,
    log: Option<std::os::fd::RawFd>,
    cgroup_plan: Option<&cgroups::Plan>,
    console: Option<std::os::fd::RawFd>,
) -> Result<std::convert::Infallible> {
    let n = sys.narrator;
    // Our pid as the host sees it, read while /proc is still the host's.
    let me = step::host_pid();
    n.stage(
        "container",
        "the child, in its new namespaces, builds the container around itself",
    );
    if plan.userns.is_some() {
        // First: a change of credentials clears the parent-death signal set below.
        userns::become_root(sys)?;
    }
    sys.set_parent_death_signal(
        libc::SIGKILL,
        "if glassbox dies, the container dies with it: nothing is left running unwatched",
    )?;
    if let (Some(cp), None) = (cgroup_plan, &plan.userns) {
        // Before anything else, so nothing of the container runs outside its limits.
        // (In a user namespace the parent moved it already: see run_container.)
        cgroups::enter_self_v1(sys, cp)?;
    }
    // In all its cgroups now: they become the roots of its cgroup namespace.
    let cgroup_view = match cgroup_plan {
        Some(cp) => {
            let view = cgroupns::plan(cp, &crate::host::cgroups::CgroupHost::current());
            cgroupns::unshare(sys, &view)?;
            Some(view)
        }
        None => {
            n.note("--skip cgroup: no cgroup of its own and no cgroup namespace: /proc/self/cgroup shows glassbox's cgroups by their host paths, and /sys/fs/cgroup stays empty");
            None
        }
    };
    if !plan.interactive {
        rootfs::stdin_from_null(sys)?;
    }
    if plan.clone_flags() & libc::CLONE_NEWNS != 0 {
        crate::stages::unshare::make_mounts_private(sys)?;
    }
    if plan.has(Stage::Namespaces) {
        sys.sethostname(
            &plan.hostname,
            "the container's own hostname, in its own UTS namespace",
        )?;
    }
    if plan.has(Stage::Network) && plan.clone_flags() & libc::CLONE_NEWNET != 0 {
        // none: only lo, up; bridge: also eth0 addressed, up, with a default route.
        crate::stages::network::configure_inside(sys, inside)?;
    }
    let root = match fs {
        Some(fs) => Some(rootfs::mount_root(sys, fs, plan)?),
        None => None,
    };
    if plan.has(Stage::Mounts) {
        step::pause(sys, plan, Stage::Mounts, Some(me));
        let mut m = plan.mounts.clone();
        m.root = Some(root.clone().unwrap_or_else(|| "/".into()));
        if sys.dry_run() && !m.root.as_ref().is_some_and(|r| r.is_dir()) {
            // Nothing was mounted: show the mounts on the image's own directory instead.
            n.note("dry run: the overlay is not there, so the mounts are shown on the image's directory");
            m.root = Some(plan.image.rootfs.clone());
        }
        if m.root.as_ref().is_some_and(|r| r.is_dir()) {
            let mp = crate::stages::mounts::plan(&m)?;
            crate::stages::mounts::apply(sys, &mp)?;
            match (&cgroup_view, m.filesystems.iter().any(|f| f == "sys")) {
                (Some(view), true) => cgroupns::mount(sys, m.root.as_deref().unwrap(), view)?,
                (Some(view), false) if !view.is_empty() => n.note(
                    "no /sys in this container (--network host): its cgroups are not mounted at /sys/fs/cgroup",
                ),
                _ => {}
            }
        } else {
            n.note("dry run: the image is not exported yet, so its mounts cannot be planned");
        }
    }
    if let Some(root) = &root {
        for (path, size) in &plan.tmpfs {
            mount_tmpfs(sys, root, path, size.as_deref())?;
        }
        crate::stages::root::pivot_into(sys, root)?;
        if plan.read_only {
            sys.mount(
                &MountArgs {
                    source: None,
                    target: Path::new("/"),
                    fstype: None,
                    flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    data: None,
                },
                "--read-only: the root filesystem refuses every write",
                "mount -o remount,bind,ro /",
            )?;
        }
    }
    if let Some(log) = log {
        // From here the narration keeps the terminal on a descriptor of its own.
        n.keep_own_stderr();
        sys.dup2(log, 1, "-d: the container's stdout goes to its log file (glassbox logs reads it), as docker's json-file log driver")?;
        sys.dup2(log, 2, "and its stderr too")?;
    }
    if plan.has(Stage::Security) {
        step::pause(sys, plan, Stage::Security, Some(me));
    }
    if let Some(socket) = console {
        terminal_of_its_own(sys, socket)?;
    }
    // The security stage changes the ids itself, before it cuts capabilities (runc's order).
    if plan.has(Stage::Security) {
        crate::stages::security::apply(sys, &plan.security, plan.user)?;
    } else if let Some((uid, gid)) = plan.user {
        n.stage("user", "become the container's user");
        crate::stages::security::become_user(sys, uid, gid)?;
    }
    if plan.user.is_some() {
        sys.set_parent_death_signal(
            libc::SIGKILL,
            "again: the kernel clears the parent-death signal when the uid or gid changes",
        )?;
    }
    sys.chdir_no_magiclinks(
        Path::new(&plan.workdir),
        "the container's working directory",
    )?;
    sys.exec_env(
        &plan.command,
        Some(&plan.env),
        "the container's command replaces glassbox as its PID 1",
    )
}

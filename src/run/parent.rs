//! `run`'s parent: it stays in the host's namespaces, makes the container's record, its
//! cgroups and network, lets the child go, forwards signals, waits, reports how the command
//! ended and undoes what it made, on every path.

use super::{
    child, config, console, detach, rootfs, rootless, step, userns, Plan, STOP_GRACE_SECS,
};
use crate::error::Result;
use crate::journal::Journal;
use crate::stages::cgroups::{self};
use crate::stages::network::NetworkMode;
use crate::sys::process::{forward_signals_with_grace, Forked};
use crate::sys::Sys;
use config::Stage;

/// What the parent made, to undo on every path.
#[derive(Default)]
pub(super) struct Made {
    cgroups: Option<cgroups::Made>,
    network: Option<crate::stages::network::Wiring>,
    fs: Option<crate::store::containers::ContainerFs>,
    usernet: Option<super::usernet::UserNet>,
    /// Not undone: the namespace goes when its last holder does.
    net_ahead: NetAhead,
}

/// `--network none`'s namespace, made beside the container's records and cgroups when
/// nobody watches (see [`crate::sys::beside`]); otherwise the child is cloned into a new one.
#[derive(Default)]
pub(super) struct NetAhead(Option<crate::sys::beside::Beside<crate::stages::network::EmptyNetns>>);

impl NetAhead {
    /// Started as soon as the plan is known, for a foreground container (a detached one's
    /// supervisor is a fork, which must not leave a thread behind) whose own empty network
    /// namespace glassbox itself makes (not under a user namespace, which must own it).
    pub(super) fn start(sys: &Sys, plan: &Plan, foreground: bool) -> Self {
        let own_none_net = foreground
            && plan.network == NetworkMode::None
            && plan.has(Stage::Network)
            && plan.userns.is_none()
            && plan.rootless.is_none()
            && !plan.tty
            && !plan.step;
        NetAhead(
            own_none_net
                .then(|| crate::stages::network::none_ahead(sys))
                .flatten(),
        )
    }
}

pub(super) fn announce(sys: &Sys, plan: &Plan) {
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

/// The container's record and directories, before anything else is made for it; with the
/// spec its config.json holds (kept: what runs is what the file says, and the file says
/// what this value does).
pub(super) fn create_container(
    plan: &Plan,
    on_dir: impl FnOnce(&std::path::Path) -> Result<()>,
) -> Result<(crate::store::containers::Container, oci_spec::runtime::Spec)> {
    let spec = crate::spec::build(plan, &crate::store::container_dir(&plan.id))?;
    let record = crate::store::containers::Record {
        format: crate::store::containers::FORMAT,
        id: plan.id.clone(),
        name: plan.name.clone(),
        image: plan.image.source.clone(),
        rootfs: plan.image.rootfs.clone(),
        layers: plan.image.layers.clone(),
        image_config: Some(plan.image.config.clone()),
        command: plan.command.clone(),
        created: crate::store::now(),
        userns: plan.userns.clone(),
        volumes: plan.volumes.clone(),
    };
    let c = crate::store::containers::create(record, &crate::spec::file::to_json(&spec), on_dir)?;
    Ok((c, spec))
}

/// Make the container, run it, wait for it, record how it ended and undo what was made for
/// it: the body of a foreground `run`, and of a detached container's supervisor.
pub(crate) fn supervise(
    sys: &Sys,
    journal: Option<&Journal>,
    plan: &Plan,
    container: Option<&crate::store::containers::Container>,
    removal: crate::store::containers::Removal,
    detached: Option<&mut detach::Detached>,
    net_ahead: NetAhead,
) -> Result<i32> {
    let mut made = Made {
        net_ahead,
        ..Made::default()
    };
    let result = run_container(sys, journal, plan, container, removal, detached, &mut made);
    let rm = plan.remove_after;
    if let (Some(c), Err(e)) = (container, &result) {
        let mut s = c.own_state();
        if s.status != crate::store::containers::Status::Exited {
            s.status = crate::store::containers::Status::Exited;
            s.exit_code = Some(e.code);
            s.error = Some(e.what.clone());
            s.finished = Some(crate::store::now());
            let _ = c.save_state(&s);
        }
    }
    undo(sys, journal, &mut made, rm);
    if rm && container.is_some() {
        // --rm takes the container's anonymous volumes with it, never named ones.
        super::volumes::remove_anonymous(sys, journal, &plan.volumes);
    }
    result
}

pub(super) fn run_container(
    sys: &Sys,
    journal: Option<&Journal>,
    plan: &Plan,
    container: Option<&crate::store::containers::Container>,
    removal: crate::store::containers::Removal,
    mut detached: Option<&mut detach::Detached>,
    made: &mut Made,
) -> Result<i32> {
    let n = sys.narrator;
    if let Some(m) = &plan.userns {
        userns::announce(sys, m);
    }
    if let Some(ids) = &plan.rootless {
        rootless::announce(sys, ids);
    }
    if plan.has(Stage::Rootfs) {
        step::pause(sys, plan, Stage::Rootfs, None);
        // Recorded before it is filled: if preparing fails, --rm still removes the directory.
        let fs = made.fs.insert(
            crate::store::containers::ContainerFs::at(&crate::store::container_dir(&plan.id))
                .journaled(removal),
        );
        rootfs::prepare(sys, plan, fs)?;
        super::volumes::copy_up(sys, plan, rootfs::image_layers(fs, plan))?;
    } else if container.is_some() {
        made.fs = Some(
            crate::store::containers::ContainerFs::at(&crate::store::container_dir(&plan.id))
                .journaled(removal),
        );
    }
    let mut cgroup_plan = None;
    let mut cgroup_view = None;
    if plan.has(Stage::Cgroup) {
        step::pause(sys, plan, Stage::Cgroup, None);
        // Without limits too, as docker does: a cgroup of its own to hold, count and kill
        // its processes, and to be the root of its cgroup namespace.
        // Without root, the subtree delegated to the user stands in for the host's tree.
        let delegated = plan.rootless.as_ref().and_then(|r| r.cgroups.clone());
        let host = delegated.unwrap_or_else(crate::host::cgroups::CgroupHost::current);
        let limits = plan.limits.clone().unwrap_or_default();
        let cp = if plan.confine_devices {
            cgroups::plan_container(&host, &limits, &plan.cgroup_name())?
        } else {
            cgroups::plan(&host, &limits, &plan.cgroup_name())?
        };
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
                // A pure v1 host without limits has nowhere to hold the processes.
                (None, false) if cp.groups.is_empty() => {
                    "no limits asked and no cgroup v2 tree to hold the processes: no cgroup made"
                }
                (None, false) => {
                    "no limits asked: a cgroup of its own only to hold, count and kill the container's processes"
                }
            },
        );
        let m = cgroups::apply(sys, journal, &cp)?;
        made.cgroups = Some(m);
        // What the child's cgroup namespace shows, planned here: the child is a fork of this
        // process and need not read the host's mount table again.
        let view = crate::stages::cgroupns::plan(&cp);
        cgroup_view = Some(view);
        cgroup_plan = Some(cp);
    }
    let mut inside = None;
    let usernet = plan.rootless.is_some()
        && plan.has(Stage::Network)
        && matches!(plan.network, NetworkMode::Bridge(_));
    if usernet {
        step::pause(sys, plan, Stage::Network, None);
        inside = Some(super::usernet::INSIDE);
        if let Some(fs) = &made.fs {
            let (addr, dns) = (super::usernet::INSIDE.addr, Some(super::usernet::DNS));
            rootfs::write_network_files(sys, fs, plan, addr, dns)?;
        }
        let dir = crate::store::container_dir(&plan.id);
        if dir.is_dir() {
            let save = || crate::stages::network::ports::save(&dir, &plan.publish);
            sys.compound("", save, || ())?;
        }
    } else if let (true, NetworkMode::Bridge(name)) = (plan.has(Stage::Network), &plan.network) {
        step::pause(sys, plan, Stage::Network, None);
        let w = crate::stages::network::prepare(sys, name, None, &plan.publish)?;
        inside = Some(w.inside());
        if let Some(fs) = &made.fs {
            // On a user-defined network, names are asked of its name server at the gateway.
            let ns = (w.net.name != "bridge").then(|| w.net.gateway());
            rootfs::write_network_files(sys, fs, plan, w.addr, ns)?;
        }
        let dir = crate::store::container_dir(&plan.id);
        if dir.is_dir() {
            // What `glassbox port` and `ps` show (the host ports it got), and the names the
            // network's name server answers with its address.
            let save = || {
                crate::stages::network::ports::save(&dir, &w.publish)?;
                let mut names = vec![plan.name.clone(), plan.id.chars().take(12).collect()];
                names.extend(plan.aliases.iter().cloned());
                let here = crate::stages::network::dns::Endpoint {
                    network: w.net.name.clone(),
                    address: w.addr,
                    names,
                    link: None,
                };
                crate::stages::network::dns::save_endpoints(&dir, &[here])
            };
            sys.compound("", save, || ())?;
        }
        made.network = Some(w);
    }
    if plan.has(Stage::Security) {
        // Read before the clone, once: the child keeps it (a kernel constant).
        crate::stages::security::last_cap();
    }
    step::pause(sys, plan, Stage::Namespaces, None);
    n.stage(
        "namespaces",
        "clone the container's first process straight into new namespaces",
    );
    // -t: a socket for the container to send its terminal's master end back on.
    let mut console = if plan.tty {
        console::socket(sys)?
    } else {
        None
    };
    if let (Some(d), true) = (detached.as_mut(), plan.interactive && !plan.tty) {
        d.open_stdin(sys)?;
    }
    // Under -q a foreground child is let go as soon as the parent has prepared it, and
    // builds the container while the parent records it; it waits once more before its
    // command (the last gate), so that nothing runs before the record says it does. With
    // lines shown it is let go in the narrated wait, once, so that no line of one lands
    // inside the other's.
    let early = detached.is_none() && !plan.tty && !sys.narrator.shows_lines();
    let why = "the container's first process: PID 1 of its own pid namespace";
    let netns = made.net_ahead.0.take().map(|n| n.ready()).transpose()?;
    let flags = match netns {
        Some(_) => plan.clone_flags() & !libc::CLONE_NEWNET,
        None => plan.clone_flags(),
    };
    // Born in its cgroup v2, if there is one: no move by pid, which costs milliseconds.
    let (forked, gate, born_in_v2) = match cgroup_plan.as_ref().and_then(cgroups::v2_dir) {
        Some(dir) => sys.fork_gated_into(flags, &dir, why)?,
        None => {
            let (forked, gate) = sys.fork_gated(flags, why)?;
            (forked, gate, false)
        }
    };
    let root_fs = made.fs.as_ref().filter(|_| plan.has(Stage::Rootfs));
    match forked {
        Forked::Child => {
            if let Some(m) = &plan.userns {
                // A dry run goes on as the child: show what the parent would write first.
                sys.show_if_not_made(|| {
                    n.stage(
                        "run",
                        "the parent prepares what the child cannot do for itself",
                    );
                    userns::write_maps(sys, None, m)
                })?;
            }
            if let Some(ids) = &plan.rootless {
                sys.show_if_not_made(|| {
                    n.stage(
                        "run",
                        "the parent prepares what the child cannot do for itself",
                    );
                    rootless::write_maps(sys, None, ids)?;
                    if usernet {
                        let log = crate::journal::state_dir().join("slirp4netns.log");
                        drop(super::usernet::start(sys, None, None, &plan.publish, &log)?);
                    }
                    Ok(())
                })?;
            }
            let log = detached.as_ref().and_then(|d| d.outputs());
            let console = console
                .as_ref()
                .map(|c| std::os::fd::AsRawFd::as_raw_fd(&c.theirs));
            let err = match child::child(
                sys,
                plan,
                root_fs,
                child::FromParent {
                    inside,
                    net_ahead: netns.as_ref(),
                    last_gate: gate.as_ref().filter(|_| early),
                },
                log,
                cgroup_plan.as_ref().zip(cgroup_view.as_ref()),
                console,
            ) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            // Told to the parent, which reports it once and records it.
            sys.fail_to_parent(gate.as_ref(), &err)
        }
        Forked::Parent(pid) => {
            // The child holds the namespace now.
            drop(netns);
            n.stage(
                "run",
                "the parent prepares what the child cannot do for itself",
            );
            let prepared = (|| -> Result<()> {
                if let Some(m) = &plan.userns {
                    userns::write_maps(sys, Some(pid), m)?;
                }
                if let Some(ids) = &plan.rootless {
                    rootless::write_maps(sys, Some(pid), ids)?;
                }
                if usernet {
                    let dir = crate::store::container_dir(&plan.id);
                    let dir = match dir.is_dir() {
                        true => dir,
                        false => crate::journal::state_dir(),
                    };
                    let log = dir.join("slirp4netns.log");
                    let net = super::usernet::start(sys, journal, Some(pid), &plan.publish, &log)?;
                    made.usernet = Some(net);
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
                    w.connect(sys, pid)?;
                }
                // A detached container kept after its end: stop and rm -f wait on a FIFO.
                if let (Some(d), Some(c), false) = (detached.as_mut(), container, plan.remove_after)
                {
                    d.end = Some(super::ended::hold(sys, &c.dir, pid));
                }
                Ok(())
            })();
            if let Err(e) = prepared {
                // The child must not go on half-prepared: end it before it leaves the gate.
                let why = "the parent's preparation failed: the container must not start";
                return Err(end_unstarted(sys, pid, gate, why, e));
            }
            if let Some(g) = gate.as_ref().filter(|_| early) {
                // A child that already died is EPIPE here: the wait says how it ended.
                let _ = sys.let_go(g);
            }
            let recorded = (|| -> Result<()> {
                let Some(c) = container else { return Ok(()) };
                let mut s = c.own_state();
                s.status = crate::store::containers::Status::Running;
                s.process = crate::journal::Owner::of(pid as u32);
                s.supervisor = Some(crate::journal::Owner::current());
                s.detached = detached.is_some();
                s.started = Some(crate::store::now());
                s.finished = None;
                s.exit_code = None;
                s.oom_killed = false;
                s.error = None;
                c.save_state(&s)
            })();
            if let Err(e) = recorded {
                // Let go early, the child may be building the container: it ends at its
                // last gate at the latest.
                let why = "its record could not be written: the container must not start";
                return Err(end_unstarted(sys, pid, gate, why, e));
            }
            let released = match detached.as_mut() {
                // Let the child go now, to learn whether its command started.
                Some(d) => {
                    // -t: its terminal goes to the log keeper, not to this terminal.
                    d.report_start(sys, pid, gate.as_ref(), container, console.take())?;
                    true
                }
                None if early => {
                    if let Some(g) = &gate {
                        sys.open_last_gate(g);
                    }
                    true
                }
                None => false,
            };
            forward_signals_with_grace(pid, STOP_GRACE_SECS);
            if plan.tty {
                // With -t, Ctrl-C and Ctrl-\ are keys for the container's terminal, which
                // signals its foreground job: they are not glassbox's to act on.
                crate::sys::signals::ignore(&[libc::SIGINT, libc::SIGQUIT]);
            }
            // The relay starts when the container sends its terminal (after the gate opens).
            let relay = console.map(|c| console::relay_in_background(c, plan.interactive));
            n.note(&format!(
                "SIGINT and SIGTERM to glassbox go to the container; if it has not ended {STOP_GRACE_SECS} s later (PID 1 ignores signals it has no handler for) it gets SIGKILL, as with docker stop"
            ));
            let start = std::time::Instant::now();
            // Stopped (and joined) when dropped, once the container ended.
            let checker = match (container, &plan.health) {
                (Some(c), Some(h)) => Some(super::health::start(&plan.id, &c.dir, h)),
                _ => None,
            };
            let ended = sys.wait_releasing(
                pid,
                gate.as_ref().filter(|_| !released),
                "wait for the container to end",
            );
            // Its last output copied, your terminal as it was — whatever the wait said.
            drop(relay.and_then(|r| r.join().ok()));
            drop(checker);
            let ended = ended?;
            // A container that failed before its command started said why: reported once,
            // at the top, and kept in its state.
            let failed = sys.child_failure(gate.as_ref());
            if let Some(e) = failed.or_else(|| detached.as_mut().and_then(|d| d.take_failure())) {
                return Err(e);
            }
            n.stage("run", "the container ended");
            let mut oom_killed = false;
            let code = match (&plan.limits, &cgroup_plan) {
                // The cgroup report says how it ended, with what the limits did to it.
                (Some(limits), Some(cp)) => {
                    let usage = cgroups::report::read(&cp.groups, &cp.name);
                    oom_killed = usage.oom_kills.unwrap_or(0) > 0;
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
            // The log complete before the end is on record: whoever sees "exited" (stop,
            // start -a, logs) finds every line.
            if let Some(d) = detached.as_mut() {
                d.finish_log(sys);
            }
            if let Some(c) = container {
                let mut s = c.own_state();
                s.status = crate::store::containers::Status::Exited;
                s.exit_code = Some(code);
                s.oom_killed = oom_killed;
                s.finished = Some(crate::store::now());
                c.save_state(&s)?;
            }
            if let Some(d) = detached.as_mut() {
                d.recorded(sys, matches!(plan.network, NetworkMode::Bridge(_)));
            }
            Ok(code)
        }
    }
}

/// End a child whose command must not start (it waits at a gate), collect it, and hand
/// back the error that made it so.
fn end_unstarted(
    sys: &Sys,
    pid: i32,
    gate: Option<crate::sys::channel::Channel>,
    why: &str,
    err: crate::error::Error,
) -> crate::error::Error {
    let _ = sys.kill(pid, libc::SIGKILL, why);
    drop(gate);
    let _ = sys.wait(pid, "collect the child");
    err
}

pub(super) fn undo(sys: &Sys, journal: Option<&Journal>, made: &mut Made, remove_container: bool) {
    if let Some(mut net) = made.usernet.take() {
        net.stop(sys, journal);
    }
    if let Some(w) = made.network.as_mut() {
        if let Some(pid) = w.pid {
            let release = || {
                crate::cleanup::release_connected(sys, &w.journal, pid);
                Ok(())
            };
            let _ = sys.compound("", release, || ());
        }
        if let Err(e) = w.undo(sys) {
            sys.narrator.warn(&format!(
                "the network was not fully undone ({}); `glassbox cleanup` will finish it",
                e.what
            ));
        }
    }
    if let Some(m) = made.cgroups.as_mut() {
        cgroups::undo(sys, journal, m);
    }
    if let (Some(fs), true) = (made.fs.take(), remove_container) {
        rootfs::remove(sys, journal, fs);
    }
}

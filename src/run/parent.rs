//! `run`'s parent: it stays in the host's namespaces, makes the container's record, its
//! cgroups and network, lets the child go, forwards signals, waits, reports how the command
//! ended and undoes what it made, on every path.

use super::{
    child, config, console, detach, rootfs, rootless, step, userns, Plan, STOP_GRACE_SECS,
};
use crate::error::Result;
use crate::journal::Journal;
use crate::stages::cgroupns;
use crate::stages::cgroups::{self};
use crate::stages::network::NetworkMode;
use crate::sys::channel::Channel;
use crate::sys::process::{forward_signals_with_grace, FirstWait, Forked};
use crate::sys::Sys;
use config::Stage;

/// What the parent made, to undo on every path.
#[derive(Default)]
pub(super) struct Made {
    cgroups: Option<cgroups::Made>,
    network: Option<crate::stages::network::Wiring>,
    fs: Option<crate::store::containers::ContainerFs>,
    usernet: Option<super::usernet::UserNet>,
    /// A child cloned ahead, until it is adopted at the point of the clone: ended (killed
    /// at its gate and collected) if the container cannot be made around it.
    ahead: Option<ChildAhead>,
}

/// The container's cgroups once made: the plan, what its cgroup namespace shows, and what
/// to undo.
pub(super) struct Cgroups {
    plan: cgroups::Plan,
    view: cgroupns::Plan,
    made: cgroups::Made,
}

/// The first process of a foreground --rm container nobody watches (see [`Sys::watched`];
/// and no terminal, no --step, no user namespace), on an overlay, in an empty network of its
/// own: cloned as soon as the container's directory exists and its cgroup v2 is made, before
/// its records. While the parent makes its network namespace (the kernel's slowest) and the
/// rest of its cgroups (v1 groups, limits, device rules), the child makes its layer
/// directories and init files, its overlay and its first mounts — glassbox's own work,
/// charged to its cgroup v2 but not yet limited. Handed the namespace (its cgroups are all
/// there by then), it joins both, mounts the rest, pivots and cuts its privileges while the
/// parent writes its records; then it waits at its last gate, and once the record says it
/// runs it runs the command.
/// Watched, the child is cloned after all of that, so the lines read in the order of the
/// stages. Only for --rm: a kept container's layers must outlive a child that fails early.
pub(super) struct ChildAhead {
    pid: i32,
    gate: Option<Channel>,
    born_in_v2: bool,
    /// Its cgroups' plan and view (all its cgroups are made before its network namespace is
    /// handed): taken by run_container.
    cgroups: Option<(cgroups::Plan, cgroupns::Plan)>,
    /// What undoes its cgroups (so far its cgroup v2), taken into [`Made`] by supervise.
    made_cgroups: Option<cgroups::Made>,
}

impl ChildAhead {
    /// Whether this container's child may be cloned ahead (otherwise [`run_container`]
    /// clones it, after everything else).
    pub(super) fn may(sys: &Sys, plan: &Plan, foreground: bool) -> bool {
        foreground
            && plan.remove_after
            && !sys.watched()
            && plan.has(Stage::Rootfs)
            && plan.overlay
            && plan.network == NetworkMode::None
            && plan.has(Stage::Network)
            && plan.userns.is_none()
            && plan.rootless.is_none()
            && !plan.tty
            && !plan.step
    }

    /// Clone the child (see [`ChildAhead::may`]), in the container's directory `dir`.
    pub(super) fn start(
        sys: &Sys,
        journal: Option<&Journal>,
        plan: &Plan,
        dir: &std::path::Path,
        empty_net: Option<crate::sys::empty_net::EmptyNet<'_, '_>>,
    ) -> Result<ChildAhead> {
        // Only its cgroup v2 is made before the clone (it is born there); the rest is made
        // while it prepares itself.
        let planned = plan_cgroups(sys, plan)?;
        let (first, cgroup_ops_left) = planned
            .as_ref()
            .map(|(cp, _)| cgroups::ops_v2_dir_first(cp))
            .unwrap_or_default();
        let mut made_cgroups = cgroups::apply_ops_undoing(sys, journal, &first)?;
        let undo_cgroups = |made: &mut cgroups::Made| cgroups::undo(sys, journal, made);
        before_clone(sys, plan);
        // Cloned without a network namespace: it is handed one made beside its work.
        let flags = plan.clone_flags() & !libc::CLONE_NEWNET;
        let cgroup_plan = planned.as_ref().map(|(cp, _)| cp);
        let cloned = clone_child(sys, flags, cgroup_plan, FirstWait::Later);
        let (forked, gate, born_in_v2) = match cloned {
            Ok(c) => c,
            Err(e) => {
                undo_cgroups(&mut made_cgroups);
                return Err(e);
            }
        };
        match forked {
            Forked::Child => {
                // The parent's: nothing of it is the child's to narrate or let go.
                std::mem::forget(empty_net);
                let fs = crate::store::containers::ContainerFs::at(dir);
                // Cloned inside `create`: its stack holds the parent's lock guards, whose
                // drop would release the parent's locks. A panic while it builds the
                // container ends it where it is.
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    child::child(
                        sys,
                        plan,
                        Some(&fs),
                        child::FromParent {
                            inside: None,
                            ahead: true,
                            last_gate: gate.as_ref(),
                        },
                        None,
                        planned.as_ref().map(|(cp, view)| (cp, view)),
                        None,
                    )
                }));
                let err = match built {
                    Ok(Err(e)) => e,
                    Ok(Ok(never)) => match never {},
                    Err(_) => crate::sys::signals::exit_now(crate::error::exit::GLASSBOX),
                };
                sys.fail_to_parent(gate.as_ref(), &err)
            }
            Forked::Parent(pid) => {
                let mut ahead = ChildAhead {
                    pid,
                    gate,
                    born_in_v2,
                    made_cgroups: planned.is_some().then_some(made_cgroups),
                    cgroups: planned,
                };
                // First of the parent's work: what the child needs midway (its network
                // namespace, and the rest of its cgroups, which it enters once it has the
                // namespace); the records only at its last gate, right before its command.
                let handed = (|| -> Result<()> {
                    let ns = ahead
                        .gate
                        .as_ref()
                        .map(|_| crate::stages::network::empty(sys, empty_net));
                    let ns = ns.transpose()?;
                    if let Some(made) = ahead.made_cgroups.as_mut() {
                        cgroups::apply_ops(sys, journal, &cgroup_ops_left, made)?;
                    }
                    if let (Some(g), Some(ns)) = (&ahead.gate, &ns) {
                        crate::stages::network::hand_empty(sys, g, ns)?;
                    }
                    Ok(())
                })();
                match handed {
                    Ok(()) => Ok(ahead),
                    Err(e) => {
                        // A child that failed first said why: that is the error to report.
                        let e = sys.child_failure(ahead.gate.as_ref()).unwrap_or(e);
                        Err(ahead.abandon(sys, journal, e))
                    }
                }
            }
        }
    }

    /// The container could not be made around it: end the child at its gate, undo its
    /// cgroups, and hand back the error.
    pub(super) fn abandon(
        mut self,
        sys: &Sys,
        journal: Option<&Journal>,
        err: crate::error::Error,
    ) -> crate::error::Error {
        let made_cgroups = self.made_cgroups.take();
        self.end(sys);
        if let Some(mut m) = made_cgroups {
            cgroups::undo(sys, journal, &mut m);
        }
        err
    }

    /// End the child at its gate and collect it: the container is not to start.
    fn end(self, sys: &Sys) {
        let why = "the container could not be made: its first process must not start";
        end_unstarted(sys, self.pid, self.gate, why);
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

/// The container's record and directories, before anything else is made for it; its
/// config.json is `spec`, the one the caller runs from (what runs is what the file says).
pub(super) fn create_container(
    sys: &Sys,
    plan: &Plan,
    spec: &oci_spec::runtime::Spec,
    layers: crate::store::containers::Layers,
    on_dir: impl FnOnce(&std::path::Path) -> Result<()>,
) -> Result<crate::store::containers::Container> {
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
    let config = || crate::spec::file::to_json(spec);
    crate::store::containers::create(sys, record, config, layers, on_dir)
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
    ahead: Option<ChildAhead>,
) -> Result<i32> {
    let mut made = Made::default();
    if let Some(mut a) = ahead {
        made.cgroups = a.made_cgroups.take();
        made.ahead = Some(a);
    }
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
    if let (Some(c), true) = (container, rm) {
        // Its record goes next: the code, for each `glassbox wait` that left word.
        let code = result.as_ref().map_or_else(|e| e.code, |code| *code);
        crate::store::waiters::tell(c.id(), code);
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
    // A child cloned ahead came with its cgroups (made.cgroups undoes them).
    let ahead = made.ahead.is_some();
    let cgroups_ahead = made.ahead.as_mut().and_then(|a| a.cgroups.take());
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
        // A child cloned ahead makes its layers itself.
        if !ahead {
            rootfs::prepare(sys, plan, fs)?;
        }
        super::volumes::copy_up(sys, plan, rootfs::image_layers(fs, plan))?;
    } else if container.is_some() {
        made.fs = Some(
            crate::store::containers::ContainerFs::at(&crate::store::container_dir(&plan.id))
                .journaled(removal),
        );
    }
    let (cgroup_plan, cgroup_view) = match (cgroups_ahead, ahead) {
        (Some((cp, view)), _) => (Some(cp), Some(view)),
        (None, true) => (None, None),
        (None, false) => match make_cgroups(sys, journal, plan)? {
            Some(c) => {
                made.cgroups = Some(c.made);
                (Some(c.plan), Some(c.view))
            }
            None => (None, None),
        },
    };
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
    if !ahead {
        before_clone(sys, plan);
    }
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
    let (forked, gate, born_in_v2) = match made.ahead.take() {
        Some(a) => (Forked::Parent(a.pid), a.gate, a.born_in_v2),
        None => clone_child(
            sys,
            plan.clone_flags(),
            cgroup_plan.as_ref(),
            FirstWait::AtBirth,
        )?,
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
                    ahead: false,
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
                end_unstarted(sys, pid, gate, why);
                return Err(e);
            }
            if let Some(g) = gate.as_ref().filter(|_| early && !ahead) {
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
                // With a check, its health is "starting" from the moment it runs (inspect
                // shows State.Health at once, as docker's), not from the checker's first write.
                if plan.health.is_some() {
                    super::health::mark_starting(&c.dir);
                }
                c.save_state(&s)
            })();
            if let Err(e) = recorded {
                // Let go early, the child may be building the container: it ends at its
                // last gate at the latest.
                let why = "its record could not be written: the container must not start";
                end_unstarted(sys, pid, gate, why);
                return Err(e);
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
            if ahead && released && plan.volumes.is_empty() {
                // Its namespaces go down after glassbox has answered, not before
                // (sys/holder.rs). Best effort: a command already gone has nothing to hold.
                let why = "hold the container's mount, network and IPC namespaces until glassbox exits, so that taking them down does not delay the answer";
                let _ = sys.hold_namespaces(pid, why);
            }
            let ended = sys.wait_releasing(
                pid,
                gate.as_ref().filter(|_| !released),
                "wait for the container to end",
            );
            // The helper that made its network namespace has surely ended by now.
            crate::sys::empty_net::reap_helper();
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

/// Plan and make the container's cgroups (without limits too, as docker does: a cgroup of
/// its own to hold, count and kill its processes, and to be the root of its cgroup
/// namespace). None when the plan skips the stage, or a pure v1 host without limits has
/// nowhere to hold the processes.
fn make_cgroups(sys: &Sys, journal: Option<&Journal>, plan: &Plan) -> Result<Option<Cgroups>> {
    let Some((cp, view)) = plan_cgroups(sys, plan)? else {
        return Ok(None);
    };
    let made = cgroups::apply(sys, journal, &cp)?;
    Ok(Some(Cgroups {
        plan: cp,
        view,
        made,
    }))
}

/// The container's cgroups planned, and what its cgroup namespace will show; the stage
/// narrated.
fn plan_cgroups(sys: &Sys, plan: &Plan) -> Result<Option<(cgroups::Plan, cgroupns::Plan)>> {
    if !plan.has(Stage::Cgroup) {
        return Ok(None);
    }
    step::pause(sys, plan, Stage::Cgroup, None);
    // Without root, the subtree delegated to the user stands in for the host's tree.
    let delegated = plan.rootless.as_ref().and_then(|r| r.cgroups.clone());
    let host = delegated.unwrap_or_else(crate::host::cgroups::CgroupHost::current);
    let limits = plan.limits.clone().unwrap_or_default();
    let cp = if plan.confine_devices {
        cgroups::plan_container(&host, &limits, &plan.cgroup_name())?
    } else {
        cgroups::plan(&host, &limits, &plan.cgroup_name())?
    };
    sys.narrator.stage(
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
    // What the child's cgroup namespace shows, planned here: the child is a fork of this
    // process and need not read the host's mount table again.
    let view = cgroupns::plan(&cp);
    Ok(Some((cp, view)))
}

/// What comes just before the clone: the kernel constant the child keeps, and the stage.
fn before_clone(sys: &Sys, plan: &Plan) {
    if plan.has(Stage::Security) {
        // Read before the clone, once: the child keeps it (a kernel constant).
        crate::stages::security::last_cap();
    }
    step::pause(sys, plan, Stage::Namespaces, None);
    sys.narrator.stage(
        "namespaces",
        "clone the container's first process straight into new namespaces",
    );
}

/// Clone the container's first process into its namespaces, gated, and born in its
/// cgroup v2 if it has one (no move by pid, which costs milliseconds). Also returns
/// whether it was born there.
fn clone_child(
    sys: &Sys,
    flags: libc::c_int,
    cgroup_plan: Option<&cgroups::Plan>,
    first: FirstWait,
) -> Result<(Forked, Option<Channel>, bool)> {
    let why = "the container's first process: PID 1 of its own pid namespace";
    match cgroup_plan.and_then(cgroups::v2_dir) {
        Some(dir) => sys.fork_gated_into(flags, &dir, why, first),
        None => {
            let (forked, gate) = sys.fork_gated_at(flags, why, first)?;
            Ok((forked, gate, false))
        }
    }
}

/// End a child whose command must not start (it waits at a gate), and collect it.
fn end_unstarted(sys: &Sys, pid: i32, gate: Option<Channel>, why: &str) {
    let _ = sys.kill(pid, libc::SIGKILL, why);
    drop(gate);
    let _ = sys.wait(pid, "collect the child");
}

pub(super) fn undo(sys: &Sys, journal: Option<&Journal>, made: &mut Made, remove_container: bool) {
    // Never adopted: ended before its cgroups go (a cgroup with a process cannot).
    if let Some(a) = made.ahead.take() {
        a.end(sys);
    }
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

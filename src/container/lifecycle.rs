//! `glassbox stop`, `start` and `rm`: a container's life after `run`.
//!
//! stop is what `docker stop` does: SIGTERM to the container's PID 1, and SIGKILL if it has
//! not ended after the grace time (a PID 1 ignores every signal it has no handler for, so a
//! shell as PID 1 never ends on SIGTERM). Its supervisor — the glassbox process that waits
//! for it — then records the exit code and undoes its cgroups and network.

use super::each::each;
use super::wait::{wait_end, wait_supervisor};
use crate::cli::{RestartArgs, RmArgs, StartArgs, StopArgs};
use crate::error::{Error, Result};
use crate::store::containers::{Container, Status};
use crate::sys::Sys;
use std::time::Duration;

/// Take the container's lock, and check it still exists (another command holding the lock
/// before us may have removed it).
fn locked(c: &Container) -> Result<crate::lock::Guard> {
    if !c.dir.is_dir() {
        return Err(gone(c));
    }
    let lock = c
        .lock()
        .map_err(|e| if c.dir.is_dir() { e } else { gone(c) })?;
    if !c.dir.join("container.json").exists() {
        return Err(gone(c));
    }
    Ok(lock)
}

fn gone(c: &Container) -> Error {
    Error::usage(
        format!("no such container: {} (it was just removed)", c.name()),
        "`glassbox ps -a` lists the containers there are",
    )
    .with_code(1)
}

/// What stop sends first and how long it waits before SIGKILL: the container's
/// --stop-signal (or its image's STOPSIGNAL) and --stop-timeout from config.json's
/// annotations, else SIGTERM and 10 s; `stop -t` wins over the timeout, as docker.
/// Also whether it is on a bridge network (see [`crate::run::ended::bridged`]).
fn stop_settings(c: &Container, time: Option<u32>) -> Result<(libc::c_int, u32, bool)> {
    use crate::spec::annotation as key;
    let annotations = annotations(c)?;
    let sig = match annotations.get(key::STOP_SIGNAL) {
        Some(s) => crate::sys::signals::parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let timeout = annotations
        .get(key::STOP_TIMEOUT)
        .and_then(|t| t.parse().ok());
    let bridged = crate::run::ended::bridged(&annotations);
    Ok((sig, time.or(timeout).unwrap_or(10), bridged))
}

/// config.json's annotations (a container made before bundles has none: refused, as
/// [`Container::spec`] refuses it).
fn annotations(c: &Container) -> Result<std::collections::HashMap<String, String>> {
    c.bundle_config()?;
    crate::spec::file::read_annotations(&c.dir)
}

/// Stop one container; returns once its supervisor has recorded how it ended.
pub fn stop(sys: &Sys, c: &Container, time: Option<u32>) -> Result<()> {
    let n = sys.narrator;
    // Stopped by you: its supervisor does not run it again (--restart).
    crate::run::restart::mark_stopped(sys, c);
    // Read once: it changes only when the supervisor records the end, which is after our kill.
    let state = c.state();
    let Some(pid) = state.running_pid() else {
        n.note(&format!("{} is not running: nothing to stop", c.name()));
        return Ok(());
    };
    n.stage(
        "stop",
        &format!("end container {} (pid {pid} on the host)", c.name()),
    );
    super::pause::thaw_if_paused(sys, c)?;
    let (sig, grace, bridged) = stop_settings(c, time)?;
    // Opened before the signal, while its supervisor holds it: no wake-up is missed.
    let fifo = crate::run::ended::watch(sys, c, &state)?;
    sys.kill(
        pid,
        sig,
        "ask the container's PID 1 to end with its stop signal (it ignores it unless it installed a handler)",
    )?;
    let process = state.process;
    let grace_time = Duration::from_secs(grace.into());
    // With the FIFO, stop learns of the end once it is on record (no wait for PID 1 of
    // its own). Without, or if the supervisor was killed meanwhile, PID 1 is waited for.
    let recorded = |limit| -> Result<Option<bool>> {
        match &fifo {
            Some(f) => Ok(Some(f.recorded(sys, limit)?)),
            None => Ok(None),
        }
    };
    let on_record = || c.state().running_pid().is_none();
    let woke = recorded(grace_time)?;
    let mut done = woke == Some(true) && on_record();
    let why = "wait for PID 1 to end, at most the grace time";
    let ended = match (woke, &process) {
        (Some(false), _) => false,
        _ if done => true,
        (_, Some(p)) => wait_end(sys, p, grace_time, why)?,
        (_, None) => true,
    };
    if !ended {
        n.note(&format!("still running after {grace} s"));
        sys.kill(
            pid,
            libc::SIGKILL,
            "the grace time is over: SIGKILL cannot be ignored, not even by PID 1",
        )?;
        done = recorded(Duration::from_secs(10))? == Some(true) && on_record();
    }
    // On a bridge, then the supervisor's end (quick: the unmounts are left to a child of
    // it): until it has ended, the bridge and its rules are in use in its name.
    let waited = (done && !bridged) || wait_supervisor(sys, c, Duration::from_secs(10))?;
    if !waited && !done {
        return Err(Error::new(
            format!("container {} did not end after SIGKILL", c.name()),
            "look at it with glassbox inspect, and try glassbox rm -f",
        )
        .with_code(1));
    }
    let s = c.state();
    n.note(&format!(
        "{} {}",
        c.name(),
        s.describe(crate::store::now()).to_lowercase()
    ));
    Ok(())
}

pub fn stop_main(a: &StopArgs, sys: &Sys) -> Result<i32> {
    each("stop", &a.containers, |c| stop(sys, &c, a.time))
}

/// Start a stopped container again, detached, on its own writable layer.
fn start(sys: &Sys, c: &Container) -> Result<()> {
    let _lock = locked(c)?;
    // An earlier supervisor that has not finished would write its "exited" over ours.
    if c.state().effective() != Status::Running {
        wait_supervisor(sys, c, Duration::from_secs(10))?;
    }
    match c.state().effective() {
        Status::Running => return Ok(()),
        Status::Dead => {
            // Its supervisor was killed: undo what it left before starting anew.
            remove_leftovers(sys, c)?;
        }
        _ => {}
    }
    crate::run::restart::clear_stopped(sys, c);
    // In the background, with its terminal (-t) or stdin pipe (-i) kept by its log keeper
    // for glassbox attach, as docker start keeps them.
    let plan = crate::run::plan_existing(c)?;
    let journal = sys.journal()?;
    let code = crate::run::start_detached(sys, journal.as_ref(), &plan, c)?;
    if code != 0 {
        return Err(Error::new(
            format!("container {} exited at once with status {code}", c.name()),
            format!("see glassbox logs {}", c.name()),
        )
        .with_code(1));
    }
    Ok(())
}

pub fn start_main(a: &StartArgs, sys: &Sys) -> Result<i32> {
    sys.close_inherited("a descriptor inherited from the caller must not reach the container")?;
    if a.attach || a.interactive {
        return start_attached(a, sys);
    }
    each("start", &a.containers, |c| start(sys, &c))
}

/// `start -a [-i] C`: start it, then attach as glassbox attach does; its exit code.
fn start_attached(a: &StartArgs, sys: &Sys) -> Result<i32> {
    let [name] = a.containers.as_slice() else {
        return Err(Error::usage(
            "start -a and -i take one container",
            "start the others without -a",
        ));
    };
    let keys = super::attach::parse_keys(
        a.detach_keys
            .as_deref()
            .unwrap_or(super::attach::DEFAULT_KEYS),
    )?;
    let c = crate::store::containers::find(name).map_err(|e| e.with_code(1))?;
    let since = crate::run::logger::now_nanos();
    start(sys, &c)?;
    if !a.interactive {
        // Output only: its log holds all of it, where an attach would miss what it wrote
        // before the log keeper took us on (all of `echo hi`).
        if let Some(pid) = c.state().running_pid() {
            crate::sys::process::forward_signals_to(pid);
        }
        super::logs::follow_since(&c, since);
        return super::wait::wait_for_end(sys, &c);
    }
    // Ended before we could attach: its output is in the log, its code on record.
    let ended = || {
        super::logs::print_between(&c, since, None);
        super::wait::wait_for_end(sys, &c)
    };
    if c.state().running_pid().is_none() {
        return ended();
    }
    match super::attach::attach(sys, &c, keys, a.interactive, true) {
        Err(_) if c.state().running_pid().is_none() => ended(),
        r => r,
    }
}

/// `glassbox restart`: stop (SIGTERM, SIGKILL after the grace time), then start again on
/// the same writable layer, as docker restart. A stopped container is only started.
pub fn restart_main(a: &RestartArgs, sys: &Sys) -> Result<i32> {
    sys.close_inherited("a descriptor inherited from the caller must not reach the container")?;
    each("restart", &a.containers, |c| {
        stop(sys, &c, a.time)?;
        start(sys, &c)
    })
}

/// What a killed supervisor left on the host (its cgroups, veth, rules), from the journal.
fn remove_leftovers(sys: &Sys, c: &Container) -> Result<()> {
    let Some(owner) = c.state().supervisor else {
        return Ok(());
    };
    if owner.is_alive() {
        return Ok(());
    }
    let journal = crate::journal::Journal::open()?;
    let report = crate::cleanup::cleanup_owned_by(sys, &journal, &owner);
    for u in &report.undone {
        sys.narrator
            .note(&format!("removed {u} (left by its killed supervisor)"));
    }
    match report.failed.first() {
        Some(f) => Err(Error::new(
            format!("could not remove what container {} left: {f}", c.name()),
            "see glassbox cleanup",
        )
        .with_code(1)),
        None => Ok(()),
    }
}

pub(super) fn rm(sys: &Sys, c: &Container, force: bool) -> Result<()> {
    let _lock = locked(c)?;
    // Read once: while it runs only its supervisor changes it, after our kill.
    let state = c.state();
    let running = state.running_pid();
    if running.is_some() && !force {
        return Err(Error::usage(
            format!("cannot remove container {}: it is running", c.name()),
            format!(
                "stop it first (glassbox stop {0}), or force it: glassbox rm -f {0}",
                c.name()
            ),
        )
        .with_code(1));
    }
    // Removed by you: a supervisor that would restart it (--restart) gives up.
    crate::run::restart::mark_stopped(sys, c);
    if let Some(pid) = running {
        super::pause::thaw_if_paused(sys, c)?;
        let fifo = crate::run::ended::watch(sys, c, &state)?;
        // Read now: once the supervisor has taken the directory away, config.json is gone.
        let bridged =
            fifo.is_some() && annotations(c).is_ok_and(|a| crate::run::ended::bridged(&a));
        if fifo.is_some() {
            crate::run::ended::ask_removal(sys, c);
        }
        let (process, supervisor) = (state.process, state.supervisor);
        sys.kill(
            pid,
            libc::SIGKILL,
            "rm -f: end the container at once (as docker rm -f)",
        )?;
        // With the FIFO: once its supervisor has undone what it made (the hang-up) the
        // container is out of the store (or, if the supervisor could not move it, the
        // directory is ours), while the supervisor lets its mount namespace go and exits.
        let undone = match &fifo {
            Some(f) => {
                f.undone(sys, Duration::from_secs(10))?
                    && (!c.dir.exists() || c.state().running_pid().is_none())
            }
            None => false,
        };
        if undone && !c.dir.exists() {
            // On a bridge: it ends at once (a child of it lets the mounts go), and the
            // bridge and its rules are no longer in use in its name once it has.
            if let Some(sup) = supervisor.as_ref().filter(|_| bridged) {
                let why = "wait for the supervisor to end: the network's bridge and rules are in its name until then";
                wait_end(sys, sup, Duration::from_secs(10), why)?;
            }
            sys.narrator.note(&format!(
                "{} is out of the store: its directory goes once its mounts are gone",
                c.name()
            ));
            return Ok(());
        }
        // The supervisor ends only after PID 1 has: waiting for it waits for both. Only
        // when it was killed is PID 1 waited for itself.
        let supervised = c.state().supervisor.is_some_and(|o| o.is_alive());
        if let Some(p) = process.as_ref().filter(|_| !supervised && !undone) {
            wait_end(sys, p, Duration::from_secs(10), "wait for PID 1 to end")?;
        }
        if !undone && !wait_supervisor(sys, c, Duration::from_secs(10))? {
            return Err(Error::new(
                format!("container {} did not end after SIGKILL", c.name()),
                "look at it with glassbox inspect, then try again",
            )
            .with_code(1));
        }
    } else if !wait_supervisor(sys, c, Duration::from_secs(10))? {
        // Ended, and its supervisor is still undoing what it made: let it finish.
        return Err(Error::new(
            format!("container {}'s supervisor is still running", c.name()),
            "try again in a moment",
        )
        .with_code(1));
    }
    remove_leftovers(sys, c)?;
    let removed = crate::store::containers::remove_dir(sys, c);
    crate::run::rootless::or_inside(sys, &c.dir, removed)?;
    sys.narrator.note(&format!(
        "rm -rf {} (its writable layer, log and state)",
        c.dir.display()
    ));
    Ok(())
}

pub fn rm_main(a: &RmArgs, sys: &Sys) -> Result<i32> {
    each("rm", &a.containers, |c| {
        rm(sys, &c, a.force)?;
        if a.volumes {
            let journal = sys.journal()?;
            crate::run::volumes::remove_anonymous(sys, journal.as_ref(), &c.record.volumes);
        }
        Ok(())
    })
}

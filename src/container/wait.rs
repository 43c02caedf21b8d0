//! `glassbox wait C…`: block until each container ends, then print its exit code (as docker
//! wait). It waits on a pidfd for the container's PID 1, then for its supervisor, which is
//! the one that records how it ended. A `--rm` container's record goes with it: the wait
//! leaves word first, and the supervisor writes the code there (store/waiters.rs).

use crate::cli::WaitArgs;
use crate::error::{Error, Result};
use crate::journal::Owner;
use crate::store::containers::{Container, Status};
use crate::store::waiters;
use crate::sys::Sys;
use std::time::Duration;

/// Long enough to mean "until it ends": poll(2) takes at most i32::MAX ms (24 days).
const FOREVER: Duration = Duration::from_millis(i32::MAX as u64);

const WHY: &str = "wait for the container's PID 1 to end";

fn wait(sys: &Sys, c: &Container) -> Result<i32> {
    sys.narrator
        .stage("wait", &format!("until container {} ends", c.name()));
    let shown = || {
        // When calls are not made nothing ends: the wait is shown once, with the code on record.
        let s = c.state();
        if let Some(p) = s.process.clone().filter(|_| s.running_pid().is_some()) {
            let _ = wait_end(sys, &p, FOREVER, WHY);
        }
        s.exit_code.unwrap_or(0)
    };
    sys.compound("", || wait_for_end(sys, c), shown)
}

/// Wait for the container's PID 1 (and any that a restart put in its place), then for its
/// supervisor; its exit code.
pub(super) fn wait_for_end(sys: &Sys, c: &Container) -> Result<i32> {
    let word = leave_word(sys, c);
    wait_for_end_with(sys, c, word.as_ref())
}

/// Word left for the container's supervisor: the exit code of a `--rm` container is
/// written there before its record goes. None (said why) if it cannot be left: the wait
/// then reads the code on record, as it can.
pub(super) fn leave_word(sys: &Sys, c: &Container) -> Option<waiters::Waiting> {
    let annotations = crate::spec::file::read_annotations(&c.dir).unwrap_or_default();
    if annotations
        .get(crate::spec::annotation::REMOVE)
        .map(String::as_str)
        != Some("true")
    {
        // Kept after its end: the code stays on record.
        return None;
    }
    match waiters::register(c.id()) {
        Ok(w) => {
            sys.narrator.note(&format!(
                "word left in {}: a --rm container's record goes with it, so its supervisor writes the exit code there",
                w.path().display()
            ));
            Some(w)
        }
        Err(e) => {
            sys.narrator.warn(&format!(
                "{}: the exit code of a --rm container will be lost with its record",
                e.what
            ));
            None
        }
    }
}

/// [`wait_for_end`], with word left before.
pub(super) fn wait_for_end_with(
    sys: &Sys,
    c: &Container,
    word: Option<&waiters::Waiting>,
) -> Result<i32> {
    loop {
        let s = c.state();
        let Some(p) = s.process.clone().filter(|_| s.running_pid().is_some()) else {
            break;
        };
        wait_end(sys, &p, FOREVER, WHY)?;
    }
    // With a restart policy its supervisor may run it again (after a backoff of up to a
    // minute): the wait is for the final stop, when the supervisor ends, as docker's.
    let restarts = crate::run::restart::Policy::of(c) != crate::run::restart::Policy::No;
    let limit = if restarts {
        FOREVER
    } else {
        Duration::from_secs(10)
    };
    if !wait_supervisor(sys, c, limit)? {
        return Err(Error::new(
            format!(
                "container {} ended, but its supervisor has not recorded how",
                c.name()
            ),
            "try again in a moment",
        )
        .with_code(1));
    }
    let s = c.state();
    let removed = !c.dir.join("container.json").exists();
    match (s.effective(), s.exit_code) {
        (Status::Exited, Some(code)) => Ok(code),
        _ if removed => match word.and_then(|w| w.code()) {
            Some(code) => Ok(code),
            None => Err(Error::new(
                format!(
                    "container {} ended and was removed before its exit code could be read",
                    c.name()
                ),
                "start glassbox wait before the container ends (a --rm container's supervisor writes the code only for waits begun by then, and not when it is killed), or run it without --rm to keep the code on record",
            )
            .with_code(1)),
        },
        (Status::Created, _) => Err(Error::usage(
            format!("container {} has never run", c.name()),
            format!("start it: glassbox start {}", c.name()),
        )
        .with_code(1)),
        _ => Err(Error::new(
            format!(
                "container {} ended without an exit code on record (its supervisor was killed)",
                c.name()
            ),
            format!("glassbox rm {} removes it", c.name()),
        )
        .with_code(1)),
    }
}

pub fn main(a: &WaitArgs, sys: &Sys) -> Result<i32> {
    Ok(super::each::for_each(&a.containers, |_, c| wait(sys, &c)))
}

/// Wait up to `limit` for `owner`'s process to end, without sleeping: a pidfd for it,
/// then poll(2), which returns the moment it exits. True if it has ended.
pub(super) fn wait_end(sys: &Sys, owner: &Owner, limit: Duration, why: &str) -> Result<bool> {
    if !owner.is_alive() {
        return Ok(true);
    }
    let Some(pidfd) = sys.pidfd_open(owner.pid as i32, why)? else {
        return Ok(true);
    };
    // The pid may have ended and been reused between the look and the open: the
    // descriptor counts only if it is still the same process.
    if !owner.is_alive() {
        return Ok(true);
    }
    sys.poll_exit(&pidfd, limit, why)
}

/// Wait up to `limit` for the container's supervisor to finish (it records the end and
/// undoes what it made, then exits). True once it has.
pub(super) fn wait_supervisor(sys: &Sys, c: &Container, limit: Duration) -> Result<bool> {
    if let Some(sup) = c.state().supervisor {
        let why = "wait for the container's supervisor to record the end and undo what it made";
        if !wait_end(sys, &sup, limit, why)? {
            return Ok(false);
        }
    }
    Ok(supervisor_done(c))
}

/// Whether the container's supervisor has finished: it has recorded the end and undone
/// what it made (or it is gone).
fn supervisor_done(c: &Container) -> bool {
    let s = c.state();
    s.effective() != Status::Running && !s.supervisor.as_ref().is_some_and(|o| o.is_alive())
}

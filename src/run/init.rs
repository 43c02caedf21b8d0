//! `run --init`: a small PID 1 of glassbox's own between the container and its command, as
//! docker's `--init` puts tini there.
//!
//! A program run as PID 1 that installs no handler for SIGTERM never ends on `stop`: the
//! kernel drops every signal PID 1 has no handler for. And PID 1 is the parent of every
//! orphan in the container: if it never waits, their zombies pile up. The init does both
//! jobs: it blocks every signal, forks the command, passes each signal it takes on to it,
//! reaps every child that ends, and exits as the command did (128+N if signal N ended it).
//!
//! It is glassbox itself, forked once the container is built, not glassbox's binary
//! bind-mounted at /sbin/docker-init as docker mounts tini: glassbox is linked against the
//! host's C library, which an image such as busybox does not have.

use crate::error::Result;
use crate::sys::process::Forked;
use crate::sys::reap::init_set;
use crate::sys::Sys;

/// Become the container's init: run `command` as its only child, and end with it.
pub(super) fn run(
    sys: &Sys,
    command: &[String],
    env: &[String],
) -> Result<std::convert::Infallible> {
    let n = sys.narrator;
    n.stage(
        "init",
        "--init: glassbox stays as PID 1, passes signals on to the command and reaps zombies",
    );
    let set = init_set();
    let old = sys.block_signals(
        &set,
        "hold every signal pending: PID 1 would lose those it has no handler for, a blocked one waits to be taken",
    )?;
    let pid = match sys.fork(0, "the command runs as PID 2, the init's child")? {
        Forked::Child => {
            sys.unblock_signals(
                &old,
                "the command starts with no signal blocked (a blocked mask survives execve)",
            )?;
            return sys.exec_env(
                command,
                Some(env),
                "the container's command replaces this copy of glassbox, under the init",
            );
        }
        Forked::Parent(pid) => pid,
    };
    // A detached container's narration goes to whoever ran `run -d`: that terminal or pipe
    // must not stay open for as long as the container runs.
    n.stop_if_not_stderr();
    sys.close_from(
        3,
        n.trace_fd(),
        "the init keeps no descriptor but --trace's file: the supervisor learns that the command started when the last copy of its channel closes, at the command's execve",
    )?;
    loop {
        let sig = sys.wait_signal(
            &set,
            "wait for the next signal: one from stop or kill, or SIGCHLD when a child ends",
        )?;
        if sig != libc::SIGCHLD {
            // ESRCH: the command ended just now; its SIGCHLD is on the way.
            let _ = sys.kill(pid, sig, "pass the signal on to the command");
            continue;
        }
        while let Some((child, ended)) = sys.reap(
            "collect each child that ended (orphans of the container are the init's): no zombie stays",
        )? {
            if child == pid {
                n.note(&format!(
                    "the command {}: the init ends with it, and the kernel ends what is left",
                    ended.describe()
                ));
                n.close_span();
                std::process::exit(ended.code());
            }
        }
    }
}

//! `run -d`: the container goes on in the background under a supervisor, as docker's
//! containerd-shim: a small process that stays its parent, keeps its output in a log file,
//! collects its exit status and undoes what was made for it.
//!
//! ```text
//! glassbox run -d ──fork──▶ supervisor (setsid) ──clone──▶ container PID 1 ──execve──▶ CMD
//!       ▲                        │    stdout, stderr ▶ containers/ID/log
//!       └──── Ready / Failed ─────┘    (the front prints the id, or reports the failure, and exits)
//! ```
//!
//! Both hops are the parent/child channel ([`crate::sys::channel`]). The supervisor learns
//! that the command started from the container's end, which is close-on-exec: closing
//! without a message means execve(2) succeeded; a `Failed` message says why it did not.
//! The supervisor then tells the front `Ready`, or passes the failure on: the front, at the
//! top, reports it once.

use crate::error::{Error, Result};
use crate::store::containers::Container;
use crate::sys::channel::{Channel, Message};
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What a detached container's supervisor holds.
pub struct Detached {
    /// The channel to the front (`glassbox run -d`), until it has had its one message.
    front: Option<Channel>,
    /// The container's log, opened O_APPEND: its stdout and stderr.
    log: OwnedFd,
    /// Where the supervisor's own narration goes once the front has gone.
    supervisor_log: std::path::PathBuf,
    /// The container's failure before its command started, as passed on to the front.
    failed: Option<Error>,
}

impl Detached {
    pub fn log_fd(&self) -> RawFd {
        self.log.as_raw_fd()
    }

    /// The container's failure the front was told of, for the supervisor to record.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failed.take()
    }

    /// In the supervisor: let the container go, wait for its execve (or its failure), tell
    /// the front, then stop writing to the terminal.
    pub fn report_start(
        &mut self,
        sys: &Sys,
        pid: i32,
        gate: Option<&Channel>,
        c: Option<&Container>,
    ) -> Result<()> {
        let said = match gate {
            Some(gate) => {
                // A container already dead is EPIPE here; the supervisor's wait then says how it ended.
                let _ = sys.let_go(gate);
                sys.recv_message(
                    gate,
                    "wait until the command starts (the container's end closes at its execve) or the container says why it failed",
                )?
            }
            None => None,
        };
        let message = match said {
            Some(Message::Failed(f)) => {
                self.failed = Some(f.clone().into_error());
                Message::Failed(f)
            }
            _ => {
                sys.narrator.note(&format!(
                    "the container runs (pid {pid} on the host); its output goes to {}",
                    c.map(|c| c.log_path().display().to_string())
                        .unwrap_or_default()
                ));
                Message::Ready
            }
        };
        if let Some(front) = self.front.take() {
            let _ = sys.send_message(&front, &message, "tell glassbox run -d how the start went");
        }
        // The terminal belongs to the user again: narrate into a file from here on.
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.supervisor_log)
        {
            for fd in [1, 2] {
                let _ = sys.dup2(
                    f.as_raw_fd(),
                    fd,
                    "the supervisor's own output goes to its log: the terminal is yours again",
                );
            }
        }
        Ok(())
    }
}

/// The front of `run -d`: fork the supervisor, wait until the container runs (or failed to),
/// print its id. Returns the exit code of `glassbox run -d`.
/// `supervise` is what the supervisor does with its [`Detached`] ends: run the container
/// to its end (the parent's supervise).
pub fn start(
    sys: &Sys,
    c: &Container,
    print_id: bool,
    supervise: impl FnOnce(&mut Detached) -> Result<i32>,
) -> Result<i32> {
    let log = sys.open_log(
        &c.log_path(),
        0o640,
        "the container's log: its stdout and stderr, for glassbox logs",
    )?;
    let n = sys.narrator;
    n.stage(
        "detach",
        "a supervisor stays with the container (as docker's containerd-shim) while you get your terminal back",
    );
    let (forked, front) = sys.fork_gated(
        0,
        "the supervisor: the container's parent, its log keeper, its undo",
    )?;
    match forked {
        Forked::Child => {
            let mut det = Detached {
                front,
                log: log.into(),
                supervisor_log: c.dir.join("supervisor.log"),
                failed: None,
            };
            let code = sys
                .setsid("a session of its own: closing the terminal does not end the container")
                .and_then(|_| supervise(&mut det));
            if let Err(e) = &code {
                match det.front.take() {
                    // The front still waits: it reports the failure, once.
                    Some(front) => {
                        let _ = sys.send_message(
                            &front,
                            &Message::Failed(e.into()),
                            "tell glassbox run -d why the container did not start",
                        );
                    }
                    // The front has gone: the supervisor's log keeps it.
                    None => crate::narrate::report_error(e),
                }
            }
            sys.narrator.close_span();
            std::process::exit(0)
        }
        Forked::Parent(_) => {
            let said = match &front {
                Some(front) => {
                    let _ = sys.let_go(front);
                    sys.recv_message(
                        front,
                        "wait until the container runs, or the supervisor says why it did not",
                    )?
                }
                None => None,
            };
            match said {
                Some(Message::Ready) => {
                    if print_id {
                        println!("{}", c.id());
                    }
                    Ok(0)
                }
                Some(Message::Failed(f)) => Err(f.into_error()),
                _ => Err(Error::new(
                    format!(
                        "the container {} did not start: its supervisor ended first",
                        c.name()
                    ),
                    format!(
                        "see {} and `glassbox ps -a`",
                        c.dir.join("supervisor.log").display()
                    ),
                )),
            }
        }
    }
}

//! `run -d`: the container goes on in the background under a supervisor, as docker's
//! containerd-shim: a small process that stays its parent, keeps its output in a log file,
//! collects its exit status and undoes what was made for it.
//!
//! ```text
//! glassbox run -d ──fork──▶ supervisor (setsid) ──clone──▶ container PID 1 ──execve──▶ CMD
//!       ▲                        │    stdout, stderr ▶ containers/ID/log
//!       └─ "running" / "exited N" ┘    (a pipe: the front prints the id, or the failure, and exits)
//! ```
//!
//! The supervisor learns that the command started from the channel it shares with the
//! container (see [`crate::sys::channel`]): the container's end is close-on-exec, so its
//! end closing without a message means execve(2) succeeded; a `Failed` message means the
//! container failed first, and why.

use crate::error::{Error, Result};
use crate::store::containers::Container;
use crate::sys::channel::{Channel, Message};
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What a detached container's supervisor holds.
pub struct Detached {
    /// Write end of the pipe to the front (`glassbox run -d`, which waits to print the id).
    report: Option<OwnedFd>,
    /// The container's log, opened O_APPEND: its stdout and stderr.
    log: OwnedFd,
    /// Where the supervisor's own narration goes once the front has gone.
    supervisor_log: std::path::PathBuf,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
        Error::sys(
            "cannot make a pipe",
            e,
            "check the open-file limit (ulimit -n)",
        )
    })
}

impl Detached {
    pub fn log_fd(&self) -> RawFd {
        self.log.as_raw_fd()
    }

    /// In the supervisor: let the container go, wait for its execve (or its failure, which
    /// is reported here, on the terminal, once), tell the front, then stop writing to the
    /// terminal.
    pub fn report_start(
        &mut self,
        sys: &Sys,
        pid: i32,
        gate: Option<&Channel>,
        c: Option<&Container>,
    ) -> Result<()> {
        let failed = match gate {
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
        let message = match failed {
            Some(Message::Failed(f)) => {
                let e = f.into_error();
                crate::report_child_error(&e);
                format!("exited {}", e.code)
            }
            _ => {
                sys.narrator.note(&format!(
                    "the container runs (pid {pid} on the host); its output goes to {}",
                    c.map(|c| c.log_path().display().to_string())
                        .unwrap_or_default()
                ));
                "running".to_string()
            }
        };
        if let Some(r) = self.report.take() {
            let mut f = std::fs::File::from(r);
            let _ = f.write_all(message.as_bytes());
        }
        // The terminal belongs to the user again: narrate into a file from here on.
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.supervisor_log)
        {
            unsafe {
                libc::dup2(f.as_raw_fd(), 1);
                libc::dup2(f.as_raw_fd(), 2);
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
    supervise: impl FnOnce(Detached) -> Result<i32>,
) -> Result<i32> {
    use std::os::unix::fs::OpenOptionsExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(c.log_path())
        .map_err(|e| {
            Error::io(
                format!("cannot open the container's log {}", c.log_path().display()),
                &e,
                "check that glassbox's data directory is writable and not full",
            )
        })?;
    let (report_read, report_write) = pipe()?;
    let n = sys.narrator;
    n.stage(
        "detach",
        "a supervisor stays with the container (as docker's containerd-shim) while you get your terminal back",
    );
    match sys.fork(
        0,
        "the supervisor: the container's parent, its log keeper, its undo",
    )? {
        Forked::Child => {
            drop(report_read);
            let code = (|| {
                sys.setsid(
                    "a session of its own: closing the terminal does not end the container",
                )?;
                let det = Detached {
                    report: Some(report_write),
                    log: log.into(),
                    supervisor_log: c.dir.join("supervisor.log"),
                };
                supervise(det)
            })();
            if let Err(e) = &code {
                crate::report_child_error(e);
            }
            std::process::exit(0)
        }
        Forked::Parent(_) => {
            drop(report_write);
            let mut got = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut got);
            match got.split_once(' ') {
                _ if got == "running" => {
                    if print_id {
                        println!("{}", c.id());
                    }
                    Ok(0)
                }
                Some(("exited", code)) => {
                    Ok(code.trim().parse().unwrap_or(crate::error::exit::GLASSBOX))
                }
                // The supervisor failed before the container ran: it said why, and recorded
                // the code in the state.
                _ if c.state().exit_code.is_some() => Ok(c.state().exit_code.unwrap_or(125)),
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

//! `run -d`: the container goes on in the background under a supervisor, as docker's
//! containerd-shim: a small process that stays its parent, keeps its output in a log file,
//! collects its exit status and undoes what was made for it.
//!
//! ```text
//! glassbox run -d ──fork──▶ supervisor (setsid) ──clone──▶ container PID 1 ──execve──▶ CMD
//!       ▲                        │    stdout, stderr ▶ two pipes ▶ log keeper ▶ containers/ID/log
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
use std::os::fd::AsRawFd;

/// What a detached container's supervisor holds.
pub struct Detached {
    /// The channel to the front (`glassbox run -d`), until it has had its one message.
    front: Option<Channel>,
    /// The container's log, opened O_APPEND, until the log keeper takes it.
    log: Option<std::fs::File>,
    /// The pipes to the log keeper ([`super::logger`]): the container's stdout and stderr.
    streams: Option<super::logger::Streams>,
    /// Where the supervisor's own narration goes once the front has gone.
    supervisor_log: std::path::PathBuf,
    /// The container's failure before its command started, as passed on to the front.
    failed: Option<Error>,
    /// While the container runs: the FIFO stop and rm -f wait on, and its mount namespace.
    pub(super) end: Option<super::ended::Held>,
    /// The log keeper once its log is complete, until it is reaped.
    keeper: Option<i32>,
}

impl Detached {
    /// The ends the container takes as its stdout, stderr and (-i) stdin.
    pub fn outputs(&self) -> Option<super::logger::Ends> {
        let streams = self.streams.as_ref()?;
        let (o, e) = streams.outputs.as_ref()?;
        Some(super::logger::Ends {
            stdout: o.as_raw_fd(),
            stderr: e.as_raw_fd(),
            stdin: streams.stdin.as_ref().map(|(r, _)| r.as_raw_fd()),
        })
    }

    /// -i without -t: a pipe for the container's stdin, whose other end attach clients get.
    pub fn open_stdin(&mut self, sys: &Sys) -> Result<()> {
        if let Some(s) = self.streams.as_mut() {
            s.stdin = Some(sys.pipe(
                "-i: the container's stdin, a pipe kept open by its log keeper for glassbox attach",
            )?);
        }
        Ok(())
    }

    /// The pipes for the container's stdout and stderr (and the log, reopened for a restart).
    fn make_pipes(&mut self, sys: &Sys, c: &Container) -> Result<()> {
        if self.log.is_none() {
            self.log = Some(sys.open_log(
                &c.log_path(),
                0o640,
                "the container's log: its stdout and stderr, for glassbox logs",
            )?);
        }
        self.streams = Some(super::logger::pipes(sys)?);
        Ok(())
    }

    /// The container's end is on record (its log complete): stop is woken.
    pub(super) fn recorded(&self, sys: &Sys, bridged: bool) {
        if let Some(end) = &self.end {
            end.recorded(sys, bridged);
        }
    }

    /// After a run: the pipes closed, and the log keeper's last lines written (it closes its
    /// end of `written` then; its own exit comes after, and is collected by [`Self::reap_log`]).
    pub(super) fn finish_log(&mut self, sys: &Sys) {
        self.close_outputs();
        let Some(s) = self.streams.take() else {
            return;
        };
        match (s.logger, s.written) {
            (Some(pid), Some(written)) => {
                use std::os::fd::AsRawFd;
                let fd = written.as_raw_fd();
                let why =
                    "wait for the log keeper to write the last lines (it closes its end then)";
                let _ = sys.poll_in(fd, &fd.to_string(), -1, why);
                self.keeper = Some(pid);
            }
            (Some(pid), None) => {
                let _ = sys.wait(pid, "wait for the log keeper to write the last lines");
            }
            _ => {}
        }
    }

    /// Collect the log keeper, whose log is complete: before the supervisor ends (glassbox
    /// wait waits for it) or runs the container again, after stop and rm -f are woken.
    fn reap_log(&mut self, sys: &Sys) {
        self.finish_log(sys);
        if let Some(pid) = self.keeper.take() {
            let _ = sys.wait(
                pid,
                "collect the log keeper, which has written the last lines",
            );
        }
    }

    /// Close the supervisor's copies of the pipes: the log ends when the container's do.
    fn close_outputs(&mut self) {
        if let Some(s) = self.streams.as_mut() {
            s.outputs = None;
        }
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
        console: Option<super::console::Socket>,
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
        // Bound before the front returns: glassbox attach right after run -d finds it.
        let socket = c.map(|c| c.dir.join(super::attach::SOCKET));
        let listener = match (&message, &socket) {
            (Message::Ready, Some(path)) => Some(sys.listen_unix(
                path,
                "the attach socket: glassbox attach connects here to reach the container's stdin and output",
            )?),
            _ => None,
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
        // -t: the container sent its terminal's master end before its execve.
        if let (Some(socket), Some(s)) = (console, self.streams.as_mut()) {
            drop(socket.theirs);
            s.terminal = sys
                .recv_fd(
                    &socket.ours,
                    "-t: receive the master end of the container's terminal, for the log keeper to read and attach to write",
                )
                .ok()
                .flatten();
        }
        // The container has its ends of the pipes: the log keeper reads the others.
        if let (Some(s), Some(log)) = (self.streams.as_mut(), self.log.take()) {
            s.keep(sys, log, listener.zip(socket.as_deref()))?;
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
    mut supervise: impl FnMut(&mut Detached) -> Result<i32>,
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
                log: Some(log),
                streams: None,
                supervisor_log: c.dir.join("supervisor.log"),
                failed: None,
                end: None,
                keeper: None,
            };
            let policy = super::restart::Policy::of(c);
            let mut run = || -> Result<i32> {
                sys.setsid(
                    "a session of its own: closing the terminal does not end the container",
                )?;
                let (mut restarts, mut quick) = (0, 0);
                loop {
                    det.make_pipes(sys, c)?;
                    let began = std::time::Instant::now();
                    let ended = supervise(&mut det);
                    // (Already done when the end was recorded; not on a failure's path.)
                    det.finish_log(sys);
                    // All undone: out of the store if rm -f asked, then rm -f is woken; the
                    // container's mounts go after, and its directory with them.
                    let trashed = det
                        .end
                        .as_ref()
                        .and_then(|_| super::ended::take_away(sys, c));
                    let last = trashed.is_some()
                        || ended.as_ref().map_or(true, |&code| {
                            !policy.restarts(code, restarts) || super::restart::stopped_by_user(c)
                        });
                    if let Some(end) = det.end.take() {
                        end.release(sys, trashed.as_deref(), last);
                    }
                    det.reap_log(sys);
                    let code = ended?;
                    if last {
                        return Ok(code);
                    }
                    // Docker's backoff: doubled each quick restart, reset after a 10 s run.
                    quick = if began.elapsed() >= std::time::Duration::from_secs(10) {
                        0
                    } else {
                        quick + 1
                    };
                    let wait = super::restart::delay(quick - 1);
                    sys.narrator.note(&format!(
                        "--restart: it exited with {code}; restart {} in {} ms",
                        restarts + 1,
                        wait.as_millis()
                    ));
                    let until = std::time::Instant::now() + wait;
                    while std::time::Instant::now() < until {
                        if super::restart::stopped_by_user(c) {
                            return Ok(code);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    restarts += 1;
                    let mut s = c.state();
                    s.restart_count = restarts;
                    c.save_state(&s)?;
                }
            };
            let code = run();
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
            det.reap_log(sys);
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
                        crate::outln!("{}", c.id());
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

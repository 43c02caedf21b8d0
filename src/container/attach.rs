//! `glassbox attach C`: your terminal joined to a detached container's stdin and output, as
//! docker attach. The container's log keeper listens on `attach.sock` in its directory
//! ([`crate::run::attach`]): it hands over the container's stdin (its terminal's master end
//! with -t, its stdin pipe with -i) and copies its output to us as well as to the log.
//!
//! The detach keys (Ctrl-P Ctrl-Q unless --detach-keys says otherwise) are read here, from
//! your terminal in raw mode: they let go of the container and leave it running.

use crate::cli::AttachArgs;
use crate::error::{Error, Result};
use crate::store::containers::find;
use crate::sys::Sys;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

/// The container's terminal while attached, for the SIGWINCH handler.
static MASTER: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    // Two ioctls: safe in a signal handler.
    let m = MASTER.load(Ordering::SeqCst);
    if m >= 0 {
        crate::sys::tty::copy_window_size(m);
    }
}

/// docker's default: Ctrl-P Ctrl-Q.
pub const DEFAULT_KEYS: &str = "ctrl-p,ctrl-q";

/// The bytes of a detach key sequence in docker's syntax: `ctrl-p,ctrl-q`, `ctrl-<value>`
/// (a letter or one of `@ [ \ ] ^ _`), or a single character.
pub fn parse_keys(text: &str) -> Result<Vec<u8>> {
    let bad = |k: &str| {
        Error::usage(
            format!("{k:?} is not a detach key"),
            "give keys as docker does: ctrl-p,ctrl-q — a letter, or ctrl- and a letter or one of @ [ \\ ] ^ _",
        )
    };
    text.split(',')
        .map(|k| {
            let k = k.trim();
            let ctrl = k
                .strip_prefix("ctrl-")
                .filter(|v| v.len() == 1)
                .map(|v| v.as_bytes()[0].to_ascii_lowercase());
            match (ctrl, k.as_bytes()) {
                (Some(c @ b'a'..=b'z'), _) => Ok(c - b'a' + 1),
                (Some(c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')), _) => Ok(c & 0x1f),
                (None, [c]) if c.is_ascii_graphic() => Ok(*c),
                _ => Err(bad(k)),
            }
        })
        .collect()
}

/// Watches keystrokes for the detach sequence. Bytes held as a possible start of it are
/// passed on if the sequence breaks off, as docker does.
pub struct Keys {
    seq: Vec<u8>,
    matched: usize,
}

impl Keys {
    pub fn new(seq: Vec<u8>) -> Keys {
        Keys { seq, matched: 0 }
    }

    /// The bytes to pass on, and whether the whole sequence was typed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.seq.get(self.matched) != Some(&b) {
                out.extend_from_slice(&self.seq[..self.matched]);
                self.matched = 0;
                if self.seq.first() != Some(&b) {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.seq.len() {
                self.matched = 0;
                return (out, true);
            }
        }
        (out, false)
    }
}

pub fn main(a: &AttachArgs, sys: &Sys) -> Result<i32> {
    let keys = parse_keys(a.detach_keys.as_deref().unwrap_or(DEFAULT_KEYS))?;
    let c = find(&a.container).map_err(|e| e.with_code(1))?;
    attach(sys, &c, keys, !a.no_stdin, a.sig_proxy)
}

/// Attach to `c`: returns when you detach (0) or when it ends (its exit code).
pub fn attach(
    sys: &Sys,
    c: &crate::store::containers::Container,
    keys: Vec<u8>,
    use_stdin: bool,
    sig_proxy: bool,
) -> Result<i32> {
    let Some(pid) = c.state().running_pid() else {
        return Err(Error::usage(
            format!("cannot attach to container {}: it is not running", c.name()),
            format!("start it and attach: glassbox start -a -i {}", c.name()),
        )
        .with_code(1));
    };
    if super::pause::is_paused(&crate::host::cgroups::CgroupHost::current(), c) {
        return Err(Error::usage(
            format!("cannot attach to container {}: it is paused", c.name()),
            format!("unpause it first: glassbox unpause {}", c.name()),
        )
        .with_code(1));
    }
    let n = sys.narrator;
    n.stage(
        "attach",
        &format!(
            "your terminal joined to container {} through its log keeper's socket",
            c.name()
        ),
    );
    let path = c.dir.join(crate::run::attach::SOCKET);
    let sock = sys
        .connect_unix(
            &path,
            "connect to the container's attach socket, kept by its log keeper",
        )
        .map_err(|e| {
            Error::usage(
                format!(
                    "cannot attach to container {}: it has no attach socket ({})",
                    c.name(),
                    e.what
                ),
                "only a detached container (run -d, start) can be attached: a foreground one belongs to the terminal that ran it",
            )
            .with_code(1)
        })?;
    let input = sys.recv_fd(
        &sock,
        "receive the container's stdin (SCM_RIGHTS): its terminal's master end, or its stdin pipe",
    )?;
    // In a dry run nothing was connected: the calls above are the plan.
    let joined = || session(sys, c, pid, keys, use_stdin, sig_proxy, sock, input);
    sys.compound("", joined, || 0)
}

/// The attached session itself: the container's terminal or streams joined to yours until
/// you detach (0) or it ends (its exit code).
#[allow(clippy::too_many_arguments)]
fn session(
    sys: &Sys,
    c: &crate::store::containers::Container,
    pid: i32,
    keys: Vec<u8>,
    use_stdin: bool,
    sig_proxy: bool,
    sock: OwnedFd,
    input: Option<OwnedFd>,
) -> Result<i32> {
    let n = sys.narrator;
    // Before the end can come: a --rm container's code goes with its record otherwise.
    let word = super::wait::leave_word(sys, c);
    let tty = input.as_ref().is_some_and(crate::sys::sock::is_terminal);
    if let (true, Some(m)) = (tty, &input) {
        // Its terminal gets the size of yours, now and whenever yours changes.
        crate::sys::tty::copy_window_size(m.as_raw_fd());
        MASTER.store(m.as_raw_fd(), Ordering::SeqCst);
        crate::sys::signals::catch_interrupting(libc::SIGWINCH, on_winch);
    }
    // With a terminal Ctrl-C is a key for the container's terminal; without, it is ours to pass on.
    if sig_proxy && !tty {
        crate::sys::process::forward_signals_to(pid);
    }
    let detached = Arc::new(AtomicBool::new(false));
    let input = input.filter(|_| use_stdin);
    // Raw only for a container's terminal, as docker: without -t your terminal keeps its
    // echo, line editing and Ctrl-C (which --sig-proxy passes on).
    let raw = input
        .as_ref()
        .filter(|_| tty)
        .map(|_| crate::sys::tty::raw_stdin());
    if let Some(input) = input {
        n.note(&format!(
            "attached: {} detaches and leaves it running",
            describe_keys(&keys)
        ));
        let sock = sock.try_clone().map_err(|e| {
            Error::io(
                "cannot copy the attach socket",
                &e,
                "check the limit on open files",
            )
        })?;
        let detached = detached.clone();
        // Not joined: it sits in read(0) until the next key; the process ends after.
        std::thread::spawn(move || keys_in(input, keys, &detached, sock));
    }
    frames_out(&sock);
    drop(raw);
    if detached.load(Ordering::SeqCst) {
        n.note(&format!(
            "detached from {}: it goes on running (glassbox attach {} to come back)",
            c.name(),
            c.name()
        ));
        return Ok(0);
    }
    // The container ended: its exit code, as docker attach returns it.
    super::wait::wait_for_end_with(sys, c, word.as_ref())
}

fn describe_keys(keys: &[u8]) -> String {
    keys.iter()
        .map(|&k| match k {
            1..=26 => format!("Ctrl-{}", (b'A' + k - 1) as char),
            0..=31 => format!("Ctrl-{}", (k | 0x40) as char),
            _ => (k as char).to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Your keystrokes to the container's stdin, until the detach keys (then the socket is shut,
/// which ends [`frames_out`]) or the end of your input.
fn keys_in(input: OwnedFd, keys: Vec<u8>, detached: &AtomicBool, sock: OwnedFd) {
    let mut to = std::fs::File::from(input);
    let mut keys = Keys::new(keys);
    let mut buf = [0u8; 4096];
    let mut stdin = std::io::stdin();
    loop {
        let n = match stdin.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (pass, detach) = keys.feed(&buf[..n]);
        if !pass.is_empty() && to.write_all(&pass).is_err() {
            return;
        }
        if detach {
            detached.store(true, Ordering::SeqCst);
            crate::sys::sock::wake(sock.as_raw_fd());
            return;
        }
    }
}

/// The container's output, in frames from its log keeper, to our stdout and stderr, until
/// the keeper closes (the container ended) or we detach.
fn frames_out(sock: &OwnedFd) {
    let Ok(sock) = sock.try_clone() else {
        return;
    };
    let mut from = std::io::BufReader::new(std::fs::File::from(sock));
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut head = [0u8; 5];
    let mut data = Vec::new();
    while from.read_exact(&mut head).is_ok() {
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        data.resize(len, 0);
        if from.read_exact(&mut data).is_err() {
            return;
        }
        let to: &mut dyn Write = if head[0] == 2 { &mut err } else { &mut out };
        if to.write_all(&data).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_as_docker_writes_them() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_keys("ctrl-x").unwrap(), vec![24]);
        assert_eq!(parse_keys("ctrl-@,a,ctrl-_").unwrap(), vec![0, b'a', 31]);
        assert!(parse_keys("ctrl-1").is_err());
        assert!(parse_keys("ctrl-pp").is_err());
        assert_eq!(describe_keys(&[16, 17]), "Ctrl-P Ctrl-Q");
    }

    #[test]
    fn a_broken_off_sequence_is_passed_on() {
        let mut k = Keys::new(vec![16, 17]);
        assert_eq!(k.feed(b"ab\x10c"), (b"ab\x10c".to_vec(), false));
        assert_eq!(k.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(k.feed(b"\x11"), (Vec::new(), true));
        assert_eq!(k.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }
}

//! A detached container's log keeper: its stdout and stderr are two pipes, and a small
//! process of the supervisor's reads both and writes each line to the log with the time it
//! came and the stream it came on, in the CRI log format that containerd and the kubelet
//! use (docker's json-file driver keeps the same three facts as JSON):
//!
//! ```text
//! 2026-12-06T14:20:00.123456789Z stdout F hello
//! 2026-12-06T14:20:00.123500000Z stderr F oops
//! ```
//!
//! `F` is a full line (its newline was cut off); `P` a part of one (a line longer than the
//! buffer, or the last bytes before the end without a newline). So `glassbox logs` can give
//! each line back on the stream it was written to, and filter by time.

use crate::error::Result;
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A line longer than this is written as parts.
const MAX_LINE: usize = 16 * 1024;

/// The two pipes: the container's ends (its stdout and stderr), and the log keeper's.
pub struct Streams {
    /// (stdout, stderr) write ends, until the supervisor closes its copies.
    pub outputs: Option<(OwnedFd, OwnedFd)>,
    /// (stdout, stderr) read ends, until the log keeper takes them.
    inputs: Option<(OwnedFd, OwnedFd)>,
    /// -i without -t: the container's stdin, a pipe (read end, write end). The keeper keeps
    /// the write end for attach clients, so the container's stdin stays open between them.
    pub stdin: Option<(OwnedFd, OwnedFd)>,
    /// -t: the master end of the container's terminal, once it sent it: its output is read
    /// from it, and attach clients write their keys to it.
    pub terminal: Option<OwnedFd>,
    /// The log keeper, once forked.
    pub logger: Option<i32>,
    /// The read end of a pipe whose write end only the log keeper holds, and closes once it
    /// has written the last line: the end of file says the log is complete, before the log
    /// keeper's own exit (its threads joined, its memory unmapped) is over.
    pub written: Option<OwnedFd>,
}

/// The descriptors the container takes as its stdout, stderr and (-i) stdin.
pub struct Ends {
    pub stdout: std::os::fd::RawFd,
    pub stderr: std::os::fd::RawFd,
    pub stdin: Option<std::os::fd::RawFd>,
}

/// Make the two pipes, before the container is cloned with their write ends.
pub fn pipes(sys: &Sys) -> Result<Streams> {
    let (out_r, out_w) = sys.pipe("the container's stdout: a pipe to the log keeper")?;
    let (err_r, err_w) =
        sys.pipe("its stderr: a pipe of its own, so the log knows which stream each line came on")?;
    Ok(Streams {
        outputs: Some((out_w, err_w)),
        inputs: Some((out_r, err_r)),
        stdin: None,
        terminal: None,
        logger: None,
        written: None,
    })
}

impl Streams {
    /// Once the container holds its ends (and the supervisor's own output has left the
    /// terminal, which the log keeper must not hold either): close the supervisor's write
    /// ends and fork the log keeper, which appends to `log` until every writer has closed
    /// them (the container and all it started have ended).
    /// It also serves `glassbox attach` on `listener`, bound at `socket` ([`super::attach`]).
    pub fn keep(
        &mut self,
        sys: &Sys,
        log: std::fs::File,
        attach: Option<(OwnedFd, &Path)>,
    ) -> Result<()> {
        self.outputs = None;
        let Some((out_r, err_r)) = self.inputs.take() else {
            return Ok(());
        };
        // The container has the read end of its stdin; the keeper keeps the other.
        let stdin = self.stdin.take().map(|(_, w)| w);
        // -t: the output is the terminal's, read from its master (the pipe stays unused).
        let (out_r, stdin) = match self.terminal.take() {
            Some(m) => (m.try_clone().unwrap_or(out_r), Some(m)),
            None => (out_r, stdin),
        };

        // If no pipe can be made, the supervisor waits for the log keeper's exit instead.
        let (written, last_line) = sys
            .pipe(
                "the log keeper closes its end once the last line is written: the log is complete",
            )
            .ok()
            .unzip();
        match sys.fork(
            0,
            "the log keeper: it stamps each line with the time and the stream, and appends it to the log",
        )? {
            Forked::Child => {
                drop(written);
                crate::sys::signals::ignore(&[
                    libc::SIGINT,
                    libc::SIGTERM,
                    libc::SIGHUP,
                    libc::SIGPIPE,
                ]);
                let log = Arc::new(Mutex::new(log));
                let clients = super::attach::Clients::default();
                let l = attach.as_ref().map(|(l, _)| l.as_raw_fd());
                let copier = {
                    let clients = clients.clone();
                    std::thread::spawn(move || {
                        let other = {
                            let (log, clients) = (log.clone(), clients.clone());
                            std::thread::spawn(move || copy(err_r, 2, &log, &clients))
                        };
                        copy(out_r, 1, &log, &clients);
                        let _ = other.join();
                        drop(last_line);
                        // The container's output has ended: no more clients.
                        if let Some(l) = l {
                            crate::sys::sock::wake(l);
                        }
                    })
                };
                if let Some((listener, _)) = &attach {
                    super::attach::serve(sys, listener, stdin.as_ref(), &clients);
                }
                let _ = copier.join();
                if let Some((_, socket)) = attach {
                    let _ = std::fs::remove_file(socket);
                }
                crate::sys::signals::exit_now(0)
            }
            Forked::Parent(pid) => {
                drop(last_line);
                self.logger = Some(pid);
                self.written = written;
                Ok(())
            }
        }
    }
}

/// Read one stream (1 stdout, 2 stderr) to its end, writing each line to the log as it
/// completes, and passing what comes to the attached clients at once.
fn copy(from: OwnedFd, id: u8, log: &Mutex<std::fs::File>, clients: &super::attach::Clients) {
    let stream = if id == 1 { "stdout" } else { "stderr" };
    let mut from = std::fs::File::from(from);
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        clients.send(id, &buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' {
                write(log, stream, 'F', &line);
                line.clear();
            } else {
                line.push(b);
                if line.len() == MAX_LINE {
                    write(log, stream, 'P', &line);
                    line.clear();
                }
            }
        }
    }
    if !line.is_empty() {
        write(log, stream, 'P', &line);
    }
}

fn write(log: &Mutex<std::fs::File>, stream: &str, tag: char, text: &[u8]) {
    let mut entry = format!("{} {stream} {tag} ", timestamp(now_nanos())).into_bytes();
    entry.extend_from_slice(text);
    entry.push(b'\n');
    // One write(2) per entry on an O_APPEND file: the two streams' lines never mix.
    if let Ok(mut f) = log.lock() {
        let _ = f.write_all(&entry);
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// RFC 3339 with nanoseconds, in UTC, as docker logs -t prints times.
pub fn timestamp(nanos: u128) -> String {
    let secs = (nanos / 1_000_000_000) as u64;
    let whole = crate::clock::rfc3339(secs);
    format!(
        "{}.{:09}Z",
        whole.trim_end_matches('Z'),
        nanos % 1_000_000_000
    )
}

/// One entry of the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Nanoseconds since the epoch; None for a line of a log from before streams were kept.
    pub time: Option<u128>,
    pub time_text: &'a str,
    pub stderr: bool,
    /// Whether the line ended in a newline.
    pub full: bool,
    pub text: &'a [u8],
}

/// Read one line of the log (without its newline). A line not in the format (a log
/// written before streams were kept apart) is a full stdout line without a time.
pub fn parse(line: &[u8]) -> Entry<'_> {
    let plain = Entry {
        time: None,
        time_text: "",
        stderr: false,
        full: true,
        text: line,
    };
    let mut parts = line.splitn(4, |b| *b == b' ');
    let (Some(t), Some(s), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return plain;
    };
    let text = parts.next().unwrap_or(b"");
    let (Ok(t), stderr, full) = (std::str::from_utf8(t), s == b"stderr", tag == b"F") else {
        return plain;
    };
    let Some(time) = parse_time(t) else {
        return plain;
    };
    if !(s == b"stdout" || stderr) || !(full || tag == b"P") {
        return plain;
    }
    Entry {
        time: Some(time),
        time_text: t,
        stderr,
        full,
        text,
    }
}

/// Nanoseconds since the epoch from RFC 3339 in UTC (`2026-12-06T14:20:00[.123]Z`).
pub fn parse_time(t: &str) -> Option<u128> {
    let body = t.strip_suffix('Z')?;
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 19 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |a: usize, b: usize| whole.get(a..b)?.parse::<u32>().ok();
    let (mo, d, h, mi, s) = (
        field(5, 7)?,
        field(8, 10)?,
        field(11, 13)?,
        field(14, 16)?,
        field(17, 19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = crate::clock::parse_rfc3339(whole)?;
    let nanos = format!("{frac:0<9}").parse::<u128>().ok()?;
    Some(u128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let t = timestamp(1_765_030_800_123_456_789);
        assert_eq!(t, "2025-12-06T14:20:00.123456789Z");
        assert_eq!(parse_time(&t), Some(1_765_030_800_123_456_789));
        let line = format!("{t} stderr F oops: a b");
        let e = parse(line.as_bytes());
        assert!(e.stderr && e.full);
        assert_eq!(e.text, b"oops: a b");
        assert_eq!(e.time, Some(1_765_030_800_123_456_789));
        let part = format!("{t} stdout P");
        let e = parse(part.as_bytes());
        assert!(!e.stderr && !e.full && e.text.is_empty());
        // A log from before streams were kept: stdout lines without a time.
        let e = parse(b"hello world out there");
        assert_eq!(
            (e.time, e.stderr, e.text),
            (None, false, &b"hello world out there"[..])
        );
    }
}

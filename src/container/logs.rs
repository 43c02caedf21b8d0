//! `glassbox logs`: what a detached container wrote, from its log file. The log keeper
//! ([`crate::run::logger`]) stamped each line with its time and stream: stdout lines come
//! back on stdout and stderr lines on stderr (so `2>/dev/null` hides the errors), and
//! --since, --until and -t read the times.

use crate::cli::LogsArgs;
use crate::error::{Error, Result};
use crate::run::logger::{self, Entry};
use crate::store::containers::{find, Status};
use std::io::{Read, Seek, Write};

/// A time as docker logs takes it, in nanoseconds since the epoch: RFC 3339
/// (`2026-12-06T14:20:00Z`, with or without fraction or `Z`, or a date alone), a unix time
/// (`1765030800`, `1765030800.5`), or a while before `now` (`10m`, `1h30m`, `90s`, `500ms`).
pub fn parse_since(s: &str, now: u128) -> Result<u128> {
    let bad = || {
        Error::usage(
            format!("{s:?} is not a time"),
            "give 2026-12-06T14:20:00Z, a unix time such as 1765030800, or a while ago such as 10m or 1h30m",
        )
    };
    if let Some(d) = crate::clock::parse_duration_ns(s) {
        return Ok(now.saturating_sub(d));
    }
    if let Some((whole, frac)) = s.split_once('.').or(Some((s, ""))) {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if digits(whole) && (frac.is_empty() || digits(frac)) && frac.len() <= 9 {
            let secs: u128 = whole.parse().map_err(|_| bad())?;
            let nanos: u128 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
            return Ok(secs * 1_000_000_000 + nanos);
        }
    }
    let full = match s.len() {
        10 => format!("{s}T00:00:00Z"),
        _ if s.ends_with('Z') => s.to_string(),
        _ => format!("{s}Z"),
    };
    logger::parse_time(&full).ok_or_else(bad)
}

/// Which entries are shown, and how.
struct Show {
    since: Option<u128>,
    until: Option<u128>,
    timestamps: bool,
}

impl Show {
    fn wants(&self, e: &Entry) -> bool {
        match e.time {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            // A line from before times were kept: shown only when no time is asked about.
            None => self.since.is_none() && self.until.is_none(),
        }
    }
}

/// Writes each entry on its own stream, in the order written.
struct Out {
    stdout: std::io::BufWriter<std::io::Stdout>,
    stderr: std::io::BufWriter<std::io::Stderr>,
    last_err: bool,
}

impl Out {
    fn new() -> Out {
        Out {
            stdout: std::io::BufWriter::new(std::io::stdout()),
            stderr: std::io::BufWriter::new(std::io::stderr()),
            last_err: false,
        }
    }

    fn write(&mut self, e: &Entry, timestamps: bool) -> std::io::Result<()> {
        if e.stderr != self.last_err {
            // The other stream's lines first, so a terminal shows them in order.
            self.flush()?;
            self.last_err = e.stderr;
        }
        let w: &mut dyn Write = if e.stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        if timestamps && !e.time_text.is_empty() {
            write!(w, "{} ", e.time_text)?;
        }
        w.write_all(e.text)?;
        if e.full {
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stdout.flush()?;
        self.stderr.flush()
    }
}

/// The complete lines of `text` (each without its newline), and how many bytes they take.
fn lines(text: &[u8]) -> (Vec<&[u8]>, usize) {
    match text.iter().rposition(|b| *b == b'\n') {
        Some(last) => (text[..last].split(|b| *b == b'\n').collect(), last + 1),
        None => (Vec::new(), 0),
    }
}

pub fn main(a: &LogsArgs) -> Result<i32> {
    let now = logger::now_nanos();
    let show = Show {
        since: a
            .since
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?,
        timestamps: a.timestamps,
    };
    let c = find(&a.container).map_err(|e| e.with_code(1))?;
    let path = c.log_path();
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "glassbox: {} has no log: it ran in the foreground, so its output went to the terminal (run -d keeps a log)",
                c.name()
            );
            return Ok(0);
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot read the log {}", path.display()),
                &e,
                "run glassbox logs as root",
            )
            .with_code(1))
        }
    };
    let mut all = Vec::new();
    let _ = f.read_to_end(&mut all);
    let (found, used) = lines(&all);
    let entries: Vec<Entry> = found
        .into_iter()
        .map(logger::parse)
        .filter(|e| show.wants(e))
        .collect();
    let skip = a.tail.map_or(0, |n| entries.len().saturating_sub(n));
    let mut out = Out::new();
    for e in &entries[skip..] {
        if out.write(e, show.timestamps).is_err() {
            return Ok(0); // the reader went away (| head)
        }
    }
    let _ = out.flush();
    if !a.follow {
        return Ok(0);
    }
    // Follow: print what is appended until the container has ended and all is read.
    let mut pos = used as u64;
    let mut carry = Vec::new();
    loop {
        let running = may_grow(&c);
        let mut more = Vec::new();
        if f.seek(std::io::SeekFrom::Start(pos)).is_ok() {
            let _ = f.read_to_end(&mut more);
        }
        if !more.is_empty() {
            pos += more.len() as u64;
            carry.extend_from_slice(&more);
            let (found, used) = lines(&carry);
            for e in found.into_iter().map(logger::parse) {
                if show.wants(&e) && out.write(&e, show.timestamps).is_err() {
                    return Ok(0);
                }
            }
            if out.flush().is_err() {
                return Ok(0);
            }
            carry.drain(..used);
        } else if !running {
            return Ok(0);
        } else {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// What `c` wrote from `since` until `until` (nanoseconds since the epoch), on its own
/// streams: for `start -a`, what the container wrote before it could attach.
pub fn print_between(c: &crate::store::containers::Container, since: u128, until: Option<u128>) {
    let Ok(all) = std::fs::read(c.log_path()) else {
        return;
    };
    let show = Show {
        since: Some(since),
        until,
        timestamps: false,
    };
    let mut out = Out::new();
    for e in lines(&all).0.into_iter().map(logger::parse) {
        if show.wants(&e) && out.write(&e, false).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Whether `c`'s log may still grow: it runs, or its PID 1 has ended but its supervisor
/// has not recorded it yet (the log keeper may still be writing the last lines; the log
/// is complete once the end is on record).
fn may_grow(c: &crate::store::containers::Container) -> bool {
    let s = c.state();
    s.effective() == Status::Running
        || (s.status == Status::Running && s.supervisor.is_some_and(|o| o.is_alive()))
}

/// What `c` writes from `since` on, as it writes it, until it has ended: `start -a`
/// without -i, which so misses nothing written before an attach could have joined.
pub fn follow_since(c: &crate::store::containers::Container, since: u128) {
    let show = Show {
        since: Some(since),
        until: None,
        timestamps: false,
    };
    let mut out = Out::new();
    let (mut pos, mut carry) = (0u64, Vec::new());
    loop {
        let running = may_grow(c);
        let mut more = Vec::new();
        if let Ok(mut f) = std::fs::File::open(c.log_path()) {
            if f.seek(std::io::SeekFrom::Start(pos)).is_ok() {
                let _ = f.read_to_end(&mut more);
            }
        }
        if more.is_empty() {
            if !running {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        pos += more.len() as u64;
        carry.extend_from_slice(&more);
        let (found, used) = lines(&carry);
        for e in found.into_iter().map(logger::parse) {
            if show.wants(&e) && out.write(&e, false).is_err() {
                return;
            }
        }
        if out.flush().is_err() {
            return;
        }
        carry.drain(..used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_docker_logs_reads_them() {
        let now = 1_765_030_800_000_000_000u128;
        assert_eq!(parse_since("10m", now).unwrap(), now - 600_000_000_000);
        assert_eq!(parse_since("1h30m", now).unwrap(), now - 5_400_000_000_000);
        assert_eq!(parse_since("500ms", now).unwrap(), now - 500_000_000);
        assert_eq!(parse_since("1765030800", 0).unwrap(), now);
        assert_eq!(parse_since("1765030800.5", 0).unwrap(), now + 500_000_000);
        assert_eq!(parse_since("2025-12-06T14:20:00Z", 0).unwrap(), now);
        assert_eq!(parse_since("2025-12-06T14:20:00", 0).unwrap(), now);
        assert_eq!(
            parse_since("2025-12-06", 0).unwrap(),
            now - (14 * 3600 + 20 * 60) * 1_000_000_000
        );
        for bad in ["", "yesterday", "10x", "2025-13-06T99:00:00Z"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.what.contains("is not a time"), "{bad:?}");
        }
    }

    #[test]
    fn only_complete_lines_are_taken() {
        assert_eq!(lines(b"a\nb\nc"), (vec![&b"a"[..], b"b"], 4));
        assert_eq!(lines(b"partial"), (vec![], 0));
        assert_eq!(lines(b"a\n\n"), (vec![&b"a"[..], b""], 3));
    }
}

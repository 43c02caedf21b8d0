//! `glassbox logs`: what a detached container wrote, from its log file.

use crate::cli::LogsArgs;
use crate::error::{Error, Result};
use crate::store::containers::{find, Status};
use std::io::{Read, Seek, Write};

/// The last `n` lines of `text` (all of it when it has fewer).
fn tail(text: &[u8], n: usize) -> &[u8] {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut cut = 0;
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                cut = i + 1;
                break;
            }
        }
    }
    if n == 0 {
        return &text[text.len()..];
    }
    &text[cut..]
}

pub fn main(a: &LogsArgs) -> Result<i32> {
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
    let mut out = std::io::stdout().lock();
    let shown = match a.tail {
        Some(n) => tail(&all, n),
        None => &all,
    };
    let _ = out.write_all(shown);
    let _ = out.flush();
    if !a.follow {
        return Ok(0);
    }
    // Follow: print what is appended until the container has ended and all is read.
    let mut pos = all.len() as u64;
    loop {
        let running = c.state().effective() == Status::Running;
        let mut more = Vec::new();
        if f.seek(std::io::SeekFrom::Start(pos)).is_ok() {
            let _ = f.read_to_end(&mut more);
        }
        if !more.is_empty() {
            pos += more.len() as u64;
            if out.write_all(&more).and_then(|()| out.flush()).is_err() {
                return Ok(0); // the reader went away (| head)
            }
        } else if !running {
            return Ok(0);
        } else {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc\n", 5), b"a\nb\nc\n");
        assert_eq!(tail(b"a\nb\nc", 1), b"c");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }
}

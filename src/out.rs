//! The command's own output on stdout (the ids, names and reports a script reads), printed
//! so that a reader that has gone cannot stop the work.
//!
//! Commands that hold something on the host ignore SIGPIPE (see `ends_on_closed_pipe`), so a
//! closed stdout is EPIPE on write, and println! would panic there, skipping every Drop and
//! every container still to do (`glassbox rm a b c | true` removed only a). Here EPIPE only
//! ends the printing: the command goes on and exits with its own status.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Set once stdout failed: nothing more is printed.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Print one line to stdout (through [`outln!`](crate::outln)).
pub fn line(args: std::fmt::Arguments) {
    if STDOUT_GONE.load(Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        STDOUT_GONE.store(true, Relaxed);
        // A reader that went away is the user's choice; any other failure is said once.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(
                crate::narrate::narration_out(),
                "glassbox: could not print to stdout ({e}); the command goes on without it"
            );
        }
    }
}

/// println! for a command's output: a closed stdout ends the printing, not the command.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

/// Print lines to stdout a screenful at a time: one write(2) per 8 KiB, where println! on
/// Rust's line-buffered stdout makes one per line. A reader that went away (`| head`) ends
/// the printing quietly.
pub fn print_lines<L: std::fmt::Display>(lines: impl IntoIterator<Item = L>) {
    let mut out = std::io::BufWriter::with_capacity(8192, std::io::stdout().lock());
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Print rows as columns, each as wide as its widest cell plus three spaces (as docker's
/// tabwriter does).
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    print_lines(rows.iter().map(|r| {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        line.trim_end().to_string()
    }));
}

/// docker's sizes: decimal units, three significant digits (`2.05MB`, `13kB`, `8B`).
pub fn docker_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(docker_size(8), "8B");
        assert_eq!(docker_size(1982256), "1.98MB");
        assert_eq!(docker_size(2_000_000), "2MB");
        assert_eq!(docker_size(13_000), "13kB");
        assert_eq!(docker_size(123_456_789), "123MB");
    }
}

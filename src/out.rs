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

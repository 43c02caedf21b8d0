//! `glassbox kill [-s SIG] C…`: one signal to each container's PID 1, as docker kill. The
//! default is SIGKILL, the one signal PID 1 cannot ignore; any other reaches it only if it
//! installed a handler for it (a PID 1 ignores every signal it has no handler for).

use crate::cli::KillArgs;
use crate::error::{Error, Result};
use crate::store::containers::Container;
use crate::sys::Sys;

pub use crate::sys::signals::parse_signal;

fn kill(sys: &Sys, c: &Container, sig: libc::c_int) -> Result<()> {
    let Some(pid) = c.state().running_pid() else {
        return Err(Error::usage(
            format!("cannot kill container {}: it is not running", c.name()),
            "`glassbox ps -a` shows its state",
        )
        .with_code(1));
    };
    // Killed by you: its supervisor does not run it again (--restart), as docker.
    crate::run::restart::mark_stopped(sys, c);
    sys.narrator.stage(
        "kill",
        &format!("signal container {} (pid {pid} on the host)", c.name()),
    );
    sys.kill(
        pid,
        sig,
        "send the signal to the container's PID 1 (it acts on it only if it has a handler, unless it is SIGKILL or SIGSTOP)",
    )
}

pub fn main(a: &KillArgs, sys: &Sys) -> Result<i32> {
    let sig = parse_signal(&a.signal)?;
    super::each::each("kill", &a.containers, |c| kill(sys, &c, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_read_by_name_or_number_as_docker_kill_reads_them() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("usr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("15").unwrap(), libc::SIGTERM);
        for bad in ["FOO", "0", "999", "", "-9"] {
            let e = parse_signal(bad).unwrap_err();
            assert!(e.what.contains("is not a signal"), "{bad:?}");
        }
    }
}

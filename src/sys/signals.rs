//! Signal dispositions of glassbox's own process: what it does on Ctrl-C while it holds
//! something to undo. They change nothing outside this process, so they are not narrated.

/// Run `handler` for each of `signals` (restarting interrupted calls).
pub fn catch(signals: &[libc::c_int], handler: extern "C" fn(libc::c_int)) {
    for &sig in signals {
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The kernel's default for each of `signals` again.
pub fn default(signals: &[libc::c_int]) {
    for &sig in signals {
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Ignore each of `signals`.
pub fn ignore(signals: &[libc::c_int]) {
    for &sig in signals {
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// Run `handler` for `signal` without SA_RESTART: a blocking read returns EINTR, so the
/// reader sees the signal at once (the terminal relay passes on a new window size).
pub fn catch_interrupting(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signal, &sa, std::ptr::null_mut());
    }
}

/// End this process at once with `code`, without running exit handlers or flushing
/// buffers (a forked helper whose work is done).
pub fn exit_now(code: libc::c_int) -> ! {
    unsafe { libc::_exit(code) }
}

/// A signal as docker kill takes it: a name (KILL, SIGKILL, usr1) or a number (9).
pub fn parse_signal(s: &str) -> crate::error::Result<libc::c_int> {
    let max = libc::SIGRTMAX();
    let by_number = s
        .parse::<libc::c_int>()
        .ok()
        .filter(|n| (1..=max).contains(n));
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    let by_name = <nix::sys::signal::Signal as std::str::FromStr>::from_str(&name)
        .ok()
        .map(|s| s as libc::c_int);
    by_number.or(by_name).or_else(|| realtime(&name)).ok_or_else(|| {
        crate::error::Error::usage(
            format!("{s:?} is not a signal"),
            format!("give a name such as TERM, KILL, HUP or USR1, or a number from 1 to {max} (`kill -l` lists them)"),
        )
    })
}

/// A real-time signal by docker's names: `SIGRTMIN`, `SIGRTMIN+N`, `SIGRTMAX`, `SIGRTMAX-N`
/// (systemd images stop on SIGRTMIN+3).
fn realtime(name: &str) -> Option<libc::c_int> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let n = if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        min + offset(rest, '+')?
    } else {
        max - offset(name.strip_prefix("SIGRTMAX")?, '-')?
    };
    (min..=max).contains(&n).then_some(n)
}

/// `""` is 0; `+3` (or `-3` for SIGRTMAX) is 3.
fn offset(rest: &str, sign: char) -> Option<libc::c_int> {
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix(sign)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_signals_go_by_dockers_names() {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), min + 3);
        assert_eq!(parse_signal("rtmin").unwrap(), min);
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), max - 1);
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert!(parse_signal("SIGRTMIN+99").is_err());
        assert!(parse_signal("SIGRTMIN-1").is_err());
    }
}

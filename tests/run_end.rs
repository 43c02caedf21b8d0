//! What a quiet foreground `run --rm` leaves when it returns: its output whole (no descriptor
//! of the caller's held past glassbox's exit) and no process. Its container's mount
//! namespace is let go by a helper after glassbox has answered (src/sys/holder.rs); that
//! helper must end on its own once glassbox has gone.

mod common;
use common::containers::Env;
use common::*;
use std::time::{Duration, Instant};

/// Set in the copy of this test binary that runs as the subreaper.
const AS_SUBREAPER: &str = "GLASSBOX_TEST_RUN_END_SUBREAPER";

#[test]
fn a_quiet_rm_run_returns_its_output_and_leaves_no_process_behind() {
    if std::env::var_os(AS_SUBREAPER).is_some() {
        return runs_as_subreaper();
    }
    if !root_or_skip("a_quiet_rm_run_returns_its_output_and_leaves_no_process_behind") {
        return;
    }
    // In a process of its own: orphans come to a subreaper, and this test binary's other
    // tests must not see (or reap) them.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_quiet_rm_run_returns_its_output_and_leaves_no_process_behind",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(AS_SUBREAPER, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("every process glassbox left ended"), "{text}");
}

/// `cmd`'s output, read to its end: a panic if the end does not come within `limit` (a
/// process still holding the pipes after glassbox exited).
fn output_within(mut cmd: std::process::Command, limit: Duration) -> std::process::Output {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(cmd.output());
    });
    match receive.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("glassbox's output did not end within {limit:?}: a process holds it"),
    }
}

/// Run glassbox four times as a subreaper: each run's output is whole and glassbox
/// exits 0 (or with its command's status); whatever process it left ends within 10 s.
fn runs_as_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let env = Env::new();
    for (cmd, status, said) in [
        ("echo one; echo two", 0, "one\ntwo\n"),
        ("echo three; exit 3", 3, "three\n"),
        ("true", 0, ""),
        // Its network namespace, made by a helper beside glassbox's start: lo up in it.
        (
            "cat /sys/class/net/lo/flags; ls /sys/class/net",
            0,
            "0x9\nlo\n",
        ),
    ] {
        let mut run = env.cmd();
        run.args(["-q", "run", "--rm", "busybox", "sh", "-c", cmd]);
        let out = output_within(run, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(status), "{}", stderr(&out));
        assert_eq!(stdout(&out), said);
    }
    // Reap what was left to this process until nothing is: never longer than 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = 0;
    loop {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() > deadline => {
                // Failed: the machine is left as it was found all the same.
                let stuck = children();
                for pid in &stuck {
                    let _ = nix::sys::signal::kill(*pid, nix::sys::signal::SIGKILL);
                }
                panic!("processes glassbox left have not ended after 10 s: {stuck:?}");
            }
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
            Ok(_) => left += 1,
            Err(nix::errno::Errno::ECHILD) => break,
            Err(e) => panic!("waitpid: {e}"),
        }
    }
    // Each run left its helper to this process (a run makes one): none was kept alive.
    assert!(
        left >= 1,
        "no process glassbox left came here: nothing was tested"
    );
    env.assert_clean();
    println!("every process glassbox left ended ({left} reaped here)");
}

/// This process's children, from /proc.
fn children() -> Vec<nix::unistd::Pid> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid …: the comm may hold spaces, so split after its ')'.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            (ppid == me).then_some(nix::unistd::Pid::from_raw(pid))
        })
        .collect()
}

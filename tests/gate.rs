//! The gate a forked child waits at: it goes on only when its parent lets it go, never
//! because its parent died (a container nobody watches must not start).

use glassbox::narrate::Narrator;
use glassbox::sys::process::Forked;
use glassbox::sys::Sys;
use std::time::{Duration, Instant};

#[test]
fn a_child_whose_parent_dies_at_the_gate_does_not_go_on() {
    let dir = tempfile::tempdir().unwrap();
    for (parent_lets_go, expect) in [(true, true), (false, false)] {
        let marker = dir.path().join(format!("went-on-{parent_lets_go}"));
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // A stands for glassbox: it forks the gated child B, then lets it go, or dies
        // without doing so (as a SIGKILL would: no destructor runs).
        let a = unsafe { libc::fork() };
        if a == 0 {
            let narrator = Narrator::silent();
            let sys = Sys::new(&narrator);
            match sys.fork_gated(0, "the gated child") {
                Ok((Forked::Child, _)) => {
                    let _ = std::fs::write(&marker, "B went on");
                    unsafe { libc::_exit(0) }
                }
                Ok((Forked::Parent(b), gate)) => {
                    let _ = unsafe { libc::write(fds[1], (&b as *const i32).cast(), 4) };
                    if parent_lets_go {
                        let _ = sys.let_go(gate.as_ref().unwrap());
                        drop(gate);
                    } else {
                        std::mem::forget(gate);
                    }
                    unsafe { libc::_exit(0) }
                }
                Err(_) => unsafe { libc::_exit(1) },
            }
        }
        unsafe { libc::close(fds[1]) };
        let mut b: i32 = 0;
        assert_eq!(
            unsafe { libc::read(fds[0], (&mut b as *mut i32).cast(), 4) },
            4
        );
        let mut status = 0;
        unsafe { libc::waitpid(a, &mut status, 0) };
        // B is an orphan now: wait until it has ended (a zombie counts as ended).
        let start = Instant::now();
        while std::fs::read_to_string(format!("/proc/{b}/stat")).is_ok_and(|s| !s.contains(") Z "))
        {
            assert!(start.elapsed() < Duration::from_secs(10), "B never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(marker.exists(), expect, "parent let go: {parent_lets_go}");
    }
}

#[test]
fn a_child_that_fails_tells_its_parent_why_and_the_parent_gets_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let verdict = dir.path().join("verdict");
    // A stands for glassbox, in a process of its own (the test harness has threads).
    let a = unsafe { libc::fork() };
    if a == 0 {
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let code = match sys.fork_gated(0, "the gated child") {
            Ok((Forked::Child, gate)) => {
                let e = glassbox::error::Error::sys(
                    "chdir(\"/missing\") failed",
                    nix::errno::Errno::ENOENT,
                    "give a directory that exists",
                )
                .with_code(126);
                sys.fail_to_parent(gate.as_ref(), &e)
            }
            Ok((Forked::Parent(b), gate)) => {
                let ended = sys.wait_releasing(b, gate.as_ref(), "wait").unwrap();
                let first = sys.child_failure(gate.as_ref());
                let second = sys.child_failure(gate.as_ref());
                let said = match (first, second) {
                    (Some(e), None) => {
                        format!("{} {:?} {} {}", ended.code(), e.errno, e.code, e.todo)
                    }
                    (f, s) => format!("first {f:?}, second {s:?}"),
                };
                let _ = std::fs::write(&verdict, said);
                0
            }
            Err(_) => 1,
        };
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    unsafe { libc::waitpid(a, &mut status, 0) };
    assert_eq!(
        std::fs::read_to_string(&verdict).unwrap(),
        "126 Some(ENOENT) 126 give a directory that exists"
    );
}

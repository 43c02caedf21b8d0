//! What `run`'s child does between the clone and the execve: only what the parent could not
//! do for it. It reads nothing the parent had read before the clone (the child is a fork and
//! keeps it), resolves every mount target from one descriptor of its root, and installs
//! one seccomp filter.

mod common;
use common::*;

#[test]
fn the_child_reads_nothing_the_parent_knew_and_opens_its_root_once() {
    if !root_or_skip("child_calls") || !tool_or_skip("child_calls", "strace") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let before = host_state();
    let warm = glassbox()
        .env("GLASSBOX_STATE_DIR", state.path())
        .args(["-q", "run", "--rm", "busybox", "true"])
        .output()
        .unwrap();
    assert!(warm.status.success(), "{}", stderr(&warm));
    let t = strace::run_with(&["-q", "run", "--rm", "busybox", "true"], |c| {
        c.env("GLASSBOX_STATE_DIR", state.path());
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    // The child is the process that pivots into the container's root.
    let child = t
        .calls
        .iter()
        .find(|c| c.name == "pivot_root")
        .expect("a pivot_root")
        .pid;
    let calls: Vec<_> = t
        .calls
        .iter()
        .filter(|c| c.pid == child && c.by_glassbox)
        .collect();
    let opened = |name: &str| {
        calls
            .iter()
            .filter(|c| c.name.starts_with("open") && c.args.iter().any(|a| a.contains(name)))
            .count()
    };
    for known in [
        "/proc/self/mountinfo",
        "cgroup.controllers",
        "/proc/sys/kernel/cap_last_cap",
        "/proc/self/status",
    ] {
        assert_eq!(
            opened(known),
            0,
            "the child read {known} again, which the parent knew before the clone"
        );
    }
    // The mounts' check, the mounts themselves and /sys/fs/cgroup: the root opened once each,
    // not once for every mount point and masked path (about thirty times).
    let roots = calls
        .iter()
        .filter(|c| c.name == "openat" && c.args.iter().any(|a| a.ends_with("/merged\"")))
        .count();
    assert!(roots <= 3, "the child opened its root {roots} times");
    let filters = calls.iter().filter(|c| c.name == "seccomp").count();
    assert_eq!(filters, 1, "one seccomp filter, clone3's ENOSYS in it");
    assert_eq!(host_state(), before);
}

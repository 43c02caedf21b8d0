//! `glassbox bisect`: which stage of run changes what a command does.

mod common;
use common::*;

fn bisect(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    glassbox()
        .arg("bisect")
        .args(args)
        .env("GLASSBOX_STATE_DIR", state)
        .output()
        .unwrap()
}

#[test]
fn a_command_that_needs_a_capability_breaks_at_the_security_stage() {
    if !root_or_skip("bisect_capability") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let host = nix::unistd::gethostname().unwrap();
    let o = bisect(
        state.path(),
        &[
            "--expect-exit",
            "0",
            "busybox",
            "--",
            "hostname",
            "changed-inside",
        ],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(
        out.contains("The first stage that breaks it: security."),
        "{out}"
    );
    assert!(
        out.contains("Calls this stage added:") && out.contains("capset (security)"),
        "{out}"
    );
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        host,
        "bisect changed the host's hostname"
    );
}

#[test]
fn a_command_that_needs_its_loopback_changes_at_the_network_stage() {
    if !root_or_skip("bisect_network") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = bisect(
        state.path(),
        &[
            "busybox",
            "--",
            "sh",
            "-c",
            "nc -l -p 9000 & sleep 0.3; echo hi | nc -w 1 127.0.0.1 9000",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("rootfs + namespaces   exit 1"),
        "{out}{}",
        stderr(&o)
    );
    assert!(
        out.contains("The stage from which on it ends as the full run does: network."),
        "{out}"
    );
}

#[test]
fn a_command_that_works_everywhere_is_said_to() {
    if !root_or_skip("bisect_fine") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = bisect(
        state.path(),
        &["--expect-output", "hello", "busybox", "--", "echo", "hello"],
    );
    assert!(
        stdout(&o).contains("It works with every stage on"),
        "{}",
        stdout(&o)
    );
    let j = std::fs::read_dir(state.path().join("journal"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(j, 0, "bisect left journal entries");
}

#[test]
fn a_command_that_reads_a_masked_proc_path_breaks_at_the_masks() {
    if !root_or_skip("bisect_masked") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    // /proc/timer_list has content on the host; Docker's defaults mask it with /dev/null.
    let o = bisect(
        state.path(),
        &[
            "--expect-exit",
            "0",
            "busybox",
            "--",
            "grep",
            "-q",
            ".",
            "/proc/timer_list",
        ],
    );
    let out = stdout(&o);
    assert!(out.contains("(works from here)"), "{out}{}", stderr(&o));
    assert!(
        out.contains("The first stage that breaks it: masked paths."),
        "{out}"
    );
}

/// Without --expect-exit the reference is the full run, not the bare first try: reading
/// /proc/self/stack fails with no /proc at all (the first try) and again under the security
/// stage (it needs CAP_SYS_ADMIN); the stage to blame is security, not mounts.
#[test]
fn without_an_expectation_the_full_run_is_the_reference() {
    if !root_or_skip("bisect_reference") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = bisect(state.path(), &["busybox", "--", "cat", "/proc/self/stack"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("rootfs + namespaces   exit 1"), "{out}");
    assert!(
        out.contains("+ security            exit 1   <- the result changes here"),
        "{out}"
    );
    assert!(
        out.contains("The stage from which on it ends as the full run does: security."),
        "{out}"
    );
}

//! The security stage on the real kernel: what the process keeps, seen from inside.

mod common;
use common::*;

#[test]
fn docker_default_capabilities_no_new_privs_and_seccomp() {
    if !root_or_skip("docker_default_capabilities") || !tool_or_skip("security", "strace") {
        return;
    }
    let t = strace::run(&["security", "--", "cat", "/proc/self/status"]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    let status = stdout(&t.output);
    // Docker's 14 default capabilities are the bits of 0xa80425fb.
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&status, set), "00000000a80425fb", "{set}");
    }
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    t.assert_honest();
}

#[test]
fn the_filter_refuses_unshare_and_keyctl_inside() {
    if !root_or_skip("the_filter_refuses_unshare_and_keyctl_inside") {
        return;
    }
    let o = glassbox()
        .args(["-q", "security", "--", "unshare", "--uts", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn no_descriptor_above_stdio_reaches_the_command() {
    if !root_or_skip("no_descriptor_above_stdio_reaches_the_command") {
        return;
    }
    // The shell holds fd 7 open on a file and runs glassbox; the command must not see it.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 7</etc/hostname; {} -q security -- ls /proc/self/fd",
            bin().display()
        ))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // ls itself opens one descriptor (3) to read the directory.
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2", "3"]
    );
}

#[test]
fn privileged_and_cap_options() {
    if !root_or_skip("privileged_and_cap_options") {
        return;
    }
    let o = glassbox()
        .args([
            "-q",
            "security",
            "--privileged",
            "--",
            "grep",
            "Seccomp:",
            "/proc/self/status",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).split_whitespace().last(), Some("0"));
    let o = glassbox()
        .args([
            "-q",
            "security",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "NET_ADMIN",
            "--",
            "grep",
            "CapEff:",
            "/proc/self/status",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o).split_whitespace().last(),
        Some("0000000000001000")
    );
}

#[test]
fn an_unknown_capability_is_refused_before_anything_is_done() {
    let o = glassbox()
        .args(["security", "--cap-add", "FLY", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("\"FLY\" is not a capability this glassbox knows"));
    assert!(
        !stderr(&o).contains("prctl("),
        "a call was made before the input was checked"
    );
}

//! The unshare stage on the real kernel, each run also checked by the strace-honesty harness.

mod common;
use common::*;

#[test]
fn uts_namespace_gets_its_own_hostname() {
    if !root_or_skip("uts_namespace_gets_its_own_hostname") || !tool_or_skip("uts", "strace") {
        return;
    }
    let before = nix::unistd::gethostname().unwrap();
    let t = strace::run(&["unshare", "--uts", "--hostname", "box", "--", "hostname"]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output), "box\n");
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        before,
        "the host's hostname changed"
    );
    assert_eq!(t.narrated_names(), vec!["unshare", "sethostname", "execve"]);
    t.assert_honest();
}

#[test]
fn pid_namespace_makes_the_command_pid_1() {
    if !root_or_skip("pid_namespace_makes_the_command_pid_1") || !tool_or_skip("pid", "strace") {
        return;
    }
    let mounts = host_mounts();
    let t = strace::run(&["unshare", "--pid", "--mount", "--", "sh", "-c", "echo $$"]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output), "1\n");
    assert!(stderr(&t.output).contains("mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL) = 0"));
    t.assert_honest();
    assert_eq!(host_mounts(), mounts, "the host's mount table changed");
}

#[test]
fn the_command_exit_status_comes_back() {
    if !root_or_skip("the_command_exit_status_comes_back") {
        return;
    }
    let o = glassbox()
        .args([
            "-q", "unshare", "--uts", "--fork", "--", "sh", "-c", "exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[test]
fn a_missing_command_exits_127_and_says_so() {
    if !root_or_skip("a_missing_command_exits_127_and_says_so") {
        return;
    }
    let o = glassbox()
        .args(["unshare", "--uts", "--", "no-such-command-here"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    let err = stderr(&o);
    assert!(
        err.contains("glassbox: error: the command \"no-such-command-here\" was not found"),
        "{err}"
    );
    assert!(err.contains("what to do:"), "{err}");
}

#[test]
fn no_namespace_asked_is_a_usage_error() {
    let o = glassbox().args(["unshare", "--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no namespace was asked for"));
}

#[test]
fn dry_run_makes_no_call_and_needs_no_root() {
    let before = nix::unistd::gethostname().unwrap();
    let o = glassbox()
        .args([
            "--dry-run",
            "unshare",
            "--uts",
            "--hostname",
            "x",
            "--",
            "hostname",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("unshare(CLONE_NEWUTS) = ? (dry run: not made)"),
        "{err}"
    );
    assert!(
        err.contains("sethostname(\"x\", 1) = ? (dry run: not made)"),
        "{err}"
    );
    assert_eq!(stdout(&o), "", "dry run ran the command");
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}

#[test]
fn the_harness_sees_the_calls_it_checks() {
    if !root_or_skip("the_harness_sees_the_calls_it_checks") || !tool_or_skip("harness", "strace") {
        return;
    }
    let t = strace::run(&["unshare", "--uts", "--hostname", "box", "--", "true"]);
    let seen: Vec<_> = t
        .calls
        .iter()
        .filter(|c| c.by_glassbox && c.name == "sethostname")
        .collect();
    assert_eq!(
        seen.len(),
        1,
        "strace saw: {:?}",
        t.calls.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    assert_eq!(seen[0].args, vec!["\"box\"", "3"]);
    // The child `true` is not glassbox once it has exec'd.
    assert!(t.calls.iter().any(|c| c.name == "execve" && c.by_glassbox));
}

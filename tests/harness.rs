//! The strace-honesty harness checked against itself: it must catch a lie both ways.

mod common;
use common::strace::{parse, Traced};
use std::os::unix::process::ExitStatusExt;

const GB: &str = "/x/target/debug/glassbox";

fn traced(strace_text: &str, events: &[&str]) -> Traced {
    Traced {
        output: std::process::Output {
            status: std::process::ExitStatus::from_raw(0),
            stdout: vec![],
            stderr: vec![],
        },
        events: events
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect(),
        calls: parse(strace_text, std::path::Path::new(GB)),
    }
}

const STRACE: &str = r#"100 execve("/x/target/debug/glassbox", ["glassbox", "unshare"], 0x7ffc /* 20 vars */) = 0
100 unshare(CLONE_NEWNS|CLONE_NEWUTS) = 0
100 mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL) = 0
100 clone(child_stack=NULL, flags=SIGCHLD) = 101
101 execve("/bin/mount", ["mount", "-t", "tmpfs", "x", "/mnt"], 0x7ffc /* 20 vars */) = 0
101 mount("x", "/mnt", "tmpfs", 0, NULL) = 0
100 wait4(101,  <unfinished ...>
101 +++ exited with 0 +++
100 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 101
"#;

const UNSHARE: &str = r#"{"event":"call","name":"unshare","args":["CLONE_NEWUTS|CLONE_NEWNS"],"result":0,"dry_run":false}"#;
const MOUNT: &str = r#"{"event":"call","name":"mount","args":["NULL","\"/\"","NULL","MS_REC|MS_PRIVATE","NULL"],"result":0,"dry_run":false}"#;
const CLONE: &str = r#"{"event":"call","name":"clone","args":["child_stack=NULL","flags=SIGCHLD"],"result":101,"dry_run":false}"#;
const WAIT: &str = r#"{"event":"call","name":"wait4","args":["101","...","0","NULL"],"result":101,"dry_run":false}"#;

#[test]
fn an_honest_narration_passes() {
    // The command's own mount (pid 101 after its execve) is not glassbox's to narrate.
    traced(STRACE, &[UNSHARE, MOUNT, CLONE, WAIT]).assert_honest();
}

#[test]
#[should_panic(expected = "made by glassbox but not narrated: [pid 100] mount")]
fn an_unnarrated_mount_is_caught() {
    traced(STRACE, &[UNSHARE, CLONE, WAIT]).assert_honest();
}

#[test]
#[should_panic(expected = "narrated but not seen by strace: sethostname")]
fn a_narrated_call_that_was_not_made_is_caught() {
    let host = r#"{"event":"call","name":"sethostname","args":["\"box\"","3"],"result":0,"dry_run":false}"#;
    traced(STRACE, &[UNSHARE, MOUNT, CLONE, WAIT, host]).assert_honest();
}

#[test]
#[should_panic(expected = "narrated but not seen by strace: unshare")]
fn wrong_flags_are_caught() {
    let lie =
        r#"{"event":"call","name":"unshare","args":["CLONE_NEWPID"],"result":0,"dry_run":false}"#;
    traced(STRACE, &[lie, MOUNT, CLONE, WAIT]).assert_honest();
}

#[test]
#[should_panic(expected = "narrated but not seen by strace: mount")]
fn a_wrong_result_is_caught() {
    let lie = r#"{"event":"call","name":"mount","args":["NULL","\"/\"","NULL","MS_REC|MS_PRIVATE","NULL"],"errno":"EPERM","dry_run":false}"#;
    traced(STRACE, &[UNSHARE, lie, CLONE, WAIT]).assert_honest();
}

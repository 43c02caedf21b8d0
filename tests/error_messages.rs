//! Golden tests of error messages a learner meets: the exact text, so the advice is the
//! right one for what went wrong (not "chmod +x" for a directory, not clap's words for a
//! size glassbox should explain, the flag named as the user typed it).

mod common;
use common::*;

/// `glassbox -q ARGS…` in a state directory of its own.
fn quiet(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    glassbox()
        .env("GLASSBOX_STATE_DIR", state)
        .arg("-q")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_directory_as_the_command_is_not_a_chmod_problem() {
    if !root_or_skip("a_directory_as_the_command_is_not_a_chmod_problem") {
        return;
    }
    let env = common::containers::Env::new();
    let o = env.gb(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "glassbox: error: execve(\"/etc\", [\"/etc\"], ... /* 3 vars */) failed: EACCES (Permission denied).\n  \
         why: /etc is a directory, not a program\n  \
         what to do: give a program to run; to see what the directory holds, run ls /etc\n"
    );
    env.assert_clean();
}

#[test]
fn pids_limit_is_called_by_runs_own_flag() {
    let state = tempfile::tempdir().unwrap();
    let o = quiet(
        state.path(),
        &["run", "--rm", "--pids-limit", "0", "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o),
        "glassbox: error: --pids-limit 0 is not a usable limit: the command itself is a process, so it needs at least 1 (or -1 for no limit).\n  \
         what to do: give --pids-limit 1 or more, for example --pids-limit 20\n"
    );
}

#[test]
fn a_negative_memory_size_gets_glassboxs_own_sentence() {
    let state = tempfile::tempdir().unwrap();
    for sub in [
        &["run", "--rm", "--memory", "-5m", "busybox", "true"][..],
        &["cgroup", "--memory", "-5m", "--", "true"][..],
    ] {
        let o = quiet(state.path(), sub);
        assert_eq!(o.status.code(), Some(125), "{sub:?}");
        assert_eq!(
            stderr(&o),
            "glassbox: error: --memory \"-5m\" is not a size glassbox understands.\n  \
             what to do: give a number of bytes, or a number with a unit k, m, g or t (as docker run: 64m, 1.5g)\n",
            "{sub:?}"
        );
    }
}

#[test]
fn quiet_cleanup_prints_nothing_when_all_is_well() {
    let state = tempfile::tempdir().unwrap();
    let o = quiet(state.path(), &["cleanup"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(stderr(&o), "");
}

#[test]
fn run_help_lists_systempaths_unconfined() {
    let o = glassbox().args(["run", "--help"]).output().unwrap();
    let help = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(
            "`systempaths=unconfined` leaves the sensitive paths of /proc and /sys unmasked"
        ),
        "{help}"
    );
}

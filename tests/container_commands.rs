//! kill, wait, rename, pause/unpause and restart as a user meets them: on the real kernel,
//! each test in a state directory of its own, the host compared before and after.

mod common;
use common::containers::Env;
use common::*;
use std::time::{Duration, Instant};

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last line a container wrote to its log.
fn last_line(env: &Env, name: &str) -> String {
    env.ok(&["logs", name])
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

#[test]
fn kill_s_usr1_reaches_a_handler_and_wait_prints_the_code() {
    if !root_or_skip("kill_s_usr1_reaches_a_handler_and_wait_prints_the_code") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "k",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_for("the trap to be set", Duration::from_secs(10), || {
        env.ok(&["logs", "k"]).contains("ready")
    });
    assert_eq!(env.ok(&["kill", "-s", "USR1", "k"]).trim(), "k");
    assert_eq!(env.ok(&["wait", "k"]), "7\n");
    assert_eq!(env.ok(&["logs", "k"]), "ready\ngot USR1\n");
    assert!(env.ps_row("k").unwrap().contains("Exited (7)"));

    // The default is SIGKILL, which even a PID 1 without a handler cannot ignore: 128 + 9.
    env.ok(&["run", "-d", "--name", "k9", "busybox", "sleep", "1000"]);
    env.ok(&["kill", "k9"]);
    assert_eq!(env.ok(&["wait", "k9"]), "137\n");

    // What a user gets wrong, in one sentence each.
    let o = env.gb(&["kill", "-s", "NOPE", "k"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("\"NOPE\" is not a signal"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["kill", "k"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot kill container k: it is not running"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["wait", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no such container: nosuch"),
        "{}",
        stderr(&o)
    );

    env.ok(&["rm", "k", "k9"]);
    env.assert_clean();
}

#[test]
fn pause_stops_a_counter_and_unpause_resumes_it() {
    if !root_or_skip("pause_stops_a_counter_and_unpause_resumes_it") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done",
    ]);
    wait_for("the counter to count", Duration::from_secs(10), || {
        last_line(&env, "counter")
            .parse::<u32>()
            .is_ok_and(|n| n > 2)
    });
    assert_eq!(env.ok(&["pause", "counter"]).trim(), "counter");
    assert!(env.ps_row("counter").unwrap().contains("(Paused)"));
    let frozen = last_line(&env, "counter");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        last_line(&env, "counter"),
        frozen,
        "a paused counter advanced"
    );

    // No new process in a frozen container, and no pausing twice.
    let o = env.gb(&["exec", "counter", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("container counter is paused"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["pause", "counter"]);
    assert!(stderr(&o).contains("already paused"), "{}", stderr(&o));

    assert_eq!(env.ok(&["unpause", "counter"]).trim(), "counter");
    assert!(!env.ps_row("counter").unwrap().contains("Paused"));
    wait_for("the counter to count on", Duration::from_secs(10), || {
        last_line(&env, "counter").parse::<u32>().unwrap() > frozen.parse::<u32>().unwrap()
    });
    let o = env.gb(&["unpause", "counter"]);
    assert!(stderr(&o).contains("is not paused"), "{}", stderr(&o));

    // stop of a paused container thaws it first, so its TERM handler ends it at once
    // (frozen, it would sit out the grace time and be SIGKILLed).
    env.ok(&["pause", "counter"]);
    let start = Instant::now();
    env.ok(&["stop", "-t", "20", "counter"]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "stop waited out the grace time"
    );
    assert!(env.ps_row("counter").unwrap().contains("Exited (3)"));
    let o = env.gb(&["pause", "counter"]);
    assert!(stderr(&o).contains("cannot pause container counter: it is not running"));

    // Without a cgroup of its own there is nothing to freeze: said in one sentence.
    env.ok(&[
        "run", "-d", "--skip", "cgroup", "--name", "loose", "busybox", "sleep", "1000",
    ]);
    let o = env.gb(&["pause", "loose"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot pause container loose: it has no cgroup with a freezer"),
        "{}",
        stderr(&o)
    );
    env.ok(&["rm", "-f", "loose"]);

    // rm -f of a paused one as well.
    env.ok(&["start", "counter"]);
    env.ok(&["pause", "counter"]);
    env.ok(&["rm", "-f", "counter"]);
    env.assert_clean();
}

#[test]
fn rename_then_ps_shows_the_new_name_and_the_old_one_is_free() {
    if !root_or_skip("rename_then_ps_shows_the_new_name_and_the_old_one_is_free") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "old", "busybox", "sleep", "1000"]);
    env.ok(&["rename", "old", "new"]);
    assert!(env.ps_row("new").unwrap().contains("Up "));
    assert!(env.ps_row("old").is_none());
    // The bundle's config.json says so too.
    let id = env.ok(&["ps", "-q"]).trim().to_string();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data().join(format!("containers/{id}/config.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(config["annotations"]["org.glassbox.name"], "new");
    // The old name is free for another container; the new one is taken.
    env.ok(&["run", "--name", "old", "busybox", "true"]);
    let o = env.gb(&["rename", "old", "new"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the container name \"new\" is already in use"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["rename", "nosuch", "x"]);
    assert!(stderr(&o).contains("no such container: nosuch"));
    // The renamed container answers to its new name.
    env.ok(&["kill", "new"]);
    assert_eq!(env.ok(&["wait", "new"]), "137\n");
    env.ok(&["rm", "old", "new"]);
    env.assert_clean();
}

#[test]
fn restart_keeps_the_writable_layer() {
    if !root_or_skip("restart_keeps_the_writable_layer") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started >> /marks; while true; do sleep 0.1 & wait; done",
    ]);
    wait_for("the container to start", Duration::from_secs(10), || {
        stdout(&env.gb(&["exec", "r", "cat", "/marks"])) == "started\n"
    });
    assert_eq!(env.ok(&["restart", "-t", "5", "r"]).trim(), "r");
    assert!(env.ps_row("r").unwrap().contains("Up "));
    wait_for("the second start", Duration::from_secs(10), || {
        stdout(&env.gb(&["exec", "r", "cat", "/marks"])) == "started\nstarted\n"
    });
    env.ok(&["rm", "-f", "r"]);
    env.assert_clean();
}

#[test]
fn pause_unpause_and_kill_narrate_what_strace_sees() {
    if !root_or_skip("pause_unpause_and_kill_narrate_what_strace_sees")
        || !tool_or_skip("pause_unpause_and_kill_narrate_what_strace_sees", "strace")
    {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "s", "busybox", "sleep", "1000"]);
    let state = env.state.path().to_path_buf();
    for (args, file_write) in [
        (["pause", "s"], true),
        (["unpause", "s"], true),
        (["kill", "s"], false),
    ] {
        let t = common::strace::run_with(&args, |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        });
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        t.assert_honest();
        let names = t.narrated_names();
        if file_write {
            assert_eq!(names, ["write"], "{args:?}");
            let err = stderr(&t.output);
            assert!(
                err.contains("cgroup.freeze") || err.contains("freezer.state"),
                "{err}"
            );
        } else {
            assert_eq!(names, ["kill"], "{args:?}");
        }
    }
    assert_eq!(env.ok(&["wait", "s"]), "137\n");
    env.ok(&["rm", "s"]);
    env.assert_clean();
}

/// rm -f of a running container: SIGKILL, then one wait — for its supervisor, which ends
/// only after PID 1 has (it used to wait for PID 1 first, then for the supervisor).
#[test]
fn rm_f_of_a_running_container_waits_once() {
    if !root_or_skip("rm_f_of_a_running_container_waits_once")
        || !tool_or_skip("rm_f_of_a_running_container_waits_once", "strace")
    {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "f", "busybox", "sleep", "1000"]);
    let state = env.state.path().to_path_buf();
    let t = common::strace::run_with(&["rm", "-f", "f"], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    let names = t.narrated_names();
    let waits = names.iter().filter(|n| *n == "poll").count();
    assert_eq!(waits, 1, "{names:?}");
    assert!(env.containers().is_empty());
    env.assert_clean();
}

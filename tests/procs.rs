//! The container's processes as a user meets them: `--init` as PID 1, `--stop-signal` and
//! `--stop-timeout`. On the real kernel, each test in a state directory of its own, the host
//! compared before and after.

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

/// `glassbox ARGS` and how long it took.
fn timed(env: &Env, args: &[&str]) -> (String, Duration) {
    let t = Instant::now();
    let out = env.ok(args);
    (out, t.elapsed())
}

#[test]
fn init_makes_stop_and_kill_end_a_pid_1_without_handlers_and_reaps_zombies() {
    if !root_or_skip("init_makes_stop_and_kill_end_a_pid_1_without_handlers_and_reaps_zombies") {
        return;
    }
    let env = Env::new();
    // sleep has no SIGTERM handler: as PID 1 it would ignore stop's SIGTERM for 30 s.
    env.ok(&[
        "run", "-d", "--init", "--name", "i", "busybox", "sleep", "1000",
    ]);
    let (_, took) = timed(&env, &["stop", "-t", "30", "i"]);
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    assert!(env.ps_row("i").unwrap().contains("Exited (143)"));

    // start keeps --init (config.json says it): kill -s TERM ends it too.
    env.ok(&["start", "i"]);
    env.ok(&["kill", "-s", "TERM", "i"]);
    assert_eq!(env.ok(&["wait", "i"]), "143\n");

    // An orphan ends under PID 1: the init reaps it, where a sleep as PID 1 would leave a
    // zombie.
    let orphan = "sh -c 'sleep 0.1 &'; exec sleep 1000";
    for (name, init) in [("z", true), ("noinit", false)] {
        let mut args = vec!["run", "-d", "--name", name];
        if init {
            args.push("--init");
        }
        args.extend(["busybox", "sh", "-c", orphan]);
        env.ok(&args);
    }
    std::thread::sleep(Duration::from_millis(800));
    let zombies = |name: &str| {
        env.ok(&["exec", name, "ps", "-o", "stat,comm"])
            .lines()
            .filter(|l| l.trim_start().starts_with('Z'))
            .count()
    };
    assert_eq!(zombies("noinit"), 1, "without --init the zombie stays");
    assert_eq!(zombies("z"), 0, "the init reaps it");
    env.ok(&["rm", "-f", "i", "z", "noinit"]);
    env.assert_clean();
}

#[test]
fn init_exits_as_its_command_did() {
    if !root_or_skip("init_exits_as_its_command_did") {
        return;
    }
    let env = Env::new();
    let o = env.gb(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo pid $$; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // The command is not PID 1: the init is.
    assert_eq!(stdout(&o), "pid 2\n");
    let o = env.gb(&["run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let o = env.gb(&["run", "--rm", "--init", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"nosuchcmd\" was not found"),
        "{}",
        stderr(&o)
    );
    env.assert_clean();
}

#[test]
fn stop_signal_and_stop_timeout_are_what_stop_uses() {
    if !root_or_skip("stop_signal_and_stop_timeout_are_what_stop_uses") {
        return;
    }
    let env = Env::new();
    // A handler that exits only on USR1: stop sends it first, and waits no grace time.
    env.ok(&[
        "run",
        "-d",
        "--stop-signal",
        "USR1",
        "--name",
        "u",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got USR1; exit 3' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_for("the trap to be set", Duration::from_secs(10), || {
        env.ok(&["logs", "u"]).contains("ready")
    });
    let (_, took) = timed(&env, &["stop", "-t", "30", "u"]);
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    assert!(env.ps_row("u").unwrap().contains("Exited (3)"));
    assert_eq!(env.ok(&["logs", "u"]), "ready\ngot USR1\n");
    // restart stops it the same way.
    env.ok(&["start", "u"]);
    wait_for("the trap to be set again", Duration::from_secs(10), || {
        env.ok(&["logs", "u"]).matches("ready").count() == 2
    });
    let (_, took) = timed(&env, &["restart", "-t", "30", "u"]);
    assert!(took < Duration::from_secs(10), "restart took {took:?}");

    // --stop-timeout: the grace time before SIGKILL, which stop -t overrides.
    env.ok(&[
        "run",
        "-d",
        "--stop-timeout",
        "1",
        "--name",
        "t",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (_, took) = timed(&env, &["stop", "t"]);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "stop took {took:?}"
    );
    assert!(env.ps_row("t").unwrap().contains("Exited (137)"));

    // What a user gets wrong: a sentence, before anything is made.
    let o = env.gb(&["run", "-d", "--stop-signal", "NOPE", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("\"NOPE\" is not a signal"),
        "{}",
        stderr(&o)
    );
    env.ok(&["rm", "-f", "u", "t"]);
    env.assert_clean();
}

#[test]
fn inspect_says_oom_killed_and_the_image_id() {
    if !root_or_skip("inspect_says_oom_killed_and_the_image_id") {
        return;
    }
    let env = Env::new();
    // tail keeps every line of an endless one in memory: past 16 MiB the OOM killer ends it.
    let o = env.gb(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "oom"
        ]),
        "true 137\n"
    );
    env.ok(&["run", "--name", "fine", "busybox", "true"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "fine"]),
        "false\n"
    );
    // .Image is the image's id, .Config.Image the name it was given, as docker.
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Image}} {{.Config.Image}}", "fine"]),
        format!("{} busybox\n", id.trim())
    );
    env.ok(&["rm", "oom", "fine"]);
    env.assert_clean();
}

#[test]
fn wait_on_a_restarting_container_waits_for_its_final_stop() {
    if !root_or_skip("wait_on_a_restarting_container_waits_for_its_final_stop") {
        return;
    }
    let env = Env::new();
    // The first run fails at once; the second, after the supervisor's backoff, runs for
    // longer than the 10 s wait used to give a supervisor, then ends for good.
    env.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:1",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "if [ -e /once ]; then sleep 12; exit 4; fi; touch /once; exit 3",
    ]);
    assert_eq!(env.ok(&["wait", "r"]), "4\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{.RestartCount}}", "r"]), "1\n");
    env.ok(&["rm", "r"]);
    env.assert_clean();
}

#[test]
fn health_cmd_makes_a_container_healthy_or_unhealthy_in_ps_and_inspect() {
    if !root_or_skip("health_cmd_makes_a_container_healthy_or_unhealthy_in_ps_and_inspect") {
        return;
    }
    let env = Env::new();
    let checked = |name: &str, check: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--health-cmd",
            check,
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
        ];
        args.extend(extra);
        args.extend(["busybox", "sleep", "1000"]);
        env.ok(&args);
    };
    checked("good", "echo fine", &[]);
    checked("bad", "echo broken; exit 1", &[]);
    checked("off", "exit 1", &["--no-healthcheck"]);
    let status = |name: &str| env.ok(&["inspect", "-f", "{{.State.Health.Status}}", name]);
    // From the moment run -d returns, before any check has run (its first is an hour away).
    run_checked(&env, "new", "true", &["--health-interval", "1h"]);
    assert_eq!(status("new"), "starting\n");
    wait_for("good to be healthy", Duration::from_secs(20), || {
        status("good") == "healthy\n"
    });
    wait_for("bad to be unhealthy", Duration::from_secs(20), || {
        status("bad") == "unhealthy\n"
    });
    assert!(env.ps_row("good").unwrap().contains("(healthy)"));
    assert!(env.ps_row("bad").unwrap().contains("(unhealthy)"));
    let off = env.ps_row("off").unwrap();
    assert!(off.contains("Up ") && !off.contains("healthy"), "{off}");
    // The last results are kept, with what the check printed.
    let log = env.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "bad"]);
    assert!(log.contains("\"Output\":\"broken\\n\""), "{log}");
    assert!(log.contains("\"ExitCode\":1"), "{log}");

    let o = env.gb(&[
        "run",
        "-d",
        "--health-cmd",
        "true",
        "--health-interval",
        "soon",
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("--health-interval \"soon\" is not a duration"),
        "{}",
        stderr(&o)
    );
    env.ok(&["rm", "-f", "good", "bad", "off", "new"]);
    env.assert_clean();
}

#[test]
fn the_inits_own_calls_reach_the_trace() {
    if !root_or_skip("the_inits_own_calls_reach_the_trace") {
        return;
    }
    let env = Env::new();
    let trace = env.state.path().join("init-trace.json");
    let trace_arg = trace.to_str().unwrap();
    env.ok(&[
        "--trace", trace_arg, "run", "--rm", "--init", "busybox", "true",
    ]);
    // The init's loop, after it closed its other descriptors: each call it narrated is traced.
    let text = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["stage"] == "init")
        .collect();
    let named = |n: &str| calls.iter().any(|e| e["name"] == n);
    assert!(named("close_range"), "{text}");
    assert!(
        named("rt_sigtimedwait") && named("wait4"),
        "the init's waits are missing from the trace:\n{text}"
    );
}

/// `glassbox run -d --name NAME --health-cmd CHECK FLAGS busybox sleep 1000`.
fn run_checked(env: &Env, name: &str, check: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--health-cmd", check];
    args.extend(flags);
    args.extend(["busybox", "sleep", "1000"]);
    env.ok(&args);
}

#[test]
fn a_health_check_printing_100_kib_is_healthy_and_keeps_its_last_4_kib() {
    if !root_or_skip("a_health_check_printing_100_kib_is_healthy_and_keeps_its_last_4_kib") {
        return;
    }
    let env = Env::new();
    // More than a pipe holds (64 KiB): read only at the end, the check would block.
    let check = "head -c 102400 /dev/zero | tr '\\0' a; echo; echo end";
    let flags = ["--health-interval", "200ms", "--health-timeout", "5s"];
    run_checked(&env, "loud", check, &flags);
    wait_for("loud to be healthy", Duration::from_secs(20), || {
        env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "loud"]) == "healthy\n"
    });
    let log = env.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "loud"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let out = log[0]["Output"].as_str().unwrap();
    assert!(
        out.ends_with("aaaa\nend\n"),
        "{}",
        &out[out.len().saturating_sub(40)..]
    );
    assert!(out.len() <= 4096, "{} bytes kept", out.len());
    env.ok(&["rm", "-f", "loud"]);
    env.assert_clean();
}

#[test]
fn a_timed_out_health_check_leaves_no_process_in_the_container() {
    if !root_or_skip("a_timed_out_health_check_leaves_no_process_in_the_container") {
        return;
    }
    let env = Env::new();
    // `; true` keeps sh waiting for sleep (it would exec a last lone command).
    let flags = ["--health-interval", "2s", "--health-timeout", "300ms"];
    run_checked(&env, "slow", "sleep 777; true", &flags);
    let log = || env.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "slow"]);
    wait_for("a timed-out check", Duration::from_secs(20), || {
        log().contains("timed out")
    });
    // The next check starts 2 s after that one ended: nothing of it may be left now.
    let top = env.ok(&["top", "slow"]);
    assert!(!top.contains("sleep 777"), "{top}");
    env.ok(&["rm", "-f", "slow"]);
    env.assert_clean();
}

#[test]
fn health_interval_0s_is_the_default_and_a_huge_one_is_refused() {
    if !root_or_skip("health_interval_0s_is_the_default_and_a_huge_one_is_refused") {
        return;
    }
    let env = Env::new();
    // docker: 0s means the default, 30 s, so no check has run 2 s later.
    run_checked(&env, "zero", "true", &["--health-interval", "0s"]);
    std::thread::sleep(Duration::from_secs(2));
    let health = env.ok(&["inspect", "-f", "{{json .State.Health}}", "zero"]);
    assert!(health.contains("\"Status\":\"starting\""), "{health}");
    assert!(health.contains("\"Log\":[]"), "{health}");

    let o = env.gb(&[
        "run",
        "-d",
        "--health-cmd",
        "true",
        "--health-interval",
        "99999999999999999h",
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--health-interval \"99999999999999999h\" is too long"),
        "{}",
        stderr(&o)
    );
    env.ok(&["rm", "-f", "zero"]);
    env.assert_clean();
}

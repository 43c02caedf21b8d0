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

/// `run -d --name NAME busybox sh -c SCRIPT`, returned once its log says "ready" (SCRIPT
/// echoes it when what the test needs is in place): the container's id.
fn start_ready(env: &Env, name: &str, script: &str) -> String {
    let id = env.ok(&["run", "-d", "--name", name, "busybox", "sh", "-c", script]);
    wait_for("the container to be ready", Duration::from_secs(10), || {
        env.ok(&["logs", name]).contains("ready")
    });
    id.trim().to_string()
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
    start_ready(
        &env,
        "k",
        "trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.1; done",
    );
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

/// A `--rm` container's record goes with it: `wait` still prints its exit code, as docker
/// wait does, for one run in the foreground and one detached; a wait killed midway leaves
/// word that `cleanup` removes, and cleanup leaves the running container alone.
#[test]
fn wait_prints_the_code_of_a_container_removed_at_its_end() {
    if !root_or_skip("wait_prints_the_code_of_a_container_removed_at_its_end") {
        return;
    }
    use std::io::BufRead;
    let env = Env::new();
    let mut fg = env
        .cmd()
        .args(["-q", "run", "--rm", "--name", "fg"])
        .args(["busybox", "sh", "-c", "echo ready; sleep 2; exit 3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(fg.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "ready\n");
    assert_eq!(env.ok(&["wait", "fg"]), "3\n");
    assert_eq!(fg.wait().unwrap().code(), Some(3), "run's own status");
    assert_eq!(env.ps_row("fg"), None, "removed at its end");

    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ]);
    assert_eq!(env.ok(&["wait", "bg"]), "5\n");

    // Narrated, the wait says where it left word.
    let id = env.ok(&[
        "run", "-d", "--rm", "--name", "k", "busybox", "sleep", "1000",
    ]);
    let id = id.trim();
    let word = env.state.path().join("waiting").join(id);
    let mut waiting = env.cmd().args(["wait", "k"]).spawn().unwrap();
    wait_for("the wait to leave word", Duration::from_secs(10), || {
        std::fs::read_dir(&word).is_ok_and(|mut d| d.next().is_some())
    });
    waiting.kill().unwrap();
    waiting.wait().unwrap();
    let cleaned = env.cmd().arg("cleanup").output().unwrap();
    assert!(cleaned.status.success(), "{}", stderr(&cleaned));
    assert!(!word.exists(), "cleanup left {}", word.display());
    // The running container's own directory is its supervisor's to remove, not the exited
    // `run -d`'s: cleanup leaves it (it once removed it, record and all).
    assert!(
        env.ps_row("k").is_some_and(|r| r.contains("Up")),
        "cleanup took k"
    );
    env.ok(&["rm", "-f", "k"]);
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

#[test]
fn logs_keep_stdout_and_stderr_apart_and_read_the_times() {
    if !root_or_skip("logs_keep_stdout_and_stderr_apart_and_read_the_times") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        // Each stream has its own reader: the pause keeps err1 before out2 in the log.
        "echo out1; echo err1 >&2; sleep 0.5; echo out2; printf last",
    ]);
    assert_eq!(env.ok(&["wait", "l"]), "0\n");
    // `logs l 2>/dev/null` shows only what went to stdout, and stderr only what went there.
    let o = env.gb(&["logs", "l"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out1\nout2\nlast");
    assert_eq!(stderr(&o), "err1\n");

    // -t: each line after the time it was written, as docker logs -t prints it.
    let o = env.gb(&["logs", "-t", "l"]);
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, text) in lines.iter().zip(["out1", "out2", "last"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, text);
        assert!(
            time.len() == 30 && time.ends_with('Z') && time.contains('T'),
            "{time}"
        );
    }
    assert_eq!(env.ok(&["logs", "--tail", "1", "l"]), "last");
    // --since a time to come shows nothing; --until it shows all; a while ago is a time too.
    let o = env.gb(&["logs", "--since", "2100-01-01T00:00:00Z", "l"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));
    assert_eq!(
        env.ok(&["logs", "--until", "2100-01-01", "--since", "10m", "l"]),
        "out1\nout2\nlast"
    );
    let o = env.gb(&["logs", "--since", "yesterday", "l"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("\"yesterday\" is not a time"),
        "{}",
        stderr(&o)
    );

    env.ok(&["rm", "l"]);
    env.assert_clean();
}

#[test]
fn inspect_shows_docker_fields_and_format_picks_them() {
    if !root_or_skip("inspect_shows_docker_fields_and_format_picks_them") {
        return;
    }
    let env = Env::new();
    let host_dir = tempfile::tempdir().unwrap();
    let volume = format!("{}:/data:ro", host_dir.path().display());
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "i",
            "-m",
            "64M",
            "--pids-limit",
            "20",
            "-e",
            "FOO=bar",
            "--volume",
            &volume,
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let pid = env.state_json(&id)["process"]["pid"].as_i64().unwrap();
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.State.Pid}}", "i"]),
        format!("{pid}\n")
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{json .Config.Cmd}}",
            "i"
        ]),
        "/i running [\"sleep\",\"1000\"]\n"
    );
    let all: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "i"])).unwrap();
    let c = &all[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert_eq!(c["HostConfig"]["PidsLimit"], 20);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "FOO=bar"));
    assert_eq!(c["Mounts"][0]["Destination"], "/data");
    assert_eq!(c["Mounts"][0]["RW"], false);
    // The process view is still there, by flag.
    let p = env.ok(&["inspect", "--process", "i"]);
    assert!(p.starts_with(&format!("process {pid}: ")), "{p}");

    env.ok(&["kill", "i"]);
    env.ok(&["wait", "i"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}",
            "i"
        ]),
        "exited 137 0\n"
    );
    // A field that is not there is named, with the ones that are.
    let o = env.gb(&["inspect", "-f", "{{.State.Nope}}", "i"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("there is no field \"Nope\""),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["inspect", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no such container or image: nosuch"),
        "{}",
        stderr(&o)
    );

    env.ok(&["rm", "i"]);
    env.assert_clean();
}

#[test]
fn update_changes_the_running_limit_that_stats_and_top_show() {
    if !root_or_skip("update_changes_the_running_limit_that_stats_and_top_show") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "u",
        "-m",
        "64M",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & wait",
    ]);
    // stats --no-stream: one table, the limit set with --memory in it.
    let stats = env.ok(&["stats", "--no-stream"]);
    let row = stats.lines().find(|l| l.contains(" u ")).expect(&stats);
    assert!(row.contains(" / 64MiB"), "{stats}");
    assert!(stats.starts_with("CONTAINER ID"), "{stats}");

    // update: the kernel's limit changes while it runs.
    assert_eq!(
        env.ok(&["update", "--memory", "96M", "--pids-limit", "30", "u"]),
        "u\n"
    );
    let stats = env.ok(&["stats", "--no-stream", "u"]);
    assert!(stats.contains(" / 96MiB"), "{stats}");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "u"
        ]),
        format!("{} 30\n", 96 << 20)
    );
    let o = env.gb(&["update", "--cpus", "0.5", "u"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it has no cpu cgroup"),
        "{}",
        stderr(&o)
    );

    // top: the container's two processes (sh and its sleep), as ps shows them.
    let top = env.ok(&["top", "u"]);
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{top}"
    );
    assert_eq!(lines.len(), 3, "{top}");
    assert!(lines.iter().any(|l| l.ends_with("sleep 1000")), "{top}");
    let o = env.gb(&["top", "u", "-o", "comm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("shows no PID column"), "{}", stderr(&o));

    // The narration of update is what strace sees: one write to the memory limit file.
    if tool_or_skip("update_changes_the_running_limit (strace)", "strace") {
        let state = env.state.path().to_path_buf();
        let t = common::strace::run_with(&["update", "-m", "80M", "u"], |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        });
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        t.assert_honest();
        assert_eq!(t.narrated_names(), ["write"]);
    }

    env.ok(&["rm", "-f", "u"]);
    env.assert_clean();
}

#[test]
fn cp_both_ways_keeps_owners_and_a_hostile_symlink_never_reaches_the_host() {
    use std::os::unix::fs::MetadataExt;
    if !root_or_skip("cp_both_ways_keeps_owners_and_a_hostile_symlink_never_reaches_the_host") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run", "-d", "--name", "c", "busybox", "sh", "-c",
        "ln -s /etc/passwd /x; mkdir -p /d/e; echo hi > /d/e/f; chown 7:8 /d/e/f; touch /ready; sleep 1000",
    ]);
    wait_for("the container's files", Duration::from_secs(10), || {
        env.gb(&["exec", "c", "test", "-e", "/ready"])
            .status
            .success()
    });
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p);
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let theirs = env.ok(&["exec", "c", "cat", "/etc/passwd"]);

    // Out: the link itself, as docker cp copies it; with -L it is followed, inside the
    // container's root.
    env.ok(&["cp", "c:/x", h("link").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(h("link")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    env.ok(&["cp", "-L", "c:/x", h("x").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(h("x")).unwrap(), theirs);
    assert_ne!(theirs.as_bytes(), host_passwd.as_slice());
    // .. cannot climb out of it either.
    env.ok(&["cp", "c:/../../../etc/passwd", h("up").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(h("up")).unwrap(), theirs);

    // In, onto the link: the link is replaced, the host's /etc/passwd never written.
    std::fs::write(h("s"), "secret\n").unwrap();
    std::os::unix::fs::chown(h("s"), Some(5), Some(6)).unwrap();
    env.ok(&["cp", h("s").to_str().unwrap(), "c:/x"]);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
    assert_eq!(env.ok(&["exec", "c", "cat", "/x"]), "secret\n");
    assert_eq!(env.ok(&["exec", "c", "cat", "/etc/passwd"]), theirs);

    // -a keeps owners both ways; without it the copy is root's.
    env.ok(&["cp", "-a", "c:/d", h("d").to_str().unwrap()]);
    let f = std::fs::metadata(h("d/e/f")).unwrap();
    assert_eq!((f.uid(), f.gid()), (7, 8));
    assert_eq!(std::fs::read_to_string(h("d/e/f")).unwrap(), "hi\n");
    env.ok(&["cp", "-a", h("s").to_str().unwrap(), "c:/d/"]);
    env.ok(&["cp", h("s").to_str().unwrap(), "c:/d/plain"]);
    let owners = env.ok(&["exec", "c", "stat", "-c", "%n %u %g", "/d/s", "/d/plain"]);
    assert_eq!(owners, "/d/s 5 6\n/d/plain 0 0\n");

    let o = env.gb(&["cp", "c:/nope", h("n").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot find /nope in the container"),
        "{}",
        stderr(&o)
    );

    env.ok(&["rm", "-f", "c"]);
    env.assert_clean();
}

#[test]
fn create_makes_a_container_that_start_runs() {
    if !root_or_skip("create_makes_a_container_that_start_runs") {
        return;
    }
    let env = Env::new();
    let before = host_state();
    let id = env
        .ok(&[
            "create",
            "--name",
            "cr",
            "busybox",
            "sh",
            "-c",
            "echo started; sleep 1000",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 12, "{id}");
    // Made, not started: no cgroup, link or mount yet.
    assert_eq!(host_state(), before);
    assert!(env.ps_row("cr").unwrap().contains("Created"));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "cr"]),
        "created 0\n"
    );
    assert_eq!(env.ok(&["start", "cr"]), "cr\n");
    wait_for("its output", Duration::from_secs(10), || {
        env.ok(&["logs", "cr"]) == "started\n"
    });
    assert!(env.ps_row("cr").unwrap().contains("Up"));
    let o = env.gb(&["create", "--rm", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    env.ok(&["rm", "-f", "cr"]);
    env.assert_clean();
}

#[test]
fn ps_filters_and_formats_and_prune_removes_only_stopped_containers() {
    if !root_or_skip("ps_filters_and_formats_and_prune_removes_only_stopped_containers") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo x > /f",
    ]);
    env.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = env.ok(&a).lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["-f", "status=exited"]), ["done"]);
    assert_eq!(
        names(&["-a", "-f", "status=exited", "-f", "status=running"]),
        ["done", "up"]
    );
    assert_eq!(names(&["-a", "-f", "name=do"]), ["done"]);
    assert_eq!(
        names(&["-a", "-f", "ancestor=busybox", "-f", "status=running"]),
        ["up"]
    );
    assert!(names(&["-a", "-f", "label=team=x"]).is_empty());
    assert_eq!(names(&[]), ["up"]);
    assert_eq!(
        env.ok(&["ps", "-n", "5", "--format", "{{.Names}}"])
            .lines()
            .count(),
        2
    );
    let size = env.ok(&["ps", "-a", "-s", "-f", "name=done"]);
    assert!(size.lines().next().unwrap().ends_with("SIZE"), "{size}");
    assert!(
        size.lines().nth(1).unwrap().ends_with(" done    2B"),
        "{size}"
    );
    let o = env.gb(&["ps", "-f", "colour=red"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("is not a filter ps knows"),
        "{}",
        stderr(&o)
    );

    let df = env.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(
        df.lines().any(|l| l.starts_with("Containers   2       1")),
        "{df}"
    );
    let info = env.ok(&["info"]);
    assert!(
        info.contains("Containers: 2\n Running: 1\n Paused: 0\n Stopped: 1\n"),
        "{info}"
    );
    assert!(env.ok(&["version"]).starts_with("glassbox "));

    // prune: the stopped one goes, the running one stays.
    let pruned = env.ok(&["container", "prune"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(names(&["-a"]), ["up"]);
    env.ok(&["rm", "-f", "up"]);
    env.assert_clean();
}

#[test]
fn restart_on_failure_2_restarts_twice_then_stops_and_stop_ends_always() {
    if !root_or_skip("restart_on_failure_2_restarts_twice_then_stops_and_stop_ends_always") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    // Three runs (the first and two restarts, 100 then 200 ms apart), then it stays exited.
    wait_for("two restarts", Duration::from_secs(20), || {
        env.ok(&["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "r"]) == "2 exited\n"
            && env.ok(&["logs", "r"]) == "run\nrun\nrun\n"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(env.ok(&["logs", "r"]), "run\nrun\nrun\n");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}",
            "r"
        ]),
        "3 {\"MaximumRetryCount\":2,\"Name\":\"on-failure\"}\n"
    );

    // always: it comes back after it ends, until stop.
    env.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "a",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    wait_for("a restart", Duration::from_secs(20), || {
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "a"]).trim() != "0"
    });
    env.ok(&["stop", "-t", "1", "a"]);
    wait_for("the supervisor to give up", Duration::from_secs(20), || {
        !env.ok(&["ps", "-a"]).contains(" Up ") && env.gb(&["rm", "a"]).status.success()
    });

    let o = env.gb(&["run", "--restart", "sometimes", "-d", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("is not a restart policy"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["run", "--restart", "always", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("--restart needs -d"), "{}", stderr(&o));
    env.ok(&["rm", "r"]);
    env.assert_clean();
}

/// rm -f leaves the container's directory, out of the store, to a child of its supervisor
/// (the mounts go first, and their unmount syncs the disk): a cleanup right after leaves it
/// to that child, and takes it for no killed supervisor's.
#[test]
fn cleanup_right_after_rm_f_leaves_the_removal_to_the_supervisor() {
    if !root_or_skip("cleanup_right_after_rm_f_leaves_the_removal_to_the_supervisor") {
        return;
    }
    let env = Env::new();
    for i in 0..4 {
        let name = format!("t{i}");
        env.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo x > /f; sleep 300",
        ]);
        env.ok(&["rm", "-f", &name]);
        let o = env.cmd().arg("cleanup").output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            !stdout(&o).contains("supervisor was killed"),
            "cleanup took a directory being removed for an abandoned one: {}",
            stdout(&o)
        );
    }
    let trash = env.data().join("trash");
    wait_for("the trash to empty", Duration::from_secs(10), || {
        std::fs::read_dir(&trash).map_or(true, |mut d| d.next().is_none())
    });
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
    // One wait for a process at most: the supervisor's hang-up of its FIFO, then its end (a
    // pidfd, none if it had already ended by the time rm looked); the old two waits, for
    // PID 1 and then the supervisor, opened two.
    let names = t.narrated_names();
    let count = |call: &str| names.iter().filter(|n| *n == call).count();
    assert!(count("pidfd_open") <= 1, "{names:?}");
    assert!(count("poll") <= 2, "{names:?}");
    assert!(env.containers().is_empty());
    env.assert_clean();
}

/// stop learns of the end once it is on record — a byte in the FIFO its supervisor holds,
/// the log complete — with no wait for PID 1 of its own, then waits for the supervisor's
/// end; rm right after leaves nothing.
#[test]
fn stop_learns_the_end_from_the_fifo_and_rm_right_after_removes_everything() {
    if !root_or_skip("stop_learns_the_end_from_the_fifo_and_rm_right_after_removes_everything")
        || !tool_or_skip(
            "stop_learns_the_end_from_the_fifo_and_rm_right_after_removes_everything",
            "strace",
        )
    {
        return;
    }
    let env = Env::new();
    start_ready(
        &env,
        "s",
        "trap 'echo bye; exit 3' TERM; echo ready; sleep 1000 & wait",
    );
    let state = env.state.path().to_path_buf();
    let t = common::strace::run_with(&["stop", "s"], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    // The FIFO, then the supervisor's end: no pidfd for PID 1 (the old stop opened two).
    let names = t.narrated_names();
    let count = |call: &str| names.iter().filter(|n| *n == call).count();
    assert!(count("pidfd_open") <= 1, "{names:?}");
    assert!(count("poll") <= 2, "{names:?}");
    assert!(
        names.iter().any(|n| n == "openat"),
        "the FIFO is opened: {names:?}"
    );
    let row = env.ps_row("s").unwrap();
    assert!(row.contains("Exited (3)"), "{row}");
    assert_eq!(env.ok(&["logs", "s"]), "ready\nbye\n");
    assert_eq!(env.ok(&["rm", "s"]).trim(), "s");
    env.assert_clean();
}

/// A stop whose container's supervisor is killed while stop waits still returns (the
/// kernel closes the supervisor's end of the FIFO; stop then waits for PID 1 itself), and
/// what the supervisor left is for cleanup and rm to remove.
#[test]
fn a_stop_whose_supervisor_is_killed_returns_and_leaves_what_cleanup_removes() {
    if !root_or_skip("a_stop_whose_supervisor_is_killed_returns_and_leaves_what_cleanup_removes") {
        return;
    }
    let env = Env::new();
    // A shell as PID 1 ignores SIGTERM: stop waits out its grace time on the FIFO.
    let id = start_ready(&env, "o", "echo ready; while true; do sleep 0.1; done");
    let supervisor = env.state_json(&id)["supervisor"]["pid"].as_i64().unwrap() as i32;
    let start = Instant::now();
    let mut stop = env
        .cmd()
        .args(["-q", "stop", "-t", "2", "o"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(unsafe { libc::kill(supervisor, libc::SIGKILL) }, 0);
    let status = stop.wait().unwrap();
    assert!(
        status.success(),
        "stop failed after its supervisor was killed"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let row = env.ps_row("o").unwrap();
    assert!(row.contains("Dead"), "{row}");
    env.ok(&["cleanup"]);
    env.ok(&["rm", "o"]);
    env.assert_clean();
}

/// rm -f returns once the container is out of the store — its name free, ps not listing
/// it — and its supervisor removes the directory from the trash after the mounts are gone.
#[test]
fn rm_f_takes_the_container_out_at_once_and_its_supervisor_empties_the_trash() {
    if !root_or_skip("rm_f_takes_the_container_out_at_once_and_its_supervisor_empties_the_trash") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "t", "busybox", "sleep", "1000"]);
    assert_eq!(env.ok(&["rm", "-f", "t"]).trim(), "t");
    assert!(env.containers().is_empty());
    assert!(env.ps_row("t").is_none());
    // The name is free at once.
    env.ok(&["run", "--rm", "--name", "t", "busybox", "true"]);
    let trash = env.data().join("trash");
    wait_for("the trash to be emptied", Duration::from_secs(20), || {
        std::fs::read_dir(&trash).map_or(true, |d| d.count() == 0)
    });
    env.assert_clean();
}

/// What a supervisor killed between moving its container into the trash and removing it
/// left there: cleanup removes it (its supervisor is gone), and says so.
#[test]
fn cleanup_removes_a_trashed_directory_whose_supervisor_is_gone() {
    if !root_or_skip("cleanup_removes_a_trashed_directory_whose_supervisor_is_gone") {
        return;
    }
    let env = Env::new();
    let left = env.data().join("trash/0123456789ab");
    std::fs::create_dir_all(left.join("upper/etc")).unwrap();
    std::fs::write(
        left.join("state.json"),
        r#"{"status":"exited","process":null,"supervisor":{"pid":1,"start_time":1,"boot_id":"gone"},"exit_code":137,"error":null,"started":null,"finished":null}"#,
    )
    .unwrap();
    let o = env.cmd().arg("cleanup").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("removed the directory of a removed container"),
        "{}",
        stdout(&o)
    );
    assert!(!left.exists());
    env.assert_clean();
}

/// On a network of its own: `network rm` right after `stop`, and again right after `rm -f`,
/// finds the bridge and its rules free — stop and rm -f of a bridged container wait for
/// the supervisor in whose name they are journaled to end.
#[test]
fn network_rm_right_after_stop_or_rm_f_of_a_bridged_container_succeeds() {
    let test = "network_rm_right_after_stop_or_rm_f_of_a_bridged_container_succeeds";
    if !root_or_skip(test) || !tool_or_skip(test, "unshare") {
        return;
    }
    let env = Env::new();
    // Everything happens in a network namespace this test makes and throws away.
    let script = format!(
        r#"ip link set lo up
gb={gb}
for end in "stop w" "rm -f w"; do
  $gb -q network create s5n >/dev/null
  $gb -q run -d --name w --network s5n busybox sh -c 'trap "exit 0" TERM; echo ready; sleep 1000 & wait' >/dev/null
  until $gb logs w | grep -q ready; do sleep 0.05; done
  $gb -q $end >/dev/null
  $gb -q network rm s5n && echo "$end: network rm ok"
  $gb -q rm -f w >/dev/null 2>&1
  $gb -q network rm s5n >/dev/null 2>&1
done
$gb -q cleanup >/dev/null"#,
        gb = bin().display()
    );
    let o = in_own_netns(&env, &script);
    assert_eq!(
        stdout(&o),
        "s5n\nstop w: network rm ok\ns5n\nrm -f w: network rm ok\n",
        "{}",
        stderr(&o)
    );
    env.assert_clean();
}

/// rm -f of a bridged container returns only once its supervisor has ended (its bridge and
/// rules are in use in its name until then), even when the supervisor takes its time: its
/// exit is held back half a second by strace's fault injection.
#[test]
fn rm_f_of_a_bridged_container_waits_for_a_slow_supervisor() {
    let test = "rm_f_of_a_bridged_container_waits_for_a_slow_supervisor";
    if !root_or_skip(test) || !tool_or_skip(test, "unshare") || !tool_or_skip(test, "strace") {
        return;
    }
    let env = Env::new();
    let script = format!(
        r#"ip link set lo up
gb={gb}
$gb -q network create s7n >/dev/null
$gb -q run -d --name w --network s7n busybox sh -c 'echo ready; sleep 1000' >/dev/null
until $gb logs w | grep -q ready; do sleep 0.05; done
sup=$(awk '/^PPid/ {{ print $2 }}' /proc/$($gb inspect -f '{{{{.State.Pid}}}}' w)/status)
strace -qq -o /dev/null -p $sup -e trace=exit_group -e inject=exit_group:delay_enter=500000 &
until grep -q '^TracerPid:[[:space:]]*[1-9]' /proc/$sup/status; do sleep 0.01; done
$gb -q rm -f w >/dev/null
$gb -q network rm s7n && echo "network rm ok"
wait
$gb -q network rm s7n >/dev/null 2>&1
$gb -q cleanup >/dev/null"#,
        gb = bin().display()
    );
    let o = in_own_netns(&env, &script);
    assert_eq!(stdout(&o), "s7n\nnetwork rm ok\n", "{}", stderr(&o));
    env.assert_clean();
}

/// `script` run by sh in a network namespace of its own (thrown away with it), with this
/// test's state directory, at most two minutes.
fn in_own_netns(env: &Env, script: &str) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["120", "unshare", "--net", "sh", "-c", script])
        .env("GLASSBOX_STATE_DIR", env.state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

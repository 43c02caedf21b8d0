//! Containers that live on: run -d, ps, logs, exec, stop, start, rm — on the real kernel,
//! with the host compared before and after, and the faults a supervisor can meet.

mod common;
use common::containers::Env;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LOOP: &str = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done";

#[test]
fn a_detached_container_runs_logs_execs_stops_and_is_removed() {
    if !root_or_skip("a_detached_container_runs_logs_execs_stops_and_is_removed") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "looper",
        "--memory",
        "64m",
        "--pids-limit",
        "30",
        "busybox",
        "sh",
        "-c",
        LOOP,
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 12, "run -d prints the id: {id:?}");
    assert_eq!(env.containers(), vec![id.clone()]);

    // ps lists it running; ps -q gives its id.
    let ps = env.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    let row = ps
        .lines()
        .find(|l| l.ends_with("looper"))
        .expect(&ps)
        .to_string();
    assert!(row.starts_with(&id) && row.contains("Up "), "{row}");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), id);
    assert_eq!(
        stdout(&env.cmd().args(["-q", "ps"]).output().unwrap()).trim(),
        id
    );

    // logs: what it wrote so far; logs -f streams what comes after.
    wait_for("two log lines", Duration::from_secs(10), || {
        env.ok(&["logs", "looper"]).lines().count() >= 2
    });
    let logs = env.ok(&["logs", "looper"]);
    assert!(logs.starts_with("line 0\nline 1\n"), "{logs}");
    assert_eq!(
        env.ok(&["logs", "--tail", "1", "looper"]).lines().count(),
        1
    );
    let mut follow = env
        .cmd()
        .args(["logs", "-f", "looper"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let already = logs.lines().count();
    let mut seen = 0;
    for l in lines.by_ref() {
        let l = l.unwrap();
        assert!(l.starts_with("line "), "{l}");
        seen += 1;
        if seen > already + 2 {
            break; // it kept streaming lines written after it started
        }
    }

    // exec: a process in its namespaces sees its PID 1, its hostname, its limits and
    // its privileges.
    let ps_inside = env.ok(&["exec", "looper", "ps", "-o", "pid,args"]);
    let pid1 = ps_inside
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect(&ps_inside);
    assert!(pid1.contains("while true"), "{ps_inside}");
    assert_eq!(env.ok(&["exec", "looper", "hostname"]).trim(), id);
    let status = env.ok(&["exec", "looper", "cat", "/proc/self/status"]);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    assert_eq!(field("CapEff"), "00000000a80425fb", "docker's default set");
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");
    // It joins the container's cgroups and cgroup namespace: its memory cgroup is the
    // root of its view, and the limit read there is the container's.
    let cgroup = env.ok(&[
        "exec",
        "looper",
        "sh",
        "-c",
        "grep :memory: /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert!(
        cgroup.lines().any(|l| l.ends_with(":memory:/")) && cgroup.contains("\n67108864\n"),
        "exec joins the container's memory cgroup: {cgroup}"
    );
    let o = env.gb(&[
        "exec",
        "-e",
        "X=from-exec",
        "-w",
        "/etc",
        "looper",
        "sh",
        "-c",
        "echo $X $(pwd); exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "exec gives the command's status");
    assert_eq!(stdout(&o).trim(), "from-exec /etc");

    // inspect --process takes a container's name: its PID 1, its namespaces isolated.
    let pid1_host = env.state_json(&id)["process"]["pid"].as_i64().unwrap();
    let inspect = env.ok(&["inspect", "--process", "looper"]);
    assert!(
        inspect.starts_with(&format!("process {pid1_host}: ")),
        "{inspect}"
    );
    assert!(
        inspect
            .lines()
            .any(|l| l.trim_start().starts_with("pid ") && l.ends_with("isolated")),
        "{inspect}"
    );

    // rm of a running container is refused, and changes nothing.
    let o = env.gb(&["rm", "looper"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot remove container looper: it is running"),
        "{}",
        stderr(&o)
    );
    assert!(env.ps_row("looper").unwrap().contains("Up "));

    // stop: a shell as PID 1 ignores SIGTERM; after the grace time SIGKILL ends it.
    let start = Instant::now();
    assert_eq!(env.ok(&["stop", "-t", "1", "looper"]).trim(), "looper");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "SIGKILL came before the grace time: {took:?}"
    );
    drop(lines);
    let _ = follow.wait(); // logs -f ends with the container
    let row = env.ps_row("looper").unwrap();
    assert!(row.contains("Exited (137)"), "{row}");
    assert!(
        env.ok(&["ps"]).lines().count() == 1,
        "ps without -a lists running ones only"
    );
    assert_eq!(env.state_json(&id)["exit_code"], 137);

    // exec into a stopped container: one sentence, docker's exit code 1.
    let o = env.gb(&["exec", "looper", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("container looper is not running"),
        "{}",
        stderr(&o)
    );

    // rm: nothing of it is left (state, writable layer, cgroups, journal).
    assert_eq!(env.ok(&["rm", "looper"]).trim(), "looper");
    env.assert_clean();
}

#[test]
fn stop_with_a_term_handler_ends_at_once_and_start_keeps_the_writable_layer() {
    if !root_or_skip("stop_with_a_term_handler_ends_at_once_and_start_keeps_the_writable_layer") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run", "-d", "--name", "polite", "busybox", "sh", "-c",
        "trap 'echo bye; exit 3' TERM; echo started >> /marks; while true; do sleep 0.1 & wait; done",
    ]);
    // The mark is written after the trap is set.
    wait_for("the container to start", Duration::from_secs(10), || {
        stdout(&env.gb(&["exec", "polite", "cat", "/marks"])) == "started\n"
    });
    let start = Instant::now();
    env.ok(&["stop", "-t", "20", "polite"]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "it handled SIGTERM: no need to wait for the grace time"
    );
    assert!(env.ps_row("polite").unwrap().contains("Exited (3)"));
    assert_eq!(env.ok(&["logs", "polite"]), "bye\n");

    // start: running again, on the same writable layer (its file has two marks now).
    assert_eq!(env.ok(&["start", "polite"]).trim(), "polite");
    assert!(env.ps_row("polite").unwrap().contains("Up "));
    assert_eq!(
        env.ok(&["exec", "polite", "cat", "/marks"]),
        "started\nstarted\n"
    );
    env.ok(&["rm", "-f", "polite"]);
    env.assert_clean();
}

#[test]
fn a_foreground_run_is_kept_exited_until_rm_and_rm_removes_it() {
    if !root_or_skip("a_foreground_run_is_kept_exited_until_rm_and_rm_removes_it") {
        return;
    }
    let env = Env::new();
    // The first run exports the image (with umask 0 for the export): the container still
    // gets the usual umask, and its files their usual modes.
    let o = env.gb(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "umask; stat -c %a /etc",
    ]);
    assert_eq!(stdout(&o), "0022\n755\n", "{}", stderr(&o));
    let o = env.gb(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo hi; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stdout(&o), "hi\n");
    assert!(env.ps_row("fg").unwrap().contains("Exited (4)"));
    // Its output went to the terminal: there is no log, and logs says so.
    let o = env.gb(&["logs", "fg"]);
    assert!(
        o.status.success() && stderr(&o).contains("ran in the foreground"),
        "{}",
        stderr(&o)
    );
    // A name in use is refused, and nothing is made.
    let o = env.gb(&["run", "--name", "fg", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("the container name \"fg\" is already in use"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.containers().len(), 1);
    // With --rm too: no journal entry is left for a directory never
    // made (assert_clean below reads the journal).
    let o = env.gb(&["run", "--rm", "--name", "fg", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    assert_eq!(env.containers().len(), 1);
    // rm $(ps -aq), as the course notes do.
    let ids = env.ok(&["ps", "-aq"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert_eq!(env.ok(&[&["rm"][..], &ids].concat()).trim(), ids.join("\n"));
    env.assert_clean();
}

#[test]
fn a_generated_name_finds_its_container_without_a_link_and_no_other_takes_it() {
    if !root_or_skip("a_generated_name_finds_its_container_without_a_link_and_no_other_takes_it") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "busybox", "true"]);
    let [id] = env.containers().try_into().expect("one container");
    let name = format!("gb-{id}");
    // Its id's directory claims it: the names index holds no file for it.
    assert!(
        !env.data().join("names").join(&name).exists(),
        "a generated name has no link"
    );
    assert!(env.ps_row(&name).is_some(), "{}", env.ok(&["ps", "-a"]));
    assert!(env.ok(&["inspect", &name]).contains(&id));
    // Neither a new container nor a rename takes it.
    let o = env.gb(&["run", "--name", &name, "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    let taken = format!("the container name \"{name}\" is already in use by container {id}");
    assert!(stderr(&o).contains(&taken), "{}", stderr(&o));
    env.ok(&["run", "--name", "other", "busybox", "true"]);
    let o = env.gb(&["rename", "other", &name]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&taken), "{}", stderr(&o));
    assert_eq!(env.containers().len(), 2);
    // Renamed away, the generated name is neither found nor held: another may take it.
    env.ok(&["rename", &name, "first"]);
    assert!(!env.gb(&["inspect", &name]).status.success());
    env.ok(&["run", "--name", &name, "busybox", "true"]);
    assert!(env.data().join("names").join(&name).is_symlink());
    // A generated name that an earlier glassbox linked: its link goes with its container.
    let before = env.containers();
    env.ok(&["run", "busybox", "true"]);
    let [old] = env
        .containers()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect::<Vec<_>>()
        .try_into()
        .expect("one new container");
    let link = env.data().join("names").join(format!("gb-{old}"));
    std::os::unix::fs::symlink(&old, &link).unwrap();
    env.ok(&["rm", &format!("gb-{old}"), "first", "other", &name]);
    assert!(!link.is_symlink(), "the old link is left");
    env.assert_clean();
}

#[test]
fn kill_9_of_the_supervisor_leaves_a_dead_container_that_rm_removes() {
    if !root_or_skip("kill_9_of_the_supervisor_leaves_a_dead_container_that_rm_removes") {
        return;
    }
    let env = Env::new();
    // As root, and as a user: a uid change clears the parent-death signal, so run sets it
    // again after its setresuid.
    for user in ["0", "1000"] {
        let id = env.ok(&[
            "run", "-d", "--name", "orphan", "-u", user, "--memory", "64m", "busybox", "sleep",
            "1000",
        ]);
        let id = id.trim();
        let state = env.state_json(id);
        let supervisor = state["supervisor"]["pid"].as_i64().unwrap() as i32;
        let container = state["process"]["pid"].as_i64().unwrap() as i32;
        assert_eq!(unsafe { libc::kill(supervisor, libc::SIGKILL) }, 0);
        // PR_SET_PDEATHSIG takes the container down with its supervisor.
        wait_for(
            &format!("the container (-u {user}) to die with its supervisor"),
            Duration::from_secs(10),
            || {
                std::fs::read_to_string(format!("/proc/{container}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
            },
        );
        let row = env.ps_row("orphan").unwrap();
        assert!(row.contains("Dead"), "ps tells the truth: {row}");
        assert!(
            host_state()
                .1
                .iter()
                .any(|c| c.ends_with(&format!("/glassbox/gb-{id}"))),
            "the killed supervisor could not remove its cgroup"
        );
        assert_eq!(env.ok(&["rm", "orphan"]).trim(), "orphan");
    }
    env.assert_clean();
}

/// The shared `glassbox` parent cgroup made by a container whose supervisor was killed,
/// while another glassbox (another state directory) has its cgroup in it: `rm` leaves no
/// journal entry behind for it. The other run removes the parent when it ends, as the last
/// one out does; an entry kept here would be reported "in use" by every cleanup until then.
#[test]
fn rm_of_a_killed_container_leaves_no_entry_for_a_parent_another_run_uses() {
    if !root_or_skip("rm_of_a_killed_container_leaves_no_entry_for_a_parent_another_run_uses") {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "1000"]);
    let supervisor = env.state_json(id.trim())["supervisor"]["pid"]
        .as_i64()
        .unwrap() as i32;
    let other_state = tempfile::tempdir().unwrap();
    let other = |args: &[&str]| {
        let o = env
            .cmd()
            .env("GLASSBOX_STATE_DIR", other_state.path())
            .arg("-q")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "glassbox {args:?}: {}", stderr(&o));
    };
    other(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"]);
    assert_eq!(unsafe { libc::kill(supervisor, libc::SIGKILL) }, 0);
    wait_for("the supervisor to die", Duration::from_secs(10), || {
        glassbox::journal::start_time(supervisor as u32).is_none()
    });
    let rm = env.gb(&["rm", "-f", "first"]);
    other(&["rm", "-f", "other"]);
    other(&["cleanup"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(journal_empty(other_state.path()));
    env.assert_clean();
}

#[test]
fn a_stale_pid_is_not_trusted() {
    if !root_or_skip("a_stale_pid_is_not_trusted") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "old", "busybox", "true"]);
    let id = env.containers().pop().unwrap();
    // As if it were running under a pid that now belongs to another process (this test's
    // own), or a pid from an earlier boot: neither may be taken for the container.
    let path = env
        .state
        .path()
        .join(format!("data/containers/{id}/state.json"));
    for (pid, start, boot) in [
        (std::process::id(), 1u64, None),
        (std::process::id(), 0, Some("an-earlier-boot")),
    ] {
        let mut s = env.state_json(&id);
        let start = if boot.is_some() {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(19).unwrap().parse().unwrap()
        } else {
            start
        };
        s["status"] = "running".into();
        s["process"]["pid"] = pid.into();
        s["process"]["start_time"] = start.into();
        if let Some(b) = boot {
            s["process"]["boot_id"] = b.into();
        }
        std::fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
        assert!(env.ps_row("old").unwrap().contains("Dead"));
        let o = env.gb(&["exec", "old", "true"]);
        assert_eq!(o.status.code(), Some(1), "exec must not enter pid {pid}");
        let o = env.gb(&["stop", "old"]);
        assert!(o.status.success());
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_ok(),
            "stop signalled a stranger"
        );
    }
    env.ok(&["rm", "old"]);
    env.assert_clean();
}

#[test]
fn bad_references_are_refused_in_one_sentence_and_change_nothing() {
    if !root_or_skip("bad_references_are_refused_in_one_sentence_and_change_nothing") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "keep", "busybox", "true"]);
    let before: Vec<_> = env.containers();
    for (args, says) in [
        (vec!["rm", "../x"], "\"../x\" is not a container name or id"),
        (
            vec!["rm", "-f", "a/b"],
            "\"a/b\" is not a container name or id",
        ),
        (vec!["logs", "nosuch"], "no such container: nosuch"),
        (vec!["exec", "nosuch", "true"], "no such container: nosuch"),
        (vec!["stop", "x\u{1b}[2J"], "is not a container name or id"),
        (vec!["start", "nosuch"], "no such container: nosuch"),
    ] {
        let o = env.gb(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains('\u{1b}'),
            "a control character reached the terminal: {err:?}"
        );
    }
    assert_eq!(env.containers(), before);
    env.ok(&["rm", "keep"]);
    env.assert_clean();
}

#[test]
fn no_overlay_gives_a_private_copy_that_keeps_the_image_untouched() {
    if !root_or_skip("no_overlay_gives_a_private_copy_that_keeps_the_image_untouched") {
        return;
    }
    let env = Env::new();
    let o = env.cmd()
        .args(["run", "--name", "copy", "--no-overlay", "busybox", "sh", "-c"])
        .arg("echo mine > /etc/motd; rm /bin/vi; cat /etc/hostname; grep -c ' / overlay ' /proc/mounts")
        .output()
        .unwrap();
    let out = stdout(&o);
    // grep -c prints 0 and exits 1: no overlay is mounted on /.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let id = env.containers().pop().unwrap();
    assert_eq!(out, format!("{id}\n0\n"));
    assert!(stderr(&o).contains("the container gets a private copy of the image"));
    let data = env.state.path().join("data");
    let copy = data.join(format!("containers/{id}/rootfs"));
    assert_eq!(
        std::fs::read_to_string(copy.join("etc/motd")).unwrap(),
        "mine\n"
    );
    assert!(!copy.join("bin/vi").exists());
    let image = data.join("images/busybox/rootfs");
    assert!(
        image.join("bin/vi").exists() && !image.join("etc/motd").exists(),
        "the image changed"
    );
    env.ok(&["rm", "copy"]);
    env.assert_clean();
}

#[test]
fn two_commands_on_one_container_at_once_take_turns() {
    if !root_or_skip("two_commands_on_one_container_at_once_take_turns") {
        return;
    }
    let env = Env::new();
    for round in 0..3 {
        let name = format!("race{round}");
        env.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
        let racers: Vec<_> = (0..4)
            .map(|_| {
                env.cmd()
                    .args(["-q", "rm", "-f", &name])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = racers
            .into_iter()
            .map(|r| r.wait_with_output().unwrap())
            .collect();
        let removed = outs.iter().filter(|o| o.status.success()).count();
        let errs: Vec<String> = outs.iter().map(stderr).collect();
        assert_eq!(removed, 1, "exactly one rm removes it: {errs:?}");
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(o.status.code(), Some(1));
            assert!(stderr(o).contains("no such container"), "{}", stderr(o));
        }
    }
    env.assert_clean();
}

#[test]
fn rm_of_a_bridged_container_whose_supervisor_was_killed_removes_its_veth_and_rules() {
    rm_after_its_supervisor_was_killed(
        "rm_of_a_bridged_container_whose_supervisor_was_killed",
        "$gb -q rm web",
    );
}

#[test]
fn rm_from_another_network_namespace_removes_the_rules_where_they_were_made() {
    // rm runs in a namespace of its own: it must join the container's (the shell's) to
    // delete the rules there, not replay the deletes where it runs and forget them.
    rm_after_its_supervisor_was_killed(
        "rm_from_another_network_namespace",
        "unshare --net $gb -q rm web",
    );
}

/// A detached bridged container with a published port, its supervisor killed, then `rm`
/// (the shell line given, `$gb` being glassbox) and `cleanup`: nothing of it stays.
fn rm_after_its_supervisor_was_killed(test: &str, rm: &str) {
    if !root_or_skip(test) || !tool_or_skip(test, "unshare") {
        return;
    }
    let env = Env::new();
    // Everything happens in a network namespace this test makes and throws away.
    let script = format!(
        r#"set -u
ip link set lo up
gb={gb}
$gb -q run -d --name web --network bridge -p 18081:80 busybox httpd -f -p 80 >/dev/null
state=$(python3 -c 'import json,glob,os; s=json.load(open(glob.glob(os.environ["GLASSBOX_STATE_DIR"] + "/data/containers/*/state.json")[0])); print(s["supervisor"]["pid"], s["process"]["pid"])')
sup=${{state% *}} pid=${{state#* }}
echo before: links $(ip -o link | grep -c gbh) rules $(iptables-save | grep -c 'glassbox:[0-9]')
kill -9 $sup
# PR_SET_PDEATHSIG ends the container after its supervisor: however long a busy machine takes.
timeout 10 tail -s 0.05 --pid=$pid -f /dev/null
$gb ps -a | grep -c Dead
{rm}
echo after-rm: links $(ip -o link | grep -c gbh) rules $(iptables-save | grep -c 'glassbox:[0-9]') containers $($gb ps -aq | wc -l)
$gb -q cleanup >/dev/null
echo after-cleanup: $(ip -o link | grep -c gb) $(iptables-save | grep -c glassbox)"#,
        gb = bin().display()
    );
    let o = Command::new("timeout")
        .args(["120", "unshare", "--net", "sh", "-c", &script])
        .env("GLASSBOX_STATE_DIR", env.state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("before: links 1 rules ") && !l.ends_with(" 0")),
        "{out}{}",
        stderr(&o)
    );
    assert_eq!(
        &lines[1..],
        &[
            "1",
            "web",
            "after-rm: links 0 rules 0 containers 0",
            "after-cleanup: 0 0"
        ],
        "{}",
        stderr(&o)
    );
    env.assert_clean();
}

#[test]
fn the_name_of_a_killed_rm_container_is_free_again_after_cleanup() {
    if !root_or_skip("the_name_of_a_killed_rm_container_is_free_again_after_cleanup") {
        return;
    }
    let env = Env::new();
    let mut run = env
        .cmd()
        .args([
            "-q", "run", "--rm", "--name", "once", "busybox", "sleep", "100",
        ])
        .spawn()
        .unwrap();
    wait_for("the container to run", Duration::from_secs(10), || {
        env.ps_row("once").is_some_and(|r| r.contains("Up "))
    });
    run.kill().unwrap(); // SIGKILL: glassbox cannot remove the container itself
    run.wait().unwrap();
    wait_for(
        "the container to die with glassbox",
        Duration::from_secs(10),
        || env.ps_row("once").is_some_and(|r| r.contains("Dead")),
    );
    // Taken while its directory is there; cleanup removes the --rm container's directory.
    let o = env.gb(&["run", "--rm", "--name", "once", "busybox", "true"]);
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    env.ok(&["cleanup"]);
    assert!(env.ps_row("once").is_none());
    env.ok(&["run", "--rm", "--name", "once", "busybox", "true"]);
    env.assert_clean();
}

#[test]
fn kill_9_of_glassbox_during_run_d_leaves_what_ps_reports_and_rm_f_or_cleanup_removes() {
    if !root_or_skip("kill_9_of_glassbox_during_run_d") {
        return;
    }
    let env = Env::new();
    // Killed at different moments of its start: before, while and after it makes the
    // container's directory, forks the supervisor, clones the container.
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let mut front = env
            .cmd()
            .args([
                "-q", "run", "-d", "--name", "half", "--memory", "64m", "busybox", "sleep", "100",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = front.kill();
        let _ = front.wait();
        std::thread::sleep(Duration::from_millis(300));
        // Whatever it reached, ps says it truthfully, and rm -f plus cleanup remove it.
        if let Some(row) = env.ps_row("half") {
            assert!(
                ["Created", "Up ", "Exited (", "Dead"]
                    .iter()
                    .any(|s| row.contains(s)),
                "after {delay_ms} ms: {row}"
            );
            env.ok(&["rm", "-f", "half"]);
        }
        env.ok(&["cleanup"]);
        assert!(
            env.containers().is_empty(),
            "after {delay_ms} ms: {:?}",
            env.containers()
        );
        // The name is free again.
        env.ok(&["run", "--rm", "--name", "half", "busybox", "true"]);
    }
    env.assert_clean();
}

#[test]
fn two_containers_cannot_publish_one_host_port() {
    if !root_or_skip("two_containers_cannot_publish_one_host_port")
        || !tool_or_skip("one_host_port", "unshare")
    {
        return;
    }
    let env = Env::new();
    // In a network namespace this test makes and throws away.
    let script = format!(
        r#"ip link set lo up
gb={gb}
$gb -q run -d --name first --network bridge -p 18083:80 busybox httpd -f -p 80 >/dev/null
$gb -q run --rm --name second --network bridge -p 18083:80 busybox true; echo second=$?
$gb -q run --rm --name udp --network bridge -p 18083:80/udp busybox true; echo udp=$?
$gb -q rm -f first >/dev/null
$gb -q run --rm --name third --network bridge -p 18083:80 busybox true; echo third=$?
$gb -q cleanup >/dev/null"#,
        gb = bin().display()
    );
    let o = Command::new("timeout")
        .args(["120", "unshare", "--net", "sh", "-c", &script])
        .env("GLASSBOX_STATE_DIR", env.state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "second=125\nudp=0\nthird=0\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("host port 18083/tcp is already published by another container"),
        "{}",
        stderr(&o)
    );
    env.assert_clean();
}

/// The writes `glassbox ARGS` makes to its stdout, under strace.
fn stdout_writes(env: &Env, args: &[&str]) -> (String, usize) {
    let log = env.state.path().join("writes.strace");
    let mut c = Command::new("strace");
    c.arg("-qq")
        .args(["-e", "trace=write", "-e", "signal=none", "-o"])
        .arg(&log)
        .arg(bin())
        .args(args)
        .env("GLASSBOX_STATE_DIR", env.state.path())
        .env("NO_COLOR", "1");
    let o = c.output().unwrap();
    assert!(o.status.success(), "glassbox {args:?}: {}", stderr(&o));
    let trace = std::fs::read_to_string(&log).unwrap();
    (
        stdout(&o),
        trace.lines().filter(|l| l.starts_with("write(1,")).count(),
    )
}

/// 40 exited containers: one run, and 39 copies of its record and state under new ids and
/// names (as 39 runs would leave them, much faster).
fn forty_exited(env: &Env) {
    env.ok(&["run", "--name", "seed", "busybox", "true"]);
    let seed = env.containers()[0].clone();
    // 39 more exited containers, as 39 runs would leave them: the seed's record and state
    // under new ids and names.
    let dir = env.data().join("containers");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&seed).join("container.json")).unwrap())
            .unwrap();
    for i in 0..39 {
        let id = format!("{i:012x}");
        let mut r = record.clone();
        r["id"] = id.clone().into();
        r["name"] = format!("copy-{i}").into();
        std::fs::create_dir(dir.join(&id)).unwrap();
        std::fs::write(dir.join(&id).join("container.json"), r.to_string()).unwrap();
        std::fs::copy(
            dir.join(&seed).join("state.json"),
            dir.join(&id).join("state.json"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&id, env.data().join("names").join(format!("copy-{i}")))
            .unwrap();
    }
}

#[test]
fn inspect_of_many_containers_writes_a_screenful_at_a_time() {
    let name = "inspect_of_many_containers_writes_a_screenful_at_a_time";
    if !root_or_skip(name) || !tool_or_skip(name, "strace") {
        return;
    }
    let env = Env::new();
    forty_exited(&env);
    let ids = env.containers();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let args = [&["inspect", "-f", "{{.Name}} {{.State.Status}}"][..], &ids].concat();
    let (lines, writes) = stdout_writes(&env, &args);
    assert_eq!(lines.lines().count(), 40, "{lines}");
    assert!(lines.lines().any(|l| l == "/copy-38 exited"), "{lines}");
    assert_eq!(writes, 1, "inspect -f made {writes} writes for 40 lines");
    env.ok(&[&["rm"][..], &ids].concat());
    env.assert_clean();
}

#[test]
fn ps_of_many_containers_writes_a_screenful_at_a_time() {
    if !root_or_skip("ps_of_many_containers_writes_a_screenful_at_a_time")
        || !tool_or_skip(
            "ps_of_many_containers_writes_a_screenful_at_a_time",
            "strace",
        )
    {
        return;
    }
    let env = Env::new();
    forty_exited(&env);
    let (table, writes) = stdout_writes(&env, &["ps", "-a"]);
    assert_eq!(table.lines().count(), 41, "{table}");
    assert!(table.lines().any(|l| l.ends_with("copy-38")), "{table}");
    // 41 lines of ~110 bytes: one write per 8 KiB, not one per line.
    assert!(writes <= 2, "ps -a made {writes} writes for 41 lines");
    let (ids, writes) = stdout_writes(&env, &["ps", "-aq"]);
    assert_eq!(ids.lines().count(), 40, "{ids}");
    assert_eq!(writes, 1, "ps -aq made {writes} writes for 40 ids");
    let ids: Vec<&str> = ids.split_whitespace().collect();
    env.ok(&[&["rm"][..], &ids].concat());
    env.assert_clean();
}

//! `glassbox run` on the real kernel: what the container sees, what it may do, how it ends,
//! and that the host is as it was afterwards — whatever happened.

mod common;
use common::*;
use std::process::{Command, Output};

/// A state and data directory of the test's own, so runs never share a journal.
struct Env {
    state: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    fn new() -> Env {
        // Tests that compare the host before and after take turns: another test's container
        // would show up in the comparison.
        let turn = HOST.lock().unwrap_or_else(|e| e.into_inner());
        Env {
            state: tempfile::tempdir().unwrap(),
            _turn: turn,
        }
    }
    fn cmd(&self) -> Command {
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", self.state.path());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        // --rm: every test checks that nothing is left (kept containers are tests/containers.rs's).
        self.cmd()
            .arg("-q")
            .arg("run")
            .arg("--rm")
            .args(args)
            .output()
            .unwrap()
    }
    fn journal_is_empty(&self) -> bool {
        journal_empty(self.state.path())
    }
    fn containers_left(&self) -> usize {
        std::fs::read_dir(self.state.path().join("data/containers"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

static HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn status_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The cgroup name of container `name`, from its run's narration: `gb-` and its id (the
/// header reads `▶ run — container NAME (ID) from …`).
fn cgroup_of(narration: &str, name: &str) -> String {
    let head = format!("container {name} (");
    let id = narration
        .split_once(&head)
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("no run header for {name}: {narration}"));
    format!("gb-{id}")
}

#[test]
fn a_container_has_its_own_hostname_pid_1_root_and_env() {
    if !root_or_skip("a_container_has_its_own_hostname_pid_1_root_and_env") {
        return;
    }
    let env = Env::new();
    let before = host_state();
    let o = env.run(&[
        "--hostname",
        "box",
        "-e",
        "GREETING=hi",
        "-w",
        "/etc",
        "busybox",
        "sh",
        "-c",
        "hostname; echo $$; echo $GREETING; pwd; ls /; cat /etc/hostname",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..4], &["box", "1", "hi", "/etc"], "{out}");
    for d in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
        assert!(lines.contains(&d), "no /{d} in the container's root: {out}");
    }
    assert!(
        !lines.contains(&"work") && !lines.contains(&"home"),
        "the host's root shows: {out}"
    );
    assert_eq!(lines.last(), Some(&"box"));
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn only_the_container_processes_are_visible() {
    if !root_or_skip("only_the_container_processes_are_visible") {
        return;
    }
    let env = Env::new();
    let o = env.run(&["busybox", "ps", "-o", "pid,comm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<String> = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows, vec!["1 ps"]);
}

#[test]
fn privileges_inside_are_dockers_defaults() {
    if !root_or_skip("privileges_inside_are_dockers_defaults") {
        return;
    }
    let env = Env::new();
    let o = env.run(&["busybox", "cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert_eq!(status_field(&s, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&s, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&s, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&s, "NoNewPrivs"), "1");
    assert_eq!(status_field(&s, "Seccomp"), "2");
    // No descriptor above 2 crosses into the container (ls itself opens 3 for the listing),
    // whether the run is quiet (all closed in one call, unseen) or narrated (each inherited
    // one named as it is closed).
    let with_fd_7 = |run: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 7</etc/hostname; {} {run} busybox ls /proc/self/fd",
                bin().display()
            ))
            .env("GLASSBOX_STATE_DIR", env.state.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            stdout(&o).split_whitespace().collect::<Vec<_>>(),
            vec!["0", "1", "2", "3"],
            "{}",
            stderr(&o)
        );
        stderr(&o)
    };
    with_fd_7("-q run");
    let narrated = with_fd_7("run --rm");
    assert!(narrated.contains("close_range(7, 7, 0) = 0"), "{narrated}");
}

#[test]
fn masked_paths_read_empty_and_sys_is_read_only() {
    if !root_or_skip("masked_paths_read_empty_and_sys_is_read_only") {
        return;
    }
    let env = Env::new();
    let o = env.run(&[
        "busybox", "sh", "-c",
        "wc -c < /proc/keys; wc -c < /proc/timer_list; echo x > /proc/sysrq-trigger && echo wrote-sysrq; echo 1 > /proc/sys/kernel/sysrq && echo wrote-proc-sys; touch /sys/x && echo wrote-sys; echo done",
    ]);
    let out = stdout(&o);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["0", "0", "done"],
        "{out}{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn read_only_root_refuses_writes_and_writes_stay_in_the_container() {
    if !root_or_skip("read_only_root_refuses_writes") {
        return;
    }
    let env = Env::new();
    let o = env.run(&[
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /etc/new && echo wrote; cat /etc/hostname >/dev/null && echo read",
    ]);
    assert_eq!(stdout(&o), "read\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // Without --read-only a write lands in the container's own layer, never in the image.
    let o = env.run(&["busybox", "sh", "-c", "echo changed > /etc/passwd"]);
    assert!(o.status.success());
    let image = env
        .state
        .path()
        .join("data/images/busybox/rootfs/etc/passwd");
    assert!(
        std::fs::read_to_string(image).unwrap().starts_with("root:"),
        "the image changed"
    );
}

#[test]
fn exit_codes_follow_docker_run() {
    if !root_or_skip("exit_codes_follow_docker_run") {
        return;
    }
    let env = Env::new();
    assert_eq!(
        env.run(&["busybox", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    assert_eq!(env.run(&["busybox", "true"]).status.code(), Some(0));
    let o = env.run(&["busybox", "no-such-program"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        stderr(&o).contains("\"no-such-program\" was not found"),
        "{}",
        stderr(&o)
    );
    let o = env.run(&["busybox", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    // PID 1 ignores signals it has no handler for, so the signal goes to a child shell.
    assert_eq!(
        env.run(&["busybox", "sh", "-c", "sh -c 'kill -TERM $$'; exit $?"])
            .status
            .code(),
        Some(143)
    );
    let o = env.run(&[
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let o = env.run(&["--cpus", "-1", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn bad_flags_change_nothing() {
    let env = Env::new();
    let before = host_state();
    for args in [
        &["--name", "../x", "busybox", "true"][..],
        &["--hostname", "a b", "busybox", "true"],
        &["--skip", "nonsense", "busybox", "true"],
        &["--cap-add", "FLY", "busybox", "true"],
        &["--network", "mars", "busybox", "true"],
        &["--memory", "12XB", "busybox", "true"],
        &["/no/such/rootfs", "true"],
    ] {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("what to do:"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty());
}

#[test]
fn dry_run_prints_the_plan_without_root_or_changes() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let o = env
        .cmd()
        .args([
            "--dry-run",
            "run",
            "--memory",
            "64m",
            &dir.path().to_string_lossy(),
            "/bin/sh",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for call in [
        "pivot_root(\".\", \".\") = ? (dry run: not made)",
        "seccomp(SECCOMP_SET_MODE_FILTER",
    ] {
        assert!(err.contains(call), "{call} missing:\n{err}");
    }
    // With a cgroup v2 tree on the host the child is to be born in its cgroup there.
    let clone = "clone(child_stack=NULL, flags=CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET|SIGCHLD) = ? (dry run: not made)";
    let clone3 = "clone3({flags=CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, stack=NULL, stack_size=0, cgroup=?}, 88) = ? (dry run: not made)";
    assert!(
        err.contains(clone) || err.contains(clone3),
        "no clone:\n{err}"
    );
    // With the memory controller on cgroup v1 the child is to move itself in.
    if err.contains("cgroup v1 hierarchy at") {
        assert!(
            err.contains("/tasks>, \"0\", 1) = ? (dry run: not made)"),
            "{err}"
        );
    }
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn a_dry_run_on_a_bridge_with_published_ports_journals_nothing() {
    // The network stage plans against the journal (leases, ports taken); a dry run reads it
    // and writes no entry — it made nothing that cleanup would have to undo.
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let o = env
        .cmd()
        .args([
            "--dry-run",
            "run",
            "--network",
            "bridge",
            "-p",
            "18080:80",
            "-p",
            "18081:81/udp",
        ])
        .arg(dir.path())
        .arg("/bin/sh")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(dry run: not made)"), "{}", stderr(&o));
    assert!(env.journal_is_empty(), "a dry run left journal entries");
    assert_eq!(env.containers_left(), 0);
}

#[test]
fn the_narration_of_a_run_is_honest() {
    if !root_or_skip("the_narration_of_a_run_is_honest") || !tool_or_skip("run_honest", "strace") {
        return;
    }
    let env = Env::new();
    // Warm the image cache first, so the traced run is the container alone.
    assert!(env.run(&["busybox", "true"]).status.success());
    let t = strace::run_with(
        &[
            "run",
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "true",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path());
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
}

/// The container's first process enters its cgroups itself: it writes "0" into each v1
/// hierarchy's `tasks` file (one thread moving itself needs no host-wide lock), and is born
/// in its v2 cgroup by clone3(CLONE_INTO_CGROUP) — or, where the kernel refuses that, the
/// parent moves it there. The limits hold all the same, and the narration is what happened.
#[test]
fn the_container_enters_its_cgroups_itself_and_the_limits_hold() {
    if !root_or_skip("the_container_enters_its_cgroups_itself")
        || !tool_or_skip("cgroups_itself", "strace")
    {
        return;
    }
    let env = Env::new();
    let before = host_state();
    assert!(env.run(&["busybox", "true"]).status.success());
    let name = format!("cgself-{}", std::process::id());
    // The container says where it is, then starts eight background sleeps under a limit of
    // 5 processes: a fork fails, and the shell gives up with status 2.
    let t = strace::run_with(
        &[
            "run",
            "--rm",
            "--name",
            &name,
            "--memory",
            "64m",
            "--pids-limit",
            "5",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/cgroup /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; for i in 1 2 3 4 5 6 7 8; do sleep 5 & done",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path());
        },
    );
    let err = stderr(&t.output);
    let out = stdout(&t.output);
    let cgroup = cgroup_of(&err, &name);
    // (a) the limits apply, and the command ran inside every cgroup: each is the root of
    // its cgroup namespace, and the limits read at /sys/fs/cgroup are the container's.
    assert_eq!(t.output.status.code(), Some(2), "{err}");
    assert!(err.contains("can't fork"), "{err}");
    assert!(err.contains("the pids limit of 5 was hit"), "{err}");
    for ctrl in ["memory", "pids"] {
        assert!(
            out.lines().any(|l| l.ends_with(&format!(":{ctrl}:/"))),
            "not in the {ctrl} cgroup: {out}"
        );
    }
    assert!(out.contains("\n67108864\n5\n"), "{out}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.procs").exists();
    if v2 {
        assert!(out.contains("0::/\n"), "not in the v2 cgroup: {out}");
    }
    // (b) the child wrote "0" into each v1 tasks file itself, and that is what was narrated.
    let parent = t.calls.first().expect("strace saw glassbox").pid;
    let tasks: Vec<_> = t
        .calls
        .iter()
        .filter(|c| c.name == "write" && c.args.first().is_some_and(|a| a.ends_with("/tasks>")))
        .collect();
    for ctrl in ["memory", "pids"] {
        let w = tasks
            .iter()
            .find(|c| c.args[0].contains(&format!("/{ctrl}/glassbox/{cgroup}/tasks>")))
            .unwrap_or_else(|| panic!("no write to the {ctrl} tasks file: {tasks:?}"));
        assert_eq!((w.args[1].as_str(), w.args[2].as_str()), ("\"0\"", "1"));
        assert_eq!(w.result, "1", "{w:?}");
        assert_ne!(
            w.pid, parent,
            "the parent wrote {w:?}: the child should move itself"
        );
        // The writer is the process that becomes the container's command.
        assert!(
            t.calls
                .iter()
                .any(|c| c.pid == w.pid && c.name == "execve" && c.args[0] == "\"/bin/sh\""),
            "the tasks writer {} did not exec the command",
            w.pid
        );
        assert!(
            err.contains(&format!("/{ctrl}/glassbox/{cgroup}/tasks>, \"0\", 1) = 1")),
            "not narrated: {err}"
        );
    }
    // Nobody moved a process into a v1 cgroup by pid.
    assert!(
        !t.calls.iter().any(|c| c.name == "write"
            && c.args
                .first()
                .is_some_and(|a| a.contains("cgroup.procs>") && !a.contains("/unified/"))),
        "a v1 cgroup.procs was written"
    );
    if v2 {
        // Born in the v2 cgroup, or (a kernel without CLONE_INTO_CGROUP) moved by the parent.
        let born = t.calls.iter().any(|c| {
            c.name == "clone3"
                && c.args[0].contains("CLONE_INTO_CGROUP")
                && !c.result.starts_with("-1")
        });
        let moved = t.calls.iter().any(|c| {
            c.pid == parent
                && c.name == "write"
                && c.args[0].contains(&format!("/glassbox/{cgroup}/cgroup.procs>"))
        });
        assert!(born || moved, "the container never got into its v2 cgroup");
        assert!(
            !(born && moved),
            "born in the v2 cgroup and moved there too"
        );
    }
    t.assert_honest();
    // Out of memory inside: the OOM killer ends PID 1, and glassbox exits 137 as docker does.
    let o = env
        .cmd()
        .args([
            "run",
            "--rm",
            "--memory",
            "32m",
            "busybox",
            "sh",
            "-c",
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(137), "{err}");
    assert!(err.contains("killed by the OOM killer"), "{err}");
    assert!(err.contains("/memory/glassbox/"), "{err}");
    assert!(err.contains("/tasks>, \"0\", 1) = 1"), "{err}");
    // --skip cgroup: no limits, so nothing is entered.
    let o = env.run(&[
        "--skip",
        "cgroup",
        "--pids-limit",
        "5",
        "busybox",
        "cat",
        "/proc/self/cgroup",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("/glassbox/"), "{}", stdout(&o));
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

/// On a kernel without clone3 (strace makes every clone3 fail with ENOSYS, as an old kernel
/// or a seccomp filter does) the child is cloned as before and the parent moves it into its
/// v2 cgroup by pid; the refusal and the fallback are narrated as they happened.
#[test]
fn without_clone3_the_parent_moves_the_child_into_its_v2_cgroup() {
    if !root_or_skip("without_clone3_the_parent_moves_the_child")
        || !tool_or_skip("without_clone3", "strace")
    {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        && !std::path::Path::new("/sys/fs/cgroup/cgroup.procs").exists()
    {
        common::skip("without_clone3", "this host has no cgroup v2 tree");
        return;
    }
    let env = Env::new();
    let before = host_state();
    assert!(env.run(&["busybox", "true"]).status.success());
    let name = format!("noclone3-{}", std::process::id());
    let t = strace::run_injected(
        "clone3:error=ENOSYS",
        &[
            "run",
            "--rm",
            "--name",
            &name,
            "--pids-limit",
            "20",
            "busybox",
            "sh",
            "-c",
            // The root of its v2 view holds PID 1 only if the child was in its v2 cgroup
            // when it unshared its cgroup namespace (else: a cgroup with none of its pids).
            "cat /proc/self/cgroup /sys/fs/cgroup/unified/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null; true",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path());
        },
    );
    let err = stderr(&t.output);
    assert!(t.output.status.success(), "{err}");
    assert!(
        err.contains("CLONE_INTO_CGROUP") && err.contains("= -1 ENOSYS"),
        "{err}"
    );
    assert!(err.contains("clone(child_stack=NULL, flags="), "{err}");
    assert!(
        err.contains(&format!(
            "/glassbox/{}/cgroup.procs>",
            cgroup_of(&err, &name)
        )),
        "the parent did not move the child: {err}"
    );
    let out = stdout(&t.output);
    assert!(out.contains("0::/\n") && out.contains("\n1\n"), "{out}");
    t.assert_honest();
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

/// Start a long container, signal glassbox, and check everything is undone.
/// `script` is the container's command; `expect` the exit status glassbox should give.
fn signal_run(sig: i32, script: &str, expect: i32) {
    let env = Env::new();
    let before = host_state();
    let mut child = env
        .cmd()
        .args([
            "-q", "run", "--rm", "--memory", "64m", "busybox", "sh", "-c", script,
        ])
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Wait until the container runs (its cgroup has a process).
    for _ in 0..300 {
        if std::fs::read_dir(env.state.path().join("data/containers"))
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe { libc::kill(pid, sig) };
    let status = child.wait().unwrap();
    if sig == libc::SIGKILL {
        // The container dies with glassbox (PR_SET_PDEATHSIG), but on a busy machine it may
        // still be exiting when cleanup first looks: a cgroup with a process in it cannot
        // go yet, and stays journaled for the next cleanup, as it would for a user.
        let mut said = String::new();
        for _ in 0..50 {
            let o = env.cmd().arg("cleanup").output().unwrap();
            said.push_str(&stdout(&o));
            if o.status.success() && env.journal_is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(said.contains("removed cgroup"), "{said}");
    } else {
        assert_eq!(
            status.code(),
            Some(expect),
            "signal {sig} to glassbox, container {script:?}"
        );
    }
    // PR_SET_PDEATHSIG ended the container with its parent.
    for _ in 0..300 {
        if host_state() == before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(host_state(), before, "signal {sig} left the host changed");
    assert!(
        env.journal_is_empty() && env.containers_left() == 0,
        "signal {sig}: journal or container dir left"
    );
}

#[test]
fn sigint_and_sigterm_to_glassbox_end_the_container_and_clean_up() {
    if !root_or_skip("sigint_and_sigterm_to_glassbox") {
        return;
    }
    // A container that handles the signal ends by it; one whose PID 1 ignores it is killed
    // after the grace time.
    signal_run(libc::SIGTERM, "trap 'exit 143' TERM; sleep 30 & wait", 143);
    signal_run(libc::SIGINT, "trap 'exit 130' INT; sleep 30 & wait", 130);
    signal_run(libc::SIGTERM, "exec sleep 30", 137);
}

#[test]
fn kill_9_of_glassbox_then_cleanup_leaves_nothing() {
    if !root_or_skip("kill_9_of_glassbox_then_cleanup_leaves_nothing") {
        return;
    }
    signal_run(libc::SIGKILL, "exec sleep 30", 0);
}

#[test]
fn fifty_containers_at_once() {
    if !root_or_skip("fifty_containers_at_once") {
        return;
    }
    let env = Env::new();
    let before = host_state();
    assert!(env.run(&["busybox", "true"]).status.success());
    let children: Vec<_> = (0..50)
        .map(|i| {
            env.cmd()
                .args([
                    "-q",
                    "run",
                    "--rm",
                    "--pids-limit",
                    "20",
                    "busybox",
                    "sh",
                    "-c",
                    &format!("hostname >/dev/null; exit {}", i % 3),
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, mut c) in children.into_iter().enumerate() {
        assert_eq!(c.wait().unwrap().code(), Some((i % 3) as i32));
    }
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn a_bridged_container_is_reachable_through_its_published_port() {
    if !root_or_skip("a_bridged_container_is_reachable") || !tool_or_skip("run_bridge", "unshare") {
        return;
    }
    let env = Env::new();
    // Everything happens in a network namespace this test makes and throws away.
    let script = format!(
        r#"set -u
ip link set lo up
gb={gb}
$gb -q run --rm --network bridge --hostname web -p 18080:80 busybox sh -c 'mkdir /www; echo hello-from-web > /www/index.html; exec httpd -f -p 80 -h /www' &
web=$!
for i in $(seq 100); do busybox nc -w 1 127.0.0.1 18080 </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 127.0.0.1 18080 | tail -1
$gb -q run --rm --network bridge busybox sh -c 'ip -4 -o addr show eth0 | grep -o "inet 10\.77\.0\.[0-9]*"; ping -c 1 -W 2 10.77.0.1 >/dev/null && echo gateway-answers'
kill $web; wait $web
$gb -q run --rm --network bridge --skip namespaces busybox true
echo host-eth0: $(ip -o link | grep -c 'eth0')
# The host veths go with the containers' namespaces, a moment after glassbox ended.
i=0; while ip -o link | grep -q gbh && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
echo links: $(ip -o link | grep -c gbh)
echo rules: $(iptables-save | grep -c 'glassbox:[0-9]')
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
    assert_eq!(
        lines.first(),
        Some(&"hello-from-web"),
        "{out}{}",
        stderr(&o)
    );
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("inet 10.77.0.")),
        "{out}"
    );
    assert!(lines.contains(&"gateway-answers"), "{out}");
    assert!(
        lines.contains(&"links: 0") && lines.contains(&"rules: 0"),
        "the container's veth or DNAT rule stayed: {out}"
    );
    assert!(lines.contains(&"after-cleanup: 0 0"), "{out}");
    // Skipping the namespaces stage never wires the host's own network namespace.
    assert!(lines.contains(&"host-eth0: 0"), "{out}");
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn tmpfs_and_volumes_as_docker_gives_them() {
    if !root_or_skip("tmpfs_and_volumes_as_docker_gives_them") {
        return;
    }
    let env = Env::new();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in"), "from-the-host\n").unwrap();
    let vol = format!("{}:/data", data.path().display());
    let ro = format!("{}:/ro:ro", data.path().display());
    let o = env.run(&[
        "--tmpfs", "/run:1m", "--volume", &vol, "--volume", &ro, "busybox", "sh", "-c",
        "df -k /run | tail -1 | tr -s ' ' | cut -d' ' -f2; cat /data/in; echo back > /data/out; touch /ro/x 2>/dev/null || echo ro-refused",
    ]);
    assert_eq!(
        stdout(&o),
        "1024\nfrom-the-host\nro-refused\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("out")).unwrap(),
        "back\n"
    );
    for bad in [
        &["--tmpfs", "../x"][..],
        &["--tmpfs", "/x:lots"],
        &["--userns", "keep-id"],
    ] {
        let o = env.run(&[bad, &["busybox", "true"]].concat());
        assert_eq!(o.status.code(), Some(125), "{bad:?}");
        assert!(
            stderr(&o).contains("what to do:"),
            "{bad:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn the_chroot_escape_fails_inside_run() {
    if !root_or_skip("the_chroot_escape_fails_inside_run") || !tool_or_skip("run_escape", "gcc") {
        return;
    }
    let env = Env::new();
    let tools = tempfile::tempdir().unwrap();
    // The lesson's escape program (lessons/02-chroot.md), compiled statically.
    let lesson = glassbox::lesson::all()
        .into_iter()
        .find(|l| l.number == 2)
        .unwrap();
    let (_, source) = lesson.files.iter().find(|(n, _)| n == "escape.c").unwrap();
    std::fs::write(tools.path().join("escape.c"), source).unwrap();
    let cc = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(tools.path().join("escape"))
        .arg(tools.path().join("escape.c"))
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "gcc -static failed (libc6-dev?): {}",
        stderr(&cc)
    );
    let host_only = tools.path().join("escape.c");
    let vol = format!("{}:/tools:ro", tools.path().display());
    let o = env.run(&[
        "--volume",
        &vol,
        "busybox",
        "/tools/escape",
        &host_only.to_string_lossy(),
    ]);
    assert_eq!(stdout(&o), "CONTAINED\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn containers_started_at_once_on_a_cold_cache_share_one_export() {
    if !root_or_skip("cold_cache_share_one_export") {
        return;
    }
    let env = Env::new();
    let children: Vec<_> = (0..6)
        .map(|_| {
            env.cmd()
                .args(["-q", "run", "--rm", "busybox", "true"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // One image in the cache, no staging tree beside it, nothing journaled.
    let images: Vec<_> = std::fs::read_dir(env.state.path().join("data/images/busybox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        images
            .iter()
            .all(|n| !n.to_string_lossy().contains("glassbox-export")),
        "{images:?}"
    );
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

/// Root and strace, or a visible skip, for the tests that read a run's calls.
fn root_with_strace(test: &str) -> bool {
    root_or_skip(test) && tool_or_skip(test, "strace")
}

#[test]
fn an_unwatched_run_clones_its_child_before_the_records_and_hands_it_its_network() {
    if !root_with_strace(
        "an_unwatched_run_clones_its_child_before_the_records_and_hands_it_its_network",
    ) {
        return;
    }
    let env = Env::new();
    let before = host_state();
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let script = "ls /sys/class/net; cat /sys/class/net/lo/flags; readlink /proc/self/ns/net; ping -c1 -W2 127.0.0.1 >/dev/null && echo lo-answers; cat /etc/hostname; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";
    let args = [
        "run",
        "--rm",
        "--hostname",
        "ahead",
        "--pids-limit",
        "30",
        "busybox",
        "sh",
        "-c",
        script,
    ];
    // Under -q the child is cloned as soon as the container's directory exists, before its
    // records, and makes its layers itself while the parent makes its network namespace and
    // hands it over; watched, it is cloned after everything the parent makes, into a new
    // network namespace.
    let quiet: Vec<&str> = std::iter::once("-q").chain(args).collect();
    let unwatched = strace::run_with(&quiet, |c| {
        c.env_remove("GLASSBOX_TRACE")
            .env("GLASSBOX_STATE_DIR", env.state.path());
    });
    let watched = strace::run_with(&args, |c| {
        c.env("GLASSBOX_STATE_DIR", env.state.path());
    });
    for (how, t) in [("unwatched", &unwatched), ("watched", &watched)] {
        let o = &t.output;
        assert!(o.status.success(), "{how}: {}", stderr(o));
        let out = stdout(o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{how}: {out}");
        assert_eq!(&lines[..2], &["lo", "0x9"], "{how}: only lo, up: {out}");
        assert_eq!(lines[3], "lo-answers", "{how}: {out}");
        assert_ne!(
            lines[2],
            host_ns.to_string_lossy(),
            "{how}: the host's namespace"
        );
        // Its init layer and its cgroups (v1 pids here) are there, whoever made them.
        assert_eq!(&lines[4..], &["ahead", "30"], "{how}: {out}");
    }
    let at =
        |t: &strace::Traced, what: &dyn Fn(&strace::Syscall) -> bool| t.calls.iter().position(what);
    let clone_of = |t: &strace::Traced| {
        at(t, &|c| {
            c.name == "clone3" && c.args[0].contains("CLONE_NEWPID")
        })
        .expect("the container's clone3")
    };
    let record = |t: &strace::Traced| {
        at(t, &|c| {
            (c.name == "rename" || c.name == "renameat2")
                && c.args.iter().any(|a| a.contains("container.json"))
        })
        .expect("the container's record")
    };
    let (clone, child) = {
        let i = clone_of(&unwatched);
        (i, unwatched.calls[i].result.parse::<u32>().unwrap())
    };
    assert!(
        !unwatched.calls[clone].args[0].contains("CLONE_NEWNET"),
        "{:?}",
        unwatched.calls[clone]
    );
    assert!(
        clone < record(&unwatched),
        "unwatched: cloned after the record"
    );
    let by_child = |name: &str, arg: &str| {
        unwatched
            .calls
            .iter()
            .any(|c| c.pid == child && c.name == name && c.args.iter().any(|a| a.contains(arg)))
    };
    let first = |what: &dyn Fn(&strace::Syscall) -> bool| {
        at(&unwatched, what).expect("a call the unwatched run makes")
    };
    // A helper of the parent's makes the network namespace beside the parent's start (or,
    // on a machine with one CPU, the parent itself after the clone, stepping back out of
    // it); the parent hands it over; the child joins it before it mounts /sys.
    let parent = unwatched.calls[clone].pid;
    let made = first(&|c| c.pid != child && c.name == "unshare" && c.args[0] == "CLONE_NEWNET");
    let joined = first(&|c| c.pid == child && c.name == "setns" && c.args[1] == "CLONE_NEWNET");
    let sysfs = first(&|c| c.pid == child && c.name == "mount" && c.args[2] == "\"sysfs\"");
    if unwatched.calls[made].pid == parent {
        let back = first(&|c| c.pid == parent && c.name == "setns" && c.args[1] == "CLONE_NEWNET");
        assert!(clone < made && made < back, "unwatched: {made} {back}");
    }
    assert!(made < joined, "unwatched: joined before it was made");
    assert!(
        joined < sysfs,
        "unwatched: /sys mounted before the namespace was joined"
    );
    // Nor does it touch a network (a routing socket) before it is in its own.
    let netlink = unwatched.calls[..joined]
        .iter()
        .find(|c| c.pid == child && c.name == "socket" && c.args[0] == "AF_NETLINK");
    assert!(
        netlink.is_none(),
        "unwatched: {netlink:?} in the host's network"
    );
    assert!(
        !by_child("unshare", "CLONE_NEWNET"),
        "unwatched: the child made a network namespace of its own"
    );
    assert!(
        by_child("mkdir", "/upper\""),
        "unwatched: the child did not make its layers"
    );
    let clone = clone_of(&watched);
    assert!(watched.calls[clone].args[0].contains("CLONE_NEWNET"));
    assert!(
        record(&watched) < clone,
        "watched: cloned before the record"
    );
    assert_eq!(host_state(), before);
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

#[test]
fn under_q_the_command_starts_only_after_its_record_says_it_runs() {
    if !root_with_strace("under_q_the_command_starts_only_after_its_record_says_it_runs") {
        return;
    }
    let env = Env::new();
    // Under -q the child is let go before the parent records the container as running, and
    // builds it meanwhile; its command waits at a last gate until the record is written.
    // Cloned ahead (an empty network), it does not wait at birth and waits once, at its
    // last gate; otherwise (the host's network here) it waits at its gate and again at the
    // last gate.
    for (network, goes) in [("none", 1), ("host", 2)] {
        let t = strace::run_with(
            &["-q", "run", "--rm", "--network", network, "busybox", "true"],
            |c| {
                c.env("GLASSBOX_STATE_DIR", env.state.path());
            },
        );
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        let at = |what: &dyn Fn(&strace::Syscall) -> bool| t.calls.iter().position(what);
        let recorded = at(&|c| {
            (c.name == "rename" || c.name == "renameat2")
                && c.args.iter().any(|a| a.contains("state.json"))
                && c.result == "0"
        })
        .expect("the record of the container as running");
        let command = at(&|c| c.name == "execve" && c.args[0] == "\"/bin/true\"")
            .expect("the container's command");
        let gos: Vec<usize> = t
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name == "sendmsg" && c.args.iter().any(|a| a.contains("Go")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(gos.len(), goes, "--network {network}: {gos:?}");
        let last = gos[goes - 1];
        assert!(
            gos[0] <= last && recorded < last && last < command,
            "--network {network}: goes {gos:?}, record {recorded}, command {command}"
        );
        if goes == 2 {
            assert!(gos[0] < recorded, "the first go comes before the record");
        }
        let child = t.calls[command].pid;
        let waits = t.calls[..command]
            .iter()
            .filter(|c| {
                c.pid == child && c.name == "recvmsg" && c.args.iter().any(|a| a.contains("Go"))
            })
            .count();
        assert_eq!(waits, goes, "--network {network}: the child's waits");
    }
    assert!(env.journal_is_empty() && env.containers_left() == 0);
}

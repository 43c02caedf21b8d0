//! `glassbox attach`, `start -a -i`, `exec -d` and `exec --env-file` as a person uses them:
//! in a real terminal (tmux), on the real kernel, each test in a state directory of its own.

mod common;
use common::containers::Env;
use common::tmux::{glassbox_line, Tmux};
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// `glassbox ARGS` typed into a cleared pane, then its exit status.
fn type_glassbox(t: &Tmux, env: &Env, args: &str) {
    let line = glassbox_line(env.state.path(), args);
    t.keys(&[&format!("clear; {line}"), "Enter"]);
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn running(env: &Env, name: &str) -> bool {
    env.ps_row(name).is_some_and(|r| r.contains(" Up "))
}

#[test]
fn attach_to_a_detached_shell_then_ctrl_p_ctrl_q_leaves_it_running() {
    if !root_or_skip("attach_to_a_detached_shell") || !tool_or_skip("attach", "tmux") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-dit", "--name", "box", "busybox", "sh"]);
    let t = Tmux::new("attach-keys");
    type_glassbox(&t, &env, "-q attach box");
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["echo hi-$((6*7))", "Enter"]);
    t.wait_for("hi-42");
    t.keys(&["C-p", "C-q"]);
    // The shell gave back control: attach ended at once, with 0.
    t.wait_for("exited=0");
    t.assert_terminal_restored();
    assert!(running(&env, "box"), "{:?}", env.ps_row("box"));
    // The container's terminal kept writing to its log while attached.
    assert!(env.ok(&["logs", "box"]).contains("hi-42"));

    // A second time, with other keys: Ctrl-P is then a key for the shell like any other.
    type_glassbox(&t, &env, "-q attach --detach-keys ctrl-x box");
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["echo again-$((1+1))", "Enter"]);
    t.wait_for("again-2");
    t.keys(&["C-x"]);
    t.wait_for("exited=0");
    assert!(running(&env, "box"));

    // Attached, the shell's own end ends attach with its exit code.
    type_glassbox(&t, &env, "-q attach box");
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["exit 3", "Enter"]);
    t.wait_for("exited=3");
    t.assert_terminal_restored();
    assert!(env.ps_row("box").unwrap().contains("Exited (3)"));

    // A stopped container cannot be attached: one sentence, exit 1, as docker.
    let o = env.gb(&["attach", "box"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot attach to container box: it is not running"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&["attach", "--detach-keys", "ctrl-1", "box"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("\"ctrl-1\" is not a detach key"));

    // start -a -i: started and attached from the start.
    type_glassbox(&t, &env, "-q start -a -i box");
    std::thread::sleep(Duration::from_millis(800));
    t.keys(&["echo started-$((2*3))", "Enter"]);
    t.wait_for("started-6");
    t.keys(&["C-p", "C-q"]);
    t.wait_for("exited=0");
    assert!(running(&env, "box"));

    env.ok(&["rm", "-f", "box"]);
    env.assert_clean();
}

#[test]
fn attach_without_a_terminal_keeps_the_streams_apart_and_passes_ctrl_c_on() {
    if !root_or_skip("attach_without_a_terminal") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-di",
        "--name",
        "echoer",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got INT; exit 9' INT; while read l; do echo out-$l; echo err-$l >&2; done",
    ]);
    // attach's stdin is a pipe here: a line goes in, both streams come back apart.
    let mut child = env
        .cmd()
        .args(["-q", "attach", "echoer"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"one\n").unwrap();
        // Kept open: the end of attach's input does not end the container's.
    }
    wait_for("the line to be logged", || {
        env.ok(&["logs", "echoer"]).contains("out-one")
    });
    // --sig-proxy (the default): SIGINT to attach reaches the container's PID 1.
    let pid = child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(9), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out-one\ngot INT\n");
    assert_eq!(stderr(&o), "err-one\n");
    env.ok(&["rm", "echoer"]);
    env.assert_clean();
}

#[test]
fn exec_d_leaves_a_process_running_and_env_file_sets_variables() {
    if !root_or_skip("exec_d_leaves_a_process_running") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "x", "busybox", "sleep", "1000"]);
    // exec -d returns at once; its command goes on in the container.
    let start = Instant::now();
    assert_eq!(
        env.ok(&["exec", "-d", "x", "sh", "-c", "echo lost; sleep 777"]),
        ""
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    wait_for("the detached command in top", || {
        env.ok(&["top", "x"]).contains("sleep 777")
    });
    // Its output is discarded, as docker's: not in the log.
    assert!(!env.ok(&["logs", "x"]).contains("lost"));
    // A command that is not there is still reported, with docker's 127.
    let o = env.gb(&["exec", "-d", "x", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));

    let file = env.state.path().join("vars.env");
    std::fs::write(&file, "# a comment\nGREETING=hello there\n\nEMPTY=\n").unwrap();
    let f = file.to_str().unwrap();
    let out = env.ok(&[
        "exec",
        "--env-file",
        f,
        "-e",
        "EMPTY=set",
        "x",
        "sh",
        "-c",
        "echo \"$GREETING/$EMPTY\"",
    ]);
    assert_eq!(out, "hello there/set\n");

    env.ok(&["rm", "-f", "x"]);
    env.assert_clean();
}

#[test]
fn attach_narrates_what_strace_sees() {
    if !root_or_skip("attach_narrates_what_strace_sees")
        || !tool_or_skip("attach_narrates_what_strace_sees", "strace")
    {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-di",
        "--name",
        "shout",
        "busybox",
        "sh",
        "-c",
        "read line; echo \"$line\" | tr a-z A-Z",
    ]);
    let state = env.state.path().to_path_buf();
    let line = state.join("line");
    std::fs::write(&line, "hello\n").unwrap();
    let t = common::strace::run_with(&["attach", "shout"], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
        c.stdin(std::fs::File::open(&line).unwrap());
    });
    assert_eq!(stdout(&t.output), "HELLO\n", "{}", stderr(&t.output));
    t.assert_honest();
    let names = t.narrated_names();
    assert!(
        names.starts_with(&["socket".into(), "connect".into(), "recvmsg".into()]),
        "{names:?}"
    );
    env.ok(&["rm", "-f", "shout"]);
    env.assert_clean();
}

#[test]
fn the_attach_socket_is_narrated_as_strace_sees_it() {
    if !root_or_skip("the_attach_socket_is_narrated_as_strace_sees_it")
        || !tool_or_skip("the_attach_socket_is_narrated_as_strace_sees_it", "strace")
    {
        return;
    }
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    // strace -f follows the supervisor and its log keeper to the container's end.
    let t = common::strace::run_with(&["run", "-di", "--name", "t", "busybox", "true"], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    let names = t.narrated_names();
    for call in ["bind", "listen", "accept4"] {
        assert!(names.iter().any(|n| n == call), "{call} in {names:?}");
    }
    env.ok(&["rm", "-f", "t"]);
    env.assert_clean();
}

#[test]
fn the_attach_socket_is_its_owners_alone_whatever_the_umask() {
    if !root_or_skip("the_attach_socket_is_its_owners_alone") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let mut run = env.cmd();
    run.args(["-q", "run", "-di", "--name", "open", "busybox", "cat"]);
    // Under umask 000 bind(2) alone would leave it 0777: anyone could take the container's stdin.
    unsafe {
        run.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let o = run.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = env.containers().pop().unwrap();
    let sock = env.data().join(format!("containers/{id}/attach.sock"));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", sock.display());
    env.ok(&["rm", "-f", "open"]);
    env.assert_clean();
}

#[test]
fn a_dry_run_attach_leaves_stdin_alone() {
    if !root_or_skip("a_dry_run_attach_leaves_stdin_alone") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-di", "--name", "plan", "busybox", "cat"]);
    let o = env
        .cmd()
        .args(["--dry-run", "attach", "plan"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let told = format!("{}{}", stdout(&o), stderr(&o));
    // No call was made: no socket exists, so none may be named as fd 0 (our stdin).
    assert!(told.contains("connect("), "{told}");
    assert!(!told.contains("connect(0,"), "{told}");
    env.ok(&["rm", "-f", "plan"]);
    env.assert_clean();
}

#[test]
fn start_a_of_a_quick_container_prints_its_output_and_code() {
    if !root_or_skip("start_a_of_a_quick_container") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "quick", "busybox", "echo", "hi"]);
    wait_for("the first run to end", || !running(&env, "quick"));
    // It often ends before start -a can connect: then its output comes from the log (this
    // start's only). Five starts, so the race is met whichever way it goes.
    for _ in 0..5 {
        let o = env.gb(&["start", "-a", "quick"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "hi\n");
    }
    env.ok(&["rm", "-f", "quick"]);
    env.assert_clean();
}

#[test]
fn attach_without_a_terminal_leaves_yours_as_it_is() {
    if !root_or_skip("attach_without_a_terminal_leaves_yours")
        || !tool_or_skip("attach_without_a_terminal_leaves_yours", "tmux")
    {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-di", "--name", "cooked", "busybox", "cat"]);
    let tmux = Tmux::new("attach-cooked");
    type_glassbox(&tmux, &env, "attach cooked");
    std::thread::sleep(Duration::from_millis(500));
    // Line editing on: Enter ends a line, so cat logs it.
    tmux.keys(&["hello", "Enter"]);
    wait_for("the line to be logged", || {
        env.ok(&["logs", "cooked"]).contains("hello")
    });
    let tty = Command::new("tmux")
        .args(["display", "-p", "-t", &tmux.name, "#{pane_tty}"])
        .output()
        .unwrap();
    let tty = stdout(&tty).trim().to_string();
    let o = Command::new("stty")
        .args(["-a", "-F", &tty])
        .output()
        .unwrap();
    let modes: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    for m in ["icanon", "echo", "isig"] {
        assert!(
            modes.iter().any(|x| x == m),
            "{m} not set while attached: {modes:?}"
        );
    }
    env.ok(&["rm", "-f", "cooked"]);
    tmux.wait_for("exited=");
    env.assert_clean();
}

//! `glassbox run -it` and `--step` in a real terminal (tmux), as a person uses them.

mod common;
use common::tmux::{glassbox_line, Tmux};
use common::*;
use std::time::Duration;

#[test]
fn an_interactive_shell_gets_ctrl_c_and_its_exit_status_comes_back() {
    if !root_or_skip("an_interactive_shell") || !tool_or_skip("run_it", "tmux") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let t = Tmux::new("it");
    t.keys(&[
        &glassbox_line(state.path(), "-q run -it busybox sh"),
        "Enter",
    ]);
    t.wait_for("/ #");
    // A terminal of its own, from its own devpts, the size of this one.
    t.keys(&["echo tty-is-$(tty)-$(stty size | tr ' ' x)", "Enter"]);
    t.wait_for("tty-is-/dev/pts/0-50x160");
    t.keys(&["echo inside-$((6*7)); sleep 100", "Enter"]);
    t.wait_for("inside-42");
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["C-c"]);
    // Expected texts are computed, so the echo of the typed line never matches them.
    t.keys(&["echo still-$((1+1))-here", "Enter"]);
    t.wait_for("still-2-here");
    t.keys(&["exit 5", "Enter"]);
    t.wait_for("exited=5");
    t.assert_terminal_restored();
    assert_eq!(
        std::fs::read_dir(state.path().join("journal"))
            .unwrap()
            .count(),
        0
    );
    // start runs the kept container (made with -it) again in the background, without taking
    // the terminal, as docker start without -a: its terminal and stdin are kept for attach.
    let gb = |args: &[&str]| {
        glassbox()
            .env("GLASSBOX_STATE_DIR", state.path())
            .arg("-q")
            .args(args)
            .output()
            .unwrap()
    };
    let id = stdout(&gb(&["ps", "-aq"])).trim().to_string();
    t.keys(&["clear", "Enter"]);
    t.keys(&[
        &glassbox_line(state.path(), &format!("-q start {id}")),
        "Enter",
    ]);
    t.wait_for("exited=0");
    t.assert_terminal_restored();
    // It runs again: its shell waits on its own terminal for glassbox attach, as docker's does.
    let ps = stdout(
        &glassbox()
            .env("GLASSBOX_STATE_DIR", state.path())
            .args(["ps", "-a"])
            .output()
            .unwrap(),
    );
    assert!(ps.contains(" Up "), "{ps}");
    assert!(gb(&["rm", "-f", &id]).status.success());
}

#[test]
fn step_pauses_before_each_stage_and_goes_on_at_enter() {
    if !root_or_skip("step_pauses") || !tool_or_skip("run_step", "tmux") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let t = Tmux::new("step");
    t.keys(&[
        &glassbox_line(
            state.path(),
            "-q run --step --memory 64m busybox echo done-stepping",
        ),
        "Enter",
    ]);
    for stage in ["rootfs", "cgroup", "namespaces", "mounts", "security"] {
        let s = t.wait_for(&format!("── next stage: {stage} —"));
        assert!(
            !s.lines().any(|l| l == "done-stepping"),
            "ran before the {stage} pause was answered:\n{s}"
        );
        if stage == "mounts" {
            // The container exists now: the pause names its pid for another terminal.
            assert!(s.contains("glassbox inspect "), "{s}");
        }
        t.keys(&["Enter"]);
    }
    let s = t.wait_for("exited=0");
    assert!(s.lines().any(|l| l == "done-stepping"), "{s}");
}

#[test]
fn a_lesson_renders_and_pages_in_a_terminal() {
    if !tool_or_skip("lesson_in_tmux", "tmux") || !tool_or_skip("lesson_in_tmux", "less") {
        return;
    }
    let t = Tmux::new("lesson");
    t.keys(&[
        &format!(
            "PAGER='less -R' {} lesson 3; echo lesson-exit=$?",
            bin().display()
        ),
        "Enter",
    ]);
    // Rendered, not raw markdown: the heading's `#` and the code fences are gone.
    let s = t.wait_for("Lesson 3: Namespaces, one at a time");
    assert!(!s.contains("# Lesson 3") && !s.contains("```"), "{s}");
    // Longer than the screen: it is paged, and q leaves the pager.
    assert!(!s.contains("lesson-exit="), "not paged:\n{s}");
    t.keys(&["q"]);
    t.wait_for("lesson-exit=0");
}

#[test]
fn exec_it_gives_a_shell_in_a_running_container() {
    if !root_or_skip("exec_it") || !tool_or_skip("exec_it", "tmux") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let gb = |args: &[&str]| {
        glassbox()
            .env("GLASSBOX_STATE_DIR", state.path())
            .arg("-q")
            .args(args)
            .output()
            .unwrap()
    };
    let o = gb(&[
        "run",
        "-d",
        "--name",
        "box",
        "--hostname",
        "boxhost",
        "busybox",
        "sleep",
        "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = Tmux::new("exec");
    t.keys(&[&glassbox_line(state.path(), "-q exec -it box sh"), "Enter"]);
    t.wait_for("/ #");
    // Its hostname, and its PID 1: the container's, not the host's.
    t.keys(&[
        "echo on-$(hostname)-pid1-$(cat /proc/1/comm)-$(tty)",
        "Enter",
    ]);
    t.wait_for("on-boxhost-pid1-sleep-/dev/pts/0");
    t.keys(&["sleep 100", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["C-c"]);
    t.keys(&["echo after-$((40+2))", "Enter"]);
    t.wait_for("after-42");
    t.keys(&["exit 3", "Enter"]);
    t.wait_for("exited=3");
    t.assert_terminal_restored();
    // The container is still running; rm -f ends it and leaves nothing.
    let ps = stdout(
        &glassbox()
            .env("GLASSBOX_STATE_DIR", state.path())
            .args(["ps", "-q"])
            .output()
            .unwrap(),
    );
    assert_eq!(ps.lines().count(), 1, "{ps}");
    assert!(gb(&["rm", "-f", "box"]).status.success());
    assert_eq!(
        std::fs::read_dir(state.path().join("journal"))
            .unwrap()
            .count(),
        0
    );
}

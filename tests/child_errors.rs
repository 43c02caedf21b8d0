//! A container that fails before its command starts: its error travels to glassbox's parent
//! process, which reports it once — with the errno and what to do — and records it.

mod common;
use common::*;
use std::process::Output;

/// The tests here compare the host before and after: they take turns.
static HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Env {
    state: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            state: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        }
    }
    fn glassbox(&self, args: &[&str]) -> Output {
        glassbox()
            .env("GLASSBOX_STATE_DIR", self.state.path())
            .env("GLASSBOX_DATA_DIR", self.data.path())
            .args(args)
            .output()
            .unwrap()
    }
    fn journal_is_empty(&self) -> bool {
        journal_empty(self.state.path())
    }
}

/// `glassbox rm -f NAME` when dropped: a failed assertion leaves no container running.
struct RemoveOnDrop<'a>(&'a Env, &'a str);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let rm = self.0.glassbox(&["rm", "-f", self.1]);
        if !std::thread::panicking() {
            assert!(rm.status.success(), "{}", stderr(&rm));
        }
    }
}

/// The error a -w that is no directory gives (a missing one is made, as docker does), said once, with its errno and its hint.
fn assert_reported_once(o: &Output) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    let at = err.find("glassbox: error:").unwrap();
    let report = &err[at..];
    assert!(
        report.contains("\"/etc/passwd\"") && report.contains("ENOTDIR (Not a directory)"),
        "{report}"
    );
    assert!(
        report.contains("what to do: give -w a directory"),
        "{report}"
    );
    // The command never ran: glassbox does not report a status of it.
    assert!(!err.contains("the command exited with status"), "{err}");
}

#[test]
fn a_workdir_that_is_a_file_is_reported_once_by_the_parent_and_kept_in_the_state() {
    if !root_or_skip(
        "a_workdir_that_is_a_file_is_reported_once_by_the_parent_and_kept_in_the_state",
    ) {
        return;
    }
    let _turn = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let before = host_state();
    let o = env.glassbox(&["run", "--name", "w", "-w", "/etc/passwd", "busybox", "true"]);
    assert_reported_once(&o);
    // The container's record says why it ended, not only its code.
    let dir = std::fs::read_dir(env.data.path().join("containers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(state.contains("/etc/passwd"), "{state}");
    let rm = env.glassbox(&["rm", "w"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(env.journal_is_empty());
    assert_eq!(host_state(), before);
}

#[test]
fn a_detached_container_that_fails_first_is_reported_once_and_recorded() {
    if !root_or_skip("a_detached_container_that_fails_first_is_reported_once_and_recorded") {
        return;
    }
    let _turn = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let before = host_state();
    let o = env.glassbox(&[
        "run",
        "-d",
        "--name",
        "d",
        "-w",
        "/etc/passwd",
        "busybox",
        "true",
    ]);
    assert_reported_once(&o);
    assert!(
        stdout(&o).is_empty(),
        "no id for a container that never ran"
    );
    // The supervisor records why, and undoes what it made, once the container has ended.
    let start = std::time::Instant::now();
    let state = || {
        std::fs::read_dir(env.data.path().join("containers"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("state.json")).ok())
            .unwrap_or_default()
    };
    while !(env.journal_is_empty() && state().contains("/etc/passwd"))
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(state().contains("/etc/passwd"), "{}", state());
    let rm = env.glassbox(&["rm", "d"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(env.journal_is_empty());
    assert_eq!(host_state(), before);
}

#[test]
fn exec_of_a_missing_command_is_reported_once_by_the_parent() {
    if !root_or_skip("exec_of_a_missing_command_is_reported_once_by_the_parent") {
        return;
    }
    let _turn = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let before = host_state();
    let run = env.glassbox(&["-q", "run", "-d", "--name", "x", "busybox", "sleep", "30"]);
    assert!(run.status.success(), "{}", stderr(&run));
    // Removed whatever the assertions below say.
    let removal = RemoveOnDrop(&env, "x");
    let o = env.glassbox(&["exec", "x", "no-such-command"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    assert!(
        err.contains("\"no-such-command\" was not found on PATH"),
        "{err}"
    );
    assert!(!err.contains("the command exited with status"), "{err}");
    drop(removal);
    assert!(env.journal_is_empty());
    assert_eq!(host_state(), before);
}

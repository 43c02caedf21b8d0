//! A learner pipes the narration into `head` and head ends early: glassbox must not die of
//! SIGPIPE with the container's cgroups still on the host. It stops narrating, finishes the
//! run and undoes what it made; the container's own programs still get SIGPIPE as usual.

mod common;
use common::containers::Env;
use common::*;
use std::path::Path;

/// `sh -c 'glassbox ARGS 2>&1 | READER'` in the test's state directory. sh waits for every
/// command of the pipeline, so glassbox has ended when this returns.
fn piped(env: &Env, args: &str, reader: &str) -> std::process::Output {
    let mut sh = std::process::Command::new("sh");
    // The environment the test's own glassbox commands get (state dir, no GLASSBOX_* else).
    for (key, value) in env.cmd().get_envs() {
        match value {
            Some(v) => sh.env(key, v),
            None => sh.env_remove(key),
        };
    }
    sh.arg("-c")
        .arg(format!("'{}' {args} 2>&1 | {reader}", bin().display()))
        .output()
        .unwrap()
}

/// The readers: the issue's `head -c N` (it may end at any moment of the run), and one that
/// ends at the command's execve line, when glassbox surely holds the cgroups and waits.
fn readers(bytes: u32) -> [String; 2] {
    [format!("head -c {bytes}"), "grep -m1 execve".to_string()]
}

/// The cgroup directories named `name` under glassbox's parent, in any hierarchy.
fn cgroups_named(name: &str) -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join("glassbox").join(name))
        .chain([Path::new("/sys/fs/cgroup/glassbox").join(name)])
        .filter(|d| d.is_dir())
        .map(|d| d.display().to_string())
        .collect()
}

#[test]
fn run_piped_into_head_still_ends_and_removes_its_cgroups() {
    if !root_or_skip("run_piped_into_head_still_ends_and_removes_its_cgroups") {
        return;
    }
    let env = Env::new();
    for (i, reader) in readers(300).iter().enumerate() {
        let name = format!("headrun{i}-{}", std::process::id());
        let args = format!("run --name {name} --memory 32m busybox sh -c 'sleep 0.3'");
        let o = piped(&env, &args, reader);
        assert!(!stdout(&o).is_empty(), "{reader}: nothing narrated");
        let ids = env.containers();
        // A container's cgroups are named after its id.
        let left: Vec<String> = ids
            .iter()
            .flat_map(|id| cgroups_named(&format!("gb-{id}")))
            .collect();
        let status = ids.first().map(|id| env.state_json(id)["status"].clone());
        // Whatever was found, take the container and its cgroups away before asserting.
        let _ = env.gb(&["rm", "-f", &name]);
        let _ = env.gb(&["cleanup"]);
        assert!(left.is_empty(), "{reader}: the cgroups stayed: {left:?}");
        assert_eq!(ids.len(), 1, "{reader}: {ids:?}");
        assert_eq!(
            status,
            Some(serde_json::json!("exited")),
            "{reader}: the run did not record how the container ended"
        );
    }
    env.assert_clean();
}

#[test]
fn cgroup_piped_into_head_still_removes_its_cgroups() {
    if !root_or_skip("cgroup_piped_into_head_still_removes_its_cgroups") {
        return;
    }
    let env = Env::new();
    for (i, reader) in readers(100).iter().enumerate() {
        let name = format!("headcg{i}-{}", std::process::id());
        let args = format!("cgroup --name {name} --memory 32m --pids 20 -- sh -c 'sleep 0.3'");
        let o = piped(&env, &args, reader);
        assert!(!stdout(&o).is_empty(), "{reader}: nothing narrated");
        let left = cgroups_named(&name);
        let _ = env.gb(&["cleanup"]);
        assert!(left.is_empty(), "{reader}: the cgroups stayed: {left:?}");
    }
    env.assert_clean();
}

/// glassbox ignores SIGPIPE, but the container's programs start with the default: a writer
/// whose reader has gone ends, as on any Linux.
#[test]
fn the_container_starts_with_the_default_sigpipe() {
    if !root_or_skip("the_container_starts_with_the_default_sigpipe") {
        return;
    }
    let env = Env::new();
    let out = env.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "yes | head -1; grep SigIgn /proc/self/status",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("y"), "{out}");
    let mask = lines
        .next()
        .and_then(|l| l.split_whitespace().last())
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line: {out}"));
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE is ignored inside the container"
    );
    env.assert_clean();
}

/// A command that holds on through a lost reader, then prints its report to it, ends with
/// its own status, without a panic message.
#[test]
fn a_report_to_a_reader_that_has_gone_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let o = glassbox()
        .args(["-q", "unpack", "busybox"])
        .arg(dir.path().join("rootfs"))
        .stdout(std::process::Stdio::from(write))
        .output()
        .unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        dir.path().join("rootfs/bin/sh").exists(),
        "the export did not finish"
    );
}

/// `glassbox rm a b c | true`: the reader is gone before the first name is printed. rm
/// removes all three all the same and exits with its own status.
#[test]
fn rm_into_a_closed_pipe_removes_every_container() {
    if !root_or_skip("rm_into_a_closed_pipe_removes_every_container") {
        return;
    }
    let env = Env::new();
    let names: Vec<String> = (0..3)
        .map(|i| format!("piperm{i}-{}", std::process::id()))
        .collect();
    for n in &names {
        env.ok(&["run", "--name", n, "busybox", "true"]);
    }
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let o = env
        .cmd()
        .arg("rm")
        .args(&names)
        .stdout(std::process::Stdio::from(write))
        .output()
        .unwrap();
    let left = env.containers().len();
    for n in &names {
        let _ = env.gb(&["rm", "-f", n]);
    }
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(left, 0, "rm left containers: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    env.assert_clean();
}

//! A `--rm` container's directory (its writable layer, init files and records) is a tmpfs of
//! its own while it runs, so that removing it costs the disk nothing; a kept container's is
//! on the disk. A killed glassbox leaves nothing that `cleanup` does not remove.

mod common;
use common::containers::Env;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};

/// `glassbox -q run ARGS… busybox sh -c 'echo up; read x'`, once the container is up.
fn start(env: &Env, args: &[&str]) -> Child {
    let mut run = env
        .cmd()
        .args(["-q", "run", "-i"])
        .args(args)
        .args(["busybox", "sh", "-c", "echo up; read x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(run.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "up\n");
    run
}

/// The filesystem type mounted on `dir` in the host's mount table, if any.
fn fstype_on(dir: &std::path::Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (left.split(' ').nth(4)? == dir.to_str()?)
            .then(|| right.split(' ').next().unwrap_or("").to_string())
    })
}

/// The directory of the one container there is.
fn only_container(env: &Env) -> std::path::PathBuf {
    let ids = env.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    env.data().join("containers").join(&ids[0])
}

#[test]
fn a_rm_containers_directory_is_a_tmpfs_while_it_runs_and_a_kept_ones_is_on_disk() {
    if !root_or_skip("a_rm_containers_directory_is_a_tmpfs_while_it_runs") {
        return;
    }
    let env = Env::new();
    let mut run = start(&env, &["--rm"]);
    let dir = only_container(&env);
    assert_eq!(
        fstype_on(&dir).as_deref(),
        Some("tmpfs"),
        "{}",
        dir.display()
    );
    // Its writable layer and records are in it.
    for f in ["upper", "work", "init", "container.json", "state.json"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    run.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(run.wait().unwrap().success());
    assert_eq!(fstype_on(&dir), None);
    assert!(!dir.exists());

    let mut run = start(&env, &["--name", "kept"]);
    let dir = only_container(&env);
    assert_eq!(
        fstype_on(&dir),
        None,
        "a kept container's layer is on the disk"
    );
    run.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(run.wait().unwrap().success());
    env.ok(&["rm", "kept"]);
    env.assert_clean();
}

#[test]
fn a_rm_containers_empty_directory_is_kept_for_the_next_container() {
    if !root_or_skip("a_rm_containers_empty_directory_is_kept_for_the_next_container") {
        return;
    }
    use std::os::unix::fs::{DirEntryExt, MetadataExt};
    let env = Env::new();
    // The inode of the directory on the disk (its tmpfs hides it from stat while it runs;
    // the containers directory's listing still names it).
    let on_disk = |dir: &std::path::Path| {
        std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .flatten()
            .find(|e| e.file_name() == dir.file_name().unwrap())
            .map(|e| e.ino())
    };
    let spare = env.data().join("spare").join("0");
    let mut run = start(&env, &["--rm"]);
    let first = only_container(&env);
    let made = on_disk(&first);
    assert!(made.is_some());
    run.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(run.wait().unwrap().success());
    assert!(!first.exists());
    let kept = std::fs::read_dir(&spare).map(|d| d.count());
    assert_eq!(kept.ok(), Some(0), "{} is kept, empty", spare.display());
    assert_eq!(std::fs::metadata(&spare).ok().map(|m| m.ino()), made);

    // The next container's directory is that one, moved into place.
    let mut run = start(&env, &["--rm"]);
    let second = only_container(&env);
    assert_ne!(first, second);
    assert_eq!(on_disk(&second), made);
    assert!(!spare.exists(), "taken by the next container");
    run.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(run.wait().unwrap().success());
    assert_eq!(std::fs::metadata(&spare).ok().map(|m| m.ino()), made);
    env.assert_clean();
}

#[test]
fn kill_9_of_glassbox_during_run_rm_leaves_nothing_after_cleanup() {
    if !root_or_skip("kill_9_of_glassbox_during_run_rm_leaves_nothing_after_cleanup") {
        return;
    }
    let env = Env::new();
    let mut run = start(&env, &["--rm", "--name", "killed"]);
    let dir = only_container(&env);
    assert_eq!(fstype_on(&dir).as_deref(), Some("tmpfs"));
    run.kill().unwrap(); // SIGKILL: glassbox cannot unmount or remove anything itself
    run.wait().unwrap();
    // The container dies with glassbox (PR_SET_PDEATHSIG); the tmpfs stays until cleanup.
    assert_eq!(fstype_on(&dir).as_deref(), Some("tmpfs"));
    let out = env.ok(&["cleanup"]);
    assert_eq!(fstype_on(&dir), None, "cleanup said: {out}");
    assert!(!dir.exists(), "cleanup said: {out}");
    // The name is free again.
    env.ok(&["run", "--rm", "--name", "killed", "busybox", "true"]);
    env.assert_clean();
}

#[test]
fn a_rm_container_under_a_memory_limit_writes_a_file_bigger_than_the_limit() {
    if !root_or_skip("a_rm_container_under_a_memory_limit_writes_a_file_bigger_than_the_limit") {
        return;
    }
    let env = Env::new();
    // Its layer stays on the disk: on a tmpfs the file would be charged to its memory cgroup.
    let o = env.gb(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "head -c 50000000 /dev/zero > /big && echo written",
    ]);
    assert_eq!(stdout(&o), "written\n", "{}", stderr(&o));
    assert!(o.status.success());
    env.assert_clean();
}

//! The journal and `glassbox cleanup`: entries left by a dead owner are undone and struck,
//! entries of a live owner are left, and a second cleanup has nothing to do.

mod common;
use common::*;
use glassbox::journal::{Entry, Journal, Owner, Resource};
use std::path::Path;

/// An owner that really ran and is gone: a child's pid and start time, read while it lived.
fn dead_owner() -> Owner {
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .unwrap();
    let pid = child.id();
    let start_time = glassbox::journal::start_time(pid).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let owner = Owner {
        pid,
        start_time,
        boot_id: Owner::current().boot_id,
    };
    assert!(!owner.is_alive());
    owner
}

fn leave_entry(journal_dir: &Path, owner: Owner, resource: Resource, id: &str) {
    let e = Entry {
        id: id.into(),
        owner,
        created: 0,
        resource,
        netns: None,
    };
    std::fs::write(
        journal_dir.join(format!("{id}.json")),
        serde_json::to_vec(&e).unwrap(),
    )
    .unwrap();
}

fn cleanup(state: &Path) -> std::process::Output {
    glassbox()
        .arg("cleanup")
        .env("GLASSBOX_STATE_DIR", state)
        .output()
        .unwrap()
}

#[test]
fn an_empty_journal_has_nothing_to_clean() {
    let state = tempfile::tempdir().unwrap();
    let o = cleanup(state.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("Nothing to clean up"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn what_a_dead_owner_left_is_removed_once() {
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    let leftover = state.path().join("export-in-progress");
    std::fs::create_dir_all(leftover.join("etc")).unwrap();
    std::fs::write(leftover.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Dir {
            path: leftover.clone(),
        },
        "00000000000000000001-1-0",
    );

    let o = cleanup(state.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("removed directory {}\n", leftover.display())
    );
    assert!(!leftover.exists());
    assert!(journal.entries().is_empty(), "the entry was not struck");

    let again = cleanup(state.path());
    assert!(again.status.success());
    assert!(stdout(&again).starts_with("Nothing to clean up"));
}

#[test]
fn a_live_owner_keeps_its_entries() {
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    let dir = state.path().join("in-use");
    std::fs::create_dir(&dir).unwrap();
    let id = journal.record(Resource::Dir { path: dir.clone() }).unwrap();
    let o = cleanup(state.path());
    assert!(o.status.success());
    assert!(
        stdout(&o).contains(&format!(
            "left directory {} (in use by running glassbox pid {})",
            dir.display(),
            std::process::id()
        )),
        "{}",
        stdout(&o)
    );
    assert!(dir.exists());
    journal.strike(&id);
    assert!(journal.entries().is_empty());
}

#[test]
fn a_mount_left_by_a_dead_owner_is_detached() {
    if !root_or_skip("a_mount_left_by_a_dead_owner_is_detached")
        || !tool_or_skip("cleanup_mount", "unshare")
    {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    let target = state.path().join("mnt");
    std::fs::create_dir(&target).unwrap();
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Mount {
            target: target.clone(),
        },
        "00000000000000000002-1-0",
    );
    let host = host_mounts();
    // The leftover mount lives in a private mount namespace, so the host is never touched.
    let script = format!(
        "mount -t tmpfs leftover {t} && {gb} cleanup && ! grep -q ' {t} ' /proc/self/mountinfo",
        t = target.display(),
        gb = bin().display()
    );
    let o = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("GLASSBOX_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "umount2(\"{}\", MNT_DETACH) = 0",
            target.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains(&format!("removed mount on {}", target.display())));
    assert!(journal.entries().is_empty());
    assert_eq!(host_mounts(), host);
}

#[test]
fn cleanup_does_not_remove_the_cgroup_parent_while_another_glassbox_makes_a_cgroup_in_it() {
    if !root_or_skip("cleanup_and_the_cgroup_parent") {
        return;
    }
    let hierarchy = Path::new("/sys/fs/cgroup/pids");
    if !hierarchy.join("cgroup.procs").exists() {
        eprintln!("SKIPPED cleanup_and_the_cgroup_parent: no cgroup v1 pids hierarchy");
        return;
    }
    let parent = hierarchy.join("glassbox");
    let child = parent.join(format!("gb-test-parent-lock-{}", std::process::id()));
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    // Stand in for a glassbox that makes its cgroup: it holds the lock glassbox takes for
    // that, makes the parent, and makes its child a moment later.
    let lock = nix::fcntl::Flock::lock(
        std::fs::File::open(hierarchy).unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .unwrap();
    let made_parent = std::fs::create_dir(&parent).is_ok();
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Cgroup {
            path: parent.clone(),
        },
        "00000000000000000003-1-0",
    );
    let cleanup = glassbox()
        .arg("cleanup")
        .env("GLASSBOX_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let made_child = std::fs::create_dir(&child);
    drop(lock);
    let out = cleanup.wait_with_output().unwrap();
    let _ = std::fs::remove_dir(&child);
    if made_parent {
        let _ = std::fs::remove_dir(&parent);
    }
    assert!(
        made_child.is_ok(),
        "cleanup removed the parent while another glassbox was making its cgroup in it: {made_child:?}\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_cgroup_entry_stands_for_the_shared_parent_a_killed_glassbox_made_before_the_cgroup() {
    if !root_or_skip("a_cgroup_entry_stands_for_the_shared_parent") {
        return;
    }
    // Whichever hierarchy this host has: v1 pids, the hybrid v2, or the only v2.
    let hierarchy = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ]
    .iter()
    .map(Path::new)
    .find(|h| h.join("cgroup.procs").exists())
    .expect("a cgroup hierarchy");
    let parent = hierarchy.join("glassbox");
    let never_made = parent.join(format!("gb-test-killed-{}", std::process::id()));
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    // Stand in for a glassbox killed between its two mkdirs: the cgroup's entry is written
    // first, then the parent is made, and the cgroup never is.
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Cgroup {
            path: never_made.clone(),
        },
        "00000000000000000005-1-0",
    );
    let _ = std::fs::create_dir(&parent);
    let o = cleanup(state.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(journal.entries().is_empty(), "{}", stdout(&o));
    // Gone — unless another run (another test) has a cgroup in it: then that run removes it.
    let in_use = |p: &Path| {
        std::fs::read_dir(p)
            .map(|d| d.flatten().any(|e| e.path().is_dir()))
            .unwrap_or(false)
    };
    for _ in 0..20 {
        if !parent.exists() || in_use(&parent) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "{} is left empty after cleanup: {}{}",
        parent.display(),
        stdout(&o),
        stderr(&o)
    );
}

/// A link entry as a glassbox that did not record network namespaces wrote it.
fn leave_old_link_entry(journal: &Journal, name: &str) {
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Link { name: name.into() },
        "00000000000000000004-1-0",
    );
}

#[test]
fn an_old_network_entry_is_undone_only_from_the_hosts_network_namespace() {
    if !root_or_skip("old_network_entry") || !tool_or_skip("old_network_entry", "unshare") {
        return;
    }
    // A link of that name exists nowhere, so undoing it in the host's namespace changes
    // nothing; what matters is whether cleanup acts and strikes.
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    leave_old_link_entry(&journal, "gbtold0");
    let elsewhere = std::process::Command::new("unshare")
        .args(["--net", &bin().display().to_string(), "cleanup"])
        .env("GLASSBOX_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(elsewhere.status.success(), "{}", stderr(&elsewhere));
    assert!(
        stdout(&elsewhere).contains(
            "left link gbtold0 (recorded by an older glassbox without its network namespace: \
             run glassbox cleanup in the host's network namespace)"
        ),
        "{}",
        stdout(&elsewhere)
    );
    assert_eq!(journal.entries().len(), 1, "struck from another namespace");

    let host = cleanup(state.path());
    assert!(host.status.success(), "{}", stderr(&host));
    assert_eq!(stdout(&host), "removed link gbtold0\n");
    assert!(journal.entries().is_empty());
}

#[test]
fn a_dry_run_cleanup_says_what_it_would_remove_and_keeps_the_entry() {
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::at(&state.path().join("journal")).unwrap();
    let leftover = state.path().join("export-in-progress");
    std::fs::create_dir_all(&leftover).unwrap();
    leave_entry(
        journal.dir(),
        dead_owner(),
        Resource::Dir {
            path: leftover.clone(),
        },
        "00000000000000000001-1-0",
    );
    let o = glassbox()
        .arg("--dry-run")
        .arg("cleanup")
        .env("GLASSBOX_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(leftover.exists(), "a dry run removed the directory");
    assert_eq!(journal.entries().len(), 1, "a dry run struck the entry");
    // The real cleanup still finds it.
    let o = cleanup(state.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!leftover.exists());
    assert!(journal.entries().is_empty());
}

/// A network watcher killed before it removed its socket leaves the file in the state
/// directory: cleanup removes it, and keeps the socket of a watcher that still listens.
#[test]
fn cleanup_removes_a_dead_watchers_socket_and_keeps_a_live_ones() {
    let state = tempfile::tempdir().unwrap();
    let dead = state.path().join("netwatch-4026531840.sock");
    let live = state.path().join("netwatch-4026531841.sock");
    // Bound, then closed: the file stays and nobody listens (a killed watcher's).
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let listening = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let o = cleanup(state.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dead.exists(), "the dead watcher's socket is still there");
    assert!(live.exists(), "the live watcher's socket was removed");
    drop(listening);
}

/// A watcher that stopped accepting (stopped, frozen) with its backlog full must not hang
/// cleanup's probe: it answers at once that someone still holds the socket, which stays.
#[test]
fn cleanup_does_not_hang_on_a_watcher_that_accepts_nothing() {
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("netwatch-4026531842.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // Fill its backlog with connections nobody accepts.
    let addr = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
    let mut pending = Vec::new();
    loop {
        let fd = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let p = addr.as_pathname().unwrap().as_os_str().as_encoded_bytes();
        for (d, s) in sa.sun_path.iter_mut().zip(p) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let r = unsafe { libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) };
        if r != 0 {
            unsafe { libc::close(fd) };
            break; // EAGAIN: the backlog is full
        }
        pending.push(fd);
        assert!(pending.len() < 10_000, "the backlog never filled");
    }
    let mut child = glassbox()
        .arg("cleanup")
        .env("GLASSBOX_STATE_DIR", state.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for fd in pending {
        unsafe { libc::close(fd) };
    }
    let status = status.expect("cleanup hung on a socket whose listener accepts nothing");
    assert!(status.success());
    assert!(
        path.exists(),
        "a socket someone still listens on was removed"
    );
    drop(listener);
}

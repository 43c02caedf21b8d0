//! `glassbox run --userns private` on the real kernel: root inside is the mapped uid
//! outside, can do what a container needs, cannot do what the host's root can, and leaves
//! nothing behind — also for containers that live on (-d, exec, stop, start, rm, commit).

mod common;
use common::containers::Env;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use std::time::{Duration, Instant};

/// The mapping glassbox takes on this host (root's /etc/subuid range, else 100000:65536).
fn mapping() -> glassbox::store::idmap::Mapping {
    glassbox::run::userns::load().unwrap()
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

#[test]
fn root_inside_is_the_mapped_uid_outside_and_the_container_is_as_asked() {
    if !root_or_skip("root_inside_is_the_mapped_uid_outside_and_the_container_is_as_asked") {
        return;
    }
    let env = Env::searchable();
    let m = mapping();
    let out = env.ok(&[
        "run",
        "--name",
        "inside",
        "--userns",
        "private",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; hostname; echo $$; \
         echo made-inside > /made; mkdir /d; touch /d/f; chown 1000:1000 /d/f; echo changed >> /etc/hostname; \
         cut -d' ' -f2,3 /proc/mounts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let uid_map = format!("0 {} {}", m.uids.start, m.uids.count);
    let gid_map = format!("0 {} {}", m.gids.start, m.gids.count);
    assert_eq!(
        lines[..6],
        ["0", "0", uid_map.as_str(), gid_map.as_str(), "box", "1"],
        "{out}"
    );
    for mount in [
        "/ overlay",
        "/proc proc",
        "/sys sysfs",
        "/dev tmpfs",
        "/dev/pts devpts",
    ] {
        assert!(lines.contains(&mount), "no {mount} in the container: {out}");
    }
    // On the host, the container's files belong to the mapped ids.
    let id = env.containers().pop().expect("the container is kept");
    let upper = env.data().join("containers").join(&id).join("upper");
    let root = (m.uids.start, m.gids.start);
    assert_eq!(owner(&upper.join("made")), root);
    assert_eq!(owner(&upper.join("d")), root);
    assert_eq!(
        owner(&upper.join("d/f")),
        (m.uids.start + 1000, m.gids.start + 1000)
    );
    // The init layer's /etc/hostname was copied up: root inside owns it, so it could.
    assert_eq!(owner(&upper.join("etc/hostname")), root);
    // The image's copy for this mapping: shifted owners; the image itself: untouched.
    let copy = env
        .data()
        .join(format!("images/busybox-{}/rootfs", m.suffix()));
    assert_eq!(owner(&copy.join("bin/busybox")), root);
    assert_eq!(
        owner(&env.data().join("images/busybox/rootfs/bin/busybox")),
        (0, 0)
    );
    // diff reads the changes, rm takes them away.
    let diff = env.ok(&["diff", "inside"]);
    for line in ["A /made", "A /d/f", "C /etc/hostname"] {
        assert!(diff.lines().any(|l| l == line), "{line} missing: {diff}");
    }
    env.ok(&["rm", "inside"]);

    // Docker's masked and read-only /proc paths, a /dev of safe devices (bound from the
    // host: mknod is refused in a user namespace), devpts, seccomp: all as without one.
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "private",
        "busybox",
        "sh",
        "-c",
        "wc -c < /proc/timer_list; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo sys-ro; \
         ls /dev | tr '\\n' ' '; echo; ls /dev/pts; grep Seccomp: /proc/self/status | tr -d '\\t'",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "0",
            "sys-ro",
            "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ",
            "ptmx",
            "Seccomp:2",
        ],
        "{out}"
    );
    // Limits still hold: over --memory the command is OOM-killed (137).
    let o = env.gb(&[
        "run",
        "--rm",
        "--userns",
        "private",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    // --read-only: the root refuses writes.
    let o = env.gb(&[
        "run",
        "--rm",
        "--userns",
        "private",
        "--read-only",
        "busybox",
        "touch",
        "/x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // --userns host, given explicitly, is the default: no user namespace.
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    env.assert_clean();
}

#[test]
fn root_inside_a_user_namespace_cannot_do_what_host_root_can() {
    if !root_or_skip("root_inside_a_user_namespace_cannot_do_what_host_root_can") {
        return;
    }
    let env = Env::searchable();
    let m = mapping();
    let vol = tempfile::tempdir().unwrap();
    std::fs::set_permissions(vol.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = vol.path().join("secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let volume = format!("{}:/vol", vol.path().display());
    let script = "mknod /dev/sdz b 8 0 2>/dev/null && echo mknod-made || echo mknod-refused; \
                  cat /vol/secret 2>/dev/null || echo read-refused; \
                  echo x > /vol/new 2>/dev/null && echo write-made || echo write-refused; \
                  stat -c %u /vol/secret; \
                  grep CapEff /proc/self/status";
    let private = env.ok(&[
        "run", "--rm", "--userns", "private", "--volume", &volume, "busybox", "sh", "-c", script,
    ]);
    assert_eq!(
        private.lines().collect::<Vec<_>>(),
        [
            "mknod-refused",
            "read-refused",
            "write-refused",
            "65534", // host root has no id inside: nobody
            "CapEff:\t00000000a80425fb",
        ],
        "{private}"
    );
    assert!(!vol.path().join("new").exists());
    // The same container as the host's root: each of these succeeds.
    let host = env.ok(&[
        "run", "--rm", "--volume", &volume, "busybox", "sh", "-c", script,
    ]);
    assert_eq!(
        host.lines().take(4).collect::<Vec<_>>(),
        ["mknod-made", "root only", "write-made", "0"],
        "{host}"
    );
    // A volume inside a directory the mapped root may not search is refused up front,
    // before anything is made.
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(closed.path().join("in")).unwrap();
    let o = env.gb(&[
        "run",
        "--rm",
        "--userns",
        "private",
        "--volume",
        &format!("{}:/in", closed.path().join("in").display()),
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{} (mode 0700, owner uid 0) does not let host uid {}",
            closed.path().display(),
            m.uids.start
        )) && err.contains("what to do:"),
        "{err}"
    );
    env.assert_clean();
}

#[test]
fn bad_userns_input_is_refused_before_anything_is_made() {
    let env = Env::searchable();
    // Not a mode: refused in one sentence.
    let o = env.gb(&["run", "--rm", "--userns", "keep-id", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("--userns \"keep-id\" is not a mode glassbox knows"),
        "{}",
        stderr(&o)
    );
    // The rootfs stage cannot be skipped: the root must be the image's copy.
    let o = env.gb(&[
        "run", "--rm", "--userns", "private", "--skip", "rootfs", "busybox", "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("needs the rootfs stage"),
        "{}",
        stderr(&o)
    );
    // A data directory the mapped root cannot reach (a 0700 temporary directory).
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = glassbox()
        .env("GLASSBOX_STATE_DIR", closed.path())
        .args([
            "-q", "run", "--rm", "--userns", "private", "busybox", "true",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains("glassbox's data directory")
            && err.contains("cannot be reached from the container's user namespace")
            && err.contains(&format!("chmod o+x {}", closed.path().display())),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(closed.path()).unwrap().count(),
        0,
        "something was made"
    );
    assert!(env.containers().is_empty());
    // What root inside cannot do is written down, not only narrated.
    let explain = stdout(&glassbox().args(["explain", "userns"]).output().unwrap());
    for text in [
        "make device nodes",
        "load kernel modules",
        "ports below 1024",
    ] {
        assert!(explain.contains(text), "{text}: {explain}");
    }
}

#[test]
fn the_narration_of_a_userns_run_is_honest() {
    if !root_or_skip("the_narration_of_a_userns_run_is_honest")
        || !tool_or_skip("userns_honest", "strace")
    {
        return;
    }
    let env = Env::searchable();
    // Warm the caches first (the export and the shifted copy), then trace a cold copy too.
    env.ok(&["run", "--rm", "--userns", "private", "busybox", "true"]);
    let t = strace::run_with(
        &[
            "run",
            "--rm",
            "--userns",
            "private",
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
    let names = t.narrated_names();
    let maps = names.iter().filter(|n| *n == "write").count();
    assert!(maps >= 2, "the uid and gid maps are narrated: {names:?}");
    for call in ["setresuid", "fchownat", "pivot_root", "seccomp"] {
        assert!(names.iter().any(|n| n == call), "{call} not narrated");
    }
    // A cold copy (a new image layer for this mapping) is narrated honestly too.
    std::fs::remove_dir_all(
        env.data()
            .join(format!("images/busybox-{}", mapping().suffix())),
    )
    .unwrap();
    let t = strace::run_with(
        &["run", "--rm", "--userns", "private", "busybox", "true"],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path());
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    assert!(t.narrated_names().iter().any(|n| n == "renameat2"));
    env.assert_clean();
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_detached_userns_container_execs_stops_starts_and_is_removed() {
    if !root_or_skip("a_detached_userns_container_execs_stops_starts_and_is_removed") {
        return;
    }
    let env = Env::searchable();
    let m = mapping();
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "ulive",
            "--userns",
            "private",
            "--memory",
            "64m",
            "busybox",
            "sh",
            "-c",
            "while true; do sleep 0.2; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 12, "{id:?}");
    // exec joins the user namespace first: root there, the same map, docker's privileges.
    let out = env.ok(&[
        "exec",
        "ulive",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; grep -E '^(CapEff|NoNewPrivs|Groups):' /proc/self/status | tr -d '\\t '; touch /from-exec",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "0",
            &format!("0 {} {}", m.uids.start, m.uids.count),
            "Groups:",
            "CapEff:00000000a80425fb",
            "NoNewPrivs:1",
        ],
        "{out}"
    );
    let upper = env.data().join("containers").join(&id).join("upper");
    assert_eq!(
        owner(&upper.join("from-exec")),
        (m.uids.start, m.gids.start)
    );
    // Its PID 1 on the host runs as the mapped uid.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data().join("containers").join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let pid = state["process"]["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some(m.uids.start.to_string().as_str()),
        "{uid_line}"
    );
    // Its cgroups: moved in by the parent (in its user namespace it may not write there).
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup
            .lines()
            .any(|l| l.contains(":memory:") && l.ends_with(&format!("/glassbox/gb-{id}"))),
        "{cgroup}"
    );
    // stop, start: the same writable layer, the same mapping (kept in its record).
    env.ok(&["stop", "-t", "1", "ulive"]);
    env.ok(&["start", "ulive"]);
    wait_for("the restarted container", Duration::from_secs(10), || {
        env.gb(&["exec", "ulive", "true"]).status.success()
    });
    assert_eq!(
        env.ok(&["exec", "ulive", "stat", "-c", "%u", "/from-exec"])
            .trim(),
        "0"
    );
    env.ok(&["rm", "-f", "ulive"]);
    env.assert_clean();
}

#[test]
fn a_userns_container_commits_to_an_image_with_the_image_s_own_ids() {
    if !root_or_skip("a_userns_container_commits_to_an_image_with_the_image_s_own_ids") {
        return;
    }
    let env = Env::searchable();
    let m = mapping();
    env.ok(&[
        "run",
        "--name",
        "uc",
        "--userns",
        "private",
        "busybox",
        "sh",
        "-c",
        "echo new > /new; rm /bin/vi; rm -rf /home; mkdir /home; touch /home/bob; chown 1000:1000 /home/bob",
    ]);
    let diff = env.ok(&["diff", "uc"]);
    for line in ["A /new", "D /bin/vi", "A /home/bob"] {
        assert!(diff.lines().any(|l| l == line), "{line} missing: {diff}");
    }
    env.ok(&["commit", "uc", "ushifted:v1"]);
    // The layer holds the image's ids, and root's overlayfs marker for its opaque /home.
    let layers = env.data().join("images/layers");
    let layer = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().contains('-'))
        .expect("the committed layer");
    assert_eq!(owner(&layer.join("new")), (0, 0));
    assert_eq!(owner(&layer.join("home/bob")), (1000, 1000));
    // Run as it was committed, with and without a user namespace: the same files and ids.
    let script = "cat /new; ls /bin/vi 2>/dev/null || echo no-vi; stat -c %u /home/bob; id -u";
    for userns in ["host", "private"] {
        let out = env.ok(&[
            "run",
            "--rm",
            "--userns",
            userns,
            "ushifted:v1",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            ["new", "no-vi", "1000", "0"],
            "--userns {userns}: {out}"
        );
    }
    let copy = layers.join(format!(
        "{}-{}",
        layer.file_name().unwrap().to_string_lossy(),
        m.suffix()
    ));
    assert_eq!(
        owner(&copy.join("home/bob")),
        (m.uids.start + 1000, m.gids.start + 1000)
    );
    // rmi takes the layer's copy for the user namespace with it.
    env.ok(&["rm", "uc"]);
    env.ok(&["rmi", "ushifted:v1"]);
    assert!(!layer.exists() && !copy.exists(), "layer or copy left");
    env.assert_clean();
}

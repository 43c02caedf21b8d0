//! podman drives glassbox as its OCI runtime (`podman --runtime glassbox-runc`), and the
//! container prints what the same podman run prints under runc.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// podman with storage and run state of the test's own (a temporary directory), the cgroupfs manager (glassbox refuses systemd's) and no network.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "vfs",
            ]);
        // The runtime keeps its state in its default --root, /run/glassbox-runtime: podman
        // passes --runtime-flag to some calls only (not to the delete of its cleanup).
        c
    }

    /// `podman --runtime RUNTIME run --rm IMAGE sh -c SCRIPT`: its stdout.
    fn run(&self, runtime: &Path, flags: &[&str], script: &str) -> String {
        let o = self
            .cmd()
            .arg("--runtime")
            .arg(runtime)
            .args(["run", "--rm", "--network", "none"])
            .args(flags)
            .stdin(std::process::Stdio::null())
            // podman as root here asks for limits the host's hard limits may not allow.
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(["localhost/gb-busybox:test", "sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman --runtime {}: {}",
            runtime.display(),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Podman {
    /// A podman of the test's own with busybox, as glassbox exports it, imported from a
    /// tarball; and glassbox linked as `glassbox-runc` (engines find a runtime by the name
    /// it is called under).
    fn with_image() -> (Podman, std::path::PathBuf) {
        let p = Podman {
            dir: tempfile::tempdir().unwrap(),
        };
        let d = p.dir.path();
        let o = glassbox()
            .env("GLASSBOX_DATA_DIR", d.join("data"))
            .args(["-q", "export", "busybox"])
            .arg(d.join("rootfs"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let st = Command::new("tar")
            .arg("-C")
            .arg(d.join("rootfs"))
            .arg("-cf")
            .arg(d.join("bb.tar"))
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        let o = p
            .cmd()
            .arg("import")
            .arg(d.join("bb.tar"))
            .arg("localhost/gb-busybox:test")
            .output()
            .unwrap();
        assert!(o.status.success(), "podman import: {}", stderr(&o));
        let runc_named = d.join("glassbox-runc");
        std::os::unix::fs::symlink(bin(), &runc_named).unwrap();
        (p, runc_named)
    }

    /// `podman --runtime RUNTIME ARGS…`, checked: its stdout.
    fn ok(&self, runtime: &Path, args: &[&str]) -> String {
        let o = self
            .cmd()
            .arg("--runtime")
            .arg(runtime)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {}: {}",
            args.join(" "),
            stderr(&o)
        );
        stdout(&o)
    }
}

/// The libpod cgroups left under glassbox's parent.
fn libpod_cgroups_left() -> Vec<std::fs::DirEntry> {
    std::fs::read_dir("/sys/fs/cgroup/pids/glassbox")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("libpod-"))
        .collect()
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-a", "-f"]).output();
        let _ = self.cmd().args(["rmi", "-a", "-f"]).output();
        let _ = self.cmd().args(["system", "reset", "-f"]).output();
    }
}

#[test]
fn podman_runs_a_container_through_glassbox_as_through_runc() {
    let t = "podman_runs_a_container_through_glassbox_as_through_runc";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "runc") {
        return;
    }
    let before = host_mounts();
    let (p, runc_named) = Podman::with_image();
    let script = "echo hi; id; grep CapEff /proc/self/status";
    let ours = p.run(&runc_named, &[], script);
    let theirs = p.run(Path::new("/usr/sbin/runc"), &[], script);
    assert!(ours.starts_with("hi\nuid=0(root) gid=0(root)"), "{ours}");
    assert_eq!(
        ours, theirs,
        "podman's container differs under glassbox and runc"
    );
    // -t: the terminal's master end goes to conmon over the console socket.
    let ours = p.run(&runc_named, &["-t"], "tty; echo hi");
    let theirs = p.run(Path::new("/usr/sbin/runc"), &["-t"], "tty; echo hi");
    assert!(ours.starts_with("/dev/pts/0"), "{ours}");
    assert_eq!(ours, theirs);
    drop(p);
    assert_eq!(host_mounts(), before);
    let left = libpod_cgroups_left();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// `podman run -d`, then `exec` (the runtime's exec), `pause`/`unpause`, `stop` and `rm`,
/// all through glassbox.
#[test]
fn podman_runs_detached_execs_pauses_stops_and_removes_through_glassbox() {
    let t = "podman_runs_detached_execs_pauses_stops_and_removes_through_glassbox";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") {
        return;
    }
    let before = host_mounts();
    let (p, rt) = Podman::with_image();
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut run = vec!["run", "-d", "--name", "gb-bg", "--network", "none"];
    run.extend(limits);
    run.extend(["localhost/gb-busybox:test", "sleep", "1000"]);
    p.ok(&rt, &run);
    let status = |p: &Podman| p.ok(&rt, &["inspect", "--format", "{{.State.Status}}", "gb-bg"]);
    assert_eq!(status(&p).trim(), "running");
    // exec: a second process inside the first one's namespaces.
    let out = p.ok(
        &rt,
        &[
            "exec",
            "gb-bg",
            "sh",
            "-c",
            "echo in; cat /proc/1/comm; hostname",
        ],
    );
    assert!(out.starts_with("in\nsleep\n"), "{out}");
    let o = p
        .cmd()
        .arg("--runtime")
        .arg(&rt)
        .args(["exec", "gb-bg", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    p.ok(&rt, &["pause", "gb-bg"]);
    assert_eq!(status(&p).trim(), "paused");
    p.ok(&rt, &["unpause", "gb-bg"]);
    assert_eq!(status(&p).trim(), "running");
    p.ok(&rt, &["stop", "-t", "2", "gb-bg"]);
    assert_eq!(status(&p).trim(), "exited");
    p.ok(&rt, &["rm", "gb-bg"]);
    drop(p);
    assert_eq!(host_mounts(), before);
    let left = libpod_cgroups_left();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

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
    let p = Podman {
        dir: tempfile::tempdir().unwrap(),
    };
    let d = p.dir.path();
    // The image: busybox as glassbox exports it, imported from a tarball.
    let o = glassbox()
        .env("GLASSBOX_DATA_DIR", d.join("data"))
        .args(["-q", "unpack", "busybox"])
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
    // Engines find a runtime by the name it is called under.
    let runc_named = d.join("glassbox-runc");
    std::os::unix::fs::symlink(bin(), &runc_named).unwrap();

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
    let left: Vec<_> = std::fs::read_dir("/sys/fs/cgroup/pids/glassbox")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("libpod-"))
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

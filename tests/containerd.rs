//! containerd drives glassbox as its runtime: a containerd of the test's own (its own root,
//! state and socket, no CRI plugin) imports an image `glassbox save` wrote, and
//! `ctr run --runc-binary glassbox-runc` runs it.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// containerd's own directories under /run/containerd (its shim sockets and ctr's fifos go
/// there whatever the config says): removed after the test if it made them.
const FIXED: &[&str] = &[
    "/run/containerd/fifo",
    "/run/containerd/s",
    "/run/containerd",
];

/// A containerd started for the test; dropping it stops it and removes what it made.
struct Containerd {
    dir: tempfile::TempDir,
    child: Child,
    made: Vec<PathBuf>,
}

impl Containerd {
    fn start() -> Containerd {
        let made = FIXED
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{0}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{0}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            d.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log")).unwrap())
            .spawn()
            .unwrap();
        let c = Containerd { dir, child, made };
        for _ in 0..100 {
            if c.ctr().arg("version").output().unwrap().status.success() {
                return c;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "containerd did not start: {}",
            std::fs::read_to_string(c.dir.path().join("log")).unwrap_or_default()
        );
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        // Empty by now: remove_dir leaves anything another containerd still uses.
        for p in &self.made {
            let _ = std::fs::remove_dir(p);
        }
    }
}

#[test]
fn ctr_runs_a_glassbox_saved_image_through_glassbox() {
    let t = "ctr_runs_a_glassbox_saved_image_through_glassbox";
    if !root_or_skip(t) || !tool_or_skip(t, "containerd") || !tool_or_skip(t, "ctr") {
        return;
    }
    let before = host_mounts();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let gb = |args: &[&str]| {
        let o = glassbox()
            .env("GLASSBOX_DATA_DIR", w.join("data"))
            .arg("-q")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "glassbox {args:?}: {}", stderr(&o));
    };
    // busybox as an image of glassbox's own, saved as docker save writes it.
    let rootfs = w.join("rootfs");
    gb(&["unpack", "busybox", rootfs.to_str().unwrap()]);
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(w.join("root.tar"))
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    gb(&["import", w.join("root.tar").to_str().unwrap(), "gbbb:v1"]);
    let saved = w.join("bb.tar");
    gb(&["save", "gbbb:v1", "-o", saved.to_str().unwrap()]);

    // containerd names its namespace's parent in cgroupsPath (/default/ID); runc leaves the
    // parent for the namespace's other containers, and so does glassbox: the test removes
    // the ones that were not there before.
    let hierarchies: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path())
        .filter(|h| h.join("cgroup.procs").exists())
        .collect();
    let new_parents: Vec<PathBuf> = hierarchies
        .iter()
        .map(|h| h.join("default"))
        .filter(|d| !d.exists())
        .collect();
    let c = Containerd::start();
    let o = c
        .ctr()
        .args(["image", "import"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(o.status.success(), "ctr image import: {}", stderr(&o));
    // Engines find a runtime by the name it is called under.
    let runc = w.join("glassbox-runc");
    std::os::unix::fs::symlink(bin(), &runc).unwrap();
    let o = c
        .ctr()
        .args(["run", "--rm", "--runc-binary"])
        .arg(&runc)
        .arg("--runc-root")
        .arg(w.join("runtime"))
        .args(["docker.io/library/gbbb:v1", "gb-ctr", "sh", "-c"])
        .arg("echo hi; grep :memory: /proc/self/cgroup | cut -d: -f3")
        .output()
        .unwrap();
    assert!(o.status.success(), "ctr run: {}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n/default/gb-ctr\n");
    let o = c.ctr().args(["containers", "ls", "-q"]).output().unwrap();
    assert_eq!(stdout(&o), "", "ctr run --rm left its container");
    let _ = c
        .ctr()
        .args(["image", "rm", "docker.io/library/gbbb:v1"])
        .output();
    drop(c);
    assert_eq!(host_mounts(), before);
    let left: Vec<_> = hierarchies
        .iter()
        .map(|h| h.join("default/gb-ctr"))
        .filter(|d| d.exists())
        .collect();
    for d in &new_parents {
        let _ = std::fs::remove_dir(d);
    }
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let states: Vec<_> = std::fs::read_dir(w.join("runtime"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|ns| std::fs::read_dir(ns.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect();
    assert!(states.is_empty(), "runtime state left: {states:?}");
}

//! A container's directory is an OCI bundle: real runc runs the config.json glassbox wrote
//! and prints what glassbox's own run printed; `run --dry-run` shows that config.json.

mod common;
use common::containers::Env;
use common::*;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the container shows of itself: name, ids, privileges, devices, PID 1, and its mount
/// table as mount points with their flags (a masked file's /dev/null is the host's for
/// glassbox and the container's own for runc: only its mount point is compared). The number
/// of seccomp filters is not compared: runc puts in one filter the rules glassbox installs as
/// two (seccompiler gives a filter one errno).
const SCRIPT: &str = r#"hostname; cat /etc/hostname; id
grep -E '^(Cap...|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/uid_map; ls /dev
awk '{print $5}' /proc/self/mountinfo | sort
awk '$4 != "/null" || $5 ~ /^\/dev\// {print $5, $6}' /proc/self/mountinfo | sort
tr '\0' ' ' < /proc/1/cmdline; echo; pwd; echo $GREETING"#;

/// The overlay a bundle's root is, mounted on its root.path as containerd's snapshotter
/// mounts it before calling runc; unmounted when dropped, pass or fail.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(target: &Path, options: &str) -> Overlay {
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", options])
            .arg(target)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t overlay -o {options} failed");
        Overlay(target.to_path_buf())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A runc container of the test's own (its own --root state directory); deleted when dropped.
struct Runc {
    root: tempfile::TempDir,
    id: String,
}

impl Runc {
    fn run(&self, bundle: &Path) -> std::process::Output {
        Command::new("runc")
            .arg("--root")
            .arg(self.root.path())
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(&self.id)
            // glassbox gives a command without -i /dev/null as stdin (org.glassbox.stdin).
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.root.path())
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// `glassbox run --name NAME FLAGS… busybox sh -c SCRIPT`, then `runc run` on the container's
/// directory with a fresh id: the same output, and the host as it was.
fn runc_prints_what_glassbox_printed(env: &Env, flags: &[&str]) {
    // A name of its own: the container's cgroups are named after it, and another glassbox
    // on this machine may have a "c" (this test's runs take turns: each Env holds the host).
    let name = format!("bundle-{}", std::process::id());
    let mut args = vec!["run", "--name", &name, "-e", "GREETING=hello", "-w", "/etc"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", SCRIPT]);
    let ours = env.ok(&args);
    let id = env.containers().pop().expect("the container is kept");
    let bundle = env.data().join("containers").join(&id);
    let spec = Spec::load(bundle.join("config.json")).expect("config.json is a runtime spec");
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_ref().unwrap()[0], "sh");
    let root = bundle.join(spec.root().as_ref().unwrap().path());
    let annotations = spec.annotations().clone().unwrap_or_default();
    let theirs = {
        let _overlay = annotations
            .get("org.glassbox.overlay.options")
            .map(|o| Overlay::mount(&root, o));
        let runc = Runc {
            root: tempfile::tempdir().unwrap(),
            id: format!("gbtest-{id}"),
        };
        runc.run(&bundle)
    };
    assert!(
        theirs.status.success(),
        "runc run failed: {}",
        stderr(&theirs)
    );
    // /sys/fs/cgroup holds the container's own cgroups in both, but not alike: on a v1 or
    // hybrid host runc leaves the tmpfs there writable and mounts every hierarchy of the
    // host, glassbox makes the tmpfs read-only and mounts only the hierarchies it has a
    // cgroup in. Compared apart: both have it, and glassbox's is read-only.
    let cgroup_view = |out: &str| -> (String, Option<String>) {
        let rest: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with("/sys/fs/cgroup"))
            .collect();
        let top = out
            .lines()
            .find(|l| l.starts_with("/sys/fs/cgroup "))
            .map(String::from);
        (rest.join("\n"), top)
    };
    let (theirs_rest, theirs_top) = cgroup_view(&stdout(&theirs));
    let (ours_rest, ours_top) = cgroup_view(&ours);
    assert_eq!(theirs_rest, ours_rest, "runc and glassbox disagree");
    assert!(theirs_top.is_some(), "runc mounted no /sys/fs/cgroup");
    assert!(
        ours_top.is_some_and(|l| l.starts_with("/sys/fs/cgroup ro,")),
        "glassbox's /sys/fs/cgroup is read-only: {ours}"
    );
    assert!(
        ours.contains("hello") && ours.contains("\n/etc\n"),
        "{ours}"
    );
    env.ok(&["rm", &name]);
    env.assert_clean();
}

#[test]
fn runc_runs_an_overlay_container_glassbox_made() {
    if !root_or_skip("runc_runs_an_overlay_container_glassbox_made")
        || !tool_or_skip("runc_runs_an_overlay_container_glassbox_made", "runc")
    {
        return;
    }
    runc_prints_what_glassbox_printed(&Env::new(), &["--memory", "64m", "--pids-limit", "50"]);
}

#[test]
fn runc_runs_a_no_overlay_container_as_it_is() {
    if !root_or_skip("runc_runs_a_no_overlay_container_as_it_is")
        || !tool_or_skip("runc_runs_a_no_overlay_container_as_it_is", "runc")
    {
        return;
    }
    let vol = tempfile::tempdir().unwrap();
    let volume = format!("{}:/data:ro", vol.path().display());
    runc_prints_what_glassbox_printed(
        &Env::new(),
        &["--no-overlay", "--cap-drop", "ALL", "--volume", &volume],
    );
}

#[test]
fn runc_runs_a_user_namespace_container_with_its_maps() {
    if !root_or_skip("runc_runs_a_user_namespace_container_with_its_maps")
        || !tool_or_skip("runc_runs_a_user_namespace_container_with_its_maps", "runc")
    {
        return;
    }
    runc_prints_what_glassbox_printed(
        &Env::searchable(),
        &["--userns", "private", "--tmpfs", "/scratch:8m"],
    );
}

#[test]
fn dry_run_prints_the_config_json_without_root() {
    let state = tempfile::tempdir().unwrap();
    // As root, drop to nobody: the dry run must not need root.
    let mut c = if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin());
        c
    } else {
        Command::new(bin())
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GLASSBOX_") {
            c.env_remove(key);
        }
    }
    let o = c
        .env("GLASSBOX_STATE_DIR", state.path().join("s"))
        .env("NO_COLOR", "1")
        .args(["--dry-run", "run", "--name", "web", "busybox", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let spec: Spec = serde_json::from_slice(&o.stdout).expect("stdout is a runtime spec");
    assert_eq!(
        spec.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["true"]
    );
    assert_eq!(
        spec.annotations().as_ref().unwrap()["org.glassbox.name"],
        "web"
    );
    // The plan of syscalls is still narrated beside it, on stderr.
    let err = stderr(&o);
    assert!(
        err.contains("the OCI runtime spec of this container (config.json"),
        "{err}"
    );
    assert!(
        err.contains("pivot_root(\".\", \".\") = ? (dry run: not made)"),
        "{err}"
    );
    assert!(
        !state.path().join("s").exists(),
        "a dry run made its state directory"
    );
}

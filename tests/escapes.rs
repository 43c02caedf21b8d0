//! Paths that would lead from a container to the host: a working directory through a
//! descriptor inherited from the caller (runc's CVE-2024-21626), and files glassbox writes
//! into a root filesystem whose own symlinks point at host files (the CVE-2021-30465 class).
//! Every host file a test offers as bait is a throwaway under a temporary directory.

mod common;
use common::containers::Env;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `glassbox -q ARGS…` in the test's state directory, with fd 7 open on `dir` (as
/// `exec 7<DIR` in a shell leaves it to the commands it starts).
fn gb_with_fd7(env: &Env, dir: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("exec 7<\"$GB_DIR\"; exec \"$GB\" -q \"$@\"")
        .arg("sh")
        .args(args)
        .env("GB", bin())
        .env("GB_DIR", dir)
        .env("GLASSBOX_STATE_DIR", env.state.path())
        .env("NO_COLOR", "1")
        .env_remove("GLASSBOX_TRACE")
        .env_remove("GLASSBOX_DATA_DIR")
        .output()
        .unwrap()
}

/// What a user must see when -w leads through /proc/self/fd: a refusal that says why, and
/// nothing of the host directory.
fn assert_refused(o: &Output, what: &str) {
    let (out, err) = (stdout(o), stderr(o));
    assert!(
        !out.contains("host-secret"),
        "{what}: the command ran in the host's directory:\n{out}"
    );
    assert_eq!(o.status.code(), Some(125), "{what}: {err}");
    assert!(
        err.starts_with("glassbox: error: ") && err.contains("/proc/self/fd/7"),
        "{what}: {err}"
    );
    // The descriptor is closed first (then the path does not exist), or refused as a
    // magic link if glassbox holds a descriptor of that number itself.
    assert!(
        (err.contains("magic link") || err.contains("does not exist in the container"))
            && err.contains("give -w a directory"),
        "{what}: the error says why and what to do: {err}"
    );
}

/// A host directory with a file of its own in it, and a fresh state directory.
fn bait() -> (tempfile::TempDir, Env) {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("host-secret"), "on the host\n").unwrap();
    (host, Env::new())
}

#[test]
fn run_refuses_a_working_directory_through_an_inherited_descriptor() {
    if !root_or_skip("run_workdir_through_fd") || !tool_or_skip("run_workdir_fd", "busybox") {
        return;
    }
    let (host, env) = bait();
    let o = gb_with_fd7(
        &env,
        host.path(),
        &["run", "--rm", "-w", "/proc/self/fd/7", "busybox", "ls"],
    );
    assert_refused(&o, "run -w");
    // A descriptor glassbox itself holds (stdin here) is a magic link too, refused as one.
    let o = env.gb(&["run", "--rm", "-w", "/proc/self/fd/0", "busybox", "true"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("leads through a /proc magic link"),
        "the error says why: {err}"
    );
    // An ordinary working directory still works.
    let o = gb_with_fd7(
        &env,
        host.path(),
        &["run", "--rm", "-w", "/etc", "busybox", "pwd"],
    );
    assert_eq!(stdout(&o).trim(), "/etc", "{}", stderr(&o));
    env.assert_clean();
}

#[test]
fn exec_refuses_a_working_directory_through_an_inherited_descriptor() {
    if !root_or_skip("exec_workdir_through_fd") || !tool_or_skip("exec_workdir_fd", "busybox") {
        return;
    }
    let (host, env) = bait();
    env.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "60"]);
    let o = gb_with_fd7(
        &env,
        host.path(),
        &["exec", "-w", "/proc/self/fd/7", "box", "ls"],
    );
    assert_refused(&o, "exec -w");
    assert_eq!(env.ok(&["exec", "-w", "/etc", "box", "pwd"]).trim(), "/etc");
    env.ok(&["rm", "-f", "box"]);
    env.assert_clean();
}

/// A busybox root filesystem in `dir`/rootfs.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-scripts/busybox.sh");
    let o = Command::new("sh").arg(&script).arg(&root).output().unwrap();
    assert!(o.status.success(), "busybox.sh failed: {}", stderr(&o));
    root
}

fn net_ready(test: &str) -> bool {
    root_or_skip(test)
        && tool_or_skip(test, "busybox")
        && tool_or_skip(test, "iptables")
        && tool_or_skip(test, "unshare")
}

/// Run `script` (sh) in a throwaway network namespace, with $GB and a state directory of
/// its own: the bridge and its rules go with the namespace, and the script's exit trap
/// removes what the journal lists there. Returns its output and the journal's leftovers.
fn in_own_netns(state: &Path, script: &str, env: &[(&str, &Path)]) -> (Output, usize) {
    let script = format!(
        "ip link set lo up\ntrap '\"$GB\" -q rm -f keep >/dev/null 2>&1; \"$GB\" -q cleanup >/dev/null 2>&1' EXIT\n{script}"
    );
    let mut c = Command::new("unshare");
    c.args(["--net", "--", "sh", "-c", &script])
        .env("GB", bin())
        .env("GLASSBOX_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .env_remove("GLASSBOX_TRACE")
        .env_remove("GLASSBOX_DATA_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let left = std::fs::read_dir(state.join("journal"))
        .map(|d| d.count())
        .unwrap_or(0);
    (o, left)
}

#[test]
fn run_without_overlay_does_not_write_through_an_images_etc_symlinks() {
    if !net_ready("run_etc_symlinks") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (resolv, hosts) = (
        t.path().join("host-resolv.conf"),
        t.path().join("host-hosts"),
    );
    std::fs::write(&resolv, "host resolv\n").unwrap();
    std::fs::write(&hosts, "host hosts\n").unwrap();
    let root = busybox_rootfs(t.path());
    std::os::unix::fs::symlink(&resolv, root.join("etc/resolv.conf")).unwrap();
    std::os::unix::fs::symlink(&hosts, root.join("etc/hosts")).unwrap();
    let (o, left) = in_own_netns(
        &t.path().join("state"),
        "\"$GB\" -q run --rm --no-overlay --network bridge \"$ROOT\" cat /etc/resolv.conf /etc/hosts",
        &[("ROOT", &root)],
    );
    assert_eq!(
        std::fs::read_to_string(&resolv).unwrap(),
        "host resolv\n",
        "run wrote through the image's /etc/resolv.conf symlink onto the host"
    );
    assert_eq!(
        std::fs::read_to_string(&hosts).unwrap(),
        "host hosts\n",
        "run wrote through the image's /etc/hosts symlink onto the host"
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    // Inside, the container has files of its own where the links were.
    assert!(
        !out.contains("host resolv") && !out.contains("host hosts"),
        "{out}"
    );
    assert!(
        out.contains("10.77.0."),
        "its /etc/hosts names its address:\n{out}"
    );
    assert_eq!(left, 0, "journal entries left");
}

#[test]
fn start_without_overlay_does_not_write_through_a_symlink_the_container_made() {
    if !net_ready("start_etc_symlink") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let hosts = t.path().join("host-hosts");
    std::fs::write(&hosts, "host hosts\n").unwrap();
    let root = busybox_rootfs(t.path());
    // The container points its own /etc/hosts at a host path; start writes /etc/hosts again.
    let script = r#"
"$GB" -q run --name keep --no-overlay --network bridge "$ROOT" ln -sf "$HOSTS" /etc/hosts
echo first=$?
"$GB" -q start keep
echo start=$?
"#;
    let (o, left) = in_own_netns(
        &t.path().join("state"),
        script,
        &[("ROOT", &root), ("HOSTS", &hosts)],
    );
    assert_eq!(
        std::fs::read_to_string(&hosts).unwrap(),
        "host hosts\n",
        "start wrote through the container's /etc/hosts symlink onto the host"
    );
    let out = stdout(&o);
    for step in ["first=0", "start=0"] {
        assert!(out.contains(step), "{step}:\n{out}\n{}", stderr(&o));
    }
    assert_eq!(left, 0, "journal entries left");
}

/// Mount targets are checked inside the root and then mounted through the descriptor the
/// check opened (/proc/self/fd/N), so a directory of a shared volume swapped for a symlink
/// in between cannot redirect the mount (runc's CVE-2021-30465); and the narration of it,
/// the working directory and the closed descriptors is what strace sees.
#[test]
fn volumes_and_tmpfs_are_mounted_through_the_descriptor_their_check_opened() {
    if !root_or_skip("mount_through_fd") || !tool_or_skip("mount_through_fd", "strace") {
        return;
    }
    let (host, env) = bait();
    assert!(env.gb(&["run", "--rm", "busybox", "true"]).status.success());
    let vol = format!("{}:/data:ro", host.path().display());
    let t = strace::run_with(
        &[
            "run",
            "--rm",
            "--volume",
            &vol,
            "--tmpfs",
            "/scratch",
            "-w",
            "/data",
            "busybox",
            "sh",
            "-c",
            "cat host-secret; touch x 2>/dev/null || echo read-only",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path())
                .env_remove("GLASSBOX_DATA_DIR");
        },
    );
    assert_eq!(
        stdout(&t.output),
        "on the host\nread-only\n",
        "{}",
        stderr(&t.output)
    );
    t.assert_honest();
    // The volume's bind mount (its source is the host directory) and the --tmpfs mount.
    let source = format!("\"{}\"", host.path().display());
    let targets: Vec<String> = t
        .narrated()
        .iter()
        .filter(|e| e["name"] == "mount")
        .filter(|e| {
            e["args"][0] == source.as_str()
                || e["why"].as_str().unwrap_or("").starts_with("--tmpfs")
        })
        .map(|e| e["args"][1].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(targets.len(), 2, "the volume and the tmpfs: {targets:?}");
    for t in &targets {
        assert!(t.starts_with("\"/proc/self/fd/"), "mounted by path: {t}");
    }
    env.assert_clean();
}

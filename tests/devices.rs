//! The devices rule of `glassbox run`: a container keeps CAP_MKNOD (Docker's default set), so
//! it can make a node for a host device; opening that node must fail with EPERM, while the
//! devices a program expects keep working, and --privileged keeps them all (as Docker).
//! On this hybrid host the rule is the v1 devices controller's; the cgroup v2 eBPF program
//! is tested for real by running glassbox where the v1 devices hierarchy is unmounted.

mod common;
use common::containers::Env;
use common::*;
use std::process::Output;

/// Make a loop device node (block 7:0) and read it, then use the usual devices.
const PROBE: &str = "mknod /tmp/loop b 7 0 && echo made; \
    head -c 1 /tmp/loop >/dev/null && echo read-loop; \
    mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null && echo read-mem; \
    echo x > /dev/null && echo null; \
    head -c 1 /dev/zero | wc -c; \
    head -c 1 /dev/urandom >/dev/null && echo urandom; \
    echo x > /dev/full 2>/dev/null || echo full; \
    echo x > /dev/ptmx && echo ptmx";

fn run(env: &Env, extra: &[&str]) -> Output {
    env.cmd()
        .args(["-q", "run", "--rm"])
        .args(extra)
        .args(["busybox", "sh", "-c", PROBE])
        .output()
        .unwrap()
}

/// A traced run's environment: the test's state directory, no inherited GLASSBOX_* setting.
fn traced_env(c: &mut std::process::Command, state: &std::path::Path) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GLASSBOX_") && key != "GLASSBOX_TRACE" {
            c.env_remove(key);
        }
    }
    c.env("GLASSBOX_STATE_DIR", state);
}

/// Every cgroup a traced run made (its narrated mkdirs) is gone again.
fn assert_no_cgroup_left(t: &strace::Traced) {
    for e in t.narrated() {
        let path = e["args"][0].as_str().unwrap_or("").trim_matches('"');
        let path = std::path::Path::new(path);
        // The shared glassbox parent stays while another run (another test, another user
        // of the machine) has a cgroup in it: that run removes it.
        let shared = path.ends_with("glassbox")
            && std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.path().is_dir());
        if e["name"] == "mkdir" && path.starts_with("/sys/fs/cgroup/") && !shared {
            assert!(!path.is_dir(), "{} is left behind", path.display());
        }
    }
}

/// The nodes made for the host's loop device and /dev/mem were made (mknod is allowed, as
/// in Docker) but could not be opened, and the usual devices still work.
fn assert_host_devices_refused(out: &str, err: &str) {
    assert!(out.contains("made"), "{out}\n{err}");
    assert!(
        !out.contains("read-loop"),
        "the host's loop device was read: {out}"
    );
    assert!(
        !out.contains("read-mem"),
        "the host's /dev/mem was read: {out}"
    );
    assert!(
        err.contains("head: /tmp/loop: Operation not permitted"),
        "{err}"
    );
    assert_usual_devices_work(out, err);
}

/// The usual devices worked (the probe's last lines).
fn assert_usual_devices_work(out: &str, err: &str) {
    for want in ["null", "1", "urandom", "full", "ptmx"] {
        assert!(
            out.lines().any(|l| l == want),
            "{want} did not work: {out}\n{err}"
        );
    }
}

#[test]
fn a_default_container_cannot_read_a_host_device_it_makes() {
    if !root_or_skip("a_default_container_cannot_read_a_host_device_it_makes") {
        return;
    }
    let env = Env::new();
    let o = run(&env, &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    // mknod is allowed (as in Docker); using the node is not.
    assert_host_devices_refused(&out, &err);
    env.assert_clean();
}

#[test]
fn privileged_keeps_every_device() {
    if !root_or_skip("privileged_keeps_every_device") {
        return;
    }
    let env = Env::new();
    let o = run(&env, &["--privileged"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("made"), "{out}\n{err}");
    assert!(!err.contains("Operation not permitted"), "{err}");
    assert_usual_devices_work(&out, &err);
    env.assert_clean();
}

#[test]
fn the_device_rule_is_narrated_and_explained() {
    if !root_or_skip("the_device_rule_is_narrated_and_explained")
        || !tool_or_skip("devices_honest", "strace")
    {
        return;
    }
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    let t = strace::run_with(&["run", "--rm", "busybox", "true"], |c| {
        traced_env(c, &state);
    });
    let err = stderr(&t.output);
    assert!(t.output.status.success(), "{err}");
    if std::path::Path::new("/sys/fs/cgroup/devices/devices.list").exists() {
        assert!(err.contains("devices.deny>, \"a\", 1) = 1"), "{err}");
        assert!(
            err.contains("devices.allow>, \"c 1:3 rwm\", 9) = 9"),
            "{err}"
        );
    }
    t.assert_honest();
    assert_no_cgroup_left(&t);
    env.assert_clean();
    for name in [
        "devices.deny",
        "devices.allow",
        "bpf",
        "BPF_PROG_LOAD",
        "BPF_PROG_ATTACH",
    ] {
        let o = glassbox().args(["explain", name]).output().unwrap();
        assert!(o.status.success(), "explain {name}: {}", stderr(&o));
    }
}

/// The command that runs what follows it where only the cgroup v2 tree holds the device
/// rule: on a hybrid host, in a mount namespace of its own with the v1 devices hierarchy
/// unmounted (empty on a pure v2 host, where that is the default path already). None, with
/// the skip reported, when this host cannot run the test.
fn where_v2_holds_the_device_rule(test: &str) -> Option<Vec<String>> {
    if !root_or_skip(test) || !tool_or_skip(test, "strace") || !tool_or_skip(test, "unshare") {
        return None;
    }
    let host = glassbox::host::cgroups::CgroupHost::current();
    if host.v2_mount.is_none() {
        skip(test, "this host has no cgroup v2 tree");
        return None;
    }
    Some(match host.place("devices") {
        Some(p) if p.version == 1 => vec![
            "unshare".into(),
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "sh".into(),
            "-c".into(),
            format!("umount {} && exec \"$@\"", p.mount.display()),
            "sh".into(),
        ],
        _ => Vec::new(),
    })
}

/// cgroup v2's rule for real: on a hybrid host glassbox runs in a mount namespace of its own
/// where the v1 devices hierarchy is unmounted, so it finds only the v2 tree and attaches its
/// eBPF program there (the kernel runs cgroup device programs on a hybrid host too). On a
/// pure v2 host it is the default path already.
#[test]
fn on_cgroup_v2_an_ebpf_program_refuses_the_host_device() {
    let test = "on_cgroup_v2_an_ebpf_program_refuses_the_host_device";
    let Some(prefix) = where_v2_holds_the_device_rule(test) else {
        return;
    };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    let t = strace::run_prefixed(
        &prefix,
        &["run", "--rm", "busybox", "sh", "-c", PROBE],
        |c| traced_env(c, &state),
    );
    let (out, err) = (stdout(&t.output), stderr(&t.output));
    assert!(
        err.contains("bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE"),
        "{err}"
    );
    assert!(err.contains("bpf(BPF_PROG_ATTACH"), "{err}");
    assert!(!err.contains("devices.deny"), "{err}");
    assert_host_devices_refused(&out, &err);
    t.assert_honest();
    assert_no_cgroup_left(&t);
    env.assert_clean();
}

/// Watched by strace -f (as a learner compares the narration with it), a quiet run still
/// loads its device program: the kernel's verifier gives up with EAGAIN while a signal is
/// pending, which a traced process's stops leave often (one quiet run in six failed so),
/// and glassbox loads it again, as libbpf does.
#[test]
fn under_strace_the_device_program_still_loads() {
    let test = "under_strace_the_device_program_still_loads";
    let Some(prefix) = where_v2_holds_the_device_rule(test) else {
        return;
    };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    for _ in 0..12 {
        let t = strace::run_prefixed(&prefix, &["-q", "run", "--rm", "busybox", "true"], |c| {
            traced_env(c, &state)
        });
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        assert_no_cgroup_left(&t);
    }
    env.assert_clean();
}

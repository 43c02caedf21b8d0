//! What a default `glassbox run` container may still do, tried from inside as an attacker
//! would: write through a read-only volume, make a user namespace or an io_uring, and
//! whether a user without CAP_SETUID/CAP_SETGID can still be run.

mod common;
use common::containers::Env;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// `glassbox -q run --rm ARGS…` in the test's own state directory, with no inherited
/// GLASSBOX_* setting but that one.
fn run(env: &Env, args: &[&str]) -> Output {
    env.cmd()
        .env_remove("GLASSBOX_DATA_DIR")
        .env_remove("GLASSBOX_PRIVATE_MNT_NS")
        .args(["-q", "run", "--rm"])
        .args(args)
        .output()
        .unwrap()
}

/// A tmpfs mounted on DIR/sub of a temporary directory of the test's own; unmounted on drop,
/// pass or fail.
struct TmpfsUnder {
    dir: tempfile::TempDir,
}

impl TmpfsUnder {
    fn new() -> TmpfsUnder {
        let dir = tempfile::Builder::new()
            .prefix("gb-rovol-")
            .tempdir()
            .unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &sub,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap();
        TmpfsUnder { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TmpfsUnder {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(
            &self.dir.path().join("sub"),
            nix::mount::MntFlags::MNT_DETACH,
        );
    }
}

#[test]
fn a_read_only_volume_is_read_only_all_the_way_down() {
    if !root_or_skip("a_read_only_volume_is_read_only_all_the_way_down") {
        return;
    }
    let env = Env::new();
    let vol = TmpfsUnder::new();
    let v = format!("{}:/v:ro", vol.path().display());
    // `true >>` opens a file for writing and writes nothing: the host's core_pattern and
    // release_agent cannot change even where the open succeeds. (Not `:`: a failed
    // redirection of a special builtin ends the shell.)
    let script = "touch /v/top 2>/dev/null || echo top-refused; \
        echo x 2>/dev/null > /v/sub/f || echo sub-refused; \
        for f in /host/proc/sys/kernel/core_pattern /host/sys/fs/cgroup/*/release_agent /host/sys/fs/cgroup/release_agent; do \
          [ -e $f ] || continue; true 2>/dev/null >> $f && echo \"$f opens for writing\"; done; true";
    let o = run(
        &env,
        &[
            "--volume",
            &v,
            "--volume",
            "/:/host:ro",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "top-refused\nsub-refused\n", "{}", stderr(&o));
    assert!(
        !vol.path().join("sub/f").exists(),
        "written through a :ro volume"
    );
    drop(vol);
    env.assert_clean();
}

#[test]
fn without_mount_setattr_a_read_only_volume_is_refused() {
    if !root_or_skip("without_mount_setattr_a_read_only_volume_is_refused")
        || !tool_or_skip("without_mount_setattr", "strace")
    {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let v = format!("{}:/v:ro", dir.path().display());
    let state = env.state.path().to_path_buf();
    // As on a kernel older than 5.12, which has no mount_setattr.
    let t = strace::run_injected(
        "mount_setattr:error=ENOSYS",
        &["run", "--rm", "--volume", &v, "busybox", "true"],
        |c: &mut Command| {
            c.env("GLASSBOX_STATE_DIR", &state)
                .env_remove("GLASSBOX_DATA_DIR")
                .env_remove("GLASSBOX_PRIVATE_MNT_NS");
        },
    );
    let err = stderr(&t.output);
    assert_eq!(t.output.status.code(), Some(125), "{err}");
    assert!(err.contains("mount_setattr(AT_FDCWD, "), "{err}");
    assert!(err.contains("this kernel has no mount_setattr"), "{err}");
    assert!(err.contains("drop :ro from the volume"), "{err}");
    t.assert_honest();
    env.assert_clean();
}

/// A static probe that tries clone and clone3 with CLONE_NEWUSER, a fork, and io_uring_setup.
const PROBE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid(r, NULL, 0);
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "allowed");
}

int main(void) {
    report("clone CLONE_NEWUSER", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    report("clone3 CLONE_NEWUSER", syscall(SYS_clone3, &args, sizeof args));
    report("fork", fork());
    struct io_uring_params params = {0};
    long fd = syscall(SYS_io_uring_setup, 1, &params);
    printf("io_uring_setup: %s\n", fd < 0 ? strerror(errno) : "allowed");
    return 0;
}
"#;

#[test]
fn the_filter_refuses_new_namespaces_and_io_uring_unless_sys_admin() {
    if !root_or_skip("the_filter_refuses_new_namespaces_and_io_uring")
        || !tool_or_skip("the_filter_refuses_new_namespaces", "gcc")
    {
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    std::fs::write(tools.path().join("probe.c"), PROBE).unwrap();
    let cc = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(tools.path().join("probe"))
        .arg(tools.path().join("probe.c"))
        .output()
        .unwrap();
    assert!(cc.status.success(), "gcc: {}", stderr(&cc));
    let env = Env::new();
    let v = format!("{}:/probe:ro", tools.path().display());
    let probe = |extra: &[&str]| {
        let o = run(
            &env,
            &[extra, &["--volume", &v, "busybox", "/probe/probe"]].concat(),
        );
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        stdout(&o)
    };
    // Docker's default: no namespace from inside; clone3 answers ENOSYS so the C library
    // falls back to clone, whose flags the filter reads; io_uring refused.
    assert_eq!(
        probe(&[]),
        "clone CLONE_NEWUSER: Operation not permitted\n\
         clone3 CLONE_NEWUSER: Function not implemented\n\
         fork: allowed\n\
         io_uring_setup: Operation not permitted\n"
    );
    // With CAP_SYS_ADMIN kept the namespace calls open, as in Docker; io_uring stays shut.
    assert_eq!(
        probe(&["--cap-add", "SYS_ADMIN"]),
        "clone CLONE_NEWUSER: allowed\n\
         clone3 CLONE_NEWUSER: allowed\n\
         fork: allowed\n\
         io_uring_setup: Operation not permitted\n"
    );
    // --privileged: no filter at all.
    assert_eq!(
        probe(&["--privileged"]),
        "clone CLONE_NEWUSER: allowed\n\
         clone3 CLONE_NEWUSER: allowed\n\
         fork: allowed\n\
         io_uring_setup: allowed\n"
    );
    let o = run(&env, &["busybox", "unshare", "-U", "true"]);
    assert!(!o.status.success(), "unshare -U worked inside");
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    env.assert_clean();
}

#[test]
fn a_user_without_setuid_or_setgid_capabilities_still_starts() {
    if !root_or_skip("a_user_without_setuid_or_setgid_capabilities_still_starts") {
        return;
    }
    let env = Env::new();
    for drop in ["ALL", "SETUID", "SETGID"] {
        let o = run(
            &env,
            &[
                "--cap-drop",
                drop,
                "-u",
                "1000",
                "busybox",
                "sh",
                "-c",
                "id; cat /proc/self/status",
            ],
        );
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(0),
            "--cap-drop {drop}: {}",
            stderr(&o)
        );
        assert!(
            out.starts_with("uid=1000 gid=1000"),
            "--cap-drop {drop}: {out}"
        );
        assert_eq!(
            status_field(&out, "CapEff"),
            "0000000000000000",
            "--cap-drop {drop}"
        );
        assert_eq!(
            status_field(&out, "CapPrm"),
            "0000000000000000",
            "--cap-drop {drop}"
        );
        assert_eq!(status_field(&out, "NoNewPrivs"), "1");
        assert_eq!(status_field(&out, "Seccomp"), "2");
    }
    let o = run(
        &env,
        &[
            "--cap-drop",
            "ALL",
            "-u",
            "1000",
            "busybox",
            "grep",
            "CapBnd",
            "/proc/self/status",
        ],
    );
    assert_eq!(
        stdout(&o).split_whitespace().last(),
        Some("0000000000000000")
    );
    // exec -u into a container that keeps no capability: the same order.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "nocaps",
        "--cap-drop",
        "ALL",
        "busybox",
        "sleep",
        "100",
    ]);
    let out = env.ok(&[
        "exec",
        "-u",
        "1000",
        "nocaps",
        "sh",
        "-c",
        "id; cat /proc/self/status",
    ]);
    assert!(out.starts_with("uid=1000 gid=1000"), "{out}");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
    env.ok(&["rm", "-f", "nocaps"]);
    env.assert_clean();
}

#[test]
fn the_filter_is_installed_without_no_new_privs_too() {
    if !root_or_skip("the_filter_is_installed_without_no_new_privs_too") {
        return;
    }
    // Without no_new_privs, seccomp(2) needs CAP_SYS_ADMIN: installed before the cut.
    let o = glassbox()
        .args([
            "-q",
            "security",
            "--security-opt",
            "no-new-privileges=false",
            "--",
        ])
        .args(["grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0", "Seccomp:", "2"]
    );
}

#[test]
fn the_ids_change_before_the_capabilities_are_cut_and_the_narration_says_so() {
    if !root_or_skip("the_ids_change_before_the_capabilities_are_cut")
        || !tool_or_skip("the_ids_change_before", "strace")
    {
        return;
    }
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    let t = strace::run_with(
        &[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "-u",
            "1000",
            "busybox",
            "true",
        ],
        |c: &mut Command| {
            c.env("GLASSBOX_STATE_DIR", &state)
                .env_remove("GLASSBOX_DATA_DIR")
                .env_remove("GLASSBOX_PRIVATE_MNT_NS");
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    // runc's order: keep capabilities, change the ids, stop keeping them, then cut.
    let names = t.narrated_names();
    let at = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{n} not narrated: {names:?}"))
    };
    assert!(at("setgroups") < at("setresgid") && at("setresgid") < at("setresuid"));
    assert!(at("setresuid") < at("capset"), "{names:?}");
    let keep = t
        .narrated()
        .iter()
        .filter(|e| e["args"][0] == "PR_SET_KEEPCAPS")
        .map(|e| e["args"][1].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>();
    assert_eq!(keep, ["1", "0"]);
    env.assert_clean();
}

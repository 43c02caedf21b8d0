//! glassbox on hosts this machine is not: a small VM (tests/vm/run.sh, QEMU's software
//! emulation, a Debian kernel) whose only cgroup filesystem is cgroup2 — as on most
//! users' machines — or only cgroup v1, with glassbox's cgroup checks run inside
//! (tests/vm/vm-tests.sh). The checks print `GBVM PASS name` / `GBVM FAIL name: why` on
//! the serial console; a test here fails on any FAIL, on a check that did not report, or
//! when the VM did not finish (`GBVM DONE`) within run.sh's timeout.
//!
//! Alone: `cargo test --test vm_cgroup2`. That the suite can fail is itself a test: run.sh's
//! `--break memory` asks glassbox for another memory limit than the checks expect, as a
//! broken limit write would (`tests/vm/run.sh --break memory` shows it by hand).

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One VM at a time: each emulates two CPUs, and the machine has two.
static ONE_VM: Mutex<()> = Mutex::new(());

/// Every check of a layout, by the name vm-tests.sh prints.
const COMMON: &[&str] = &[
    "doctor-layout",
    "doctor-memory",
    "doctor-pids",
    "doctor-cpu",
    "memory-limit",
    "memory-oom-status",
    "memory-oom-report",
    "stage-memory-limit",
    "exec-cgroup",
    "exec-memory-limit",
    "pids-limit",
    "pids-refused",
    "pids-report",
    "cpu-limit",
    "cpu-throttled",
    "cpu-report",
    "devices-refused",
    "devices-privileged",
    "cgroupns-root",
    "cgroupns-mount",
    "cgroupns-read-only",
    "pause-ps",
    "unpause-ps",
    "pause-stop",
    "engine-cgroup-limit",
    "engine-cgroup-removed",
    "nothing-left",
];
/// Only on cgroup v2: a child born in its cgroup; an ordinary user's limits in a delegated
/// subtree.
const V2_ONLY: &[&str] = &[
    "clone-into-cgroup",
    "rootless-doctor",
    "rootless-root",
    "rootless-memory-limit",
    "rootless-delegated",
    "rootless-memory-oom-status",
    "rootless-pause",
    "rootless-frozen",
    "rootless-unpause",
    "rootless-stage-cgroup",
    "rootless-nothing-left",
];
/// What `--break memory` must make fail.
const MEMORY: &[&str] = &[
    "memory-limit",
    "memory-oom-status",
    "memory-oom-report",
    "stage-memory-limit",
    "exec-memory-limit",
    "rootless-memory-limit",
    "rootless-memory-oom-status",
];

/// The tools run.sh needs (.ci/run installs them), or skip.
fn tools_or_skip(test: &str) -> bool {
    [
        "qemu-system-x86_64",
        "cpio",
        "objcopy",
        "busybox",
        "dpkg-deb",
        "apt-get",
    ]
    .iter()
    .all(|t| tool_or_skip(test, t))
}

/// What the VM's checks said: (name, passed), in order, and the whole console.
struct Boot {
    results: Vec<(String, bool)>,
    console: String,
}

impl Boot {
    fn passed(&self, name: &str) -> Option<bool> {
        self.results.iter().find(|(n, _)| n == name).map(|r| r.1)
    }
}

fn boot(layout: &str, broken: Option<&str>) -> Boot {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("vm");
    let mut cmd = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/run.sh"));
    cmd.args(["--layout", layout])
        .env("GBVM_BIN", bin())
        .env("GBVM_CACHE", cache);
    if let Some(what) = broken {
        cmd.args(["--break", what]);
    }
    let out = cmd.output().expect("tests/vm/run.sh could not be started");
    let console = stdout(&out);
    assert!(
        console.contains("GBVM DONE"),
        "the {layout} VM did not finish its checks (run.sh: {}; 124 is its timeout)\n\
         console:\n{console}\nstderr:\n{}",
        out.status,
        stderr(&out)
    );
    let results = console
        .lines()
        .filter_map(|l| {
            // The firmware's escape sequences may share a line with the first report.
            let l = &l[l.find("GBVM ")?..].trim_end_matches('\r');
            if let Some(name) = l.strip_prefix("GBVM PASS ") {
                Some((name.to_string(), true))
            } else {
                let rest = l.strip_prefix("GBVM FAIL ")?;
                Some((rest.split(':').next()?.to_string(), false))
            }
        })
        .collect();
    Boot { results, console }
}

/// Every check named passed, and nothing else was reported.
fn all_pass(layout: &str, names: &[&str]) {
    let b = boot(layout, None);
    let failed: Vec<_> = b.results.iter().filter(|r| !r.1).map(|r| &r.0).collect();
    let missing: Vec<_> = names.iter().filter(|n| b.passed(n).is_none()).collect();
    assert!(
        failed.is_empty() && missing.is_empty() && b.results.len() == names.len(),
        "on the {layout} VM: failed {failed:?}, never reported {missing:?}\n{}",
        b.console
    );
}

#[test]
fn pure_cgroup_v2_host_enforces_every_limit() {
    if !tools_or_skip("pure_cgroup_v2_host_enforces_every_limit") {
        return;
    }
    all_pass("v2", &[COMMON, V2_ONLY].concat());
}

#[test]
fn pure_cgroup_v1_host_enforces_every_limit() {
    if !tools_or_skip("pure_cgroup_v1_host_enforces_every_limit") {
        return;
    }
    all_pass("v1", COMMON);
}

#[test]
fn a_broken_memory_limit_fails_the_vm_checks() {
    if !tools_or_skip("a_broken_memory_limit_fails_the_vm_checks") {
        return;
    }
    let b = boot("v2", Some("memory"));
    for name in [COMMON, V2_ONLY].concat() {
        let want = !MEMORY.contains(&name);
        assert_eq!(
            b.passed(name),
            Some(want),
            "with --break memory, {name} should have {}\n{}",
            if want { "passed" } else { "failed" },
            b.console
        );
    }
}

//! Shared helpers for the integration tests: the binary, root checks, and the
//! strace-honesty harness.
#![allow(dead_code)]

pub mod containers;
pub mod strace;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The glassbox binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_glassbox"))
}

/// A glassbox command with colour off (so output can be compared).
pub fn glassbox() -> Command {
    let mut c = Command::new(bin());
    c.env("NO_COLOR", "1").env_remove("GLASSBOX_TRACE");
    c
}

/// True when tests that need root may run. Without root they skip with a visible message —
/// except under CI=true, where a skipped root test is a failure.
pub fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs root, and CI=true: a skipped root test is a failure here");
    }
    eprintln!("SKIPPED {test}: needs root (run the tests as root to include it)");
    false
}

/// True when `tool` is on PATH; otherwise skip (a failure under CI=true, where .ci/run
/// installs every tool the tests need).
pub fn tool_or_skip(test: &str, tool: &str) -> bool {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| std::path::Path::new(d).join(tool).is_file());
    if found {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs {tool}, and CI=true: .ci/run must install it");
    }
    eprintln!("SKIPPED {test}: {tool} is not installed");
    false
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The host's mount table without the fields that change on their own, for before/after
/// comparisons.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// What the host looks like, for before/after comparisons: its mount table and glassbox's
/// cgroups.
#[allow(dead_code)]
pub fn host_state() -> (String, Vec<String>) {
    let cgroups = ["memory", "pids", "cpu", "unified"]
        .iter()
        .flat_map(|h| {
            std::fs::read_dir(format!("/sys/fs/cgroup/{h}/glassbox"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.path().is_dir())
        .map(|e| e.path().display().to_string())
        .collect();
    (host_mounts(), cgroups)
}

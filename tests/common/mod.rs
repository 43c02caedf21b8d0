//! Shared helpers for the integration tests: the binary, root checks, and the
//! strace-honesty harness.
#![allow(dead_code)]

pub mod containers;
pub mod store;
pub mod strace;
pub mod tmux;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The glassbox binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_glassbox"))
}

/// A glassbox command with colour off (so output can be compared), and none of the
/// caller's own GLASSBOX_* settings: a test sets the data and state directories it uses.
pub fn glassbox() -> Command {
    let mut c = Command::new(bin());
    c.env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GLASSBOX_") {
            c.env_remove(key);
        }
    }
    c.env("GLASSBOX_TRACE", process_trace());
    c
}

/// Say that a test skipped, where the person running the tests sees it: straight to the
/// process's stderr, past the test harness's capture of `eprintln!` (which would hide it
/// behind an "ok"), so a skip shows among the results.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
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
    skip(test, "needs root (run the tests as root to include it)");
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
    skip(test, &format!("{tool} is not installed"));
    false
}

/// A field of /proc/self/status as the command saw it.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} missing in:\n{status}"))
        .trim()
        .to_string()
}

/// Whether a state directory's journal lists no host change (nothing left to undo).
pub fn journal_empty(state: &std::path::Path) -> bool {
    std::fs::read_dir(state.join("journal"))
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The host's mount table without the fields that change on their own, for before/after
/// comparisons.
pub fn host_mounts() -> Mounts {
    // A mount point may be any bytes: one that is not UTF-8 must not fail another's test.
    Mounts(String::from_utf8_lossy(&std::fs::read("/proc/self/mountinfo").unwrap()).into_owned())
}

/// A snapshot of the host's mount table, compared only on the mount points that this test
/// process's glassbox commands mounted on (from their trace, at the time of comparing):
/// another glassbox or another test run on the machine may mount and unmount elsewhere
/// meanwhile, and that is not this test's business.
#[derive(Clone)]
pub struct Mounts(String);

impl Mounts {
    fn ours(&self) -> Vec<&str> {
        let targets = traced_args("mount", 1);
        self.0
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|point| targets.contains(&unescape(point)))
            })
            .collect()
    }
}

impl PartialEq for Mounts {
    fn eq(&self, other: &Mounts) -> bool {
        self.ours() == other.ours()
    }
}

impl std::fmt::Debug for Mounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ours()).finish()
    }
}

/// A mountinfo field with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 4).map(|o| u8::from_str_radix(o, 8)) {
            Some(Ok(b)) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            _ => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Argument `index` of every successful call named `name` in this process's trace, with
/// its quotes taken off (paths, mostly).
fn traced_args(name: &str, index: usize) -> Vec<String> {
    let text = std::fs::read_to_string(process_trace()).unwrap_or_default();
    let mut args: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["name"] == name && e["result"] == 0)
        .filter_map(|e| {
            e["args"][index]
                .as_str()
                .map(|a| a.trim_matches('"').to_string())
        })
        .collect();
    args.sort();
    args.dedup();
    args
}

/// What the host looks like, for before/after comparisons: its mount table, and the
/// cgroups that this test process's glassbox commands made and that are still there. Only
/// what the tests made is compared: another glassbox on the same machine may make and
/// remove cgroups of its own meanwhile.
#[allow(dead_code)]
pub fn host_state() -> (Mounts, Vec<String>) {
    (host_mounts(), cgroups_made_and_left())
}

/// Where every glassbox command of this test process narrates its calls (`--trace`), so a
/// test can tell what its own commands made on the host.
pub fn process_trace() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("trace-{}.jsonl", std::process::id()));
        // Made anew by each test process (an earlier one may have had the same pid), and
        // writable by all: some tests run glassbox as an unprivileged user.
        let _ = std::fs::File::create(&path);
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
        path
    })
    .clone()
}

/// The cgroup directories that glassbox commands of this process made (a successful
/// mkdir under /sys/fs/cgroup in their trace) and that still exist. The shared parent
/// (`…/glassbox`) is left out: it belongs to every glassbox on the machine.
pub fn cgroups_made_and_left() -> Vec<String> {
    traced_args("mkdir", 0)
        .into_iter()
        .filter(|p| p.starts_with("/sys/fs/cgroup/") && !p.ends_with("/glassbox"))
        .filter(|p| std::path::Path::new(p).is_dir())
        .collect()
}

//! The layering that keeps glassbox's narration honest, checked on the source itself:
//! every syscall goes through src/sys (so no nix/libc function is called anywhere else),
//! the dry-run switch is asked only there (no `dry_run()` branch in a stage), and stages
//! and sys take config values, never the CLI's types. No root needed.

use std::path::{Path, PathBuf};

/// nix/libc functions that make no call: arithmetic on device numbers, and parsing a
/// signal's name.
const PURE: &[&str] = &[
    "libc::major(",
    "libc::minor(",
    "libc::makedev(",
    "Signal::from_str(",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Where `word` starts in `line` as a whole path segment (not inside `unix::` or `mylibc::`).
fn starts_of(line: &str, word: &str) -> Vec<usize> {
    line.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| {
            !line[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .collect()
}

/// The path that starts at `i` (`nix::unistd::access`) and whether a `(` follows it.
fn path_at(line: &str, i: usize) -> (&str, bool) {
    let rest = &line[i..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    (&rest[..end], rest[end..].starts_with('('))
}

/// What is wrong with `line` of `file`, if anything.
fn faults(file: &str, line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return vec![];
    }
    let in_sys = file.starts_with("src/sys/");
    let mut found = vec![];
    if !in_sys && line.contains("dry_run()") {
        found.push(
            "asks dry_run() outside src/sys: make the work a call, an op or a Sys helper".into(),
        );
    }
    if (file.starts_with("src/stages/") || in_sys) && line.contains("crate::cli") {
        found.push("imports crate::cli in a stage or in sys: take a config value".into());
    }
    if in_sys {
        return found;
    }
    for krate in ["nix::", "libc::"] {
        for i in starts_of(line, krate) {
            let (path, called) = path_at(line, i);
            let last = path.rsplit("::").next().unwrap_or("");
            let function = last.starts_with(|c: char| c.is_ascii_lowercase());
            if called && function && !PURE.iter().any(|p| line[i..].contains(p)) {
                found.push(format!(
                    "calls {path} outside src/sys: make it a Sys wrapper"
                ));
            }
            // `use nix::unistd::access;` or `use nix::unistd;` would hide the calls.
            if code.starts_with("use ") && function {
                found.push(format!("imports {path} outside src/sys: import types only"));
            }
        }
    }
    found
}

#[test]
fn no_syscall_dry_run_branch_or_cli_type_outside_their_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src"), &mut files);
    let mut report = vec![];
    for f in &files {
        let name = f.strip_prefix(root).unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for fault in faults(&name, line) {
                report.push(format!("{name}:{}: {fault}", n + 1));
            }
        }
    }
    assert!(
        report.is_empty(),
        "{} layering fault(s):\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn the_scan_finds_what_it_looks_for_and_nothing_else() {
    let stage = "src/stages/x.rs";
    assert_eq!(faults(stage, "    if sys.dry_run() {").len(), 1);
    assert_eq!(faults(stage, "use crate::cli::RunArgs;").len(), 1);
    assert_eq!(faults("src/run/x.rs", "use crate::cli::RunArgs;").len(), 0);
    assert_eq!(faults(stage, "nix::unistd::access(p, W_OK)").len(), 1);
    assert_eq!(faults(stage, "unsafe { libc::close(fd) };").len(), 1);
    assert_eq!(faults(stage, "nix::unistd::User::from_uid(uid)").len(), 1);
    assert_eq!(faults(stage, "use nix::unistd::access;").len(), 1);
    assert_eq!(faults(stage, "use nix::sys::signal;").len(), 1);
    for fine in [
        "use nix::errno::Errno;",
        "let f = libc::CLONE_NEWNS | libc::MS_REC;",
        "libc::major(rdev), libc::minor(rdev)",
        "nix::sys::signal::Signal::from_str(&name)",
        "std::os::unix::fs::symlink(a, b)",
        "// nix::unistd::access(p) in a comment",
    ] {
        assert!(
            faults(stage, fine).is_empty(),
            "{fine}: {:?}",
            faults(stage, fine)
        );
    }
    assert!(faults("src/sys/fs.rs", "unsafe { libc::close(fd) }; sys.dry_run()").is_empty());
}

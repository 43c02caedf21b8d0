//! What `--help` says a default is, is what glassbox does when the flag is left out.

mod common;
use common::*;

/// The help text of one option of `glassbox run`, joined across its wrapped lines.
fn run_help_of(option: &str) -> String {
    let o = glassbox().args(["run", "--help"]).output().unwrap();
    let help = stdout(&o);
    let mut text = String::new();
    let mut inside = false;
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') {
            inside = t.split([' ', ',']).any(|w| w == option);
        }
        if inside {
            text.push_str(t);
            text.push(' ');
        }
    }
    assert!(!text.is_empty(), "{option} is not in run --help:\n{help}");
    text
}

#[test]
fn run_help_names_the_defaults_run_uses() {
    assert!(
        run_help_of("--network").contains("none (the default"),
        "{}",
        run_help_of("--network")
    );
    assert!(
        run_help_of("--hostname").contains("default: the container's id"),
        "{}",
        run_help_of("--hostname")
    );
    if !root_or_skip("run_help_names_the_defaults_run_uses") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = glassbox()
        .env("GLASSBOX_STATE_DIR", state.path())
        .args([
            "-q",
            "run",
            "--rm",
            "--name",
            "named",
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net; hostname",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // --network none: only the loopback device.
    assert_eq!(lines[..lines.len() - 1], ["lo"], "{out}");
    // The hostname is the id (12 hex digits), not the name.
    let hostname = lines[lines.len() - 1];
    assert!(
        hostname.len() == 12 && hostname.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
}

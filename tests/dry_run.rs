//! `--dry-run` writes nothing and removes nothing: the state and data directories (and the
//! files a command would write) are the same, byte for byte and time for time, after a dry
//! run of each command that would change them.

mod common;

use common::containers::Env;
use common::{root_or_skip, stderr};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every entry under `dir`: its kind and mode, size, modification time, and a file's bytes.
fn snapshot(dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mut seen = format!(
            "{:o} {} {}.{}",
            m.mode(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        );
        if m.is_file() {
            seen.push_str(&format!(" {:?}", std::fs::read(&p).unwrap_or_default()));
        }
        out.insert(p.display().to_string(), seen);
        if m.is_dir() {
            snapshot(&p, out);
        }
    }
}

fn state(env: &Env) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    snapshot(env.state.path(), &mut s);
    s
}

/// The entries that differ between two snapshots (added, removed or changed).
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| format!("changed or removed: {k}"))
        .collect();
    out.extend(
        b.keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| format!("added: {k}")),
    );
    out
}

#[test]
fn a_dry_run_of_each_command_writes_and_removes_nothing() {
    if !root_or_skip("a_dry_run_of_each_command_writes_and_removes_nothing") {
        return;
    }
    let env = Env::new();
    // A fresh data directory: the image is not exported yet, and stays so.
    let fresh = env
        .cmd()
        .args(["--dry-run", "run", "busybox", "true"])
        .output()
        .unwrap();
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(
        changed(&BTreeMap::new(), &state(&env)),
        Vec::<String>::new(),
        "a dry run on a fresh data directory wrote"
    );
    env.ok(&[
        "run",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "echo hi > /made",
    ]);
    env.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    env.ok(&["commit", "c", "img"]);
    let out = env.state.path().join("img.tar");
    let rootfs = env.state.path().join("rootfs");
    let dry: &[&[&str]] = &[
        &["run", "--name", "new", "busybox", "true"],
        &["run", "--rm", "busybox", "true"],
        &["run", "img", "true"],
        &["run", "--no-overlay", "busybox", "true"],
        &["run", "--userns", "private", "busybox", "true"],
        &["start", "c"],
        &["exec", "up", "true"],
        &["commit", "c", "img2"],
        &["save", "img", "-o", out.to_str().unwrap()],
        &["rmi", "img"],
        &["rm", "c"],
        &["wait", "c"],
        &["wait", "up"],
        &["export", "busybox", rootfs.to_str().unwrap()],
        &["cleanup"],
    ];
    let mut wrong = Vec::new();
    for args in dry {
        let before = state(&env);
        let o = env.cmd().arg("--dry-run").args(*args).output().unwrap();
        let diff = changed(&before, &state(&env));
        if !diff.is_empty() {
            wrong.push(format!(
                "--dry-run {args:?}: {diff:#?}\nit said:\n{}",
                stderr(&o)
            ));
        }
        assert!(
            !out.exists() && !rootfs.exists(),
            "--dry-run {args:?} wrote a file"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_dry_run_with_volumes_ports_a_network_or_a_pull_writes_and_sends_nothing() {
    let name = "a_dry_run_with_volumes_ports_a_network_or_a_pull_writes_and_sends_nothing";
    if !root_or_skip(name) {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "kept"]);
    env.ok(&["network", "create", "gbdry"]);
    // Where a registry would be: a dry run must not even connect.
    let registry = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    registry.set_nonblocking(true).unwrap();
    let remote = format!(
        "127.0.0.1:{}/gb/dry:latest",
        registry.local_addr().unwrap().port()
    );
    let dry: &[&[&str]] = &[
        &["run", "--volume", "fresh:/data", "busybox", "true"],
        &["run", "--volume", "kept:/data", "busybox", "true"],
        &["run", "--volume", "/anonymous", "busybox", "true"],
        &["run", "--rm", "--volume", "/anonymous", "busybox", "true"],
        &[
            "run",
            "--network",
            "bridge",
            "-p",
            "18080:80",
            "busybox",
            "true",
        ],
        &[
            "run",
            "--network",
            "gbdry",
            "--name",
            "named",
            "busybox",
            "true",
        ],
        &[
            "create",
            "--name",
            "made",
            "--volume",
            "fresh:/data",
            "busybox",
            "true",
        ],
        &["volume", "create", "other"],
        &["volume", "rm", "kept"],
        &["pull", &remote],
    ];
    let mut wrong = Vec::new();
    for args in dry {
        let before = state(&env);
        let o = env.cmd().arg("--dry-run").args(*args).output().unwrap();
        let diff = changed(&before, &state(&env));
        if !o.status.success() || !diff.is_empty() {
            wrong.push(format!(
                "--dry-run {args:?}: {:?}, {diff:#?}\nit said:\n{}",
                o.status,
                stderr(&o)
            ));
        }
    }
    // An image not in the store yet: the plan stops there, and says so.
    let before = state(&env);
    let o = env
        .cmd()
        .args(["--dry-run", "run", &remote, "true"])
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("is not in the image store yet"),
        "{}",
        stderr(&o)
    );
    assert_eq!(changed(&before, &state(&env)), Vec::<String>::new());
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert_eq!(
        registry.accept().map(drop).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "a dry run connected to the registry"
    );
    assert!(env.containers().is_empty(), "a dry run made a container");
    env.ok(&["network", "rm", "gbdry"]);
    env.ok(&["volume", "rm", "kept"]);
}

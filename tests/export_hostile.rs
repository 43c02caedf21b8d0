//! Hostile archives (made with Python's tarfile by tests/export_data/hostile.py): each must
//! leave the canary outside DIR untouched, create nothing outside DIR, leave no DIR or
//! staging directory behind, and exit 125 with one clear sentence.

mod common;

use common::glassbox;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Everything under `dir`: path → (kind, size, mtime, mode, content of small files).
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, u64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn walk(d: &Path, base: &Path, out: &mut BTreeMap<String, (u32, u64, i64, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.insert(
                p.strip_prefix(base).unwrap().display().to_string(),
                (m.mode(), m.len(), m.mtime(), content),
            );
            if m.is_dir() {
                walk(&p, base, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

struct Scratch {
    dir: tempfile::TempDir,
    archives: std::path::PathBuf,
    base: std::path::PathBuf,
    state: std::path::PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("archives");
    let base = dir.path().join("base");
    let state = dir.path().join("state");
    for d in [
        &archives,
        &base,
        &state,
        &base.join("outside"),
        &base.join("root-sibling"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(base.join("canary"), "canary\n").unwrap();
    std::fs::write(base.join("root-sibling/canary"), "sibling canary\n").unwrap();
    let st = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/export_data/hostile.py"
        ))
        .arg(&archives)
        .arg(&base)
        .status()
        .expect("python3 runs");
    assert!(st.success(), "hostile.py failed");
    Scratch {
        dir,
        archives,
        base,
        state,
    }
}

fn archives(s: &Scratch, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(&s.archives)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

#[test]
fn hostile_archives_are_refused_and_touch_nothing_outside() {
    if !common::tool_or_skip("hostile_archives", "python3") {
        return;
    }
    let s = scratch();
    let refused: Vec<_> = archives(&s, "")
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('c'))
        .collect();
    assert!(
        refused.len() >= 25,
        "only {} hostile archives",
        refused.len()
    );
    let before = snapshot(&s.base);
    let mut failures = Vec::new();
    for a in &refused {
        let out = glassbox()
            .env("GLASSBOX_STATE_DIR", &s.state)
            .args(["-q", "unpack"])
            .arg(a)
            .arg(s.base.join("root"))
            .output()
            .unwrap();
        let err = common::stderr(&out);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        if out.status.code() != Some(125) {
            failures.push(format!(
                "{name}: exit {:?}, stderr {err}",
                out.status.code()
            ));
        }
        let first = err.lines().next().unwrap_or("");
        if !(first.starts_with("glassbox: error: ") && first.ends_with('.')) {
            failures.push(format!("{name}: no one-sentence error: {err}"));
        }
        let after = snapshot(&s.base);
        if after != before {
            failures.push(format!(
                "{name}: the scratch dir changed: before {before:?} after {after:?}"
            ));
        }
        // The journal holds nothing: the staging directory was removed and struck.
        let journal: Vec<_> = std::fs::read_dir(s.state.join("journal"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        if !journal.is_empty() {
            failures.push(format!("{name}: journal entries left: {journal:?}"));
        }
    }
    assert_eq!(
        std::fs::read_to_string(s.base.join("canary")).unwrap(),
        "canary\n"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(s.dir);
}

#[test]
fn legal_but_tricky_archives_stay_inside() {
    if !common::tool_or_skip("tricky_archives", "python3") {
        return;
    }
    let s = scratch();
    for a in archives(&s, "c") {
        let root = s.base.join("root");
        let before = snapshot(&s.base);
        let out = glassbox()
            .env("GLASSBOX_STATE_DIR", &s.state)
            .args(["-q", "unpack"])
            .arg(&a)
            .arg(&root)
            .output()
            .unwrap();
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            common::stderr(&out)
        );
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            snapshot(&s.base),
            before,
            "{name} changed something outside DIR"
        );
        assert_eq!(
            std::fs::read_to_string(s.base.join("canary")).unwrap(),
            "canary\n"
        );
    }
}

#[test]
fn tricky_entries_land_inside_dir() {
    if !common::tool_or_skip("tricky_entries", "python3") {
        return;
    }
    let s = scratch();
    let root = s.base.join("root");
    let run = |name: &str| {
        let _ = std::fs::remove_dir_all(&root);
        let out = glassbox()
            .env("GLASSBOX_STATE_DIR", &s.state)
            .args(["-q", "unpack"])
            .arg(s.archives.join(name))
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", common::stderr(&out));
    };
    run("c1-hardlink-to-symlink-then-write.tar");
    let h = std::fs::symlink_metadata(root.join("h")).unwrap();
    assert!(h.is_file(), "h is a regular file inside DIR");
    assert_eq!(std::fs::read_to_string(root.join("h")).unwrap(), "pwned\n");
    run("c2-absolute-name.tar");
    let inside = root.join(s.base.join("canary").strip_prefix("/").unwrap());
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "pwned\n");
    run("c3-absolute-symlink-left-dangling.tar");
    assert_eq!(
        std::fs::read_link(root.join("etc/passwd")).unwrap(),
        s.base.join("canary"),
        "a symlink is stored as the image has it"
    );
    assert_eq!(
        std::fs::read_to_string(s.base.join("canary")).unwrap(),
        "canary\n"
    );
}

//! An export interrupted by a signal leaves nothing behind: not DIR, not its staging tree.

mod common;
use common::*;

#[test]
fn an_interrupted_export_removes_its_half_made_tree() {
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // A large tar, made from a tree every Debian host has, so the export takes a while.
    let tar = work.path().join("big.tar");
    let made = std::process::Command::new("tar")
        .args(["-cf"])
        .arg(&tar)
        .args(["-C", "/usr/share", "man", "perl"])
        .status()
        .unwrap();
    assert!(made.success() || tar.exists());
    let dir = work.path().join("rootfs");
    let mut child = glassbox()
        .args(["-q", "unpack"])
        .arg(&tar)
        .arg(&dir)
        .env("GLASSBOX_STATE_DIR", state.path())
        .spawn()
        .unwrap();
    // Interrupt once the staging tree exists.
    let staging_exists = || {
        std::fs::read_dir(work.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("glassbox-export"))
    };
    for _ in 0..1000 {
        if staging_exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "the export was not interrupted (it finished first?)"
    );
    assert!(!dir.exists(), "DIR was made by an interrupted export");
    assert!(!staging_exists(), "the staging tree was left behind");
    assert_eq!(
        std::fs::read_dir(state.path().join("journal"))
            .unwrap()
            .count(),
        0
    );
}

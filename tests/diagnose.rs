//! The diagnoses, each provoked for real: the kernel says no, glassbox says why.
//!
//! Each case runs in a forked child (single-threaded, so it may unshare its mount
//! namespace) that sends the error text back over a pipe; the host is never touched.

mod common;
use common::*;
use glassbox::narrate::Narrator;
use glassbox::sys::mount::MountArgs;
use glassbox::sys::Sys;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

/// Run `f` in a forked child inside a new private mount namespace; return what it wrote.
fn in_child_mount_ns(f: impl FnOnce(&Sys) -> String) -> String {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    match unsafe { libc::fork() } {
        0 => {
            let n = Narrator::silent();
            let sys = Sys::new(&n);
            let text = if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                "unshare failed".to_string()
            } else {
                f(&sys)
            };
            let mut w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
            let _ = w.write_all(text.as_bytes());
            drop(w);
            unsafe { libc::_exit(0) };
        }
        pid => {
            unsafe { libc::close(fds[1]) };
            let mut r = unsafe { std::fs::File::from_raw_fd(fds[0]) };
            let mut out = String::new();
            r.read_to_string(&mut out).unwrap();
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
            out
        }
    }
}

fn private_root(sys: &Sys) {
    glassbox::stages::unshare::make_mounts_private(sys).unwrap();
}

fn bind_self(sys: &Sys, dir: &Path) {
    sys.mount(
        &MountArgs {
            source: Some(&dir.to_string_lossy()),
            target: dir,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        },
        "test",
        "",
    )
    .unwrap();
}

#[test]
fn pivot_root_to_a_directory_on_the_root_mount() {
    if !root_or_skip("pivot_root_to_a_directory_on_the_root_mount") {
        return;
    }
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    let text = in_child_mount_ns(|sys| {
        private_root(sys);
        let e = sys
            .pivot_root(dir.path(), &dir.path().join("old"), "test")
            .unwrap_err();
        e.to_string()
    });
    assert!(text.contains("EBUSY (Device or resource busy)"), "{text}");
    assert!(
        text.contains("is on the same mount as the current root"),
        "{text}"
    );
    assert!(text.contains("mount --bind"), "{text}");
}

/// A tmpfs on `base` in the child's namespace: a mount that is not the root's.
fn tmpfs(sys: &Sys, base: &Path) {
    sys.mount(
        &MountArgs {
            source: Some("tmpfs"),
            target: base,
            fstype: Some("tmpfs"),
            flags: 0,
            data: None,
        },
        "test",
        "",
    )
    .unwrap();
}

#[test]
fn pivot_root_to_a_directory_that_is_not_a_mount_point() {
    if !root_or_skip("pivot_root_to_a_directory_that_is_not_a_mount_point") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let mounts = host_mounts();
    let text = in_child_mount_ns(|sys| {
        private_root(sys);
        tmpfs(sys, base.path());
        let new = base.path().join("new");
        std::fs::create_dir_all(new.join("old")).unwrap();
        let e = sys.pivot_root(&new, &new.join("old"), "test").unwrap_err();
        e.to_string()
    });
    assert!(text.contains("EINVAL (Invalid argument)"), "{text}");
    assert!(
        text.contains("is not a mount point: pivot_root needs the new root to be one"),
        "{text}"
    );
    assert!(text.contains("mount --bind"), "{text}");
    assert_eq!(host_mounts(), mounts);
}

#[test]
fn pivot_root_with_the_old_root_outside_the_new_one() {
    if !root_or_skip("pivot_root_with_the_old_root_outside_the_new_one") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let text = in_child_mount_ns(|sys| {
        private_root(sys);
        tmpfs(sys, base.path());
        let (new, elsewhere) = (base.path().join("new"), base.path().join("elsewhere"));
        std::fs::create_dir(&new).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        bind_self(sys, &new);
        let e = sys.pivot_root(&new, &elsewhere, "test").unwrap_err();
        e.to_string()
    });
    assert!(text.contains("EINVAL"), "{text}");
    assert!(text.contains("is not under the new root"), "{text}");
}

#[test]
fn pivot_root_on_a_shared_mount() {
    if !root_or_skip("pivot_root_on_a_shared_mount") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    let text = in_child_mount_ns(|sys| {
        private_root(sys);
        bind_self(sys, dir.path());
        sys.mount(
            &MountArgs {
                source: None,
                target: dir.path(),
                fstype: None,
                flags: libc::MS_SHARED,
                data: None,
            },
            "test",
            "",
        )
        .unwrap();
        let e = sys
            .pivot_root(dir.path(), &dir.path().join("old"), "test")
            .unwrap_err();
        e.to_string()
    });
    assert!(text.contains("EINVAL"), "{text}");
    assert!(text.contains("shared propagation"), "{text}");
    assert!(text.contains("make-rprivate"), "{text}");
}

#[test]
fn unshare_as_a_user_without_privileges() {
    if !root_or_skip("unshare_as_a_user_without_privileges")
        || !tool_or_skip("unshare_eperm", "setpriv")
    {
        return;
    }
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["unshare", "--uts", "--", "true"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains("unshare(CLONE_NEWUTS) = -1 EPERM (Operation not permitted)"),
        "{err}"
    );
    assert!(
        err.contains("only root (CAP_SYS_ADMIN) may create these namespaces"),
        "{err}"
    );
    assert!(
        err.contains("what to do: run glassbox as root (sudo), or add --user --map-root-user"),
        "{err}"
    );
}

#[test]
fn mount_of_an_unknown_filesystem_type() {
    if !root_or_skip("mount_of_an_unknown_filesystem_type") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = in_child_mount_ns(|sys| {
        private_root(sys);
        let e = sys
            .mount(
                &MountArgs {
                    source: Some("none"),
                    target: dir.path(),
                    fstype: Some("nosuchfs"),
                    flags: 0,
                    data: None,
                },
                "test",
                "",
            )
            .unwrap_err();
        e.to_string()
    });
    assert!(text.contains("ENODEV"), "{text}");
    assert!(
        text.contains("does not know the filesystem type nosuchfs"),
        "{text}"
    );
}

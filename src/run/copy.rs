//! A layer copied onto a directory, as an overlay would show it: for `--no-overlay`.
//!
//! Layers are stored in overlayfs's own form (a whiteout is a character device 0/0; an
//! opaque directory has the xattr trusted.overlay.opaque="y"), so applying one means: a
//! whiteout removes what is below it, an opaque directory empties what is below it, and
//! everything else replaces what is below it.

use crate::store::overlay;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    overlay::is_whiteout(m.mode(), m.rdev())
}

/// Opaque as root's overlayfs marks it, or as a layer copied for a user namespace does
/// (`user.overlay.opaque`, see run/userns.rs).
fn is_opaque(dir: &Path) -> bool {
    [overlay::OPAQUE_XATTR, overlay::USER_OPAQUE_XATTR]
        .iter()
        .any(|x| overlay::is_opaque_value(xattr_value(dir, x).as_deref()))
}

fn xattr_value(path: &Path, name: &str) -> Option<Vec<u8>> {
    crate::sys::quiet::lget_xattr(path, name)
}

fn remove_any(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copy one entry that is not a directory (a file, a link, a device) with `cp -a`, which
/// keeps owner, mode, times, xattrs and hard links as they are.
fn copy_entry(from: &Path, to: &Path) -> io::Result<()> {
    let ok = std::process::Command::new("cp")
        .args(["-a", "--reflink=auto", "--no-target-directory"])
        .arg(from)
        .arg(to)
        .status()?
        .success();
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("cp -a {} failed", from.display())))
    }
}

/// Apply `layer` onto `dst` (made if missing).
pub fn apply_layer(layer: &Path, dst: &Path) -> io::Result<()> {
    if !dst.exists() {
        // The bottom layer: copied whole in one go.
        return copy_entry(layer, dst);
    }
    for entry in std::fs::read_dir(layer)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        if is_whiteout(&m) {
            remove_any(&to)?;
        } else if m.is_dir() {
            let below_is_dir = std::fs::symlink_metadata(&to).is_ok_and(|t| t.is_dir());
            if !below_is_dir || is_opaque(&from) {
                remove_any(&to)?;
                copy_entry(&from, &to)?;
            } else {
                apply_layer(&from, &to)?;
                let perm = m.permissions();
                std::fs::set_permissions(&to, perm)?;
                std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
            }
        } else {
            remove_any(&to)?;
            copy_entry(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whiteout_removes_and_a_file_replaces_what_is_below() {
        let t = tempfile::tempdir().unwrap();
        let (base, top, dst) = (
            t.path().join("base"),
            t.path().join("top"),
            t.path().join("dst"),
        );
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/keep"), "base").unwrap();
        std::fs::write(base.join("etc/gone"), "base").unwrap();
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::fs::write(top.join("etc/keep"), "top").unwrap();
        std::fs::write(top.join("new"), "top").unwrap();
        apply_layer(&base, &dst).unwrap();
        apply_layer(&top, &dst).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("etc/keep")).unwrap(),
            "top"
        );
        assert_eq!(
            std::fs::read_to_string(dst.join("etc/gone")).unwrap(),
            "base"
        );
        assert_eq!(std::fs::read_to_string(dst.join("new")).unwrap(), "top");
        // A whiteout (a 0/0 character device) needs root to make: tested with run --no-overlay.
    }
}

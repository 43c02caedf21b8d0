//! overlayfs's own on-disk form, in one place: layers are stored as overlayfs keeps an upper
//! directory, so committing, diffing, saving, copying for a user namespace and applying a
//! layer without an overlay (`--no-overlay`) all read the same markers.
//!
//! - a **whiteout** (a file deleted above a lower layer) is a character device 0/0;
//! - an **opaque directory** (one that hides everything below it) has the xattr
//!   `trusted.overlay.opaque` = "y" — or `user.overlay.opaque` when the overlay was mounted
//!   in a user namespace with `userxattr`, since `trusted.*` needs the host's CAP_SYS_ADMIN;
//! - a directory renamed with redirect_dir=on, and a file whose data is still below
//!   (metacopy=on), carry the redirect and metacopy xattrs.

/// overlayfs marks a directory that hides everything below it with this xattr ("y").
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The opaque-directory marker of an overlay mounted with `userxattr` (in a user namespace).
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";
/// A directory renamed with redirect_dir=on points at its old name with this xattr.
pub const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
/// A file whose data is still in a lower layer (metacopy=on) has this xattr.
pub const METACOPY_XATTR: &str = "trusted.overlay.metacopy";

/// The opaque marker the store's layers carry: an ordinary user's store is only ever
/// mounted in a user namespace (`userxattr`), and `trusted.*` is not theirs to write.
pub fn store_opaque_xattr() -> &'static str {
    opaque_xattr(crate::host::rootless())
}

/// The opaque marker an overlay writes: `userxattr` (a user namespace) or root's.
pub fn opaque_xattr(in_user_namespace: bool) -> &'static str {
    if in_user_namespace {
        USER_OPAQUE_XATTR
    } else {
        OPAQUE_XATTR
    }
}

/// Whether a file of this `st_mode` and `st_rdev` is a whiteout (a character device 0/0).
pub fn is_whiteout(mode: u32, rdev: u64) -> bool {
    mode & libc::S_IFMT == libc::S_IFCHR && rdev == 0
}

/// Whether an opaque xattr's value marks the directory opaque.
pub fn is_opaque_value(value: Option<&[u8]>) -> bool {
    value == Some(b"y".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whiteout_is_a_character_device_zero_zero() {
        assert!(is_whiteout(libc::S_IFCHR, 0));
        assert!(!is_whiteout(libc::S_IFCHR | 0o666, libc::makedev(1, 3)));
        assert!(!is_whiteout(libc::S_IFREG | 0o644, 0));
    }

    #[test]
    fn only_y_is_opaque() {
        assert!(is_opaque_value(Some(b"y")));
        assert!(!is_opaque_value(Some(b"n")));
        assert!(!is_opaque_value(None));
    }
}

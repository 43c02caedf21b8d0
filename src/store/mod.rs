//! The one place glassbox keeps things that outlive a command, as containerd keeps its
//! content store and snapshots: image records and layers, container records and bundles,
//! under one data directory, with one clock, one way to write a file whole and one lock
//! helper. Images, containers and run all use it; it uses none of them.
//!
//! ```text
//! DATA/images/KEY/            an image: its record, config blob and bottom layer (rootfs/)
//! DATA/images/store/          the image names and their records (see images.rs)
//! DATA/images/layers/HEX/     layers (committed, or unpacked from a pull), by chain id,
//!                             shared by every image that has them
//! DATA/blobs/sha256/HEX       pulled blobs (manifests, configs, layer tars) by digest
//! DATA/blobs/sources.json     the registry repositories each blob is known to be in
//! DATA/containers/ID/         a container (see containers.rs)
//! DATA/names/NAME -> ID       the container names given (a generated gb-ID has none)
//! DATA/spare/N/               empty directories kept for the next container (spares.rs)
//! DATA/volumes/NAME/_data      a volume's files (see volumes.rs)
//! ```

pub mod attached;
pub mod blobs;
pub mod containers;
pub mod idmap;
pub mod images;
pub mod overlay;
pub mod reference;
pub mod sources;
pub mod spares;
pub mod state;
pub mod volumes;
pub mod waiters;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where glassbox keeps images and containers: $GLASSBOX_DATA_DIR, else beside a
/// $GLASSBOX_STATE_DIR (tests), else /var/lib/glassbox — or, for an ordinary user, their
/// own: $XDG_DATA_HOME/glassbox, else ~/.local/share/glassbox (as podman keeps its store).
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GLASSBOX_DATA_DIR") {
        return PathBuf::from(d);
    }
    if std::env::var_os("GLASSBOX_STATE_DIR").is_some() {
        return crate::journal::state_dir().join("data");
    }
    if crate::host::rootless() {
        use crate::host::env_dir;
        if let Some(d) =
            env_dir("XDG_DATA_HOME").or_else(|| env_dir("HOME").map(|h| h.join(".local/share")))
        {
            return d.join("glassbox");
        }
    }
    PathBuf::from("/var/lib/glassbox")
}

/// Where containers live.
pub fn containers_dir() -> PathBuf {
    data_dir().join("containers")
}

/// The directory a container of this id has.
pub fn container_dir(id: &str) -> PathBuf {
    containers_dir().join(id)
}

/// Where images live.
pub fn images_dir() -> PathBuf {
    data_dir().join("images")
}

/// The image names and records.
pub fn store_dir() -> PathBuf {
    images_dir().join("store")
}

/// Committed layers, by the hex of their diff id.
pub fn layers_dir() -> PathBuf {
    images_dir().join("layers")
}

pub use crate::clock::now;

/// The management commands change the store's files: refuse clearly when they are not
/// ours (an ordinary user has a store of their own: see `store::data_dir`).
pub fn need_root(what: &str) -> Result<()> {
    let dir = data_dir();
    if crate::host::is_root() || !dir.exists() || crate::sys::quiet::may_write(&dir) {
        return Ok(());
    }
    Err(Error::new(
        format!(
            "glassbox {what} cannot change {}: its images and containers belong to another user",
            dir.display()
        ),
        format!("run it as that user (sudo glassbox {what} … for root's), or set GLASSBOX_DATA_DIR to a directory of your own"),
    )
    .with_code(1))
}

/// Read a small file into `buf` (emptied first), reusing its memory across many files, and
/// without the statx, lseek and fcntl that `std::fs::read` makes for a size hint: `ps` reads
/// two files per container.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    buf.reserve(16 * 1024);
    // Through `take`, the plain read loop (File's own read_to_end asks for the size first).
    std::fs::File::open(path)?
        .take(u64::MAX)
        .read_to_end(buf)
        .map(drop)
}

/// Write a file whole: to a temporary name (mode 0644 whatever the umask), then rename
/// over the old one, so a reader never sees half of it.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    write_then(path, bytes, |tmp| std::fs::rename(tmp, path))
}

/// Write a file that is rewritten again and again (a container's state) whole: into its
/// temporary name, then swapped with the current file in one rename (RENAME_EXCHANGE), so
/// a reader never sees half of it. The temporary file stays, holding the version before:
/// the next write reuses its inode rather than making one and freeing another (on ext4
/// without a journal, as here, a new inode scans the recently freed ones: ~0.5 ms once on
/// the path of stop and rm -f). The first write, with no current file, is a plain rename.
pub fn rewrite_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    write_then(path, bytes, |tmp| {
        // Unnarrated, as the store's other writes.
        let quiet = crate::narrate::Narrator::silent();
        match crate::sys::Sys::new(&quiet).rename_quietly(tmp, path, true, "") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::rename(tmp, path),
            swapped => swapped,
        }
    })
}

/// `bytes` into `path`'s temporary name (`.tmp`), then `put` it in place.
fn write_then(
    path: &Path,
    bytes: &[u8],
    put: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| put(&tmp))
        .map_err(|e| {
            Error::io(
                format!("cannot write {}", path.display()),
                &e,
                "check that glassbox's data directory is writable and not full",
            )
        })
}

/// `mkdir -p` with mode 0755 whatever the process umask is: the export stage sets it to 0
/// while it extracts, and nothing in the store may be writable by anyone but root.
pub fn make_dirs(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| {
            Error::io(
                format!("cannot make {}", dir.display()),
                &e,
                "check that glassbox's data directory is writable (run as root) and not full",
            )
        })
}

/// `n` bytes from the kernel's random pool as hex digits: container ids, anonymous volume names.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    crate::sys::quiet::random_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

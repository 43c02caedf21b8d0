//! A `--rm` container's directory on a tmpfs of its own.
//!
//! Everything such a container writes — its init files, its writable layer (overlay's upper
//! and work), its records and state — is written only to be deleted when it ends. On a disk
//! that deletion is not free: ext4 mounted with `discard` (as many cloud disks are) discards
//! every freed block at the next journal commit, and the next run waits for it. On a tmpfs
//! mounted over the container's directory it is one umount(2): the pages go back to memory
//! and the disk sees only an empty directory made and removed. A kept container keeps its
//! layer on the disk, as Docker's overlay2 does; so do detached ones and ones under a memory
//! limit (a tmpfs's pages are charged to the writer's memory cgroup).
//!
//! The mount is in the host's mount namespace. The journal entry of the directory, written
//! before it was made, stands for it too: what a killed glassbox leaves, `glassbox cleanup`
//! detaches, then removes the directory under it (one entry, one file a run fewer).

use crate::error::Result;
use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use std::path::Path;

/// Mount a tmpfs over the container's (still empty, journaled) directory `dir`.
pub fn mount(sys: &Sys, dir: &Path) -> Result<()> {
    // The directory's own mode (0755, as create_dir made it, or the spare it was), not
    // tmpfs's default 1777.
    let data = "mode=0755";
    sys.mount(
        &MountArgs {
            source: Some("tmpfs"),
            target: dir,
            fstype: Some("tmpfs"),
            flags: 0,
            data: Some(data),
        },
        "--rm: the container's writable layer and records live in memory, so removing them at its end costs no disk writes or discards",
        &format!("mount -t tmpfs -o {data} tmpfs {}", dir.display()),
    )
}

/// Unmount the container's tmpfs: its files go with it.
pub fn unmount(sys: &Sys, dir: &Path, why: &str) -> Result<()> {
    sys.umount2(dir, 0, why)
}

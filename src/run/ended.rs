//! How `stop` and `rm -f` learn that a detached container has ended without waiting for
//! more than they need: a FIFO `ended` in its directory, held open by its supervisor while
//! the container runs.
//!
//! ```text
//! supervisor: open ended (O_RDWR) ─ container runs ─ PID 1 reaped ─ log complete,
//!             state.json "exited" ─▶ 1 byte (stop learns the end) ─ cgroups, network,
//!             journal undone ─ [rm -f asked: name freed, directory into the trash]
//!             ─▶ close (rm -f wakes: hang-up) ─ a child holds the mount namespace ─ exit
//! ```
//!
//! The supervisor also holds the container's mount namespace (/proc/PID/ns/mnt) while it
//! runs: otherwise the kernel tears it down — unmounting the overlay, which syncs the
//! filesystem under the writable layer — inside PID 1's exit, before the exit is reported.
//! Held, the unmount happens when it is let go: by a child the supervisor leaves behind, so
//! that the supervisor's own end (which stop and rm -f wait for last) is quick.
//! A killed supervisor's descriptors are closed by the kernel: a waiter wakes, finds no end
//! on record, and falls back to waiting for the processes themselves.

use crate::error::Result;
use crate::store::containers::{Container, State};
use crate::sys::Sys;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

const FIFO: &str = "ended";

/// What a detached container's supervisor holds while the container runs.
pub struct Held {
    fifo: Option<OwnedFd>,
    mnt: Option<OwnedFd>,
    /// The container's directory, where rm -f leaves its mark.
    dir: std::path::PathBuf,
}

/// In the supervisor, once the container's PID 1 exists and before its state says it runs:
/// open the FIFO (made on the first run) and the container's mount namespace. Both only
/// make stop and rm -f quicker: if either fails (the call shows why) they wait as before.
pub fn hold(sys: &Sys, dir: &Path, pid: i32) -> Held {
    let path = dir.join(FIFO);
    let made = path.exists()
        || sys
            .mkfifo(
                &path,
                "a FIFO stop and rm -f wait on: a byte once the container's end is on record, the hang-up once its supervisor has undone what it made",
            )
            .is_ok();
    let fifo = made
        .then(|| {
            sys.open_fifo(
                &path,
                true,
                "held open while the container runs (O_RDWR: a writer that needs no reader)",
            )
        })
        .and_then(|r| r.ok().flatten());
    let mnt = sys
        .open_ns(
            pid,
            "mnt",
            "hold the container's mount namespace: its unmounts (the overlay's syncs its disk) happen when this is closed, after the end is on record, not inside PID 1's exit",
        )
        .ok()
        .flatten();
    Held {
        fifo,
        mnt,
        dir: dir.to_path_buf(),
    }
}

impl Held {
    /// The end is on record and the log complete: stop may return. The stop just woken
    /// goes first (the kernel queues it behind this supervisor): the undo that follows is
    /// nobody's wait — unless rm -f asked, or the container is `bridged`: they wait for
    /// the undo itself (the supervisor's end), as `glassbox wait` does.
    pub fn recorded(&self, sys: &Sys, bridged: bool) {
        let Some(f) = &self.fifo else {
            return;
        };
        let marked = sys.fifo_mark(f, "the container's end is on record: wake glassbox stop");
        if marked.is_ok() && !bridged && !self.dir.join(REMOVE).exists() {
            sys.yield_cpu("let the glassbox stop just woken by the recorded end finish first");
        }
    }

    /// What was made for the container is undone: close the FIFO (rm -f wakes), then let
    /// the mount namespace go (its unmounts now) and remove `trashed`. When the supervisor
    /// is `last` to end, a child of it does those two, so that it ends at once: stop and
    /// rm -f wait for its end, because what it made for a network (the bridge, its rules)
    /// is in use in its name until then.
    pub fn release(self, sys: &Sys, trashed: Option<&Path>, last: bool) {
        drop(self.fifo);
        let tail = |mnt: Option<OwnedFd>| {
            drop(mnt);
            if let Some(t) = trashed {
                if sys.remove_path(t).is_ok() {
                    crate::store::containers::removed_from_trash(t);
                }
            }
        };
        if !last || self.mnt.is_none() {
            return tail(self.mnt);
        }
        // Locked before the fork, the lock is the child's too (one open file): `cleanup`
        // leaves a trashed directory whose lock is held, being removed, alone. The parent
        // must not unlock it (dropping the guard would): it exits, the child's holds.
        let removing = trashed.and_then(crate::store::containers::lock_removal);
        let why = "the container's mount namespace (its unmount syncs the disk) goes in the background, and the supervisor ends at once";
        match sys.fork(0, why) {
            Ok(crate::sys::process::Forked::Child) => {
                tail(self.mnt);
                crate::sys::signals::exit_now(0)
            }
            Ok(crate::sys::process::Forked::Parent(_)) => {
                std::mem::forget(removing);
                drop(self.mnt)
            }
            Err(_) => tail(self.mnt),
        }
    }
}

/// Whether the container is on a bridge network: the bridge and its rules are journaled
/// in its supervisor's name and in use until the supervisor ends (`network rm` and `cleanup`
/// leave them), so stop and rm -f wait for that end too; otherwise the FIFO suffices.
/// `annotations` are config.json's.
pub fn bridged(annotations: &std::collections::HashMap<String, String>) -> bool {
    let network = annotations.get(crate::spec::annotation::NETWORK);
    !matches!(network.map(String::as_str), None | Some("none" | "host"))
        && !network.is_some_and(|n| n.starts_with("container:"))
}

/// A waiter's read end of a container's FIFO.
pub struct Watch(OwnedFd);

/// Open the FIFO of `c`, when its supervisor holds one (a container run by an older
/// glassbox, or with --rm, has none; nor has a dry run). Opened while the supervisor still
/// holds it, the hang-up cannot be missed. `state` is its state as the caller read it.
pub fn watch(sys: &Sys, c: &Container, state: &State) -> Result<Option<Watch>> {
    let path = c.dir.join(FIFO);
    let supervised = state.supervisor.as_ref().is_some_and(|o| o.is_alive());
    if !supervised || !path.exists() {
        return Ok(None);
    }
    // A dry run waits for nothing: it stopped nothing.
    let fd = sys.compound(
        "",
        || {
            sys.open_fifo(
                &path,
                false,
                "the container's FIFO: its supervisor writes a byte when the end is on record and closes it when all is undone",
            )
        },
        || None,
    )?;
    Ok(fd.map(Watch))
}

impl Watch {
    /// Wait up to `limit` for the end to be on record (or the supervisor gone).
    pub fn recorded(&self, sys: &Sys, limit: Duration) -> Result<bool> {
        use std::os::fd::AsRawFd;
        let fd = self.0.as_raw_fd();
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        let why = "wait for the container's end to be on record (a byte), at most the time given";
        Ok(sys.poll_in(fd, &fd.to_string(), ms, why)? > 0)
    }

    /// Wait up to `limit` for the supervisor to have undone what it made (the hang-up).
    pub fn undone(&self, sys: &Sys, limit: Duration) -> Result<bool> {
        sys.poll_hangup(
            &self.0,
            limit,
            "wait for the supervisor to record the end and undo the container's cgroups, network and journal (the FIFO's hang-up)",
        )
    }
}

/// The mark rm -f leaves before its SIGKILL: the supervisor is to take the directory away.
const REMOVE: &str = "remove";

/// rm -f, before the SIGKILL: ask the supervisor to take the container out of the store
/// once all is undone, so that rm -f need not wait for the directory's removal.
pub fn ask_removal(sys: &Sys, c: &Container) {
    let _ = sys.compound(
        "",
        || Ok(std::fs::write(c.dir.join(REMOVE), b"")),
        || Ok(()),
    );
}

/// In the supervisor, all undone: if rm -f asked, free the container's name and move its
/// directory into the trash (one rename) before rm -f is woken. The path to remove after.
pub fn take_away(sys: &Sys, c: &Container) -> Option<std::path::PathBuf> {
    // An ordinary user's container may hold files of its subordinate ids: rm removes it.
    if crate::host::rootless() || !c.dir.join(REMOVE).exists() {
        return None;
    }
    let trash = crate::store::containers::trash_dir();
    if !trash.is_dir() {
        sys.mkdir(
            &trash,
            0o700,
            "the trash: directories of removed containers on their way out",
        )
        .ok()?;
    }
    let to = trash.join(c.id());
    crate::store::containers::release_name(sys, &c.dir).ok()?;
    sys.renameat2(
        &c.dir,
        &to,
        false,
        "rm -f: out of the store at once (ps no longer lists it); removed once its mounts are gone",
    )
    .ok()?;
    Some(to)
}

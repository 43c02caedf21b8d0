//! The wait for the kernel's removal of a container's host veth, left to a process of its own.
//!
//! When the container's network namespace dies the kernel removes both ends of its veth, but
//! from a workqueue and after RCU grace periods: 3–30 ms after the last process ended. The
//! journal entry of the host end must stay until then (a namespace someone else keeps would
//! keep the link), yet glassbox need not wait: a watcher keeps a notification socket, strikes
//! the entry when the kernel's RTM_DELLINK comes, deletes the link itself if none came in
//! `LINK_GONE_WAIT`, and ends once it has no link left. glassbox itself ends at once.
//!
//! One watcher serves back-to-back runs: it listens on a unix socket in the state directory
//! (one per network namespace), and a run that ends while it still waits hands its link over
//! (`Message::Watch`, echoed back once taken) instead of forking a watcher of its own: a
//! process made and ended a run cost more than the veth itself. With no watcher there, or
//! no echo, the run forks one. A killed watcher leaves its entries to `cleanup`, which
//! deletes a link still there, and its socket, which `cleanup` removes too.

use crate::error::Result;
use crate::journal::{Journal, NetNs, Resource};
use crate::narrate::Narrator;
use crate::sys::channel::{Channel, Message};
use crate::sys::net::{link_index, LinkWatch};
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the kernel gets to remove a veth with its namespace (it takes 3–30 ms here).
pub const LINK_GONE_WAIT: Duration = Duration::from_millis(250);

/// How long a run waits for a watcher's echo before it forks its own (ms).
const HAND_OVER_WAIT: i32 = 100;

/// Watchers this process forked and has not collected yet.
static LEFT: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Leave `w`'s link, whose journal entry is `id`, to a watcher: the one already there, or
/// one forked now; returns in the parent only.
pub fn leave(sys: &Sys, journal: &Journal, id: &str, w: LinkWatch) -> Result<()> {
    let path = socket_path(journal);
    if let Some(p) = path.as_deref() {
        // A dry run hands nothing over: it shows the watcher it would fork.
        let handed = sys.compound("", || Ok(hand_over(sys, p, id, &w.name)), || false);
        if handed.unwrap_or(false) {
            sys.narrator.note(&format!(
                "the watcher an earlier run left takes {}: it hears the kernel's RTM_DELLINK (or deletes it after {} ms); glassbox does not wait",
                w.name,
                LINK_GONE_WAIT.as_millis()
            ));
            return Ok(());
        }
    }
    // A supervisor that restarts its container forks one a run: collect those that ended.
    let mut left = LEFT.lock().unwrap_or_else(|e| e.into_inner());
    left.retain(|&pid| !sys.reap_if_ended(pid, "collect an earlier watcher that has ended"));
    let why = format!(
        "a watcher that outlives glassbox: it strikes {} off the journal when the kernel removes it with the container's namespace, so glassbox need not wait",
        w.name
    );
    match sys.fork_ungated(&why)? {
        Forked::Parent(pid) => {
            if pid > 0 {
                left.push(pid);
            }
            sys.narrator.note(&format!(
                "the watcher hears the kernel's RTM_DELLINK of {} (or deletes it after {} ms); glassbox does not wait",
                w.name,
                LINK_GONE_WAIT.as_millis()
            ));
            Ok(())
        }
        Forked::Child => {
            // Nothing of glassbox's output or terminal: its readers see their end at once.
            let quiet = Narrator::silent();
            let q = Sys::new(&quiet);
            crate::sys::process::forward_no_more();
            if detach(&q, &w).is_ok() {
                let first = Pending {
                    id: id.to_string(),
                    name: w.name.clone(),
                    index: w.index(),
                    since: Instant::now(),
                };
                serve(&q, journal, &w, first, path.as_deref());
            }
            crate::sys::signals::exit_now(0)
        }
    }
}

/// Where a watcher takes the links of later runs: one socket per state directory and network
/// namespace (a link is watched in the namespace it was made in).
fn socket_path(journal: &Journal) -> Option<PathBuf> {
    let ns = NetNs::current()?;
    Some(
        journal
            .dir()
            .parent()?
            .join(format!("{SOCKET_PREFIX}{}{SOCKET_SUFFIX}", ns.ino)),
    )
}

/// A watcher's socket is `netwatch-<netns inode>.sock` in the state directory.
const SOCKET_PREFIX: &str = "netwatch-";
const SOCKET_SUFFIX: &str = ".sock";

/// A killed watcher leaves its socket behind: `cleanup` removes each one nobody listens on
/// (a live watcher takes the empty connection as a request that never came).
pub fn remove_orphaned_sockets(sys: &Sys, journal: &Journal) {
    let Some(dir) = journal.dir().parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(SOCKET_PREFIX) && name.ends_with(SOCKET_SUFFIX)) {
            continue;
        }
        let path = e.path();
        let remove = || {
            let refused = matches!(
                sys.connect_unix_now(&path, "is a network watcher still listening on this socket?"),
                Err(err) if err.errno == Some(nix::errno::Errno::ECONNREFUSED)
            );
            if refused {
                sys.remove_path(&path)?;
            }
            Ok(())
        };
        let _ = sys.compound("", remove, || ());
    }
}

/// Hand the link to the watcher listening at `path`: true once it echoed the request.
fn hand_over(sys: &Sys, path: &Path, id: &str, link: &str) -> bool {
    if !path.exists() {
        return false; // no watcher was ever here
    }
    // Never blocking: a watcher stopped or frozen with a full backlog must not hang the run.
    let Ok(fd) = sys.connect_unix_now(
        path,
        "hand the host veth to the watcher an earlier run left, if it still waits for one",
    ) else {
        return false;
    };
    let ch = Channel::from(fd);
    let msg = Message::Watch {
        id: id.to_string(),
        link: link.to_string(),
    };
    sys.send_message(&ch, &msg, "the link and its journal entry, for the watcher")
        .is_ok()
        && matches!(
            sys.poll_in(
                ch.as_raw_fd(),
                &ch.as_raw_fd().to_string(),
                HAND_OVER_WAIT,
                "wait for the watcher's echo: it has taken the link"
            ),
            Ok(1)
        )
        && matches!(sys.recv_message_now(&ch, "the watcher's echo"), Ok(Some(m)) if m == msg)
}

/// A host veth the watcher waits for: its journal entry, name and index, and since when.
struct Pending {
    id: String,
    name: String,
    index: u32,
    since: Instant,
}

/// Wait for the links to go, taking those of later runs, until none is left.
fn serve(q: &Sys, journal: &Journal, w: &LinkWatch, first: Pending, path: Option<&Path>) {
    let mut pending = vec![first];
    strike_gone(journal, &mut pending, |p| {
        p.index == 0 || link_index(&p.name) == 0
    });
    if pending.is_empty() {
        return; // its link went already: nothing to wait for, no name to take
    }
    let listener = path.and_then(|p| {
        let l = q
            .listen_unix(p, "where later runs hand over their links")
            .ok()?;
        Some((l, std::fs::metadata(p).ok()?))
    });
    loop {
        let now = Instant::now();
        pending.retain(|p| {
            let late = now >= p.since + LINK_GONE_WAIT;
            if late {
                give_up(q, journal, p);
            }
            !late
        });
        let Some(left) = pending.iter().map(|p| p.since + LINK_GONE_WAIT - now).min() else {
            break;
        };
        let mut fds = vec![(w.fd(), w.fd().to_string())];
        if let Some((l, _)) = &listener {
            fds.push((l.as_raw_fd(), l.as_raw_fd().to_string()));
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32 + 1;
        let Ok(ready) = q.poll_ins(
            &fds,
            ms,
            "wait for the kernel to remove the links, or for a run to hand one over",
        ) else {
            pending.iter().for_each(|p| give_up(q, journal, p));
            break;
        };
        if ready[0] {
            let gone = q.links_deleted(w);
            strike_gone(journal, &mut pending, |p| match &gone {
                Some(gone) => gone.contains(&p.index),
                None => link_index(&p.name) != p.index,
            });
        }
        if let (Some(true), Some((l, _))) = (ready.get(1), &listener) {
            pending.extend(take(q, journal, l));
        }
    }
    // Later runs fork their own watcher from now on; the name goes unless another took it.
    if let (Some((_, mine)), Some(p)) = (&listener, path) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(p).is_ok_and(|m| m.ino() == mine.ino() && m.dev() == mine.dev()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Strike the journal entry of each pending link that `gone` says went, and stop waiting
/// for it.
fn strike_gone(journal: &Journal, pending: &mut Vec<Pending>, gone: impl Fn(&Pending) -> bool) {
    pending.retain(|p| {
        let went = gone(p);
        if went {
            journal.strike(&p.id);
        }
        !went
    });
}

/// The link's time is up (a namespace someone else keeps): delete it, as glassbox did
/// before it left that to the kernel, and strike its entry.
fn give_up(q: &Sys, journal: &Journal, p: &Pending) {
    // Gone already, or the name is another link's now (a reused pid): nothing of ours to delete.
    if link_index(&p.name) != p.index {
        journal.strike(&p.id);
        return;
    }
    let link = Resource::Link {
        name: p.name.clone(),
    };
    if super::undo(q, &link).is_ok() {
        journal.strike(&p.id);
    }
}

/// A run's request: taken (and echoed) only for a link the journal lists, made here.
fn take(q: &Sys, journal: &Journal, listener: &OwnedFd) -> Option<Pending> {
    let ch = Channel::from(q.accept(listener, "a run hands over its link").ok()?);
    let fd = ch.as_raw_fd();
    if q.poll_in(fd, &fd.to_string(), HAND_OVER_WAIT, "its request")
        .ok()?
        == 0
    {
        return None;
    }
    let msg = q.recv_message_now(&ch, "its request").ok()??;
    let Message::Watch { id, link } = &msg else {
        return None;
    };
    let e = journal.entry(id)?;
    if !matches!(&e.resource, Resource::Link { name } if name == link) || !super::made_here(&e) {
        return None;
    }
    let index = link_index(link);
    q.send_message(&ch, &msg, "taken").ok()?;
    if index == 0 {
        journal.strike(id); // gone already
        return None;
    }
    Some(Pending {
        id: id.clone(),
        name: link.clone(),
        index,
        since: Instant::now(),
    })
}

/// Its own session, stdio on /dev/null, no descriptor but the watch socket.
fn detach(q: &Sys, w: &LinkWatch) -> Result<()> {
    q.setsid("no terminal: a ^C meant for the shell does not end the watcher")?;
    q.chdir(
        Path::new("/"),
        "it may outlive many runs: it must not keep the caller's directory busy",
    )?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| crate::error::Error::io(
            "the network watcher cannot open /dev/null",
            &e,
            "check that /dev/null is the character device 1:3 (ls -l /dev/null) and mknod it again if not",
        ))?;
    for fd in 0..3 {
        q.dup2(null.as_raw_fd(), fd, "stdio to /dev/null")?;
    }
    drop(null);
    q.close_from(
        3,
        Some(w.fd() as u32),
        "hold no pipe or terminal of glassbox's open",
    )
}

//! The wait for the kernel's removal of a container's host veth, left to a process of its own.
//!
//! When the container's network namespace dies the kernel removes both ends of its veth, but
//! from a workqueue and after RCU grace periods: 3–30 ms after the last process ended. The
//! journal entry of the host end must stay until then (a namespace someone else keeps would
//! keep the link), yet glassbox need not wait: it forks a watcher that keeps the notification
//! socket, strikes the entry when the kernel's RTM_DELLINK comes, deletes the link itself if
//! none came in `LINK_GONE_WAIT`, and ends. glassbox itself ends at once. A killed watcher
//! leaves the entry to `cleanup`, which deletes the link if it is still there.

use crate::error::Result;
use crate::journal::{Journal, Resource};
use crate::narrate::Narrator;
use crate::sys::net::LinkWatch;
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::time::Duration;

/// How long the kernel gets to remove a veth with its namespace (it takes 3–30 ms here).
pub const LINK_GONE_WAIT: Duration = Duration::from_millis(250);

/// Watchers this process forked and has not collected yet.
static LEFT: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Fork the watcher of `w`'s link, whose journal entry is `id`; returns in the parent only.
pub fn leave(sys: &Sys, journal: &Journal, id: &str, w: LinkWatch) -> Result<()> {
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
            let _ = detach(&q, &w);
            let _ = watch(&q, journal, id, &w);
            crate::sys::signals::exit_now(0)
        }
    }
}

/// Its own session, stdio on /dev/null, no descriptor but the watch socket.
fn detach(q: &Sys, w: &LinkWatch) -> Result<()> {
    use std::os::fd::AsRawFd;
    q.setsid("no terminal: a ^C meant for the shell does not end the watcher")?;
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

/// Wait for the link to go; strike its entry then, or delete it after `LINK_GONE_WAIT`.
fn watch(sys: &Sys, journal: &Journal, id: &str, w: &LinkWatch) -> Result<()> {
    let gone = sys.link_gone(
        w,
        LINK_GONE_WAIT,
        "wait for the kernel to remove the host end with the container's network namespace",
    );
    if matches!(gone, Ok(true)) {
        sys.narrator.note(&format!(
            "{} went with the container's network namespace",
            w.name
        ));
    } else {
        super::undo(
            sys,
            &Resource::Link {
                name: w.name.clone(),
            },
        )?;
    }
    journal.strike(id);
    Ok(())
}

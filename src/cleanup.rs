//! `glassbox cleanup`: undo what the journal lists whose owner is gone.
//!
//! Newest first, so that what was made last (a cgroup inside a parent, a link on a bridge) is
//! undone first. An entry whose owner still runs is left alone and reported. Safe to run
//! again and again: an undo of something already gone counts as done.

use crate::error::Result;
use crate::journal::{Entry, Journal, Resource};
use crate::sys::Sys;

/// What one cleanup did.
#[derive(Debug, Default)]
pub struct Report {
    pub undone: Vec<String>,
    pub in_use: Vec<String>,
    pub failed: Vec<String>,
}

/// Undo one host change. Already gone counts as undone.
pub fn undo(sys: &Sys, resource: &Resource) -> Result<()> {
    match resource {
        Resource::Cgroup { path } => crate::stages::cgroups::remove_cgroup(sys, path),
        Resource::Mount { target } => {
            if crate::host::mountinfo::is_mount_point(&crate::host::mountinfo::current(), target) {
                sys.umount2(
                    target,
                    libc::MNT_DETACH,
                    "a glassbox mount left behind: detach it",
                )?;
            }
            Ok(())
        }
        Resource::Dir { path } => {
            if path.exists() {
                sys.narrator.note(&format!("rm -rf {}", path.display()));
                std::fs::remove_dir_all(path).map_err(|e| {
                    crate::error::Error::io(
                        format!("cannot remove {}", path.display()),
                        &e,
                        "check for mounts inside it (findmnt) and remove it by hand",
                    )
                })?;
            }
            Ok(())
        }
        Resource::Link { .. }
        | Resource::Bridge { .. }
        | Resource::FirewallRule { .. }
        | Resource::Lease { .. } => crate::stages::network::undo(sys, resource),
        // A claim only: its DNAT rules are entries of their own.
        Resource::Port { .. } => Ok(()),
    }
}

/// Undo one journal entry now and strike it (for a stage's own undo path).
pub fn undo_and_strike(sys: &Sys, journal: &Journal, id: &str, resource: &Resource) -> Result<()> {
    undo(sys, resource)?;
    journal.strike(id);
    Ok(())
}

/// Undo every entry whose owner is gone.
pub fn cleanup(sys: &Sys, journal: &Journal) -> Report {
    cleanup_where(sys, journal, |_| true)
}

/// Undo the entries of one owner that is gone (a killed container supervisor, for `rm`).
pub fn cleanup_owned_by(sys: &Sys, journal: &Journal, owner: &crate::journal::Owner) -> Report {
    cleanup_where(sys, journal, |e| e.owner == *owner)
}

fn cleanup_where(sys: &Sys, journal: &Journal, chosen: impl Fn(&Entry) -> bool) -> Report {
    let mut report = Report::default();
    let mut entries: Vec<Entry> = journal.entries();
    entries.reverse();
    for e in entries.into_iter().filter(|e| chosen(e)) {
        let what = e.resource.describe();
        if e.owner.is_alive() {
            report.in_use.push(format!(
                "{what} (in use by running glassbox pid {})",
                e.owner.pid
            ));
            continue;
        }
        match undo(sys, &e.resource) {
            Ok(()) => {
                journal.strike(&e.id);
                report.undone.push(what);
            }
            Err(err) => report.failed.push(format!(
                "{what}: {}",
                err.to_string().lines().next().unwrap_or("")
            )),
        }
    }
    report
}

//! `glassbox cleanup`: undo what the journal lists whose owner is gone.
//!
//! Newest first, so that what was made last (a cgroup inside a parent, a link on a bridge) is
//! undone first. An entry whose owner still runs is left alone and reported. Safe to run
//! again and again: an undo of something already gone counts as done.
//! So does the shared `glassbox` parent cgroup while other runs' cgroups are in it, as in a
//! supervisor's own undo: the last run out removes it, whatever its state directory.
//!
//! A network change (link, bridge, firewall rule, ip_forward) is undone only in the network
//! namespace it was made in: here, or from a forked helper that joins that namespace with
//! setns(2) through something that still holds it (a process in it, a mount such as
//! /run/netns/NAME, an open descriptor). Replayed anywhere else, `iptables -D` and a link
//! deletion find nothing, count as done, and strike the entry while the real rule stays.
//! When nothing holds the namespace, the entry stays and the report says why.
//!
//! Entries of an older glassbox have no namespace. They are undone only when cleanup runs
//! in the host's network namespace (pid 1's, seen from here): that is where glassbox was
//! mostly run from before it recorded namespaces, and running elsewhere is the very case
//! that went wrong.

use crate::error::Result;
use crate::journal::{Entry, Journal, NetNs, Resource};
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
        Resource::Mount { target } => detach_if_mounted(sys, target),
        Resource::Dir { path } => {
            // A --rm container's directory may have its tmpfs on it (run/scratch.rs): the
            // entry stands for both.
            detach_if_mounted(sys, path)?;
            if path.exists() {
                let removed = sys.remove_tree(path);
                crate::run::rootless::or_inside(sys, path, removed)?;
            }
            Ok(())
        }
        Resource::Helper {
            pid, start_time, ..
        } => {
            if crate::journal::start_time(*pid) == Some(*start_time) {
                sys.kill(
                    *pid as i32,
                    libc::SIGKILL,
                    "a helper glassbox started beside a container that is gone: end it",
                )?;
            }
            Ok(())
        }
        // The network's kinds (the journal lists them once: `Resource::in_netns`).
        net => crate::stages::network::undo(sys, net),
    }
}

/// Detach what glassbox left mounted on `target`, if anything is.
fn detach_if_mounted(sys: &Sys, target: &Path) -> Result<()> {
    // The mount table names the path with its symlinks resolved (a data directory under a
    // link): compared as written, the mount would be missed and its files emptied instead.
    let real = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    if crate::host::mountinfo::is_mount_point(&crate::host::mountinfo::current(), &real) {
        sys.umount2(
            target,
            libc::MNT_DETACH,
            "a glassbox mount left behind: detach it",
        )?;
    }
    Ok(())
}

/// Undo every entry whose owner is gone.
pub fn cleanup(sys: &Sys, journal: &Journal) -> Report {
    // A name server outlives its network's last container only by a second; don't wait.
    crate::stages::network::dns::stop_idle(sys, journal);
    crate::stages::network::watcher::remove_orphaned_sockets(sys, journal);
    cleanup_where(sys, journal, |_| true)
}

/// Undo the entries of one owner that is gone (a killed container supervisor, for `rm`).
/// What belongs to a network (its bridge, rules, ip_forward) stays: other containers may
/// use it, and it goes with `network rm` or `cleanup`.
pub fn cleanup_owned_by(sys: &Sys, journal: &Journal, owner: &crate::journal::Owner) -> Report {
    cleanup_where(sys, journal, |e| {
        e.owner == *owner && !e.resource.belongs_to_network()
    })
}

/// When a container has ended: undo what `network connect` gave it (journalled for its
/// PID 1, `pid`), and stop the name servers no container uses any more.
pub fn release_connected(sys: &Sys, journal: &Journal, pid: i32) {
    let ours = |e: &crate::journal::Entry| {
        e.owner.pid == pid as u32
            && matches!(e.resource, Resource::Lease { .. } | Resource::Link { .. })
    };
    let networks: Vec<String> = journal
        .entries()
        .into_iter()
        .filter(|e| ours(e))
        .filter_map(|e| match e.resource {
            Resource::Lease { network, .. } => Some(network),
            _ => None,
        })
        .collect();
    if networks.is_empty() {
        return;
    }
    cleanup_where(sys, journal, ours);
    for n in networks.iter().filter(|n| *n != "bridge") {
        let _ = crate::stages::network::dns::stop_if_idle(sys, journal, n);
    }
}

/// Undo chosen entries whose owner is gone, each in its own network namespace.
pub fn cleanup_where(sys: &Sys, journal: &Journal, chosen: impl Fn(&Entry) -> bool) -> Report {
    let mut report = Report::default();
    let here = NetNs::current();
    let mut handles: HashMap<NetNs, Option<PathBuf>> = HashMap::new();
    // Entries to undo from a helper inside another namespace, by namespace, newest first.
    let mut elsewhere: Vec<(NetNs, PathBuf, Vec<Entry>)> = Vec::new();
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
        if !e.resource.in_netns() || (e.netns.is_some() && e.netns == here) {
            undo_here(sys, journal, &e, &mut report);
            continue;
        }
        let Some(ns) = e.netns else {
            if here.is_some() && here == host_netns() {
                undo_here(sys, journal, &e, &mut report);
            } else {
                report.in_use.push(format!(
                    "{what} (recorded by an older glassbox without its network namespace: \
                     run glassbox cleanup in the host's network namespace)"
                ));
            }
            continue;
        };
        match handles.entry(ns).or_insert_with(|| find_handle(ns)) {
            Some(path) => match elsewhere.iter_mut().find(|g| g.0 == ns) {
                Some(group) => group.2.push(e),
                None => elsewhere.push((ns, path.clone(), vec![e])),
            },
            None => report.in_use.push(format!(
                "{what} (made in network namespace {}, which no process, mount or open \
                 descriptor holds now; if that namespace is gone, this went with it: \
                 delete {})",
                ns.describe(),
                journal.dir().join(format!("{}.json", e.id)).display()
            )),
        }
    }
    for (ns, path, entries) in elsewhere {
        undo_in(sys, journal, ns, &path, &entries, &mut report);
    }
    report
}

/// The host's network namespace as far as this process can see: pid 1's, or, where pid 1
/// may not be looked at, that of kthreadd (pid 2 of the host's pid namespace: kernel
/// threads live in the first network namespace).
fn host_netns() -> Option<NetNs> {
    NetNs::of(Path::new("/proc/1/ns/net")).or_else(|| {
        let stat = std::fs::read_to_string("/proc/2/stat").ok()?;
        let rest = stat.strip_prefix("2 (kthreadd) ")?;
        // The host's kthreadd has no parent: its ppid (after the state) is 0.
        (rest.split(' ').nth(1) == Some("0"))
            .then(|| NetNs::of(Path::new("/proc/2/ns/net")))
            .flatten()
    })
}

fn first_line(err: &crate::error::Error) -> String {
    err.to_string().lines().next().unwrap_or("").to_string()
}

/// How a helper in another namespace says an entry stays because it is still needed.
const STILL_NEEDED: &str = "still needed: ";

fn undo_here(sys: &Sys, journal: &Journal, e: &Entry, report: &mut Report) {
    let what = e.resource.describe();
    // A bridge, rule or ip_forward that containers still need is kept, not a failure.
    if let Some(kept) = crate::stages::network::still_needed(&e.resource) {
        report.in_use.push(format!("{what} ({})", kept.what));
        return;
    }
    match undo(sys, &e.resource) {
        Ok(()) => {
            sys.strike_undone(journal, &e.id);
            report.undone.push(what);
        }
        Err(err) => report.failed.push(format!("{what}: {}", first_line(&err))),
    }
}

/// Something that still holds network namespace `ns` and can be opened to join it: a
/// process in it, a mount of it (`ip netns add` makes /run/netns/NAME), or a descriptor a
/// process holds open.
fn find_handle(ns: NetNs) -> Option<PathBuf> {
    let is = |p: &Path| NetNs::of(p) == Some(ns);
    let pids: Vec<PathBuf> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().parse::<u32>().is_ok())
        .map(|d| d.path())
        .collect();
    let shown = ns.describe();
    pids.iter()
        .map(|p| p.join("ns/net"))
        .find(|p| is(p))
        .or_else(|| {
            crate::host::mountinfo::current()
                .into_iter()
                .filter(|m| m.fstype == "nsfs")
                .map(|m| m.mount_point)
                .find(|p| is(p))
        })
        .or_else(|| {
            pids.iter()
                .flat_map(|p| std::fs::read_dir(p.join("fd")).into_iter().flatten())
                .flatten()
                .map(|d| d.path())
                .find(|p| {
                    std::fs::read_link(p).is_ok_and(|l| l.as_os_str() == shown.as_str()) && is(p)
                })
        })
}

/// Open `handle` and check it is still namespace `ns` (a pid may have been reused since).
fn open_ns(handle: &Path, ns: NetNs) -> std::result::Result<std::fs::File, String> {
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::File::open(handle)
        .map_err(|e| format!("cannot open {}: {e}", handle.display()))?;
    match f.metadata() {
        Ok(m) if m.dev() == ns.dev && m.ino() == ns.ino => Ok(f),
        _ => Err(format!(
            "{} no longer holds {}",
            handle.display(),
            ns.describe()
        )),
    }
}

/// Undo `entries` inside network namespace `ns`: a forked helper joins it through `handle`,
/// undoes each entry there and strikes it, and tells this process how each one went, a line
/// each over the parent/child channel. Cleanup itself stays in its own namespace. When calls
/// are not made no helper is forked: each entry is reported as what would be undone.
fn undo_in(
    sys: &Sys,
    journal: &Journal,
    ns: NetNs,
    handle: &Path,
    entries: &[Entry],
    report: &mut Report,
) {
    let outcomes = sys
        .compound(
            "",
            || Ok(undo_by_helper(sys, journal, ns, handle, entries)),
            || vec![Ok(()); entries.len()],
        )
        .unwrap_or_default();
    for (e, outcome) in entries.iter().zip(outcomes) {
        let what = e.resource.describe();
        match outcome {
            Ok(()) => report.undone.push(format!("{what} in {}", ns.describe())),
            Err(why) if why.starts_with(STILL_NEEDED) => report.in_use.push(format!(
                "{what} in {} ({})",
                ns.describe(),
                &why[STILL_NEEDED.len()..]
            )),
            Err(why) => report.failed.push(format!("{what}: {why}")),
        }
    }
}

/// The forked helper of [`undo_in`]: how each entry went, in order (why, if it failed).
fn undo_by_helper(
    sys: &Sys,
    journal: &Journal,
    ns: NetNs,
    handle: &Path,
    entries: &[Entry],
) -> Vec<std::result::Result<(), String>> {
    use std::os::fd::AsFd;
    let fail_all = |why: &str| vec![Err(why.to_string()); entries.len()];
    let fd = match open_ns(handle, ns) {
        Ok(fd) => fd,
        Err(why) => return fail_all(&why),
    };
    let why = format!(
        "a helper that joins network namespace {} and undoes there what was made there",
        ns.describe()
    );
    match sys.fork_gated(0, &why) {
        Err(e) => fail_all(&first_line(&e)),
        Ok((Forked::Child, gate)) => {
            let joined = sys.setns(
                fd.as_fd(),
                Some(&ns.describe()),
                &handle.display().to_string(),
                libc::CLONE_NEWNET,
                "join the network namespace these journal entries were made in",
            );
            let mut lines = Vec::new();
            for e in entries {
                let kept = || crate::stages::network::still_needed(&e.resource);
                let line = match joined
                    .as_ref()
                    .map_err(first_line)
                    .and_then(|_| match kept() {
                        Some(k) => Err(format!("{STILL_NEEDED}{}", k.what)),
                        None => undo(sys, &e.resource).map_err(|e| first_line(&e)),
                    }) {
                    Ok(()) => {
                        journal.strike(&e.id);
                        "ok".to_string()
                    }
                    Err(why) => why,
                };
                lines.push(line);
            }
            sys.report_to_parent(
                gate.as_ref(),
                lines.join("\n"),
                "how each entry went, to the parent",
            );
            std::process::exit(0);
        }
        Ok((Forked::Parent(pid), gate)) => {
            let text = sys.collect_report(
                pid,
                gate.as_ref(),
                "collect the helper",
                "the helper's report",
            );
            // One line per entry, in order: those missing were not reached.
            let mut lines = text.lines();
            entries
                .iter()
                .map(|_| match lines.next() {
                    Some("ok") => Ok(()),
                    Some(why) => Err(why.to_string()),
                    None => Err(format!(
                        "the helper in {} ended before it was undone",
                        ns.describe()
                    )),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lingering_helper_is_ended_and_a_reused_pid_is_left_alone() {
        let narrator = crate::narrate::Narrator::silent();
        let sys = Sys::new(&narrator);
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start_time = crate::journal::start_time(pid).unwrap();
        let helper = |start_time| Resource::Helper {
            pid,
            start_time,
            program: "sleep".into(),
        };
        // Another process now under that pid (another start time): not ours to end.
        undo(&sys, &helper(start_time + 1)).unwrap();
        assert!(child.try_wait().unwrap().is_none(), "left running");
        undo(&sys, &helper(start_time)).unwrap();
        let ended = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&ended),
            Some(9)
        );
        // Gone already: undone.
        undo(&sys, &helper(start_time)).unwrap();
    }
}

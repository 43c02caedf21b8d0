//! The journal of host changes: what glassbox made on the host that outlives a process.
//!
//! Every such change (a cgroup, a link or bridge, a firewall rule, an address lease, a mount
//! outside a private namespace, a cache entry, a temporary directory) is written here
//! *before* it is made and struck off once undone. `glassbox cleanup` undoes what the journal
//! lists whose owner is gone — never a guess by name pattern.
//!
//! One file per entry under `$STATE/journal/`, written whole with a rename, so that a crash
//! never leaves half an entry. `$STATE` is `$GLASSBOX_STATE_DIR` or `/run/glassbox` (a tmpfs on
//! most systems: a reboot forgets what a reboot undid anyway); an ordinary user's is
//! `$XDG_RUNTIME_DIR/glassbox`, else `/tmp/glassbox-UID`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A host change that must be undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A cgroup directory (v1 or v2).
    Cgroup { path: PathBuf },
    /// A mount made where it is visible to the host (written by glassbox before the entry
    /// of a `--rm` container's directory stood for its tmpfs; still undone).
    Mount { target: PathBuf },
    /// A temporary directory (an export in progress, a `--rm` container's directory), and
    /// whatever glassbox mounted on it (that container's tmpfs): undone by detaching the
    /// mount, then removing the directory.
    Dir { path: PathBuf },
    /// A network link (veth end) in the host's network namespace.
    Link { name: String },
    /// A bridge that glassbox created.
    Bridge { name: String },
    /// A firewall rule; `delete` is the command that removes it.
    FirewallRule { delete: Vec<String> },
    /// An address handed out on a network.
    Lease { network: String, address: String },
    /// A host port a container publishes (`-p`): claimed before its rules exist, so that
    /// two containers never publish one port.
    Port { port: u16, proto: String },
    /// A sysctl glassbox changed (`net.ipv4.ip_forward`), and the value to put back.
    Sysctl { path: PathBuf, old: String },
    /// A user-defined network's name server: the entry's owner is the responder process
    /// itself, which wrote it before it bound its socket.
    Responder { network: String },
    /// A helper program started beside a container (slirp4netns, its user-mode network):
    /// ended if it still runs (the same pid and start time) once its owner is gone.
    Helper {
        pid: u32,
        start_time: u64,
        program: String,
    },
}

impl Resource {
    /// In plain words, for `cleanup`'s report.
    pub fn describe(&self) -> String {
        match self {
            Resource::Cgroup { path } => format!("cgroup {}", path.display()),
            Resource::Mount { target } => format!("mount on {}", target.display()),
            Resource::Dir { path } => format!("directory {}", path.display()),
            Resource::Link { name } => format!("link {name}"),
            Resource::Bridge { name } => format!("bridge {name}"),
            Resource::FirewallRule { delete } => {
                format!("firewall rule (undone by: {})", delete.join(" "))
            }
            Resource::Lease { network, address } => {
                format!("address {address} on network {network}")
            }
            Resource::Port { port, proto } => format!("host port {port}/{proto}"),
            Resource::Sysctl { path, old } => {
                format!("the change of {} from {old} to 1", path.display())
            }
            Resource::Responder { network } => format!("the name server of network {network}"),
            Resource::Helper { pid, program, .. } => format!("{program} (pid {pid})"),
        }
    }

    /// Whether the change lives in a network namespace (and is recorded with it).
    pub fn in_netns(&self) -> bool {
        matches!(
            self,
            Resource::Link { .. }
                | Resource::Bridge { .. }
                | Resource::FirewallRule { .. }
                | Resource::Lease { .. }
                | Resource::Port { .. }
                | Resource::Sysctl { .. }
                | Resource::Responder { .. }
        )
    }

    /// Whether it belongs to a network rather than to the container that happened to make
    /// it first: the bridge, the network's own rules (tagged `glassbox:net:NAME`) and the
    /// ip_forward the bridge needed. They go with `network rm`, or with `cleanup` once no
    /// container uses the network — never with `rm` of that first container.
    pub fn belongs_to_network(&self) -> bool {
        match self {
            Resource::Bridge { .. } | Resource::Sysctl { .. } => true,
            Resource::FirewallRule { delete } => {
                delete.iter().any(|a| a.starts_with("glassbox:net:"))
            }
            _ => false,
        }
    }
}

/// A network namespace as the kernel tells them apart: the device and inode of its nsfs
/// file (`stat -L /proc/self/ns/net`; `readlink` shows `net:[INODE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetNs {
    pub dev: u64,
    pub ino: u64,
}

impl NetNs {
    /// The namespace a nsfs file (or /proc/PID/ns/net link) refers to.
    pub fn of(path: &Path) -> Option<NetNs> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(NetNs {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The network namespace this process is in.
    pub fn current() -> Option<NetNs> {
        Self::of(Path::new("/proc/self/ns/net"))
    }

    /// As `ls -l /proc/PID/ns/net` shows it.
    pub fn describe(&self) -> String {
        format!("net:[{}]", self.ino)
    }
}

/// The process that made a change: alive while its pid has the same start time and boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat: clock ticks after boot at which the process started.
    pub start_time: u64,
    pub boot_id: String,
}

impl Owner {
    /// Another process, identified by pid, start time and boot (None if it is gone).
    pub fn of(pid: u32) -> Option<Owner> {
        Some(Owner {
            pid,
            start_time: start_time(pid)?,
            boot_id: boot_id(),
        })
    }

    pub fn current() -> Owner {
        // Read once a process (a run records ~7 entries); a forked child has its own pid.
        static OWN: std::sync::Mutex<Option<(u32, u64)>> = std::sync::Mutex::new(None);
        let pid = crate::sys::quiet::pid();
        let mut own = OWN.lock().unwrap_or_else(|e| e.into_inner());
        let start = match *own {
            Some((p, t)) if p == pid => t,
            _ => {
                let t = start_time(pid).unwrap_or(0);
                *own = Some((pid, t));
                t
            }
        };
        Owner {
            pid,
            start_time: start,
            boot_id: boot_id(),
        }
    }

    /// Whether the owning process still runs (a reused pid or a new boot does not count).
    pub fn is_alive(&self) -> bool {
        self.boot_id == boot_id() && start_time(self.pid) == Some(self.start_time)
    }
}

/// The start time of a live process, from /proc/PID/stat (the fields after the `)` of its
/// name). A zombie has ended (it only waits to be reaped): None.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = crate::host::read_small(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// This boot's id, read once a process: it cannot change while the process lives.
fn boot_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        crate::host::read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
    })
    .clone()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub owner: Owner,
    /// Seconds since the epoch.
    pub created: u64,
    pub resource: Resource,
    /// The network namespace a network change was made in: it is undone there and nowhere
    /// else. None for other changes, and for entries of a glassbox that did not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetNs>,
}

pub struct Journal {
    dir: PathBuf,
    /// False for a dry run's journal: it reads the entries (leases, ports) but writes none.
    writes: bool,
}

/// glassbox's state directory.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GLASSBOX_STATE_DIR") {
        // Absolute: processes that outlive the command (the network watcher) leave its
        // working directory.
        let d = PathBuf::from(d);
        return std::path::absolute(&d).unwrap_or(d);
    }
    if crate::host::rootless() {
        // An ordinary user's: $XDG_RUNTIME_DIR (theirs, a tmpfs), else one in /tmp.
        return crate::host::env_dir("XDG_RUNTIME_DIR")
            .map(|d| d.join("glassbox"))
            .unwrap_or_else(|| {
                PathBuf::from(format!("/tmp/glassbox-{}", crate::sys::quiet::euid()))
            });
    }
    PathBuf::from("/run/glassbox")
}

/// An ordinary user's state directory is made 0700 and must be theirs: in /tmp another user
/// could have made it first, and would then steer what `cleanup` removes.
fn own_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let meta = made
        .and_then(|()| std::fs::symlink_metadata(dir))
        .map_err(|e| {
            Error::io(
                format!("cannot create glassbox's state directory {}", dir.display()),
                &e,
                "set XDG_RUNTIME_DIR or GLASSBOX_STATE_DIR to a directory of your own",
            )
        })?;
    if !meta.is_dir() || meta.uid() != crate::sys::quiet::euid() || meta.mode() & 0o022 != 0 {
        return Err(Error::new(
            format!(
                "glassbox's state directory {} is not a directory of yours that only you can write",
                dir.display()
            ),
            "set XDG_RUNTIME_DIR or GLASSBOX_STATE_DIR to a directory of your own",
        ));
    }
    Ok(())
}

impl Journal {
    /// The journal in the state directory, created if missing.
    pub fn open() -> Result<Journal> {
        if crate::host::rootless() {
            own_private_dir(&state_dir())?;
        }
        Self::at(&state_dir().join("journal"))
    }

    pub fn at(dir: &Path) -> Result<Journal> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(
                format!(
                    "cannot create glassbox's journal directory {}",
                    dir.display()
                ),
                &e,
                "run as root, or set GLASSBOX_STATE_DIR to a directory you can write",
            )
        })?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            writes: true,
        })
    }

    /// The journal as a dry run sees it: what is recorded is read, nothing is written (not
    /// even its directory), and an entry "recorded" gets an id that names no file.
    pub fn read_only() -> Journal {
        Journal {
            dir: state_dir().join("journal"),
            writes: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write down a change *before* making it. Returns the entry's id, for [`Journal::strike`].
    pub fn record(&self, resource: Resource) -> Result<String> {
        self.record_for(resource, Owner::current())
    }

    /// As [`Journal::record`], for a change that lives as long as `owner`, another process
    /// (a running container's PID 1, for what `network connect` adds to it).
    pub fn record_for(&self, resource: Resource, owner: Owner) -> Result<String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let id = format!(
            "{:020}-{}-{}",
            now.as_nanos(),
            owner.pid,
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let entry = Entry {
            id: id.clone(),
            owner,
            created: now.as_secs(),
            netns: if resource.in_netns() {
                NetNs::current()
            } else {
                None
            },
            resource,
        };
        if !self.writes {
            return Ok(id);
        }
        let text = serde_json::to_vec_pretty(&entry).expect("a journal entry serializes");
        let tmp = self.dir.join(format!(".{id}.tmp"));
        let fail = |e: std::io::Error| {
            Error::io(
                format!("cannot write the journal entry {}", tmp.display()),
                &e,
                "check that the state directory is writable and not full",
            )
        };
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        // No fsync: the journal guards against glassbox being killed, and a killed process's
        // writes are already in the page cache. What a machine crash would lose (cgroups,
        // mounts, links, rules) a reboot has undone anyway. The rename keeps entries whole.
        f.write_all(&text).map_err(fail)?;
        std::fs::rename(&tmp, self.dir.join(format!("{id}.json"))).map_err(fail)?;
        Ok(id)
    }

    /// Entry `id`, written by another process that hands its change over to this one (and
    /// exits while the change lives on): the same change recorded as this process's, then
    /// the other's struck. Returns the new entry's id; None (the old entry left) if there
    /// was no such entry or the new one could not be written.
    pub fn take_over(&self, id: &str) -> Option<String> {
        let own = self.record(self.entry(id)?.resource).ok()?;
        self.strike(id);
        Some(own)
    }

    /// Strike off an entry once its change is undone. Striking a missing entry is fine.
    pub fn strike(&self, id: &str) {
        if !self.writes {
            return;
        }
        let _ = std::fs::remove_file(self.dir.join(format!("{id}.json")));
    }

    /// The entry `id`; None if it is not there or `id` cannot be an entry's id.
    pub fn entry(&self, id: &str) -> Option<Entry> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return None;
        }
        let bytes = std::fs::read(self.dir.join(format!("{id}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every entry, oldest first. Unreadable files are skipped (and left for a person to see).
    pub fn entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by(|a: &Entry, b: &Entry| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_then_strike() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path()).unwrap();
        let id = j
            .record(Resource::Dir {
                path: "/tmp/x".into(),
            })
            .unwrap();
        let e = j.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].resource,
            Resource::Dir {
                path: "/tmp/x".into()
            }
        );
        assert!(e[0].owner.is_alive());
        assert_eq!(e[0].netns, None, "a directory is in no network namespace");
        j.strike(&id);
        assert!(j.entries().is_empty());
    }

    #[test]
    fn an_entry_taken_over_is_this_process_s_and_the_old_one_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path()).unwrap();
        let mut front = Owner::current();
        front.start_time += 1; // another process's (one that has gone)
        let old = j
            .record_for(
                Resource::Dir {
                    path: "/tmp/y".into(),
                },
                front,
            )
            .unwrap();
        let new = j.take_over(&old).unwrap();
        let e = j.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, new);
        assert_eq!(
            e[0].resource,
            Resource::Dir {
                path: "/tmp/y".into()
            }
        );
        assert!(e[0].owner.is_alive(), "now this process's");
        assert_eq!(j.take_over("0-0-0"), None, "no such entry");
    }

    #[test]
    fn a_network_change_records_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path()).unwrap();
        j.record(Resource::Link { name: "x".into() }).unwrap();
        assert_eq!(j.entries()[0].netns, NetNs::current());
        assert!(NetNs::current().is_some());
    }

    #[test]
    fn an_owner_with_another_start_time_is_dead() {
        let mut o = Owner::current();
        o.start_time += 1;
        assert!(!o.is_alive());
    }
}

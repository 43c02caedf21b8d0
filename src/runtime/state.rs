//! A runtime container's state: `ROOT/ID/state.json`, and `ROOT/ID/exec.fifo` while it is
//! created but not started (runc keeps the same two).

use crate::error::{Error, Result};
use crate::stages::cgroups::freezer::Freezer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// The process's start time (/proc/PID/stat field 22): a pid reused by another process
    /// after the container ended is not taken for it.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: u64,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The cgroup directories made for it, removed by `delete`.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Set by `start` (and by a `kill` of a created one).
    #[serde(default)]
    pub started: bool,
}

/// A container id: what may become a directory name under --root.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{id:?} is not a usable container id"),
            "use letters, digits, '_', '.', '-' and '+', not starting with '.'",
        ))
    }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// The process's start time (field 22 of /proc/PID/stat), as the journal reads it: None
/// when there is no such process or it has ended (a zombie).
pub fn start_time(pid: i32) -> Option<u64> {
    crate::journal::start_time(u32::try_from(pid).ok()?)
}

impl State {
    pub fn load(root: &Path, id: &str) -> Result<State> {
        check_id(id)?;
        let path = dir(root, id).join("state.json");
        let bytes = std::fs::read(&path).map_err(|_| {
            Error::usage(
                format!("container {id} does not exist (no {})", path.display()),
                "list the containers with glassbox runtime list (and the same --root)",
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                format!("{} is not a container state: {e}", path.display()),
                "remove it with glassbox runtime delete --force",
            )
        })
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).expect("serialisable");
        crate::store::write_whole(&dir(root, &self.id).join("state.json"), &text)
    }

    pub fn alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid) == Some(self.start_time)
    }

    /// created (waiting on exec.fifo), running or stopped, as the runtime spec names them;
    /// paused (frozen by `pause`) as runc adds.
    pub fn status(&self) -> &'static str {
        match (self.alive(), self.started) {
            (false, _) => "stopped",
            (true, false) => "created",
            (true, true) if freezer(self).is_some_and(|f| f.is_frozen()) => "paused",
            (true, true) => "running",
        }
    }

    /// The state as the runtime spec's `state` operation shows it.
    pub fn public(&self) -> serde_json::Value {
        let status = self.status();
        let mut v = serde_json::json!({
            "ociVersion": oci_spec::runtime::VERSION,
            "id": self.id,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": crate::clock::rfc3339(self.created),
            "annotations": self.annotations,
        });
        if status != "stopped" {
            v["pid"] = self.pid.into();
        } else {
            v["pid"] = 0.into();
        }
        v
    }
}

/// Every container under `root`.
pub fn all(root: &Path) -> Vec<State> {
    let mut v: Vec<State> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| State::load(root, &e.file_name().to_string_lossy()).ok())
        .collect();
    v.sort_by_key(|s| (s.created, s.id.clone()));
    v
}
/// The container's freezer: cgroup.freeze in its v2 cgroup, or freezer.state in its v1 one.
pub fn freezer(s: &State) -> Option<Freezer> {
    s.cgroups.iter().find_map(|d| {
        [("cgroup.freeze", true), ("freezer.state", false)]
            .into_iter()
            .map(|(f, v2)| Freezer {
                file: d.join(f),
                v2,
            })
            .find(|f| f.file.exists())
    })
}

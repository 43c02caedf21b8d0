//! A container's cgroup directories on this host, found by its name (gb-ID under glassbox/
//! in each hierarchy), for the commands that read or change them: update, stats, top.

use crate::host::cgroups::CgroupHost;
use crate::stages::cgroups::PARENT;
use std::path::PathBuf;

/// One of the container's cgroups.
pub struct Dir {
    pub version: u8,
    /// The controllers of its hierarchy (none for the v2 group of a hybrid host).
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

impl Dir {
    pub fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }
}

/// The cgroups the container has now (none once it has ended: its supervisor removed them).
pub fn dirs(id: &str) -> Vec<Dir> {
    let host = CgroupHost::current();
    let name = crate::store::containers::cgroup_name(id);
    let mut found: Vec<Dir> = host
        .v1_hierarchies
        .iter()
        .map(|(ctrls, mount)| Dir {
            version: 1,
            controllers: ctrls.clone(),
            path: mount.join(PARENT).join(&name),
        })
        .collect();
    if let Some(m) = &host.v2_mount {
        found.push(Dir {
            version: 2,
            controllers: host.v2_controllers.clone(),
            path: m.join(PARENT).join(&name),
        });
    }
    found.retain(|d| d.path.is_dir());
    found
}

/// The directory of the container's cgroup that has `controller`, if it has one.
pub fn with(dirs: &[Dir], controller: &str) -> Option<PathBuf> {
    dirs.iter()
        .find(|d| d.has(controller))
        .map(|d| d.path.clone())
}

/// A number from a cgroup file (`max` and unreadable files are None).
pub fn number(path: PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

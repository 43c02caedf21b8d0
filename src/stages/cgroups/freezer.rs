//! The freezer: stop every process of a cgroup where it stands, and let them run again.
//! `pause`/`unpause` use it as docker does, and cgroup v1's kill of a whole cgroup freezes
//! it first so nothing forks meanwhile. v2 writes 1 or 0 to `cgroup.freeze` (any v2 cgroup
//! has it, controllers or not); v1 writes FROZEN or THAWED to the freezer's `freezer.state`.

use super::{explain_file, write_diagnosis, PARENT};
use crate::error::Result;
use crate::host::cgroups::CgroupHost;
use crate::sys::Sys;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One cgroup's freezer file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freezer {
    pub file: PathBuf,
    pub v2: bool,
}

impl Freezer {
    /// The freezer of cgroup `name` under glassbox's parent: the v2 one when the host has a
    /// v2 tree, else the v1 freezer hierarchy's. None if the cgroup has neither.
    pub fn of(host: &CgroupHost, name: &str) -> Option<Freezer> {
        if let Some(f) = host.v2_mount.as_ref().and_then(|m| Self::v2_under(m, name)) {
            return Some(f);
        }
        host.place("freezer")
            .filter(|p| p.version == 1)
            .map(|p| p.mount.join(PARENT).join(name).join("freezer.state"))
            .filter(|file| file.exists())
            .map(|file| Freezer { file, v2: false })
    }

    /// The v2 freezer of cgroup `name` under glassbox's parent, with cgroup v2 mounted at
    /// `mount`; None if there is no such cgroup.
    pub fn v2_under(mount: &Path, name: &str) -> Option<Freezer> {
        let file = mount.join(PARENT).join(name).join("cgroup.freeze");
        file.exists().then_some(Freezer { file, v2: true })
    }

    /// Whether the cgroup is frozen (or freezing) now.
    pub fn is_frozen(&self) -> bool {
        let now = std::fs::read_to_string(&self.file).unwrap_or_default();
        match self.v2 {
            true => now.trim() == "1",
            false => matches!(now.trim(), "FROZEN" | "FREEZING"),
        }
    }

    /// Whether every process has stopped: v2 says so in cgroup.events, v1 in freezer.state.
    fn settled(&self) -> bool {
        if self.v2 {
            let events = self.file.with_file_name("cgroup.events");
            std::fs::read_to_string(events)
                .unwrap_or_default()
                .lines()
                .any(|l| l.trim() == "frozen 1")
        } else {
            std::fs::read_to_string(&self.file)
                .unwrap_or_default()
                .trim()
                == "FROZEN"
        }
    }

    /// Freeze every process of the cgroup, and wait (up to 3 s) until all have stopped.
    pub fn freeze(&self, sys: &Sys, why: &str) -> Result<()> {
        let value = if self.v2 { "1" } else { "FROZEN" };
        sys.write_file(&self.file, value, why, write_diagnosis(&self.file, value))?;
        explain_file(sys, self.name());
        sys.wait_until(Duration::from_secs(3), || self.settled());
        Ok(())
    }

    /// Let the processes run again.
    pub fn thaw(&self, sys: &Sys, why: &str) -> Result<()> {
        let value = if self.v2 { "0" } else { "THAWED" };
        sys.write_file(&self.file, value, why, write_diagnosis(&self.file, value))?;
        explain_file(sys, self.name());
        Ok(())
    }

    fn name(&self) -> &'static str {
        if self.v2 {
            "cgroup.freeze"
        } else {
            "freezer.state"
        }
    }
}

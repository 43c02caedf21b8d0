//! Where the cgroup controllers live on this host: cgroup v1, v2 or hybrid.
//!
//! Read from the mount table (cgroup and cgroup2 mounts) and from the v2 root's
//! `cgroup.controllers`: a controller mounted on a v1 hierarchy is not available in v2.

use super::mountinfo::Mount;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The controllers glassbox uses.
pub const CONTROLLERS: &[&str] = &["memory", "cpu", "pids"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only the unified hierarchy (most current distributions).
    V2,
    /// Only per-controller hierarchies (older hosts).
    V1,
    /// Both: controllers on v1, a v2 hierarchy beside them (systemd's hybrid mode, WSL2).
    Hybrid,
    /// No cgroup filesystem is mounted.
    None,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::V2 => "cgroup v2 (unified)",
            Layout::V1 => "cgroup v1",
            Layout::Hybrid => {
                "hybrid (controllers on cgroup v1, a cgroup v2 hierarchy beside them)"
            }
            Layout::None => "no cgroup filesystem mounted",
        }
    }
}

/// Where one controller lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub version: u8,
    /// The hierarchy's mount point: `/sys/fs/cgroup/memory` (v1) or `/sys/fs/cgroup` (v2).
    pub mount: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupHost {
    pub layout: Layout,
    /// The cgroup2 mount point, if any.
    pub v2_mount: Option<PathBuf>,
    /// The controllers the v2 root offers (`cgroup.controllers`).
    pub v2_controllers: Vec<String>,
    /// Each v1 hierarchy: its controllers and mount point.
    pub v1_hierarchies: Vec<(Vec<String>, PathBuf)>,
}

impl CgroupHost {
    /// Read the layout from a mount table; `read` reads a file (the real one or a sample).
    pub fn detect(mounts: &[Mount], read: impl Fn(&Path) -> Option<String>) -> Self {
        let v2_mount = mounts
            .iter()
            .find(|m| m.fstype == "cgroup2")
            .map(|m| m.mount_point.clone());
        let v2_controllers = v2_mount
            .as_ref()
            .and_then(|m| read(&m.join("cgroup.controllers")))
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let mut v1_hierarchies: Vec<(Vec<String>, PathBuf)> = Vec::new();
        for m in mounts.iter().filter(|m| m.fstype == "cgroup") {
            let ctrls: Vec<String> = m
                .super_options
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                .filter(|o| !o.starts_with("clone_children") && *o != "noprefix" && *o != "xattr")
                .map(String::from)
                .collect();
            // The same hierarchy can be mounted twice: keep the first mount point.
            if !v1_hierarchies.iter().any(|(c, _)| *c == ctrls) {
                v1_hierarchies.push((ctrls, m.mount_point.clone()));
            }
        }
        let has_v1 = v1_hierarchies.iter().any(|(c, _)| !c.is_empty());
        let layout = match (has_v1, v2_mount.is_some()) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::V1,
            (false, true) => Layout::V2,
            (false, false) => Layout::None,
        };
        CgroupHost {
            layout,
            v2_mount,
            v2_controllers,
            v1_hierarchies,
        }
    }

    /// This host's layout.
    pub fn current() -> Self {
        Self::detect(&super::mountinfo::current(), |p| super::read_small(p).ok())
    }

    /// Where `controller` lives: on a v1 hierarchy if one has it, else in v2 if offered there.
    pub fn place(&self, controller: &str) -> Option<Place> {
        if let Some((_, mount)) = self
            .v1_hierarchies
            .iter()
            .find(|(c, _)| c.iter().any(|x| x == controller))
        {
            return Some(Place {
                version: 1,
                mount: mount.clone(),
            });
        }
        let v2 = self.v2_mount.as_ref()?;
        self.v2_controllers
            .iter()
            .any(|c| c == controller)
            .then(|| Place {
                version: 2,
                mount: v2.clone(),
            })
    }
}

/// The cgroup v2 subtree delegated to the user: the highest directory above their own
/// cgroup (/proc/self/cgroup) whose cgroup.procs they may write (systemd's user@UID.service,
/// or a scope made with `systemd-run --user -p Delegate=yes`), if it offers `controllers`.
/// glassbox's cgroups then go under it, as under the host's root (a rootless
/// run, pause, and `glassbox cgroup` without root).
pub fn delegated(host: &CgroupHost, controllers: &[&str]) -> Option<CgroupHost> {
    let mount = host
        .v2_mount
        .as_ref()
        .filter(|_| host.layout == Layout::V2)?;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let may_write = |d: &Path| {
        crate::sys::quiet::may_write(&d.join("cgroup.procs")) && crate::sys::quiet::may_write(d)
    };
    let top = mount
        .join(own.trim_start_matches('/'))
        .ancestors()
        .take_while(|d| d.starts_with(mount) && d != mount && may_write(d))
        .last()?
        .to_path_buf();
    let offered: Vec<String> = std::fs::read_to_string(top.join("cgroup.controllers"))
        .ok()?
        .split_whitespace()
        .map(String::from)
        .collect();
    controllers
        .iter()
        .all(|c| offered.iter().any(|o| o == c))
        .then(|| CgroupHost {
            layout: Layout::V2,
            v2_mount: Some(top),
            v2_controllers: offered,
            v1_hierarchies: Vec::new(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::mountinfo::parse;

    /// This machine's layout: memory, cpu and pids on v1, an empty v2 beside them.
    pub(crate) const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2: &str = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    const V1: &str = "\
25 18 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw shared:8 - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw shared:10 - cgroup cgroup rw,pids
";

    #[test]
    fn hybrid_layout_puts_controllers_on_v1() {
        let h = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        assert_eq!(h.layout, Layout::Hybrid);
        assert_eq!(
            h.place("memory").unwrap(),
            Place {
                version: 1,
                mount: "/sys/fs/cgroup/memory".into()
            }
        );
        assert_eq!(
            h.place("pids").unwrap().mount,
            PathBuf::from("/sys/fs/cgroup/pids")
        );
        assert_eq!(h.v2_mount, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert!(h.place("io").is_none());
    }

    #[test]
    fn v2_layout_reads_the_offered_controllers() {
        let h = CgroupHost::detect(&parse(V2), |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup/cgroup.controllers"));
            Some("cpuset cpu io memory pids\n".into())
        });
        assert_eq!(h.layout, Layout::V2);
        assert_eq!(
            h.place("cpu").unwrap(),
            Place {
                version: 2,
                mount: "/sys/fs/cgroup".into()
            }
        );
        assert!(h.place("hugetlb").is_none());
    }

    #[test]
    fn v1_layout_with_comounted_controllers() {
        let h = CgroupHost::detect(&parse(V1), |_| None);
        assert_eq!(h.layout, Layout::V1);
        assert_eq!(
            h.place("cpu").unwrap().mount,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(h.place("cpuacct").unwrap().version, 1);
    }

    #[test]
    fn no_cgroups_at_all() {
        let h = CgroupHost::detect(&parse("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), |_| None);
        assert_eq!(h.layout, Layout::None);
        assert!(h.place("memory").is_none());
    }
}

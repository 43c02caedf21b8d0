//! The container's own view of its cgroups, as Docker gives it (`--cgroupns private`):
//! a cgroup namespace, and its cgroups mounted read-only at /sys/fs/cgroup.
//!
//! Once the container's first process is in its cgroups it unshares CLONE_NEWCGROUP: the
//! cgroups it is in become the roots of its view, so /proc/self/cgroup reads `0::/` and a
//! cgroup filesystem mounted from inside shows only the container's own subtree. Then, as
//! runc (libcontainer/rootfs_linux.go, mountCgroupV1/V2) does: on pure cgroup v2 one
//! cgroup2 mount at /sys/fs/cgroup; on v1 and hybrid a tmpfs there holding one cgroup mount
//! per hierarchy (`memory`; `cpu,cpuacct` with links `cpu` and `cpuacct` to it; `unified`
//! for the v2 tree), everything read-only.
//!
//! Only the hierarchies the container has a cgroup of its own in are mounted. In the others
//! the namespace's root is glassbox's own cgroup — often the host's root — whose tree is
//! not the container's to see (Docker makes a cgroup in every hierarchy; glassbox makes only
//! those its limits need, plus the v2 one).

use crate::error::Result;
use crate::host::cgroups::Layout;
use crate::stages::cgroups;
use crate::stages::ops::{self, Op, Place};
use crate::sys::mount::Refused;
use crate::sys::Sys;
use std::path::Path;

/// Where the container finds its cgroups, as on every Linux.
pub const TARGET: &str = "sys/fs/cgroup";

/// One cgroup filesystem to mount under /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory under /sys/fs/cgroup, named as on the host (`memory`, `unified`).
    pub dir: String,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: &'static str,
    /// A v1 hierarchy's controllers, as its mount option (`cpu,cpuacct`, `name=systemd`).
    pub data: Option<String>,
    /// Links to `dir` for each controller of a co-mounted hierarchy (`cpu`, `cpuacct`).
    pub links: Vec<String>,
}

/// What the container will see, decided before any call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Pure v2: one cgroup2 mount on /sys/fs/cgroup itself, no tmpfs.
    pub unified: bool,
    pub hierarchies: Vec<Hierarchy>,
}

impl Plan {
    /// The container has no cgroup of its own: no namespace, nothing to mount.
    pub fn is_empty(&self) -> bool {
        self.hierarchies.is_empty()
    }
}

/// The view of the cgroups `cg` makes. The plan knows the host's layout already: the child,
/// where this is asked, need not read the mount table and cgroup.controllers again.
pub fn plan(cg: &cgroups::Plan) -> Plan {
    let unified = cg.layout == Layout::V2;
    let mut hierarchies = Vec::new();
    for g in &cg.groups {
        let dir = g
            .mount
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if g.version == 2 {
            hierarchies.push(Hierarchy {
                dir,
                fstype: "cgroup2",
                data: None,
                links: Vec::new(),
            });
            continue;
        }
        // The mount option must name the hierarchy's controllers exactly as the host has
        // them, or the kernel refuses to attach a mount to it.
        let ctrls = g.hierarchy.clone();
        let links = if ctrls.len() > 1 {
            ctrls.iter().filter(|c| **c != dir).cloned().collect()
        } else {
            Vec::new()
        };
        hierarchies.push(Hierarchy {
            dir,
            fstype: "cgroup",
            data: Some(ctrls.join(",")),
            links,
        });
    }
    Plan {
        unified,
        hierarchies,
    }
}

/// In the container's first process, once it is in all its cgroups: a cgroup namespace
/// whose roots are those cgroups.
pub fn unshare(sys: &Sys, p: &Plan) -> Result<()> {
    if p.is_empty() {
        sys.narrator.note("the container has no cgroup of its own on this host (no limits were asked for, and there is no cgroup v2 tree): no cgroup namespace, /proc/self/cgroup shows glassbox's cgroups by their host paths");
        return Ok(());
    }
    sys.unshare(
        libc::CLONE_NEWCGROUP,
        "a cgroup namespace: the container's cgroups become the roots of its view, so /proc/self/cgroup reads 0::/ and it cannot learn where on the host they are",
    )
}

/// Mount the container's cgroups read-only at /sys/fs/cgroup under `root` (after sysfs is
/// mounted there, and inside the cgroup namespace: a cgroup mount shows its root's subtree).
pub fn mount(sys: &Sys, root: &Path, p: &Plan) -> Result<()> {
    let n = sys.narrator;
    if p.is_empty() {
        return Ok(());
    }
    n.note("/sys/fs/cgroup: the container's own cgroups, read-only, as docker mounts them");
    let target = match sys.resolve_mounted(root, TARGET) {
        Ok(t) => t,
        Err(Refused::Missing) => {
            n.note("this kernel's sysfs has no fs/cgroup directory: the cgroups are not mounted");
            return Ok(());
        }
        Err(_) => {
            return Err(crate::error::Error::new(
                format!(
                    "{} is not a directory of the container's sysfs",
                    root.join(TARGET).display()
                ),
                "mount sys before the cgroups (leave sys in the mount stage's filesystems)",
            ))
        }
    };
    ops::execute(sys, &mount_ops(p, &target.path, &target.at()))
}

/// The mounts of the container's cgroups on `target` (its /sys/fs/cgroup), in order. The
/// first goes onto `at`, the descriptor the check of `target` opened (/proc/self/fd/N), so
/// a symlink swapped in since cannot redirect it; what follows is inside that new mount.
pub fn mount_ops(p: &Plan, target: &Path, at: &Path) -> Vec<Op> {
    let fixed = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if p.unified {
        return vec![mount_one(at, target, "cgroup2", None, fixed)];
    }
    let data = "mode=755";
    // A remount names no source or type: only the flags change.
    let tmpfs = |remount: bool, flags, why: &str, by_hand: String| Op::Mount {
        source: (!remount).then(|| "tmpfs".into()),
        // A remount changes the mount on top: by its path, not the directory under it.
        target: Place::Path(if remount { target } else { at }.to_path_buf()),
        fstype: (!remount).then(|| "tmpfs".into()),
        flags,
        data: Some(data.into()),
        why: why.into(),
        by_hand,
    };
    let mut ops = vec![tmpfs(
        false,
        fixed,
        "a small tmpfs on /sys/fs/cgroup to hold one directory per cgroup hierarchy, as on a cgroup v1 host",
        format!("mount -t tmpfs -o nosuid,nodev,noexec,{data} tmpfs {}", target.display()),
    )];
    for h in &p.hierarchies {
        let dir = target.join(&h.dir);
        ops.push(Op::MakeDir {
            path: dir.clone(),
            mode: 0o755,
            why: format!("the mount point of the {} hierarchy", h.dir),
        });
        ops.push(mount_one(&dir, &dir, h.fstype, h.data.as_deref(), fixed));
        for l in &h.links {
            ops.push(Op::Symlink {
                to: h.dir.clone(),
                dir: Place::Path(target.to_path_buf()),
                name: l.clone(),
                why: format!(
                    "{l} is co-mounted in {}: a link finds it by its own name",
                    h.dir
                ),
            });
        }
    }
    ops.push(tmpfs(
        true,
        fixed | libc::MS_REMOUNT | libc::MS_RDONLY,
        "and the tmpfs read-only too: nothing can be added beside the hierarchies",
        format!("mount -o remount,ro {}", target.display()),
    ));
    ops
}

/// One cgroup filesystem, read-only, onto `at` (the path `shown`): inside the namespace its
/// root is the container's cgroup.
fn mount_one(
    at: &Path,
    shown: &Path,
    fstype: &'static str,
    data: Option<&str>,
    fixed: libc::c_ulong,
) -> Op {
    let what = data.unwrap_or("the v2 tree");
    let opts = data.map(|d| format!(",{d}")).unwrap_or_default();
    Op::Mount {
        source: Some("cgroup".into()),
        target: Place::Path(at.to_path_buf()),
        fstype: Some(fstype.into()),
        flags: fixed | libc::MS_RDONLY,
        data: data.map(String::from),
        why: format!("{what}, from the container's cgroup down, read-only: it may read its limits and usage, not change them"),
        by_hand: format!("mount -t {fstype} -o ro,nosuid,nodev,noexec{opts} cgroup {}", shown.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cgroups::CgroupHost;
    use crate::host::mountinfo::parse;
    use crate::stages::cgroups::limits::Limits;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2: &str = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";

    fn limits(memory: bool, cpu: bool) -> Limits {
        Limits {
            memory: memory.then_some(64 << 20),
            cpu_shares: cpu.then_some(512),
            ..Limits::default()
        }
    }

    #[test]
    fn hybrid_mounts_each_own_hierarchy_and_links_comounted_ones() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let cg = cgroups::plan(&host, &limits(true, true), "c").unwrap();
        let p = plan(&cg);
        assert!(!p.unified);
        let shown: Vec<_> = p
            .hierarchies
            .iter()
            .map(|h| (h.dir.as_str(), h.fstype, h.data.as_deref(), h.links.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("memory", "cgroup", Some("memory"), vec![]),
                (
                    "cpu,cpuacct",
                    "cgroup",
                    Some("cpu,cpuacct"),
                    vec!["cpu".to_string(), "cpuacct".to_string()]
                ),
                ("unified", "cgroup2", None, vec![]),
            ]
        );
    }

    #[test]
    fn a_hybrid_host_mounts_a_tmpfs_then_each_hierarchy_then_makes_it_read_only() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let p = plan(&cgroups::plan(&host, &limits(false, true), "c").unwrap());
        let t = Path::new("/r/sys/fs/cgroup");
        let lines = ops::lines(&mount_ops(&p, t, Path::new("/proc/self/fd/9")));
        assert_eq!(
            lines,
            [
                "mount(\"tmpfs\", \"/proc/self/fd/9\", \"tmpfs\", MS_NOSUID|MS_NODEV|MS_NOEXEC, \"mode=755\")",
                "mkdir(\"/r/sys/fs/cgroup/cpu,cpuacct\", 0755)",
                "mount(\"cgroup\", \"/r/sys/fs/cgroup/cpu,cpuacct\", \"cgroup\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, \"cpu,cpuacct\")",
                "symlink(\"cpu,cpuacct\", \"/r/sys/fs/cgroup/cpu\")",
                "symlink(\"cpu,cpuacct\", \"/r/sys/fs/cgroup/cpuacct\")",
                "mkdir(\"/r/sys/fs/cgroup/unified\", 0755)",
                "mount(\"cgroup\", \"/r/sys/fs/cgroup/unified\", \"cgroup2\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                "mount(NULL, \"/r/sys/fs/cgroup\", NULL, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT, \"mode=755\")",
            ]
        );
    }

    #[test]
    fn without_limits_only_the_v2_tree_and_on_v2_one_mount() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let p = plan(&cgroups::plan(&host, &Limits::default(), "c").unwrap());
        assert_eq!(p.hierarchies.len(), 1);
        assert_eq!(p.hierarchies[0].dir, "unified");
        let v2 = CgroupHost::detect(&parse(V2), |_| Some("memory pids\n".into()));
        let p = plan(&cgroups::plan(&v2, &limits(true, false), "c").unwrap());
        assert!(p.unified);
        assert_eq!(p.hierarchies.len(), 1);
    }

    #[test]
    fn pure_v1_without_limits_has_nothing_of_its_own() {
        let v1 = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let host = CgroupHost::detect(&parse(v1), |_| None);
        let p = plan(&cgroups::plan(&host, &Limits::default(), "c").unwrap());
        assert!(p.is_empty());
    }
}

//! The cgroups at the path an engine names in config.json (`linux.cgroupsPath`), made as
//! runc's cgroupfs driver makes them: podman gives `/libpod_parent/libpod-ID`, containerd
//! `/default/ID`. runc puts the container in that path in every hierarchy (each cgroup v1
//! one and the v2 one), making missing parents, and its delete removes only the container's
//! own directory: the parents are the engine's, shared by its other containers.
//! An absolute path starts at each hierarchy's root; a relative one under the cgroup the
//! runtime itself is in (runc's rule, for engines running inside a container).

use super::{enable_controllers, plan_groups, Group, Plan};
use crate::error::{Error, Result};
use crate::host::cgroups::CgroupHost;
use crate::sys::Sys;
use std::path::{Component, Path, PathBuf};

/// A plan for the cgroup at `path` (as config.json spells it), in every hierarchy.
pub fn plan(host: &CgroupHost, limits: &super::Limits, path: &Path, devices: bool) -> Result<Plan> {
    let (parents, name) = split(path)?;
    let mut p = plan_groups(host, limits, &name, devices)?;
    for (_, mount) in &host.v1_hierarchies {
        if !p.groups.iter().any(|g| g.version == 1 && g.mount == *mount) {
            p.groups
                .push(Group::new(1, mount.clone(), Vec::new()).on(host));
        }
    }
    // v2 last: made last, removed first (its cgroup.kill ends every process).
    p.groups.sort_by_key(|g| g.version == 2);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for g in &mut p.groups {
        let base = if path.is_absolute() {
            String::new()
        } else {
            own_cgroup(&own, host, g).unwrap_or_default()
        };
        g.parent = g.mount.join(base.trim_start_matches('/')).join(&parents);
    }
    Ok(p)
}

/// The path's parents (relative) and last part; `..` and `.` refused, as the path could
/// otherwise leave the hierarchy (runc cleans it lexically; glassbox says no instead).
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::RootDir => {}
            _ => {
                return Err(Error::usage(
                    format!(
                        "linux.cgroupsPath {} climbs with . or ..: refused, it could leave the cgroup tree",
                        path.display()
                    ),
                    "give a plain path such as /libpod_parent/NAME",
                ))
            }
        }
    }
    let Some(name) = parts.pop() else {
        return Err(Error::usage(
            format!(
                "linux.cgroupsPath {:?} names the root cgroup, which is the host's",
                path.display().to_string()
            ),
            "give a path below it, such as /default/ID",
        ));
    };
    Ok((parts.iter().collect(), name))
}

/// The cgroup of this process in `g`'s hierarchy, from /proc/self/cgroup (`own`): the `0::`
/// line for v2; for v1 the line with the hierarchy's controllers (or `name=`).
fn own_cgroup(own: &str, host: &CgroupHost, g: &Group) -> Option<String> {
    let want: Vec<String> = if g.version == 2 {
        Vec::new()
    } else {
        let (ctrls, mount) = host.v1_hierarchies.iter().find(|(_, m)| *m == g.mount)?;
        if ctrls.is_empty() {
            vec![format!("name={}", mount.file_name()?.to_string_lossy())]
        } else {
            ctrls.clone()
        }
    };
    own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let have: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        let same = have.len() == want.len() && want.iter().all(|w| have.contains(&w.as_str()));
        (same && (g.version == 1) == (id != "0")).then(|| path.to_string())
    })
}

/// Make the engine's parents that are missing (runc's mkdir -p), each usable: cpuset's
/// CPUs and memory nodes copied down, v2 controllers handed down. Left when the container
/// goes, as runc leaves them.
pub fn ensure_parents(sys: &Sys, g: &Group) -> Result<()> {
    let rel = g.parent.strip_prefix(&g.mount).unwrap_or(Path::new(""));
    let mut dir = g.mount.clone();
    let hand_down = g.version == 2 && !g.controllers.is_empty();
    for part in rel.components() {
        if hand_down {
            enable_controllers(sys, &dir, &g.controllers, "the engine's cgroupsPath")?;
        }
        dir.push(part);
        if dir.exists() {
            continue;
        }
        match sys.mkdir(
            &dir,
            0o755,
            "a parent the engine's cgroupsPath names, made as runc makes it and left for the engine's other containers",
        ) {
            Err(e) if e.errno != Some(nix::errno::Errno::EEXIST) => return Err(e),
            _ if g.has_cpuset() => copy_cpuset(sys, &dir)?,
            _ => {}
        }
    }
    if hand_down {
        enable_controllers(sys, &dir, &g.controllers, "the engine's cgroupsPath")?;
    }
    Ok(())
}

/// cgroup v1's cpuset starts a new cgroup with no CPUs and no memory nodes, and a process
/// cannot join it (ENOSPC): give it its parent's, as runc does. Only in the cpuset's
/// hierarchy (the host's layout says which): elsewhere the files do not exist, and on v2 an
/// empty cpuset.cpus means the parent's.
pub fn copy_cpuset(sys: &Sys, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = dir.join(file);
        let empty = std::fs::read_to_string(&mine).is_ok_and(|s| s.trim().is_empty());
        let Some(parent) = dir.parent() else { continue };
        let theirs = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
        if empty && !theirs.trim().is_empty() {
            sys.write_file_plain(
                &mine,
                theirs.trim(),
                "a new cpuset cgroup has no CPUs or memory nodes: its parent's, so a process may join it",
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cgroups::tests::HYBRID;
    use crate::host::mountinfo::parse;

    #[test]
    fn podmans_path_is_made_in_every_hierarchy_under_its_own_parent() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let limits = super::super::Limits {
            memory: Some(32 << 20),
            ..Default::default()
        };
        let p = plan(&host, &limits, Path::new("/libpod_parent/libpod-1"), false).unwrap();
        let dirs: Vec<String> = p.dirs().iter().map(|d| d.display().to_string()).collect();
        assert_eq!(dirs[0], "/sys/fs/cgroup/memory/libpod_parent/libpod-1");
        assert_eq!(
            dirs.last().unwrap(),
            "/sys/fs/cgroup/unified/libpod_parent/libpod-1"
        );
        assert_eq!(dirs.len(), host.v1_hierarchies.len() + 1);
        assert_eq!(p.groups[0].writes[0].file, "memory.limit_in_bytes");
    }

    #[test]
    fn climbing_and_root_paths_are_refused() {
        assert!(split(Path::new("/a/../../b")).is_err());
        assert!(split(Path::new("/")).is_err());
        let (parents, name) = split(Path::new("/default/ctr-1")).unwrap();
        assert_eq!(
            (parents, name.as_str()),
            (PathBuf::from("default"), "ctr-1")
        );
    }

    #[test]
    fn a_relative_path_goes_under_the_runtimes_own_cgroup() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let own = "4:memory:/user.slice\n0::/user.slice/session-1.scope\n";
        let mem = Group::new(1, "/sys/fs/cgroup/memory".into(), Vec::new());
        let v2 = Group::new(2, "/sys/fs/cgroup/unified".into(), Vec::new());
        assert_eq!(own_cgroup(own, &host, &mem).unwrap(), "/user.slice");
        assert_eq!(
            own_cgroup(own, &host, &v2).unwrap(),
            "/user.slice/session-1.scope"
        );
    }

    /// cgroup v2: the engine's parents hand the controllers down, level by level, to the
    /// container's cgroup (a directory standing in for the v2 root).
    #[test]
    fn on_v2_each_parent_hands_the_controllers_down() {
        let root = tempfile::tempdir().unwrap();
        let mount = root.path().to_path_buf();
        let parent = mount.join("libpod_parent");
        std::fs::create_dir(&parent).unwrap();
        for d in [&mount, &parent] {
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        let mut g = Group::new(2, mount.clone(), vec!["memory", "pids"]);
        g.parent = parent.clone();
        let narrator = crate::narrate::Narrator::silent();
        ensure_parents(&Sys::new(&narrator), &g).unwrap();
        for d in [&mount, &parent] {
            let enabled = std::fs::read_to_string(d.join("cgroup.subtree_control")).unwrap();
            assert_eq!(enabled, "+memory +pids", "{}", d.display());
        }
    }
}

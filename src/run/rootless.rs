//! `glassbox run` as an ordinary user ("rootless"), as podman and rootless docker do it.
//!
//! The child is cloned into a new user namespace together with its other namespaces (one
//! clone(2) with CLONE_NEWUSER: the kernel makes the user namespace first and the others
//! belong to it, so an ordinary user may make them all). While it waits at its gate, the
//! parent gives it its ids:
//!
//! - with a range of the user's in /etc/subuid and /etc/subgid, through the setuid helpers
//!   newuidmap(1) and newgidmap(1) (Debian's `uidmap`), which check the range is the user's:
//!   root inside is the user's own uid, and ids 1…COUNT inside are the range — room for
//!   every user an image has;
//! - without one, the parent writes the maps itself, as `unshare --map-root-user` does: only
//!   the user's own uid and gid, as root inside (setgroups denied first, as the kernel asks
//!   of an unprivileged writer).
//!
//! Because root inside is the user's own uid, an image the user exported (every file theirs)
//! belongs to root inside: no shifted copy as `--userns private` needs. The overlay is
//! mounted inside the user namespace (allowed from kernel 5.11) with `userxattr`.
//!
//! What needs the host's root is refused before anything is made, one sentence each (see
//! [`refuse`]), and what is left out is said once (see [`announce`]).

use crate::error::{Error, Result};
use crate::host::cgroups::CgroupHost;
use crate::stages::network::NetworkMode;
use crate::store::idmap::Range;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// The ids of a rootless container's user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// The user glassbox runs as: root inside.
    pub uid: u32,
    pub gid: u32,
    /// The user's ranges in /etc/subuid and /etc/subgid (ids 1… inside), written with
    /// newuidmap/newgidmap; None: only the user's own ids are mapped.
    pub ranges: Option<(Range, Range)>,
    /// Why it is this mapping, in plain words.
    pub source: String,
    /// The cgroup v2 subtree delegated to the user, standing in for the host's cgroup
    /// tree, when limits were asked for and it has their controllers.
    pub cgroups: Option<CgroupHost>,
}

/// The mapping for the user glassbox runs as.
pub fn load() -> Result<Ids> {
    let (uid, gid) = (crate::sys::quiet::euid(), crate::sys::quiet::egid());
    let name = crate::sys::quiet::user_name(uid).unwrap_or_else(|| uid.to_string());
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let uids = range_for(&read("/etc/subuid"), &name, uid);
    let gids = range_for(&read("/etc/subgid"), &name, uid);
    let helpers = helper("newuidmap").zip(helper("newgidmap"));
    let (ranges, source) = match (uids, gids, helpers) {
        (Some(u), Some(g), Some(_)) => (
            Some((u, g)),
            format!(
                "{name}'s ranges in /etc/subuid ({}:{}) and /etc/subgid ({}:{}), written by newuidmap and newgidmap",
                u.start, u.count, g.start, g.count
            ),
        ),
        (Some(_), Some(_), None) => (
            None,
            format!("{name} has ranges in /etc/subuid and /etc/subgid, but newuidmap or newgidmap is missing (apt-get install uidmap): only uid {uid} is mapped, as root"),
        ),
        _ => (
            None,
            format!("{name} has no range in /etc/subuid and /etc/subgid: only uid {uid} is mapped, as root; every other id shows as 65534 (nobody) inside (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name})"),
        ),
    };
    Ok(Ids {
        uid,
        gid,
        ranges,
        source,
        cgroups: None,
    })
}

pub use crate::host::cgroups::delegated;

/// The first `NAME:START:COUNT` (or `UID:START:COUNT`) line for the user, if it is usable.
pub fn range_for(text: &str, name: &str, uid: u32) -> Option<Range> {
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.trim().split(':').collect();
        let [who, start, count] = f[..] else {
            return None;
        };
        if who != name && who != uid {
            return None;
        }
        let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
        (start > 0 && count > 0 && start as u64 + count as u64 <= u32::MAX as u64)
            .then_some(Range { start, count })
    })
}

/// Where a setuid helper is: on PATH, or in /usr/bin.
pub fn helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether overlayfs may be mounted inside a user namespace (kernel 5.11 and later).
pub fn overlay_in_userns() -> bool {
    let release = crate::sys::quiet::kernel_release();
    let mut n = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0)) >= (5, 11)
}

/// Refuse, before anything is made, what an ordinary user cannot have. `--network bridge`
/// is the user-mode network (see usernet.rs); a network of `glassbox network create` is a
/// bridge of the host's, which needs root.
pub fn refuse(network: &NetworkMode, limits: bool, userns_private: bool) -> Result<()> {
    let no = |what: String, todo: &str| Err(Error::usage(what, todo));
    if userns_private {
        return no(
            "--userns private is for glassbox run as root: without root every container has a user namespace of its own already".into(),
            "leave out --userns private",
        );
    }
    if matches!(network, NetworkMode::Bridge(n) if n != "bridge") {
        return no(
            format!("--network {} needs root: a user-defined network is a bridge and firewall rules in the host's network namespace, which an ordinary user may not change", network.name()),
            "use --network bridge (without root: a user-mode network through slirp4netns), none or host, or run glassbox as root",
        );
    }
    if limits {
        return no(
            "--memory, --cpus and --pids need root here: the cgroup tree belongs to root, and no cgroup v2 subtree with their controllers is delegated to you".into(),
            "leave out the limits, run glassbox as root, or run it in a delegated subtree on a cgroup v2 host (systemd-run --user --scope -p Delegate=yes glassbox run …)",
        );
    }
    Ok(())
}

/// Without a range of ids, the container has no user but root.
pub fn refuse_user(user: Option<(u32, u32)>, ids: &Ids) -> Result<()> {
    if let (Some((uid, _)), None) = (user, &ids.ranges) {
        if uid != 0 {
            return Err(Error::usage(
                format!("user {uid} does not exist in the container: only your own uid is mapped into it (as root), since you have no range in /etc/subuid"),
                "leave out -u, or have root give you a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 YOUR-NAME",
            ));
        }
    }
    Ok(())
}

/// The stage header: the mapping, and what is left out without root (said once).
pub fn announce(sys: &Sys, ids: &Ids) {
    let n = sys.narrator;
    n.stage(
        "rootless",
        &format!(
            "glassbox runs as uid {}, not root: the container gets a user namespace of its own, in which uid {} is root",
            ids.uid, ids.uid
        ),
    );
    n.note(&format!("the mapping: {}", ids.source));
    let cgroup = match &ids.cgroups {
        Some(h) => format!(
            "its cgroup under {}, the cgroup v2 subtree delegated to you",
            h.v2_mount.as_deref().unwrap_or(Path::new("?")).display()
        ),
        None => {
            "no cgroup of its own (its processes stay in your own cgroup, unlimited and uncounted)"
                .into()
        }
    };
    n.note(&format!("without root: {cgroup}, no bridge of the host's (--network bridge is a user-mode network through slirp4netns), and root inside can change only what its user namespace owns and what your uid may change on the host"));
}

/// In the parent, while the child waits at its gate: give it its ids (`None`: a dry run).
pub fn write_maps(sys: &Sys, pid: Option<i32>, ids: &Ids) -> Result<()> {
    let shown = pid.map_or("PID".to_string(), |p| p.to_string());
    let Some((u, g)) = ids.ranges else {
        let dir = Path::new("/proc").join(&shown);
        sys.write_file_plain(
            &dir.join("setgroups"),
            "deny",
            "forbid setgroups(2) in the child's user namespace: the kernel takes a gid_map from an unprivileged writer only after this",
        )?;
        sys.write_file_plain(
            &dir.join("gid_map"),
            &format!("0 {} 1", ids.gid),
            &format!("group {} outside is group 0 inside, and no other", ids.gid),
        )?;
        return sys.write_file_plain(
            &dir.join("uid_map"),
            &format!("0 {} 1", ids.uid),
            &format!(
                "user {} outside is root inside, and no other: an unprivileged writer may map only its own uid",
                ids.uid
            ),
        );
    };
    for (tool, own, r, what) in [
        ("newuidmap", ids.uid, u, "user"),
        ("newgidmap", ids.gid, g, "group"),
    ] {
        let argv: Vec<String> = [
            tool.to_string(),
            shown.clone(),
            "0".into(),
            own.to_string(),
            "1".into(),
            "1".into(),
            r.start.to_string(),
            r.count.to_string(),
        ]
        .into();
        sys.narrator.note(&format!(
            "$ {}    # {what} 0 inside is {own} (you), {what}s 1-{} are {}-{}: the kernel takes a range that is not your own id only from a privileged writer, so the setuid helper writes it after checking /etc/sub{}id",
            argv.join(" "),
            r.count,
            r.start,
            r.start as u64 + r.count as u64 - 1,
            &what[..1]
        ));
        sys.compound("", || run_helper(&argv), || ())?;
    }
    Ok(())
}

fn run_helper(argv: &[String]) -> Result<()> {
    let path = helper(&argv[0]).unwrap_or_else(|| PathBuf::from(&argv[0]));
    let out = std::process::Command::new(path)
        .args(&argv[1..])
        .output()
        .map_err(|e| {
            Error::io(
                format!("cannot run {}", argv[0]),
                &e,
                "install it (apt-get install uidmap)",
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::new(
        format!(
            "{} could not write the container's id map: {}",
            argv[0],
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        format!(
            "check your line in /etc/sub{}id (NAME:START:COUNT) and that {} is setuid root (ls -l $(command -v {}))",
            if argv[0] == "newuidmap" { "u" } else { "g" },
            argv[0],
            argv[0]
        ),
    ))
}

/// Without root, a container's directory may hold files of its other users (ids of the
/// user's range), which the user cannot remove on the host. When removing `dir` failed
/// (`removed`), remove it again from inside a user namespace with the same ids, where they
/// are root's to remove, as `podman unshare rm -rf` does.
pub fn or_inside(sys: &Sys, dir: &Path, removed: Result<()>) -> Result<()> {
    let Err(e) = removed else {
        return Ok(());
    };
    if !crate::host::rootless() || !dir.exists() {
        return Err(e);
    }
    match sys.compound("", || remove_inside(sys, dir), || false)? {
        true => Ok(()),
        false => Err(e),
    }
}

/// [`or_inside`]'s second try: whether `dir` was removed inside a user namespace (not
/// tried when the user has no range of ids).
fn remove_inside(sys: &Sys, dir: &Path) -> Result<bool> {
    let ids = load()?;
    if ids.ranges.is_none() {
        return Ok(false);
    }
    use crate::sys::process::Forked;
    let (forked, gate) = sys.fork_gated(
        libc::CLONE_NEWUSER,
        "a helper in a user namespace with the container's ids: there the files of its other users are root's to remove",
    )?;
    match forked {
        Forked::Child => {
            let err = become_root(sys, &ids).and_then(|()| {
                sys.narrator.note(&format!("rm -rf {}", dir.display()));
                std::fs::remove_dir_all(dir).map_err(|io| {
                    Error::io(
                        format!("cannot remove {}", dir.display()),
                        &io,
                        "check for mounts inside it (findmnt) and remove it by hand",
                    )
                })
            });
            match err {
                Ok(()) => std::process::exit(0),
                Err(err) => sys.fail_to_parent(gate.as_ref(), &err),
            }
        }
        Forked::Parent(pid) => {
            if let Err(err) = write_maps(sys, Some(pid), &ids) {
                let _ = sys.kill(pid, libc::SIGKILL, "its ids could not be mapped: end it");
                drop(gate);
                let _ = sys.wait(pid, "collect the helper");
                return Err(err);
            }
            let ended =
                sys.wait_releasing(pid, gate.as_ref(), "wait for the helper to remove it")?;
            if let Some(err) = sys.child_failure(gate.as_ref()) {
                return Err(err);
            }
            Ok(ended.code() == 0)
        }
    }
}

/// In the child, once its ids are mapped: become root of its user namespace (its uid is
/// root's already; its groups are not mapped and are dropped where setgroups is allowed).
pub fn become_root(sys: &Sys, ids: &Ids) -> Result<()> {
    if ids.ranges.is_some() {
        sys.setgroups(
            &[],
            "no supplementary groups: yours are not mapped in the container's user namespace",
        )?;
    }
    sys.setresgid(
        0,
        "group 0 of the user namespace (your own gid on the host)",
    )?;
    sys.setresuid(0, "root of the user namespace (your own uid on the host)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_s_range_is_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1002:300000:1000\nbad:0:10\n";
        let r = |start, count| Some(Range { start, count });
        assert_eq!(range_for(text, "alice", 1001), r(100000, 65536));
        assert_eq!(range_for(text, "bob", 1002), r(300000, 1000));
        assert_eq!(range_for(text, "carol", 1003), None);
        assert_eq!(range_for(text, "bad", 1004), None);
    }

    #[test]
    fn what_needs_root_is_refused() {
        let ids = Ids {
            uid: 1000,
            gid: 1000,
            ranges: None,
            source: String::new(),
            cgroups: None,
        };
        let none = NetworkMode::None;
        assert!(refuse(&none, false, false).is_ok());
        assert!(refuse(&NetworkMode::Host, false, false).is_ok());
        assert!(refuse(&NetworkMode::Bridge("bridge".into()), false, false).is_ok());
        assert!(refuse_user(Some((0, 0)), &ids).is_ok());
        let own = NetworkMode::Bridge("mynet".into());
        for (e, says) in [
            (refuse(&own, false, false), "--network mynet needs root"),
            (refuse(&none, true, false), "--memory"),
            (refuse(&none, false, true), "--userns"),
            (refuse_user(Some((5, 5)), &ids), "only your own uid"),
        ] {
            assert!(e.unwrap_err().what.contains(says), "{says}");
        }
    }
}

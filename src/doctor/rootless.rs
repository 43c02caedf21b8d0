//! doctor's rootless readiness: what `glassbox run` needs from the host to work for an
//! ordinary user (see run/rootless.rs), each with what to do.

use super::check::{Check, Status};
use crate::host::cgroups::CgroupHost;
use crate::store::idmap::Range;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A setuid helper (newuidmap, newgidmap) and how it gets its privilege.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Helper {
    pub path: PathBuf,
    /// Setuid root.
    pub setuid: bool,
    /// File capabilities instead (security.capability), as some distributions ship it.
    pub caps: bool,
}

/// What doctor read for an ordinary user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub user: String,
    pub subuid: Option<Range>,
    pub subgid: Option<Range>,
    pub newuidmap: Option<Helper>,
    pub newgidmap: Option<Helper>,
    /// The user's own cgroup v2 directory, when they may write it (delegated), and the
    /// controllers it has.
    pub delegated: Option<(PathBuf, Vec<String>)>,
    /// Where the user's images and containers go, and whether they can be made there.
    pub data_dir: PathBuf,
    pub data_writable: bool,
    /// slirp4netns, the user-mode network of `--network bridge` without root.
    pub slirp4netns: Option<PathBuf>,
    /// Whether the user may open /dev/net/tun, which slirp4netns makes eth0 with.
    pub tun: bool,
}

fn helper(name: &str) -> Option<Helper> {
    use std::os::unix::fs::MetadataExt;
    let path = crate::run::rootless::helper(name)?;
    let meta = std::fs::metadata(&path).ok()?;
    let caps = std::fs::File::open(&path)
        .ok()
        .and_then(|f| {
            crate::sys::quiet::get_xattr(std::os::fd::AsRawFd::as_raw_fd(&f), "security.capability")
        })
        .is_some();
    Some(Helper {
        setuid: meta.uid() == 0 && meta.mode() & 0o4000 != 0,
        caps,
        path,
    })
}

fn writable(p: &Path) -> bool {
    crate::sys::quiet::may_write(p)
}

/// The cgroup v2 subtree delegated to the user, as `run` finds it, and its controllers.
fn delegated(host: &CgroupHost) -> Option<(PathBuf, Vec<String>)> {
    let d = crate::run::rootless::delegated(host, &[])?;
    Some((d.v2_mount?, d.v2_controllers))
}

impl Facts {
    pub fn gather(host: &CgroupHost) -> Facts {
        let uid = crate::sys::quiet::euid();
        let user = crate::sys::quiet::user_name(uid).unwrap_or_else(|| uid.to_string());
        let range = |file: &str| {
            crate::run::rootless::range_for(
                &std::fs::read_to_string(file).unwrap_or_default(),
                &user,
                uid,
            )
        };
        let data_dir = crate::store::data_dir();
        // The data directory, or the nearest directory above it that exists.
        let data_writable = data_dir
            .ancestors()
            .find(|p| p.exists())
            .is_some_and(writable);
        Facts {
            subuid: range("/etc/subuid"),
            subgid: range("/etc/subgid"),
            newuidmap: helper("newuidmap"),
            newgidmap: helper("newgidmap"),
            delegated: delegated(host),
            data_dir,
            data_writable,
            slirp4netns: crate::run::rootless::helper("slirp4netns"),
            tun: crate::run::usernet::tun_usable(),
            user,
        }
    }
}

/// The rootless checks, for an ordinary user (user namespaces themselves: the `userns`
/// check, which is required without root).
pub fn checks(f: &Facts) -> Vec<Check> {
    use Status::*;
    let mut out = Vec::new();
    let add = format!(
        "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
        f.user
    );
    out.push(match (f.subuid, f.subgid) {
        (Some(u), Some(g)) => Check::new(
            "rootless.subuid",
            Ok,
            false,
            format!(
                "{}'s id ranges: /etc/subuid {}:{}, /etc/subgid {}:{} (ids 1… inside a container)",
                f.user, u.start, u.count, g.start, g.count
            ),
        ),
        _ => Check::new(
            "rootless.subuid",
            Warn,
            false,
            format!(
                "{} has no range in /etc/subuid and /etc/subgid: containers map only your own uid, as root",
                f.user
            ),
        )
        .todo(format!("images with other users need a range; {add}")),
    });
    let helpers = [("newuidmap", &f.newuidmap), ("newgidmap", &f.newgidmap)];
    let missing: Vec<&str> = helpers
        .iter()
        .filter(|(_, h)| h.is_none())
        .map(|(n, _)| *n)
        .collect();
    let powerless: Vec<String> = helpers
        .iter()
        .filter_map(|(_, h)| h.as_ref())
        .filter(|h| !h.setuid && !h.caps)
        .map(|h| h.path.display().to_string())
        .collect();
    out.push(if !missing.is_empty() {
        Check::new(
            "rootless.newuidmap",
            Warn,
            false,
            format!("{} not found: a range cannot be mapped", missing.join(" and ")),
        )
        .todo("apt-get install uidmap")
    } else if !powerless.is_empty() {
        Check::new(
            "rootless.newuidmap",
            Warn,
            false,
            format!("{} is neither setuid root nor has file capabilities: it cannot write another process's map", powerless.join(" and ")),
        )
        .todo("as root: chmod u+s on it (or setcap cap_setuid+ep / cap_setgid+ep), or reinstall uidmap")
    } else {
        Check::new(
            "rootless.newuidmap",
            Ok,
            false,
            "newuidmap and newgidmap are there, setuid root or with file capabilities",
        )
    });
    out.push(match &f.delegated {
        Some((dir, c)) if !c.is_empty() => Check::new(
            "rootless.cgroup",
            Ok,
            false,
            format!("cgroup v2 {} is delegated to you, with {}", dir.display(), c.join(" ")),
        ),
        _ => Check::new(
            "rootless.cgroup",
            Warn,
            false,
            "no cgroup v2 subtree with controllers is delegated to you: --memory, --cpus and --pids are refused without root",
        )
        .todo("on a systemd host with cgroup v2: systemd-run --user -p Delegate=yes --scope glassbox run …, or run as root"),
    });
    out.push(match (&f.slirp4netns, f.tun) {
        (Some(p), true) => Check::new(
            "rootless.network",
            Ok,
            false,
            format!("--network bridge and -p work without root: a user-mode network through {}", p.display()),
        ),
        (None, _) => Check::new(
            "rootless.network",
            Warn,
            false,
            "slirp4netns not found: --network bridge and -p fail without root (none and host work)",
        )
        .todo("apt-get install slirp4netns"),
        (Some(_), false) => Check::new(
            "rootless.network",
            Warn,
            false,
            "/dev/net/tun is not readable and writable by you: slirp4netns cannot make a container's eth0, so --network bridge and -p fail without root",
        )
        .todo("as root: chmod 0666 /dev/net/tun (Debian's udev rule gives it that mode; the device lets a user make tap devices only in namespaces of their own)"),
    });
    out.push(if f.data_writable {
        Check::new(
            "rootless.data",
            Ok,
            true,
            format!("your images and containers go to {}", f.data_dir.display()),
        )
    } else {
        Check::new(
            "rootless.data",
            Fail,
            true,
            format!(
                "{} cannot be made: you cannot write there",
                f.data_dir.display()
            ),
        )
        .todo("set XDG_DATA_HOME (or GLASSBOX_DATA_DIR) to a directory of your own")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let helper = |n: &str| {
            Some(Helper {
                path: PathBuf::from(format!("/usr/bin/{n}")),
                setuid: true,
                caps: false,
            })
        };
        Facts {
            user: "alice".into(),
            subuid: Some(Range {
                start: 100000,
                count: 65536,
            }),
            subgid: Some(Range {
                start: 100000,
                count: 65536,
            }),
            newuidmap: helper("newuidmap"),
            newgidmap: helper("newgidmap"),
            delegated: None,
            data_dir: "/home/alice/.local/share/glassbox".into(),
            data_writable: true,
            slirp4netns: Some("/usr/bin/slirp4netns".into()),
            tun: true,
        }
    }

    fn get<'a>(c: &'a [Check], id: &str) -> &'a Check {
        c.iter().find(|c| c.id == id).unwrap()
    }

    #[test]
    fn a_ready_user_is_told_so_and_what_is_missing_says_what_to_do() {
        let c = checks(&facts());
        assert_eq!(get(&c, "rootless.subuid").status, Status::Ok);
        assert_eq!(get(&c, "rootless.newuidmap").status, Status::Ok);
        assert_eq!(get(&c, "rootless.cgroup").status, Status::Warn);
        assert_eq!(get(&c, "rootless.data").status, Status::Ok);
        assert_eq!(get(&c, "rootless.network").status, Status::Ok);
        let mut f = facts();
        f.tun = false;
        let c = checks(&f);
        let net = get(&c, "rootless.network");
        assert!(net
            .todo
            .as_ref()
            .unwrap()
            .contains("chmod 0666 /dev/net/tun"));
        f.subuid = None;
        f.newgidmap = None;
        f.data_writable = false;
        let c = checks(&f);
        assert!(get(&c, "rootless.subuid")
            .todo
            .as_ref()
            .unwrap()
            .contains("usermod --add-subuids"));
        assert!(get(&c, "rootless.newuidmap")
            .todo
            .as_ref()
            .unwrap()
            .contains("apt-get install uidmap"));
        assert_eq!(get(&c, "rootless.data").status, Status::Fail);
        f.newgidmap = facts().newgidmap.map(|h| Helper { setuid: false, ..h });
        let c = checks(&f);
        assert!(get(&c, "rootless.newuidmap")
            .what
            .contains("neither setuid"));
    }
}

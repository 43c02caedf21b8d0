//! `glassbox pause` and `unpause`: every process of a running container stopped where it
//! stands, then let go again, through its cgroup's freezer (as docker pause does). A paused
//! process gets no CPU time and acts on no signal until it is thawed, so `stop` and `rm -f`
//! thaw a paused container first.

use crate::cli::PauseArgs;
use crate::error::{Error, Result};
use crate::host::cgroups::CgroupHost;
use crate::stages::cgroups::freezer::Freezer;
use crate::store::containers::Container;
use crate::sys::Sys;

/// The freezer of container `id`'s cgroup (named `gb-ID` by run). Without root a
/// container's cgroup is under the cgroup v2 subtree delegated to the user, if any.
pub fn freezer_of(host: &CgroupHost, id: &str) -> Option<Freezer> {
    let name = crate::store::containers::cgroup_name(id);
    match crate::host::rootless() {
        true => Freezer::of(&crate::host::cgroups::delegated(host, &[])?, &name),
        false => Freezer::of(host, &name),
    }
}

fn freezer(host: &CgroupHost, c: &Container) -> Option<Freezer> {
    freezer_of(host, c.id())
}

/// Whether the container is paused now (read from the kernel, not from a record).
pub fn is_paused(host: &CgroupHost, c: &Container) -> bool {
    freezer(host, c).is_some_and(|f| f.is_frozen())
}

fn running_freezer(c: &Container, what: &str) -> Result<Freezer> {
    if c.state().running_pid().is_none() {
        return Err(Error::usage(
            format!("cannot {what} container {}: it is not running", c.name()),
            format!("start it first: glassbox start {}", c.name()),
        )
        .with_code(1));
    }
    let host = CgroupHost::current();
    let subtree = crate::host::cgroups::delegated(&host, &[]);
    if crate::host::rootless() && subtree.is_none() {
        return Err(Error::new(
            format!("cannot {what} container {} without root here: a container's freezer is its cgroup's, and without root it has a cgroup only in a cgroup v2 subtree delegated to you, which this host does not give", c.name()),
            "run glassbox as root, or on a cgroup v2 host in a delegated subtree (systemd-run --user --scope -p Delegate=yes glassbox run …); `glassbox doctor` shows what is delegated",
        )
        .with_code(1));
    }
    freezer(&host, c).ok_or_else(|| {
        Error::new(
            format!(
                "cannot {what} container {}: it has no cgroup with a freezer (it was run with --skip cgroup, or this host has neither cgroup v2 nor a v1 freezer)",
                c.name()
            ),
            "run it again without --skip cgroup; `glassbox doctor` shows the host's cgroups",
        )
        .with_code(1)
    })
}

fn pause(sys: &Sys, c: &Container) -> Result<()> {
    let f = running_freezer(c, "pause")?;
    if f.is_frozen() {
        return Err(Error::usage(
            format!("container {} is already paused", c.name()),
            format!("glassbox unpause {} lets it run again", c.name()),
        )
        .with_code(1));
    }
    sys.narrator
        .stage("pause", &format!("freeze every process of {}", c.name()));
    f.freeze(
        sys,
        "stop every process of the container where it stands: they keep their memory but get no CPU time",
    )
}

fn unpause(sys: &Sys, c: &Container) -> Result<()> {
    let f = running_freezer(c, "unpause")?;
    if !f.is_frozen() {
        return Err(Error::usage(
            format!("container {} is not paused", c.name()),
            format!("glassbox pause {} freezes it", c.name()),
        )
        .with_code(1));
    }
    sys.narrator
        .stage("unpause", &format!("thaw every process of {}", c.name()));
    f.thaw(
        sys,
        "let the container's processes run again from where they stopped",
    )
}

/// Where cgroup v2 is mounted on nearly every host: alone, or beside v1's hierarchies.
const V2_MOUNTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// The freezer of `c` if it is paused now. As root, where `run` made its v2 cgroup under
/// one of [`V2_MOUNTS`], its cgroup.freeze (a file only cgroup v2 has) is found without the
/// mount table; elsewhere the mount table is read to find its freezer, as `pause` does.
fn paused_freezer(c: &Container) -> Option<Freezer> {
    let name = crate::store::containers::cgroup_name(c.id());
    let found = V2_MOUNTS
        .iter()
        .filter(|_| !crate::host::rootless())
        .find_map(|m| Freezer::v2_under(std::path::Path::new(m), &name));
    found
        .or_else(|| freezer(&CgroupHost::current(), c))
        .filter(|f| f.is_frozen())
}

/// Before stop or rm: a frozen process cannot act on SIGTERM, so thaw a paused container.
pub fn thaw_if_paused(sys: &Sys, c: &Container) -> Result<()> {
    match paused_freezer(c) {
        Some(f) => f.thaw(
            sys,
            "the container is paused: thaw it first, so its processes can receive the signal and end",
        ),
        None => Ok(()),
    }
}

pub fn pause_main(a: &PauseArgs, sys: &Sys) -> Result<i32> {
    super::each::each("pause", &a.containers, |c| pause(sys, &c))
}

pub fn unpause_main(a: &PauseArgs, sys: &Sys) -> Result<i32> {
    super::each::each("unpause", &a.containers, |c| unpause(sys, &c))
}

//! `glassbox run`: every stage composed into one container, as `docker run` does.
//!
//! The parent stays in the host's namespaces. The child is cloned straight into new ones
//! (clone(2) with CLONE_NEW* flags: it is PID 1 of its pid namespace from its first
//! instruction; clone3 with CLONE_INTO_CGROUP puts it in its cgroup v2 too) and waits at a
//! gate while the parent wires its network. Let go, the child moves itself into its cgroups
//! v1 (cheaper than a move by pid from outside), unshares a cgroup namespace rooted at them,
//! mounts its root filesystem (an overlay over the image), the filesystems a container needs
//! and its cgroups read-only at /sys/fs/cgroup, pivots into it, cuts its
//! privileges and execs the command. The parent forwards signals, waits, reports how the
//! command ended and undoes what it made, on every path; what a SIGKILL of glassbox leaves
//! behind is in the journal for `glassbox cleanup`, and PR_SET_PDEATHSIG takes the
//! container down with its parent.
//!
//! With `--userns private` the child is cloned into a user namespace too; at the gate the
//! parent also writes its uid and gid maps and moves it into its cgroups v1 by pid (it
//! cannot move itself: to the host's cgroup files it is an unprivileged uid), and the root
//! filesystem is a copy of the image with shifted owners (see [`userns`]).

pub mod bisect;
pub(crate) mod child;
pub mod config;
pub(crate) mod console;
mod copy;
pub(crate) mod detach;
mod parent;
mod plan;
pub mod rootfs;
mod scratch;
mod step;
pub mod userns;
pub mod volumes;

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::sys::Sys;

pub use plan::{plan, plan_existing, Plan};

/// Seconds between a forwarded SIGTERM/SIGINT and the SIGKILL that follows it.
pub const STOP_GRACE_SECS: u32 = 3;

pub fn main(a: &RunArgs, sys: &Sys) -> Result<i32> {
    sys.close_inherited("a descriptor inherited from the caller must not reach the container")?;
    let plan = plan(a, sys)?;
    sys.require(|| {
        if crate::host::is_root() {
            return Ok(());
        }
        Err(Error::new(
            "glassbox run needs root: it makes namespaces, mounts and cgroups",
            "run it with sudo, or see the whole plan without root: glassbox run --dry-run …",
        ))
    })?;
    if a.detach && (a.tty || a.interactive || a.step) {
        return Err(Error::usage(
            "-d cannot be combined with -i, -t or --step: a detached container has no terminal to read",
            "leave out -d to run it in the foreground, or leave out -i/-t/--step",
        ));
    }
    let journal = sys.journal()?;
    parent::announce(sys, &plan);
    // Held until the container's record claims its volumes (volume rm checks records).
    let volumes = volumes::ensure(sys, journal.as_ref(), &plan)?;
    let container = if sys.dry_run() {
        crate::spec::file::show(sys, &plan)?;
        None
    } else {
        let mut removal = crate::store::containers::Removal::default();
        if a.rm {
            removal.dir = rootfs::journal_removal(journal.as_ref(), &plan.id)?;
        }
        // A foreground --rm container's directory is written only to be deleted: on a tmpfs.
        // Not under a memory limit: what it writes to a tmpfs is charged to its memory cgroup
        // and cannot be written back to free it, so writing a big file would end in the OOM
        // killer where a disk layer would not.
        let limited = plan.limits.as_ref().is_some_and(|l| l.memory.is_some());
        let on_tmpfs = a.rm && !a.detach && !limited;
        let mut tmpfs = None;
        let made = parent::create_container(a, &plan, |dir| {
            if on_tmpfs {
                tmpfs = Some(scratch::mount(sys, journal.as_ref(), dir)?);
            }
            Ok(())
        });
        match made {
            Ok(c) => {
                removal.tmpfs = tmpfs;
                Some((c, removal))
            }
            Err(e) => {
                if let Some(entry) = tmpfs {
                    let dir = crate::store::container_dir(&plan.id);
                    let _ = scratch::unmount(sys, journal.as_ref(), &dir, entry.as_deref());
                    let _ = std::fs::remove_dir(&dir);
                }
                volumes.undo(sys, journal.as_ref());
                return Err(e);
            }
        }
    };
    drop(volumes);
    match container {
        Some((c, removal)) if a.detach => detach::start(sys, &c, true, |det| {
            parent::supervise(sys, journal.as_ref(), &plan, Some(&c), removal, Some(det))
        }),
        Some((c, removal)) => {
            parent::supervise(sys, journal.as_ref(), &plan, Some(&c), removal, None)
        }
        None => parent::supervise(sys, journal.as_ref(), &plan, None, Default::default(), None),
    }
}

/// `glassbox start`: run an existing container again, detached.
pub fn start_detached(
    sys: &Sys,
    journal: &Journal,
    plan: &Plan,
    c: &crate::store::containers::Container,
) -> Result<i32> {
    parent::announce(sys, plan);
    detach::start(sys, c, false, |det| {
        parent::supervise(
            sys,
            Some(journal),
            plan,
            Some(c),
            Default::default(),
            Some(det),
        )
    })
}

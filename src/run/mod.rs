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
//! Nobody watching (`-q`, a foreground `--rm` container in an empty network), the same work
//! overlaps: the child is cloned as soon as the container's directory and cgroup v2 exist
//! and builds its root while the parent makes its network namespace and the rest of its
//! cgroups, then the whole container while the parent writes the records; it starts its
//! command only once the record says it runs (see `parent::ChildAhead`).
//!
//! With `--userns private` the child is cloned into a user namespace too; at the gate the
//! parent also writes its uid and gid maps and moves it into its cgroups v1 by pid (it
//! cannot move itself: to the host's cgroup files it is an unprivileged uid), and the root
//! filesystem is a copy of the image with shifted owners (see [`userns`]).

pub(crate) mod attach;
pub mod bisect;
pub(crate) mod child;
pub mod config;
pub(crate) mod console;
mod copy;
pub(crate) mod detach;
pub(crate) mod ended;
pub mod health;
mod init;
pub mod logger;
mod parent;
mod plan;
pub mod restart;
pub mod rootfs;
pub mod rootless;
mod scratch;
mod step;
pub mod usernet;
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
    if a.detach && a.step {
        return Err(Error::usage(
            "-d cannot be combined with --step: a detached container has no terminal to pause on",
            "leave out -d to run it in the foreground, or leave out --step",
        ));
    }
    if restart::Policy::parse(a.restart.as_deref())? != restart::Policy::No && (a.rm || !a.detach) {
        return Err(Error::usage(
            "--restart needs -d and cannot be combined with --rm: the supervisor of a detached container restarts it, and keeps it",
            "add -d, and leave out --rm",
        ));
    }
    // A child cloned ahead joins an empty network namespace: a helper makes it from now
    // on, beside the parent's own work (sys/empty_net.rs).
    let mut empty_net = match parent::ChildAhead::may(sys, &plan, !a.detach) {
        true => sys.start_empty_net(),
        false => None,
    };
    let journal = sys.journal()?;
    parent::announce(sys, &plan);
    // Volumes are held until the container's record claims its volumes (volume rm checks records).
    let volumes = volumes::ensure(sys, journal.as_ref(), &plan)?;
    // What runs is the plan config.json says (the dry run's the text it shows): the spec
    // is the container, as runc would run it. The spec written is kept, not read back.
    let dir = crate::store::container_dir(&plan.id);
    let specified = crate::spec::build(&plan, &dir).and_then(|spec| {
        let mut read = Plan::from_spec(&spec, &dir)?;
        read.step = a.step;
        Ok((spec, read))
    });
    let (spec, read) = match specified {
        Ok(s) => s,
        Err(e) => {
            volumes.undo(sys, journal.as_ref());
            return Err(e);
        }
    };
    // A foreground --rm container's directory is written only to be deleted: on a tmpfs.
    // Not under a memory limit: what it writes to a tmpfs is charged to its memory cgroup
    // and cannot be written back to free it, so writing a big file would end in the OOM
    // killer where a disk layer would not.
    // Without root there is no mounting in the host's mount namespace: the disk it is.
    let limited = plan.limits.as_ref().is_some_and(|l| l.memory.is_some());
    let on_tmpfs = a.rm && !a.detach && !limited && plan.rootless.is_none();
    let mut ahead = None;
    let may_go_ahead = parent::ChildAhead::may(sys, &read, !a.detach);
    if !may_go_ahead {
        // Not cloned ahead after all (the plan read back from the spec says otherwise).
        empty_net = None;
    }
    use crate::store::containers::Layers;
    let layers = match may_go_ahead {
        true => Layers::ByItsChild,
        false => Layers::Here,
    };
    let create = || {
        let mut removal = crate::store::containers::Removal::default();
        if a.rm {
            removal.dir = rootfs::journal_removal(journal.as_ref(), &plan.id)?;
        }
        let mut tmpfs = false;
        let mut dir_made = false;
        let made = parent::create_container(sys, &plan, &spec, layers, |dir| {
            dir_made = true;
            if on_tmpfs {
                scratch::mount(sys, dir)?;
                tmpfs = true;
            }
            // Nobody watching, the child is cloned here: its mount namespace, a copy of
            // this one, has the directory and its tmpfs; it makes its layers and mounts
            // while the records are written (see ChildAhead).
            if may_go_ahead {
                ahead = Some(parent::ChildAhead::start(
                    sys,
                    journal.as_ref(),
                    &read,
                    dir,
                    empty_net.take(),
                )?);
            }
            Ok(())
        });
        match made {
            Ok(c) => {
                removal.tmpfs = tmpfs;
                Ok(Some((c, removal)))
            }
            Err(e) => {
                let e = match ahead.take() {
                    Some(child) => child.abandon(sys, journal.as_ref(), e),
                    None => e,
                };
                if tmpfs {
                    let why =
                        "the container could not be made: its tmpfs goes, and every file in it";
                    let _ = scratch::unmount(sys, &dir, why);
                }
                let ours = dir_made && (tmpfs || layers == Layers::ByItsChild);
                if ours {
                    // create left it to us: its child may have been writing there.
                    let _ = sys.remove_path(&dir);
                }
                // Nothing of the directory is left (removed, or never made when the name
                // was taken): nothing for cleanup to remove. Otherwise the entry stays.
                let gone = std::fs::symlink_metadata(&dir).is_err();
                if let (Some(j), Some(id), true) = (journal.as_ref(), removal.dir.as_deref(), gone)
                {
                    sys.strike_undone(j, id);
                }
                Err(e)
            }
        }
    };
    // A dry run makes no container: it shows the config.json the run would execute.
    sys.show_if_not_made(|| crate::spec::build::show(sys, &spec, &dir))?;
    let container = match sys.compound("", create, || None) {
        Ok(c) => c,
        Err(e) => {
            volumes.undo(sys, journal.as_ref());
            return Err(e);
        }
    };
    let plan = read;
    drop(volumes);
    match container {
        Some((c, removal)) if a.detach => {
            let mut removal = Some(removal);
            detach::start(sys, &c, true, |det| {
                // In the supervisor, which removes a --rm container's directory: its entry
                // now, not the front's, which exits (a restart finds it taken: kept
                // containers have none).
                let removal = removal
                    .take()
                    .map(|r| rootfs::journal_removal_here(journal.as_ref(), r))
                    .unwrap_or_default();
                parent::supervise(
                    sys,
                    journal.as_ref(),
                    &plan,
                    Some(&c),
                    removal,
                    Some(det),
                    Default::default(),
                )
            })
        }
        Some((c, removal)) => {
            parent::supervise(sys, journal.as_ref(), &plan, Some(&c), removal, None, ahead)
        }
        None => parent::supervise(
            sys,
            journal.as_ref(),
            &plan,
            None,
            Default::default(),
            None,
            Default::default(),
        ),
    }
}

/// `glassbox create`: the container made as `run` would make it (its record, config.json,
/// name) but not started: no namespace, cgroup or network yet. `glassbox start` runs it.
pub fn create(a: &RunArgs, sys: &Sys) -> Result<i32> {
    if a.rm || a.step || a.detach {
        return Err(Error::usage(
            "create takes neither --rm, --step nor -d: it only makes the container",
            "leave them out; glassbox start runs it in the background",
        ));
    }
    let plan = plan(a, sys)?;
    // In a dry run nothing is made: the config.json it would have is shown.
    sys.compound_or(
        "",
        || create_made(sys, &plan),
        || {
            let dir = crate::store::container_dir(&plan.id);
            let spec = crate::spec::build(&plan, &dir)?;
            crate::spec::build::show(sys, &spec, &dir).map(|()| 0)
        },
    )
}

/// `glassbox create`'s work: the volumes, the record and the bundle made.
fn create_made(sys: &Sys, plan: &Plan) -> Result<i32> {
    crate::store::need_root("create")?;
    let journal = sys.journal()?;
    // As run: named volumes made (or found) and held until the record claims them.
    let volumes = volumes::ensure(sys, journal.as_ref(), plan)?;
    let dir = crate::store::container_dir(&plan.id);
    let made = crate::spec::build(plan, &dir).and_then(|spec| {
        let layers = crate::store::containers::Layers::Here;
        parent::create_container(sys, plan, &spec, layers, |_| Ok(()))
    });
    let c = match made {
        Ok(c) => c,
        Err(e) => {
            volumes.undo(sys, journal.as_ref());
            return Err(e);
        }
    };
    drop(volumes);
    sys.narrator.note(&format!(
        "container {} made ({}), not started: glassbox start {} runs it",
        c.name(),
        c.dir.display(),
        c.name()
    ));
    crate::outln!("{}", c.id());
    Ok(0)
}

/// `glassbox start`: run an existing container again, detached.
pub fn start_detached(
    sys: &Sys,
    journal: Option<&Journal>,
    plan: &Plan,
    c: &crate::store::containers::Container,
) -> Result<i32> {
    parent::announce(sys, plan);
    detach::start(sys, c, false, |det| {
        parent::supervise(
            sys,
            journal,
            plan,
            Some(c),
            Default::default(),
            Some(det),
            Default::default(),
        )
    })
}

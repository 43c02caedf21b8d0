//! `glassbox exec C CMD…`: a new process in a running container, as `docker exec` makes it.
//!
//! By hand it is nsenter plus what a runtime adds: join the container's cgroups (while the
//! host's cgroup filesystems are still in view), then its namespaces, root and working
//! directory (the enter stage), fork so the child is born in its pid namespace, and in the
//! child cut the same privileges the container's PID 1 had (capabilities, no_new_privs,
//! seccomp), become its user and exec.

use crate::cli::ExecArgs;
use crate::error::{Error, Result};
use crate::run::config::Stage;
use crate::store::containers::find;
use crate::sys::process::{forward_signals_to, Forked};
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// The container's cgroup directories on the host, from /proc/PID/cgroup, that differ from
/// this process's own (those it must join).
fn cgroups_to_join(pid: i32) -> Vec<PathBuf> {
    let host = crate::host::cgroups::CgroupHost::current();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let ours = read("/proc/self/cgroup");
    let mut dirs = Vec::new();
    for line in read(&format!("/proc/{pid}/cgroup")).lines() {
        if ours.lines().any(|l| l == line) {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let mount = if ctrls.is_empty() {
            host.v2_mount.clone()
        } else {
            let want: Vec<&str> = ctrls.split(',').collect();
            host.v1_hierarchies
                .iter()
                .find(|(c, _)| want.iter().all(|w| c.iter().any(|x| x == w)))
                .map(|(_, m)| m.clone())
        };
        if let Some(m) = mount {
            dirs.push(m.join(path.trim_start_matches('/')));
        }
    }
    dirs
}

pub fn main(a: &ExecArgs, sys: &Sys) -> Result<i32> {
    sys.close_inherited("a descriptor inherited from the caller must not reach the container")?;
    let c = find(&a.container).map_err(|e| e.with_code(1))?;
    let Some(pid) = c.state().running_pid() else {
        return Err(Error::usage(
            format!("container {} is not running", c.name()),
            format!("start it first: glassbox start {}", c.name()),
        )
        .with_code(1));
    };
    if super::pause::is_paused(&crate::host::cgroups::CgroupHost::current(), &c) {
        return Err(Error::usage(
            format!(
                "container {} is paused: a new process in it would be frozen too",
                c.name()
            ),
            format!("unpause it first: glassbox unpause {}", c.name()),
        )
        .with_code(1));
    }
    let mut args = c.record.args.clone();
    args.env.extend(a.env.iter().cloned());
    args.workdir = a.workdir.clone().or(args.workdir);
    args.user = a.user.clone().or(args.user);
    args.tty = a.tty;
    args.interactive = a.interactive;
    args.detach = false;
    args.step = false;
    args.command = a.command.clone();
    let plan = crate::run::plan_existing(&c, &args, sys)?;
    let n = sys.narrator;
    n.stage(
        "exec",
        &format!(
            "a new process in container {} (PID 1 is {pid} on the host): its cgroups, then its namespaces",
            c.name()
        ),
    );
    let me = std::process::id().to_string();
    // Without root, only the container's own cgroups (in a delegated subtree) are the
    // user's to join: otherwise it shares the user's (see run/rootless.rs).
    let ours = |d: &PathBuf| {
        d.parent()
            .is_some_and(|p| p.ends_with(crate::stages::cgroups::PARENT))
    };
    let mut cgroups = cgroups_to_join(pid);
    if crate::host::rootless() {
        cgroups.retain(ours);
    }
    for dir in cgroups {
        sys.write_file_plain(
            &dir.join("cgroup.procs"),
            &me,
            "join the container's cgroup first, while the host's cgroup filesystem is in view: its limits count this process too",
        )?;
    }
    // -t: a terminal from the container's devpts, as run -t makes one, and a relay for it
    // that stays in the host's namespaces.
    let console = if plan.tty {
        crate::run::console::socket(sys)?
    } else {
        None
    };
    let relay = match &console {
        Some(c) => Some(crate::run::console::relay_process(
            sys,
            c,
            plan.interactive,
        )?),
        None => None,
    };
    let fork = crate::stages::enter::join(sys, pid)?;
    let become_command = || -> Result<std::convert::Infallible> {
        if !plan.interactive {
            crate::run::rootfs::stdin_from_null(sys)?;
        }
        if let Some(c) = &console {
            crate::run::child::terminal_of_its_own(
                sys,
                std::os::fd::AsRawFd::as_raw_fd(&c.theirs),
            )?;
        }
        let host_groups =
            plan.userns.is_some() || plan.rootless.as_ref().is_some_and(|r| r.ranges.is_some());
        if host_groups && plan.user.is_none() {
            sys.setgroups(
                &[],
                "no supplementary groups: the host's are not mapped in the container's user namespace",
            )?;
        }
        if plan.has(Stage::Security) {
            crate::stages::security::apply(sys, &plan.security, plan.user)?;
        } else if let Some((uid, gid)) = plan.user {
            crate::stages::security::become_user(sys, uid, gid)?;
        }
        sys.chdir_no_magiclinks(Path::new(&plan.workdir), "the working directory")?;
        sys.exec_env(
            &plan.command,
            Some(&plan.env),
            "the command, with the container's environment",
        )
    };
    if !fork {
        return match become_command() {
            Err(e) => Err(e),
            Ok(never) => match never {},
        };
    }
    let (forked, gate) = sys.fork_gated(0, "a child, born in the container's pid namespace")?;
    match forked {
        Forked::Child => {
            let err = match become_command() {
                Err(e) => e,
                Ok(never) => match never {},
            };
            // Told to the parent, which reports it once.
            sys.fail_to_parent(gate.as_ref(), &err)
        }
        Forked::Parent(child) => {
            forward_signals_to(child);
            if plan.tty {
                // Ctrl-C is a key for the command's terminal, which signals its foreground job.
                crate::sys::signals::ignore(&[libc::SIGINT, libc::SIGQUIT]);
            }
            drop(console);
            let ended = sys.wait_releasing(child, gate.as_ref(), "wait for the command to end");
            if let Some(r) = relay {
                sys.wait(
                    r,
                    "the relay ends with the terminal: your terminal is as it was",
                )?;
            }
            let ended = ended?;
            if let Some(e) = sys.child_failure(gate.as_ref()) {
                return Err(e);
            }
            n.note(&format!("the command {}", ended.describe()));
            Ok(ended.code())
        }
    }
}

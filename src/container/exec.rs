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

/// The container's plan as its config.json says it, with exec's own command, terminal,
/// environment, working directory and user.
fn exec_plan(c: &crate::store::containers::Container, a: &ExecArgs) -> Result<crate::run::Plan> {
    use crate::run::config::{env_entry, resolve_user, set_env};
    let mut plan = crate::run::plan_existing(c)?;
    if a.tty && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Error::usage(
            "-t was given but stdin is not a terminal",
            "leave out -t, or run glassbox from a terminal",
        ));
    }
    if a.tty {
        set_env(&mut plan.env, "TERM=xterm".into());
    }
    // docker's order: the container's, then --env-file, then -e.
    for file in &a.env_file {
        for kv in crate::run::config::env_file(file)? {
            set_env(&mut plan.env, kv);
        }
    }
    for e in &a.env {
        set_env(&mut plan.env, env_entry(e)?);
    }
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            return Err(Error::usage(
                format!("the working directory {w:?} is not absolute"),
                "give -w a path that starts with /",
            ));
        }
        plan.workdir = w.clone();
    }
    if let Some(u) = &a.user {
        let mut layers: Vec<&Path> = plan.image.layers.iter().map(|p| p.as_path()).collect();
        layers.push(&plan.image.rootfs);
        plan.user = Some(resolve_user(u, &layers)?);
    }
    plan.tty = a.tty;
    plan.interactive = a.interactive;
    plan.command = a.command.clone();
    Ok(plan)
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
    if a.detach && (a.tty || a.interactive) {
        return Err(Error::usage(
            "exec -d cannot be combined with -i or -t: a detached command has no terminal to read",
            "leave out -d to run it in the foreground, or leave out -i/-t",
        ));
    }
    let plan = exec_plan(&c, a)?;
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
        if a.detach {
            output_to_null(sys)?;
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
    // -d forks even without a pid namespace to enter: exec returns while the command runs.
    if !fork && !a.detach {
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
        Forked::Parent(child) if a.detach => {
            // Wait only for its execve (the gate's end closes) or its failure, not its end:
            // once glassbox has gone, the host's init (or a subreaper) reaps it.
            if let Some(gate) = &gate {
                let _ = sys.let_go(gate);
                if let Some(crate::sys::channel::Message::Failed(f)) = sys.recv_message(
                    gate,
                    "wait until the command starts (its end closes at execve) or says why it failed",
                )? {
                    let _ = sys.wait(child, "collect the child that failed");
                    return Err(f.into_error());
                }
            }
            n.note(&format!(
                "exec -d: the command runs in the background (pid {child} on the host); its output is discarded, as docker does"
            ));
            Ok(0)
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

/// exec -d: nobody reads the command's output, so it goes nowhere (as docker discards it).
fn output_to_null(sys: &Sys) -> Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("cannot open /dev/null", &e, "check the container's /dev"))?;
    // The narration stays on the terminal until the execve.
    sys.narrator.keep_own_stderr();
    for fd in [1, 2] {
        sys.dup2(
            null.as_raw_fd(),
            fd,
            "exec -d: the command's output is discarded, as docker exec -d does",
        )?;
    }
    Ok(())
}

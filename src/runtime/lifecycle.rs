//! The runtime operations an engine calls: create, start, run, kill, delete, list.

use super::bundle::{self, Bundle};
use super::hooks::{hooks, state_json};
use super::state::{self, State};
use super::CreateArgs;
use crate::error::{Error, Result};
use crate::stages::cgroups;
use crate::sys::channel::Message;
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// The cgroup name under glassbox's own parent when config.json names no cgroupsPath.
fn cgroup_name(id: &str) -> String {
    format!("rt-{}", id.chars().take(60).collect::<String>())
}

fn cgroup_plan(b: &Bundle, id: &str) -> Result<cgroups::Plan> {
    let host = crate::host::cgroups::CgroupHost::current();
    let r = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let limits = crate::spec::read::limits(&r).unwrap_or_default();
    let privileged = r
        .devices()
        .as_ref()
        .and_then(|d| d.first())
        .is_some_and(|d| d.allow());
    // The engine's cgroupsPath, where runc would put it (see stages/cgroups/engine.rs).
    if let Some(path) = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
    {
        return cgroups::engine::plan(&host, &limits, &path, !privileged);
    }
    let name = cgroup_name(id);
    if privileged {
        cgroups::plan(&host, &limits, &name)
    } else {
        cgroups::plan_container(&host, &limits, &name)
    }
}

pub fn create(sys: &Sys, root: &Path, a: &CreateArgs) -> Result<i32> {
    state::check_id(&a.id)?;
    let b = bundle::load(&a.bundle)?;
    let terminal = b.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && a.console_socket.is_none() {
        return Err(Error::usage(
            "config.json asks for a terminal (process.terminal) but no --console-socket was given to send it to",
            "give --console-socket SOCKET, or set process.terminal to false",
        ));
    }
    let dir = state::dir(root, &a.id);
    if dir.exists() {
        return Err(Error::usage(
            format!("a container with id {} already exists", a.id),
            "delete it first (glassbox runtime delete), or give another id",
        ));
    }
    std::fs::create_dir_all(root).map_err(|e| {
        Error::io(
            format!("cannot make {}", root.display()),
            &e,
            "check --root",
        )
    })?;
    sys.mkdir(
        &dir,
        0o711,
        "the container's state directory (state.json, exec.fifo)",
    )?;
    let made = create_in(sys, root, a, &b);
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    made
}

fn create_in(sys: &Sys, root: &Path, a: &CreateArgs, b: &Bundle) -> Result<i32> {
    let fifo = state::fifo(root, &a.id);
    sys.mkfifo(&fifo, "create waits here: the container's process opens it and blocks until start opens the other end")?;
    let cp = cgroup_plan(b, &a.id)?;
    if let Some(d) = cp.dirs().into_iter().find(|d| d.exists()) {
        return Err(Error::usage(
            format!(
                "the cgroup {} that config.json's linux.cgroupsPath names already exists: another container may be in it",
                d.display()
            ),
            "give the container a cgroupsPath of its own, or delete the container that has it",
        ));
    }
    let mut made = cgroups::apply(sys, None, &cp)?;
    // The terminal's master end goes over this socket to whoever relays it (conmon).
    let terminal = b.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let console = match (&a.console_socket, terminal) {
        (Some(path), true) => Some(super::console::connect(path)?),
        _ => None,
    };
    let console_fd = console.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    let flags = super::init::clone_flags(&b.spec);
    let (forked, gate) = sys.fork_gated(
        flags,
        "the container's process, in the namespaces config.json asks for",
    )?;
    let pid = match forked {
        Forked::Child => {
            let e = super::init::container(
                sys,
                b,
                &a.id,
                &fifo,
                gate.as_ref(),
                console_fd,
                a.preserve_fds,
            );
            sys.fail_to_parent(gate.as_ref(), &e)
        }
        Forked::Parent(pid) => pid,
    };
    drop(console);
    let gate = gate.expect("a real fork has a gate");
    let ready = (|| -> Result<()> {
        cgroups::attach(sys, &cp, pid)?;
        if flags & libc::CLONE_NEWUSER != 0 {
            write_id_maps(sys, b, pid)?;
        }
        let st = state_json(&a.id, "creating", pid, b);
        hooks(sys, b, "prestart", &st, true)?;
        hooks(sys, b, "createRuntime", &st, true)?;
        sys.let_go(&gate)?;
        match sys.recv_message(&gate, "wait until the container's process is set up")? {
            Some(Message::Ready) => Ok(()),
            Some(Message::Failed(f)) => Err(f.into_error()),
            _ => Err(Error::new(
                "the container's process ended while it was set up",
                "run with --debug and read the log",
            )),
        }
    })();
    if let Err(e) = ready {
        let _ = sys.kill(pid, libc::SIGKILL, "the create failed: end its process");
        let _ = sys.wait(pid, "collect it");
        cgroups::undo(sys, None, &mut made);
        return Err(e);
    }
    let s = State {
        id: a.id.clone(),
        pid,
        start_time: state::start_time(pid).unwrap_or(0),
        bundle: b.dir.clone(),
        rootfs: b.rootfs.clone(),
        created: crate::store::now(),
        annotations: b.spec.annotations().clone().unwrap_or_default(),
        cgroups: made.dirs.iter().map(|(d, _)| d.clone()).collect(),
        started: false,
    };
    s.save(root)?;
    if let Some(p) = &a.pid_file {
        crate::store::write_whole(p, pid.to_string().as_bytes())?;
    }
    sys.narrator.note(&format!(
        "container {} created: its process {pid} waits on exec.fifo for start",
        a.id
    ));
    Ok(0)
}

fn write_id_maps(sys: &Sys, b: &Bundle, pid: i32) -> Result<()> {
    let linux = b.spec.linux().clone().unwrap_or_default();
    for (file, maps) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let text: String = maps
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        sys.write_file_plain(
            &PathBuf::from(format!("/proc/{pid}/{file}")),
            &text,
            "the id mapping of the container's user namespace (linux.uidMappings/gidMappings)",
        )?;
    }
    Ok(())
}

pub fn start(sys: &Sys, root: &Path, id: &str) -> Result<i32> {
    let mut s = State::load(root, id)?;
    match s.status() {
        "created" => {}
        other => {
            return Err(Error::usage(
                format!(
                "container {id} is {other}, not created: only a created container can be started"
            ),
                "create a new one (glassbox runtime create)",
            ))
        }
    }
    sys.narrator.note("open exec.fifo for reading: the container's process, blocked on its other end, goes on to exec its command");
    let fifo = state::fifo(root, id);
    let mut f = std::fs::File::open(&fifo).map_err(|e| {
        Error::io(
            format!("cannot open {}", fifo.display()),
            &e,
            "delete the container and create it again",
        )
    })?;
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut f, &mut buf);
    let _ = std::fs::remove_file(&fifo);
    s.started = true;
    s.save(root)?;
    if let Ok(b) = bundle::load(&s.bundle) {
        hooks(
            sys,
            &b,
            "poststart",
            &state_json(id, "running", s.pid, &b),
            false,
        )?;
    }
    Ok(0)
}

pub fn run(sys: &Sys, root: &Path, a: &CreateArgs) -> Result<i32> {
    create(sys, root, a)?;
    start(sys, root, &a.id)?;
    if a.detach {
        return Ok(0);
    }
    let s = State::load(root, &a.id)?;
    crate::sys::process::forward_signals_to(s.pid);
    let ended = sys.wait(s.pid, "wait for the container's command to end");
    delete(sys, root, &a.id, true)?;
    Ok(ended?.code())
}

pub fn kill(sys: &Sys, root: &Path, id: &str, sig: &str, all: bool) -> Result<i32> {
    let s = State::load(root, id)?;
    let sig = crate::sys::signals::parse_signal(sig)?;
    if !s.alive() {
        return Err(Error::usage(
            format!("container {id} is not running"),
            "nothing to signal",
        ));
    }
    let mut pids = vec![s.pid];
    if all {
        for d in &s.cgroups {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            pids.extend(procs.lines().filter_map(|l| l.parse::<i32>().ok()));
        }
        pids.sort();
        pids.dedup();
    }
    for p in pids {
        sys.kill(p, sig, "the signal the engine sends to the container")?;
    }
    Ok(0)
}

pub fn delete(sys: &Sys, root: &Path, id: &str, force: bool) -> Result<i32> {
    // As runc: --force on a container that is not there is done already.
    if force && !state::dir(root, id).join("state.json").exists() {
        state::check_id(id)?;
        let _ = std::fs::remove_dir_all(state::dir(root, id));
        return Ok(0);
    }
    let s = State::load(root, id)?;
    if s.status() == "running" && !force {
        return Err(Error::usage(
            format!("container {id} is still running"),
            "stop it first (glassbox runtime kill), or delete --force",
        ));
    }
    if s.alive() {
        sys.kill(s.pid, libc::SIGKILL, "delete: the container's process ends")?;
        for _ in 0..200 {
            if !s.alive() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    for d in s.cgroups.iter().rev() {
        cgroups::remove_cgroup(sys, d)?;
    }
    if let Ok(b) = bundle::load(&s.bundle) {
        hooks(
            sys,
            &b,
            "poststop",
            &state_json(id, "stopped", 0, &b),
            false,
        )?;
    }
    std::fs::remove_dir_all(state::dir(root, id)).map_err(|e| {
        Error::io(
            format!("cannot remove the state of {id}"),
            &e,
            "remove it by hand",
        )
    })?;
    Ok(0)
}

pub fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let all = state::all(root);
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
    } else if format == "json" {
        let v: Vec<serde_json::Value> = all.iter().map(|s| s.public()).collect();
        println!("{}", serde_json::to_string(&v).expect("json"));
    } else {
        println!(
            "{:<20} {:<8} {:<10} {:<40} CREATED",
            "ID", "PID", "STATUS", "BUNDLE"
        );
        for s in &all {
            let pid = if s.alive() { s.pid } else { 0 };
            println!(
                "{:<20} {:<8} {:<10} {:<40} {}",
                s.id,
                pid,
                s.status(),
                s.bundle.display(),
                crate::clock::rfc3339(s.created)
            );
        }
    }
    Ok(0)
}

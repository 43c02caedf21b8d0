//! `exec`: one more process in a running container, from the engine's process.json (what
//! `podman exec` and `docker exec` ask). It joins the container's cgroups and namespaces,
//! then forks once more, so it is born inside the container's pid namespace too.

use super::state::State;
use crate::error::{Error, Result};
use crate::sys::process::Forked;
use crate::sys::Sys;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    pub id: String,
    /// The process to run, as config.json's `process` (args, env, cwd, user, capabilities…).
    #[arg(short, long)]
    pub process: PathBuf,
    /// Do not wait for the process: return once it runs.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted as runc does: process.json's `terminal` decides.
    #[arg(short, long)]
    pub tty: bool,
    /// Descriptors 3 to 3+N-1 of this call stay open in the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

/// The namespaces to join, user first (joining it gives the rights the others need), mount
/// last but one (it changes the root) and cgroup last, as runc's nsexec orders them.
const ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
    ("cgroup", libc::CLONE_NEWCGROUP),
];

pub fn exec(sys: &Sys, root: &Path, a: &ExecArgs) -> Result<i32> {
    let s = State::load(root, &a.id)?;
    if s.status() != "running" {
        return Err(Error::usage(
            format!(
                "container {} is {}: exec needs a running container",
                a.id,
                s.status()
            ),
            "start it first (glassbox runtime start)",
        ));
    }
    let text = std::fs::read(&a.process).map_err(|e| {
        Error::io(
            format!("cannot read the process file {}", a.process.display()),
            &e,
            "give --process the path of a process.json",
        )
    })?;
    let process: oci_spec::runtime::Process = serde_json::from_slice(&text).map_err(|e| {
        Error::usage(
            format!(
                "{} is not a process of the runtime spec: {e}",
                a.process.display()
            ),
            "write it as config.json's \"process\" object",
        )
    })?;
    let spec = super::bundle::load(&s.bundle)?.spec;
    let console =
        match (&a.console_socket, process.terminal() == Some(true)) {
            (Some(path), true) => Some(super::console::connect(path)?),
            (None, true) => return Err(Error::usage(
                "process.json asks for a terminal but no --console-socket was given to send it to",
                "give --console-socket SOCKET, or set terminal to false",
            )),
            _ => None,
        };
    // The joining process tells this one the pid of the process it forked.
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::io("cannot make a socket pair", &e, "check the open file limit"))?;
    let joiner = match sys.fork(
        0,
        "a process to join the container's cgroups and namespaces",
    )? {
        Forked::Child => {
            drop(ours);
            let console = console.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
            let e = join_and_run(sys, &s, &spec, &process, theirs, console, a);
            crate::narrate::report_error(&e);
            std::process::exit(125);
        }
        Forked::Parent(pid) => pid,
    };
    drop(theirs);
    drop(console);
    let mut buf = String::new();
    let _ = ours.read_to_string(&mut buf);
    let Ok(pid) = buf.trim().parse::<i32>() else {
        let ended = sys.wait(
            joiner,
            "collect the process that failed to join the container",
        )?;
        return Err(Error::new(
            format!(
                "the exec into container {} failed before its process started ({})",
                a.id,
                ended.describe()
            ),
            "run with --debug and read the log",
        ));
    };
    if let Some(p) = &a.pid_file {
        crate::store::write_whole(p, pid.to_string().as_bytes())?;
    }
    crate::sys::process::forward_signals_to(pid);
    let ended = sys.wait(joiner, "wait for the exec'd process to end")?;
    Ok(ended.code())
}

/// In the forked process: cgroups, namespaces, one more fork, then the process.json command.
fn join_and_run(
    sys: &Sys,
    s: &State,
    spec: &oci_spec::runtime::Spec,
    process: &oci_spec::runtime::Process,
    mut report: std::os::unix::net::UnixStream,
    console: Option<std::os::fd::RawFd>,
    a: &ExecArgs,
) -> Error {
    let me = std::process::id().to_string();
    for d in &s.cgroups {
        let procs = d.join("cgroup.procs");
        if let Err(e) = sys.write_file_plain(
            &procs,
            &me,
            "exec: into the container's cgroup, so its limits count this process too",
        ) {
            return e;
        }
    }
    for (name, flag) in ORDER {
        let theirs = format!("/proc/{}/ns/{name}", s.pid);
        let (Ok(t), Ok(o)) = (
            std::fs::read_link(&theirs),
            std::fs::read_link(format!("/proc/self/ns/{name}")),
        ) else {
            continue;
        };
        if t == o {
            continue;
        }
        let f = match std::fs::File::open(&theirs) {
            Ok(f) => f,
            Err(e) => {
                return Error::io(
                    format!("cannot open {theirs}"),
                    &e,
                    "is the container still running?",
                )
            }
        };
        if let Err(e) = sys.setns(
            f.as_fd(),
            Some(&t.to_string_lossy()),
            &theirs,
            *flag,
            "exec: join the container's namespace",
        ) {
            return e;
        }
    }
    let pid = match sys.fork(
        0,
        "the exec'd process: born inside the container's pid namespace",
    ) {
        Ok(Forked::Parent(pid)) => pid,
        Ok(Forked::Child) => {
            drop(report);
            if let Some(socket) = console {
                if let Err(e) = crate::run::child::terminal_of_its_own(sys, socket) {
                    return e;
                }
            }
            return match super::init::become_command(sys, spec, process, a.preserve_fds) {
                Err(e) => e,
                Ok(never) => match never {},
            };
        }
        Err(e) => return e,
    };
    let _ = report.write_all(pid.to_string().as_bytes());
    drop(report);
    if a.detach {
        // Its parent ends: it goes to the engine's subreaper (conmon), which collects it.
        std::process::exit(0);
    }
    let code = sys
        .wait(pid, "wait for the exec'd command")
        .map(|e| e.code())
        .unwrap_or(125);
    std::process::exit(code);
}

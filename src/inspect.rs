//! `glassbox inspect PID`: what isolation a process has, next to the host's.
//!
//! Everything is read from /proc (nothing is changed): its namespaces compared with our own,
//! its root, cgroups, mounts, capabilities, no_new_privs, seccomp mode and uid/gid maps.

pub mod dot;

use crate::error::{Error, Result};
use crate::sys::security::cap_name;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct NsLine {
    pub kind: String,
    pub id: String,
    pub host: String,
    pub isolated: bool,
}

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub pid: i32,
    pub command: String,
    pub namespaces: Vec<NsLine>,
    pub root: String,
    pub cgroups: Vec<String>,
    pub mounts: usize,
    pub host_mounts: usize,
    pub capabilities: Vec<String>,
    pub no_new_privs: String,
    pub seccomp: String,
    pub uid_map: String,
    pub gid_map: String,
}

const NS_KINDS: &[&str] = &["mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"];

fn link(path: &str) -> String {
    std::fs::read_link(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into())
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// Read what isolates `pid`, compared with the namespaces glassbox inspect itself runs in
/// (the terminal of the person asking: on a plain host, the host's).
pub fn inspect(pid: i32) -> Result<Inspection> {
    let base = format!("/proc/{pid}");
    if !Path::new(&base).exists() {
        return Err(Error::usage(
            format!("there is no process {pid}"),
            "give the pid of a running process (ps -ef shows them)",
        ));
    }
    let status = std::fs::read_to_string(format!("{base}/status")).map_err(|e| {
        Error::io(
            format!("cannot read {base}/status"),
            &e,
            "run glassbox inspect as root to inspect another user's process",
        )
    })?;
    let namespaces = NS_KINDS
        .iter()
        .filter(|k| Path::new(&format!("{base}/ns/{k}")).exists())
        .map(|k| {
            let id = link(&format!("{base}/ns/{k}"));
            let host = link(&format!("/proc/self/ns/{k}"));
            NsLine {
                kind: k.to_string(),
                isolated: id != host,
                id,
                host,
            }
        })
        .collect();
    let count = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let caps = crate::host::caps_in(&status, "CapEff").unwrap_or(0);
    let seccomp = match status_field(&status, "Seccomp").as_str() {
        "0" => "0 (off)".to_string(),
        "1" => "1 (strict)".to_string(),
        "2" => "2 (filter)".to_string(),
        other => other.to_string(),
    };
    Ok(Inspection {
        pid,
        command: std::fs::read_to_string(format!("{base}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ")
            .trim()
            .to_string(),
        namespaces,
        root: link(&format!("{base}/root")),
        cgroups: std::fs::read_to_string(format!("{base}/cgroup"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect(),
        mounts: count(&format!("{base}/mountinfo")),
        host_mounts: count("/proc/self/mountinfo"),
        capabilities: (0..64)
            .filter(|n| caps & (1u64 << n) != 0)
            .map(cap_name)
            .collect(),
        no_new_privs: status_field(&status, "NoNewPrivs"),
        seccomp,
        uid_map: std::fs::read_to_string(format!("{base}/uid_map"))
            .unwrap_or_default()
            .trim()
            .to_string(),
        gid_map: std::fs::read_to_string(format!("{base}/gid_map"))
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}

/// A pid as given, or the host pid of a running container's PID 1.
fn target_pid(target: &str) -> Result<i32> {
    if let Ok(pid) = target.parse::<i32>() {
        return Ok(pid);
    }
    let c = crate::store::containers::find(target)?;
    c.state().running_pid().ok_or_else(|| {
        crate::error::Error::usage(
            format!(
                "container {} is not running: it has no process to inspect",
                c.name()
            ),
            format!("start it first: glassbox start {}", c.name()),
        )
    })
}

pub fn main(a: &crate::cli::InspectArgs) -> Result<i32> {
    let pid_given = matches!(a.targets.as_slice(), [t] if t.parse::<i32>().is_ok());
    // A container's or an image's config, as docker inspect shows it.
    if !(a.process || a.json || a.dot || a.svg || pid_given) {
        return crate::container::inspect::main(a);
    }
    let [target] = a.targets.as_slice() else {
        return Err(crate::error::Error::usage(
            "the process view takes one pid or container",
            "give one: glassbox inspect --process NAME",
        ));
    };
    let i = inspect(target_pid(target)?)?;
    if a.dot || a.svg {
        let graph = dot::dot(&i);
        if a.dot {
            print!("{graph}");
        } else {
            use std::io::Write;
            let svg = dot::svg(&graph)?;
            std::io::stdout().write_all(&svg).map_err(|e| {
                Error::io(
                    "could not write the SVG to stdout",
                    &e,
                    "redirect it to a file: glassbox inspect --svg PID > ns.svg",
                )
            })?;
        }
        return Ok(0);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&i).expect("serializes"));
        return Ok(0);
    }
    println!("process {}: {}", i.pid, i.command);
    println!("namespaces (compared with this terminal's, where glassbox inspect runs):");
    for n in &i.namespaces {
        let state = if n.isolated {
            "isolated"
        } else {
            "shared with this terminal"
        };
        println!("  {:7} {:24} {}", n.kind, n.id, state);
    }
    println!("root:         {}", i.root);
    println!(
        "mounts:       {} (this terminal has {})",
        i.mounts, i.host_mounts
    );
    for c in &i.cgroups {
        println!("cgroup:       {c}");
    }
    let caps = if i.capabilities.is_empty() {
        "none".to_string()
    } else {
        i.capabilities.join(" ")
    };
    println!("capabilities: {} ({caps})", i.capabilities.len());
    println!("no_new_privs: {}", i.no_new_privs);
    println!("seccomp:      {}", i.seccomp);
    println!(
        "uid_map:      {}",
        i.uid_map.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    println!(
        "gid_map:      {}",
        i.gid_map.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    println!(
        "look inside:  glassbox enter {0} -- /bin/sh   (or: nsenter -t {0} -a /bin/sh)",
        i.pid
    );
    Ok(0)
}

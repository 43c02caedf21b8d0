//! `ps`, `pause` and `resume`: what an engine asks of a running container through its
//! cgroups (`podman top`, `podman pause`/`unpause`).

use super::state::{freezer, State};
use crate::error::{Error, Result};
use crate::sys::Sys;
use std::path::Path;

/// The pids of every process in the container's cgroups.
pub fn pids(s: &State) -> Vec<i32> {
    let mut pids: Vec<i32> = s
        .cgroups
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

/// `ps`: json is the list of pids (what podman reads); table is pid and command line.
pub fn ps(root: &Path, id: &str, format: &str) -> Result<i32> {
    let s = State::load(root, id)?;
    let pids = pids(&s);
    if format == "json" {
        println!("{}", serde_json::to_string(&pids).expect("json"));
        return Ok(0);
    }
    println!("{:<8} CMD", "PID");
    for p in pids {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        println!("{p:<8} {}", cmd.join(" "));
    }
    Ok(0)
}

/// `pause` (freeze) or `resume` (thaw) every process of the container.
pub fn pause(sys: &Sys, root: &Path, id: &str, freeze: bool) -> Result<i32> {
    let s = State::load(root, id)?;
    let want = if freeze { "running" } else { "paused" };
    if s.status() != want {
        return Err(Error::usage(
            format!("container {id} is {}, not {want}", s.status()),
            "see its state with glassbox runtime state",
        ));
    }
    let f = freezer(&s).ok_or_else(|| {
        Error::new(
            format!("container {id} has no freezer cgroup (cgroup.freeze or freezer.state)"),
            "mount the freezer hierarchy or cgroup v2",
        )
    })?;
    if freeze {
        f.freeze(
            sys,
            "pause: every process of the container stops where it stands",
        )
    } else {
        f.thaw(sys, "resume: the container's processes run again")
    }?;
    Ok(0)
}

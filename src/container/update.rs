//! `glassbox update --memory/--cpus/--pids-limit C…`: new limits for running containers, as
//! docker update: the same cgroup files `run` wrote (memory.max or memory.limit_in_bytes,
//! cpu.max or cpu.cfs_quota_us, pids.max), written again while the processes run. The kernel
//! applies them at once: a memory limit below what the container uses makes it reclaim,
//! then OOM-kill. config.json is brought up to date, so inspect shows the new limits.

use crate::cli::UpdateArgs;
use crate::error::{Error, Result};
use crate::stages::cgroups::limits::{LimitSpec, Limits};
use crate::stages::cgroups::{v1, v2, write_limit};
use crate::store::containers::Container;
use crate::sys::Sys;

fn update(sys: &Sys, c: &Container, limits: &Limits) -> Result<()> {
    if c.state().running_pid().is_none() {
        return Err(Error::usage(
            format!("cannot update container {}: it is not running", c.name()),
            format!("start it first: glassbox start {}", c.name()),
        )
        .with_code(1));
    }
    let dirs = super::cgroup::dirs(c.id());
    sys.narrator.stage(
        "update",
        &format!("new limits for {}, written to its cgroup files", c.name()),
    );
    for ctrl in limits.controllers() {
        // On v1 a hierarchy of its own; on v2 the one tree, if the controller is enabled there.
        let place = dirs
            .iter()
            .find(|d| d.version == 1 && d.has(ctrl))
            .or_else(|| {
                dirs.iter()
                    .find(|d| d.version == 2 && d.path.join(format!("{ctrl}.max")).exists())
            });
        let Some(d) = place else {
            return Err(Error::new(
                format!(
                    "cannot update the {ctrl} limit of container {}: it has no {ctrl} cgroup (glassbox makes a container's cgroup only in the hierarchies of the limits it was run with)",
                    c.name()
                ),
                format!("run it again with a {ctrl} limit (glassbox rm -f {0}; glassbox run --name {0} … with the limit), then update changes it", c.name()),
            )
            .with_code(1));
        };
        let writes = match d.version {
            1 => v1::writes(limits, &[ctrl]),
            _ => v2::writes(limits, &[ctrl]),
        };
        for w in &writes {
            write_limit(sys, &d.path, w)?;
        }
    }
    record(c, limits)
}

/// The new limits in config.json's linux.resources (as docker keeps them in hostconfig.json).
fn record(c: &Container, l: &Limits) -> Result<()> {
    let Ok(path) = c.bundle_config() else {
        return Ok(());
    };
    let Some(mut spec) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Ok(());
    };
    let r = &mut spec["linux"]["resources"];
    if let Some(m) = l.memory {
        r["memory"]["limit"] = m.into();
    }
    if let Some(cpus) = l.cpus {
        r["cpu"]["quota"] = cpus.quota_us.into();
        r["cpu"]["period"] = cpus.period_us.into();
    }
    if let Some(s) = l.cpu_shares {
        r["cpu"]["shares"] = s.into();
    }
    if let Some(p) = l.pids {
        r["pids"]["limit"] = p.map_or(-1, |n| n as i64).into();
    }
    let bytes = serde_json::to_vec_pretty(&spec).expect("serializes");
    crate::store::write_whole(&path, &bytes)
}

pub fn main(a: &UpdateArgs, sys: &Sys) -> Result<i32> {
    let limits = Limits::parse(&LimitSpec {
        memory: a.memory.clone(),
        memory_swap: a.memory_swap.clone(),
        cpus: a.cpus.clone(),
        cpu_shares: a.cpu_shares,
        pids: a.pids_limit,
        pids_flag: "--pids-limit",
    })?;
    if limits.controllers().is_empty() {
        return Err(Error::usage(
            "update was given no limit to change",
            "give --memory, --memory-swap, --cpus, --cpu-shares or --pids-limit",
        ));
    }
    super::each::each("update", &a.containers, |c| update(sys, &c, &limits))
}

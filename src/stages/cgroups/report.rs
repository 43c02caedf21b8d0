//! After the command ends: read what the kernel counted in each cgroup and say it in plain
//! words — how the command ended, OOM kills, the pids limit, CPU time used and throttled.
//! Reading changes nothing, so none of it is narrated as a call.

use super::limits::{human_bytes, Limits};
use super::Group;
use crate::sys::process::Ended;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// What the kernel counted. `None`: this host does not keep that count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    pub oom_kills: Option<u64>,
    pub mem_limit_hits: Option<u64>,
    pub mem_peak: Option<u64>,
    pub pids_max_hits: Option<u64>,
    pub cpu_usage_us: Option<u64>,
    pub cpu_periods: Option<u64>,
    pub cpu_throttled: Option<u64>,
    pub cpu_throttled_us: Option<u64>,
}

/// A flat keyed file (`key value` per line), as memory.events, pids.events, cpu.stat.
pub fn keyed(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Read the counters of every cgroup of a run.
pub fn read(groups: &[Group], name: &str) -> Usage {
    let mut u = Usage::default();
    for g in groups {
        let dir = g.dir(name);
        let has = |c: &str| g.controllers.contains(&c);
        if g.version == 2 {
            // cpu.stat's usage is kept in every v2 cgroup, with or without the cpu controller.
            let stat = keyed(&dir.join("cpu.stat"));
            if let Some(v) = stat.get("usage_usec") {
                u.cpu_usage_us = Some(*v);
            }
            if has("cpu") {
                u.cpu_periods = stat.get("nr_periods").copied();
                u.cpu_throttled = stat.get("nr_throttled").copied();
                u.cpu_throttled_us = stat.get("throttled_usec").copied();
            }
            if has("memory") {
                let ev = keyed(&dir.join("memory.events"));
                u.oom_kills = ev.get("oom_kill").copied();
                u.mem_limit_hits = ev.get("max").copied();
                u.mem_peak = number(&dir.join("memory.peak"));
            }
            if has("pids") {
                u.pids_max_hits = keyed(&dir.join("pids.events")).get("max").copied();
            }
        } else {
            if has("cpu") {
                let stat = keyed(&dir.join("cpu.stat"));
                u.cpu_periods = stat.get("nr_periods").copied();
                u.cpu_throttled = stat.get("nr_throttled").copied();
                u.cpu_throttled_us = stat.get("throttled_time").map(|ns| ns / 1000);
                if u.cpu_usage_us.is_none() {
                    // cpuacct, when it is co-mounted with cpu (cpu,cpuacct).
                    u.cpu_usage_us = number(&dir.join("cpuacct.usage")).map(|ns| ns / 1000);
                }
            }
            if has("memory") {
                u.oom_kills = keyed(&dir.join("memory.oom_control"))
                    .get("oom_kill")
                    .copied();
                u.mem_limit_hits = number(&dir.join("memory.failcnt"));
                u.mem_peak = number(&dir.join("memory.max_usage_in_bytes"));
            }
            if has("pids") {
                u.pids_max_hits = keyed(&dir.join("pids.events")).get("max").copied();
            }
        }
    }
    u
}

/// The report in plain words, one line per finding.
pub fn lines(u: &Usage, limits: &Limits, ended: Ended, wall: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let oom = u.oom_kills.unwrap_or(0);
    let how = match ended {
        Ended::Signaled(9) if oom > 0 => {
            "was killed by the OOM killer (signal 9, SIGKILL): it needed more memory than the limit allows".to_string()
        }
        e => e.describe(),
    };
    out.push(format!("the command {how}"));
    if let Some(limit) = limits.memory {
        let peak = u
            .mem_peak
            .map(|p| format!("peak {}", human_bytes(p)))
            .unwrap_or_else(|| "peak not counted on this kernel".into());
        let mut l = format!("memory: {peak} of the {} limit", human_bytes(limit));
        if oom > 0 {
            l.push_str(&format!(
                "; the OOM killer killed {oom} process{} in the cgroup (memory limit {} reached)",
                if oom == 1 { "" } else { "es" },
                human_bytes(limit)
            ));
        } else if let Some(h) = u.mem_limit_hits.filter(|h| *h > 0) {
            l.push_str(&format!(
                "; it reached the limit {h} times and the kernel reclaimed memory"
            ));
        }
        out.push(l);
    }
    if let Some(p) = limits.pids {
        let limit = p.map(|n| n.to_string()).unwrap_or_else(|| "max".into());
        match u.pids_max_hits {
            Some(h) if h > 0 => out.push(format!(
                "pids: the pids limit of {limit} was hit: {h} fork{} refused inside the cgroup (EAGAIN)",
                if h == 1 { " was" } else { "s were" }
            )),
            _ => out.push(format!("pids: the limit of {limit} was never hit")),
        }
    }
    if let Some(used) = u.cpu_usage_us {
        let secs = wall.as_secs_f64().max(1e-6);
        let pct = used as f64 / 1e6 / secs * 100.0;
        let mut l = format!(
            "cpu: used {:.2} s of CPU time in {:.2} s ({pct:.0}% of one CPU)",
            used as f64 / 1e6,
            secs
        );
        if let Some(c) = limits.cpus {
            l.push_str(&format!(", limit {} CPU", c.fraction()));
        }
        out.push(l);
    }
    if limits.cpus.is_some() {
        match (u.cpu_throttled, u.cpu_throttled_us) {
            (Some(n), Some(t)) if n > 0 => out.push(format!(
                "cpu: throttled in {n} of {} periods, {:.2} s in all: the quota was used up and the command waited for the next period",
                u.cpu_periods.unwrap_or(0),
                t as f64 / 1e6
            )),
            (Some(_), _) => out.push("cpu: never throttled: the command stayed under its quota".into()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_parse() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("memory.events");
        std::fs::write(&f, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n").unwrap();
        let k = keyed(&f);
        assert_eq!(k["max"], 12);
        assert_eq!(k["oom_kill"], 1);
    }

    #[test]
    fn oom_kill_is_named_with_the_limit() {
        let u = Usage {
            oom_kills: Some(1),
            mem_peak: Some(32 << 20),
            ..Default::default()
        };
        let l = Limits {
            memory: Some(32 << 20),
            ..Default::default()
        };
        let text = lines(&u, &l, Ended::Signaled(9), Duration::from_secs(1)).join("\n");
        assert!(text.contains("killed by the OOM killer"), "{text}");
        assert!(text.contains("32.0 MiB limit"), "{text}");
    }
}

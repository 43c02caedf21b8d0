//! `glassbox stats [--no-stream] [C…]`: what running containers use, as docker stats shows
//! it, read from the kernel's counters: the container's cgroup files (cpu.stat or
//! cpuacct.usage, memory.current or memory.usage_in_bytes and the limit beside it,
//! pids.current, io.stat) and its network namespace's interface counters
//! (/proc/PID/net/dev). Reading changes nothing, so nothing is narrated as a call.

use crate::cli::StatsArgs;
use crate::error::Result;
use crate::store::containers::{find, list, Container};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// One container's counters at one moment.
struct Sample {
    cpu_ns: Option<u64>,
    mem: Option<u64>,
    limit: Option<u64>,
    pids: Option<u64>,
    net: Option<(u64, u64)>,
    block: Option<(u64, u64)>,
}

fn host_memory() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes received and sent on every interface of the process's network namespace but lo.
fn net(pid: i32) -> Option<(u64, u64)> {
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let mut total = (0, 0);
    for line in dev.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        total.0 += f.first().copied().unwrap_or(0);
        total.1 += f.get(8).copied().unwrap_or(0);
    }
    Some(total)
}

fn sample(c: &Container, pid: i32) -> Sample {
    use super::cgroup::{dirs, number};
    let ds = dirs(c.id());
    let v2 = ds.iter().find(|d| d.version == 2);
    let v1 = |ctrl: &str| ds.iter().find(|d| d.version == 1 && d.has(ctrl));
    let keyed = crate::stages::cgroups::report::keyed;
    let cpu_ns = v2
        .and_then(|d| {
            keyed(&d.path.join("cpu.stat"))
                .get("usage_usec")
                .map(|u| u * 1000)
        })
        .or_else(|| v1("cpuacct").and_then(|d| number(d.path.join("cpuacct.usage"))));
    let (mem, limit) = match (
        v1("memory"),
        v2.filter(|d| d.path.join("memory.current").exists()),
    ) {
        (Some(d), _) => (
            number(d.path.join("memory.usage_in_bytes")),
            number(d.path.join("memory.limit_in_bytes")),
        ),
        (None, Some(d)) => (
            number(d.path.join("memory.current")),
            number(d.path.join("memory.max")),
        ),
        _ => (None, None),
    };
    let pids = v1("pids")
        .or(v2.filter(|d| d.path.join("pids.current").exists()))
        .and_then(|d| number(d.path.join("pids.current")))
        // Without a pids cgroup: the processes its cgroup holds.
        .or_else(|| {
            let procs = std::fs::read_to_string(ds.first()?.path.join("cgroup.procs")).ok()?;
            Some(procs.lines().count() as u64)
        });
    let block = v2.filter(|d| d.path.join("io.stat").exists()).map(|d| {
        let stat = std::fs::read_to_string(d.path.join("io.stat")).unwrap_or_default();
        let mut rw = (0, 0);
        for field in stat.split_whitespace() {
            if let Some(v) = field.strip_prefix("rbytes=") {
                rw.0 += v.parse::<u64>().unwrap_or(0);
            } else if let Some(v) = field.strip_prefix("wbytes=") {
                rw.1 += v.parse::<u64>().unwrap_or(0);
            }
        }
        rw
    });
    Sample {
        cpu_ns,
        mem,
        // A limit larger than the machine is no limit: docker shows the machine's memory.
        limit: limit.map(|l| l.min(host_memory())).or(Some(host_memory())),
        pids,
        net: net(pid),
        block,
    }
}

/// 1.5MiB, as docker stats shows memory.
fn binary(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", trim(v), units[i])
}

/// 1.2kB, as docker stats shows I/O.
fn decimal(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", trim(v), units[i])
}

/// Four significant figures at most, as docker's units package ("%.4g").
fn trim(v: f64) -> String {
    let decimals = match v {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn pair(p: Option<(u64, u64)>) -> String {
    p.map_or("--".into(), |(a, b)| {
        format!("{} / {}", decimal(a), decimal(b))
    })
}

fn row(c: &Container, before: &Sample, after: &Sample, wall: Duration) -> Vec<String> {
    let cpu = match (before.cpu_ns, after.cpu_ns) {
        (Some(a), Some(b)) if wall.as_nanos() > 0 => format!(
            "{:.2}%",
            b.saturating_sub(a) as f64 / wall.as_nanos() as f64 * 100.0
        ),
        _ => "--".into(),
    };
    let (mem, pct) = match (after.mem, after.limit) {
        (Some(m), Some(l)) if l > 0 => (
            format!("{} / {}", binary(m), binary(l)),
            format!("{:.2}%", m as f64 / l as f64 * 100.0),
        ),
        (_, Some(l)) => (format!("-- / {}", binary(l)), "--".into()),
        _ => ("--".into(), "--".into()),
    };
    vec![
        c.id().to_string(),
        c.name().to_string(),
        cpu,
        mem,
        pct,
        pair(after.net),
        pair(after.block),
        after.pids.map_or("--".into(), |p| p.to_string()),
    ]
}

const HEADER: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// One table: two samples `interval` apart (CPU % is the CPU time used between them).
fn table(containers: &[Container], all: bool, interval: Duration) -> Vec<Vec<String>> {
    let running: Vec<(&Container, Option<i32>)> = containers
        .iter()
        .map(|c| (c, c.state().running_pid()))
        .filter(|(_, p)| all || p.is_some())
        .collect();
    let first: Vec<Option<Sample>> = running
        .iter()
        .map(|(c, p)| p.map(|p| sample(c, p)))
        .collect();
    let start = Instant::now();
    std::thread::sleep(interval);
    let wall = start.elapsed();
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    for ((c, pid), before) in running.iter().zip(first) {
        match (pid, before) {
            (Some(p), Some(b)) => rows.push(row(c, &b, &sample(c, *p), wall)),
            _ => rows.push(
                [
                    c.id(),
                    c.name(),
                    "0.00%",
                    "0B / 0B",
                    "0.00%",
                    "0B / 0B",
                    "0B / 0B",
                    "0",
                ]
                .map(String::from)
                .to_vec(),
            ),
        }
    }
    rows
}

pub fn main(a: &StatsArgs) -> Result<i32> {
    let containers: Vec<Container> = if a.containers.is_empty() {
        list()
    } else {
        a.containers
            .iter()
            .map(|r| find(r).map_err(|e| e.with_code(1)))
            .collect::<Result<_>>()?
    };
    let all = a.all || !a.containers.is_empty();
    if a.no_stream {
        super::ps::print_table(&table(&containers, all, Duration::from_millis(500)));
        return Ok(0);
    }
    let terminal = std::io::stdout().is_terminal();
    loop {
        let rows = table(&containers, all, Duration::from_secs(1));
        if terminal {
            // Clear the screen and go home: the table refreshes in place, as docker's.
            print!("\x1b[2J\x1b[H");
        }
        super::ps::print_table(&rows);
        if std::io::stdout().flush().is_err() {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_stats_shows_them() {
        assert_eq!(binary(64 << 20), "64MiB");
        assert_eq!(binary(1536 * 1024), "1.5MiB");
        assert_eq!(binary(300), "300B");
        assert_eq!(decimal(1234), "1.234kB");
        assert_eq!(decimal(0), "0B");
    }
}

//! cgroup v1: one hierarchy per controller (or per group of co-mounted controllers), each
//! with its own file names and units. Only the translation lives here; the driver is shared.

use super::limits::{Limits, Swap};
use super::LimitWrite;

/// The limit files to write in a v1 cgroup that has `controllers`, in the order the kernel
/// needs them (memory before memory+swap, the period before the quota).
pub fn writes(limits: &Limits, controllers: &[&str]) -> Vec<LimitWrite> {
    let mut w = Vec::new();
    let has = |c: &str| controllers.contains(&c);
    if has("memory") {
        if let Some(m) = limits.memory {
            w.push(LimitWrite::new(
                "memory.limit_in_bytes",
                m.to_string(),
                "the memory limit: past it the kernel reclaims, then the OOM killer ends a process in the cgroup",
            ));
        }
        match limits.memory_swap {
            Some(Swap::Total(t)) => w.push(LimitWrite::new(
                "memory.memsw.limit_in_bytes",
                t.to_string(),
                "the limit on memory and swap together (--memory-swap)",
            )),
            Some(Swap::Unlimited) => w.push(LimitWrite::new(
                "memory.memsw.limit_in_bytes",
                "-1".into(),
                "no limit on memory and swap together (--memory-swap -1)",
            )),
            None => {}
        }
    }
    if has("cpu") {
        if let Some(c) = limits.cpus {
            w.push(LimitWrite::new(
                "cpu.cfs_period_us",
                c.period_us.to_string(),
                "the accounting period for the CPU quota, in microseconds",
            ));
            w.push(LimitWrite::new(
                "cpu.cfs_quota_us",
                c.quota_us.to_string(),
                format!(
                    "CPU time allowed per period: {} µs of every {} µs is {} of one CPU",
                    c.quota_us,
                    c.period_us,
                    c.fraction()
                ),
            ));
        }
        if let Some(s) = limits.cpu_shares {
            w.push(LimitWrite::new(
                "cpu.shares",
                s.to_string(),
                "the relative weight when CPUs are contended (1024 is normal)",
            ));
        }
    }
    if has("pids") {
        w.extend(super::pids_write(limits));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::super::limits::Cpus;
    use super::*;

    #[test]
    fn v1_files_and_units() {
        let l = Limits {
            memory: Some(32 << 20),
            memory_swap: Some(Swap::Total(64 << 20)),
            cpus: Some(Cpus {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            cpu_shares: Some(512),
            pids: Some(Some(20)),
        };
        let got: Vec<(&str, String)> = writes(&l, &["memory", "cpu", "pids"])
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("memory.limit_in_bytes", "33554432".to_string()),
                ("memory.memsw.limit_in_bytes", "67108864".to_string()),
                ("cpu.cfs_period_us", "100000".to_string()),
                ("cpu.cfs_quota_us", "50000".to_string()),
                ("cpu.shares", "512".to_string()),
                ("pids.max", "20".to_string()),
            ]
        );
        // A hierarchy gets only its own controllers' files.
        let only_pids: Vec<&str> = writes(&l, &["pids"]).iter().map(|w| w.file).collect();
        assert_eq!(only_pids, vec!["pids.max"]);
    }
}

//! cgroup v2: one unified tree; a controller's files appear in a cgroup only once the parent
//! enables it in `cgroup.subtree_control`. Only the translation lives here.

use super::limits::{shares_to_weight, Limits, Swap};
use super::LimitWrite;

/// The limit files to write in a v2 cgroup for `controllers`.
pub fn writes(limits: &Limits, controllers: &[&str]) -> Vec<LimitWrite> {
    let mut w = Vec::new();
    let has = |c: &str| controllers.contains(&c);
    if has("memory") {
        if let Some(m) = limits.memory {
            w.push(LimitWrite::new(
                "memory.max",
                m.to_string(),
                "the memory limit: past it the kernel reclaims, then the OOM killer ends a process in the cgroup",
            ));
            match limits.memory_swap {
                // v2 limits swap alone, docker's --memory-swap is memory and swap together.
                Some(Swap::Total(t)) => w.push(LimitWrite::new(
                    "memory.swap.max",
                    (t - m).to_string(),
                    "the swap limit: --memory-swap minus --memory (v2 counts swap on its own)",
                )),
                Some(Swap::Unlimited) => w.push(LimitWrite::new(
                    "memory.swap.max",
                    "max".into(),
                    "no limit on swap (--memory-swap -1)",
                )),
                None => {}
            }
        }
    }
    if has("cpu") {
        if let Some(c) = limits.cpus {
            w.push(LimitWrite::new(
                "cpu.max",
                format!("{} {}", c.quota_us, c.period_us),
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
                "cpu.weight",
                shares_to_weight(s).to_string(),
                format!("the relative weight when CPUs are contended: --cpu-shares {s} is weight {} (100 is normal)", shares_to_weight(s)),
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
    fn v2_files_and_units() {
        let l = Limits {
            memory: Some(32 << 20),
            memory_swap: Some(Swap::Total(64 << 20)),
            cpus: Some(Cpus {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            cpu_shares: Some(1024),
            pids: Some(None),
        };
        let got: Vec<(&str, String)> = writes(&l, &["memory", "cpu", "pids"])
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("memory.max", "33554432".to_string()),
                ("memory.swap.max", "33554432".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("cpu.weight", "39".to_string()),
                ("pids.max", "max".to_string()),
            ]
        );
    }
}

//! The limits a user asks for, parsed and checked before glassbox touches anything.
//!
//! Units follow `docker run`: sizes in bytes or with a binary unit (`64m`, `1.5G`, `512KiB`),
//! `--cpus` as a fraction of one CPU, `--cpu-shares` as the v1 weight (1024 = normal).
//! Every check the kernel would make later (a CPU quota under 1 ms is EINVAL) is made here
//! first, so bad input gives one clear sentence and creates nothing.

use crate::error::{Error, Result};

/// The CFS period glassbox uses, in microseconds (the kernel's default, 100 ms).
pub const PERIOD_US: u64 = 100_000;
/// The smallest CPU quota the kernel accepts per period, in microseconds (1 ms).
pub const MIN_QUOTA_US: u64 = 1_000;
/// The smallest memory limit glassbox accepts (docker's minimum, 6 MiB): below it the
/// command would be OOM-killed while it is still loading.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// cpu.shares range on cgroup v1.
pub const MIN_SHARES: u64 = 2;
pub const MAX_SHARES: u64 = 262_144;

/// Memory plus swap, as `--memory-swap` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// `-1`: swap is not limited.
    Unlimited,
    /// Memory and swap together, in bytes.
    Total(u64),
}

/// A CPU bandwidth limit: `quota` microseconds of CPU time in every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    pub quota_us: u64,
    pub period_us: u64,
}

impl Cpus {
    /// As a fraction of one CPU.
    pub fn fraction(&self) -> f64 {
        self.quota_us as f64 / self.period_us as f64
    }
}

/// Validated limits. `None` means "not asked for": that file is not written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_swap: Option<Swap>,
    pub cpus: Option<Cpus>,
    pub cpu_shares: Option<u64>,
    /// `None` inside means "max" (`--pids -1`).
    pub pids: Option<Option<u64>>,
}

/// The limits as the user wrote them (`--memory 64m`, `--cpus 0.5`…): what `glassbox
/// cgroup` and `glassbox run` take from their flags, before any is parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSpec {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<u64>,
    pub pids: Option<i64>,
    /// The flag `pids` came from, for errors: `--pids` (cgroup) or `--pids-limit` (run).
    pub pids_flag: &'static str,
}

impl Limits {
    /// Parse and check every limit asked for; no syscall is made.
    pub fn parse(a: &LimitSpec) -> Result<Limits> {
        let memory = a
            .memory
            .as_deref()
            .map(|s| parse_size(s, "--memory"))
            .transpose()?;
        if let Some(m) = memory {
            if m < MIN_MEMORY {
                return Err(Error::usage(
                    format!(
                        "--memory {} is below the smallest memory limit, 6 MiB: the command would be killed by the OOM killer while it is still loading",
                        a.memory.as_deref().unwrap_or("")
                    ),
                    "give at least --memory 6m",
                ));
            }
        }
        let memory_swap = match a.memory_swap.as_deref() {
            None => None,
            Some("-1") => Some(Swap::Unlimited),
            Some(s) => Some(Swap::Total(parse_size(s, "--memory-swap")?)),
        };
        if let Some(swap) = memory_swap {
            let Some(m) = memory else {
                return Err(Error::usage(
                    "--memory-swap was given without --memory: it limits memory and swap together, so it needs a memory limit to add to",
                    "add --memory, for example --memory 64m --memory-swap 128m",
                ));
            };
            if let Swap::Total(t) = swap {
                if t < m {
                    return Err(Error::usage(
                        format!(
                            "--memory-swap ({}) is less than --memory ({}): it is memory and swap together, so it cannot be smaller than memory alone",
                            human_bytes(t),
                            human_bytes(m)
                        ),
                        "give --memory-swap at least as large as --memory (equal means no swap), or -1 for unlimited swap",
                    ));
                }
            }
        }
        let cpus = a.cpus.as_deref().map(parse_cpus).transpose()?;
        if let Some(s) = a.cpu_shares {
            if !(MIN_SHARES..=MAX_SHARES).contains(&s) {
                return Err(Error::usage(
                    format!("--cpu-shares {s} is outside the range the kernel accepts ({MIN_SHARES} to {MAX_SHARES})"),
                    "give a weight between 2 and 262144; 1024 is a normal share",
                ));
            }
        }
        let pids = match a.pids {
            None => None,
            Some(-1) => Some(None),
            Some(n) if n >= 1 => Some(Some(n as u64)),
            Some(n) => {
                let flag = match a.pids_flag {
                    "" => "--pids",
                    f => f,
                };
                return Err(Error::usage(
                    format!("{flag} {n} is not a usable limit: the command itself is a process, so it needs at least 1 (or -1 for no limit)"),
                    format!("give {flag} 1 or more, for example {flag} 20"),
                ));
            }
        };
        Ok(Limits {
            memory,
            memory_swap,
            cpus,
            cpu_shares: a.cpu_shares,
            pids,
        })
    }

    /// The controllers these limits need, in a fixed order.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.memory.is_some() || self.memory_swap.is_some() {
            c.push("memory");
        }
        if self.cpus.is_some() || self.cpu_shares.is_some() {
            c.push("cpu");
        }
        if self.pids.is_some() {
            c.push("pids");
        }
        c
    }
}

/// docker's mapping of cpu.shares (v1, 2..262144) to cpu.weight (v2, 1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

/// A size: a number (a fraction is allowed) with an optional binary unit
/// b, k, m, g, t, p (each may be followed by `b` or `ib`), as docker reads `--memory`.
pub fn parse_size(s: &str, flag: &str) -> Result<u64> {
    let bad = || {
        Error::usage(
            format!("{flag} {s:?} is not a size glassbox understands"),
            "give a number of bytes, or a number with a unit k, m, g or t (as docker run: 64m, 1.5g)",
        )
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let base = unit.trim_end_matches("ib").trim_end_matches('b');
    // "b" alone is bytes; "kb"/"kib"/"k" are kibibytes.
    let mult: u64 = match (unit.as_str(), base) {
        ("", _) | ("b", _) => 1,
        (_, "k") => 1 << 10,
        (_, "m") => 1 << 20,
        (_, "g") => 1 << 30,
        (_, "t") => 1 << 40,
        (_, "p") => 1 << 50,
        _ => return Err(bad()),
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 / 2.0 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// `--cpus`: a positive fraction of one CPU, at most the number of CPUs online, and at least
/// the kernel's smallest quota (1 ms in every 100 ms period: 0.01).
pub fn parse_cpus(s: &str) -> Result<Cpus> {
    let online = crate::sys::quiet::online_cpus() as f64;
    let v: f64 = s.trim().parse().map_err(|_| {
        Error::usage(
            format!("--cpus {s:?} is not a number"),
            "give a fraction of one CPU, for example --cpus 0.5 (half of one CPU) or --cpus 2",
        )
    })?;
    if !v.is_finite() || v <= 0.0 {
        return Err(Error::usage(
            format!("--cpus {s} is not more than 0: a command with no CPU time could never run"),
            "give a positive fraction of one CPU, for example --cpus 0.5",
        ));
    }
    if v > online {
        return Err(Error::usage(
            format!("--cpus {s} is more than the {online} CPUs this host has online"),
            format!("give at most --cpus {online}"),
        ));
    }
    let quota_us = (v * PERIOD_US as f64).round() as u64;
    if quota_us < MIN_QUOTA_US {
        return Err(Error::usage(
            format!(
                "--cpus {s} is below the kernel's minimum CPU quota: it would be {quota_us} µs of CPU time per 100 ms period, and the kernel refuses less than {MIN_QUOTA_US} µs (EINVAL)"
            ),
            "give at least --cpus 0.01",
        ));
    }
    Ok(Cpus {
        quota_us,
        period_us: PERIOD_US,
    })
}

/// Bytes for people: `32.0 MiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut LimitSpec)) -> LimitSpec {
        let mut a = LimitSpec::default();
        f(&mut a);
        a
    }

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(parse_size("64M", "-m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64m", "-m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64MiB", "-m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64mb", "-m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1.5g", "-m").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096", "-m").unwrap(), 4096);
        assert_eq!(parse_size("10b", "-m").unwrap(), 10);
        for bad in ["12XB", "", "m", "-1", "1.2.3m", "64 M M", "."] {
            let e = parse_size(bad, "--memory").unwrap_err();
            assert!(e.what.contains("is not a size"), "{bad}: {}", e.what);
        }
    }

    #[test]
    fn cpus_become_a_quota_per_period() {
        let c = parse_cpus("0.5").unwrap();
        assert_eq!((c.quota_us, c.period_us), (50_000, 100_000));
        assert_eq!(parse_cpus("0.2").unwrap().quota_us, 20_000);
        assert_eq!(parse_cpus("0.01").unwrap().quota_us, 1_000);
        assert!(parse_cpus("-1")
            .unwrap_err()
            .what
            .contains("not more than 0"));
        assert!(parse_cpus("0")
            .unwrap_err()
            .what
            .contains("not more than 0"));
        assert!(parse_cpus("0.005")
            .unwrap_err()
            .what
            .contains("below the kernel's minimum"));
        assert!(parse_cpus("half")
            .unwrap_err()
            .what
            .contains("not a number"));
        assert!(parse_cpus("100000")
            .unwrap_err()
            .what
            .contains("CPUs this host has"));
    }

    #[test]
    fn shares_map_to_weights_as_docker_maps_them() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn limits_are_checked_together() {
        let l = Limits::parse(&args(|a| {
            a.memory = Some("32m".into());
            a.memory_swap = Some("64m".into());
            a.pids = Some(20);
        }))
        .unwrap();
        assert_eq!(l.memory, Some(32 << 20));
        assert_eq!(l.memory_swap, Some(Swap::Total(64 << 20)));
        assert_eq!(l.pids, Some(Some(20)));
        assert_eq!(l.controllers(), vec!["memory", "pids"]);

        let e = Limits::parse(&args(|a| a.pids = Some(0))).unwrap_err();
        assert!(e.what.contains("--pids 0"), "{}", e.what);
        assert_eq!(
            Limits::parse(&args(|a| a.pids = Some(-1))).unwrap().pids,
            Some(None)
        );
        let e = Limits::parse(&args(|a| a.memory = Some("1m".into()))).unwrap_err();
        assert!(e.what.contains("below the smallest"), "{}", e.what);
        let e = Limits::parse(&args(|a| a.memory_swap = Some("1g".into()))).unwrap_err();
        assert!(e.what.contains("without --memory"), "{}", e.what);
        let e = Limits::parse(&args(|a| {
            a.memory = Some("64m".into());
            a.memory_swap = Some("32m".into());
        }))
        .unwrap_err();
        assert!(e.what.contains("less than --memory"), "{}", e.what);
        let e = Limits::parse(&args(|a| a.cpu_shares = Some(1))).unwrap_err();
        assert!(e.what.contains("outside the range"), "{}", e.what);
        assert!(Limits::parse(&args(|_| {}))
            .unwrap()
            .controllers()
            .is_empty());
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(32 << 20), "32.0 MiB");
    }
}

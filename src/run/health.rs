//! `--health-cmd`: while the container runs, its supervisor runs the command in it (as
//! `glassbox exec` does) every interval and keeps the last results and a status, starting,
//! healthy or unhealthy, in `health.json` beside its state: `ps` shows it after the uptime,
//! `inspect` as State.Health, as docker does.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The check, as config.json's annotation keeps it (durations in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub cmd: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// One run of the check, as docker's State.Health.Log lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// docker's State.Health.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

impl Health {
    /// Before the first check's result.
    fn starting() -> Health {
        Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

/// A container with a check that starts (again): its health "starting", no results yet.
pub fn mark_starting(dir: &Path) {
    write(dir, &Health::starting());
}

/// docker's defaults: every 30 s, 30 s at most, unhealthy after 3 failures in a row.
const DEFAULT_MS: u64 = 30_000;
/// docker keeps the last five results.
const KEPT: usize = 5;

/// A duration as docker's flags take it (`30s`, `1m30s`, `500ms`, `1h`, or plain seconds), in
/// milliseconds.
pub fn parse_duration(flag: &str, s: &str) -> crate::error::Result<u64> {
    let plain_seconds = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ns = if plain_seconds {
        s.parse::<u128>()
            .ok()
            .map(|n| n.saturating_mul(1_000_000_000))
    } else {
        crate::clock::parse_duration_ns(s)
    };
    let ns = ns.ok_or_else(|| {
        crate::error::Error::usage(
            format!("{flag} {s:?} is not a duration"),
            "give a number with a unit, for example 30s, 500ms or 1m30s",
        )
    })?;
    u64::try_from(ns / 1_000_000).map_err(|_| {
        crate::error::Error::usage(
            format!("{flag} {s:?} is too long"),
            "give a duration of at most a few years, for example 30s or 1h",
        )
    })
}

/// The check the flags ask for (None: no --health-cmd, or --no-healthcheck).
pub fn from_args(a: &crate::cli::RunArgs) -> crate::error::Result<Option<Check>> {
    // As docker: 0 (or no flag) means the default.
    let dur = |flag: &str, v: &Option<String>, default: u64| match v {
        Some(s) => parse_duration(flag, s).map(|ms| if ms == 0 { default } else { ms }),
        None => Ok(default),
    };
    let check = Check {
        cmd: String::new(),
        interval_ms: dur("--health-interval", &a.health_interval, DEFAULT_MS)?,
        timeout_ms: dur("--health-timeout", &a.health_timeout, DEFAULT_MS)?,
        retries: a.health_retries.unwrap_or(3).max(1),
        start_period_ms: dur("--health-start-period", &a.health_start_period, 0)?,
    };
    match (&a.health_cmd, a.no_healthcheck) {
        (Some(cmd), false) => Ok(Some(Check {
            cmd: cmd.clone(),
            ..check
        })),
        _ => Ok(None),
    }
}

/// The container's health as its supervisor last wrote it (None: it has no check).
pub fn read(dir: &Path) -> Option<Health> {
    let bytes = std::fs::read(dir.join("health.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write(dir: &Path, h: &Health) {
    let bytes = serde_json::to_vec_pretty(h).expect("serialisable");
    let _ = crate::store::write_whole(&dir.join("health.json"), &bytes);
}

/// docker keeps the last 4 KiB of what a check printed.
const OUTPUT_KEPT: usize = 4096;
/// After the timeout, SIGTERM; this long later, SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// Read a pipe to its end while the check runs (a full pipe would block the check), keeping
/// the last OUTPUT_KEPT bytes.
fn drain(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
        while let Ok(n @ 1..) = from.read(&mut buf) {
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > OUTPUT_KEPT {
                kept.drain(..kept.len() - OUTPUT_KEPT);
            }
        }
        kept
    })
}

/// Run the check once: `glassbox -q exec ID sh -c CMD` in a process group of its own, so
/// that after the timeout the whole group (the check's processes in the container too) ends.
fn probe(id: &str, check: &Check) -> Probe {
    use std::os::unix::process::CommandExt;
    let start = crate::clock::rfc3339(crate::store::now());
    let ran = crate::host::glassbox_command().and_then(|mut c| {
        c.args(["-q", "exec", id, "sh", "-c", &check.cmd])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        c.spawn().map_err(|e| {
            crate::error::Error::io("cannot run the health check", &e, "check glassbox")
        })
    });
    let (exit_code, output) = match ran {
        Err(e) => (-1, e.what),
        Ok(mut child) => {
            let out = drain(child.stdout.take().expect("piped"));
            let err = drain(child.stderr.take().expect("piped"));
            let limit = Instant::now() + Duration::from_millis(check.timeout_ms);
            // Done when it has exited and its output is read (a process it left in the
            // background may keep the pipes open: that counts as still running).
            let mut status = None;
            while Instant::now() < limit {
                if status.is_none() {
                    status = child.try_wait().ok().flatten();
                }
                if status.is_some() && out.is_finished() && err.is_finished() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let finished = status.is_some() && out.is_finished() && err.is_finished();
            if !finished {
                kill_group(child.id() as i32);
                let _ = child.wait();
            }
            // stdout then stderr, the last OUTPUT_KEPT bytes of both.
            let mut bytes = out.join().unwrap_or_default();
            bytes.extend(err.join().unwrap_or_default());
            let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(OUTPUT_KEPT)..])
                .into_owned();
            match status {
                Some(s) if finished => (s.code().unwrap_or(-1), text),
                _ => (-1, "the health check timed out".to_string()),
            }
        }
    };
    Probe {
        start,
        end: crate::clock::rfc3339(crate::store::now()),
        exit_code,
        output,
    }
}

/// End the check's process group: SIGTERM (exec passes it on), then SIGKILL for what is left.
fn kill_group(pgid: i32) {
    let n = crate::narrate::Narrator::silent();
    let sys = crate::sys::Sys::new(&n);
    let _ = sys.kill(
        -pgid,
        libc::SIGTERM,
        "the health check timed out: ask its processes to end",
    );
    std::thread::sleep(KILL_GRACE);
    let _ = sys.kill(
        -pgid,
        libc::SIGKILL,
        "end what is left of the timed-out health check",
    );
}

/// The health after one more result: healthy at the first success, unhealthy after
/// `retries` failures in a row (failures in the start period do not count).
fn record(h: &mut Health, p: Probe, check: &Check, in_start_period: bool) {
    if p.exit_code == 0 {
        h.status = "healthy".into();
        h.failing_streak = 0;
    } else if !in_start_period {
        h.failing_streak += 1;
        if h.failing_streak >= check.retries {
            h.status = "unhealthy".into();
        }
    }
    h.log.push(p);
    if h.log.len() > KEPT {
        h.log.remove(0);
    }
}

/// The checker of one run of a container: stops (and is joined) when dropped.
pub struct Checker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start checking container `id` (its directory `dir`) in a thread of the supervisor. The
/// thread only waits and spawns `glassbox exec`: the supervisor forks nothing while it runs
/// (it is dropped before a restart).
pub fn start(id: &str, dir: &Path, check: &Check) -> Checker {
    let stop = Arc::new(AtomicBool::new(false));
    let (id, dir, check, flag) = (
        id.to_string(),
        dir.to_path_buf(),
        check.clone(),
        stop.clone(),
    );
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        // As mark_starting wrote it when the container's record said it runs.
        let mut h = Health::starting();
        loop {
            let next = Instant::now() + Duration::from_millis(check.interval_ms);
            while Instant::now() < next {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let p = probe(&id, &check);
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let in_start = started.elapsed() < Duration::from_millis(check.start_period_ms);
            record(&mut h, p, &check, in_start);
            write(&dir, &h);
        }
    });
    Checker {
        stop,
        thread: Some(thread),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_reads_them() {
        assert_eq!(parse_duration("-", "30s").unwrap(), 30_000);
        assert_eq!(parse_duration("-", "500ms").unwrap(), 500);
        assert_eq!(parse_duration("-", "2m").unwrap(), 120_000);
        assert_eq!(parse_duration("-", "3").unwrap(), 3000);
        assert_eq!(parse_duration("-", "1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration("-", "1.5s").unwrap(), 1500);
        assert!(parse_duration("-", "soon").is_err());
        let e = parse_duration("--health-interval", "99999999999999999h").unwrap_err();
        assert!(e.what.contains("is too long"), "{}", e.what);
    }
}

//! A container's state: `state.json`, rewritten whole at every change.
//!
//! A pid alone is never trusted: it is kept with its start time and the boot it belongs to,
//! so a pid reused after the container ended (or after a reboot) does not look alive.

use crate::error::Result;
use crate::journal::Owner;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// Recorded as running, but its process is gone and nobody recorded how it ended (its
    /// supervisor was killed, or the machine rebooted). Never written: seen by `effective`.
    Dead,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's PID 1, as the host sees it, with its start time and boot.
    pub process: Option<Owner>,
    /// The glassbox process that waits for it (the supervisor of a detached container).
    pub supervisor: Option<Owner>,
    /// Whether it runs detached (its output in the log file).
    #[serde(default)]
    pub detached: bool,
    pub exit_code: Option<i32>,
    /// Why it could not start, when it could not.
    pub error: Option<String>,
    /// Seconds since the epoch.
    pub started: Option<u64>,
    pub finished: Option<u64>,
    /// How many times its supervisor ran it again (--restart).
    #[serde(default)]
    pub restart_count: u32,
    /// The OOM killer ended a process of it in its last run (the cgroup's oom_kill count,
    /// read before the cgroup goes): inspect's State.OOMKilled.
    #[serde(default)]
    pub oom_killed: bool,
}

impl State {
    pub fn created() -> State {
        State {
            status: Status::Created,
            process: None,
            supervisor: None,
            detached: false,
            exit_code: None,
            error: None,
            started: None,
            finished: None,
            restart_count: 0,
            oom_killed: false,
        }
    }

    /// The state on disk; a missing or unreadable file reads as `created`.
    pub fn read(dir: &Path) -> State {
        State::read_with(dir, &mut Vec::new())
    }

    /// The same, read through `buf` (for many containers, one buffer).
    pub fn read_with(dir: &Path, buf: &mut Vec<u8>) -> State {
        super::read_into(&dir.join("state.json"), buf)
            .ok()
            .and_then(|()| serde_json::from_slice(buf).ok())
            .unwrap_or_else(State::created)
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        super::rewrite_whole(
            &dir.join("state.json"),
            &serde_json::to_vec_pretty(self).expect("serialisable"),
        )
    }

    /// The status as it really is now: `running` only while the recorded process lives.
    pub fn effective(&self) -> Status {
        match (self.status, &self.process) {
            (Status::Running, Some(p)) if p.is_alive() => Status::Running,
            (Status::Running, _) => Status::Dead,
            (s, _) => s,
        }
    }

    /// The container's pid, if it runs now.
    pub fn running_pid(&self) -> Option<i32> {
        match (self.effective(), &self.process) {
            (Status::Running, Some(p)) => Some(p.pid as i32),
            _ => None,
        }
    }

    /// As `docker ps` shows it: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created".
    pub fn describe(&self, now: u64) -> String {
        match self.effective() {
            Status::Created => "Created".into(),
            Status::Running => format!("Up {}", ago(now, self.started)),
            Status::Exited => format!(
                "Exited ({}) {} ago",
                self.exit_code.map_or("?".into(), |c| c.to_string()),
                ago(now, self.finished)
            ),
            Status::Dead => "Dead (its process ended unrecorded: glassbox was killed)".into(),
        }
    }
}

/// A span in docker's words: "Less than a second", "5 seconds", "3 minutes", "2 hours".
pub fn ago(now: u64, then: Option<u64>) -> String {
    let Some(then) = then else {
        return "?".into();
    };
    let s = now.saturating_sub(then);
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match s {
        0 => "Less than a second".into(),
        1..=59 => plural(s, "second"),
        60..=3599 => plural(s / 60, "minute"),
        3600..=86399 => plural(s / 3600, "hour"),
        _ => plural(s / 86400, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_state_whose_process_is_gone_reads_as_dead() {
        let mut s = State::created();
        s.status = Status::Running;
        s.process = Some(Owner {
            pid: std::process::id(),
            start_time: 1, // not this process's start time: a reused pid
            boot_id: String::new(),
        });
        assert_eq!(s.effective(), Status::Dead);
        s.process = Some(Owner::current());
        assert_eq!(s.effective(), Status::Running);
        assert_eq!(s.running_pid(), Some(std::process::id() as i32));
    }

    #[test]
    fn spans_read_as_docker_prints_them() {
        assert_eq!(ago(100, Some(100)), "Less than a second");
        assert_eq!(ago(101, Some(100)), "1 second");
        assert_eq!(ago(220, Some(100)), "2 minutes");
        assert_eq!(ago(100 + 7200, Some(100)), "2 hours");
    }
}

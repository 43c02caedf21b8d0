//! `run -d --restart no|on-failure[:N]|always|unless-stopped`: the supervisor runs the
//! container again when it ends, as docker's daemon does: never (`no`), after a non-zero
//! exit (`on-failure`, at most N times), or whatever the exit (`always`; `unless-stopped`
//! is the same here, glassbox having no daemon to restart). A container stopped, killed or
//! removed by a glassbox command is not restarted: those commands leave a `stopped` mark in
//! its directory first. Between runs the supervisor waits, as docker does: 100 ms, doubled
//! at each restart up to a minute, back to 100 ms after a run of 10 s or more.

use crate::error::{Error, Result};
use crate::store::containers::Container;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    OnFailure(Option<u32>),
    Always,
}

impl Policy {
    pub fn parse(s: Option<&str>) -> Result<Policy> {
        let bad = || {
            Error::usage(
                format!("--restart {:?} is not a restart policy", s.unwrap_or("")),
                "give no, on-failure, on-failure:N (at most N restarts), always or unless-stopped",
            )
        };
        Ok(match s {
            None | Some("no") => Policy::No,
            Some("always") | Some("unless-stopped") => Policy::Always,
            Some("on-failure") => Policy::OnFailure(None),
            Some(p) => match p.strip_prefix("on-failure:").map(str::parse::<u32>) {
                Some(Ok(n)) => Policy::OnFailure(Some(n)),
                _ => return Err(bad()),
            },
        })
    }

    /// The policy a container was made with (`no` for one made without).
    pub fn of(c: &Container) -> Policy {
        let annotations = crate::spec::file::read_annotations(&c.dir).unwrap_or_default();
        let given = annotations.get(crate::spec::annotation::RESTART);
        Policy::parse(given.map(String::as_str)).unwrap_or(Policy::No)
    }

    /// Whether a run that ended with `code`, after `restarts` restarts, is run again.
    pub fn restarts(&self, code: i32, restarts: u32) -> bool {
        match *self {
            Policy::No => false,
            Policy::Always => true,
            Policy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// How long to wait before restart number `n` (0-based) of a quick succession.
pub fn delay(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(10))).min(Duration::from_secs(60))
}

fn mark(c: &Container) -> std::path::PathBuf {
    c.dir.join("stopped")
}

/// Before stop, kill or rm: the supervisor must not run it again. Only a container with a
/// restart policy gets the mark: for the others it would change nothing, and a new file on
/// the store's disk costs the waiting command an inode (~0.2 ms on ext4 here).
pub fn mark_stopped(sys: &crate::sys::Sys, c: &Container) {
    if Policy::of(c) == Policy::No {
        return;
    }
    let _ = sys.compound("", || Ok(std::fs::write(mark(c), b"")), || Ok(()));
}

/// Before start: the policy applies again.
pub fn clear_stopped(sys: &crate::sys::Sys, c: &Container) {
    let _ = sys.compound("", || Ok(std::fs::remove_file(mark(c))), || Ok(()));
}

pub fn stopped_by_user(c: &Container) -> bool {
    // rm -f may remove the directory, mark and all, before its supervisor looks.
    mark(c).exists() || !c.dir.join("container.json").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_decide_as_dockers() {
        assert_eq!(Policy::parse(None).unwrap(), Policy::No);
        assert_eq!(
            Policy::parse(Some("on-failure:2")).unwrap(),
            Policy::OnFailure(Some(2))
        );
        assert_eq!(
            Policy::parse(Some("unless-stopped")).unwrap(),
            Policy::Always
        );
        assert!(Policy::parse(Some("sometimes")).is_err());
        assert!(Policy::parse(Some("on-failure:x")).is_err());
        let p = Policy::OnFailure(Some(2));
        assert!(p.restarts(3, 0) && p.restarts(3, 1) && !p.restarts(3, 2) && !p.restarts(0, 0));
        assert!(Policy::Always.restarts(0, 100) && !Policy::No.restarts(1, 0));
        assert_eq!(delay(0), Duration::from_millis(100));
        assert_eq!(delay(3), Duration::from_millis(800));
        assert_eq!(delay(20), Duration::from_secs(60));
    }
}

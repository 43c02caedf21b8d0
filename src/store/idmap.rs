//! The id ranges of a container's user namespace, as its record keeps them: which host ids
//! are ids 0… inside, and how the image copies shifted for them are named. Kept in the
//! store because a container's files on the host belong to these ids for as long as it
//! exists; `run --userns private` (run/userns.rs) is what makes and uses them.

use crate::stages::export::extract::{IdShift, Shift};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One range of ids: host ids `start…start+count-1` are ids `0…count-1` inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: u32,
    pub count: u32,
}

/// The range glassbox takes when /etc/subuid (or /etc/subgid) has none for root, as
/// Docker's and podman's documentation suggest: clear of every ordinary user's uid.
pub const DEFAULT_RANGE: Range = Range {
    start: 100_000,
    count: 65_536,
};

/// The uid and gid ranges of a container's user namespace, kept in its record: its files
/// on the host are owned by ids of these ranges, so `start`, `diff` and `commit` must use
/// the same ones even if /etc/subuid changes later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub uids: Range,
    pub gids: Range,
    /// Where the ranges came from, for the narration.
    #[serde(skip)]
    pub source: String,
}

impl Mapping {
    /// The host uid and gid of root inside.
    pub fn root(&self) -> (u32, u32) {
        (self.uids.start, self.gids.start)
    }

    /// How copies for this mapping are named: `100000.65536` (`-u…-g…` when they differ).
    pub fn suffix(&self) -> String {
        if self.uids == self.gids {
            format!("{}.{}", self.uids.start, self.uids.count)
        } else {
            format!(
                "u{}.{}-g{}.{}",
                self.uids.start, self.uids.count, self.gids.start, self.gids.count
            )
        }
    }

    /// The image's ids → the host ids that are those ids inside.
    pub fn shift_in(&self) -> Shift {
        Shift {
            uids: IdShift {
                from: 0,
                to: self.uids.start,
                count: self.uids.count,
            },
            gids: IdShift {
                from: 0,
                to: self.gids.start,
                count: self.gids.count,
            },
        }
    }

    /// The container's host ids → the ids an image holds (commit of its changes).
    pub fn shift_out(&self) -> Shift {
        let s = self.shift_in();
        let back = |i: IdShift| IdShift {
            from: i.to,
            to: i.from,
            count: i.count,
        };
        Shift {
            uids: back(s.uids),
            gids: back(s.gids),
        }
    }

    /// The range in a readable form: `0-65535 → 100000-165535`.
    pub fn describe(&self) -> String {
        let r = |r: Range| {
            format!(
                "0-{} → {}-{}",
                r.count - 1,
                r.start,
                r.start as u64 + r.count as u64 - 1
            )
        };
        if self.uids == self.gids {
            format!("uids and gids {}", r(self.uids))
        } else {
            format!("uids {}, gids {}", r(self.uids), r(self.gids))
        }
    }
}

/// The copies made of an image-store directory (`images/KEY`, `layers/HEX`) for any
/// mapping: `rmi` removes them with it.
pub fn copies_of(target: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return vec![];
    };
    let prefix = format!("{}-", name.to_string_lossy());
    std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix).is_some_and(is_suffix)
        })
        .map(|e| e.path())
        .collect()
}

/// Whether `s` is what [`Mapping::suffix`] makes: `N.N` or `uN.N-gN.N`.
fn is_suffix(s: &str) -> bool {
    let pair = |p: &str| {
        p.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
        })
    };
    match s.split_once('-') {
        Some((u, g)) => {
            u.strip_prefix('u').is_some_and(pair) && g.strip_prefix('g').is_some_and(pair)
        }
        None => pair(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_go_both_ways_and_refuse_ids_outside_the_range() {
        let m = Mapping {
            uids: DEFAULT_RANGE,
            gids: DEFAULT_RANGE,
            source: String::new(),
        };
        assert_eq!(m.shift_in().uids.map(0), Some(100000));
        assert_eq!(m.shift_in().uids.map(65535), Some(165535));
        assert_eq!(m.shift_in().uids.map(65536), None);
        assert_eq!(m.shift_out().gids.map(101000), Some(1000));
        assert_eq!(m.shift_out().gids.map(0), None);
        assert_eq!(m.suffix(), "100000.65536");
        assert!(is_suffix(&m.suffix()));
        let other = Mapping {
            gids: Range { start: 5, count: 7 },
            ..m
        };
        assert_eq!(other.suffix(), "u100000.65536-g5.7");
        assert!(is_suffix(&other.suffix()));
        assert!(!is_suffix("config.json") && !is_suffix("1.") && !is_suffix("latest"));
    }
}

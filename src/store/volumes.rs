//! Volumes: directories of the store that outlive the containers using them, as docker
//! keeps `/var/lib/docker/volumes/NAME/_data`.
//!
//! ```text
//! DATA/volumes/NAME/_data        what a container sees at the volume's mount point
//! DATA/volumes/NAME/volume.json  its record, written last: a directory without one is
//!                                half-made and never listed
//! DATA/volumes.lock              held while volumes are made, removed or claimed
//! ```
//!
//! Made and removed through the journal: the directory is journaled before it is made (or
//! renamed aside to be removed) and struck off once whole, so a killed glassbox leaves
//! `cleanup` something to remove, never half a volume.

pub use super::attached::Attached;
use super::{data_dir, write_whole};
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::sys::Sys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Docker's label on the volumes it makes for `-v /path` and an image's VOLUME.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Volume {
    /// Made for one container (`-v /path`, an image's VOLUME): `rm -v` and `--rm` remove it.
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
    pub fn mountpoint(&self) -> PathBuf {
        data_path(&self.name)
    }
}

pub fn volumes_dir() -> PathBuf {
    data_dir().join("volumes")
}

/// Where a volume's files are.
pub fn data_path(name: &str) -> PathBuf {
    volumes_dir().join(name).join("_data")
}

/// What docker accepts as a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    s.len() >= 2
        && c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || "_.-".contains(x))
}

pub fn check_name(s: &str) -> Result<()> {
    if is_name(s) {
        return Ok(());
    }
    let shown: String = s.escape_default().collect();
    Err(Error::usage(
        format!("\"{shown}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"),
        "give a name of at least two letters, digits, '_', '.' or '-'; if you meant a host directory, give an absolute path",
    ))
}

/// A new random name, 64 hex digits, as docker names anonymous volumes.
pub fn random_name() -> String {
    super::random_hex(32)
}

/// The anonymous volume of container `id` at `target`: looks random as docker's, but the
/// same each time the container is planned (`start` finds the volume `run` made).
pub fn anonymous_name(id: &str, target: &Path) -> String {
    super::images::sha256_hex(format!("{id}:{}", target.display()).as_bytes())
}

/// Held while volumes are made, removed, or claimed by a new container.
pub fn lock() -> Result<crate::lock::Guard> {
    use std::os::unix::fs::PermissionsExt;
    super::make_dirs(&volumes_dir())?;
    // Searchable, not listable, as docker's: a mapped root (--userns) reaches a volume it
    // is given; nobody lists the names to find one that is not theirs.
    let _ = std::fs::set_permissions(volumes_dir(), std::fs::Permissions::from_mode(0o701));
    crate::lock::exclusive(&data_dir().join("volumes.lock"), "the volumes")
}

/// The volume of this name, if it is whole.
pub fn get(name: &str) -> Option<Volume> {
    if !is_name(name) {
        return None;
    }
    let b = std::fs::read(volumes_dir().join(name).join("volume.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

/// Every whole volume, by name.
pub fn list() -> Vec<Volume> {
    let mut v: Vec<Volume> = std::fs::read_dir(volumes_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| get(&e.file_name().to_string_lossy()))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Make volume `name` (the caller holds [`lock`]); `owner` owns its `_data` (a container's
/// mapped root with --userns private).
pub fn create(
    sys: &Sys,
    journal: Option<&Journal>,
    name: &str,
    labels: BTreeMap<String, String>,
    owner: Option<(u32, u32)>,
) -> Result<Volume> {
    check_name(name)?;
    let dir = volumes_dir().join(name);
    let entry = match journal {
        Some(j) => Some(j.record(Resource::Dir { path: dir.clone() })?),
        None => None,
    };
    let made = (|| -> Result<Volume> {
        sys.mkdir(
            &dir,
            0o701,
            &format!("volume {name}: a directory of glassbox's store, outside every container"),
        )?;
        let data = dir.join("_data");
        sys.mkdir(
            &data,
            0o755,
            "the volume's files: what containers see where they mount it",
        )?;
        if let Some((uid, gid)) = owner {
            sys.lchown(&data, uid, gid, "the container's root owns its volume")?;
        }
        let v = Volume {
            name: name.to_string(),
            created: super::now(),
            labels,
        };
        let record = serde_json::to_vec_pretty(&v).expect("a volume serializes");
        sys.compound("", || write_whole(&dir.join("volume.json"), &record), || ())?;
        Ok(v)
    })();
    // Half made: removed now, or left journaled for `cleanup`.
    let whole_or_gone = made.is_ok() || sys.remove_path(&dir).is_ok() || !dir.exists();
    if let (Some(j), Some(e), true) = (journal, entry, whole_or_gone) {
        j.strike(&e);
    }
    made
}

/// Remove volume `name` (the caller holds [`lock`] and checked it is unused): renamed aside
/// first, so it is gone at once, then deleted.
pub fn remove(sys: &Sys, journal: Option<&Journal>, name: &str) -> Result<()> {
    let dir = volumes_dir().join(name);
    let aside = volumes_dir().join(format!(".removing-{name}"));
    sys.narrator
        .note(&format!("rm -rf {} (volume {name})", dir.display()));
    sys.compound("", || remove_aside(journal, name, &dir, &aside), || ())
}

/// Rename volume `name`'s directory `dir` to `aside` and delete it there.
fn remove_aside(journal: Option<&Journal>, name: &str, dir: &Path, aside: &Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::io(
            format!("cannot remove volume {name}"),
            &e,
            "check for mounts inside it (findmnt) and that the data directory is writable",
        )
    };
    let entry = match journal {
        Some(j) => Some(j.record(Resource::Dir {
            path: aside.to_path_buf(),
        })?),
        None => None,
    };
    // What a killed rm of an earlier volume of this name left aside (cleanup's too).
    let _ = std::fs::remove_dir_all(aside);
    let removed = std::fs::rename(dir, aside).and_then(|()| std::fs::remove_dir_all(aside));
    // Struck unless files are left aside for cleanup to finish.
    if let (Some(j), Some(e), false) = (journal, entry, aside.exists()) {
        j.strike(&e);
    }
    removed.map_err(fail)
}

/// The containers (names) that mount volume `name`, running or not.
pub fn users(name: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Uses {
        name: String,
        #[serde(default)]
        volumes: Vec<Attached>,
    }
    let mut v: Vec<String> = super::containers::records::<Uses>()
        .into_iter()
        .filter(|(_, r)| r.volumes.iter().any(|a| a.volume.as_deref() == Some(name)))
        .map(|(_, r)| r.name)
        .collect();
    v.sort();
    v
}

/// Bytes in a volume's files (what `prune` reclaims).
pub fn size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if !m.is_dir() {
        return m.size();
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dockers() {
        for good in ["data", "my_vol.1", "a-b", "0x"] {
            assert!(is_name(good), "{good}");
        }
        for bad in ["a", "", "-x", ".x", "a/b", "../x", "a b", "x:y"] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn anonymous_names_are_stable_and_look_random() {
        let a = anonymous_name("0123456789ab", Path::new("/data"));
        assert_eq!(a.len(), 64);
        assert_eq!(a, anonymous_name("0123456789ab", Path::new("/data")));
        assert_ne!(a, anonymous_name("0123456789ab", Path::new("/other")));
        assert_eq!(random_name().len(), 64);
    }
}

//! Where each blob is known to be on a registry, as containerd records it (its
//! `containerd.io/distribution.source.HOST=REPO` labels): pull notes the repository every
//! blob came from, push the one it sent a blob to. A push to another repository of the same
//! registry then asks it to mount the blob from there (`POST …/uploads/?mount=…&from=…`)
//! instead of sending the bytes again.
//!
//! ```text
//! DATA/blobs/sources.json     {"sha256:…": ["127.0.0.1:5000/team/base", …], …}
//! ```

use crate::error::Result;
use std::collections::BTreeMap;

type Sources = BTreeMap<String, Vec<String>>;

fn file() -> std::path::PathBuf {
    super::data_dir().join("blobs").join("sources.json")
}

fn load() -> Sources {
    std::fs::read(file())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Note that the registry `host` has `digests` in the repository `repo`.
pub fn remember(host: &str, repo: &str, digests: &[String]) -> Result<()> {
    let _lock = super::images::lock()?;
    let mut all = load();
    let at = format!("{host}/{repo}");
    let mut changed = false;
    for d in digests {
        let known = all.entry(d.clone()).or_default();
        if !known.contains(&at) {
            known.push(at.clone());
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    super::make_dirs(&super::blobs::dir())?;
    super::write_whole(
        &file(),
        &serde_json::to_vec_pretty(&all).expect("a map serializes"),
    )
}

/// Another repository of the registry `host` that has the blob `digest`, if one is known.
pub fn elsewhere(host: &str, repo: &str, digest: &str) -> Option<String> {
    load().remove(digest)?.into_iter().find_map(|at| {
        let (h, r) = at.split_once('/')?;
        (h == host && r != repo).then(|| r.to_string())
    })
}

//! How a container has a volume or a host path mounted, as its record keeps it: below
//! both the container records (containers.rs) and the volumes (volumes.rs) that read them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One mount a container has of a volume or a host path: kept in its record, so that
/// `volume rm` knows who uses a volume and `--volumes-from` what to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The volume's name; None for a bind mount of a host path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    /// The host side: the volume's `_data`, or the host path.
    pub source: PathBuf,
    pub target: PathBuf,
    #[serde(default)]
    pub read_only: bool,
    /// Fill it from the image's files at `target` if it is empty (docker's copy-up): only
    /// when the container is made, and never with `nocopy` (config.json carries it to the
    /// first run; `start` and `exec` clear it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copy_up: bool,
}

impl Attached {
    /// As the mount stage takes it: `SOURCE:TARGET[:ro]`.
    pub fn spec(&self) -> String {
        format!(
            "{}:{}{}",
            self.source.display(),
            self.target.display(),
            if self.read_only { ":ro" } else { "" }
        )
    }
}

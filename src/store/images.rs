//! The image store: every image glassbox knows, kept by id.
//!
//! ```text
//! images/store/ID/config.json   the image config, byte for byte as `save` writes it; ID is
//!                               its sha256 (check: sha256sum config.json), as docker's is
//! images/store/ID/image.json    glassbox's record: names, the layer directories, sizes
//! images/layers/HEX/            a layer in overlay form (committed, or pulled and unpacked);
//!                               HEX is its chain id (the layer and all below it)
//! images/busybox/rootfs/        an exported image's root filesystem: its bottom layer
//! images/SHA256/rootfs/         (the export cache: keyed by the source file's sha256)
//! images/store.lock             flock(2)ed by whoever changes names or records
//! ```
//!
//! Names (`myimg:v1`) live only inside image.json and are never part of a path, so a
//! hostile name cannot reach the filesystem; a name belongs to one image at a time (tagging
//! another image with it takes it away, and an image without names shows as `<none>`).

/// Where the store's directories are made (kept here for the older path).
pub use super::make_dirs;
use super::reference::{self, Reference};
use super::{images_dir, store_dir, write_whole};
pub use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::stages::export::config::ImageConfig;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// The directory overlayfs stacks (the bottom layer: an exported root filesystem).
    pub dir: PathBuf,
    /// `sha256:` of the layer as an uncompressed tar (see [`super::layer::write_tar`]).
    pub diff_id: String,
    /// The bytes of that tar (save writes it without a second pass).
    pub tar_size: u64,
    /// The bytes of the files in it (what `images` and `history` show as SIZE).
    pub size: u64,
    /// The blob (a compressed tar in the content store) it was unpacked from, if pulled:
    /// `save` writes that tar again, byte for byte, so the image keeps its diff ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl Layer {
    /// Its files' bytes; for a layer pulled and not unpacked yet (its sizes are measured on
    /// first use), its blob's compressed bytes, the most the store knows of it.
    pub fn shown_size(&self) -> u64 {
        match (&self.blob, self.tar_size) {
            (Some(b), 0) => super::blobs::path(b)
                .ok()
                .flatten()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len()),
            _ => self.size,
        }
    }
}

/// glassbox's record of an image (`image.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// `repository:tag`, as many as it has.
    pub names: Vec<String>,
    /// Bottom first, as the config's rootfs.diff_ids list them.
    pub layers: Vec<Layer>,
    /// Seconds since the epoch.
    pub created: u64,
    /// The image it was committed on.
    #[serde(default)]
    pub parent: Option<String>,
    /// Blobs of the content store that belong to it besides its layers' (a pulled image's
    /// manifest): rmi frees them with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<String>,
}

impl ImageRecord {
    /// The bottom layer: a root filesystem.
    pub fn rootfs(&self) -> &Path {
        &self.layers[0].dir
    }
    /// The layers above the root filesystem, topmost first (as overlayfs lists lowerdirs).
    pub fn upper_layers(&self) -> Vec<PathBuf> {
        self.layers[1..]
            .iter()
            .rev()
            .map(|l| l.dir.clone())
            .collect()
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
    pub fn dir(&self) -> PathBuf {
        store_dir().join(&self.id)
    }
    pub fn size(&self) -> u64 {
        self.layers.iter().map(Layer::shown_size).sum()
    }
    pub fn config_bytes(&self) -> Result<Vec<u8>> {
        let p = self.dir().join("config.json");
        std::fs::read(&p).map_err(|e| {
            Error::io(
                format!("cannot read the image config {}", p.display()),
                &e,
                "the image store is damaged: remove the image (glassbox rmi) and make it again",
            )
        })
    }
    pub fn config(&self) -> Result<ConfigBlob> {
        let b = self.config_bytes()?;
        serde_json::from_slice(&b).map_err(|e| {
            Error::new(
                format!(
                    "the image config of {} is not valid JSON: {e}",
                    self.short_id()
                ),
                "the image store is damaged: remove the image (glassbox rmi) and make it again",
            )
        })
    }
    /// Whether a container's root is this image: the same root filesystem and layers.
    pub fn is_stack(&self, rootfs: &Path, layers: &[PathBuf]) -> bool {
        self.rootfs() == rootfs && self.upper_layers() == layers
    }
    /// Whether `other` is built on this image (its layers start with all of ours).
    pub fn is_parent_of(&self, other: &ImageRecord) -> bool {
        other.layers.len() > self.layers.len()
            && other.layers[..self.layers.len()]
                .iter()
                .zip(&self.layers)
                .all(|(a, b)| a.dir == b.dir)
    }
    /// What to call it in messages: its first name, or its short id.
    pub fn shown(&self) -> String {
        self.names
            .first()
            .cloned()
            .unwrap_or_else(|| self.short_id().to_string())
    }
}

/// The image config as docker and OCI write it (`application/vnd.oci.image.config.v1+json`).
/// Fields are serialized in this order, so the same image gives the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigBlob {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    /// Registries' configs may leave it out.
    #[serde(default)]
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub config: ImageConfig,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    pub created: String,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ConfigBlob {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a config serializes")
    }
}

/// The sha256 of bytes, in hex.
pub fn sha256_hex(b: &[u8]) -> String {
    crate::stages::export::stream::hex(&sha2::Sha256::digest(b))
}

/// Take the store's lock (names and records change under it).
pub fn lock() -> Result<crate::lock::Guard> {
    let dir = images_dir();
    make_dirs(&dir)?;
    crate::lock::exclusive(&dir.join("store.lock"), "the image store")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every image, newest first.
pub fn list() -> Vec<ImageRecord> {
    let mut v: Vec<ImageRecord> = std::fs::read_dir(store_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_hex64(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let b = std::fs::read(e.path().join("image.json")).ok()?;
            serde_json::from_slice::<ImageRecord>(&b)
                .ok()
                .filter(|r| r.id == e.file_name().to_string_lossy() && !r.layers.is_empty())
        })
        .collect();
    v.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    v
}

/// The image a reference names: `name[:tag]` first, then a whole or partial id. `Ok(None)`
/// when there is none; an error when the reference is neither a valid name nor an id, or
/// when an id prefix matches more than one image.
pub fn find(r: &str) -> Result<Option<ImageRecord>> {
    let name = reference::parse(r);
    let all = list();
    if let Ok(n) = &name {
        let full = n.to_string();
        if let Some(i) = all.iter().find(|i| i.names.contains(&full)) {
            return Ok(Some(i.clone()));
        }
    }
    if let Some(h) = reference::id_prefix(r) {
        let matches: Vec<&ImageRecord> = all.iter().filter(|i| i.id.starts_with(h)).collect();
        return match matches.as_slice() {
            [one] => Ok(Some((*one).clone())),
            [] => Ok(None),
            _ => Err(Error::usage(
                format!("{r} matches more than one image id"),
                "give more of the id, or a name",
            )
            .with_code(1)),
        };
    }
    name.map(|_| None)
}

/// As [`find`], with docker's error when there is no such image.
pub fn get(r: &str) -> Result<ImageRecord> {
    find(r)?.ok_or_else(|| {
        Error::usage(
            format!("no such image: {r}"),
            "`glassbox images` lists the images there are",
        )
        .with_code(1)
    })
}

/// Write a new image's config and record (under the store lock).
pub fn write(rec: &ImageRecord, config: &[u8]) -> Result<()> {
    let dir = rec.dir();
    make_dirs(&dir)?;
    write_whole(&dir.join("config.json"), config)?;
    save(rec)
}

/// Rewrite an image's record (its names changed).
pub fn save(rec: &ImageRecord) -> Result<()> {
    write_whole(
        &rec.dir().join("image.json"),
        &serde_json::to_vec_pretty(rec).expect("a record serializes"),
    )
}

/// Give `name` to the image `id`, taking it from whichever image had it. Returns the image
/// it was taken from, if any. Call under the store lock.
pub fn tag(id: &str, name: &Reference) -> Result<Option<ImageRecord>> {
    let full = name.to_string();
    let mut taken = None;
    for mut other in list() {
        if other.id == id {
            if !other.names.contains(&full) {
                other.names.push(full.clone());
                save(&other)?;
            }
        } else if other.names.contains(&full) {
            other.names.retain(|n| *n != full);
            save(&other)?;
            taken = Some(other);
        }
    }
    Ok(taken)
}

/// The image config of a new image: the run config, its layers and their history.
pub fn config_blob(
    config: &ImageConfig,
    diff_ids: Vec<String>,
    history: Vec<History>,
    created: u64,
    author: Option<String>,
) -> ConfigBlob {
    let platform = crate::stages::export::image::host_platform();
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", "amd64"));
    ConfigBlob {
        architecture: arch.to_string(),
        os: os.to_string(),
        created: rfc3339(created),
        author,
        config: config.clone(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_configs_are_written_as_the_image_spec_spells_them_and_read_back() {
        let c = ImageConfig {
            env: vec!["A=1".into()],
            cmd: Some(vec!["sh".into()]),
            exposed_ports: vec!["80/tcp".into()],
            ..Default::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"Env":["A=1"],"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}}}"#
        );
        assert_eq!(serde_json::from_str::<ImageConfig>(&json).unwrap(), c);
        // Docker's nulls, and the list form of glassbox's first config files.
        let docker = r#"{"Env":null,"Cmd":null,"WorkingDir":null,"ExposedPorts":null}"#;
        assert_eq!(
            serde_json::from_str::<ImageConfig>(docker).unwrap(),
            ImageConfig::default()
        );
        let list = r#"{"ExposedPorts":["80/tcp"]}"#;
        assert_eq!(
            serde_json::from_str::<ImageConfig>(list)
                .unwrap()
                .exposed_ports,
            vec!["80/tcp"]
        );
    }
}

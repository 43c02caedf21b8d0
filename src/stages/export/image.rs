//! Image archives: a `docker save` archive (manifest.json → config + layer tars) and an OCI
//! image layout (index.json → manifest → config + layer blobs). Both give a list of layers to
//! apply in order, the digests to check them against, and the run config.

use super::config::{self, ImageConfig};
use super::detect::Store;
use crate::error::{Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub struct Layer {
    /// The member of the archive or layout that holds it.
    pub member: String,
    pub size: u64,
    /// The digest of the blob as stored (OCI, and docker save's blobs/sha256/… names).
    pub blob_digest: Option<String>,
    /// The digest of the uncompressed tar (the config's rootfs.diff_ids).
    pub diff_id: Option<String>,
}

pub struct Image {
    pub layers: Vec<Layer>,
    pub config: ImageConfig,
    pub platform: String,
    pub tags: Vec<String>,
}

fn damaged(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        format!("{what} is not what an image holds: {e}"),
        "the image is damaged; save or copy it again",
    )
}

/// `sha256:<64 hex>` only: anything else could name a path.
pub fn check_digest(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(h)
        }
        _ => Err(Error::new(
            format!(
                "the image names a blob by the digest {d:?}, which is not sha256:<64 hex digits>"
            ),
            "the image is damaged or hostile; use one you trust",
        )),
    }
}

fn verify(bytes: &[u8], expected: &str, what: &str) -> Result<()> {
    let got = format!("sha256:{}", super::stream::hex(&Sha256::digest(bytes)));
    if got != expected {
        return Err(super::stream::mismatch(what, expected, &got));
    }
    Ok(())
}

/// The digest a member's name implies: `blobs/sha256/<hex>`, `<hex>.json`.
fn digest_from_name(member: &str) -> Option<String> {
    let hexish = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(h) = member.strip_prefix("blobs/sha256/") {
        return hexish(h).then(|| format!("sha256:{h}"));
    }
    member
        .strip_suffix(".json")
        .filter(|h| hexish(h))
        .map(|h| format!("sha256:{h}"))
}

/// One image of a docker save archive's manifest.json.
#[derive(Deserialize)]
pub struct SaveEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// A docker save archive: the first image of manifest.json.
pub fn docker_save(store: &Store) -> Result<(Image, usize)> {
    let bytes = store.read_all("manifest.json")?;
    let entries: Vec<SaveEntry> =
        serde_json::from_slice(&bytes).map_err(|e| damaged("manifest.json", e))?;
    let count = entries.len();
    let Some(first) = entries.into_iter().next() else {
        return Err(Error::new(
            "the docker save archive lists no image in manifest.json",
            "save an image with `docker save IMAGE -o FILE.tar`",
        ));
    };
    let cfg_bytes = store.read_all(&first.config)?;
    if let Some(d) = digest_from_name(&first.config) {
        verify(
            &cfg_bytes,
            &d,
            &format!("the image config {}", first.config),
        )?;
    }
    let parsed = config::parse(&cfg_bytes, &first.config)?;
    if !parsed.diff_ids.is_empty() && parsed.diff_ids.len() != first.layers.len() {
        return Err(Error::new(
            format!(
                "manifest.json lists {} layers but the config lists {}",
                first.layers.len(),
                parsed.diff_ids.len()
            ),
            "the image is damaged; save it again",
        ));
    }
    let mut layers = Vec::new();
    for (i, member) in first.layers.iter().enumerate() {
        let (_, size) = store.open(member)?;
        layers.push(Layer {
            member: member.clone(),
            size,
            blob_digest: digest_from_name(member),
            diff_id: parsed.diff_ids.get(i).cloned(),
        });
    }
    Ok((
        Image {
            layers,
            config: parsed.config,
            platform: parsed.platform,
            tags: first.repo_tags.unwrap_or_default(),
        },
        count,
    ))
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Platform {
    fn render(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// This host's platform as OCI spells it.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

fn read_blob(store: &Store, digest: &str, what: &str) -> Result<Vec<u8>> {
    let hex = check_digest(digest)?;
    let bytes = store.read_all(&format!("blobs/sha256/{hex}"))?;
    verify(&bytes, digest, what)?;
    Ok(bytes)
}

/// An OCI image layout: index.json → (index →) manifest for the platform → config, layers.
pub fn oci(store: &Store, platform: Option<&str>) -> Result<Image> {
    let want = platform.map(String::from).unwrap_or_else(host_platform);
    let mut index: Index = serde_json::from_slice(&store.read_all("index.json")?)
        .map_err(|e| damaged("index.json", e))?;
    let mut tags = Vec::new();
    for _depth in 0..4 {
        let chosen = pick(&index.manifests, &want, platform.is_some())?;
        let d = &index.manifests[chosen];
        if let Some(t) = d
            .annotations
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
        {
            tags.push(t.clone());
        }
        let bytes = read_blob(store, &d.digest, &format!("the manifest {}", d.digest))?;
        if d.media_type.contains("index") || d.media_type.contains("manifest.list") {
            index = serde_json::from_slice(&bytes).map_err(|e| damaged("an image index", e))?;
            continue;
        }
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| damaged(&format!("the manifest {}", d.digest), e))?;
        let cfg = read_blob(
            store,
            &m.config.digest,
            &format!("the image config {}", m.config.digest),
        )?;
        let parsed = config::parse(&cfg, &m.config.digest)?;
        let mut layers = Vec::new();
        for (i, l) in m.layers.iter().enumerate() {
            let hex = check_digest(&l.digest)?;
            let member = format!("blobs/sha256/{hex}");
            let (_, size) = store.open(&member)?;
            if l.size != 0 && size != l.size {
                return Err(Error::new(
                    format!(
                        "the layer {} is {size} bytes but the manifest says {}",
                        l.digest, l.size
                    ),
                    "the image is damaged; copy it again",
                ));
            }
            layers.push(Layer {
                member,
                size,
                blob_digest: Some(l.digest.clone()),
                diff_id: parsed.diff_ids.get(i).cloned(),
            });
        }
        return Ok(Image {
            layers,
            config: parsed.config,
            platform: parsed.platform,
            tags,
        });
    }
    Err(Error::new(
        "the OCI layout nests indexes more than 4 deep",
        "the image is damaged",
    ))
}

fn pick(ms: &[Descriptor], want: &str, asked: bool) -> Result<usize> {
    if ms.is_empty() {
        return Err(Error::new(
            "the OCI layout's index lists no manifest",
            "copy the image again",
        ));
    }
    if ms.len() == 1 && !asked {
        return Ok(0);
    }
    if let Some(i) = ms.iter().position(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.render() == want || format!("{}/{}", p.os, p.architecture) == want)
    }) {
        return Ok(i);
    }
    if ms.iter().all(|m| m.platform.is_none()) && !asked {
        // Several images, not one image for several platforms: taking the first would
        // silently run something the user did not choose.
        let tags: Vec<&str> = ms
            .iter()
            .filter_map(|m| {
                m.annotations
                    .as_ref()?
                    .get("org.opencontainers.image.ref.name")
            })
            .map(String::as_str)
            .collect();
        return Err(Error::usage(
            format!(
                "the OCI layout holds {} images ({}): which one?",
                ms.len(),
                if tags.is_empty() {
                    "none is named".into()
                } else {
                    format!("tags {}", tags.join(", "))
                }
            ),
            "name one as skopeo does: run oci:DIR:TAG, or glassbox load -i oci:DIR:TAG",
        ));
    }
    let have: Vec<String> = ms
        .iter()
        .filter_map(|m| m.platform.as_ref().map(Platform::render))
        .collect();
    Err(Error::new(
        format!(
            "the image has no manifest for the platform {want} (it has: {})",
            have.join(", ")
        ),
        "choose one with --platform OS/ARCH",
    ))
}

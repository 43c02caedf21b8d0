//! What a registry serves for a tag: an image manifest (Docker v2 schema 2 or OCI), or an
//! index / manifest list that points at one manifest per platform.

use crate::error::{Error, Result};
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every kind glassbox reads, as the Accept header of a manifest request lists them.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The largest config glassbox takes, and the largest layer blob (a manifest that names a
/// larger one is refused before anything is downloaded).
pub const MAX_CONFIG: u64 = 8 << 20;
pub const MAX_LAYER: u64 = 64 << 30;

#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// What a manifest request answered.
pub enum Served {
    Image(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

fn bad(what: &str, why: String) -> Error {
    Error::new(
        format!("{what} is not a manifest glassbox can read: {why}"),
        "the registry is damaged or hostile, or serves a kind of image glassbox does not know",
    )
}

/// Read a manifest or index, by its Content-Type or its own mediaType field.
pub fn parse(bytes: &[u8], content_type: &str, what: &str) -> Result<Served> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| bad(what, e.to_string()))?;
    if probe.schema_version == 1 {
        return Err(bad(
            what,
            "it is Docker's old schema 1, which registries stopped serving in 2020".into(),
        ));
    }
    let kind = probe
        .media_type
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            content_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        });
    let is_index = kind == OCI_INDEX || kind == DOCKER_LIST || probe.manifests.is_some();
    let served = if is_index {
        Served::Index(serde_json::from_slice(bytes).map_err(|e| bad(what, e.to_string()))?)
    } else {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(what, e.to_string()))?;
        check_sizes(&m, what)?;
        Served::Image(m)
    };
    Ok(served)
}

/// Refuse a manifest that names a config or a layer too large to be one.
fn check_sizes(m: &Manifest, what: &str) -> Result<()> {
    crate::store::blobs::hex_of(&m.config.digest)?;
    if m.config.size > MAX_CONFIG {
        return Err(bad(
            what,
            format!(
                "its config is said to be {} bytes (at most {MAX_CONFIG})",
                m.config.size
            ),
        ));
    }
    for l in &m.layers {
        crate::store::blobs::hex_of(&l.digest)?;
        if l.size > MAX_LAYER {
            return Err(bad(
                what,
                format!(
                    "a layer is said to be {} bytes (at most {MAX_LAYER})",
                    l.size
                ),
            ));
        }
        if l.media_type.contains("foreign") || l.media_type.contains("nondistributable") {
            return Err(bad(
                what,
                "it has a foreign layer (a Windows base), which glassbox cannot run".into(),
            ));
        }
    }
    if m.layers.is_empty() {
        return Err(bad(what, "it has no layers".into()));
    }
    Ok(())
}

/// The manifest of an index for `platform` (`os/arch[/variant]`).
pub fn pick<'a>(index: &'a Index, platform: &str) -> Result<&'a Descriptor> {
    let mut want = platform.split('/');
    let (os, arch, variant) = (want.next(), want.next(), want.next());
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                Some(p.os.as_str()) == os
                    && Some(p.architecture.as_str()) == arch
                    && variant.is_none_or(|v| p.variant.as_deref() == Some(v))
            })
        })
        .ok_or_else(|| {
            let there: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = &p.variant {
                        s = format!("{s}/{v}");
                    }
                    s
                })
                .collect();
            Error::new(
                format!(
                    "the image has no manifest for {platform}; it has {}",
                    there.join(", ")
                ),
                "choose one of those with --platform",
            )
            .with_code(1)
        })
}

/// The part of an image config pull needs: its layers' diff ids.
#[derive(Deserialize)]
pub struct ConfigRootfs {
    pub rootfs: RootFs,
}

#[derive(Deserialize)]
pub struct RootFs {
    pub diff_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_picks_the_platform() {
        let i = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"architecture":"arm64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let Served::Index(i) = parse(i.as_bytes(), "", "x").unwrap() else {
            panic!("an index")
        };
        assert_eq!(pick(&i, "linux/amd64").unwrap().digest, "sha256:bb");
        assert_eq!(pick(&i, "linux/arm64").unwrap().digest, "sha256:aa");
        let e = pick(&i, "linux/s390x").unwrap_err();
        assert!(e.what.contains("linux/arm64, linux/amd64"), "{}", e.what);
    }

    #[test]
    fn hostile_manifests_are_refused() {
        let huge = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"sha256:{h}","size":1}},"layers":[{{"digest":"sha256:{h}","size":99999999999999}}]}}"#,
            h = "a".repeat(64)
        );
        assert!(parse(huge.as_bytes(), DOCKER_MANIFEST, "x").is_err());
        let climbing =
            r#"{"schemaVersion":2,"config":{"digest":"sha256:../../x","size":1},"layers":[]}"#;
        assert!(parse(climbing.as_bytes(), OCI_MANIFEST, "x").is_err());
        assert!(parse(br#"{"schemaVersion":1}"#, "", "x").is_err());
    }
}

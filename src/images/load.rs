//! `glassbox load -i FILE`: every image of a `docker save` archive or an OCI layout (a tar
//! or a directory) into the layered store, with the names the archive gives them, as docker
//! load does.
//!
//! Each layer blob is copied into the content store under its digest (checked on the way:
//! an OCI layout names its blobs by digest; a docker save layer tar hashes to its diff id)
//! and unpacked once, by chain id, as a pulled layer is. Names: docker save's `RepoTags`;
//! an OCI layout's `io.containerd.image.name`, else its `org.opencontainers.image.ref.name`
//! when that is a whole name (`alpine:3`), not a bare tag.

use crate::error::{Error, Result};
use crate::stages::export::detect::{self, Source, Store};
use crate::store::images::{self as store, ImageRecord};
use crate::store::{blobs, reference};
use crate::sys::Sys;
use serde::Deserialize;

#[derive(Deserialize)]
struct SaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

fn damaged(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        format!("{what} is not what an image archive holds: {e}"),
        "the archive is damaged; save it again",
    )
}

/// One image to load: its config, and each layer as (member, blob digest, size).
struct Entry {
    config: Vec<u8>,
    layers: Vec<(String, String, u64)>,
    names: Vec<String>,
}

pub fn main(a: &crate::cli::LoadArgs, sys: &Sys) -> Result<i32> {
    super::need_root("load")?;
    let input = a.input.display().to_string();
    let (store_, entries) = match detect::detect(&input)? {
        Source::DockerSave(s) => {
            let e = docker_save(&s)?;
            (s, e)
        }
        Source::Oci(s) => {
            let e = oci(&s)?;
            (s, e)
        }
        _ => {
            return Err(Error::usage(
                format!("{input} is not an image archive (docker save or an OCI layout)"),
                "a root filesystem tar becomes an image with glassbox import FILE NAME",
            ))
        }
    };
    sys.narrator.stage(
        "load",
        &format!(
            "{input}: {} image(s), each layer into the store once",
            entries.len()
        ),
    );
    for e in entries {
        let rec = load_one(sys, &store_, e.config, &e.layers)?;
        let mut shown = false;
        for n in &e.names {
            let Ok(name) = reference::parse(n) else {
                sys.narrator.warn(&format!(
                    "the archive's name {n:?} is not a valid image name: left out"
                ));
                continue;
            };
            let _lock = store::lock()?;
            store::tag(&rec.id, &name)?;
            println!("Loaded image: {name}");
            shown = true;
        }
        if !shown {
            println!("Loaded image ID: sha256:{}", rec.id);
        }
    }
    Ok(0)
}

fn docker_save(s: &Store) -> Result<Vec<Entry>> {
    let m = s.read_all("manifest.json")?;
    let list: Vec<SaveEntry> =
        serde_json::from_slice(&m).map_err(|e| damaged("manifest.json", e))?;
    let mut out = Vec::new();
    for e in list {
        let config = s.read_all(&e.config)?;
        let c: ConfigRootfs = serde_json::from_slice(&config).map_err(|x| damaged(&e.config, x))?;
        if c.rootfs.diff_ids.len() != e.layers.len() {
            return Err(damaged(
                &e.config,
                "its diff ids and the manifest's layers differ in number",
            ));
        }
        let mut layers = Vec::new();
        for (member, d) in e.layers.iter().zip(&c.rootfs.diff_ids) {
            let (_, size) = s.open(member)?;
            // docker save's layer tars are uncompressed: the blob is the diff id.
            layers.push((member.clone(), d.clone(), size));
        }
        out.push(Entry {
            config,
            layers,
            names: e.repo_tags.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn oci(s: &Store) -> Result<Vec<Entry>> {
    let index: Index =
        serde_json::from_slice(&s.read_all("index.json")?).map_err(|e| damaged("index.json", e))?;
    let blob = |d: &Descriptor, what: &str| -> Result<Vec<u8>> {
        let hex = blobs::hex_of(&d.digest)?;
        let b = s.read_all(&format!("blobs/sha256/{hex}"))?;
        let got = format!("sha256:{}", store::sha256_hex(&b));
        if got != d.digest {
            return Err(crate::stages::export::stream::mismatch(
                what, &d.digest, &got,
            ));
        }
        Ok(b)
    };
    let mut out = Vec::new();
    for d in &index.manifests {
        let m: Manifest = serde_json::from_slice(&blob(d, "a manifest")?).map_err(|e| {
            damaged(
                &d.digest,
                format!("{e} (an index inside the layout is not loaded)"),
            )
        })?;
        let config = blob(&m.config, "the config")?;
        let mut layers = Vec::new();
        for l in &m.layers {
            let hex = blobs::hex_of(&l.digest)?;
            layers.push((format!("blobs/sha256/{hex}"), l.digest.clone(), l.size));
        }
        let name = d
            .annotations
            .get("io.containerd.image.name")
            .cloned()
            .or_else(|| {
                d.annotations
                    .get("org.opencontainers.image.ref.name")
                    .filter(|r| r.contains(':') || r.contains('/'))
                    .cloned()
            });
        out.push(Entry {
            config,
            layers,
            names: name.into_iter().collect(),
        });
    }
    Ok(out)
}

/// Copy the layers in, unpack them, record the image (or find it recorded).
fn load_one(
    sys: &Sys,
    s: &Store,
    config: Vec<u8>,
    layers: &[(String, String, u64)],
) -> Result<ImageRecord> {
    let c: ConfigRootfs =
        serde_json::from_slice(&config).map_err(|e| damaged("the image config", e))?;
    if c.rootfs.diff_ids.len() != layers.len() {
        return Err(damaged(
            "the image config",
            "its diff ids and the layers differ in number",
        ));
    }
    let mut made = Vec::new();
    for (i, (member, digest, size)) in layers.iter().enumerate() {
        let diff_ids = &c.rootfs.diff_ids[..=i];
        for d in diff_ids {
            blobs::hex_of(d)?;
        }
        if !super::unpack::layer_dir(diff_ids).is_dir() && blobs::path(digest)?.is_none() {
            let (mut r, _) = s.open(member)?;
            blobs::write(digest, *size, &mut r, &format!("the layer {member}"))?;
        }
        let (mut layer, _) = super::unpack::unpack(sys, digest, diff_ids)?;
        if layer.blob.is_none() && blobs::path(digest)?.is_some() {
            layer.blob = Some(digest.clone());
        }
        made.push(layer);
    }
    let id = store::sha256_hex(&config);
    let _lock = store::lock()?;
    if let Some(r) = store::list().into_iter().find(|r| r.id == id) {
        return Ok(r);
    }
    let rec = ImageRecord {
        id: id.clone(),
        names: Vec::new(),
        layers: made,
        created: crate::store::now(),
        parent: None,
        blobs: vec![format!("sha256:{id}")],
    };
    store::write(&rec, &config)?;
    sys.narrator
        .note(&format!("image {} recorded", rec.short_id()));
    Ok(rec)
}

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

use crate::stages::export::image::SaveEntry;

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
    /// What `oci:DIR:TAG` or `docker-archive:FILE:NAME` picks it by.
    refs: Vec<String>,
}

pub fn main(a: &crate::cli::LoadArgs, sys: &Sys) -> Result<i32> {
    super::need_root("load")?;
    let input = a.input.display().to_string();
    let (store_, entries) = read(&input, true)?;
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
        for name in name(sys, &rec, &e.names)? {
            crate::outln!("Loaded image: {name}");
            shown = true;
        }
        if !shown {
            crate::outln!("Loaded image ID: sha256:{}", rec.id);
        }
    }
    Ok(0)
}

/// `run oci:DIR:TAG` (or `docker-archive:FILE…`): the one image asked for, loaded into the
/// store as `load` would (its layers shared with every image that has them).
pub fn one(sys: &Sys, source: &str) -> Result<ImageRecord> {
    super::need_root("run")?;
    let (store_, mut entries) = read(source, false)?;
    let e = entries.remove(0);
    sys.narrator.note(&format!(
        "{source}: the image's layers into the store once, as glassbox load does"
    ));
    let rec = load_one(sys, &store_, e.config, &e.layers)?;
    name(sys, &rec, &e.names)?;
    Ok(rec)
}

/// Give a loaded image the archive's names (those that are valid image names).
fn name(sys: &Sys, rec: &ImageRecord, names: &[String]) -> Result<Vec<reference::Reference>> {
    let mut out = Vec::new();
    for n in names {
        let Ok(name) = reference::parse(n) else {
            sys.narrator.warn(&format!(
                "the archive's name {n:?} is not a valid image name: left out"
            ));
            continue;
        };
        let _lock = store::lock()?;
        store::tag(&rec.id, &name)?;
        out.push(name);
    }
    Ok(out)
}

/// The images of an archive, a path or skopeo's `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME]`;
/// only the one asked for when the source names one, and exactly one unless `all`.
fn read(input: &str, all: bool) -> Result<(Store, Vec<Entry>)> {
    let t = super::transport::parse(input);
    let path = t
        .as_ref()
        .map(|t| t.path.display().to_string())
        .unwrap_or_else(|| input.to_string());
    let (store_, entries) = match detect::detect(&path)? {
        Source::DockerSave(s) if !input.starts_with("oci:") => {
            let e = docker_save(&s)?;
            (s, e)
        }
        Source::Oci(s) if !input.starts_with("docker-archive:") => {
            let e = oci(&s)?;
            (s, e)
        }
        _ => {
            return Err(Error::usage(
                format!("{input} is not an image archive (docker save or an OCI layout)"),
                "a root filesystem tar becomes an image with glassbox import FILE NAME; oci: takes an OCI layout, docker-archive: a docker save tar",
            ))
        }
    };
    let pick = t.map(|t| t.pick).unwrap_or(super::transport::Pick::Any);
    let entries = choose(entries, &pick, &path, all)?;
    Ok((store_, entries))
}

/// The entries `pick` names: refused, with the names there are, when none is, or when
/// several are and one is needed.
fn choose(
    entries: Vec<Entry>,
    pick: &super::transport::Pick,
    path: &str,
    all: bool,
) -> Result<Vec<Entry>> {
    use super::transport::Pick;
    let there: Vec<String> = entries.iter().flat_map(|e| e.refs.clone()).collect();
    let there = if there.is_empty() {
        "none is named".to_string()
    } else {
        format!("it has {}", there.join(", "))
    };
    let same = |a: &str, b: &str| {
        a == b
            || matches!((reference::parse(a), reference::parse(b)), (Ok(x), Ok(y)) if x.to_string() == y.to_string())
    };
    let chosen: Vec<Entry> = match pick {
        Pick::Any if all || entries.len() == 1 => return Ok(entries),
        Pick::Any => {
            return Err(Error::usage(
                format!("{path} holds {} images ({there}): which one?", entries.len()),
                format!("name one as skopeo does: oci:{path}:TAG, or docker-archive:{path}:NAME:TAG (or :@N, the Nth from 0)"),
            ))
        }
        Pick::Index(n) => entries.into_iter().skip(*n).take(1).collect(),
        Pick::Name(want) => entries
            .into_iter()
            .filter(|e| e.refs.iter().any(|r| same(r, want)))
            .take(1)
            .collect(),
    };
    if chosen.is_empty() {
        let asked = match pick {
            Pick::Index(n) => format!("@{n}"),
            Pick::Name(w) => w.clone(),
            Pick::Any => unreachable!(),
        };
        return Err(Error::usage(
            format!("{path} has no image {asked} ({there})"),
            "name one of those it has",
        ));
    }
    Ok(chosen)
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
        let names = e.repo_tags.unwrap_or_default();
        out.push(Entry {
            config,
            layers,
            refs: names.clone(),
            names,
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
            refs: d
                .annotations
                .get("org.opencontainers.image.ref.name")
                .cloned()
                .into_iter()
                .collect(),
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

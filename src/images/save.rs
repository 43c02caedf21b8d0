//! `glassbox save`: an image as one tar file that other tools read.
//!
//! `--format docker` (the default) is what `docker save` wrote before docker 25 and what
//! `docker load` and `skopeo copy docker-archive:FILE …` read:
//!
//! ```text
//! manifest.json          [{"Config":"ID.json","RepoTags":["myimg:v1"],"Layers":["HEX/layer.tar",…]}]
//! repositories           {"myimg":{"v1":"HEX of the top layer"}}
//! ID.json                the image config (ID is its sha256)
//! HEX/layer.tar          one uncompressed tar per layer, bottom first (HEX: its diff_id)
//! ```
//!
//! `--format oci` is an OCI image layout in a tar (skopeo's `oci-archive:`; untar it for
//! `umoci` or `skopeo … oci:DIR`):
//!
//! ```text
//! oci-layout             {"imageLayoutVersion":"1.0.0"}
//! index.json             the manifest's descriptor, with org.opencontainers.image.ref.name = TAG
//! blobs/sha256/HEX       the manifest, the config and each layer tar, named by their sha256
//! ```
//!
//! Each layer tar is made from its directory as it is written (whiteouts become `.wh.NAME`,
//! opaque directories `.wh..wh..opq`), with no temporary copy: its size and digest were
//! recorded when the layer was made, and the bytes written are hashed again and checked
//! against them. The archive is made in a staging directory beside FILE and renamed onto it
//! when whole, so a failed save leaves no half-written FILE.

use super::layer;
use crate::cli::{SaveArgs, SaveFormat};
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::stages::export::extract::human_bytes;
use crate::store::images::{self as store, ImageRecord};
use crate::store::reference;
use crate::sys::Sys;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The outer archive, written member by member (a layer member's bytes are produced while
/// it is written, so its header is made from the size recorded for it).
struct Outer<W: Write> {
    w: W,
    mtime: u64,
}

impl<W: Write> Outer<W> {
    fn header(&mut self, path: &str, size: u64, dir: bool) -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(size);
        h.set_mtime(self.mtime);
        h.set_cksum();
        self.w.write_all(h.as_bytes())
    }
    fn pad(&mut self, size: u64) -> std::io::Result<()> {
        let rem = (512 - size % 512) % 512;
        self.w.write_all(&vec![0u8; rem as usize])
    }
    fn dir(&mut self, path: &str) -> std::io::Result<()> {
        self.header(path, 0, true)
    }
    fn file(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.header(path, bytes.len() as u64, false)?;
        self.w.write_all(bytes)?;
        self.pad(bytes.len() as u64)
    }
    fn finish(mut self) -> std::io::Result<W> {
        self.w.write_all(&[0u8; 1024])?;
        self.w.flush()?;
        Ok(self.w)
    }
}

fn werr(e: std::io::Error) -> Error {
    Error::io(
        "cannot write the archive",
        &e,
        "check that the output's filesystem has room (df -h) and is writable",
    )
}

/// Write one layer's tar as the member `path`, checking it against what was recorded.
fn layer_member<W: Write>(
    sys: &Sys,
    out: &mut Outer<W>,
    path: &str,
    l: &store::Layer,
    i: usize,
    count: usize,
) -> Result<()> {
    out.header(path, l.tar_size, false).map_err(werr)?;
    let sums = match pulled_blob(l)? {
        Some(blob) => tar_of_blob(&blob, &mut out.w)?,
        None => layer::write_tar(&l.dir, &mut out.w)?,
    };
    if sums.tar_size != l.tar_size || sums.diff_id != l.diff_id {
        return Err(Error::new(
            format!(
                "the layer {} changed on disk since it was recorded: it was {} ({} bytes) and is now {} ({} bytes)",
                l.dir.display(),
                l.diff_id,
                l.tar_size,
                sums.diff_id,
                sums.tar_size
            ),
            "a layer directory must not be edited; remove the image (glassbox rmi) and make it again",
        ));
    }
    out.pad(sums.tar_size).map_err(werr)?;
    sys.narrator.note(&format!(
        "layer {}/{count}: {} ({}, tar of {}, sha256 checked)",
        i + 1,
        &l.diff_id[..19.min(l.diff_id.len())],
        human_bytes(l.tar_size),
        l.dir.display()
    ));
    Ok(())
}

/// The blob a pulled layer came from, when the store still has it.
fn pulled_blob(l: &store::Layer) -> Result<Option<std::path::PathBuf>> {
    match &l.blob {
        Some(d) => crate::store::blobs::path(d),
        None => Ok(None),
    }
}

/// A pulled layer's tar as the registry served it (decompressed): its diff id is the one
/// its image config names, which glassbox's own tar of the directory would not match.
fn tar_of_blob<W: Write>(blob: &std::path::Path, out: &mut W) -> Result<layer::Sums> {
    use crate::stages::export::stream;
    let what = format!("the blob {}", blob.display());
    let f = std::fs::File::open(blob)
        .map_err(|e| Error::io(format!("cannot read {what}"), &e, "pull the image again"))?;
    let want = stream::Want {
        blob: false,
        tar: true,
    };
    let mut s = stream::LayerStream::new(Box::new(f), None, want)
        .map_err(|e| crate::stages::export::extract::read_error(&what, &e))?;
    let n = std::io::copy(&mut s, out).map_err(werr)?;
    let (_, tar) = s.finish(&what)?;
    Ok(layer::Sums {
        diff_id: tar.unwrap_or_default(),
        tar_size: n,
        size: 0,
    })
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

fn write_docker<W: Write>(
    sys: &Sys,
    out: &mut Outer<W>,
    rec: &ImageRecord,
    config: &[u8],
    tag: Option<&reference::Reference>,
) -> Result<()> {
    let mut written = std::collections::HashSet::new();
    let count = rec.layers.len();
    let mut members = Vec::new();
    for (i, l) in rec.layers.iter().enumerate() {
        let dir = hex(&l.diff_id).to_string();
        let member = format!("{dir}/layer.tar");
        if written.insert(dir.clone()) {
            out.dir(&format!("{dir}/")).map_err(werr)?;
            layer_member(sys, out, &member, l, i, count)?;
        }
        members.push(member);
    }
    let config_name = format!("{}.json", rec.id);
    out.file(&config_name, config).map_err(werr)?;
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": tag.map(|t| vec![t.to_string()]),
        "Layers": members,
    }]);
    out.file("manifest.json", manifest.to_string().as_bytes())
        .map_err(werr)?;
    if let Some(t) = tag {
        let top = hex(&rec.layers[count - 1].diff_id);
        let repos = json!({ &t.repository: { &t.tag: top } });
        out.file("repositories", repos.to_string().as_bytes())
            .map_err(werr)?;
    }
    Ok(())
}

fn write_oci<W: Write>(
    sys: &Sys,
    out: &mut Outer<W>,
    rec: &ImageRecord,
    config: &[u8],
    tag: Option<&reference::Reference>,
) -> Result<()> {
    out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(werr)?;
    out.dir("blobs/").map_err(werr)?;
    out.dir("blobs/sha256/").map_err(werr)?;
    let mut written = std::collections::HashSet::new();
    let count = rec.layers.len();
    let mut descriptors = Vec::new();
    for (i, l) in rec.layers.iter().enumerate() {
        let h = hex(&l.diff_id).to_string();
        if written.insert(h.clone()) {
            layer_member(sys, out, &format!("blobs/sha256/{h}"), l, i, count)?;
        }
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": l.diff_id,
            "size": l.tar_size,
        }));
    }
    out.file(&format!("blobs/sha256/{}", rec.id), config)
        .map_err(werr)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", rec.id),
            "size": config.len(),
        },
        "layers": descriptors,
    })
    .to_string();
    let mdigest = store::sha256_hex(manifest.as_bytes());
    out.file(&format!("blobs/sha256/{mdigest}"), manifest.as_bytes())
        .map_err(werr)?;
    let mut desc = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{mdigest}"),
        "size": manifest.len(),
    });
    if let Some(t) = tag {
        desc["annotations"] = json!({
            "org.opencontainers.image.ref.name": t.tag,
            "io.containerd.image.name": t.to_string(),
        });
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [desc],
    });
    out.file("index.json", index.to_string().as_bytes())
        .map_err(werr)
}

fn write_all<W: Write>(
    sys: &Sys,
    w: W,
    a: &SaveArgs,
    rec: &ImageRecord,
    tag: Option<&reference::Reference>,
) -> Result<W> {
    let config = rec.config_bytes()?;
    if store::sha256_hex(&config) != rec.id {
        return Err(Error::new(
            format!(
                "the config of image {} does not hash to its id",
                rec.short_id()
            ),
            "the image store is damaged: remove the image (glassbox rmi) and make it again",
        ));
    }
    let mut out = Outer {
        w,
        mtime: rec.created,
    };
    match a.format {
        SaveFormat::Docker => write_docker(sys, &mut out, rec, &config, tag)?,
        SaveFormat::Oci => write_oci(sys, &mut out, rec, &config, tag)?,
    }
    out.finish().map_err(werr)
}

pub fn main(a: &SaveArgs, sys: &Sys) -> Result<i32> {
    super::need_root("save")?;
    // The archive holds each layer's tar and its size: a pulled image is unpacked first.
    let rec = super::firstuse::ensure(sys, store::get(&a.image)?)?;
    // Saved by a name: the archive carries that name (as docker save); by id: none.
    let tag = reference::parse(&a.image)
        .ok()
        .filter(|r| rec.names.contains(&r.to_string()));
    let target = match &a.output {
        Some(p) => Some(check_output(p)?),
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                return Err(Error::usage(
                    "refusing to write an image archive to a terminal",
                    "give -o FILE, or redirect stdout: glassbox save IMAGE > FILE",
                )
                .with_code(1));
            }
            None
        }
    };
    let n = sys.narrator;
    n.stage(
        "save",
        &format!(
            "image {} ({} layers) as a {} archive",
            rec.shown(),
            rec.layers.len(),
            match a.format {
                SaveFormat::Docker => "docker save",
                SaveFormat::Oci => "OCI image layout",
            }
        ),
    );
    sys.compound(
        "",
        || {
            let Some(file) = target else {
                let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                write_all(sys, out, a, &rec, tag.as_ref())?;
                return Ok(0);
            };
            to_file(sys, &file, &mut |w| {
                write_all(sys, w, a, &rec, tag.as_ref()).map(drop)
            })?;
            Ok(0)
        },
        || {
            n.note("dry run: nothing written");
            0
        },
    )
}

/// Write `file` through `write`, whole or not at all: into a staging directory beside it
/// (journaled, so cleanup removes what a killed glassbox left), renamed onto it at the end.
pub(super) fn to_file(
    sys: &Sys,
    file: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let n = sys.narrator;
    let name = file
        .file_name()
        .expect("checked")
        .to_string_lossy()
        .into_owned();
    let parent = file.parent().expect("checked");
    let staging = parent.join(format!(".{name}.glassbox-save-{}", std::process::id()));
    let journal = Journal::open()?;
    let jid = journal.record(Resource::Dir {
        path: staging.clone(),
    })?;
    let result = (|| {
        sys.mkdir(
            &staging,
            0o700,
            "the archive is written here and moved onto FILE only when whole",
        )?;
        let part = staging.join(&name);
        let f = std::fs::File::create(&part).map_err(|e| {
            Error::io(
                format!("cannot create {}", part.display()),
                &e,
                "check that the directory is writable",
            )
        })?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.flush().map_err(|e| {
            Error::io(
                format!("cannot write {}", part.display()),
                &e,
                "check that the output's filesystem has room (df -h)",
            )
        })?;
        drop(w);
        std::fs::rename(&part, file).map_err(|e| {
            Error::io(
                format!("cannot move the archive onto {}", file.display()),
                &e,
                "check that the directory is writable",
            )
        })?;
        n.note(&format!("rename {} → {}", part.display(), file.display()));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    journal.strike(&jid);
    result
}

/// The output file: its directory must exist; it may not be a directory itself.
pub(super) fn check_output(p: &Path) -> Result<PathBuf> {
    let abs = crate::stages::export::absolute(p)?;
    let ok_parent = abs.parent().is_some_and(|d| d.is_dir());
    if abs.file_name().is_none() || !ok_parent || abs.is_dir() {
        return Err(Error::usage(
            format!("cannot write the archive to {}", p.display()),
            "give -o a file name in a directory that exists",
        )
        .with_code(1));
    }
    Ok(abs)
}

//! `glassbox push NAME[:TAG]`: an image of the store into a registry, by the same protocol
//! as pull, the other way round.
//!
//! 1. For each layer, then the config: `HEAD /v2/REPO/blobs/DIGEST` — does the registry have
//!    it? If not, `POST /v2/REPO/blobs/uploads/` opens an upload (`202`, `Location:`), and
//!    one `PUT LOCATION?digest=DIGEST` sends the whole blob (a monolithic upload); the
//!    registry checks the digest itself and answers `201 Created`.
//!    A blob the store knows to be in another repository of the same registry (pulled from
//!    it, or pushed there: [`crate::store::sources`]) is mounted from there instead:
//!    `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=OTHER` answered `201 Created`, no
//!    bytes sent (a registry that will not mount answers `202`, an upload as above).
//! 2. `PUT /v2/REPO/manifests/TAG` with an OCI manifest naming them: the tag now exists.
//!
//! A pulled layer is pushed as the blob it came in (compressed as it was); a committed or
//! exported one as its layer tar, uncompressed, whose digest is its diff id.

use super::http::{self, Payload, Req};
use super::manifest::OCI_MANIFEST;
use crate::error::{Error, Result};
use crate::images::unpack::short;
use crate::stages::export::stream::Compression;
use crate::store::images::{self as store, Layer};
use crate::sys::Sys;
use std::path::PathBuf;

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A layer tar written for the push only, removed after it.
struct TempTar(PathBuf);

impl Drop for TempTar {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `glassbox push`.
pub fn main(a: &crate::cli::PushArgs, sys: &Sys) -> Result<i32> {
    crate::store::need_root("push")?;
    let remote = super::reference::parse(&a.name).map_err(|e| e.with_code(1))?;
    let (Some(tag), None) = (&remote.tag, &remote.digest) else {
        return Err(Error::usage(
            format!("push names a tag, not a digest: {}", a.name),
            "push NAME[:TAG]; the registry gives the manifest its digest",
        ));
    };
    let local = remote
        .local_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|| a.name.clone());
    let rec = store::get(&local)?;
    sys.narrator.stage(
        "push",
        &format!(
            "{} ({}) to {remote}: each blob the registry lacks, then the manifest",
            rec.shown(),
            rec.short_id()
        ),
    );
    let opts = super::PullOpts {
        platform: None,
        insecure: a.insecure_registry.clone(),
        unpack: false,
    };
    let repo = remote.repository.clone();
    let mut c = super::client(sys, &remote, &opts)?;
    c.set_scope(format!("repository:{repo}:pull,push"));
    super::ping(&mut c)?;
    let mut layers = Vec::new();
    for l in &rec.layers {
        let (digest, path, media, _temp) = layer_blob(l)?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        upload(&mut c, &remote, &digest, Payload::File(&path))?;
        layers.push(serde_json::json!({"mediaType": media, "digest": digest, "size": size}));
    }
    let config = rec.config_bytes()?;
    let config_digest = format!("sha256:{}", rec.id);
    upload(&mut c, &remote, &config_digest, Payload::Bytes(&config))?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))
    .expect("a manifest serializes");
    let put = Req {
        content_type: Some(OCI_MANIFEST),
        body: Payload::Bytes(&manifest),
        ..Req::new("PUT")
    };
    let a = c.request(
        &put,
        &format!("{repo}/manifests/{tag}"),
        "the manifest, under the tag: the image exists on the registry from now on",
    )?;
    expect(&a, 201, "the manifest")?;
    let digest = format!("sha256:{}", store::sha256_hex(&manifest));
    crate::outln!("{tag}: digest: {digest} size: {}", manifest.len());
    Ok(0)
}

/// The blob a layer is pushed as: its digest, file, media type (and a temporary file to
/// remove after, for a layer that had no blob).
fn layer_blob(l: &Layer) -> Result<(String, PathBuf, &'static str, Option<TempTar>)> {
    if let Some(d) = &l.blob {
        if let Some(p) = crate::store::blobs::path(d)? {
            let mut head = [0u8; 4];
            let n = std::io::Read::read(
                &mut std::fs::File::open(&p).map_err(|e| {
                    Error::io(
                        format!("cannot read {}", p.display()),
                        &e,
                        "pull the image again",
                    )
                })?,
                &mut head,
            )
            .unwrap_or(0);
            let media = match Compression::sniff(&head[..n]) {
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
            };
            return Ok((d.clone(), p, media, None));
        }
    }
    let hex = crate::store::blobs::hex_of(&l.diff_id)?;
    let dir = crate::store::blobs::dir();
    store::make_dirs(&dir)?;
    let path = dir.join(format!(".tmp-push-{hex}-{}", std::process::id()));
    let temp = TempTar(path.clone());
    let f = std::fs::File::create(&path).map_err(|e| {
        Error::io(
            format!("cannot write {}", path.display()),
            &e,
            "check that the data directory has room",
        )
    })?;
    let sums = crate::images::layer::write_tar(&l.dir, std::io::BufWriter::new(f))?;
    if sums.diff_id != l.diff_id {
        return Err(Error::new(
            format!(
                "the layer {} changed on disk since it was recorded: it was {} and is now {}",
                l.dir.display(),
                l.diff_id,
                sums.diff_id
            ),
            "a layer directory must not be edited; remove the image (glassbox rmi) and make it again",
        ));
    }
    Ok((
        l.diff_id.clone(),
        path,
        "application/vnd.oci.image.layer.v1.tar",
        Some(temp),
    ))
}

fn expect(a: &http::Answer, status: u16, what: &str) -> Result<()> {
    if a.status == status {
        return Ok(());
    }
    Err(Error::new(
        format!(
            "the registry answered {} for {what} ({}), where {status} means it took it",
            a.status, a.url
        ),
        "check that you may push to this repository (glassbox login), and the registry's log",
    ))
}

/// One blob, unless the registry has it: HEAD, then POST for an upload (or a mount) and
/// one PUT. The repository it is in is remembered, for the next push's mount.
fn upload(
    c: &mut http::Client,
    remote: &super::reference::Remote,
    digest: &str,
    body: Payload,
) -> Result<()> {
    send(c, remote, digest, body)?;
    crate::store::sources::remember(remote.host(), &remote.repository, &[digest.to_string()])
}

fn send(
    c: &mut http::Client,
    remote: &super::reference::Remote,
    digest: &str,
    body: Payload,
) -> Result<()> {
    let repo = remote.repository.as_str();
    let what = short(digest);
    let head = c.request(
        &Req::new("HEAD"),
        &format!("{repo}/blobs/{digest}"),
        "does the registry have this blob already? (200: yes, nothing to send)",
    )?;
    if head.status == 200 {
        c.narrator().note(&format!(
            "{what}: the registry has it already (Layer already exists)"
        ));
        return Ok(());
    }
    let post = match crate::store::sources::elsewhere(remote.host(), repo, digest) {
        Some(from) => {
            let a = c.request(
                &Req::new("POST"),
                &format!(
                    "{repo}/blobs/uploads/?mount={}&from={}",
                    http::encode(digest),
                    http::encode(&from)
                ),
                "mount the blob from another repository of this registry that has it: 201, nothing to send (or 202: an upload after all)",
            )?;
            if a.status == 201 {
                c.narrator().note(&format!(
                    "{what}: mounted from {from} (Mounted from {from})"
                ));
                return Ok(());
            }
            a
        }
        None => c.request(
            &Req::new("POST"),
            &format!("{repo}/blobs/uploads/"),
            "open an upload: the registry answers where to send the blob (Location)",
        )?,
    };
    expect(&post, 202, &format!("the upload of {what}"))?;
    let Some(location) = post.location.clone() else {
        return Err(Error::new(
            format!("the registry opened an upload for {what} without saying where (no Location)"),
            "the registry is misconfigured",
        ));
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = Req {
        content_type: Some("application/octet-stream"),
        body,
        ..Req::new("PUT")
    };
    let done = c.request(
        &put,
        &format!("{location}{sep}digest={}", http::encode(digest)),
        "the whole blob in one request; the registry hashes it and refuses it unless it is this digest",
    )?;
    expect(&done, 201, &what)?;
    c.narrator().note(&format!("{what}: pushed"));
    Ok(())
}

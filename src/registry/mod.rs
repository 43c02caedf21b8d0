//! `glassbox pull`: an image from a registry, by the OCI distribution protocol, into the
//! layered store — each step one HTTP request the learner watches.
//!
//! 1. `GET /v2/`: is this a registry, and does it want a login (`401` + `WWW-Authenticate`)?
//! 2. `GET /v2/REPO/manifests/TAG`: the manifest, or an index with one per platform (then
//!    the host's, or `--platform`'s, is fetched by its digest).
//! 3. `GET /v2/REPO/blobs/DIGEST` for the config and each layer the store lacks: written to
//!    a temporary file while hashed, renamed to its digest only when it matches
//!    ([`crate::store::blobs`]). Layers download side by side, a progress bar each.
//! 4. Each layer is unpacked once, by its chain id ([`crate::images::unpack`]), on the
//!    image's first use ([`crate::images::firstuse`]) or now with `--unpack`; an image that
//!    shares a base layer shares its directory.
//! 5. Only then is the image recorded and named: a pull killed at any point leaves no image,
//!    and the next one reuses the blobs that were finished.

pub mod auth;
pub mod http;
pub mod manifest;
pub mod push;
pub mod reference;
pub mod tls;

use crate::error::{Error, Result};
use crate::images::unpack;
use crate::store::blobs;
use crate::store::images::{self as store, ImageRecord};
use crate::sys::Sys;
use manifest::{Descriptor, Served};
use reference::Remote;
use std::io::IsTerminal;

/// How to reach a registry and which image to take.
#[derive(Debug, Clone, Default)]
pub struct PullOpts {
    /// `os/arch[/variant]` when an index has several (default: the host's).
    pub platform: Option<String>,
    /// Registries spoken to in plain HTTP besides loopback ones (docker's flag of that name).
    pub insecure: Vec<String>,
    /// Unpack the layers now (`pull --unpack`), not on the image's first use.
    pub unpack: bool,
}

/// `glassbox pull NAME[:TAG|@DIGEST]`.
pub fn main(a: &crate::cli::PullArgs, sys: &Sys) -> Result<i32> {
    crate::store::need_root("pull")?;
    let opts = PullOpts {
        platform: a.platform.clone(),
        insecure: a.insecure_registry.clone(),
        unpack: a.unpack,
    };
    let remote = reference::parse(&a.name).map_err(|e| e.with_code(1))?;
    sys.compound(
        "",
        || {
            pull(sys, &remote, &opts)?;
            crate::outln!("{remote}");
            Ok(0)
        },
        || {
            sys.narrator.stage("pull", &format!("{remote}"));
            let client = base_url(&remote, &opts);
            let mut c = http::Client::new(sys, client, remote.repository.clone(), None);
            let _ = c.get(
                "",
                &[],
                "is there a registry here, and does it want a login?",
            );
            sys.narrator
                .note("dry run: nothing was asked of the registry, nothing written");
            0
        },
    )
}

/// `http://HOST` for loopback and `--insecure-registry` registries, `https://HOST` else —
/// and for any registry with a CA of its own in a certs directory (it speaks TLS then).
fn base_url(r: &Remote, opts: &PullOpts) -> String {
    let plain =
        (r.is_loopback() || opts.insecure.contains(&r.domain)) && ca_file(&r.domain).is_none();
    format!("{}://{}", if plain { "http" } else { "https" }, r.host())
}

/// A private registry's CA as docker keeps it: `certs.d/HOST[:PORT]/ca.crt`, under
/// $GLASSBOX_CERTS_DIR, /etc/glassbox/certs.d or /etc/docker/certs.d.
fn ca_file(domain: &str) -> Option<std::path::PathBuf> {
    let dirs = [
        std::env::var_os("GLASSBOX_CERTS_DIR").map(std::path::PathBuf::from),
        Some("/etc/glassbox/certs.d".into()),
        Some("/etc/docker/certs.d".into()),
    ];
    dirs.into_iter()
        .flatten()
        .map(|d| d.join(domain).join("ca.crt"))
        .find(|p| p.is_file())
}

/// The client for a registry: its credentials, and its own CA when it has one.
/// `GET /v2/`: is there a registry here, and does it want a login (its challenge is kept for
/// the requests that follow)?
fn ping(c: &mut http::Client) -> Result<()> {
    let ping = c.get(
        "",
        &[],
        "is there a registry here, and does it want a login?",
    )?;
    if ping.status != 200 {
        return Err(Error::new(
            format!(
                "{} does not answer as a registry ({} for /v2/)",
                ping.url, ping.status
            ),
            "check the registry's address",
        ));
    }
    Ok(())
}

fn client<'a, 'n>(
    sys: &'a Sys<'n>,
    remote: &Remote,
    opts: &PullOpts,
) -> Result<http::Client<'a, 'n>> {
    let ca = match ca_file(&remote.domain) {
        None => None,
        Some(p) => {
            let pem = std::fs::read(&p).map_err(|e| {
                Error::io(
                    format!("cannot read the registry's CA {}", p.display()),
                    &e,
                    "check the file",
                )
            })?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::new(
                    format!("{} holds no PEM certificate", p.display()),
                    "put the registry's CA certificate there, as -----BEGIN CERTIFICATE----- …",
                ));
            }
            sys.narrator.note(&format!(
                "{}: TLS will be verified against the CA in {} and the usual roots",
                remote.domain,
                p.display()
            ));
            Some(certs)
        }
    };
    Ok(http::Client::with_ca(
        sys,
        base_url(remote, opts),
        remote.repository.clone(),
        auth::credentials(&remote.domain),
        ca,
    ))
}

/// Pull `remote` into the store; returns its record.
pub fn pull(sys: &Sys, remote: &Remote, opts: &PullOpts) -> Result<ImageRecord> {
    let n = sys.narrator;
    n.stage(
        "pull",
        &format!(
            "{remote}: the manifest, the config and the layers, each checked against its digest"
        ),
    );
    blobs::remove_stale_temps();
    unpack::sweep(sys, &crate::store::layers_dir());
    let mut c = client(sys, remote, opts)?;
    ping(&mut c)?;
    // The manifest, through an index when there is one.
    let mut index = None;
    let (manifest, manifest_digest, manifest_bytes) =
        fetch_manifest(&mut c, remote, remote.reference(), opts, &mut index)?;
    let repo = &remote.repository;
    // The config: small, read whole, checked, kept as a blob.
    let config_bytes = match blobs::read(&manifest.config.digest)? {
        Some(b) => {
            n.note(&format!(
                "config {}: already in the store",
                unpack::short(&manifest.config.digest)
            ));
            b
        }
        None => {
            let a = c.get(
                &format!("{repo}/blobs/{}", manifest.config.digest),
                &[],
                "the image config: its run settings, its history, and the diff id of each layer",
            )?;
            check_ok(&a, "the config")?;
            let what = format!("the config {}", unpack::short(&manifest.config.digest));
            let p = blobs::write(
                &manifest.config.digest,
                manifest.config.size,
                &mut a.reader(),
                &what,
            )?;
            n.note(&format!(
                "{what}: {} bytes, sha256 checked",
                manifest.config.size
            ));
            std::fs::read(&p)
                .map_err(|e| Error::io("cannot read the config back", &e, "pull again"))?
        }
    };
    let config: manifest::ConfigRootfs = serde_json::from_slice(&config_bytes).map_err(|e| {
        Error::new(
            format!("the image config is not valid: {e}"),
            "the registry is damaged, or the image is not a container image",
        )
    })?;
    let diff_ids = config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::new(
            format!(
                "the manifest has {} layers where the config lists {} diff ids",
                manifest.layers.len(),
                diff_ids.len()
            ),
            "the image is damaged",
        ));
    }
    for d in &diff_ids {
        blobs::hex_of(d)?;
    }
    // The layers: those stored already are shared; the others are unpacked side by side,
    // each while its blob downloads (or from the store, when the blob is there already).
    let mut layers = Vec::new();
    let mut round: Vec<usize> = Vec::new();
    for i in 0..=manifest.layers.len() {
        let l = manifest.layers.get(i);
        // A round ends at the last layer, and before a blob it already downloads.
        if l.is_none_or(|l| round.iter().any(|&k| manifest.layers[k].digest == l.digest)) {
            let jobs = jobs(sys, &mut c, repo, &manifest.layers, &diff_ids, &round)?;
            layers.extend(download_and_unpack(sys, jobs, opts.unpack)?);
            round.clear();
        }
        let Some(l) = l else { break };
        match unpack::stored(&diff_ids[..=i])? {
            Some(mut layer) => {
                n.note(&format!(
                    "layer {}: already exists ({})",
                    unpack::short(&l.digest),
                    layer.dir.display()
                ));
                if layer.blob.is_none() && blobs::path(&l.digest)?.is_some() {
                    layer.blob = Some(l.digest.clone());
                }
                if round.is_empty() {
                    layers.push(layer);
                } else {
                    // Keep the order: this one waits for the round below it.
                    let jobs = jobs(sys, &mut c, repo, &manifest.layers, &diff_ids, &round)?;
                    layers.extend(download_and_unpack(sys, jobs, opts.unpack)?);
                    round.clear();
                    layers.push(layer);
                }
            }
            None => round.push(i),
        }
    }
    // The manifest too, by its digest: the image as the registry served it.
    blobs::write(
        &manifest_digest,
        manifest_bytes.len() as u64,
        &mut manifest_bytes.as_slice(),
        "the manifest",
    )?;
    // And the index it was chosen from: NAME@<the index's digest> names this image too.
    let mut digests = vec![manifest_digest.clone()];
    if let Some((digest, bytes)) = index {
        blobs::write(
            &digest,
            bytes.len() as u64,
            &mut bytes.as_slice(),
            "the index",
        )?;
        digests.push(digest);
    }
    // Where these blobs are, for a push to another repository of this registry (a mount).
    let mut here: Vec<String> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    here.push(manifest.config.digest.clone());
    crate::store::sources::remember(remote.host(), repo, &here)?;
    record(sys, remote, &config_bytes, layers, &digests)
}

/// GET a manifest by tag or digest; an index leads to the platform's manifest (the index's
/// digest and bytes are left in `index`). Returns it, its digest and its bytes.
fn fetch_manifest(
    c: &mut http::Client,
    remote: &Remote,
    reference: &str,
    opts: &PullOpts,
    index: &mut Option<(String, Vec<u8>)>,
) -> Result<(manifest::Manifest, String, Vec<u8>)> {
    let top = index.is_none();
    let what = format!("the manifest {}:{reference}", remote.repository);
    let a = c.get(
        &format!("{}/manifests/{reference}", remote.repository),
        manifest::ACCEPTED,
        if top {
            "the manifest: the image's config and layers by digest (or an index: one manifest per platform)"
        } else {
            "the manifest for this platform, by the digest the index gave"
        },
    )?;
    if a.status == 404 {
        return Err(Error::new(
            format!(
                "the registry has no {}:{reference} (404 Not Found)",
                remote.repository
            ),
            "check the name and the tag (skopeo list-tags docker://… lists the tags)",
        )
        .with_code(1));
    }
    check_ok(&a, &what)?;
    let ctype = a.content_type.clone();
    let said = a.digest.clone();
    let bytes = a.bytes(http::MAX_SMALL, &what)?;
    let digest = format!("sha256:{}", store::sha256_hex(&bytes));
    // A manifest asked for by digest must hash to it; one by tag to what the registry said.
    let expected = if reference.starts_with("sha256:") {
        Some(reference.to_string())
    } else {
        said
    };
    if let Some(e) = expected.filter(|e| e.starts_with("sha256:")) {
        if e != digest {
            return Err(crate::stages::export::stream::mismatch(&what, &e, &digest));
        }
    }
    c_note(c, &format!("{what}: {} bytes, {digest}", bytes.len()));
    match manifest::parse(&bytes, &ctype, &what)? {
        Served::Image(m) => Ok((m, digest, bytes)),
        Served::Index(i) if top => {
            let platform = opts
                .platform
                .clone()
                .unwrap_or_else(crate::stages::export::image::host_platform);
            let d = manifest::pick(&i, &platform)?;
            blobs::hex_of(&d.digest)?;
            c_note(
                c,
                &format!(
                    "an index of {} manifests: {platform} is {}",
                    i.manifests.len(),
                    unpack::short(&d.digest)
                ),
            );
            let platform_digest = d.digest.clone();
            *index = Some((digest, bytes));
            fetch_manifest(c, remote, &platform_digest, opts, index)
        }
        Served::Index(_) => Err(Error::new(
            format!("{what} is an index inside an index"),
            "the registry is damaged or hostile",
        )),
    }
}

fn c_note(c: &http::Client, text: &str) {
    c.narrator().note(text);
}

fn check_ok(a: &http::Answer, what: &str) -> Result<()> {
    if a.status == 200 {
        return Ok(());
    }
    Err(Error::new(
        format!("the registry answered {} for {what} ({})", a.status, a.url),
        "check the name, or try again later",
    ))
}

/// The layers `round` (positions in the manifest) as unpacking jobs: each blob the store
/// has is read from there, each other one asked for here, in turn (each GET narrated), and
/// its body handed to the job with a progress bar.
fn jobs(
    sys: &Sys,
    c: &mut http::Client,
    repo: &str,
    layers: &[Descriptor],
    diff_ids: &[String],
    round: &[usize],
) -> Result<Vec<unpack::Job>> {
    let level = sys.narrator.level;
    let bars = (std::io::stderr().is_terminal()
        && level > crate::narrate::Level::Quiet
        && level < crate::narrate::Level::Detail)
        .then(indicatif::MultiProgress::new);
    let style = indicatif::ProgressStyle::with_template(
        "  {prefix} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let mut out = Vec::new();
    for &i in round {
        let l = &layers[i];
        let source = if blobs::path(&l.digest)?.is_some() {
            sys.narrator.note(&format!(
                "layer {}: its blob is in the store already",
                unpack::short(&l.digest)
            ));
            unpack::Source::Store
        } else {
            let a = c.get(
                &format!("{repo}/blobs/{}", l.digest),
                &[],
                "a layer: a tar (usually gzip-compressed) of the files it adds, changes or deletes",
            )?;
            check_ok(&a, &format!("the layer {}", l.digest))?;
            let bar = bars.as_ref().map(|m| {
                let b = m.add(indicatif::ProgressBar::new(l.size));
                b.set_style(style.clone());
                b.set_prefix(unpack::short(&l.digest));
                b
            });
            unpack::Source::Body(Box::new(Progress {
                inner: a.reader(),
                bar,
            }))
        };
        out.push(unpack::Job {
            blob: l.digest.clone(),
            size: l.size,
            diff_ids: diff_ids[..=i].to_vec(),
            source,
        });
    }
    Ok(out)
}

fn download_and_unpack(sys: &Sys, jobs: Vec<unpack::Job>, now: bool) -> Result<Vec<store::Layer>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    if now {
        return unpack::unpack_all(sys, jobs);
    }
    download(sys, jobs)
}

/// The blobs only, side by side, each hashed on its way to the store (as skopeo copy
/// does): the layers are unpacked on the image's first use ([`crate::images::firstuse`]).
/// Their sizes are known then; until then the record says 0.
fn download(sys: &Sys, jobs: Vec<unpack::Job>) -> Result<Vec<store::Layer>> {
    let layers = jobs
        .iter()
        .map(|j| store::Layer {
            dir: unpack::layer_dir(&j.diff_ids),
            diff_id: j.diff_ids.last().expect("a layer").clone(),
            tar_size: 0,
            size: 0,
            blob: Some(j.blob.clone()),
        })
        .collect();
    let done: Vec<Result<(String, u64, std::path::PathBuf)>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .into_iter()
            .filter_map(|j| {
                let unpack::Job {
                    blob, size, source, ..
                } = j;
                let unpack::Source::Body(mut body) = source else {
                    return None; // in the store already
                };
                Some(s.spawn(move || {
                    let what = format!("the layer {}", unpack::short(&blob));
                    blobs::write(&blob, size, &mut body, &what).map(|p| (blob, size, p))
                }))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(
                        "a layer's download thread panicked",
                        "pull again",
                    ))
                })
            })
            .collect()
    });
    for d in done {
        let (blob, size, p) = d?;
        sys.narrator.note(&format!(
            "layer {}: {size} bytes downloaded, sha256 checked, kept as {}; unpacked on first use",
            unpack::short(&blob),
            p.display()
        ));
    }
    Ok(layers)
}

/// Counts a download on its bar.
struct Progress<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: std::io::Read> std::io::Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(k as u64);
            if k == 0 {
                b.finish_and_clear();
            }
        }
        Ok(k)
    }
}

/// Record the image (its id: the sha256 of its config) and give it its name.
fn record(
    sys: &Sys,
    remote: &Remote,
    config: &[u8],
    layers: Vec<store::Layer>,
    digests: &[String],
) -> Result<ImageRecord> {
    let manifest_digest = &digests[0];
    let id = store::sha256_hex(config);
    let _lock = store::lock()?;
    let rec = match store::list().into_iter().find(|i| i.id == id) {
        Some(mut r) => {
            sys.narrator
                .note(&format!("image {}: up to date", &id[..12]));
            // Pulled before by another digest (its index's, or its own).
            let new: Vec<String> = digests
                .iter()
                .filter(|d| !r.blobs.contains(d))
                .cloned()
                .collect();
            if !new.is_empty() {
                r.blobs.extend(new);
                store::save(&r)?;
            }
            r
        }
        None => {
            let rec = ImageRecord {
                id: id.clone(),
                names: Vec::new(),
                layers,
                created: crate::store::now(),
                parent: None,
                blobs: digests
                    .iter()
                    .cloned()
                    .chain([format!("sha256:{id}")])
                    .collect(),
            };
            store::write(&rec, config)?;
            sys.narrator.note(&format!(
                "image {} recorded: {} (its id is the sha256 of its config; manifest {manifest_digest})",
                rec.short_id(),
                rec.dir().display()
            ));
            rec
        }
    };
    if let Some(name) = remote.local_name() {
        if let Some(from) = store::tag(&rec.id, &name)? {
            sys.narrator.note(&format!(
                "the name {name} moved here from image {}",
                from.short_id()
            ));
        }
    }
    if sys.narrator.level > crate::narrate::Level::Quiet {
        eprintln!("Digest: {manifest_digest}");
    }
    store::find(&rec.id).map(|r| r.unwrap_or(rec))
}

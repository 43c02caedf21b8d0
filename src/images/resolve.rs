//! What the user names as an image, turned into the layers a container is made from: a
//! root filesystem directory as it is, an image of the store by name or id, or an image
//! file (busybox, a tarball, an OCI layout) exported once into the store, keyed by its
//! digest, and reused.

use crate::cli::PullPolicy;
use crate::error::{Error, Result};
use crate::stages::export::config::{load_config, ImageConfig};
use crate::stages::export::ExportSpec;
use crate::store::images::{
    self as store, config_blob, list, lock, rfc3339, sha256_hex, write, History, ImageRecord, Layer,
};
use crate::store::reference;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// What the container is made from: a root filesystem directory and its run config.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The bottom layer: an exported root filesystem.
    pub rootfs: PathBuf,
    /// Layers above it, topmost first (a committed image has them).
    pub layers: Vec<PathBuf>,
    pub config: ImageConfig,
    /// As the user named it: `busybox`, `./rootfs`, `alpine.tar`.
    pub source: String,
}

impl Image {
    pub fn describe(&self) -> String {
        format!("{} ({})", self.source, self.rootfs.display())
    }
}

/// The command an image runs when none is given: Entrypoint + Cmd, else a shell.
pub fn default_command(c: &ImageConfig) -> Vec<String> {
    let (ep, cmd) = command_parts(c, &[], None);
    let mut all = [ep, cmd].concat();
    if all.is_empty() {
        all.push("/bin/sh".into());
    }
    all
}

/// docker's rules: arguments replace the image's CMD and keep its ENTRYPOINT;
/// `--entrypoint` replaces the ENTRYPOINT and drops the CMD (`""`: no entrypoint at all).
/// Returns (entrypoint, cmd): what the container's own config records.
pub fn command_parts(
    c: &ImageConfig,
    args: &[String],
    entrypoint: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let ep = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => c.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = match (args.is_empty(), entrypoint) {
        (false, _) => args.to_vec(),
        (true, Some(_)) => Vec::new(),
        (true, None) => c.cmd.clone().unwrap_or_default(),
    };
    (ep, cmd)
}

/// As [`resolve`], pulling a registry image as `run --pull` says: when the store lacks it
/// (`missing`, docker's "Unable to find image … locally"), every time, or never. Without
/// `--pull`, only a name with a registry in it is pulled: `run alpine` does not reach Docker
/// Hub unless asked, so that nothing leaves the machine by surprise (docker's would).
pub fn resolve_pulling(sys: &Sys, source: &str, when: Option<PullPolicy>) -> Result<Image> {
    use crate::registry::reference as remote_ref;
    let remote = (source != "busybox"
        && super::transport::parse(source).is_none()
        && remote_ref::looks_remote(source))
    .then(|| remote_ref::parse(source).ok())
    .flatten();
    let Some(remote) = remote else {
        return resolve(sys, source);
    };
    let when = match when {
        Some(w) => w,
        None if remote_ref::names_registry(source) => PullPolicy::Missing,
        None => return resolve(sys, source),
    };
    // The name the store knows it by (docker.io/library/alpine → alpine:latest).
    let local = remote
        .local_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|| source.to_string());
    // NAME@sha256:… names a manifest: an image pulled by it keeps that digest among its blobs.
    let have = store::find(&local).ok().flatten().or_else(|| {
        let d = remote.digest.as_ref()?;
        store::list().into_iter().find(|r| r.blobs.contains(d))
    });
    let pull = match when {
        PullPolicy::Always => true,
        PullPolicy::Missing => have.is_none(),
        PullPolicy::Never => false,
    };
    // The image by its id, shown by the name the user gave.
    let by_id = |id: &str| -> Result<Image> {
        let mut image = resolve(sys, id)?;
        image.source = source.to_string();
        Ok(image)
    };
    if !pull {
        return match have {
            Some(rec) => by_id(&rec.id),
            None => Err(Error::usage(
                format!("no such image: {source} (and --pull never)"),
                format!("pull it first (glassbox pull {source}), or run with --pull missing"),
            )),
        };
    }
    if have.is_none() && sys.narrator.level > crate::narrate::Level::Quiet {
        eprintln!("Unable to find image '{source}' locally");
    }
    sys.compound_or(
        "",
        || {
            let rec = crate::registry::pull(sys, &remote, &Default::default())?;
            by_id(&rec.id)
        },
        || {
            sys.narrator.note(&format!(
                "dry run: {remote} would be pulled (glassbox pull {source})"
            ));
            match have {
                Some(rec) => by_id(&rec.id),
                None => Err(Error::new(
                    format!("dry run: {source} is not in the image store yet"),
                    format!("pull it first (glassbox pull {source}) to see the whole plan"),
                )),
            }
        },
    )
}

/// A root filesystem directory as it is, or an image (`busybox`, a tarball, an OCI layout)
/// exported once into glassbox's image cache, keyed by the source's digest, and reused.
pub fn resolve(sys: &Sys, source: &str) -> Result<Image> {
    // skopeo's oci:DIR:TAG and docker-archive:FILE:NAME: the image loaded into the store.
    if super::transport::parse(source).is_some() {
        let rec = sys.compound_or(
            "",
            || super::load::one(sys, source),
            || {
                Err(Error::new(
                    format!("dry run: {source} is not in the image store yet"),
                    format!("load it first (glassbox load -i {source}) to see the whole plan"),
                ))
            },
        )?;
        let mut image = from_store(sys, &rec.id)?.expect("just recorded");
        image.source = source.to_string();
        return Ok(image);
    }
    let path = Path::new(source);
    if source != "busybox" && path.is_dir() && !path.join("oci-layout").exists() {
        let rootfs = std::fs::canonicalize(path).map_err(|e| {
            Error::io(
                format!("cannot use {source} as a root filesystem"),
                &e,
                "give a directory that holds a root filesystem",
            )
        })?;
        return exported(rootfs, source);
    }
    // A name in the image store (myimage:v1, busybox once exported, an image id): its
    // layers as they are, stacked by the overlay.
    if source == "busybox" || !path.exists() {
        if let Some(image) = from_store(sys, source)? {
            sys.narrator.note(&format!(
                "image {source}: {} layer(s) from the image store, stacked read-only",
                image.layers.len() + 1
            ));
            return Ok(image);
        }
        if source != "busybox" {
            return Err(Error::usage(
                format!("no such image or file: {source}"),
                "give a directory, an image tarball, busybox, or an image that `glassbox images` lists; from a registry: glassbox pull NAME first, or run --pull missing",
            ));
        }
    }
    let key = if source == "busybox" {
        "busybox".to_string()
    } else {
        cache_key(path)?
    };
    let rootfs = crate::store::images_dir().join(&key).join("rootfs");
    // The export into the cache, as by hand; a dry run shows it and makes no cache.
    let shown = if rootfs.is_dir() {
        String::new()
    } else {
        format!("glassbox export {source} {}", rootfs.display())
    };
    let cache = || -> Result<()> {
        let parent = rootfs.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::io(
                format!("cannot make the image cache {}", parent.display()),
                &e,
                "check that the data directory is writable (GLASSBOX_DATA_DIR)",
            )
        })?;
        // Containers started at once share one export: the first takes the lock and exports.
        let _guard = crate::lock::exclusive(&parent.join("lock"), "the image cache")?;
        if !rootfs.is_dir() {
            let args = ExportSpec {
                source: source.to_string(),
                dir: Some(rootfs.clone()),
                force: false,
                inspect: false,
                platform: None,
            };
            crate::stages::export::export(&args, sys)?;
        } else {
            sys.narrator.note(&format!(
                "image {source}: already exported to {} (the cache)",
                rootfs.display()
            ));
        }
        // Known to the image store from now on (images, commit, save), still under the lock.
        register_export(sys, &rootfs, source)?;
        Ok(())
    };
    sys.compound(&shown, cache, || ())?;
    exported(rootfs, source)
}

/// An image that is one root filesystem directory (no layers above it), with the config
/// export left beside it.
fn exported(rootfs: PathBuf, source: &str) -> Result<Image> {
    let config = load_config(&rootfs)?.unwrap_or_default();
    Ok(Image {
        rootfs,
        layers: vec![],
        config,
        source: source.to_string(),
    })
}

/// The sha256 of an image file (or of an OCI layout's index.json): the cache key.
fn cache_key(path: &Path) -> Result<String> {
    use sha2::Digest;
    let file = if path.is_dir() {
        path.join("index.json")
    } else {
        path.to_path_buf()
    };
    let mut f = std::fs::File::open(&file).map_err(|e| {
        Error::io(
            format!("cannot read the image {}", path.display()),
            &e,
            "give a directory, an image tarball, or busybox",
        )
    })?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| {
        Error::io(
            format!("cannot read the image {}", path.display()),
            &e,
            "check the file",
        )
    })?;
    Ok(crate::stages::export::stream::hex(&h.finalize()))
}

/// An image of the store for `run`, when `name` names one (`None` otherwise).
fn from_store(sys: &Sys, name: &str) -> Result<Option<Image>> {
    let rec = match store::find(name) {
        Ok(Some(rec)) => rec,
        // An id prefix that matches several images says so; a name that is not a valid
        // image name is simply not one (run then says there is no such image or file).
        Err(e) if reference::id_prefix(name).is_some() => return Err(e.with_code(125)),
        Ok(None) | Err(_) => return Ok(None),
    };
    // A pulled image's layers are unpacked now, on its first use.
    let rec = super::firstuse::ensure(sys, rec)?;
    let config = rec.config()?;
    Ok(Some(Image {
        rootfs: rec.rootfs().to_path_buf(),
        layers: rec.upper_layers(),
        config: config.config.clone(),
        source: name.to_string(),
    }))
}

/// The record of an exported image (busybox, a tarball, an OCI layout) whose root
/// filesystem is `rootfs`, made on first use: its one layer is the whole tree. It is named
/// after what the user gave (`busybox`, `alpine.tar` → `alpine.tar:latest`) unless another
/// image has that name already. Called with the export cache's lock held.
pub fn register_export(sys: &crate::sys::Sys, rootfs: &Path, source: &str) -> Result<ImageRecord> {
    let existing = || {
        list()
            .into_iter()
            .find(|i| i.layers.len() == 1 && i.rootfs() == rootfs)
    };
    if let Some(rec) = existing() {
        return Ok(rec);
    }
    // Hash the tree as a layer tar before taking the store's lock (the cache lock keeps a
    // second glassbox from doing the same for this image meanwhile).
    let sums = super::layer::write_tar(rootfs, std::io::sink())?;
    let config = crate::stages::export::config::load_config(rootfs)?.unwrap_or_default();
    let now = crate::store::now();
    let shown = if source == "busybox" {
        "busybox".to_string()
    } else {
        std::fs::canonicalize(source)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| source.to_string())
    };
    let blob = config_blob(
        &config,
        vec![sums.diff_id.clone()],
        vec![History {
            created: rfc3339(now),
            created_by: format!("glassbox unpack {shown}"),
            comment: Some("the whole root filesystem, as one layer".into()),
            empty_layer: false,
        }],
        now,
        None,
    );
    let bytes = blob.to_bytes();
    let _lock = lock()?;
    if let Some(rec) = existing() {
        return Ok(rec);
    }
    let all = list();
    let names: Vec<String> = reference::from_source(source)
        .map(|r| r.to_string())
        .filter(|n| !all.iter().any(|i| i.names.contains(n)))
        .into_iter()
        .collect();
    let rec = ImageRecord {
        id: sha256_hex(&bytes),
        names,
        layers: vec![Layer {
            dir: rootfs.to_path_buf(),
            diff_id: sums.diff_id,
            tar_size: sums.tar_size,
            size: sums.size,
            blob: None,
        }],
        created: now,
        parent: None,
        blobs: Vec::new(),
    };
    write(&rec, &bytes)?;
    sys.narrator.note(&format!(
        "image {} ({}) recorded in the image store: {} (its id is the sha256 of config.json there)",
        rec.shown(),
        rec.short_id(),
        rec.dir().display()
    ));
    Ok(rec)
}

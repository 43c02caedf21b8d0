//! A layer blob (a tar, gzip or zstd) becomes a layer directory of the store, once.
//!
//! The tar is applied through the export stage's root-scoped extractor into a staging
//! directory beside the layers, keeping whiteouts in overlay form (`.wh.NAME` → a 0/0
//! character device, `.wh..wh..opq` → the opaque xattr): the directory can then be stacked
//! as an overlay lowerdir as it is, as a committed layer is. While it is read the tar is
//! hashed; only when that hash is the diff id the image config names does one rename put
//! the directory at `images/layers/CHAINID` (docker's chain id: the layer and everything
//! below it), so an image that shares a base layer shares its directory.

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::stages::export::{extract::Extractor, stream};
use crate::store::images::{self as store, Layer};
use crate::store::overlay::OPAQUE_XATTR;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// docker's chain id of a stack of diff ids, bottom first: the first diff id, then
/// sha256("CHAIN DIFFID") for each one above it.
pub fn chain_id(diff_ids: &[String]) -> String {
    let mut chain = diff_ids[0].clone();
    for d in &diff_ids[1..] {
        chain = format!(
            "sha256:{}",
            store::sha256_hex(format!("{chain} {d}").as_bytes())
        );
    }
    chain
}

/// Where the layer whose stack (itself and all below) is `diff_ids` lives.
pub fn layer_dir(diff_ids: &[String]) -> PathBuf {
    crate::store::layers_dir().join(chain_id(diff_ids).trim_start_matches("sha256:"))
}

/// Unpack the blob `blob_digest` (in the content store) as the top of the stack `diff_ids`
/// (its own diff id last), unless that layer is stored already. Returns the layer and
/// whether it was unpacked now.
pub fn unpack(sys: &Sys, blob_digest: &str, diff_ids: &[String]) -> Result<(Layer, bool)> {
    let dir = layer_dir(diff_ids);
    let diff_id = diff_ids.last().expect("a layer").clone();
    if dir.is_dir() {
        // Shared with an image that has it already: its record has the sizes.
        let known = store::list()
            .into_iter()
            .flat_map(|i| i.layers)
            .find(|l| l.dir == dir);
        let layer = match known {
            Some(l) => l,
            None => {
                let sums = super::layer::write_tar(&dir, std::io::sink())?;
                Layer {
                    dir,
                    diff_id,
                    tar_size: sums.tar_size,
                    size: sums.size,
                    blob: None,
                }
            }
        };
        return Ok((layer, false));
    }
    let layers = crate::store::layers_dir();
    store::make_dirs(&layers)?;
    sweep(sys, &layers);
    let staging = layers.join(format!(".unpack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging); // a pid reused after a killed pull
    let journal = Journal::open()?;
    let jid = journal.record(Resource::Dir {
        path: staging.clone(),
    })?;
    // The layers below, topmost first (their directories exist: unpacked bottom up).
    let lower: Vec<PathBuf> = (1..diff_ids.len())
        .rev()
        .map(|k| layer_dir(&diff_ids[..k]))
        .collect();
    let made = crate::store::blobs::path(blob_digest).and_then(|p| {
        let p = p.ok_or_else(|| {
            Error::new(
                format!("the blob {blob_digest} is not in the store"),
                "pull the image again",
            )
        })?;
        fill(sys, &p, &staging, &diff_id, lower)
    });
    let made = made.and_then(|(tar_size, size)| {
        let _lock = store::lock()?;
        if dir.is_dir() {
            // Another pull unpacked it meanwhile.
            let _ = std::fs::remove_dir_all(&staging);
        } else {
            sys.renameat2(
                &staging,
                &dir,
                false,
                "put the unpacked layer in place in one step, named by its chain id",
            )?;
        }
        Ok(Layer {
            dir,
            diff_id,
            tar_size,
            size,
            blob: Some(blob_digest.to_string()),
        })
    });
    if made.is_err() && staging.exists() {
        sys.narrator.note(&format!("rm -rf {}", staging.display()));
        let _ = std::fs::remove_dir_all(&staging);
    }
    journal.strike(&jid);
    made.map(|l| (l, true))
}

/// Remove what pulls killed while unpacking left: `.unpack-PID` directories whose process
/// is gone (a live one is another pull at work, and is left alone).
fn sweep(sys: &Sys, layers: &Path) {
    let Ok(rd) = std::fs::read_dir(layers) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(".unpack-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        sys.narrator.note(&format!(
            "rm -rf {} (left by a pull that was killed while unpacking)",
            e.path().display()
        ));
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// Extract the blob into `staging` in overlay form and check its diff id. Returns the
/// tar's size and the bytes of its files.
fn fill(
    sys: &Sys,
    blob: &Path,
    staging: &Path,
    diff_id: &str,
    lower: Vec<PathBuf>,
) -> Result<(u64, u64)> {
    sys.mkdir(
        staging,
        0o755,
        "the layer is unpacked here, out of sight, then renamed into place",
    )?;
    let what = format!("the layer {}", short(diff_id));
    let f = std::fs::File::open(blob).map_err(|e| {
        Error::io(
            format!("cannot read the blob {}", blob.display()),
            &e,
            "pull the image again",
        )
    })?;
    let mut s = stream::LayerStream::new(
        Box::new(f),
        None,
        stream::Want {
            blob: false,
            tar: true,
        },
    )
    .map_err(|e| crate::stages::export::extract::read_error(&what, &e))?;
    let root = sys.open_tree_root(staging, "every entry of the layer is made beneath it")?;
    let umask = sys.umask_if_made(0, "make each entry with the image's permission bits")?;
    let mut ex = Extractor::new(sys, root);
    ex.umask0 = umask.is_some();
    ex.overlay_form = true;
    ex.lower = lower;
    let mut counted = Counter {
        inner: &mut s,
        n: 0,
    };
    let applied = ex
        .apply_tar(&mut counted, true)
        .and_then(|()| ex.finish_dirs());
    // The rest of the stream (end-of-archive blocks, padding) is the tar's too.
    let drained = applied.and_then(|()| {
        std::io::copy(&mut counted, &mut std::io::sink())
            .map(drop)
            .map_err(|e| crate::stages::export::extract::read_error(&what, &e))
    });
    let tar_size = counted.n;
    sys.umask(
        umask.unwrap_or(0),
        "the layer is unpacked: the usual permissions again",
    )?;
    drained?;
    let (_, tar) = s.finish(&what)?;
    let tar = tar.unwrap_or_default();
    if tar != diff_id {
        return Err(stream::mismatch(
            &format!("the uncompressed {what}"),
            diff_id,
            &tar,
        ));
    }
    if !ex.opaque.is_empty() {
        let root = sys.open_tree_root(
            staging,
            "the layer again: its opaque directories get overlayfs's marker",
        )?;
        for rel in &ex.opaque {
            let d = if rel.is_empty() {
                sys.open_dir_beneath(&root, ".")
            } else {
                sys.open_dir_beneath(&root, rel)
            }
            .map_err(|(errno, call)| {
                Error::sys(
                    format!("cannot open the layer's {rel}/: {call} failed"),
                    errno,
                    "check the image store's directory",
                )
            })?;
            sys.fsetxattr(d.raw(), &d.shown, OPAQUE_XATTR, b"y")
                .map_err(|(errno, call)| {
                    Error::sys(
                        format!("cannot mark the layer's {rel}/ opaque: {call} failed"),
                        errno,
                        "the image store must be on a filesystem with trusted.* xattrs (ext4, xfs, tmpfs) and glassbox must run as root",
                    )
                })?;
        }
    }
    sys.narrator
        .note(&format!("{what} unpacked: {}", ex.stats.summary()));
    Ok((tar_size, ex.stats.bytes))
}

/// Counts the bytes of the tar as they are read.
struct Counter<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for Counter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

pub fn short(d: &str) -> String {
    let h = d.strip_prefix("sha256:").unwrap_or(d);
    format!("sha256:{}", &h[..h.len().min(12)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_dockers() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(chain_id(std::slice::from_ref(&a)), a);
        assert_eq!(
            chain_id(&[a.clone(), b.clone()]),
            format!(
                "sha256:{}",
                store::sha256_hex(format!("{a} {b}").as_bytes())
            )
        );
    }
}

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
use crate::sys::tree::DirFd;
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

/// Where a layer's blob comes from.
pub enum Source {
    /// The content store has it (checked when it was written).
    Store,
    /// A registry's answer, being downloaded: it is written to the store while the layer
    /// is unpacked from the same bytes, and checked against its digest at its end.
    Body(Box<dyn std::io::Read + Send>),
}

/// One layer to unpack: its blob, its size, and its stack of diff ids (its own last).
pub struct Job {
    pub blob: String,
    pub size: u64,
    pub diff_ids: Vec<String>,
    pub source: Source,
}

/// Unpack the blob `blob_digest` (in the content store) as the top of the stack `diff_ids`
/// (its own diff id last), unless that layer is stored already. Returns the layer and
/// whether it was unpacked now.
pub fn unpack(sys: &Sys, blob_digest: &str, diff_ids: &[String]) -> Result<(Layer, bool)> {
    if let Some(layer) = stored(diff_ids)? {
        return Ok((layer, false));
    }
    let job = Job {
        blob: blob_digest.to_string(),
        size: 0,
        diff_ids: diff_ids.to_vec(),
        source: Source::Store,
    };
    let layer = unpack_all(sys, vec![job])?.pop().expect("one layer");
    Ok((layer, true))
}

/// The layer whose stack is `diff_ids`, when the store has it already (shared with an
/// image that has it: its record has the sizes).
pub fn stored(diff_ids: &[String]) -> Result<Option<Layer>> {
    let dir = layer_dir(diff_ids);
    if !dir.is_dir() {
        return Ok(None);
    }
    let known = store::list()
        .into_iter()
        .flat_map(|i| i.layers)
        .find(|l| l.dir == dir && l.tar_size > 0); // not one pulled and not yet used
    Ok(Some(match known {
        Some(l) => l,
        None => {
            let sums = super::layer::write_tar(&dir, std::io::sink())?;
            Layer {
                dir,
                diff_id: diff_ids.last().expect("a layer").clone(),
                tar_size: sums.tar_size,
                size: sums.size,
                blob: None,
            }
        }
    }))
}

/// Unpack layers of one image (bottom first, none stored yet, no blob twice) side by side,
/// each into a staging directory of its own: the layers are independent directories, and
/// only a parent directory a layer makes without an entry for it takes its owner and mode
/// from the layers below — that is done once they are all whole, bottom up. Then each is
/// renamed into place. With `-vv` every entry is narrated, so they are unpacked one after
/// another then, to keep their lines apart.
pub fn unpack_all(sys: &Sys, jobs: Vec<Job>) -> Result<Vec<Layer>> {
    let layers = crate::store::layers_dir();
    store::make_dirs(&layers)?;
    sweep(sys, &layers);
    let journal = Journal::open()?;
    let mut staged: Vec<(PathBuf, String)> = Vec::new();
    let result = stage_all(sys, &journal, jobs, &layers, &mut staged);
    for (staging, jid) in staged {
        if staging.exists() {
            sys.narrator.note(&format!("rm -rf {}", staging.display()));
            let _ = std::fs::remove_dir_all(&staging);
        }
        journal.strike(&jid);
    }
    result
}

/// One layer's unpacking, handed to its thread.
struct Task {
    blob: String,
    size: u64,
    diff_id: String,
    source: Source,
    root: DirFd,
}

/// What a layer's unpacking made, for the main thread to finish: the tar's size, the bytes
/// of its files, its summary, its opaque directories and the parents it made implicitly,
/// and the blob's path when it was downloaded meanwhile.
struct Filled {
    tar_size: u64,
    size: u64,
    summary: String,
    opaque: Vec<String>,
    implicit: Vec<String>,
    downloaded: Option<PathBuf>,
}

fn stage_all(
    sys: &Sys,
    journal: &Journal,
    mut jobs: Vec<Job>,
    layers: &Path,
    staged: &mut Vec<(PathBuf, String)>,
) -> Result<Vec<Layer>> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut tasks = Vec::new();
    for job in &mut jobs {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = layers.join(format!(".unpack-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging); // a pid reused after a killed pull
        let jid = journal.record(Resource::Dir {
            path: staging.clone(),
        })?;
        staged.push((staging.clone(), jid));
        sys.mkdir(
            &staging,
            0o755,
            "the layer is unpacked here, out of sight, then renamed into place",
        )?;
        let root = sys.open_tree_root(&staging, "every entry of the layer is made beneath it")?;
        tasks.push(Task {
            blob: job.blob.clone(),
            size: job.size,
            diff_id: job.diff_ids.last().expect("a layer").clone(),
            source: std::mem::replace(&mut job.source, Source::Store),
            root,
        });
    }
    let umask = sys.umask_if_made(0, "make each entry with the image's permission bits")?;
    let umask0 = umask.is_some();
    let level = sys.narrator.level;
    // Threads make their calls on the running kernel: only when this run makes its calls.
    let parallel = umask0 && level < crate::narrate::Level::Detail && tasks.len() > 1;
    let filled: Vec<Result<Filled>> = if parallel {
        std::thread::scope(|s| {
            let handles: Vec<_> = tasks
                .into_iter()
                .map(|t| {
                    s.spawn(move || {
                        // Each entry's calls are narrated only at -vv: this thread's own
                        // narrator says what the main one would (warnings).
                        let mut n = crate::narrate::Narrator::silent();
                        n.level = level;
                        extract(&Sys::new(&n), t, umask0)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(
                            "a layer's unpacking thread panicked",
                            "pull again",
                        ))
                    })
                })
                .collect()
        })
    } else {
        tasks.into_iter().map(|t| extract(sys, t, umask0)).collect()
    };
    sys.umask(
        umask.unwrap_or(0),
        "the layers are unpacked: the usual permissions again",
    )?;
    let mut done = Vec::new();
    for (job, f) in jobs.iter().zip(filled) {
        let f = f?;
        if let Some(p) = &f.downloaded {
            sys.narrator.note(&format!(
                "layer {}: {} bytes downloaded, sha256 checked, kept as {}",
                short(&job.blob),
                job.size,
                p.display()
            ));
        }
        done.push(f);
    }
    // Bottom up: the parents a layer made implicitly, like the same directories below.
    let staging_of = |d: &[String]| {
        jobs.iter()
            .position(|j| j.diff_ids == d)
            .map(|i| staged[i].0.clone())
            .unwrap_or_else(|| layer_dir(d))
    };
    for (i, (job, f)) in jobs.iter().zip(&done).enumerate() {
        let staging = &staged[i].0;
        if !f.implicit.is_empty() {
            let root = sys.open_tree_root(
                staging,
                "the layer again: the parents it made get the owner and mode they have below",
            )?;
            let mut ex = Extractor::new(sys, root);
            ex.lower = (1..job.diff_ids.len())
                .rev()
                .map(|k| staging_of(&job.diff_ids[..k]))
                .collect();
            ex.like_below_later(&f.implicit)?;
        }
        mark_opaque(sys, staging, &f.opaque)?;
        sys.narrator.note(&format!(
            "the layer {} unpacked: {}",
            short(job.diff_ids.last().expect("a layer")),
            f.summary
        ));
    }
    let mut out = Vec::new();
    for (i, (job, f)) in jobs.iter().zip(done).enumerate() {
        let staging = &staged[i].0;
        let dir = layer_dir(&job.diff_ids);
        let _lock = store::lock()?;
        if dir.is_dir() {
            // Another pull unpacked it meanwhile.
            let _ = std::fs::remove_dir_all(staging);
        } else {
            sys.renameat2(
                staging,
                &dir,
                false,
                "put the unpacked layer in place in one step, named by its chain id",
            )?;
        }
        out.push(Layer {
            dir,
            diff_id: job.diff_ids.last().expect("a layer").clone(),
            tar_size: f.tar_size,
            size: f.size,
            blob: Some(job.blob.clone()),
        });
    }
    Ok(out)
}

/// Remove what a killed glassbox left in the layers directory: the `.unpack-PID-N` staging
/// directories of a pull or a first use, a build's `.build-PID.tar` layer and
/// `.build-pipes-PID` scripts, whose process is gone (a live one is another glassbox at
/// work, and is left alone).
pub fn sweep(sys: &Sys, layers: &Path) {
    let Ok(rd) = std::fs::read_dir(layers) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some((pid, by)) = name.to_str().and_then(left_by) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        sys.narrator.note(&format!(
            "rm -rf {} (left by a {by} that was killed)",
            e.path().display()
        ));
        let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
    }
}

/// The pid in the name of a killed pull's or build's leftover, and which of the two it was.
fn left_by(name: &str) -> Option<(u32, &'static str)> {
    let pid = |p: &str| p.split(['-', '.']).next()?.parse::<u32>().ok();
    if let Some(rest) = name.strip_prefix(".unpack-") {
        return Some((pid(rest)?, "pull or first use"));
    }
    let rest = name
        .strip_prefix(".build-pipes-")
        .or_else(|| name.strip_prefix(".build-")?.strip_suffix(".tar"))?;
    Some((pid(rest)?, "build"))
}

/// Unpack one layer in overlay form beneath `t.root` and check its diff id (and, for a
/// download, its blob's digest first: a damaged download is reported as that).
fn extract(sys: &Sys, t: Task, umask0: bool) -> Result<Filled> {
    let what = format!("the layer {}", short(&t.diff_id));
    let (raw, tee): (Box<dyn std::io::Read + Send>, _) = match t.source {
        Source::Store => {
            let p = crate::store::blobs::path(&t.blob)?.ok_or_else(|| {
                Error::new(
                    format!("the blob {} is not in the store", t.blob),
                    "pull the image again",
                )
            })?;
            let f = std::fs::File::open(&p).map_err(|e| {
                Error::io(
                    format!("cannot read the blob {}", p.display()),
                    &e,
                    "pull the image again",
                )
            })?;
            (Box::new(f), None)
        }
        Source::Body(body) => {
            let what = format!("the layer {}", short(&t.blob));
            let tee = crate::store::blobs::Tee::new(body, &t.blob, t.size, &what)?;
            (Box::new(tee.clone()), Some(tee))
        }
    };
    let unpacked = apply(sys, raw, t.root, &what, umask0);
    let downloaded = match tee {
        Some(tee) => Some(tee.commit()?),
        None => None,
    };
    let (mut filled, tar) = unpacked?;
    if tar != t.diff_id {
        return Err(stream::mismatch(
            &format!("the uncompressed {what}"),
            &t.diff_id,
            &tar,
        ));
    }
    filled.downloaded = downloaded;
    Ok(filled)
}

/// The tar through the extractor; returns what was made and the tar's digest.
fn apply(
    sys: &Sys,
    raw: Box<dyn std::io::Read + Send>,
    root: DirFd,
    what: &str,
    umask0: bool,
) -> Result<(Filled, String)> {
    let mut s = stream::LayerStream::new(
        raw,
        None,
        stream::Want {
            blob: false,
            tar: true,
        },
    )
    .map_err(|e| crate::stages::export::extract::read_error(what, &e))?;
    let mut ex = Extractor::new(sys, root);
    ex.umask0 = umask0;
    ex.overlay_form = true;
    ex.implicit = Some(Vec::new());
    let mut counted = Counter {
        inner: &mut s,
        n: 0,
    };
    ex.apply_tar(&mut counted, true)?;
    ex.finish_dirs()?;
    // The rest of the stream (end-of-archive blocks, padding) is the tar's too.
    std::io::copy(&mut counted, &mut std::io::sink())
        .map_err(|e| crate::stages::export::extract::read_error(what, &e))?;
    let tar_size = counted.n;
    let (_, tar) = s.finish(what)?;
    Ok((
        Filled {
            tar_size,
            size: ex.stats.bytes,
            summary: ex.stats.summary(),
            opaque: std::mem::take(&mut ex.opaque),
            implicit: ex.implicit.take().unwrap_or_default(),
            downloaded: None,
        },
        tar.unwrap_or_default(),
    ))
}

/// overlayfs's opaque marker on the directories a layer's `.wh..wh..opq` entries named.
fn mark_opaque(sys: &Sys, staging: &Path, opaque: &[String]) -> Result<()> {
    if opaque.is_empty() {
        return Ok(());
    }
    let root = sys.open_tree_root(
        staging,
        "the layer again: its opaque directories get overlayfs's marker",
    )?;
    for rel in opaque {
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
    Ok(())
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

impl<R: std::io::BufRead> std::io::BufRead for Counter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.n += n as u64;
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
    fn a_killed_pulls_or_builds_leftovers_are_known_by_their_pid() {
        assert_eq!(left_by(".unpack-123-4"), Some((123, "pull or first use")));
        assert_eq!(left_by(".build-123.tar"), Some((123, "build")));
        assert_eq!(left_by(".build-pipes-123"), Some((123, "build")));
        assert_eq!(left_by(".build-123"), None);
        assert_eq!(left_by("sha256:abc"), None);
    }

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

//! The export stage: an image (tarball, docker save archive, OCI layout, directory, or the
//! word `busybox`) becomes a root filesystem in DIR — the `docker export` + `tar xf` of the
//! classic lesson, done so that no archive can write outside DIR.
//!
//! Plan first: the source is told by its content and its manifests and configs are read and
//! checked before anything is written. Then everything is made in a staging directory beside
//! DIR (journaled before it exists), and one renameat2(2) puts it in place: a failed or
//! interrupted export leaves DIR as it was. The image's run config goes to `DIR.config.json`
//! (see [`config`]).

pub mod busybox;
pub mod config;
pub mod copy;
pub mod detect;
pub mod extract;
pub mod image;
pub mod shared;
pub mod stream;

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::sys::Sys;
use detect::{Source, Store};
use extract::{human_bytes, Extractor};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that interrupted an export (0: none yet).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_interrupt(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
}

/// While the staging tree is being filled, SIGINT/SIGTERM/SIGHUP only set a flag: the
/// extraction stops at the next entry and the staging tree is removed, so an interrupted
/// export leaves nothing behind.
fn catch_interrupts() {
    INTERRUPTED.store(0, Ordering::SeqCst);
    crate::sys::signals::catch(&INTERRUPTS, note_interrupt);
}

fn default_interrupts() {
    crate::sys::signals::default(&INTERRUPTS);
}

const INTERRUPTS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// An error when a signal asked the export to stop (checked between entries).
pub fn check_interrupted() -> Result<()> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => Ok(()),
        sig => Err(Error::new(
            format!("the export was interrupted by signal {sig}; the half-made tree was removed"),
            "run it again",
        )
        .with_code(128 + sig)),
    }
}

pub use config::{config_path, load_config, ImageConfig};

/// What will be applied: the layers of an image, or one tree.
#[allow(clippy::large_enum_variant)] // one per export
enum Plan {
    Busybox,
    Directory(PathBuf),
    Tar {
        path: PathBuf,
        compression: stream::Compression,
        size: u64,
    },
    Layers {
        store: Store,
        image: image::Image,
    },
}

fn plan(source: Source, platform: Option<&str>, sys: &Sys) -> Result<Plan> {
    if platform.is_some() && !matches!(source, Source::Oci(_)) {
        sys.narrator
            .warn("--platform applies to OCI layouts with several platforms; this source has one");
    }
    Ok(match source {
        Source::Busybox => Plan::Busybox,
        Source::Directory(p) => Plan::Directory(p),
        Source::Tar {
            path,
            compression,
            size,
        } => Plan::Tar {
            path,
            compression,
            size,
        },
        Source::DockerSave(store) => {
            let (image, count) = image::docker_save(&store)?;
            if count > 1 {
                sys.narrator.warn(&format!(
                    "the archive holds {count} images; exporting the first"
                ));
            }
            Plan::Layers { store, image }
        }
        Source::Oci(store) => {
            let image = image::oci(&store, platform)?;
            Plan::Layers { store, image }
        }
    })
}

/// What to export where: `glassbox unpack SOURCE DIR` and the image cache alike.
#[derive(Debug, Clone, Default)]
pub struct ExportSpec {
    /// An image tarball, an OCI layout, or `busybox`.
    pub source: String,
    /// The new root filesystem (None with `inspect`).
    pub dir: Option<PathBuf>,
    /// Replace DIR if it exists.
    pub force: bool,
    /// Only say what the image is.
    pub inspect: bool,
    /// OS/ARCH to pick from a multi-platform index.
    pub platform: Option<String>,
}

pub fn main(a: &ExportSpec, sys: &Sys) -> Result<i32> {
    if a.inspect {
        return inspect(a, sys);
    }
    let dir = export(a, sys)?;
    crate::outln!("unpacked {} into {}", a.source, dir.display());
    Ok(0)
}

/// Export `a.source` into `a.dir`; returns the directory. Prints nothing on stdout, so
/// `run` can export an image without mixing it into the container's output.
pub fn export(a: &ExportSpec, sys: &Sys) -> Result<PathBuf> {
    let Some(dir) = &a.dir else {
        return Err(Error::usage(
            "export needs a target directory",
            "glassbox unpack SOURCE DIR (or --inspect SOURCE)",
        ));
    };
    // Validate everything before the first write.
    let dir = absolute(dir)?;
    let parent = dir.parent().filter(|p| p.is_dir()).ok_or_else(|| {
        Error::usage(
            format!(
                "the directory {} cannot be made: its parent does not exist",
                dir.display()
            ),
            "create the parent directory first",
        )
    })?;
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::usage(
            format!("{} has no usable name", dir.display()),
            "give a directory name in UTF-8",
        )
    })?;
    let exists = match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::usage(
                format!("{} is a symlink", dir.display()),
                "give the real directory it points to",
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::usage(
                format!("{} exists and is not a directory", dir.display()),
                "give another DIR",
            ))
        }
        Ok(_) => {
            let non_empty = std::fs::read_dir(&dir)
                .map(|mut r| r.next().is_some())
                .unwrap_or(true);
            if non_empty && !a.force {
                return Err(Error::usage(
                    format!("{} is not empty", dir.display()),
                    "give an empty or new directory, or --force to replace its contents",
                ));
            }
            true
        }
        Err(_) => false,
    };
    let source = detect::detect(&a.source)?;
    let n = sys.narrator;
    n.stage(
        "unpack",
        "turn an image into a root filesystem in a directory",
    );
    n.note(&format!("source: {}", source.describe()));
    let plan = plan(source, a.platform.as_deref(), sys)?;
    let image_config = match &plan {
        Plan::Layers { image, .. } => {
            n.note(&format!(
                "image {} for {}: {} layers, applied in order into one tree; whiteouts (.wh.NAME) delete, opaque markers empty a directory",
                image.tags.first().map(String::as_str).unwrap_or("(untagged)"),
                image.platform,
                image.layers.len()
            ));
            Some(image.config.clone())
        }
        Plan::Busybox => Some(ImageConfig {
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: Some(vec!["/bin/sh".into()]),
            ..Default::default()
        }),
        _ => None,
    };
    let staging = parent.join(format!(".{name}.glassbox-export-{}", std::process::id()));
    n.note(&format!(
        "everything is made in {} and renamed onto {} at the end, so a failure leaves {} as it was",
        staging.display(),
        dir.display(),
        dir.display()
    ));
    n.note("every path is reached with openat2(RESOLVE_BENEATH): the kernel refuses any name, `..` or symlink that would lead outside; entries are made with *at calls and O_NOFOLLOW, owners, modes (setuid bits kept, as Docker keeps them) and times as the image says");
    let shown_dir = dir.clone();
    sys.compound(
        "",
        || {
    let journal = Journal::open()?;
    let id = journal.record(Resource::Dir {
        path: staging.clone(),
    })?;
    catch_interrupts();
    let made = sys
        .mkdir(
            &staging,
            0o755,
            "the staging directory: the new rootfs is made here, out of sight",
        )
        .and_then(|_| fill(sys, &staging, plan))
        .and_then(|_| check_interrupted());
    if let Err(e) = made {
        remove_staging(sys, &journal, &id, &staging);
        default_interrupts();
        return Err(e);
    }
    default_interrupts();
    let placed = if exists {
        sys.renameat2(
            &staging,
            &dir,
            true,
            "swap the new tree with the old DIR in one step (--force)",
        )
    } else {
        sys.renameat2(
            &staging,
            &dir,
            false,
            "put the finished tree in place in one step",
        )
    };
    if let Err(e) = placed {
        remove_staging(sys, &journal, &id, &staging);
        return Err(e);
    }
    // After an exchange the staging path holds the old tree: remove it.
    remove_staging(sys, &journal, &id, &staging);
    write_config(&dir, image_config.as_ref())?;
    match &image_config {
        Some(_) => n.note(&format!(
            "image config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes) saved in {}",
            config_path(&dir).display()
        )),
        None => n.note("the source carries no image config (a plain tar or directory): none saved"),
    }
    Ok(dir)
        },
        || {
            n.note("dry run: nothing extracted");
            shown_dir
        },
    )
}

/// `p` made absolute against the current directory, `.` and trailing slashes dropped.
pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| {
                Error::io(
                    "cannot read the current directory",
                    &e,
                    "cd somewhere that exists",
                )
            })?
            .join(p)
    };
    // Lexically drop `.` and trailing slashes; `..` is left for the kernel.
    Ok(p.components().collect())
}

fn remove_staging(sys: &Sys, journal: &Journal, id: &str, staging: &Path) {
    if staging.exists() {
        sys.narrator.note(&format!("rm -rf {}", staging.display()));
        if std::fs::remove_dir_all(staging).is_err() {
            sys.narrator.warn(&format!(
                "could not remove {}: `glassbox cleanup` will",
                staging.display()
            ));
            return;
        }
    }
    journal.strike(id);
}

fn write_config(dir: &Path, cfg: Option<&ImageConfig>) -> Result<()> {
    let path = config_path(dir);
    let Some(cfg) = cfg else {
        let _ = std::fs::remove_file(&path); // a stale config from a replaced tree
        return Ok(());
    };
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(cfg).expect("a config serializes");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            Error::io(
                format!("cannot write the image config {}", path.display()),
                &e,
                "check that the directory is writable",
            )
        })
}

fn progress(total: u64, sys: &Sys) -> Option<indicatif::ProgressBar> {
    use crate::narrate::Level;
    let lvl = sys.narrator.level;
    if total < 8 << 20
        || !std::io::stderr().is_terminal()
        || lvl >= Level::Detail
        || lvl == Level::Quiet
    {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "  {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

/// Make the tree in `staging`.
fn fill(sys: &Sys, staging: &Path, plan: Plan) -> Result<()> {
    let root = sys.open_tree_root(
        staging,
        "the handle every path of the image is resolved beneath",
    )?;
    let mut ex = Extractor::new(sys, root);
    let before = sys.umask_if_made(
        0,
        "create each file with the image's permission bits, not masked by ours",
    )?;
    ex.umask0 = before.is_some();
    let filled = fill_with(sys, &mut ex, plan);
    if let Some(before) = before {
        sys.umask(
            before,
            "put the umask back: what is made after the export (a container's files) gets the usual permissions",
        )?;
    }
    filled
}

fn fill_with(sys: &Sys, ex: &mut Extractor<'_, '_>, plan: Plan) -> Result<()> {
    let n = sys.narrator;
    match plan {
        Plan::Busybox => {
            busybox::make(ex)?;
            n.note(&format!("busybox rootfs: {}", ex.stats.summary()));
        }
        Plan::Directory(src) => {
            copy::copy(ex, &src)?;
            n.note(&format!("copied: {}", ex.stats.summary()));
        }
        Plan::Tar {
            path,
            compression: _,
            size,
        } => {
            let f = std::fs::File::open(&path).map_err(|e| {
                Error::io(
                    format!("cannot open {}", path.display()),
                    &e,
                    "check its permissions",
                )
            })?;
            // Read (and inflated, if compressed) on a second thread, as `tar xzf` has its
            // gzip child: this thread only writes files, straight from the chunks it is
            // handed. A tarball alone has no digest to check: nothing is hashed.
            let pb = progress(size, sys);
            let mut s = stream::LayerStream::new(Box::new(f), pb.clone(), stream::Want::default())
                .map_err(|e| extract::read_error(&path.display().to_string(), &e))?;
            let r = ex.apply_tar(&mut s, false);
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            r?;
            s.finish(&path.display().to_string())?;
            ex.finish_dirs()?;
            n.note(&format!("extracted: {}", ex.stats.summary()));
        }
        Plan::Layers { store, image } => {
            let total = image.layers.iter().map(|l| l.size).sum();
            let pb = progress(total, sys);
            let count = image.layers.len();
            for (i, layer) in image.layers.iter().enumerate() {
                let (raw, _) = store.open(&layer.member)?;
                let want = stream::Want {
                    blob: layer.blob_digest.is_some(),
                    tar: layer.diff_id.is_some(),
                };
                let mut s = stream::LayerStream::new(raw, pb.clone(), want)
                    .map_err(|e| extract::read_error(&layer.member, &e))?;
                let comp = s.compression;
                let what = format!("the layer {}", layer.member);
                ex.apply_tar(&mut s, true)?;
                let (blob, tar) = s.finish(&what)?;
                if let (Some(d), Some(blob)) = (&layer.blob_digest, blob) {
                    if *d != blob {
                        return Err(stream::mismatch(&what, d, &blob));
                    }
                }
                if let (Some(d), Some(tar)) = (&layer.diff_id, tar) {
                    if *d != tar {
                        return Err(stream::mismatch(
                            &format!("the uncompressed {what}"),
                            d,
                            &tar,
                        ));
                    }
                }
                let stats = ex.next_layer();
                let line = format!(
                    "layer {}/{count} {} ({}, {}{}): {}",
                    i + 1,
                    short(
                        layer
                            .blob_digest
                            .as_deref()
                            .or(layer.diff_id.as_deref())
                            .unwrap_or(&layer.member)
                    ),
                    human_bytes(layer.size),
                    comp.name(),
                    if layer.blob_digest.is_some() || layer.diff_id.is_some() {
                        ", sha256 checked"
                    } else {
                        ""
                    },
                    stats.summary()
                );
                match &pb {
                    Some(pb) => pb.suspend(|| n.note(&line)),
                    None => n.note(&line),
                }
            }
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            ex.finish_dirs()?;
        }
    }
    Ok(())
}

fn short(d: &str) -> String {
    if d.len() > 19 {
        format!("{}…", &d[..19])
    } else {
        d.to_string()
    }
}

/// `glassbox unpack --inspect SOURCE`: what the source holds, without extracting.
fn inspect(a: &ExportSpec, sys: &Sys) -> Result<i32> {
    let source = detect::detect(&a.source)?;
    crate::outln!("source:   {}", source.describe());
    match plan(source, a.platform.as_deref(), sys)? {
        Plan::Busybox => {
            let bb = busybox::find()?;
            crate::outln!(
                "busybox:  {} ({} applets)",
                bb.display(),
                busybox::applets(&bb)?.len()
            );
            crate::outln!("config:   Cmd [\"/bin/sh\"]");
        }
        Plan::Directory(p) => {
            crate::outln!("a directory: {} is copied as it is; no config", p.display())
        }
        Plan::Tar {
            size, compression, ..
        } => {
            crate::outln!(
                "layers:   1 ({}, {})",
                compression.name(),
                human_bytes(size)
            );
            crate::outln!("config:   none (a plain tar carries no image config)");
        }
        Plan::Layers { image, .. } => {
            crate::outln!(
                "image:    {}",
                if image.tags.is_empty() {
                    "(untagged)".into()
                } else {
                    image.tags.join(", ")
                }
            );
            crate::outln!("platform: {}", image.platform);
            crate::outln!("layers:   {}", image.layers.len());
            for (i, l) in image.layers.iter().enumerate() {
                crate::outln!(
                    "  {:>2}  {:>10}  {}",
                    i + 1,
                    human_bytes(l.size),
                    l.blob_digest
                        .as_deref()
                        .or(l.diff_id.as_deref())
                        .unwrap_or(&l.member)
                );
            }
            crate::outln!("config:");
            crate::outln!("{}", image.config.describe().trim_end_matches('\n'));
        }
    }
    Ok(0)
}

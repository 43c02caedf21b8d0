//! Images built up from layers, as docker's are: `diff`, `commit`, `images`, `rmi`,
//! `history` and `save`.
//!
//! A container runs on a stack of read-only layers — its image's — under a writable layer
//! of its own (overlayfs's upper directory; see `run/rootfs.rs`). `diff` reads that upper
//! directory; `commit` copies it into the image store as a new read-only layer and records
//! a new image = the old image's layers + that one; `run` of the new image stacks them all.
//! Images live in a store kept by id (see [`store`]); layers are directories in overlay
//! form and become tars only when an image is written out (see [`layer`]).
//!
//! Exported images (`busybox`, a tarball, an OCI layout) enter the store the first time
//! `run` exports them: their root filesystem is their one layer, and their name is what the
//! user gave (`busybox` → `busybox:latest`, `alpine.tar` → `alpine.tar:latest`), not the
//! tags inside an archive, so running an archive never takes a name from an image the user
//! committed (docker load would).

pub mod commit;
pub mod diff;
pub mod export;
pub mod firstuse;
pub mod import;
pub mod layer;
pub mod load;
pub mod resolve;
pub mod save;
pub mod transport;
pub mod unpack;
pub mod walk;

use crate::cli::{DiffArgs, HistoryArgs, ImagesArgs, RmiArgs};
use crate::clock::parse_rfc3339;
use crate::error::{Error, Result};
use crate::out::docker_size;
use crate::store::containers::{self as container, Status};
use crate::store::images::{self as store, ImageRecord};
use crate::store::reference;
use crate::store::state::ago;
use crate::sys::Sys;

pub use crate::store::need_root;

/// A container run without an overlay (`--no-overlay`) has a private copy of its image and
/// no upper directory: its changes cannot be read the way diff and commit read them.
pub fn check_overlay(c: &container::Container, what: &str) -> Result<()> {
    if c.dir.join("rootfs").is_dir() {
        return Err(Error::usage(
            format!(
                "container {} runs on a private copy of its image (--no-overlay), so it has no upper directory to {what} from",
                c.name()
            ),
            "run the container on an overlay (without --no-overlay) to diff or commit it",
        )
        .with_code(1));
    }
    Ok(())
}

/// `glassbox diff CONTAINER`.
pub fn diff_main(a: &DiffArgs, sys: &Sys) -> Result<i32> {
    need_root("diff")?;
    let c = container::find(&a.container).map_err(|e| e.with_code(1))?;
    check_overlay(&c, "read its changes")?;
    sys.narrator.stage(
        "diff",
        &format!(
            "what container {} changed: its upper directory, against the layers below it",
            c.name()
        ),
    );
    sys.narrator.note(&format!(
        "{}: overlayfs wrote every change there (a whiteout for each deletion); the layers below are its init layer and the image's {} layer(s)",
        c.upper().display(),
        c.record.layers.len() + 1
    ));
    crate::out::print_lines(diff::changes(&c.upper(), &c.lowers(), c.opaque_xattr())?);
    Ok(0)
}

fn created_ago(now: u64, then: u64) -> String {
    format!("{} ago", ago(now, Some(then)))
}

/// `glassbox images [REPOSITORY[:TAG]]`.
pub fn images_main(a: &ImagesArgs, ids_only: bool) -> Result<i32> {
    let filter = match &a.repository {
        Some(r) => Some(reference::parse(r)?),
        None => None,
    };
    let explicit_tag = a
        .repository
        .as_deref()
        .is_some_and(|r| r.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/')));
    let now = crate::store::now();
    let mut rows = vec![
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "LAYERS"]
            .map(String::from)
            .to_vec(),
    ];
    let mut ids: Vec<String> = Vec::new();
    let all = store::list();
    for img in &all {
        // An untagged step of a build, below another image: docker shows it only with -a.
        let intermediate = img.names.is_empty()
            && all
                .iter()
                .any(|o| o.parent.as_deref() == Some(img.id.as_str()));
        if intermediate && !a.all {
            continue;
        }
        let names: Vec<(String, String)> = if img.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.names
                .iter()
                .map(|n| {
                    let (r, t) = n.rsplit_once(':').unwrap_or((n, "latest"));
                    (r.to_string(), t.to_string())
                })
                .collect()
        };
        for (repo, tag) in names {
            if let Some(f) = &filter {
                if repo != f.repository || (explicit_tag && tag != f.tag) {
                    continue;
                }
            }
            let id = if a.no_trunc {
                format!("sha256:{}", img.id)
            } else {
                img.short_id().to_string()
            };
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
            let mut row = vec![repo, tag];
            if a.digests {
                // The last digest it was pulled by that is not its config's (its id).
                let config = format!("sha256:{}", img.id);
                let by = img.blobs.iter().rev().find(|d| **d != config);
                row.push(by.cloned().unwrap_or_else(|| "<none>".into()));
            }
            row.extend([
                id,
                created_ago(now, img.created),
                docker_size(img.size()),
                img.layers.len().to_string(),
            ]);
            rows.push(row);
        }
    }
    if a.digests {
        rows[0].insert(2, "DIGEST".into());
    }
    if ids_only {
        crate::out::print_lines(ids);
    } else {
        crate::out::print_table(&rows);
    }
    Ok(0)
}

/// `glassbox history IMAGE`: one row per layer, topmost first.
/// `glassbox tag SOURCE TARGET`: one more name for an image; a name another image had moves.
pub fn tag_main(a: &crate::cli::TagArgs) -> Result<i32> {
    need_root("tag")?;
    let target = reference::parse(&a.target)?;
    let _lock = store::lock()?;
    let image = store::get(&a.source)?;
    if let Some(from) = store::tag(&image.id, &target)? {
        eprintln!(
            "glassbox: the name {target} moved here from image {}",
            from.short_id()
        );
    }
    Ok(0)
}

pub fn history_main(a: &HistoryArgs) -> Result<i32> {
    let rec = store::get(&a.image)?;
    let config = rec.config()?;
    let all = store::list();
    // A built image's steps are its ancestors (each one history line longer than its
    // parent): history line n is the ancestor with n+1 lines, as docker shows it.
    let mut step_ids = std::collections::BTreeMap::new();
    let mut at = Some(rec.clone());
    while let Some(a) = at {
        if let Ok(c) = a.config() {
            step_ids.insert(c.history.len(), a.short_id().to_string());
        }
        at = a
            .parent
            .as_deref()
            .and_then(|p| all.iter().find(|o| o.id == p))
            .cloned();
    }
    // Otherwise the image whose top layer is layer i of this one, when the store has it.
    let image_at = |i: usize| -> String {
        all.iter()
            .find(|o| o.layers.len() == i + 1 && o.is_parent_of(&rec))
            .map(|o| o.short_id().to_string())
            .unwrap_or_else(|| "<missing>".into())
    };
    let now = crate::store::now();
    let mut rows = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec()];
    let mut layer = rec.layers.len();
    for (n, h) in config.history.iter().enumerate().rev() {
        let (image, size) = if h.empty_layer || layer == 0 {
            ("<missing>".to_string(), 0)
        } else {
            layer -= 1;
            (image_at(layer), rec.layers[layer].shown_size())
        };
        let image = step_ids.get(&(n + 1)).cloned().unwrap_or(image);
        let by = if a.no_trunc || h.created_by.chars().count() <= 45 {
            h.created_by.clone()
        } else {
            format!("{}…", h.created_by.chars().take(44).collect::<String>())
        };
        rows.push(vec![
            image,
            parse_rfc3339(&h.created)
                .map(|t| created_ago(now, t))
                .unwrap_or_else(|| h.created.clone()),
            by,
            docker_size(size),
            h.comment.clone().unwrap_or_default(),
        ]);
    }
    crate::out::print_table(&rows);
    Ok(0)
}

/// The containers whose root is this image, and whether each runs.
pub(crate) fn users(rec: &ImageRecord) -> Vec<(String, bool)> {
    container::list()
        .into_iter()
        .filter(|c| rec.is_stack(&c.record.rootfs, &c.record.layers))
        .map(|c| {
            let running = c.state().effective() == Status::Running;
            (c.name().to_string(), running)
        })
        .collect()
}

/// Remove one image (or one of its names), as `docker rmi` does. Returns the lines to print.
pub(crate) fn rmi(sys: &Sys, r: &str, force: bool) -> Result<Vec<String>> {
    store::get(r)?; // an unknown or malformed reference changes nothing, not even a lock file
    let _lock = store::lock()?;
    let mut rec = store::get(r)?;
    let by_name = reference::parse(r)
        .ok()
        .map(|n| n.to_string())
        .filter(|n| rec.names.contains(n));
    let conflict = |why: String, todo: &str| Error::usage(why, todo).with_code(1);
    // One name of several: only the name goes.
    if let Some(n) = &by_name {
        if rec.names.len() > 1 {
            rec.names.retain(|x| x != n);
            store::save(&rec)?;
            return Ok(vec![format!("Untagged: {n}")]);
        }
    } else if rec.names.len() > 1 && !force {
        return Err(conflict(
            format!(
                "cannot remove image {}: it has several names ({})",
                rec.short_id(),
                rec.names.join(", ")
            ),
            "remove it by name, one name at a time, or all at once with -f",
        ));
    }
    let users = users(&rec);
    if let Some((name, _)) = users.iter().find(|(_, running)| *running) {
        return Err(conflict(
            format!(
                "cannot remove image {}: running container {name} uses it",
                rec.shown()
            ),
            &format!("stop and remove the container first: glassbox rm -f {name}"),
        ));
    }
    let untag_all = |rec: &mut ImageRecord| -> Result<Vec<String>> {
        let lines = rec.names.iter().map(|n| format!("Untagged: {n}")).collect();
        rec.names.clear();
        store::save(rec)?;
        Ok(lines)
    };
    if let Some((name, _)) = users.first() {
        if !force {
            return Err(conflict(
                format!(
                    "cannot remove image {}: container {name} uses it",
                    rec.shown()
                ),
                &format!(
                    "remove the container first (glassbox rm {name}), or take the image's names away with rmi -f (its layers stay while a container uses them)"
                ),
            ));
        }
        let lines = untag_all(&mut rec)?;
        sys.narrator.note(&format!(
            "image {} kept, without names: container {name} still runs on its layers (glassbox rmi {} once it is removed)",
            rec.short_id(),
            rec.short_id()
        ));
        return Ok(lines);
    }
    let all = store::list();
    let children: Vec<&ImageRecord> = all.iter().filter(|o| rec.is_parent_of(o)).collect();
    if !children.is_empty() {
        if by_name.is_some() {
            // As docker: the name goes, the image stays while images are built on it.
            return untag_all(&mut rec);
        }
        return Err(conflict(
            format!(
                "cannot remove image {}: image {} is built on it",
                rec.short_id(),
                children
                    .iter()
                    .map(|c| c.shown())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "remove the images built on it first",
        ));
    }
    let mut lines = untag_all(&mut rec)?;
    let dir = rec.dir();
    std::fs::remove_dir_all(&dir).map_err(|e| {
        Error::io(
            format!("cannot remove {}", dir.display()),
            &e,
            "remove it by hand",
        )
    })?;
    sys.narrator
        .note(&format!("rm -rf {} (its config and record)", dir.display()));
    lines.push(format!("Deleted: sha256:{}", rec.id));
    // Its layers go too, unless another image or a container still stacks them.
    let others = store::list();
    let containers = container::list();
    for l in &rec.layers {
        let used = others
            .iter()
            .any(|o| o.layers.iter().any(|x| x.dir == l.dir))
            || containers
                .iter()
                .any(|c| c.record.rootfs == l.dir || c.record.layers.contains(&l.dir));
        if used {
            continue;
        }
        let target = if l.dir.starts_with(crate::store::layers_dir()) {
            l.dir.clone()
        } else if l.dir.file_name().is_some_and(|n| n == "rootfs")
            && l.dir.parent().and_then(|p| p.parent()) == Some(crate::store::images_dir().as_path())
        {
            // An exported image's cache: images/KEY/{rootfs,rootfs.config.json,lock}.
            l.dir.parent().expect("checked").to_path_buf()
        } else {
            continue;
        };
        if !target.exists() {
            continue; // pulled, never used: never unpacked
        }
        std::fs::remove_dir_all(&target).map_err(|e| {
            Error::io(
                format!("cannot remove the layer {}", target.display()),
                &e,
                "remove it by hand",
            )
        })?;
        sys.narrator.note(&format!(
            "rm -rf {} (a layer no image uses)",
            target.display()
        ));
        // Its copies for user namespaces (run --userns private) go with it.
        for copy in crate::store::idmap::copies_of(&target) {
            std::fs::remove_dir_all(&copy).map_err(|e| {
                Error::io(
                    format!("cannot remove the layer's copy {}", copy.display()),
                    &e,
                    "remove it by hand",
                )
            })?;
            sys.narrator.note(&format!(
                "rm -rf {} (its copy for a user namespace)",
                copy.display()
            ));
        }
        lines.push(format!("Deleted: {}", l.diff_id));
    }
    free_blobs(sys, &rec, &others)?;
    Ok(lines)
}

/// Remove the content-store blobs of a removed image (its manifest, config and layer
/// blobs, when pulled) that no other image names.
fn free_blobs(sys: &Sys, rec: &ImageRecord, others: &[ImageRecord]) -> Result<()> {
    let of = |i: &ImageRecord| -> Vec<String> {
        let mut v = i.blobs.clone();
        v.extend(i.layers.iter().filter_map(|l| l.blob.clone()));
        v
    };
    let kept: Vec<String> = others.iter().flat_map(of).collect();
    for d in of(rec) {
        if !kept.contains(&d) && crate::store::blobs::remove(&d)? {
            sys.narrator
                .note(&format!("rm {} (a blob no image uses)", d));
        }
    }
    Ok(())
}

/// The untagged build steps below a removed image go with it, as docker's rmi removes them,
/// while no other image is built on them and no container uses them.
fn steps_below(sys: &Sys, mut parent: Option<String>, lines: &mut Vec<String>) {
    while let Some(id) = parent.take() {
        let Ok(Some(rec)) = store::find(&id) else {
            return;
        };
        let all = store::list();
        let needed = all
            .iter()
            .any(|o| o.parent.as_deref() == Some(id.as_str()) || rec.is_parent_of(o));
        if !rec.names.is_empty() || needed || !users(&rec).is_empty() {
            return;
        }
        match rmi(sys, &id, false) {
            Ok(l) => lines.extend(l),
            Err(_) => return,
        }
        parent = rec.parent;
    }
}

/// `glassbox rmi IMAGE…`.
pub fn rmi_main(a: &RmiArgs, sys: &Sys) -> Result<i32> {
    need_root("rmi")?;
    sys.narrator.stage(
        "rmi",
        "remove images: their names, their records, and the layers nothing else uses",
    );
    let mut code = 0;
    for r in &a.images {
        // Looked up first, so a dry run also says when there is no such image.
        let removed = store::get(r).and_then(|rec| {
            sys.compound(
                "",
                || {
                    let mut lines = rmi(sys, r, a.force)?;
                    if a.no_prune {
                        sys.narrator
                            .note("--no-prune: the untagged steps below it stay");
                    } else if lines.contains(&format!("Deleted: sha256:{}", rec.id)) {
                        steps_below(sys, rec.parent, &mut lines);
                    }
                    Ok(lines)
                },
                || {
                    sys.narrator.note(&format!(
                        "dry run: {r} and its unused layers are not removed"
                    ));
                    Vec::new()
                },
            )
        });
        match removed {
            Ok(lines) => lines.iter().for_each(|l| crate::outln!("{l}")),
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    Ok(code)
}

//! `glassbox commit`: a container's changes become a layer, and a new image is its parent's
//! layers plus that one.
//!
//! 1. The upper directory is copied into a staging directory of the layer store, as it is
//!    (whiteouts and opaque markers included: see [`super::layer`]).
//! 2. The copy is read back as a layer tar into a hash: the layer's diff_id.
//! 3. One rename puts it at `images/layers/CHAINID`, where CHAINID is docker's chain id
//!    (sha256 of the parent's chain id, a space, and this diff_id): the same change on the
//!    same image is stored once, and a layer never appears twice in one stack, which
//!    overlayfs would refuse.
//! 4. The image config is the parent's run config (with `--change` applied), its diff_ids
//!    plus this one, and its history plus a line for this layer; the new image's id is the
//!    sha256 of that config.
//!
//! A running container is committed as it is at that moment: docker pauses it with the
//! freezer cgroup while it copies; glassbox does not, and says so.

use super::layer;
use super::unpack::short;
use crate::cli::CommitArgs;
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::stages::export::config::ImageConfig;
use crate::store::containers::{self as container, Container};
use crate::store::images::{self as store, History, ImageRecord, Layer};
use crate::store::reference::{self, Reference};
use crate::sys::Sys;
use std::path::Path;

/// One `--change` instruction, checked before anything is done.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(String, String),
    Workdir(String),
    User(String),
    Expose(String),
    Volume(Vec<String>),
}

fn bad_change(c: &str, why: &str) -> Error {
    Error::usage(
        format!("the change {c:?} cannot be applied: {why}"),
        "give one Dockerfile instruction per --change: CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME or WORKDIR (CMD [\"sh\",\"-c\",\"…\"] or CMD sh -c …)",
    )
    .with_code(1)
}

/// `["a","b"]` as JSON, or a shell line run by `/bin/sh -c`, as a Dockerfile reads them.
fn command_form(c: &str, rest: &str) -> Result<Vec<String>> {
    let rest = rest.trim();
    if rest.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(rest)
            .map_err(|_| bad_change(c, "the JSON form must be a list of strings"));
    }
    if rest.is_empty() {
        return Err(bad_change(c, "it names no command"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn parse_change(c: &str) -> Result<Change> {
    let t = c.trim();
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    let rest = rest.trim();
    match word.to_ascii_uppercase().as_str() {
        "CMD" => Ok(Change::Cmd(command_form(c, rest)?)),
        "ENTRYPOINT" => Ok(Change::Entrypoint(command_form(c, rest)?)),
        "ENV" => {
            let (k, v) = rest
                .split_once('=')
                .or_else(|| rest.split_once(char::is_whitespace))
                .ok_or_else(|| bad_change(c, "ENV needs NAME=VALUE"))?;
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(bad_change(c, "ENV needs NAME=VALUE"));
            }
            Ok(Change::Env(k.into(), v.trim().into()))
        }
        "WORKDIR" if rest.starts_with('/') => Ok(Change::Workdir(rest.into())),
        "WORKDIR" => Err(bad_change(c, "WORKDIR needs an absolute path")),
        "USER" if !rest.is_empty() => Ok(Change::User(rest.into())),
        "EXPOSE" => {
            let (port, proto) = rest.split_once('/').unwrap_or((rest, "tcp"));
            if port.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(bad_change(c, "EXPOSE needs PORT[/tcp|/udp]"));
            }
            Ok(Change::Expose(format!("{port}/{proto}")))
        }
        "VOLUME" => {
            // VOLUME ["/a", "/b"] or VOLUME /a /b: absolute paths.
            let paths = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).unwrap_or_default()
            } else {
                rest.split_whitespace().map(String::from).collect()
            };
            if paths.is_empty() || !paths.iter().all(|p| p.starts_with('/')) {
                return Err(bad_change(c, "VOLUME needs absolute paths"));
            }
            Ok(Change::Volume(paths))
        }
        _ => Err(bad_change(
            c,
            "glassbox applies CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME and WORKDIR",
        )),
    }
}

fn apply(config: &mut ImageConfig, changes: &[Change]) {
    for ch in changes {
        match ch {
            Change::Cmd(v) => config.cmd = Some(v.clone()),
            Change::Entrypoint(v) => config.entrypoint = Some(v.clone()),
            Change::Env(k, v) => {
                config.env.retain(|e| e.split('=').next() != Some(k));
                config.env.push(format!("{k}={v}"));
            }
            Change::Workdir(w) => config.working_dir = w.clone(),
            Change::User(u) => config.user = u.clone(),
            Change::Expose(p) => {
                if !config.exposed_ports.contains(p) {
                    config.exposed_ports.push(p.clone());
                    config.exposed_ports.sort();
                }
            }
            Change::Volume(paths) => {
                for p in paths {
                    if !config.volumes.contains(p) {
                        config.volumes.push(p.clone());
                    }
                }
                config.volumes.sort();
            }
        }
    }
}

/// The image a container runs on, as the store has it.
fn parent_of(sys: &Sys, c: &Container) -> Result<ImageRecord> {
    let r = &c.record;
    if let Some(p) = store::list()
        .into_iter()
        .find(|i| i.is_stack(&r.rootfs, &r.layers))
    {
        return Ok(p);
    }
    // Exported before the store knew it (or its record was removed): record it now.
    if r.layers.is_empty() && r.rootfs.starts_with(crate::store::images_dir()) && r.rootfs.is_dir()
    {
        return crate::images::resolve::register_export(sys, &r.rootfs, &r.image);
    }
    Err(Error::usage(
        format!(
            "container {} runs on {}, which is not an image in the store",
            c.name(),
            r.rootfs.display()
        ),
        "commit a container made from an image (busybox, a tarball, or a committed image); for a directory, make it a tarball first (tar -C DIR -cf rootfs.tar .) and run that",
    )
    .with_code(1))
}

pub fn main(a: &CommitArgs, sys: &Sys) -> Result<i32> {
    super::need_root("commit")?;
    // Everything the user gave is checked before anything is read or made.
    let name: Option<Reference> = a.repository.as_deref().map(reference::parse).transpose()?;
    let changes = a
        .change
        .iter()
        .map(|c| parse_change(c))
        .collect::<Result<Vec<_>>>()?;
    let c = container::find(&a.container).map_err(|e| e.with_code(1))?;
    super::check_overlay(&c, "make a layer")?;
    let parent = parent_of(sys, &c)?;
    let n = sys.narrator;
    n.stage(
        "commit",
        &format!(
            "container {}'s changes (its upper directory) become a layer over {}",
            c.name(),
            parent.shown()
        ),
    );
    let _lock = c.lock()?;
    if c.state().running_pid().is_some() {
        n.warn(&format!(
            "{} is running: its files are copied as they are at this moment, without pausing it (docker commit pauses it with the freezer cgroup)",
            c.name()
        ));
    }
    sys.compound(
        "",
        || {
            let (layer, copied) = layer_of(sys, &c, &parent)?;
            n.note(&format!(
                "layer {}: {}; {} whiteouts, {} opaque directories{}",
                short(&layer.diff_id),
                copied.summary,
                copied.whiteouts,
                copied.opaque,
                if copied.sockets > 0 {
                    format!(
                        "; {} sockets left out (a socket is no file)",
                        copied.sockets
                    )
                } else {
                    String::new()
                }
            ));

            // The new image: the parent's config and history, plus this layer.
            let old = parent.config()?;
            let mut config = c
                .record
                .image_config
                .clone()
                .unwrap_or_else(|| old.config.clone());
            apply(&mut config, &changes);
            let now = crate::store::now();
            let mut diff_ids = old.rootfs.diff_ids.clone();
            diff_ids.push(layer.diff_id.clone());
            let mut history = old.history.clone();
            history.push(History {
                created: store::rfc3339(now),
                created_by: c.record.command.join(" "),
                comment: a.message.clone().filter(|m| !m.is_empty()),
                empty_layer: false,
            });
            let blob = store::config_blob(&config, diff_ids, history, now, a.author.clone());
            let bytes = blob.to_bytes();
            let mut layers = parent.layers.clone();
            layers.push(layer);
            let rec = ImageRecord {
                id: store::sha256_hex(&bytes),
                names: Vec::new(),
                layers,
                created: now,
                parent: Some(parent.id.clone()),
                blobs: Vec::new(),
            };
            let _store = store::lock()?;
            store::write(&rec, &bytes)?;
            n.note(&format!(
                "image config written to {} (the image id is its sha256)",
                rec.dir().join("config.json").display()
            ));
            if let Some(name) = &name {
                if let Some(from) = store::tag(&rec.id, name)? {
                    n.note(&format!(
                        "the name {name} moved here from image {}",
                        from.short_id()
                    ));
                }
            }
            crate::outln!("sha256:{}", rec.id);
            Ok(0)
        },
        || {
            n.note(&format!(
                "copy {} into {} as it is: whiteouts (0/0 devices) and opaque directories stay as overlayfs wrote them, so the copy can be a lowerdir",
                c.upper().display(),
                crate::store::layers_dir()
                    .join(format!(".staging-{}", std::process::id()))
                    .display()
            ));
            n.note("dry run: nothing copied, no image made");
            0
        },
    )
}

/// The container's upper directory as a layer of the store over `parent`'s (staged,
/// journalled, renamed into place). `glassbox build` makes each RUN's layer with it too.
pub fn layer_of(sys: &Sys, c: &Container, parent: &ImageRecord) -> Result<(Layer, layer::Copied)> {
    let n = sys.narrator;
    let layers_dir = crate::store::layers_dir();
    let staging = layers_dir.join(format!(".staging-{}", std::process::id()));
    n.note(&format!(
        "copy {} into {} as it is: whiteouts (0/0 devices) and opaque directories stay as overlayfs wrote them, so the copy can be a lowerdir",
        c.upper().display(),
        staging.display()
    ));
    store::make_dirs(&layers_dir)?;
    let journal = Journal::open()?;
    let jid = journal.record(Resource::Dir {
        path: staging.clone(),
    })?;
    let made = make_layer(sys, c, parent, &staging);
    let (layer, copied) = match made {
        Ok(x) => x,
        Err(e) => {
            if staging.exists() {
                n.note(&format!("rm -rf {}", staging.display()));
                let _ = std::fs::remove_dir_all(&staging);
            }
            journal.strike(&jid);
            return Err(e);
        }
    };
    journal.strike(&jid);
    Ok((layer, copied))
}

/// Copy the upper directory into `staging`, hash it, and put it in place. Returns the layer.
fn make_layer(
    sys: &Sys,
    c: &Container,
    parent: &ImageRecord,
    staging: &Path,
) -> Result<(Layer, layer::Copied)> {
    sys.mkdir(
        staging,
        0o755,
        "the new layer is made here, out of sight, then renamed into place",
    )?;
    let copied = match &c.record.userns {
        None => layer::copy_upper(sys, &c.upper(), staging)?,
        Some(m) => {
            let (uid, _) = m.root();
            sys.narrator.note(&format!(
                "the container ran in a user namespace: its files are owned by host ids from {uid}; the layer gets them shifted back (uid {uid} → 0), and its opaque directories the marker root's overlayfs reads"
            ));
            let how = layer::CopyAs {
                shift: Some(m.shift_out()),
                opaque_in: crate::store::overlay::USER_OPAQUE_XATTR,
                opaque_out: crate::store::overlay::OPAQUE_XATTR,
            };
            layer::copy_layer(sys, &c.upper(), staging, how)?
        }
    };
    let sums = layer::write_tar(staging, std::io::sink())?;
    let mut ids: Vec<String> = parent.layers.iter().map(|l| l.diff_id.clone()).collect();
    ids.push(sums.diff_id.clone());
    let chain = super::unpack::chain_id(&ids);
    let dir = crate::store::layers_dir().join(chain.trim_start_matches("sha256:"));
    let _store = store::lock()?;
    if dir.is_dir() {
        sys.narrator.note(&format!(
            "the same layer on the same image is already stored at {}: shared, and the copy removed",
            dir.display()
        ));
        std::fs::remove_dir_all(staging).map_err(|e| {
            Error::io(
                format!("cannot remove {}", staging.display()),
                &e,
                "remove it by hand",
            )
        })?;
    } else {
        sys.renameat2(
            staging,
            &dir,
            false,
            "put the finished layer in place in one step, named by its chain id",
        )?;
    }
    Ok((
        Layer {
            dir,
            diff_id: sums.diff_id,
            tar_size: sums.tar_size,
            size: sums.size,
            blob: None,
        },
        copied,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_as_a_dockerfile_reads_them() {
        assert_eq!(
            parse_change(r#"CMD ["cat","/new"]"#).unwrap(),
            Change::Cmd(vec!["cat".into(), "/new".into()])
        );
        assert_eq!(
            parse_change("cmd echo hi").unwrap(),
            Change::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            parse_change("ENV A=b c").unwrap(),
            Change::Env("A".into(), "b c".into())
        );
        assert_eq!(
            parse_change("EXPOSE 80").unwrap(),
            Change::Expose("80/tcp".into())
        );
        for bad in [
            "VOLUME x",
            "WORKDIR rel",
            "EXPOSE http",
            "CMD",
            "ENV",
            "CMD [1]",
        ] {
            assert_eq!(parse_change(bad).unwrap_err().code, 1, "{bad}");
        }
        let mut c = ImageConfig {
            env: vec!["A=1".into(), "B=2".into()],
            ..Default::default()
        };
        apply(&mut c, &[Change::Env("A".into(), "3".into())]);
        assert_eq!(c.env, vec!["B=2", "A=3"]);
    }
}

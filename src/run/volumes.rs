//! `run`'s volumes, as docker spells them: `--volume NAME:/path[:ro]` (a named volume, made
//! at first use), `--volume /path` and an image's VOLUME (an anonymous volume of the
//! container's own), `--volume /host:/path` (a bind mount), `--mount type=…` and
//! `--volumes-from`. Each becomes a bind mount of a host directory (a volume's `_data`), so
//! the mount stage mounts it as any other: resolved inside the root, `:ro` recursive.

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::stages::export::config::ImageConfig;
use crate::store::volumes::{self as store, Attached};
use crate::sys::Sys;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// What the volume flags settle into.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Every volume and bind mount, the shallowest target first (a mount inside another
    /// goes on top of it).
    pub attached: Vec<Attached>,
    /// `--mount type=tmpfs`: (path inside, size).
    pub tmpfs: Vec<(PathBuf, Option<String>)>,
}

impl Resolved {
    /// As the mount stage takes them (`SOURCE:TARGET[:ro]`); only those whose host side
    /// exists already with `existing_only`.
    pub fn specs(&self, existing_only: bool) -> Vec<String> {
        self.attached
            .iter()
            .filter(|m| !existing_only || m.source.exists())
            .map(|m| m.spec())
            .collect()
    }
}

/// Settle the volume flags of container `id` made from an image with `image`'s config.
/// An existing container (`start`, `exec`) has its volumes as recorded when it was made
/// (`recorded`: a container named by --volumes-from may be gone since), never filled again.
/// Nothing is made here (see [`ensure`]).
pub fn resolve(
    a: &RunArgs,
    id: &str,
    image: &ImageConfig,
    recorded: Option<&[Attached]>,
) -> Result<Resolved> {
    let mut r = Resolved::default();
    if let Some(recorded) = recorded {
        r.attached = recorded.to_vec();
        for spec in &a.mount {
            if let Parsed::Tmpfs(path, size) = parse_mount(spec, id)? {
                r.tmpfs.push((path, size));
            }
        }
        return Ok(r);
    }
    // The image's VOLUMEs first: what the user mounts on the same path replaces them.
    for p in &image.volumes {
        let target = container_path(p, "the image's VOLUME")?;
        put(&mut r.attached, anonymous(id, target, false, true));
    }
    for from in &a.volumes_from {
        for m in volumes_from(from)? {
            put(&mut r.attached, m);
        }
    }
    let mut given: Vec<PathBuf> = Vec::new();
    let mut claim = |t: &Path| -> Result<()> {
        if given.iter().any(|g| g == t) {
            return Err(Error::usage(
                format!("Duplicate mount point: {}", t.display()),
                "give each path inside the container one --volume or --mount",
            ));
        }
        given.push(t.to_path_buf());
        Ok(())
    };
    for v in &a.volume {
        let m = parse_volume_flag(v, id)?;
        claim(&m.target)?;
        put(&mut r.attached, m);
    }
    for spec in &a.mount {
        match parse_mount(spec, id)? {
            Parsed::Mount(m) => {
                claim(&m.target)?;
                put(&mut r.attached, m);
            }
            Parsed::Tmpfs(path, size) => {
                claim(&path)?;
                r.attached.retain(|o| o.target != path);
                r.tmpfs.push((path, size));
            }
        }
    }
    r.attached.sort_by_key(|m| m.target.components().count());
    Ok(r)
}

/// Add `m`, replacing whatever was mounted at its target before.
fn put(list: &mut Vec<Attached>, m: Attached) {
    list.retain(|o| o.target != m.target);
    list.push(m);
}

fn anonymous(id: &str, target: PathBuf, read_only: bool, copy_up: bool) -> Attached {
    let name = store::anonymous_name(id, &target);
    Attached {
        source: store::data_path(&name),
        volume: Some(name),
        anonymous: true,
        target,
        read_only,
        copy_up,
    }
}

fn named(name: &str, target: PathBuf, read_only: bool, copy_up: bool) -> Result<Attached> {
    store::check_name(name)?;
    Ok(Attached {
        source: store::data_path(name),
        volume: Some(name.to_string()),
        anonymous: false,
        target,
        read_only,
        copy_up,
    })
}

/// An absolute path inside the container without `..`, as a clean path.
fn container_path(p: &str, what: &str) -> Result<PathBuf> {
    let path = Path::new(p);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::usage(
            format!("invalid mount path: '{p}' mount path must be absolute ({what})"),
            "give the path inside the container as an absolute path without `..`, for example /data",
        ));
    }
    if path == Path::new("/") {
        return Err(Error::usage(
            format!("invalid mount path: '/' cannot be a mount point ({what})"),
            "mount the volume on a directory such as /data",
        ));
    }
    Ok(path.components().collect())
}

/// `--volume /path`, `NAME:/path[:OPTS]` or `/host:/path[:ro]` (a source with a `/` is a
/// host path, as docker reads it).
fn parse_volume_flag(s: &str, id: &str) -> Result<Attached> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => return Ok(anonymous(id, container_path(t, s)?, false, true)),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => return Err(Error::usage(
            format!("invalid volume specification: '{s}'"),
            "write it as --volume NAME:/path[:ro], --volume /host/dir:/path[:ro] or --volume /path",
        )),
    };
    if source.contains('/') || source.starts_with('.') {
        let b = crate::stages::mounts::parse_volume(s)?;
        return Ok(Attached {
            volume: None,
            anonymous: false,
            source: b.host,
            target: container_path(target, s)?,
            read_only: b.read_only,
            copy_up: false,
        });
    }
    let (mut read_only, mut copy_up) = (false, true);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => copy_up = false,
            // SELinux relabelling: nothing to do without SELinux.
            "z" | "Z" => {}
            _ => {
                return Err(Error::usage(
                    format!("invalid mode: {o} (in the volume {s:?})"),
                    "end the volume with :ro, :rw or :nocopy, or leave it off",
                ))
            }
        }
    }
    named(source, container_path(target, s)?, read_only, copy_up)
}

enum Parsed {
    Mount(Attached),
    Tmpfs(PathBuf, Option<String>),
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy]
/// [,tmpfs-size=…]`, with docker's words for what is wrong.
fn parse_mount(spec: &str, id: &str) -> Result<Parsed> {
    let bad = |why: String| {
        Error::usage(
            format!("invalid argument \"{spec}\" for \"--mount\" flag: {why}"),
            "write it as --mount type=volume,source=NAME,target=/path[,readonly] (or type=bind with a host path, or type=tmpfs,target=/path[,tmpfs-size=64m])",
        )
    };
    let mut f: BTreeMap<&str, String> = BTreeMap::new();
    let mut read_only = false;
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truth = |v: Option<&str>| match v {
            None | Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(o) => Err(bad(format!("invalid value for '{k}': {o}"))),
        };
        match (k.as_str(), v) {
            ("readonly" | "ro", v) => read_only = truth(v)?,
            ("volume-nocopy", v) => {
                if truth(v)? {
                    f.insert("volume-nocopy", String::new());
                }
            }
            (_, None) => {
                return Err(bad(format!(
                    "invalid field '{field}' must be a key=value pair"
                )))
            }
            ("type", Some(v)) => drop(f.insert("type", v.to_ascii_lowercase())),
            ("source" | "src", Some(v)) => drop(f.insert("source", v.into())),
            ("target" | "destination" | "dst", Some(v)) => drop(f.insert("target", v.into())),
            ("tmpfs-size", Some(v)) => drop(f.insert("tmpfs-size", v.into())),
            _ => return Err(bad(format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    let typ = f.get("type").cloned().unwrap_or_else(|| "volume".into());
    let Some(target) = f.get("target") else {
        return Err(bad("target is required".into()));
    };
    let config = |why: String| {
        Error::usage(
            format!("invalid mount config for type \"{typ}\": {why}"),
            "see glassbox run --help for the forms --mount takes",
        )
    };
    let target = container_path(target, spec).map_err(|e| config(e.what))?;
    let source = f.get("source").filter(|s| !s.is_empty());
    for (key, only) in [("tmpfs-size", "tmpfs"), ("volume-nocopy", "volume")] {
        if f.contains_key(key) && typ != only {
            let prefix = key.split('-').next().unwrap_or(key);
            return Err(bad(format!(
                "cannot mix '{prefix}-*' options with mount type '{typ}'"
            )));
        }
    }
    match typ.as_str() {
        "bind" => {
            let Some(host) = source else {
                return Err(config("field Source must not be empty".into()));
            };
            let host = std::fs::canonicalize(host)
                .map_err(|_| config(format!("bind source path does not exist: {host}")))?;
            Ok(Parsed::Mount(Attached {
                volume: None,
                anonymous: false,
                source: host,
                target,
                read_only,
                copy_up: false,
            }))
        }
        "volume" => {
            let copy = !f.contains_key("volume-nocopy");
            Ok(Parsed::Mount(match source {
                Some(name) => named(name, target, read_only, copy)?,
                None => anonymous(id, target, read_only, copy),
            }))
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(config("field Source must not be specified".into()));
            }
            if read_only {
                return Err(config("a tmpfs cannot be read-only here".into()));
            }
            let size = f.get("tmpfs-size").cloned();
            let (path, size) = parse_tmpfs(&match &size {
                Some(s) => format!("{}:{s}", target.display()),
                None => target.display().to_string(),
            })?;
            Ok(Parsed::Tmpfs(path, size))
        }
        other => Err(config(format!(
            "mount type unknown: \"{other}\" (glassbox mounts bind, volume and tmpfs)"
        ))),
    }
}

/// `--volumes-from CONTAINER[:ro|:rw]`: the volumes and bind mounts of another container,
/// at the same paths; `:ro` makes them all read-only.
fn volumes_from(spec: &str) -> Result<Vec<Attached>> {
    let (name, mode) = match spec.rsplit_once(':') {
        Some((n, m @ ("ro" | "rw"))) => (n, Some(m == "ro")),
        _ => (spec, None),
    };
    let c = crate::store::containers::find(name)?;
    Ok(c.record
        .volumes
        .into_iter()
        .map(|m| Attached {
            read_only: mode.unwrap_or(m.read_only),
            copy_up: false,
            ..m
        })
        .collect())
}

/// The host paths of `run`'s bind mounts (for the --userns reachability check).
pub fn bind_hosts(a: &RunArgs) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for v in &a.volume {
        let m = parse_volume_flag(v, "")?;
        if m.volume.is_none() {
            out.push(m.source);
        }
    }
    for s in &a.mount {
        if let Parsed::Mount(m) = parse_mount(s, "")? {
            if m.volume.is_none() {
                out.push(m.source);
            }
        }
    }
    Ok(out)
}

/// The volumes a run made before its container, held until the container's record claims
/// them (`volume rm` looks for users in the records).
#[derive(Default)]
pub struct Made {
    pub names: Vec<String>,
    _lock: Option<crate::lock::Guard>,
}

impl Made {
    /// The container could not be made: remove the volumes made for it.
    pub fn undo(self, sys: &Sys, journal: Option<&Journal>) {
        for name in &self.names {
            if let Err(e) = store::remove(sys, journal, name) {
                sys.narrator.warn(&e.what);
            }
        }
    }
}

/// Before the container is made: make the volumes it names that do not exist yet.
pub fn ensure(sys: &Sys, journal: Option<&Journal>, plan: &super::Plan) -> Result<Made> {
    let wanted: Vec<&Attached> = plan.volumes.iter().filter(|m| m.volume.is_some()).collect();
    if wanted.is_empty() {
        return Ok(Made::default());
    }
    let n = sys.narrator;
    n.stage(
        "volumes",
        "directories of glassbox's store that outlive the container, bound into it",
    );
    let mut made = Made {
        names: Vec::new(),
        _lock: sys.compound("", || store::lock().map(Some), || None)?,
    };
    for m in wanted {
        let name = m.volume.as_deref().unwrap_or_default();
        if store::get(name).is_some() {
            n.note(&format!(
                "volume {name}: there already, mounted at {}",
                m.target.display()
            ));
            continue;
        }
        let mut labels = BTreeMap::new();
        if m.anonymous {
            labels.insert(store::ANONYMOUS_LABEL.to_string(), String::new());
        }
        n.note(&format!(
            "{} volume {name} is new: made now, for {}",
            if m.anonymous { "the anonymous" } else { "the" },
            m.target.display()
        ));
        let owner = plan.userns.as_ref().map(|u| u.root());
        if let Err(e) = store::create(sys, journal, name, labels, owner) {
            made.undo(sys, journal);
            return Err(e);
        }
        made.names.push(name.to_string());
    }
    Ok(made)
}

/// After the root filesystem is prepared: fill each new, empty volume with the image's
/// files at its mount point (docker's copy-up), owners and modes kept.
pub fn copy_up(sys: &Sys, plan: &super::Plan, layers: (&Path, &[PathBuf])) -> Result<()> {
    let (rootfs, upper) = layers;
    // Bottom first: each layer above applied over what is below, as the overlay shows it.
    let mut stack: Vec<&Path> = vec![rootfs];
    stack.extend(upper.iter().rev().map(|p| p.as_path()));
    for m in plan
        .volumes
        .iter()
        .filter(|m| m.copy_up && m.volume.is_some())
    {
        // Missing (a dry run made nothing) counts as empty.
        let empty = std::fs::read_dir(&m.source).map_or(true, |mut d| d.next().is_none());
        if !empty {
            continue;
        }
        let mut first = true;
        for layer in &stack {
            // Resolved inside the layer, no symlink on the way: an image cannot point its
            // VOLUME at a host directory to have it copied in.
            let Ok((shown, fd)) = crate::sys::mount::resolve_beneath(layer, &m.target) else {
                continue;
            };
            let held = held_path(&fd);
            if !held.is_dir() {
                continue;
            }
            let by_hand = format!("cp -a {}/. {}/", shown.display(), m.source.display());
            sys.narrator.note(&format!(
                "copy-up: the image's files at {} fill the new volume {} (as docker fills an empty volume), owners and modes kept: {by_hand}",
                m.target.display(),
                m.volume.as_deref().unwrap_or_default()
            ));
            let copy = || {
                let done = if first {
                    copy_all(&held, &m.source)
                } else {
                    super::copy::apply_layer(&held, &m.source)
                };
                done.map_err(|e| {
                    Error::io(
                        format!(
                            "cannot copy the image's files at {} into the volume",
                            m.target.display()
                        ),
                        &e,
                        "check that the data directory has room for them",
                    )
                })
            };
            sys.compound("", copy, || ())?;
            first = false;
        }
    }
    Ok(())
}

/// The directory an O_PATH descriptor holds, as another process (cp) can open it.
fn held_path(fd: &std::os::fd::OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        fd.as_raw_fd()
    ))
}

/// `cp -a FROM/. TO/`: the contents and the directory's own owner and mode.
fn copy_all(from: &Path, to: &Path) -> std::io::Result<()> {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from.join("."))
        .arg(format!("{}/", to.display()))
        .status()?
        .success();
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cp -a {} failed",
            from.display()
        )))
    }
}

/// Remove the anonymous volumes of a removed container that no other container uses
/// (`rm --volumes`, `run --rm`); named volumes always stay.
pub fn remove_anonymous(sys: &Sys, journal: Option<&Journal>, attached: &[Attached]) {
    let remove = || {
        remove_unused(sys, journal, attached);
        Ok(())
    };
    let _ = sys.compound("", remove, || ());
}

/// [`remove_anonymous`]'s work: each anonymous volume no other container uses, removed.
fn remove_unused(sys: &Sys, journal: Option<&Journal>, attached: &[Attached]) {
    let anonymous: Vec<&str> = attached
        .iter()
        .filter(|m| m.anonymous)
        .filter_map(|m| m.volume.as_deref())
        .collect();
    if anonymous.is_empty() {
        return;
    }
    let Ok(_lock) = store::lock() else { return };
    for name in anonymous {
        let users = store::users(name);
        if !users.is_empty() {
            sys.narrator.note(&format!(
                "volume {name} stays: container {} uses it too",
                users.join(", ")
            ));
            continue;
        }
        if store::get(name).is_none() {
            continue;
        }
        if let Err(e) = store::remove(sys, journal, name) {
            sys.narrator.warn(&e.what);
        }
    }
}

/// `--tmpfs PATH[:SIZE]`: an absolute path without `..`, and a size like 64m.
pub(super) fn parse_tmpfs(spec: &str) -> Result<(std::path::PathBuf, Option<String>)> {
    let (path, size) = match spec.split_once(':') {
        Some((p, s)) => (p, Some(s.to_string())),
        None => (spec, None),
    };
    let p = std::path::Path::new(path);
    let bad_path = !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        || p == std::path::Path::new("/");
    let bad_size = size.as_ref().is_some_and(|s| {
        let digits = s.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
        digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit())
    });
    if bad_path || bad_size {
        return Err(Error::usage(
            format!("--tmpfs {spec:?} is not PATH[:SIZE]"),
            "give an absolute path inside the container (not / and without ..), and a size such as 64m",
        ));
    }
    Ok((p.to_path_buf(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_are_read_as_docker_reads_them() {
        let m = parse_volume_flag("data:/x:ro", "0123456789ab").unwrap();
        assert_eq!(m.volume.as_deref(), Some("data"));
        assert!(m.read_only && !m.anonymous && m.copy_up);
        let m = parse_volume_flag("/x/", "0123456789ab").unwrap();
        assert!(m.anonymous);
        assert_eq!(m.target, Path::new("/x"));
        let m = parse_volume_flag("/tmp:/x", "0123456789ab").unwrap();
        assert_eq!(m.volume, None);
        assert!(parse_volume_flag("x!:/x", "i").is_err());
        assert!(parse_volume_flag("data:x", "i").is_err());
        assert!(parse_volume_flag("data:/x:rx", "i").is_err());
        assert!(!parse_volume_flag("data:/x:nocopy", "i").unwrap().copy_up);
    }

    #[test]
    fn mount_flags_are_read_as_docker_reads_them() {
        let Parsed::Mount(m) =
            parse_mount("type=volume,source=data,target=/x,readonly", "i").unwrap()
        else {
            panic!()
        };
        assert!(m.read_only && m.volume.as_deref() == Some("data"));
        let Parsed::Tmpfs(p, s) = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m", "i").unwrap()
        else {
            panic!()
        };
        assert_eq!((p, s.as_deref()), (PathBuf::from("/t"), Some("1m")));
        let err = |s: &str| match parse_mount(s, "i") {
            Err(e) => e.what,
            Ok(_) => panic!("{s} was taken"),
        };
        assert!(err("type=volume,source=x").ends_with("target is required"));
        assert!(err("type=bind,target=/x").contains("field Source must not be empty"));
        assert!(err("type=bind,source=/no/such,target=/x")
            .contains("bind source path does not exist: /no/such"));
        assert!(err("type=tmpfs,source=x,target=/x").contains("must not be specified"));
        assert!(err("type=bind,source=/tmp,target=/x,tmpfs-size=1m")
            .contains("cannot mix 'tmpfs-*' options with mount type 'bind'"));
        assert!(err("type=volume,target=/x,colour=red").contains("unexpected key 'colour'"));
        assert!(err("type=volume,target=/x,wat").contains("must be a key=value pair"));
    }
}

//! Containers that live on after `run`: each has an id, a name and a directory of its own
//! under the data directory, as Docker keeps `/var/lib/docker/containers/ID`:
//!
//! ```text
//! containers/ID/container.json   its name, image and times (what ps lists), written once
//! containers/ID/config.json      the container as an OCI runtime spec: the directory is an
//!                                OCI bundle (`runc run --bundle` runs it; see crate::spec);
//!                                `start` and `exec` run what it says
//! containers/ID/state.json       created / running / exited: pid, exit code, times (none
//!                                until it first starts: it reads as created)
//! containers/ID/init/            the files glassbox writes for it (/etc/hostname, hosts):
//!                                a read-only layer of its own, as Docker's "-init" layer
//! containers/ID/upper/ work/     overlayfs's writable layer and its work directory
//! containers/ID/merged/          where the overlay is mounted (inside the container only)
//! containers/ID/log              what a detached container wrote to stdout and stderr
//! containers/ID/                 the directory itself is flock(2)ed by whoever changes the state
//! ```
//!
//! A foreground `run --rm` container's directory (without --memory) is a tmpfs mounted over
//! ID/ (see run/scratch.rs): everything in it is written only to be deleted.
//!
//! Names and ids are checked before they reach a path; every state change is written whole
//! (write, then rename) under the container's lock.

pub use super::state::{State, Status};
use super::{containers_dir, data_dir, write_whole};
use crate::error::{Error, Result};
use crate::sys::Sys;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The format of the container records this glassbox writes. 0 (no `format` field): made
/// before containers were OCI bundles, so without a config.json; 1: with one, and the run
/// flags in the record; 2: config.json alone says how it runs (the flags are gone).
pub const FORMAT: u32 = 2;

/// A container directory's OCI runtime spec, which makes it an OCI bundle.
pub use crate::spec::file::CONFIG as BUNDLE_CONFIG;

/// What a container is made from, fixed when it is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The record's format ([`FORMAT`]); absent in records older than bundles.
    #[serde(default)]
    pub format: u32,
    pub id: String,
    pub name: String,
    /// The image as the user named it (`busybox`, `alpine.tar`, `myimage:v1`).
    pub image: String,
    /// The image's root filesystem: the bottom layer.
    pub rootfs: PathBuf,
    /// The image's layers above `rootfs`, topmost first (a committed image has some).
    #[serde(default)]
    pub layers: Vec<PathBuf>,
    /// The image's config (default command, env, workdir, user) as it was at creation.
    #[serde(default)]
    pub image_config: Option<crate::stages::export::config::ImageConfig>,
    /// The command it runs, as resolved (the image's default when none was given).
    pub command: Vec<String>,
    /// Seconds since the epoch.
    pub created: u64,
    /// With `--userns private`: the id ranges of its user namespace. Its files on the host
    /// belong to these ids, so `start`, `diff` and `commit` use them, not today's /etc/subuid.
    #[serde(default)]
    pub userns: Option<super::idmap::Mapping>,
    /// Its volumes and bind mounts, as resolved (`volume rm` refuses a volume one uses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<super::attached::Attached>,
}

/// A container's own directories: the init layer, the writable layer, overlay's work dir,
/// the mount point.
#[derive(Clone)]
pub struct ContainerFs {
    pub dir: PathBuf,
    pub init: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    /// With --userns private: the image's layers copied with shifted owners, as
    /// (root filesystem, layers topmost first), used in place of the image's own.
    pub lower: Option<(PathBuf, Vec<PathBuf>)>,
    /// With --rm only: what has `cleanup` remove the directory (a kept container's directory
    /// is its record, removed by `glassbox rm`).
    pub removal: Removal,
}

/// The journal entries that have `cleanup` remove a --rm container's directory.
#[derive(Debug, Default, Clone)]
pub struct Removal {
    /// The directory's entry.
    pub dir: Option<String>,
    /// A tmpfs is mounted over the directory. The directory's entry stands for the mount
    /// too: `cleanup` detaches what is mounted on a directory before it removes it.
    pub tmpfs: bool,
}

impl ContainerFs {
    pub fn at(dir: &Path) -> ContainerFs {
        ContainerFs {
            init: dir.join("init"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            dir: dir.to_path_buf(),
            lower: None,
            removal: Removal::default(),
        }
    }
}

impl ContainerFs {
    /// With the journal entries that have `cleanup` remove it (--rm).
    pub fn journaled(self, removal: Removal) -> ContainerFs {
        ContainerFs { removal, ..self }
    }
}

/// A container name or id: what may become part of a path.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{name:?} is not a valid container name"),
            "use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        ))
    }
}

/// The name of container `id`'s cgroups: its id, not its name (ids are unique on the
/// machine, names only in one data directory; two glassbox users may each have a `web`).
pub fn cgroup_name(id: &str) -> String {
    format!("gb-{id}")
}

/// A container found on disk.
#[derive(Debug, Clone)]
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.record.id
    }
    pub fn name(&self) -> &str {
        &self.record.name
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn init_layer(&self) -> PathBuf {
        self.dir.join("init")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }
    /// Its config.json: refused, with what to do, for a container made before bundles.
    pub fn bundle_config(&self) -> Result<PathBuf> {
        if self.record.format < 1 {
            return Err(Error::usage(
                format!(
                    "container {} was made by an older glassbox, before containers were OCI bundles: it has no {BUNDLE_CONFIG}",
                    self.name()
                ),
                "it still runs with glassbox start; for a bundle, remove it (glassbox rm) and run it again",
            ));
        }
        Ok(self.dir.join(BUNDLE_CONFIG))
    }
    /// Its OCI runtime spec, which `start` and `exec` run. A format-1 bundle's spec lacks
    /// what later ones annotate (the image's layers and config): converted from the record.
    pub fn spec(&self) -> Result<oci_spec::runtime::Spec> {
        self.bundle_config()?;
        let mut spec = crate::spec::file::read(&self.dir)?;
        if self.record.format < 2 {
            use crate::spec::annotation as key;
            let r = &self.record;
            let mut a = spec.annotations().clone().unwrap_or_default();
            let json = |v: serde_json::Value| v.to_string();
            a.insert(key::NAME.into(), r.name.clone());
            a.insert(key::IMAGE_ROOTFS.into(), r.rootfs.display().to_string());
            a.insert(key::IMAGE_LAYERS.into(), json(serde_json::json!(r.layers)));
            let config = serde_json::to_value(&r.image_config).expect("serialisable");
            a.insert(key::IMAGE_CONFIG.into(), json(config));
            spec.set_annotations(Some(a));
        }
        Ok(spec)
    }
    /// The read-only layers under the container's own, topmost first: its init layer, then
    /// the image's layers, then the image's root filesystem.
    pub fn lowers(&self) -> Vec<PathBuf> {
        let mut l = vec![self.init_layer()];
        l.extend(self.record.layers.iter().cloned());
        l.push(self.record.rootfs.clone());
        l
    }
    /// The xattr that marks an opaque directory in its upper directory: overlayfs mounted
    /// in a user namespace (`userxattr`: --userns private, and every container of an
    /// ordinary user's) writes `user.overlay.opaque`.
    pub fn opaque_xattr(&self) -> &'static str {
        super::overlay::opaque_xattr(self.record.userns.is_some() || crate::host::rootless())
    }
    pub fn state(&self) -> State {
        State::read(&self.dir)
    }
    /// Its state as this process last wrote it (or made it: a new container is `created`
    /// before any state.json is written), else as on disk. For the process that supervises
    /// it, the only one that writes its state while it runs: it need not read back what it
    /// wrote.
    pub fn own_state(&self) -> State {
        let written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
        match &*written {
            Some((dir, s)) if *dir == self.dir => s.clone(),
            _ => self.state(),
        }
    }
    /// Take the container's lock (blocks while another glassbox command changes it).
    pub fn lock(&self) -> Result<crate::lock::Guard> {
        // flock on the directory itself: a lock file made in it (O_CREAT) by a command that
        // waits for the lock could land in the directory while rm removes it (ENOTEMPTY).
        crate::lock::exclusive_dir(&self.dir, "the container")
    }
    /// Write a new state, whole.
    pub fn save_state(&self, s: &State) -> Result<()> {
        s.write(&self.dir)?;
        remember_state(&self.dir, s);
        Ok(())
    }
}

/// The state this process last wrote, and the container directory it is of.
static WRITTEN: std::sync::Mutex<Option<(PathBuf, State)>> = std::sync::Mutex::new(None);

fn remember_state(dir: &Path, s: &State) {
    *WRITTEN.lock().unwrap_or_else(|e| e.into_inner()) = Some((dir.to_path_buf(), s.clone()));
}

/// A container id: 12 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 12
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// What the user typed to name a container: a name (run's rules) or a whole or partial id.
/// Anything else (`../x`, a slash, a control character) is refused before it reaches a path.
fn check_reference(r: &str) -> Result<()> {
    if check_name(r).is_ok() {
        return Ok(());
    }
    let shown: String = r.escape_default().collect();
    Err(Error::usage(
        format!("\"{shown}\" is not a container name or id"),
        "give a name or id as `glassbox ps -a` lists them",
    ))
}

fn read_record(dir: &Path) -> Option<Record> {
    let b = std::fs::read(dir.join("container.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

/// A record this glassbox can act on: one of a newer format is refused, not misread.
fn checked(c: Container) -> Result<Container> {
    if c.record.format > FORMAT {
        return Err(Error::usage(
            format!(
                "container {} was made by a newer glassbox (record format {}; this one knows up to {FORMAT})",
                c.name(),
                c.record.format
            ),
            "use the glassbox that made it, or update this one",
        ));
    }
    Ok(c)
}

/// Every container's directory and record, read as `T`: the whole [`Record`], or only the
/// fields a command needs of it (serde skips the others without building them). In no
/// particular order; one buffer serves every read.
pub fn records<T: serde::de::DeserializeOwned>() -> Vec<(PathBuf, T)> {
    let mut buf = Vec::new();
    std::fs::read_dir(containers_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_id(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let dir = e.path();
            super::read_into(&dir.join("container.json"), &mut buf).ok()?;
            let record = serde_json::from_slice(&buf).ok()?;
            Some((dir, record))
        })
        .collect()
}

/// Every container, oldest first.
pub fn list() -> Vec<Container> {
    let mut v: Vec<Container> = records::<Record>()
        .into_iter()
        .map(|(dir, record)| Container { dir, record })
        .collect();
    v.sort_by(|a, b| (a.record.created, &a.record.id).cmp(&(b.record.created, &b.record.id)));
    v
}

/// The index of names: `names/NAME`, a symlink to the container's id. Claimed with
/// symlink(2), which fails if the name exists: no scan of every container per run.
fn names_dir() -> PathBuf {
    data_dir().join("names")
}

/// The container with this name, id, or unique id prefix (as docker finds them).
pub fn find(reference: &str) -> Result<Container> {
    check_reference(reference)?;
    if let Ok(id) = std::fs::read_link(names_dir().join(reference)) {
        let dir = containers_dir().join(&id);
        if let Some(record) = read_record(&dir) {
            return checked(Container { dir, record });
        }
    }
    // A generated name (gb-ID) has no link: its id says where it is.
    if let Some(dir) = generated_id(reference).map(|id| containers_dir().join(id)) {
        if let Some(record) = read_record(&dir).filter(|r| r.name == reference) {
            return checked(Container { dir, record });
        }
    }
    // A whole id: its directory, one read (inspect $(ps -aq) of 1,000 would otherwise read
    // every record once for each).
    if is_id(reference) {
        let dir = containers_dir().join(reference);
        if let Some(record) = read_record(&dir) {
            return checked(Container { dir, record });
        }
    }
    let all = list();
    if let Some(c) = all.iter().find(|c| c.record.id == reference) {
        return checked(c.clone());
    }
    let by_prefix: Vec<&Container> = all
        .iter()
        .filter(|c| c.record.id.starts_with(reference))
        .collect();
    match by_prefix.as_slice() {
        [one] => checked((*one).clone()),
        [] => Err(Error::usage(
            format!("no such container: {reference}"),
            "`glassbox ps -a` lists the containers there are",
        )),
        _ => Err(Error::usage(
            format!("{reference} matches more than one container id"),
            "give more of the id, or the name",
        )),
    }
}

/// The id in a name glassbox generated for a container (`gb-ID`, see [`generated_name`]).
pub fn generated_id(name: &str) -> Option<&str> {
    name.strip_prefix("gb-").filter(|id| is_id(id))
}

/// The id of the container that holds `name`, if any: the one its link names, while that
/// container has a record (a link to one that is gone is stale), or the one whose generated
/// name it is (which has no link). Looked at under the names lock.
fn holder(name: &str) -> Option<String> {
    let linked = std::fs::read_link(names_dir().join(name))
        .ok()
        .filter(|id| containers_dir().join(id).join("container.json").exists())
        .map(|id| id.to_string_lossy().into_owned());
    linked.or_else(|| {
        let id = generated_id(name)?;
        read_record(&containers_dir().join(id))
            .filter(|r| r.name == name)
            .map(|_| id.to_string())
    })
}

/// The name a container gets when it is given none: `gb-` and its id. It is claimed by the
/// id's directory (no two containers have one id), so it needs no link in the names index:
/// a `run --rm` on a disk then makes and removes no file there.
pub fn generated_name(id: &str) -> String {
    format!("gb-{id}")
}

/// Claim `name` for container `id` and make its directory; returns the names lock, which
/// the caller holds until the container's record is written. A name whose container is gone
/// (removed by `cleanup` after a killed `run --rm`), or was never finished (glassbox killed
/// while making it: a directory without a record while nobody holds the lock), is free again.
fn claim_name(sys: &Sys, name: &str, id: &str) -> Result<crate::lock::Guard> {
    let names = names_dir();
    let fail = |e: std::io::Error| {
        Error::io(
            format!("cannot record the container name {name:?}"),
            &e,
            "check that glassbox's data directory is writable (run as root)",
        )
    };
    // names_lock makes the names directory.
    let lock = names_lock()?;
    let link = names.join(name);
    if let Some(other) = holder(name) {
        return Err(Error::usage(
            format!("the container name {name:?} is already in use by container {other}"),
            "remove that container (glassbox rm), or give this one another --name",
        ));
    }
    if let Ok(stale) = std::fs::read_link(&link) {
        let _ = std::fs::remove_dir_all(containers_dir().join(stale));
        std::fs::remove_file(&link).map_err(fail)?;
    }
    if generated_id(name) != Some(id) {
        std::os::unix::fs::symlink(id, &link).map_err(fail)?;
    }
    let dir = containers_dir().join(id);
    let made = match super::spares::take(sys, &dir) {
        Ok(true) => Ok(()),
        Ok(false) => std::fs::create_dir(&dir),
        Err(e) => Err(e),
    };
    made.map_err(|e| {
        unclaim_name(name, id);
        fail(e)
    })?;
    Ok(lock)
}

/// Undo [`claim_name`] when the container could not be made (quietly: its caller reports
/// why). A generated name had no link; another container's link is left alone.
fn unclaim_name(name: &str, id: &str) {
    let link = names_dir().join(name);
    if std::fs::read_link(&link).is_ok_and(|to| to == Path::new(id)) {
        let _ = std::fs::remove_file(link);
    }
}

fn names_lock() -> Result<crate::lock::Guard> {
    let names = names_dir();
    std::fs::create_dir_all(&names).map_err(|e| {
        Error::io(
            format!("cannot make {}", names.display()),
            &e,
            "check that glassbox's data directory is writable (run as root)",
        )
    })?;
    crate::lock::exclusive(&names.with_extension("lock"), "the container names")
}

/// Remove what a killed glassbox left half-made: container directories without a record
/// (checked under the names lock, which every creation holds until its record is written),
/// and name links to containers that are gone. Returns the directories removed.
pub fn remove_incomplete() -> Result<Vec<PathBuf>> {
    if !containers_dir().is_dir() {
        return Ok(Vec::new());
    }
    let _lock = names_lock()?;
    let mut removed = Vec::new();
    for e in std::fs::read_dir(containers_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path();
        if is_id(&e.file_name().to_string_lossy()) && !dir.join("container.json").exists() {
            remove_out_of_store(&dir)?;
            removed.push(dir);
        }
    }
    for e in std::fs::read_dir(names_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let gone = std::fs::read_link(e.path())
            .map(|id| !containers_dir().join(id).join("container.json").exists())
            .unwrap_or(false);
        if gone {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(removed)
}

/// rm -r of a container directory that is out of the store.
fn remove_out_of_store(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).map_err(|err| {
        Error::io(
            format!("cannot remove {}", dir.display()),
            &err,
            "check for mounts inside it (findmnt) and remove it by hand",
        )
    })
}

/// Container directories on their way out: out of the store (no name, not listed), removed
/// by their supervisor once the container's mounts are gone (`rm -f`), or by `cleanup`.
pub fn trash_dir() -> PathBuf {
    data_dir().join("trash")
}

/// The lock beside a trashed directory (`trash/ID.lock`), held by whoever removes it:
/// cleanup leaves the directory to a live holder. Beside it, not on it: the directory is
/// the container's own lock (`Container::lock`), which rm -f holds while it waits.
fn removal_lock_of(trashed: &Path) -> PathBuf {
    trashed.with_extension("lock")
}

fn is_removal_lock(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "lock")
}

/// Take the removal lock of a trashed directory (see [`removal_lock_of`]); None if it
/// cannot be made (cleanup may then take the directory for an abandoned one).
pub fn lock_removal(trashed: &Path) -> Option<crate::lock::Guard> {
    crate::lock::exclusive(&removal_lock_of(trashed), "a trashed directory").ok()
}

/// The removal lock at `lock`, if nobody holds it (a missing one is made, then taken).
fn try_lock_removal(lock: &Path) -> Option<crate::lock::Guard> {
    crate::lock::try_exclusive(lock, "a trashed directory")
}

/// A trashed directory is gone: its removal lock goes too.
pub fn removed_from_trash(trashed: &Path) {
    let _ = std::fs::remove_file(removal_lock_of(trashed));
}

/// Remove the directories in the trash whose supervisor is gone (killed before it removed
/// them). Returns the directories removed.
pub fn remove_trash() -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for e in std::fs::read_dir(trash_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path();
        if is_removal_lock(&dir) {
            // A lock left by a remover that died after its directory was gone.
            if !dir.with_extension("").exists() && try_lock_removal(&dir).is_some() {
                let _ = std::fs::remove_file(&dir);
            }
            continue;
        }
        if State::read(&dir).supervisor.is_some_and(|o| o.is_alive()) {
            continue;
        }
        // Its lock held: being removed by the child its supervisor left for that.
        let Some(_removing) = try_lock_removal(&removal_lock_of(&dir)) else {
            continue;
        };
        // Gone meanwhile (its remover finished): nothing left but the lock.
        if dir.exists() {
            remove_out_of_store(&dir)?;
            removed.push(dir.clone());
        }
        removed_from_trash(&dir);
    }
    Ok(removed)
}

/// Give up a container's name (if it is still this container's).
pub fn release_name(sys: &Sys, dir: &Path) -> Result<()> {
    let Some(r) = read_record(dir) else {
        return Ok(());
    };
    let link = names_dir().join(&r.name);
    if std::fs::read_link(&link).is_ok_and(|id| id == Path::new(&r.id)) {
        sys.remove_path(&link)?;
    }
    Ok(())
}

/// Give container `c` the name `new` (docker rename): the new name is claimed in the index
/// under its lock, the record rewritten, and only then the old name freed. The record is
/// read again under the lock (another rename may have come first). Returns the old name and
/// whether it had a link to remove (a generated one has none).
pub fn rename(c: &Container, new: &str) -> Result<(String, bool)> {
    check_name(new)?;
    let _lock = names_lock()?;
    let mut record = read_record(&c.dir).ok_or_else(|| {
        Error::usage(
            format!("container {} is gone", c.name()),
            "`glassbox ps -a` lists the containers there are",
        )
    })?;
    let old_name = std::mem::replace(&mut record.name, new.to_string());
    let link = names_dir().join(new);
    if let Some(other) = holder(new).filter(|other| other != c.id()) {
        return Err(Error::usage(
            format!("the container name {new:?} is already in use by container {other}"),
            "pick another name, or remove that container first (glassbox rm)",
        )
        .with_code(1));
    }
    // A stale link (its container gone), or one to this very container.
    let _ = std::fs::remove_file(&link);
    let fail = |e: std::io::Error| {
        Error::io(
            format!("cannot record the container name {new:?}"),
            &e,
            "check that glassbox's data directory is writable (run as root)",
        )
    };
    std::os::unix::fs::symlink(c.id(), &link).map_err(fail)?;
    let written = write_whole(
        &c.dir.join("container.json"),
        &serde_json::to_vec_pretty(&record).expect("serialisable"),
    )
    .and_then(|_| rename_in_spec(c, new));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&link);
        return Err(e);
    }
    let old = names_dir().join(&old_name);
    let linked = std::fs::read_link(&old).is_ok_and(|id| id == Path::new(c.id()));
    if linked {
        let _ = std::fs::remove_file(old);
    }
    Ok((old_name, linked))
}

/// `start` runs config.json: under the new name from now on.
fn rename_in_spec(c: &Container, new: &str) -> Result<()> {
    if c.record.format < 1 {
        return Ok(());
    }
    let mut spec = crate::spec::file::read(&c.dir)?;
    let mut a = spec.annotations().clone().unwrap_or_default();
    a.insert(crate::spec::annotation::NAME.into(), new.to_string());
    spec.set_annotations(Some(a));
    crate::spec::file::write(&c.dir, &spec)
}

/// The ports a container publishes, as config.json annotates them (`8080:80/tcp`), for ps.
pub fn published(dir: &Path) -> Vec<String> {
    #[derive(Deserialize, Default)]
    struct Annotated {
        #[serde(default)]
        annotations: std::collections::HashMap<String, String>,
    }
    let a: Annotated = std::fs::read(dir.join(BUNDLE_CONFIG))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    a.annotations
        .get(crate::spec::annotation::PUBLISH)
        .map(|p| p.split(',').map(String::from).collect())
        .unwrap_or_default()
}

/// Who makes a new container's layer directories (init, upper, work, merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// [`create`], before the records.
    Here,
    /// Its first process, cloned in `on_dir`, while the records are written. If `create`
    /// then fails, the caller removes the directory once that process is ended (it may be
    /// writing there).
    ByItsChild,
}

/// Make a new container's directory, its OCI runtime spec (`bundle_config` makes the text of
/// its config.json, once the directory is there: a run whose child is cloned in `on_dir`
/// formats it while that child works) and its record, its name claimed first. Returns it
/// with the state `created`. `on_dir` is called with the directory while it is still empty
/// (run --rm mounts a tmpfs over it); if it fails, nothing is made. If anything after it
/// fails, the name is released and (unless `layers` leaves that to the caller) the
/// directory removed.
pub fn create(
    sys: &Sys,
    record: Record,
    bundle_config: impl FnOnce() -> String,
    layers: Layers,
    on_dir: impl FnOnce(&Path) -> Result<()>,
) -> Result<Container> {
    let root = containers_dir();
    std::fs::create_dir_all(&root).map_err(|e| {
        Error::io(
            format!("cannot make {}", root.display()),
            &e,
            "check that glassbox's data directory is writable (run as root)",
        )
    })?;
    let _names = claim_name(sys, &record.name, &record.id)?;
    let dir = root.join(&record.id);
    if let Err(e) = on_dir(&dir) {
        let _ = std::fs::remove_dir(&dir);
        unclaim_name(&record.name, &record.id);
        return Err(e);
    }
    let made = (|| -> Result<()> {
        let here: &[&str] = match layers {
            Layers::Here => &LAYER_DIRS,
            Layers::ByItsChild => &[],
        };
        for d in here {
            std::fs::create_dir(dir.join(d)).map_err(|e| {
                Error::io(
                    format!("cannot make the container's directory {}", dir.display()),
                    &e,
                    "check that the data directory is writable (GLASSBOX_DATA_DIR) and not full",
                )
            })?;
        }
        // No state.json yet: a container without one reads as `created` (State::read).
        write_whole(&dir.join(BUNDLE_CONFIG), bundle_config().as_bytes())
    })();
    // The record last: a directory without one is not a container yet (list skips it).
    let recorded = made.and_then(|()| {
        remember_state(&dir, &State::created());
        write_whole(
            &dir.join("container.json"),
            &serde_json::to_vec_pretty(&record).expect("serialisable"),
        )
    });
    if let Err(e) = recorded {
        if layers == Layers::Here {
            let _ = std::fs::remove_dir_all(&dir);
        }
        unclaim_name(&record.name, &record.id);
        return Err(e);
    }
    Ok(Container { dir, record })
}

/// A container's layer directories: its init files, its changes, overlay's scratch space,
/// the mount point.
pub const LAYER_DIRS: [&str; 4] = ["init", "upper", "work", "merged"];

/// Remove a container's directory (its writable layer, log and state).
pub fn remove_dir(sys: &Sys, c: &Container) -> Result<()> {
    remove_container_dir(sys, &c.dir)
}

/// Remove the container directory `dir`: its name first, then its record (a half-removed
/// directory is no longer listed as a container), then the rest. Through `sys`, so a dry
/// run removes nothing.
pub fn remove_container_dir(sys: &Sys, dir: &Path) -> Result<()> {
    release_name(sys, dir)?;
    sys.remove_path(&dir.join("container.json"))?;
    let mut removed = sys.remove_path(dir);
    if removed.is_err() && crate::host::rootless() {
        // overlayfs leaves work/work mode 000, which its owner (root inside) could open but
        // an ordinary user cannot list: open such directories up, then try again.
        open_up(dir);
        removed = sys.remove_path(dir);
    }
    removed
}

/// Give the owner rwx on each of its directories under `dir` (an ordinary user's
/// container, before it is removed).
fn open_up(dir: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() || meta.uid() != crate::sys::quiet::euid() {
        return;
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o700 != 0o700 {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        open_up(&entry.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_path_are_refused() {
        for bad in ["../x", "a/b", "", ".hidden", "a\nb", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("web-1.test_a").unwrap();
    }

    /// A record as this glassbox writes it, as JSON.
    fn record_json() -> serde_json::Value {
        serde_json::to_value(Record {
            format: FORMAT,
            id: "0123456789ab".into(),
            name: "old".into(),
            image: "busybox".into(),
            rootfs: "/r".into(),
            layers: vec![],
            image_config: None,
            command: vec!["sh".into()],
            created: 0,
            userns: None,
            volumes: vec![],
        })
        .unwrap()
    }

    #[test]
    fn a_record_from_before_bundles_is_read_and_says_it_has_no_config_json() {
        let mut old = record_json();
        old.as_object_mut().unwrap().remove("format");
        let record: Record = serde_json::from_value(old).unwrap();
        assert_eq!(record.format, 0);
        let c = checked(Container {
            dir: "/d".into(),
            record,
        })
        .unwrap();
        let e = c.bundle_config().unwrap_err();
        assert!(
            e.what
                .contains("made by an older glassbox, before containers were OCI bundles"),
            "{}",
            e.what
        );
        let now: Record = serde_json::from_value(record_json()).unwrap();
        let c = Container {
            dir: "/d".into(),
            record: now,
        };
        assert_eq!(c.bundle_config().unwrap(), Path::new("/d/config.json"));
    }

    #[test]
    fn a_version_1_record_loads_and_its_spec_is_converted() {
        let dir = tempfile::tempdir().unwrap();
        let mut v1 = record_json();
        v1["format"] = 1.into();
        // Version 1 kept the run flags in the record: they are read past, not needed.
        v1["args"] = serde_json::json!({"image": "busybox", "name": "old"});
        v1["layers"] = serde_json::json!(["/l1"]);
        let record: Record = serde_json::from_value(v1).unwrap();
        let spec = oci_spec::runtime::Spec::default();
        crate::spec::file::write(dir.path(), &spec).unwrap();
        let c = checked(Container {
            dir: dir.path().into(),
            record,
        })
        .unwrap();
        let a = c.spec().unwrap().annotations().clone().unwrap();
        use crate::spec::annotation as key;
        assert_eq!(a[key::IMAGE_ROOTFS], "/r");
        assert_eq!(a[key::IMAGE_LAYERS], r#"["/l1"]"#);
        assert_eq!(a[key::NAME], "old");
    }

    #[test]
    fn a_record_of_a_newer_format_is_refused_not_misread() {
        let mut newer = record_json();
        newer["format"] = (FORMAT + 1).into();
        let record: Record = serde_json::from_value(newer).unwrap();
        let e = checked(Container {
            dir: "/d".into(),
            record,
        })
        .unwrap_err();
        assert!(e.what.contains("made by a newer glassbox"), "{}", e.what);
    }

    #[test]
    fn hostile_references_are_refused_before_any_path() {
        for bad in ["../x", "a/b", "..", "", "x\n", "/etc", "a\u{7}"] {
            let e = check_reference(bad).unwrap_err();
            assert!(e.what.contains("is not a container name or id"), "{bad:?}");
        }
        for good in ["web", "gb-0a1b2c3d4e5f", "0a1b2c", "my_app.1"] {
            check_reference(good).unwrap();
        }
    }

    #[test]
    fn ids_are_twelve_lowercase_hex_digits() {
        assert!(is_id("0123456789ab"));
        assert!(!is_id("0123456789AB"));
        assert!(!is_id("0123456789a"));
        assert!(!is_id(".names.lock"));
    }
}

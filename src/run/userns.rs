//! `glassbox run --userns private`: root inside the container is not root outside.
//!
//! The child is cloned into a new user namespace together with its other namespaces (one
//! clone(2) with CLONE_NEWUSER: the kernel makes the user namespace first, and the others
//! belong to it). While it waits at its gate, the parent — the host's root — writes
//! `/proc/PID/uid_map` and `gid_map`: ids 0…65535 inside are host ids 100000…165535 (the
//! range for root in /etc/subuid and /etc/subgid when they have one, as Docker's
//! userns-remap takes it). Let go, the child becomes uid and gid 0 of its namespace (its
//! credentials are still the host's root until it does, and host root is not mapped inside)
//! and builds the container as usual: inside, it has every capability, but only over what
//! its user namespace owns — its mount, UTS, IPC, pid and network namespaces — and to every
//! host file it is the unprivileged host uid 100000.
//!
//! That last point shapes the root filesystem. The image's files belong to host uid 0,
//! which is not mapped inside: the container would see them owned by 65534 (nobody), could
//! not write its own /etc/passwd, and overlayfs refuses to copy up a file whose owner has no
//! id inside. Two ways out:
//!
//! - **shifted copies** (what glassbox does, as Docker's userns-remap does): each image
//!   layer is copied once per mapping with every owner moved by the range's start (uid 0 →
//!   100000, uid 1000 → 101000), through the export stage's root-scoped extractor, into
//!   `images/KEY-100000.65536/rootfs` beside `images/KEY/rootfs` (a committed layer
//!   `layers/HEX` into `layers/HEX-100000.65536`; a plain directory, which may change at
//!   any time, into the container's own `image/`). The container's init, upper and work
//!   directories belong to the mapped root. The overlay is mounted inside the user
//!   namespace with `userxattr`, so overlayfs keeps its markers in `user.overlay.*` xattrs
//!   (the `trusted.*` ones need the host's CAP_SYS_ADMIN), and opaque directories of a
//!   committed layer are renamed to match in the copy.
//! - **idmapped mounts** (open_tree(2), mount_setattr(2) with MOUNT_ATTR_IDMAP, move_mount(2)):
//!   no copy at all, the kernel shifts owners as it reads. Nicer on disk, but the parent
//!   would have to make a detached idmapped mount of every layer against the child's user
//!   namespace and hand each descriptor into the child's mount namespace — more calls,
//!   newer kernels, and a much harder picture for a learner. A copy is plain: `ls -ln` shows
//!   what the container's root owns on the host.
//!
//! The kernel also looks up every path the child names (the layers, the mount point, a
//! volume) as host uid 100000: each directory on the way must let "others" search it.
//! glassbox checks that before anything is made and says which directory to open up,
//! rather than changing the permissions of directories that are not its own.
//!
//! What root inside cannot do, because the kernel checks it against the host's (initial)
//! user namespace, is said once in the narration and in `glassbox explain userns`: see
//! [`CANNOT`].

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::store::containers::ContainerFs;
use crate::store::idmap::{Mapping, Range, DEFAULT_RANGE};
use crate::sys::{Diagnosis, Sys};
use nix::errno::Errno;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What root inside a user namespace cannot do, though it holds every capability there.
pub const CANNOT: &[&str] = &[
    "make device nodes (mknod needs CAP_MKNOD in the host's user namespace: /dev's devices are the host's, bound in)",
    "load kernel modules, change the host's clock, reboot, or change kernel settings that are not namespaced",
    "mount filesystems from disks (only proc, sysfs, tmpfs, devpts, overlay, bind mounts and a few others are allowed in a user namespace)",
    "read or write host files as root: on a volume it is host uid 100000, so a root-only host file stays closed",
    "bind ports below 1024 in the host's network namespace (--network host); its own namespace's ports are its own",
    "raise its resource limits or change its cgroup's limits (those files belong to the host's root)",
];

/// `--userns MODE`: `host` (the default: no user namespace) or `private`.
pub fn parse_mode(mode: Option<&str>) -> Result<bool> {
    match mode {
        None | Some("host") => Ok(false),
        Some("private") => Ok(true),
        Some(other) => Err(Error::usage(
            format!("--userns {other:?} is not a mode glassbox knows"),
            "give --userns private (root inside is an unprivileged uid outside) or --userns host (the default)",
        )),
    }
}

/// The mapping for a new container: root's ranges in /etc/subuid and /etc/subgid, else
/// [`DEFAULT_RANGE`].
pub fn load() -> Result<Mapping> {
    let (uids, usrc) = range_from(Path::new("/etc/subuid"))?;
    let (gids, gsrc) = range_from(Path::new("/etc/subgid"))?;
    let source = if usrc == gsrc {
        format!("uids and gids: {usrc}")
    } else {
        format!("uids: {usrc}; gids: {gsrc}")
    };
    Ok(Mapping { uids, gids, source })
}

fn range_from(path: &Path) -> Result<(Range, String)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((
                DEFAULT_RANGE,
                format!(
                    "glassbox's default {}:{} ({} does not exist)",
                    DEFAULT_RANGE.start,
                    DEFAULT_RANGE.count,
                    path.display()
                ),
            ))
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot read {}", path.display()),
                &e,
                "check its permissions (glassbox reads root's range there)",
            ))
        }
    };
    match range_for_root(path, &text)? {
        Some(r) => Ok((
            r,
            format!("root's range {}:{} in {}", r.start, r.count, path.display()),
        )),
        None => Ok((
            DEFAULT_RANGE,
            format!(
                "glassbox's default {}:{} ({} has no line for root)",
                DEFAULT_RANGE.start,
                DEFAULT_RANGE.count,
                path.display()
            ),
        )),
    }
}

/// The first `root:START:COUNT` (or `0:START:COUNT`) line of a subuid/subgid file, checked.
pub fn range_for_root(path: &Path, text: &str) -> Result<Option<Range>> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let f: Vec<&str> = line.split(':').collect();
        if !matches!(f.first(), Some(&"root") | Some(&"0")) {
            continue;
        }
        let bad = |why: &str| {
            Error::usage(
                format!(
                    "line {} of {} ({line:?}) does not give root a usable range: {why}",
                    i + 1,
                    path.display()
                ),
                format!(
                    "write it as root:START:COUNT with START above 0, for example root:{}:{}",
                    DEFAULT_RANGE.start, DEFAULT_RANGE.count
                ),
            )
        };
        let (Some(start), Some(count), 3) = (
            f.get(1).and_then(|s| s.parse::<u32>().ok()),
            f.get(2).and_then(|s| s.parse::<u32>().ok()),
            f.len(),
        ) else {
            return Err(bad("it is not NAME:START:COUNT"));
        };
        if start == 0 {
            return Err(bad(
                "a range from 0 maps the host's root into the container",
            ));
        }
        if count == 0 || start as u64 + count as u64 > u32::MAX as u64 {
            return Err(bad("the count is 0 or the range runs past the last uid"));
        }
        return Ok(Some(Range { start, count }));
    }
    Ok(None)
}

/// The stage header: the mapping, where it came from, and what root inside cannot do.
pub fn announce(sys: &Sys, m: &Mapping) {
    let n = sys.narrator;
    let (uid, _) = m.root();
    n.stage(
        "userns",
        &format!(
            "root inside the container is host uid {uid} outside: a user namespace maps {}",
            m.describe()
        ),
    );
    n.note(&format!("the range: {}", m.source));
    n.note("root inside holds every capability, but only over what its user namespace owns; the kernel checks the rest against the host's user namespace, so it cannot:");
    for c in CANNOT {
        n.note(&format!("- {}", c.replace("100000", &uid.to_string())));
    }
}

/// In the parent, while the child waits at its gate: write its uid and gid maps (`None`:
/// a dry run, with no child).
pub fn write_maps(sys: &Sys, pid: Option<i32>, m: &Mapping) -> Result<()> {
    let dir = Path::new("/proc").join(pid.map_or("PID".into(), |p| p.to_string()));
    sys.narrator.note("no setgroups deny first: glassbox writes the maps as the host's root (CAP_SETGID over the parent namespace), and the kernel asks for /proc/PID/setgroups = deny only from an unprivileged writer");
    let diagnose = |errno: Errno| {
        Diagnosis {
        why: Some(match errno {
            Errno::EPERM => "the kernel takes a map once, only from a process with CAP_SETUID/CAP_SETGID over the parent user namespace".into(),
            Errno::EINVAL => "the kernel refused the range: it overlaps itself or runs past the last id".into(),
            e => format!("the kernel refused the map ({})", crate::error::errno_words(e)),
        }),
        todo: "run glassbox as root, and check root's line in /etc/subuid and /etc/subgid".into(),
    }
    };
    for (file, r, what) in [("uid_map", m.uids, "user"), ("gid_map", m.gids, "group")] {
        sys.write_file(
            &dir.join(file),
            &format!("0 {} {}", r.start, r.count),
            &format!(
                "{what} ids 0-{} inside are {}-{} on the host: {what} 0, root inside, is {} outside",
                r.count - 1,
                r.start,
                r.start as u64 + r.count as u64 - 1,
                r.start
            ),
            diagnose,
        )?;
    }
    Ok(())
}

/// In the child, let go after its maps were written: become root of its user namespace.
/// Until now its credentials are the host root's, which has no id inside (it shows as 65534),
/// and its capabilities would not survive execve(2).
pub fn become_root(sys: &Sys) -> Result<()> {
    sys.setgroups(
        &[],
        "no supplementary groups: the host's are not mapped in the new user namespace",
    )?;
    sys.setresgid(
        0,
        "group 0 of the user namespace (the range's first gid on the host)",
    )?;
    sys.setresuid(
        0,
        "root of the user namespace (the range's first uid on the host): with uid 0 inside its capabilities survive execve",
    )
}

/// Where the copies of the image's root filesystem and layers (topmost first) for mapping
/// `m` live; nothing is made.
pub fn copy_paths(
    image: &crate::images::resolve::Image,
    m: &Mapping,
    container_dir: &Path,
) -> (PathBuf, Vec<PathBuf>) {
    let rootfs = copy_path(&image.rootfs, m, container_dir);
    let layers = image
        .layers
        .iter()
        .map(|l| copy_path(l, m, container_dir))
        .collect();
    (rootfs, layers)
}

/// Where the copy of the image layer `dir` for mapping `m` lives: beside it in the image
/// store, or in the container's own directory for a directory outside the store.
fn copy_path(dir: &Path, m: &Mapping, container_dir: &Path) -> PathBuf {
    let images = crate::store::images_dir();
    let layers = crate::store::layers_dir();
    let suffix = m.suffix();
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    if dir.parent() == Some(layers.as_path()) {
        if let Some(hex) = name(dir) {
            return layers.join(format!("{hex}-{suffix}"));
        }
    }
    if let (Some(key_dir), Some(last)) = (dir.parent(), name(dir)) {
        if key_dir.parent() == Some(images.as_path()) {
            if let Some(key) = name(key_dir) {
                return images.join(format!("{key}-{suffix}")).join(last);
            }
        }
    }
    container_dir.join("image")
}

/// The image's layers for this container's user namespace: a copy of each with its owners
/// shifted, made once per mapping and shared (bottom layer first in, as the image has them
/// out: (rootfs, layers topmost first)).
pub fn lowers(
    sys: &Sys,
    image: &crate::images::resolve::Image,
    m: &Mapping,
    container_dir: &Path,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let (rootfs, layers) = copy_paths(image, m, container_dir);
    let n = sys.narrator;
    let mut pairs: Vec<(&Path, &Path)> = vec![(&image.rootfs, &rootfs)];
    pairs.extend(
        image
            .layers
            .iter()
            .map(|l| l.as_path())
            .zip(layers.iter().map(|l| l.as_path())),
    );
    for (src, dst) in pairs {
        if dst.is_dir() {
            n.note(&format!(
                "{}: the image's layer with owners shifted for this range, made before",
                dst.display()
            ));
            continue;
        }
        make_copy(sys, src, dst, m)?;
    }
    Ok((rootfs, layers))
}

/// Copy one layer with its owners shifted into `dst`: made in a staging directory beside it
/// (journaled, so `cleanup` removes what a killed glassbox left) and renamed into place.
fn make_copy(sys: &Sys, src: &Path, dst: &Path, m: &Mapping) -> Result<()> {
    let n = sys.narrator;
    let (uid, gid) = m.root();
    n.note(&format!(
        "copy {} to {} with every owner shifted by {uid} (uid 0 → {uid}, uid 1000 → {}), as Docker's userns-remap stores images: the container's root owns its files, and overlayfs can copy them up",
        src.display(),
        dst.display(),
        uid as u64 + 1000
    ));
    sys.compound(
        "",
        || {
            let parent = dst.parent().expect("a copy has a parent");
            crate::store::make_dirs(parent)?;
            // Containers started at once on a new mapping share one copy.
            let _guard =
                crate::lock::exclusive(&parent.join(".userns.lock"), "the image's copies")?;
            if dst.is_dir() {
                return Ok(());
            }
            let staging = parent.join(format!(
                ".{}.partial-{}",
                dst.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            let journal = Journal::open()?;
            let jid = journal.record(Resource::Dir {
                path: staging.clone(),
            })?;
            let made = (|| {
                sys.mkdir(
                    &staging,
                    0o755,
                    "the shifted copy is made here, out of sight",
                )?;
                sys.lchown(
                    &staging,
                    uid,
                    gid,
                    "its top directory belongs to the container's root too",
                )?;
                let how = crate::images::layer::CopyAs {
                    shift: Some(m.shift_in()),
                    opaque_in: crate::store::overlay::OPAQUE_XATTR,
                    opaque_out: crate::store::overlay::USER_OPAQUE_XATTR,
                };
                let copied = crate::images::layer::copy_layer(sys, src, &staging, how)?;
                n.note(&format!("copied: {}", copied.summary));
                sys.renameat2(
                    &staging,
                    dst,
                    false,
                    "put the finished copy in place in one step",
                )
            })();
            if made.is_err() && staging.exists() {
                n.note(&format!("rm -rf {}", staging.display()));
                if std::fs::remove_dir_all(&staging).is_err() {
                    return made;
                }
            }
            journal.strike(&jid);
            made
        },
        || (),
    )
}

/// Give the container's own directories to its root: its init layer (and what is in it),
/// its writable layer, overlay's work directory and the mount point.
pub fn own(sys: &Sys, fs: &ContainerFs, m: &Mapping) -> Result<()> {
    let (uid, gid) = m.root();
    let mut init = vec![fs.init.clone()];
    let mut i = 0;
    while i < init.len() {
        if init[i].is_dir() && !init[i].is_symlink() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&init[i])
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            children.sort();
            init.extend(children);
        }
        i += 1;
    }
    for p in &init {
        sys.lchown(p, uid, gid, "the init layer's files belong to the container's root, so it may change them (a copy-up keeps the owner)")?;
    }
    for (p, why) in [
        (
            &fs.upper,
            "the writable layer: what the container's root writes lands here, owned by it",
        ),
        (
            &fs.work,
            "overlay's work directory: overlayfs prepares copy-ups here as the container's root",
        ),
        (&fs.merged, "the mount point"),
    ] {
        if p.is_dir() {
            sys.lchown(p, uid, gid, why)?;
        }
    }
    Ok(())
}

/// A path the child looks up on the host, and what it is.
pub struct Reach {
    pub path: PathBuf,
    pub what: String,
    /// Whether the child must also look inside it (a layer, its own directory), or only
    /// reach it (a volume's host side: what it holds is the container's to find closed).
    pub inside: bool,
}

impl Reach {
    pub fn into(path: PathBuf, what: &str) -> Reach {
        Reach {
            path,
            what: what.into(),
            inside: true,
        }
    }
    pub fn to(path: PathBuf, what: &str) -> Reach {
        Reach {
            path,
            what: what.into(),
            inside: false,
        }
    }
}

/// Each directory on the way to what the child names (its layers, mount point, volumes)
/// must be searchable by host uid `m.root()`: the kernel looks paths up as that uid, to
/// which host root's directories are someone else's. Err names the first one that is not.
pub fn check_reachable(paths: &[Reach], m: &Mapping) -> Result<()> {
    let (uid, gid) = m.root();
    for Reach { path, what, inside } in paths {
        let mut at = PathBuf::from("/");
        let mut comps: Vec<PathBuf> = vec![at.clone()];
        for c in path.components().skip(1) {
            at.push(c);
            comps.push(at.clone());
        }
        if !inside {
            comps.pop();
        }
        for dir in comps {
            let Ok(meta) = std::fs::metadata(&dir) else {
                break;
            };
            if !meta.is_dir() {
                break;
            }
            let mode = meta.mode();
            let bit = if meta.uid() == uid {
                0o100
            } else if meta.gid() == gid {
                0o010
            } else {
                0o001
            };
            if mode & bit == 0 {
                return Err(Error::usage(
                    format!(
                        "{what} {} cannot be reached from the container's user namespace: {} (mode {:04o}, owner uid {}) does not let host uid {uid}, its root, search it",
                        path.display(),
                        dir.display(),
                        mode & 0o7777,
                        meta.uid()
                    ),
                    if *inside {
                        format!(
                            "let every user search it (chmod o+x {}: Docker makes /var/lib/docker 0711 for userns-remap), or keep glassbox's data (GLASSBOX_DATA_DIR) under directories every user may search",
                            dir.display()
                        )
                    } else {
                        format!(
                            "give a volume under directories every user may search, or let them search {} (chmod o+x) if that is safe",
                            dir.display()
                        )
                    },
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_s_range_is_read_from_a_subid_file() {
        let p = Path::new("/etc/subuid");
        assert_eq!(
            range_for_root(p, "alice:100000:65536\nroot:200000:65536\n").unwrap(),
            Some(Range {
                start: 200000,
                count: 65536
            })
        );
        assert_eq!(
            range_for_root(p, "0:300000:1000\n").unwrap(),
            Some(Range {
                start: 300000,
                count: 1000
            })
        );
        assert_eq!(range_for_root(p, "alice:100000:65536\n").unwrap(), None);
        for bad in [
            "root:0:65536",
            "root:100000",
            "root:x:1",
            "root:1:0",
            "root:4294967000:65536",
        ] {
            let e = range_for_root(p, bad).unwrap_err();
            assert!(
                e.what.contains("does not give root a usable range"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn modes_other_than_host_and_private_are_refused() {
        assert!(!parse_mode(None).unwrap());
        assert!(!parse_mode(Some("host")).unwrap());
        assert!(parse_mode(Some("private")).unwrap());
        assert!(parse_mode(Some("keep-id")).is_err());
    }
}

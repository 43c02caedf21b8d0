//! The container's root filesystem: the image, read-only and shared, under an overlay with
//! a writable layer of the container's own (copy-on-write, as Docker's overlay2 does).
//! With `--userns private` the read-only layers are the image's copies for the container's
//! user namespace, and its own directories belong to its root (see `userns.rs`).

use super::Plan;
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::store::containers::ContainerFs;

use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

/// With --rm, journal the container's directory before it is made, so that `cleanup`
/// removes it if glassbox is killed.
pub fn journal_removal(journal: Option<&Journal>, id: &str) -> Result<Option<String>> {
    match journal {
        Some(j) => Ok(Some(j.record(Resource::Dir {
            path: crate::store::container_dir(id),
        })?)),
        None => Ok(None),
    }
}

/// A detached --rm container's directory entry, written by the front (`run -d`, which
/// exits once the container runs), taken over by its supervisor, which removes the
/// directory at the end. Left to the front, the entry's owner would be gone while the
/// container runs, and `cleanup` would remove the running container's directory. Not
/// taken over (unwritten), the front's entry stays.
pub fn journal_removal_here(
    journal: Option<&Journal>,
    mut removal: crate::store::containers::Removal,
) -> crate::store::containers::Removal {
    if let (Some(j), Some(front)) = (journal, removal.dir.as_deref()) {
        if let Some(own) = j.take_over(front) {
            removal.dir = Some(own);
        }
    }
    removal
}

/// The container's layer directories, made by its own first process when it was cloned
/// ahead (`store::containers::Layers::ByItsChild`).
pub fn make_layers(sys: &Sys, fs: &ContainerFs) -> Result<()> {
    for d in crate::store::containers::LAYER_DIRS {
        sys.mkdir(
            &fs.dir.join(d),
            0o777,
            "a layer directory of the container's: made by its first process, while the parent writes its records",
        )?;
    }
    Ok(())
}

/// Write /etc/hostname and /etc/hosts into the container's init layer (its directories were
/// made with the container, or by its first process: see `make_layers`); with --userns
/// private, stack copies of the image for its user namespace and give the container's
/// directories to its root.
pub fn prepare(sys: &Sys, plan: &Plan, fs: &mut ContainerFs) -> Result<()> {
    let n = sys.narrator;
    n.stage(
        "rootfs",
        "the container's root: the image read-only, a writable layer of its own on top",
    );
    n.note(&if plan.overlay {
        format!(
            "{}/{{init,upper,work,merged}}: its files, its changes, overlay's scratch space, the mount point",
            fs.dir.display()
        )
    } else {
        format!(
            "{}/{{init,rootfs}}: its files, and its own copy of the image",
            fs.dir.display()
        )
    });
    if let Some(m) = &plan.userns {
        fs.lower = Some(super::userns::lowers(sys, &plan.image, m, &fs.dir)?);
    }
    if plan.image.rootfs.join("etc").is_dir() {
        write_init_files(sys, fs, plan)?;
    }
    if let Some(m) = &plan.userns {
        super::userns::own(sys, fs, m)?;
        sys.require(|| super::userns::check_reachable(&reached_from_inside(fs, plan)?, m))?;
    }
    if !plan.overlay {
        copy_image(sys, fs, plan)?;
    }
    Ok(())
}

fn write_init_files(sys: &Sys, fs: &ContainerFs, plan: &Plan) -> Result<()> {
    let n = sys.narrator;
    let root = sys.open_tree_root(
        &fs.init,
        "the container's init layer: its /etc files are written inside it",
    )?;
    match sys.mkdirat(&root, "etc", 0o755) {
        Ok(()) | Err((nix::errno::Errno::EEXIST, _)) => {}
        Err((errno, call)) => {
            return Err(Error::sys(
                format!("cannot make the container's /etc: {call} failed"),
                errno,
                "check that the data directory is writable (GLASSBOX_DATA_DIR) and not full",
            ))
        }
    }
    write_etc_file(
        sys,
        &root,
        "hostname",
        &format!("{}\n", plan.hostname),
        None,
    )?;
    write_etc_file(sys, &root, "hosts", &hosts_file(plan, None), None)?;
    if !plan.dns.is_empty() {
        write_etc_file(sys, &root, "resolv.conf", &resolv_conf(&plan.dns), None)?;
    }
    n.note("/etc/hostname and /etc/hosts go into its init layer (as Docker's \"-init\" layer: the image stays untouched, and `glassbox diff` shows only what the container itself changed)");
    Ok(())
}

/// Put a file of glassbox's own at /etc/NAME of `root`, resolved inside that root by the
/// kernel (runc's CVE-2021-30465 class): /etc is reached with openat2 RESOLVE_IN_ROOT (a
/// symlinked /etc stays inside the root), the text goes into a new file (O_CREAT|O_EXCL|
/// O_NOFOLLOW) that is then renamed over NAME. So whatever NAME was — even a symlink that an
/// image or the container pointed at a host file — is replaced, never written through, as
/// overlayfs's init layer would hide it.
fn write_etc_file(
    sys: &Sys,
    root: &crate::sys::tree::DirFd,
    name: &str,
    text: &str,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    use std::io::Write;
    let fail = |(errno, call): (nix::errno::Errno, String)| {
        Error::sys(
            format!("cannot write the container's /etc/{name}: {call} failed"),
            errno,
            "check that the container's /etc is a directory and the data directory is writable",
        )
    };
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let etc = sys.openat2_dir(root, "etc", resolve).map_err(fail)?;
    let tmp = format!(".{name}.glassbox-{}", crate::sys::quiet::pid());
    let mut file = sys
        .create_file_at_for(
            &etc,
            &tmp,
            0o644,
            "a new file, so nothing already there is written through",
        )
        .map_err(fail)?;
    // Whatever fails after the file was made, the half-made file must not stay in /etc.
    let filled = (|| {
        file.write_all(text.as_bytes()).map_err(|e| {
            Error::io(
                format!("cannot write the container's /etc/{name}"),
                &e,
                "check that the data directory is not full",
            )
        })?;
        if let Some((uid, gid)) = owner {
            sys.fchown(
                &file,
                &format!("{}/{tmp}", etc.shown),
                uid,
                gid,
                "a new file of the container's: its root owns it",
            )?;
        }
        sys.rename_at(
            &etc,
            &tmp,
            name,
            "put it in place: a symlink there is replaced, not followed",
        )
        .map_err(fail)
    })();
    if filled.is_err() {
        let _ = sys.unlinkat_for(
            &etc,
            &tmp,
            false,
            "the file could not be put in place: take the half-made one away",
        );
    }
    filled
}

/// The image's root filesystem and layers (topmost first) as this container stacks them:
/// the image's own, or their copies for its user namespace.
pub(super) fn image_layers<'a>(fs: &'a ContainerFs, plan: &'a Plan) -> (&'a Path, &'a [PathBuf]) {
    match &fs.lower {
        Some((root, layers)) => (root, layers),
        None => (&plan.image.rootfs, &plan.image.layers),
    }
}

/// The overlay's lowerdir: the init layer, the image's layers, its root filesystem.
fn lowerdir(fs: &ContainerFs, plan: &Plan) -> String {
    lower_list(fs, plan).join(":")
}

/// The overlay's lower layers, topmost first.
fn lower_list(fs: &ContainerFs, plan: &Plan) -> Vec<String> {
    let (rootfs, layers) = image_layers(fs, plan);
    let mut l = vec![fs.init.display().to_string()];
    l.extend(layers.iter().map(|p| p.display().to_string()));
    l.push(rootfs.display().to_string());
    l
}

/// What the child of a --userns container looks up by path on the host: its own directory,
/// the image's layers, the volumes' host sides.
fn reached_from_inside(fs: &ContainerFs, plan: &Plan) -> Result<Vec<super::userns::Reach>> {
    use super::userns::Reach;
    let (rootfs, layers) = image_layers(fs, plan);
    let mut paths = vec![
        Reach::into(fs.dir.clone(), "the container's directory"),
        Reach::into(rootfs.to_path_buf(), "the image's copy"),
    ];
    paths.extend(
        layers
            .iter()
            .map(|l| Reach::into(l.clone(), "the image's layer")),
    );
    for v in &plan.mounts.volume {
        let v = crate::stages::mounts::parse_volume(v)?;
        paths.push(Reach::to(v.host, "the volume"));
    }
    Ok(paths)
}

/// Whether this kernel has overlayfs: loaded or built in (its /sys/module directory, one
/// stat), listed in /proc/filesystems, or a module that the mount itself would load.
pub fn overlay_supported() -> bool {
    if Path::new("/sys/module/overlay").is_dir() {
        return true;
    }
    let listed = crate::doctor::checks::parse_filesystems(
        &crate::host::read_small("/proc/filesystems").unwrap_or_default(),
    );
    let release = crate::sys::quiet::kernel_release();
    listed.iter().any(|f| f == "overlay")
        || Path::new(&format!("/lib/modules/{release}/kernel/fs/overlayfs")).is_dir()
}

/// Without an overlay: the container's root is a private copy of the image, in `DIR/rootfs`
/// (made once; `start` finds it with the container's changes in it).
fn copy_image(sys: &Sys, fs: &ContainerFs, plan: &Plan) -> Result<()> {
    let root = fs.dir.join("rootfs");
    let n = sys.narrator;
    if root.is_dir() {
        n.note(&format!(
            "{}: its private copy, as it left it",
            root.display()
        ));
        return Ok(());
    }
    n.note("no overlay (--no-overlay, or a kernel without overlayfs): the container gets a private copy of the image (as docker's vfs storage driver) — every file copied, so it starts slower and takes the image's size again on disk");
    let (rootfs, upper_layers) = image_layers(fs, plan);
    let mut layers: Vec<&Path> = vec![rootfs];
    layers.extend(upper_layers.iter().rev().map(|p| p.as_path()));
    layers.push(&fs.init);
    let staging = fs.dir.join("rootfs.partial");
    // What a killed copy left: removed quietly, it was never in use.
    let _ = sys.remove_path(&staging);
    for layer in layers {
        let by_hand = format!(
            "cp -a --reflink=auto {}/. {}/",
            layer.display(),
            staging.display()
        );
        let copy = || {
            super::copy::apply_layer(layer, &staging).map_err(|e| {
                Error::io(
                    format!(
                        "cannot copy the image layer {} for the container",
                        layer.display()
                    ),
                    &e,
                    "check that the data directory has room for a copy of the image",
                )
            })
        };
        sys.compound(&by_hand, copy, || ())?;
    }
    sys.renameat2(
        &staging,
        &root,
        false,
        "put the container's finished copy in place in one step",
    )
}

/// In the child: mount the overlay at `merged` and return it (the root to pivot into).
pub fn mount_root(sys: &Sys, fs: &ContainerFs, plan: &Plan) -> Result<PathBuf> {
    if !plan.overlay {
        return Ok(fs.dir.join("rootfs"));
    }
    let data = overlay_options(fs, plan);
    // mount(2) takes its options up to one page: an image of many layers is mounted
    // through the new mount API instead, one layer a call (see mount_many_layers).
    if data.len() >= 4096 {
        mount_many_layers(sys, fs, plan)?;
        return Ok(fs.merged.clone());
    }
    sys.mount(
        &MountArgs { source: Some("overlay"), target: &fs.merged, fstype: Some("overlay"), flags: 0, data: Some(&data) },
        "one view of read-only layers (lowerdir: the container's init files over the image, shared by every container of it) and this container's own changes (upperdir; workdir is overlay's scratch space)",
        &format!("mount -t overlay overlay -o {data} {}", fs.merged.display()),
    )?;
    Ok(fs.merged.clone())
}

/// The overlay of an image whose lowerdir list passes mount(2)'s one-page limit for
/// options: fsopen, one fsconfig `lowerdir+` per layer (Linux 6.8), fsmount, move_mount.
fn mount_many_layers(sys: &Sys, fs: &ContainerFs, plan: &Plan) -> Result<()> {
    use crate::sys::mount::FsConfig;
    sys.narrator.note(&format!(
        "{} lower layers: more than one mount(2) option string (a page) can list, so the overlay is configured one layer at a time",
        lower_list(fs, plan).len()
    ));
    let ctx = sys.fsopen(
        "overlay",
        "a new overlay, to configure before it is mounted",
    )?;
    if plan.userns.is_some() {
        sys.fsconfig(
            &ctx,
            FsConfig::Flag("userxattr"),
            "keep overlay's markers in user.* xattrs (a user namespace)",
        )?;
    }
    for l in lower_list(fs, plan) {
        sys.fsconfig(
            &ctx,
            FsConfig::String("lowerdir+", &l),
            "one more read-only layer, below those given before",
        )?;
    }
    if !plan.read_only {
        let (upper, work) = (
            fs.upper.display().to_string(),
            fs.work.display().to_string(),
        );
        sys.fsconfig(
            &ctx,
            FsConfig::String("upperdir", &upper),
            "this container's own changes",
        )?;
        sys.fsconfig(
            &ctx,
            FsConfig::String("workdir", &work),
            "overlay's scratch space",
        )?;
    }
    sys.fsconfig(
        &ctx,
        FsConfig::Create,
        "make the overlay from the layers given",
    )?;
    let m = sys.fsmount(&ctx, "a mount of it, not attached anywhere yet")?;
    sys.move_mount(
        &m,
        &fs.merged,
        "attach it where the container's root is made",
    )
}

/// The overlay's mount options for this container (also recorded in its config.json).
pub fn overlay_options(fs: &ContainerFs, plan: &Plan) -> String {
    let lower = lowerdir(fs, plan);
    // In a user namespace overlayfs may not write its trusted.* xattrs: userxattr has it
    // keep its markers (opaque directories) in user.overlay.* instead.
    let userxattr = if plan.userns.is_some() || plan.rootless.is_some() {
        "userxattr,"
    } else {
        ""
    };
    // Read-only: no upper layer at all; the overlay is then read-only by itself.
    if plan.read_only {
        format!("{userxattr}lowerdir={lower}")
    } else {
        format!(
            "{userxattr}lowerdir={},upperdir={},workdir={}",
            lower,
            fs.upper.display(),
            fs.work.display()
        )
    }
}

/// In the parent, after a --rm container ended: remove its files (with its tmpfs, or from
/// the disk), and its directory (or keep it, empty, for the next container).
pub fn remove(sys: &Sys, journal: Option<&Journal>, fs: ContainerFs) {
    let removed = match fs.removal.tmpfs {
        // Its files go with its tmpfs; the disk keeps only an empty directory: kept for the
        // next container (store/spares.rs), or removed.
        true => {
            let _ = crate::store::containers::release_name(sys, &fs.dir);
            let why = "the --rm container ended: its tmpfs goes, and every file in it";
            super::scratch::unmount(sys, &fs.dir, why).and_then(|()| {
                match crate::store::spares::keep(sys, &fs.dir) {
                    true => Ok(()),
                    false => sys.remove_path(&fs.dir),
                }
            })
        }
        false => {
            let removed = crate::store::containers::remove_container_dir(sys, &fs.dir);
            super::rootless::or_inside(sys, &fs.dir, removed).map(|()| {
                sys.narrator.note(&format!(
                    "rm -rf {} (the container's writable layer)",
                    fs.dir.display()
                ))
            })
        }
    };
    match removed {
        Ok(()) => {
            if let (Some(j), Some(id)) = (journal, &fs.removal.dir) {
                sys.strike_undone(j, id);
            }
        }
        Err(e) => sys.narrator.warn(&format!(
            "{} ({}); `glassbox cleanup` will finish it",
            e.what,
            e.errno.map_or("unknown error", |n| n.desc())
        )),
    }
}

/// Without -i, the container reads nothing: stdin comes from /dev/null, as with docker run.
pub fn stdin_from_null(sys: &Sys) -> Result<()> {
    let null = std::fs::File::open("/dev/null").map_err(|e| {
        Error::io(
            "cannot open /dev/null",
            &e,
            "check that /dev/null exists on this host",
        )
    })?;
    use std::os::fd::AsRawFd;
    sys.dup2(
        null.as_raw_fd(),
        0,
        "no -i: the container's stdin reads from /dev/null",
    )
}

/// On a bridge: the container's address in its /etc/hosts, and the host's resolv.conf, in
/// its init layer (as Docker gives each container its own copies).
pub fn write_network_files(
    sys: &Sys,
    fs: &ContainerFs,
    plan: &Plan,
    addr: std::net::Ipv4Addr,
    nameserver: Option<std::net::Ipv4Addr>,
) -> Result<()> {
    if !plan.image.rootfs.join("etc").is_dir() {
        return Ok(());
    }
    // Without an overlay the init layer was copied already: write into the copy.
    let root = if plan.overlay {
        fs.init.clone()
    } else {
        fs.dir.join("rootfs")
    };
    let root = sys.open_tree_root(
        &root,
        "the container's files: /etc/hosts and /etc/resolv.conf are written inside them, never through a symlink that leads out",
    )?;
    let owner = plan.userns.as_ref().map(|m| m.root());
    write_etc_file(sys, &root, "hosts", &hosts_file(plan, Some(addr)), owner)?;
    // --dns first; on a user-defined network its name server at the gateway (which
    // forwards the names it does not know to the host's); else the host's own.
    let servers: Vec<std::net::Ipv4Addr> = match (plan.dns.is_empty(), nameserver) {
        (false, _) => plan.dns.clone(),
        (true, Some(gw)) => vec![gw],
        (true, None) => vec![],
    };
    let resolv = if servers.is_empty() {
        std::fs::read_to_string("/etc/resolv.conf").ok()
    } else {
        Some(resolv_conf(&servers))
    };
    if let Some(resolv) = resolv {
        write_etc_file(sys, &root, "resolv.conf", &resolv, owner)?;
    }
    sys.narrator.note(&format!(
        "the container's /etc/hosts names it {addr}; its /etc/resolv.conf {}",
        match servers.as_slice() {
            [] => "is a copy of the host's".to_string(),
            s => format!(
                "asks {}",
                s.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    ));
    Ok(())
}

/// The container's /etc/hosts, as docker writes it: localhost, the --add-host lines, and its
/// hostname at its own address on a bridge (127.0.1.1 without one), so `hostname -i` and
/// gethostbyname(gethostname()) give the address others reach it at.
fn hosts_file(plan: &Plan, own: Option<std::net::Ipv4Addr>) -> String {
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (name, ip) in &plan.extra_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    let own = own.unwrap_or(std::net::Ipv4Addr::new(127, 0, 1, 1));
    hosts.push_str(&format!("{own}\t{}\n", plan.hostname));
    hosts
}

/// A resolv.conf that asks `servers`, keeping the host's search and options lines.
fn resolv_conf(servers: &[std::net::Ipv4Addr]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut text: String = servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect();
    for l in host
        .lines()
        .filter(|l| l.starts_with("search") || l.starts_with("options"))
    {
        text.push_str(l);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;

    /// An image whose /etc/resolv.conf is a directory: the rename fails (EISDIR), and the
    /// container's /etc keeps no half-made temp file.
    #[test]
    fn a_failed_etc_file_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/resolv.conf/d")).unwrap();
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let root = sys.open_tree_root(dir.path(), "test").unwrap();
        let err =
            write_etc_file(&sys, &root, "resolv.conf", "nameserver 1.1.1.1\n", None).unwrap_err();
        assert!(err.to_string().contains("/etc/resolv.conf"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["resolv.conf"]);
    }
}

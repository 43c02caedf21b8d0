//! `run`'s child: the future container. Cloned into its new namespaces, it waits at its
//! gate, then builds the container around itself (cgroups, root filesystem, mounts, pivot,
//! privileges) and execs the command.

use super::{config, rootfs, step, userns, Plan};
use crate::error::{Error, Result};
use crate::stages::cgroupns;
use crate::stages::cgroups::{self};
use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use config::Stage;
use std::path::Path;

/// `--tmpfs`: a tmpfs on a directory of the container's root, found inside the root by the
/// kernel (a symlink or `..` that leads out is refused, as for the mount stage's targets).
pub(super) fn mount_tmpfs(sys: &Sys, root: &Path, path: &Path, size: Option<&str>) -> Result<()> {
    let refused = || {
        Error::usage(
            format!("--tmpfs {}: the path leads out of the container's root, or its parent directory is missing", path.display()),
            "give a directory of the image, or one whose parent exists in it",
        )
    };
    let rel = path.strip_prefix("/").unwrap_or(path).to_string_lossy();
    // Missing: made, as docker does, but only inside a parent found within the root.
    let target = match crate::stages::mounts::target_fd(sys, root, &rel, true) {
        Ok(Some(t)) => t,
        Err(_) if sys.dry_run() => crate::stages::mounts::Target {
            path: root.join(&*rel),
            fd: None,
        },
        Ok(None) => return Err(refused()),
        Err(e) => return Err(e),
    };
    let data = match size {
        Some(s) => format!("mode=1777,size={s}"),
        None => "mode=1777".to_string(),
    };
    sys.mount(
        &MountArgs {
            source: Some("tmpfs"),
            target: &target.at(),
            fstype: Some("tmpfs"),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(&data),
        },
        &format!("--tmpfs: a directory in memory at {}, empty at every start and gone with the container (mounted through the descriptor its check opened)", target.path.display()),
        &format!(
            "mount -t tmpfs -o nosuid,nodev,{data} tmpfs {}",
            target.path.display()
        ),
    )
}

/// -t: a terminal pair from the container's own devpts becomes its controlling terminal and
/// its stdin, stdout and stderr; the master end goes to glassbox, which relays it.
pub(crate) fn terminal_of_its_own(sys: &Sys, socket: std::os::fd::RawFd) -> Result<()> {
    use std::os::fd::AsRawFd;
    sys.narrator.stage(
        "terminal",
        "-t: a terminal of the container's own, as docker gives it",
    );
    let (master, slave) = sys.open_console()?;
    sys.setsid("a new session: only a session leader can take a controlling terminal")?;
    sys.make_controlling_terminal(
        slave.as_raw_fd(),
        "the container's terminal: Ctrl-C on it signals the container's foreground job",
    )?;
    // The narration keeps the terminal glassbox was started from.
    sys.narrator.keep_own_stderr();
    for fd in 0..3 {
        sys.dup2(
            slave.as_raw_fd(),
            fd,
            "the terminal is the command's stdin, stdout and stderr",
        )?;
    }
    sys.send_fd(
        socket,
        master.as_raw_fd(),
        "hand the other end to glassbox, which relays your keys in and the output out",
    )
}

/// The container's side: everything from here on happens inside its namespaces.
pub(super) fn child(
    sys: &Sys,
    plan: &Plan,
    fs: Option<&crate::store::containers::ContainerFs>,
    inside: Option<crate::stages::network::Inside>,
    log: Option<(std::os::fd::RawFd, std::os::fd::RawFd)>,
    cgroup_plan: Option<&cgroups::Plan>,
    console: Option<std::os::fd::RawFd>,
) -> Result<std::convert::Infallible> {
    let n = sys.narrator;
    // Our pid as the host sees it, read while /proc is still the host's.
    let me = step::host_pid();
    n.stage(
        "container",
        "the child, in its new namespaces, builds the container around itself",
    );
    if plan.userns.is_some() {
        // First: a change of credentials clears the parent-death signal set below.
        userns::become_root(sys)?;
    }
    sys.set_parent_death_signal(
        libc::SIGKILL,
        "if glassbox dies, the container dies with it: nothing is left running unwatched",
    )?;
    if let (Some(cp), None) = (cgroup_plan, &plan.userns) {
        // Before anything else, so nothing of the container runs outside its limits.
        // (In a user namespace the parent moved it already: see run_container.)
        cgroups::enter_self_v1(sys, cp)?;
    }
    // In all its cgroups now: they become the roots of its cgroup namespace.
    let cgroup_view = match cgroup_plan {
        Some(cp) => {
            let view = cgroupns::plan(cp, &crate::host::cgroups::CgroupHost::current());
            cgroupns::unshare(sys, &view)?;
            Some(view)
        }
        None => {
            n.note("--skip cgroup: no cgroup of its own and no cgroup namespace: /proc/self/cgroup shows glassbox's cgroups by their host paths, and /sys/fs/cgroup stays empty");
            None
        }
    };
    if !plan.interactive {
        rootfs::stdin_from_null(sys)?;
    }
    if plan.clone_flags() & libc::CLONE_NEWNS != 0 {
        crate::stages::unshare::make_mounts_private(sys)?;
    }
    if plan.has(Stage::Namespaces) {
        sys.sethostname(
            &plan.hostname,
            "the container's own hostname, in its own UTS namespace",
        )?;
    }
    if plan.has(Stage::Network) && plan.clone_flags() & libc::CLONE_NEWNET != 0 {
        // none: only lo, up; bridge: also eth0 addressed, up, with a default route.
        crate::stages::network::configure_inside(sys, inside)?;
    }
    let root = match fs {
        Some(fs) => Some(rootfs::mount_root(sys, fs, plan)?),
        None => None,
    };
    if plan.has(Stage::Mounts) {
        step::pause(sys, plan, Stage::Mounts, Some(me));
        let mut m = plan.mounts.clone();
        m.root = Some(root.clone().unwrap_or_else(|| "/".into()));
        if sys.dry_run() && !m.root.as_ref().is_some_and(|r| r.is_dir()) {
            // Nothing was mounted: show the mounts on the image's own directory instead.
            n.note("dry run: the overlay is not there, so the mounts are shown on the image's directory");
            m.root = Some(plan.image.rootfs.clone());
        }
        if m.root.as_ref().is_some_and(|r| r.is_dir()) {
            let mp = crate::stages::mounts::plan(&m)?;
            crate::stages::mounts::apply(sys, &mp)?;
            match (&cgroup_view, m.filesystems.iter().any(|f| f == "sys")) {
                (Some(view), true) => cgroupns::mount(sys, m.root.as_deref().unwrap(), view)?,
                (Some(view), false) if !view.is_empty() => n.note(
                    "no /sys in this container (--network host): its cgroups are not mounted at /sys/fs/cgroup",
                ),
                _ => {}
            }
        } else {
            n.note("dry run: the image is not exported yet, so its mounts cannot be planned");
        }
    }
    if let Some(root) = &root {
        for (path, size) in &plan.tmpfs {
            mount_tmpfs(sys, root, path, size.as_deref())?;
        }
        crate::stages::root::pivot_into(sys, root)?;
        if plan.read_only {
            sys.mount(
                &MountArgs {
                    source: None,
                    target: Path::new("/"),
                    fstype: None,
                    flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    data: None,
                },
                "--read-only: the root filesystem refuses every write",
                "mount -o remount,bind,ro /",
            )?;
        }
    }
    if let Some((out, err)) = log {
        // From here the narration keeps the terminal on a descriptor of its own.
        n.keep_own_stderr();
        sys.dup2(out, 1, "-d: the container's stdout goes to a pipe to its log keeper (glassbox logs reads the log), as docker's shim keeps it")?;
        sys.dup2(
            err,
            2,
            "and its stderr to a pipe of its own: the log keeps the two streams apart",
        )?;
    }
    if plan.has(Stage::Security) {
        step::pause(sys, plan, Stage::Security, Some(me));
    }
    if let Some(socket) = console {
        terminal_of_its_own(sys, socket)?;
    }
    // The security stage changes the ids itself, before it cuts capabilities (runc's order).
    if plan.has(Stage::Security) {
        crate::stages::security::apply(sys, &plan.security, plan.user)?;
    } else if let Some((uid, gid)) = plan.user {
        n.stage("user", "become the container's user");
        crate::stages::security::become_user(sys, uid, gid)?;
    }
    if plan.user.is_some() {
        sys.set_parent_death_signal(
            libc::SIGKILL,
            "again: the kernel clears the parent-death signal when the uid or gid changes",
        )?;
    }
    sys.chdir_no_magiclinks(
        Path::new(&plan.workdir),
        "the container's working directory",
    )?;
    sys.exec_env(
        &plan.command,
        Some(&plan.env),
        "the container's command replaces glassbox as its PID 1",
    )
}

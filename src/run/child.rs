//! `run`'s child: the future container. Cloned into its new namespaces, it waits at its
//! gate, then builds the container around itself (cgroups, root filesystem, mounts, pivot,
//! privileges) and execs the command.

use super::{config, rootfs, step, userns, Plan};
use crate::error::{Error, Result};
use crate::stages::cgroupns;
use crate::stages::cgroups::{self};
use crate::stages::network::NetworkMode;
use crate::stages::ops::{self, Op, Place};
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
    let Some(target) = sys.mount_target(root, &rel, true)? else {
        return Err(refused());
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

/// What the child gets from the parent besides the plan: its address on a bridge; whether
/// it was cloned ahead (see `parent::ChildAhead`: it makes its layer directories and init
/// files itself, joins the empty network namespace the parent hands it, and enters its
/// cgroups right after, as the parent makes them all first); and — when it was let go
/// before the parent recorded it as running (under -q) — its last gate, which it passes
/// only once the record says it runs.
pub(super) struct FromParent<'a> {
    pub inside: Option<crate::stages::network::Inside>,
    pub ahead: bool,
    pub last_gate: Option<&'a crate::sys::channel::Channel>,
}

/// The container's side: everything from here on happens inside its namespaces.
pub(super) fn child(
    sys: &Sys,
    plan: &Plan,
    fs: Option<&crate::store::containers::ContainerFs>,
    from_parent: FromParent<'_>,
    log: Option<super::logger::Ends>,
    cgroups: Option<(&cgroups::Plan, &cgroupns::Plan)>,
    console: Option<std::os::fd::RawFd>,
) -> Result<std::convert::Infallible> {
    let n = sys.narrator;
    // Our pid as the host sees it, read while /proc is still the host's (only --step
    // shows it).
    let me = plan.step.then(step::host_pid);
    n.stage(
        "container",
        "the child, in its new namespaces, builds the container around itself",
    );
    if plan.userns.is_some() {
        // First: a change of credentials clears the parent-death signal set below.
        userns::become_root(sys)?;
    }
    if let Some(ids) = &plan.rootless {
        super::rootless::become_root(sys, ids)?;
    }
    sys.set_parent_death_signal(
        libc::SIGKILL,
        "if glassbox dies, the container dies with it: nothing is left running unwatched",
    )?;
    // Cloned ahead, it enters them once it has its network namespace: the parent makes the
    // rest of them meanwhile, and all before it hands the namespace.
    let mut cgroup_view = None;
    if !from_parent.ahead {
        cgroup_view = enter_cgroups(sys, plan, cgroups)?;
    }
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
    if let (true, NetworkMode::Container(name, pid)) = (plan.has(Stage::Network), &plan.network) {
        crate::stages::network::join_container(sys, name, *pid)?;
    } else if from_parent.ahead {
        // Cloned without a network namespace: one is made meanwhile, by a helper or the
        // parent, and handed to it (joined below).
    } else if plan.has(Stage::Network) && plan.clone_flags() & libc::CLONE_NEWNET != 0 {
        // none: only lo, up; bridge: also eth0 addressed, up, with a default route.
        crate::stages::network::configure_inside(sys, from_parent.inside)?;
    }
    if let (true, Some(fs)) = (from_parent.ahead, fs) {
        // Cloned ahead: its layers are its own to make (the parent writes the records).
        rootfs::make_layers(sys, fs)?;
        rootfs::prepare(sys, plan, &mut fs.clone())?;
    }
    let root = match fs {
        Some(fs) => Some(rootfs::mount_root(sys, fs, plan)?),
        None => None,
    };
    // The root the mounts go into: a dry run mounted no overlay, so they are shown on the
    // image's own directory.
    let mount_root = root.clone().unwrap_or_else(|| "/".into());
    let mount_root = if root.is_some() && !mount_root.is_dir() {
        if plan.has(Stage::Mounts) {
            n.note("dry run: the overlay is not there, so the mounts are shown on the image's directory");
        }
        plan.image.rootfs.clone()
    } else {
        mount_root
    };
    let setup = setup_ops(
        plan,
        &mount_root,
        root.as_deref(),
        from_parent.ahead,
        crate::stages::security::held_caps(),
        crate::stages::security::last_cap(),
    )?;
    // Cloned ahead, it joins the network namespace the parent made meanwhile only before
    // /sys, which shows the interfaces of the namespace it is mounted in: the mounts before
    // it are made while the parent works.
    let no_ops: &[ops::Op] = &[];
    let (before_net, after_net) = match (&setup.mounts, from_parent.ahead) {
        (Some(m), true) => crate::stages::mounts::split_before_sysfs(m),
        (Some(m), false) => (&m[..], no_ops),
        (None, _) => (no_ops, no_ops),
    };
    if plan.has(Stage::Mounts) {
        match &setup.mounts {
            Some(_) => {
                // --step pauses where the op list begins its stage.
                ops::execute_with(sys, before_net, |_| {
                    step::pause(sys, plan, Stage::Mounts, me)
                })?;
            }
            None => {
                step::pause(sys, plan, Stage::Mounts, me);
                n.note("dry run: the image is not exported yet, so its mounts cannot be planned")
            }
        }
    }
    if from_parent.ahead {
        let gate = from_parent.last_gate.ok_or_else(|| {
            crate::error::Error::new(
                "a child cloned ahead has no channel to its parent to get its network from",
                "this is a glassbox bug: please report it with the narration (-v)",
            )
        })?;
        crate::stages::network::join_empty(sys, gate)?;
        // Its cgroups were all made before the namespace was handed: it enters them now,
        // and makes the rest of the container; only its command waits for the record.
        cgroup_view = enter_cgroups(sys, plan, cgroups)?;
    }
    if plan.has(Stage::Mounts) {
        ops::execute(sys, after_net)?;
    }
    let last_gate = from_parent.last_gate;
    if let (true, Some(_)) = (plan.has(Stage::Mounts), &setup.mounts) {
        match (&cgroup_view, plan.mounts.filesystems.iter().any(|f| f == "sys")) {
            (Some(view), true) => cgroupns::mount(sys, &mount_root, view)?,
            (Some(view), false) if !view.is_empty() => n.note(
                "no /sys in this container (--network host): its cgroups are not mounted at /sys/fs/cgroup",
            ),
            _ => {}
        }
    }
    if let Some(root) = &root {
        for (path, size) in &plan.tmpfs {
            mount_tmpfs(sys, root, path, size.as_deref())?;
        }
    }
    ops::execute(sys, &setup.pivot)?;
    if root.is_some() {
        make_workdir(sys, Path::new(&plan.workdir))?;
    }
    if let Some(ends) = log {
        // From here the narration keeps the terminal on a descriptor of its own.
        n.keep_own_stderr();
        sys.dup2(ends.stdout, 1, "-d: the container's stdout goes to a pipe to its log keeper (glassbox logs reads the log), as docker's shim keeps it")?;
        sys.dup2(
            ends.stderr,
            2,
            "and its stderr to a pipe of its own: the log keeps the two streams apart",
        )?;
        if let Some(stdin) = ends.stdin {
            sys.dup2(
                stdin,
                0,
                "-di: its stdin is a pipe the log keeper holds open; glassbox attach writes to it",
            )?;
        }
    }
    if plan.has(Stage::Security) {
        // Before the terminal is set up: once it is the container's, /dev/tty is no longer
        // the terminal the pause reads Enter from.
        step::pause(sys, plan, Stage::Security, me);
    }
    if let Some(socket) = console {
        terminal_of_its_own(sys, socket)?;
    }
    // The security stage changes the ids itself, before it cuts capabilities (runc's order).
    ops::execute(sys, &setup.security)?;
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
    if let Some(gate) = last_gate {
        // Its command runs only once the record says it does.
        sys.wait_at_last_gate(gate);
    }
    if plan.init {
        return super::init::run(sys, &plan.command, &plan.env);
    }
    sys.exec_env(
        &plan.command,
        Some(&plan.env),
        "the container's command replaces glassbox as its PID 1",
    )
}

/// Enter the container's cgroups v1 (born in its v2), then unshare a cgroup namespace rooted
/// at them: what its cgroup namespace shows, if it has one.
fn enter_cgroups<'a>(
    sys: &Sys,
    plan: &Plan,
    cgroups: Option<(&cgroups::Plan, &'a cgroupns::Plan)>,
) -> Result<Option<&'a cgroupns::Plan>> {
    if let (Some((cp, _)), None) = (cgroups, &plan.userns) {
        // Before the command, so nothing of it runs outside its limits.
        // (In a user namespace the parent moved it already: see run_container.)
        cgroups::enter_self_v1(sys, cp)?;
    }
    // In all its cgroups now: they become the roots of its cgroup namespace.
    match cgroups {
        Some((_, view)) => {
            cgroupns::unshare(sys, view)?;
            Ok(Some(view))
        }
        None if plan.rootless.is_some() => Ok(None),
        None => {
            sys.narrator.note("--skip cgroup: no cgroup of its own and no cgroup namespace: /proc/self/cgroup shows glassbox's cgroups by their host paths, and /sys/fs/cgroup stays empty");
            Ok(None)
        }
    }
}

/// docker makes a missing working directory (as root, before the user changes): each
/// missing part of the path, inside the container's root.
fn make_workdir(sys: &Sys, dir: &Path) -> Result<()> {
    // docker makes it in the image's layer, before /proc, /sys and /dev are mounted: nothing
    // is made in those (a /proc/self/fd/N stays chdir's error, refused as a magic link).
    let kernel_fs = ["/proc", "/sys", "/dev"].iter().any(|k| dir.starts_with(k));
    if kernel_fs {
        return Ok(());
    }
    // Looked at inside the container's root: a dry run is not in it, and makes nothing.
    sys.compound("", || make_missing(sys, dir), || ())
}

/// Each missing part of `dir`, made.
fn make_missing(sys: &Sys, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut p = std::path::PathBuf::from("/");
    for part in dir.components().skip(1) {
        p.push(part);
        // Only what is not there at all: a file in the way is chdir's error to report.
        if p.symlink_metadata().is_err() {
            sys.mkdir(
                &p,
                0o755,
                "the working directory is missing: docker makes it",
            )?;
        }
    }
    Ok(())
}

/// The container's own setup, planned: its mounts (None: nothing to mount them on), the
/// pivot into its root with --read-only after it, and its privileges (or only its user).
pub(super) struct Setup {
    pub mounts: Option<Vec<Op>>,
    pub pivot: Vec<Op>,
    pub security: Vec<Op>,
}

/// Plan the container's setup with its mounts on `mount_root` and its root at `root`, for
/// a process that holds the capabilities `held` on a kernel whose last one is `last`, and
/// that joins its network namespace just before /sys is mounted if `joins_network` (a
/// child cloned ahead: it is not in it yet).
pub(super) fn setup_ops(
    plan: &Plan,
    mount_root: &Path,
    root: Option<&Path>,
    joins_network: bool,
    held: u64,
    last: u32,
) -> Result<Setup> {
    let mounts = if plan.has(Stage::Mounts) && mount_root.is_dir() {
        let mut m = plan.mounts.clone();
        let planned = match root {
            // The root glassbox made and mounted: its path needs no second look.
            Some(r) if r == mount_root && r.is_absolute() => {
                // Its namespaces are the ones the plan clones it into (a child cloned ahead
                // joins its new network namespace before /sys).
                let new = crate::stages::mounts::NewNamespaces::of_clone_flags(plan.clone_flags());
                crate::stages::mounts::plan_in(&m, r.to_path_buf(), new)?
            }
            _ => {
                m.root = Some(mount_root.to_path_buf());
                crate::stages::mounts::plan(&m)?
            }
        };
        let planned = match joins_network {
            true => planned.network_joined_before_sys(),
            false => planned,
        };
        Some(planned.ops())
    } else {
        None
    };
    let mut pivot = Vec::new();
    if let Some(root) = root {
        pivot = crate::stages::root::pivot_ops(root);
        if plan.read_only {
            pivot.push(Op::Mount {
                source: None,
                target: Place::Path("/".into()),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                data: None,
                why: "--read-only: the root filesystem refuses every write".into(),
                by_hand: "mount -o remount,bind,ro /".into(),
            });
        }
    }
    let security = match plan.user {
        _ if plan.has(Stage::Security) => {
            crate::stages::security::ops(&plan.security, plan.user, held, last)?
        }
        Some((uid, gid)) => {
            let mut ops = vec![Op::Stage {
                name: "user",
                title: "become the container's user",
            }];
            ops.extend(crate::stages::security::user_ops(uid, gid));
            ops
        }
        None => Vec::new(),
    };
    Ok(Setup {
        mounts,
        pivot,
        security,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The plan of `glassbox --dry-run run ARGS… ROOTFS true`, as `run` makes it.
    fn plan_of(args: &[&str], rootfs: &Path) -> Plan {
        let root = rootfs.to_string_lossy().into_owned();
        let mut argv = vec!["glassbox", "--dry-run", "run"];
        argv.extend_from_slice(args);
        argv.extend([root.as_str(), "true"]);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("valid flags");
        let crate::cli::Command::Run(a) = cli.command else {
            unreachable!()
        };
        let n = crate::narrate::Narrator::silent();
        crate::run::plan(&a, &Sys::dry(&n)).expect("a valid plan")
    }

    #[test]
    fn a_run_plans_its_mounts_then_the_pivot_then_the_cut_of_privileges() {
        let rootfs = tempfile::tempdir().unwrap();
        for d in ["bin", "dev", "proc", "sys", "etc", "tmp"] {
            std::fs::create_dir(rootfs.path().join(d)).unwrap();
        }
        let plan = plan_of(&["--read-only", "--user", "1000:1000"], rootfs.path());
        let root = rootfs.path().canonicalize().unwrap();
        let all = (1u64 << 41) - 1;
        let setup = setup_ops(&plan, &root, Some(Path::new("/c/merged")), false, all, 40).unwrap();
        let shown = |ops: &[Op]| -> Vec<String> {
            ops::lines(ops)
                .into_iter()
                .filter(|l| !l.starts_with(' '))
                .map(|l| l.replace(&root.display().to_string(), "ROOT"))
                .collect()
        };
        let mounts = shown(setup.mounts.as_deref().expect("mounts planned"));
        assert_eq!(
            mounts[..4],
            [
                "▶ mount — mount the filesystems a container needs, as a runtime does",
                "mount(\"proc\", \"ROOT/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                "mask \"ROOT/proc/asound\"",
                "mask \"ROOT/proc/acpi\"",
            ]
        );
        assert!(mounts.contains(&"read-only \"ROOT/proc/sys\"".to_string()));
        assert!(mounts.contains(&"umask(000)".to_string()));
        assert_eq!(
            shown(&setup.pivot),
            [
                "▶ pivot-root — make DIR the root of this mount namespace and detach the old one",
                "mount(\"/c/merged\", \"/c/merged\", NULL, MS_BIND|MS_REC, NULL)",
                "chdir(\"/c/merged\")",
                "pivot_root(\".\", \".\")",
                "umount2(\".\", MNT_DETACH)",
                "chdir(\"/\")",
                "mount(NULL, \"/\", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)",
            ]
        );
        let security = shown(&setup.security);
        // 41 capabilities, 14 kept: 27 dropped from the bounding set.
        let drops = security
            .iter()
            .filter(|l| l.starts_with("prctl(PR_CAPBSET_DROP"))
            .count();
        assert_eq!(drops, 27);
        assert_eq!(
            security[28..],
            [
                "prctl(PR_SET_KEEPCAPS, 1)",
                "setgroups(0, [])",
                "setresgid(1000, 1000, 1000)",
                "setresuid(1000, 1000, 1000)",
                "prctl(PR_SET_KEEPCAPS, 0)",
                "capset(permitted=effective=CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER|CAP_FSETID|CAP_KILL|CAP_SETGID|CAP_SETUID|CAP_SETPCAP|CAP_NET_BIND_SERVICE|CAP_NET_RAW|CAP_SYS_CHROOT|CAP_MKNOD|CAP_AUDIT_WRITE|CAP_SETFCAP, inheritable=0)",
                "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)",
                "prctl(PR_SET_NO_NEW_PRIVS, 1)",
                "seccomp(SECCOMP_SET_MODE_FILTER, 0, default filter)",
                "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)",
            ]
        );
    }
}

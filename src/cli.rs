//! The command line: every subcommand's clap definition, and nothing else.
//!
//! Flags keep the names `unshare(1)`, `docker run` and `ip` use, so what a learner types here
//! transfers to the real tools.

use crate::narrate::ColorChoice;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "glassbox",
    version,
    about = "A Linux containerizer built to teach: each isolation stage by hand, every syscall narrated",
    long_about = "glassbox makes a container the way a person would by hand — untar an image into a \
directory, unshare namespaces, pivot into that directory, mount /proc /sys /tmp /dev, put the \
process into cgroups, wire it to a bridge — and shows every syscall it makes, with what it does \
and why.\n\nEach stage is its own subcommand that does one step and then runs the rest of the \
command line, so stages chain like the by-hand commands:\n\n  glassbox unshare --mount --uts --pid --fork -- \\\n    glassbox mount --root ./rootfs proc sys tmp dev -- \\\n    glassbox pivot-root ./rootfs -- /bin/sh\n\nNarration goes to stderr; the command's own output stays on stdout.",
    after_help = "Start with `glassbox doctor` (what this host supports) and `glassbox explain --list`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Say nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: -v adds explanations, by-hand commands and man pages; -vv adds per-file detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The same as -v: explain each call as it is made.
    #[arg(long, global = true)]
    pub explain: bool,
    /// Also write every event as a JSON line to FILE (appended; chained glassbox commands
    /// pick it up from GLASSBOX_TRACE).
    #[arg(long, global = true, value_name = "FILE", env = "GLASSBOX_TRACE")]
    pub trace: Option<PathBuf>,
    /// Print the plan of syscalls without making any (needs no root).
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// When to colour the narration.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Unshare namespaces, then run COMMAND (as unshare(1)).
    Unshare(UnshareArgs),
    /// Change root with chroot(2) and run COMMAND (as chroot(8)); escapable, see `explain chroot`.
    #[command(
        after_help = "chroot alone is not a security boundary: the host's root stays mounted, and a root process inside can chroot into a subdirectory and climb `..` back out to it. Containers use pivot-root. See `glassbox explain chroot`."
    )]
    Chroot(RootArgs),
    /// Make DIR the root with pivot_root(2), detach the old root, and run COMMAND.
    #[command(
        name = "pivot-root",
        after_help = "Needs a private mount namespace (run it after `glassbox unshare --mount`). The by-hand chain (each stage does one step, then runs the rest):\n\n  glassbox unshare --mount --uts --ipc --net --pid --fork -- \\\n    glassbox mount --root ROOTFS proc sys tmp dev -- \\\n    glassbox pivot-root ROOTFS -- /bin/sh\n\nMake ROOTFS with rootfs-scripts/busybox.sh ROOTFS."
    )]
    PivotRoot(RootArgs),
    /// Mount proc, sys, tmp, dev, devpts, shm and volumes as a runtime does, then run COMMAND.
    #[command(
        after_help = "Refuses to run in the host's mount namespace (run it after `glassbox unshare --mount`). Mount targets are resolved inside the root; a symlink or `..` is refused. The by-hand chain (each stage does one step, then runs the rest):\n\n  glassbox unshare --mount --uts --ipc --net --pid --fork -- \\\n    glassbox mount --root ROOTFS proc sys tmp dev -- \\\n    glassbox pivot-root ROOTFS -- /bin/sh\n\nMake ROOTFS with rootfs-scripts/busybox.sh ROOTFS."
    )]
    Mount(MountArgs),
    /// Join a running process's namespaces and root (as nsenter(1)), then run COMMAND.
    #[command(
        after_help = "Build a container in one terminal, look into it from another:\n\n  glassbox enter $(pgrep -n sleep) -- /bin/sh"
    )]
    Enter(EnterArgs),
    /// Put COMMAND in a new cgroup with memory, CPU and pids limits; report how it ended.
    Cgroup(CgroupArgs),
    /// Explain a syscall, a flag or a stage, without running anything.
    Explain(ExplainArgs),
    /// Check what this host supports: root, namespaces, cgroups, overlayfs, netfilter.
    Doctor(DoctorArgs),
    /// Undo what a killed glassbox left on the host (from the journal). Safe to repeat.
    Cleanup,
}

/// The command to run after a stage: everything after `--`.
#[derive(Args, Debug, Clone)]
pub struct Tail {
    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UnshareArgs {
    /// New mount namespace (made private first, so mounts do not leak to the host).
    #[arg(short, long)]
    pub mount: bool,
    /// New UTS namespace (its own hostname).
    #[arg(short, long)]
    pub uts: bool,
    /// New IPC namespace (its own message queues, semaphores, shared memory).
    #[arg(short, long)]
    pub ipc: bool,
    /// New network namespace (only a loopback device, down).
    #[arg(short, long)]
    pub net: bool,
    /// New PID namespace (implies --fork: the child becomes PID 1).
    #[arg(short, long)]
    pub pid: bool,
    /// New user namespace (uids and gids of its own).
    #[arg(short = 'U', long)]
    pub user: bool,
    /// New cgroup namespace (its cgroup appears as the root).
    #[arg(short = 'C', long)]
    pub cgroup: bool,
    /// New time namespace (its own monotonic and boot clocks).
    #[arg(short = 'T', long)]
    pub time: bool,
    /// Fork, run COMMAND as the child and wait for it.
    #[arg(short, long)]
    pub fork: bool,
    /// Map the current user to root inside (implies --user).
    #[arg(short = 'r', long)]
    pub map_root_user: bool,
    /// Map the current user to UID inside (implies --user).
    #[arg(long, value_name = "UID")]
    pub map_user: Option<u32>,
    /// Map the current group to GID inside (implies --user).
    #[arg(long, value_name = "GID")]
    pub map_group: Option<u32>,
    /// Set the hostname in the new UTS namespace (implies --uts).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct RootArgs {
    /// The directory to make the root.
    pub dir: PathBuf,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// The root filesystem the mounts go into (default: the current root).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Filesystems to mount: proc, sys, tmp, dev, devpts, shm.
    #[arg(value_name = "FS")]
    pub filesystems: Vec<String>,
    /// Bind-mount HOST onto CTR inside the root (`:ro` for read-only). May be repeated.
    #[arg(long, value_name = "HOST:CTR[:ro]")]
    pub volume: Vec<String>,
    /// Size of the tmpfs on /tmp.
    #[arg(long, default_value = "64m", value_name = "SIZE")]
    pub tmp_size: String,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct EnterArgs {
    /// The process whose namespaces to join.
    pub pid: i32,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct CgroupArgs {
    /// The cgroup's name under the glassbox parent (default: gb-<pid>).
    #[arg(long)]
    pub name: Option<String>,
    /// Memory limit: bytes, or with a unit (k, m, g), as docker run --memory.
    #[arg(short, long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap), as docker run --memory-swap.
    #[arg(long, value_name = "SIZE")]
    pub memory_swap: Option<String>,
    /// CPUs the command may use, as a fraction: 0.5 is half of one CPU.
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024), as docker run --cpu-shares.
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Most processes the command may have at once.
    #[arg(long, alias = "pids-limit", value_name = "N")]
    pub pids: Option<i64>,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A syscall (unshare), a flag (CLONE_NEWPID) or a stage (pivot-root).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List everything that can be explained.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

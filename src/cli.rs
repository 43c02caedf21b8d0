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
    /// Say more: -v adds explanations (each once a run: a later call refers back to it), by-hand
    /// commands and man pages; -vv adds per-file detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The same as -v: explain each call the first time it is made.
    #[arg(long, global = true)]
    pub explain: bool,
    /// Also write every event as a JSON line to FILE (appended; chained glassbox commands
    /// pick it up from GLASSBOX_TRACE).
    #[arg(long, global = true, value_name = "FILE", env = "GLASSBOX_TRACE")]
    pub trace: Option<PathBuf>,
    /// How --trace writes: jsonl (glassbox's events, one a line) or chrome (Chrome trace
    /// events: open the file in ui.perfetto.dev or chrome://tracing for a timeline of stages
    /// and calls).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "jsonl",
        value_name = "FORMAT",
        env = "GLASSBOX_TRACE_FORMAT"
    )]
    pub trace_format: crate::narrate::TraceFormat,
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
#[command(defer = true)]
pub enum Command {
    /// Run COMMAND in a new container made from every stage (as docker run).
    #[command(disable_help_flag = true)]
    Run(Box<RunArgs>),
    /// Run OCI bundles as runc does (create, start, state, kill, delete…): an engine such as
    /// podman can call it. `glassbox runtime --help` for its own options.
    #[command(disable_help_flag = true)]
    Runtime {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Turn an image (tarball, docker save archive, OCI layout, directory, or `busybox`)
    /// into a root filesystem in DIR, safely: no file of the image is written outside DIR.
    ///
    /// Beside DIR, and nowhere else, glassbox writes DIR.config.json: the image's command,
    /// environment, working directory and user, which `glassbox run DIR` starts with (kept
    /// out of DIR, so the container never sees it). While it works, the files go into a
    /// staging directory beside DIR, renamed into place at the end.
    Unpack(UnpackArgs),
    /// Write a container's filesystem as one tar (as docker export): its image's layers and
    /// its own changes seen as one tree, deleted files left out.
    #[command(
        after_help = "Example:\n  glassbox run -d --name c1 busybox sleep 1000\n  glassbox export c1 -o c1.tar\n  glassbox import c1.tar c1img:v1\n\n`glassbox export IMAGE DIR` (an image unpacked into a directory) is now `glassbox unpack IMAGE DIR`; the old spelling still works for a while."
    )]
    Export(ExportArgs),
    /// Find the first stage of run that breaks a command ("works on the host, not in a container").
    #[command(disable_help_flag = true)]
    Bisect(Box<BisectArgs>),
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
        after_help = "Needs a private mount namespace (run it after `glassbox unshare --mount`). The by-hand chain (each stage does one step, then runs the rest):\n\n  glassbox unshare --mount --uts --ipc --net --pid --fork -- \\\n    glassbox mount --root ROOTFS proc sys tmp dev -- \\\n    glassbox pivot-root ROOTFS -- /bin/sh\n\nMake ROOTFS with glassbox unpack busybox ROOTFS."
    )]
    PivotRoot(RootArgs),
    /// Mount proc, sys, tmp, dev, devpts, shm and volumes as a runtime does, then run COMMAND.
    #[command(
        after_help = "Refuses to run in the host's mount namespace (run it after `glassbox unshare --mount`). Mount targets are resolved inside the root; a symlink or `..` is refused. The by-hand chain (each stage does one step, then runs the rest):\n\n  glassbox unshare --mount --uts --ipc --net --pid --fork -- \\\n    glassbox mount --root ROOTFS proc sys tmp dev -- \\\n    glassbox pivot-root ROOTFS -- /bin/sh\n\nMake ROOTFS with glassbox unpack busybox ROOTFS."
    )]
    Mount(MountArgs),
    /// Join a running process's namespaces and root (as nsenter(1)), then run COMMAND.
    #[command(
        after_help = "Build a container in one terminal, look into it from another:\n\n  glassbox enter $(pgrep -n sleep) -- /bin/sh"
    )]
    Enter(EnterArgs),
    /// Put COMMAND in a new cgroup with memory, CPU and pids limits; report how it ended.
    Cgroup(CgroupArgs),
    /// Cut capabilities to Docker's default set, set no_new_privs and a seccomp filter, then run COMMAND.
    Security(SecurityArgs),
    /// A container or image as docker inspect shows it (JSON, or --format); a pid, or
    /// --process: a process's namespaces (next to your own), root, cgroups, mounts and privileges.
    #[command(
        after_help = "A picture instead of text:\n  glassbox inspect --svg web > web.svg   (or --dot, for Graphviz's DOT)"
    )]
    Inspect(InspectArgs),
    /// The lessons: list them, read one in the terminal, or check its exercises.
    Lesson(LessonArgs),
    /// Give COMMAND its own network (a veth on a bridge, none, or the host's), then run it.
    Net(NetArgs),
    /// Manage user-defined bridge networks (as `docker network`).
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes: directories that outlive containers (as `docker volume`).
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Explain a syscall, a flag or a stage, without running anything.
    Explain(ExplainArgs),
    /// Check what this host supports: root, namespaces, cgroups, overlayfs, netfilter.
    Doctor(DoctorArgs),
    /// Undo what a killed glassbox left on the host (from the journal). Safe to repeat.
    Cleanup,
    /// List running containers; -a all of them (as docker ps).
    #[command(
        after_help = "-q (glassbox's quiet flag) prints only the ids, as docker ps -q:\n  glassbox rm $(glassbox ps -aq)"
    )]
    Ps(PsArgs),
    /// Print what a detached container wrote to stdout and stderr (as docker logs).
    Logs(LogsArgs),
    /// Run a command inside a running container: its namespaces, cgroups and privileges
    /// (as docker exec; by hand, nsenter).
    #[command(after_help = "Example: glassbox exec -it web sh")]
    Exec(ExecArgs),
    /// Join your terminal to a detached container's stdin and output (as docker attach);
    /// Ctrl-P Ctrl-Q lets go of it and leaves it running.
    #[command(
        after_help = "Example: glassbox run -dit --name box busybox sh; glassbox attach box"
    )]
    Attach(AttachArgs),
    /// Stop running containers: SIGTERM, then SIGKILL after the grace time (as docker stop).
    Stop(StopArgs),
    /// Start stopped containers again, detached, with their writable layer as they left it
    /// (as docker start).
    Start(StartArgs),
    /// Remove containers: their writable layer, log and state (as docker rm).
    Rm(RmArgs),
    /// Send a signal to containers' PID 1: SIGKILL unless -s names another (as docker kill).
    #[command(after_help = "Example: glassbox kill -s USR1 web")]
    Kill(KillArgs),
    /// Wait until containers end, and print each one's exit code (as docker wait).
    Wait(WaitArgs),
    /// Give a container another name (as docker rename).
    Rename(RenameArgs),
    /// The host ports a running container's ports are published on (as docker port).
    Port(PortArgs),
    /// Freeze every process of running containers, through their cgroup's freezer (as
    /// docker pause).
    Pause(PauseArgs),
    /// Let the processes of paused containers run again (as docker unpause).
    Unpause(PauseArgs),
    /// Stop containers, then start them again on the same writable layer (as docker restart).
    Restart(RestartArgs),
    // -- container commands: update, top, stats --
    /// Change the memory, CPU or pids limit of running containers (their cgroup files).
    Update(UpdateArgs),
    /// The processes of a container, from its cgroup, as ps shows them (ps options may follow).
    Top(TopArgs),
    /// CPU %, memory use and limit, pids, network and block I/O of running containers.
    Stats(StatsArgs),
    /// Copy files between a running container and the host: cp C:PATH DEST, cp SRC C:PATH.
    Cp(CpArgs),
    /// Make a container as run would, without starting it (glassbox start runs it).
    #[command(disable_help_flag = true)]
    Create(Box<RunArgs>),
    /// Manage containers (container prune).
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images (image prune).
    #[command(subcommand)]
    Image(ImageCommand),
    /// The store as a whole: df, prune.
    #[command(subcommand)]
    System(SystemCommand),
    /// Facts about this host and glassbox's store, as docker info shows them.
    Info,
    /// glassbox's version, and the OCI runtime spec it writes.
    Version,
    /// Show the files a container added (A), changed (C) and deleted (D), read from its
    /// writable layer (as docker diff).
    #[command(
        after_help = "Example:\n  glassbox run --name c1 busybox sh -c 'echo new > /new; rm /bin/vi'\n  glassbox diff c1"
    )]
    Diff(DiffArgs),
    /// Make a new image from a container's changes: its writable layer becomes a layer over
    /// its image's (as docker commit).
    #[command(
        after_help = "Example:\n  glassbox commit -m 'adds /new' c1 myimage:v1\n  glassbox run myimage:v1 cat /new"
    )]
    Commit(CommitArgs),
    /// Build an image from a Dockerfile, one step an instruction (as docker build): each RUN
    /// a glassbox container, each step cached.
    #[command(
        after_help = "Example:\n  glassbox build -t hello:v1 .\n  glassbox run hello:v1\n-q prints only the image id."
    )]
    Build(BuildArgs),
    /// List images, with their layers and sizes (as docker images).
    #[command(
        after_help = "-q (glassbox's quiet flag) prints only the ids, as docker images -q:\n  glassbox rmi $(glassbox images -q)"
    )]
    Images(ImagesArgs),
    /// Remove images, and the layers no other image or container uses (as docker rmi).
    #[command(after_help = "Example: glassbox rmi myimage:v1")]
    Rmi(RmiArgs),
    /// Show an image's layers, topmost first, with what made each one (as docker history).
    #[command(after_help = "Example: glassbox history myimage:v1")]
    History(HistoryArgs),
    /// Give an image another name (as docker tag): TARGET then names the same image.
    #[command(after_help = "Example: glassbox tag myimage:v1 myimage:latest")]
    Tag(TagArgs),
    /// Write an image to a tar file: docker save's format, or an OCI image layout (as
    /// docker save).
    #[command(
        after_help = "Examples:\n  glassbox save myimage:v1 -o myimage.tar          (docker load, skopeo docker-archive:)\n  glassbox save --format oci myimage:v1 -o oci.tar  (tar xf it for umoci or skopeo oci:DIR)"
    )]
    Save(SaveArgs),
    /// Download an image from a registry into the image store (as docker pull): the
    /// manifest, the config and each layer, every HTTP request narrated.
    #[command(
        after_help = "Examples:\n  glassbox pull alpine                    (docker.io/library/alpine:latest)\n  glassbox pull 127.0.0.1:5000/team/web:v1\n  glassbox pull --platform linux/arm64 alpine@sha256:…"
    )]
    Pull(PullArgs),
    /// Send an image of the store to a registry (as docker push): the blobs it lacks, then
    /// the manifest, every HTTP request narrated.
    #[command(
        after_help = "Example:\n  glassbox tag myimage:v1 127.0.0.1:5000/team/myimage:v1\n  glassbox push 127.0.0.1:5000/team/myimage:v1"
    )]
    Push(PushArgs),
    /// Make a one-layer image of a root filesystem tar (as docker import): what docker
    /// export or `tar c` wrote, plain, gzip or zstd; `-` reads it from stdin.
    #[command(
        after_help = "Example:\n  tar -C rootfs -c . | glassbox import - myroot:v1\n  glassbox run --rm myroot:v1 sh"
    )]
    Import(ImportArgs),
    /// Put every image of a docker save archive or an OCI layout (tar or directory) into the
    /// image store, with the names it gives them (as docker load).
    #[command(
        after_help = "Example:\n  glassbox save myimage:v1 -o my.tar && glassbox rmi myimage:v1\n  glassbox load -i my.tar"
    )]
    Load(LoadArgs),
    /// Keep credentials for a registry, once it has taken them (as docker login).
    #[command(
        after_help = "Example:\n  echo s3cret | glassbox login --password-stdin -u learner 127.0.0.1:5000"
    )]
    Login(LoginArgs),
    /// Forget the credentials glassbox login kept for a registry (as docker logout).
    Logout(LogoutArgs),

    // Shell completions and the man page, generated from these definitions.
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Install it where your shell looks, e.g.:\n  glassbox completions bash > /etc/bash_completion.d/glassbox\n  glassbox completions zsh > /usr/local/share/zsh/site-functions/_glassbox\n  glassbox completions fish > ~/.config/fish/completions/glassbox.fish"
    )]
    Completions(CompletionsArgs),
    /// Print glassbox's man page (roff), every subcommand included.
    #[command(
        after_help = "Read it with: glassbox manpage | man -l -\nInstall it with: glassbox manpage > /usr/local/share/man/man1/glassbox.1"
    )]
    Manpage,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The archive: a docker save tar, or an OCI layout (a tar or a directory); as skopeo
    /// spells them, oci:DIR:TAG or docker-archive:FILE:NAME:TAG loads only that image.
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The tar file, or - for stdin.
    pub file: String,
    /// The new image's name, NAME[:TAG].
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Speak plain HTTP to this registry (HOST:PORT); loopback registries always are.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// The image, named by its registry: REGISTRY/NAME[:TAG].
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The user name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Read the password from stdin (the only way: one on the command line shows in ps).
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry, HOST[:PORT] (default: docker.io).
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry, HOST[:PORT] (default: docker.io).
    pub server: Option<String>,
}

/// `run --pull`: when an image is fetched from its registry.
#[derive(
    clap::ValueEnum,
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Only when the image store has no image of that name.
    #[default]
    Missing,
    /// Every time: the registry's newest image for the tag.
    Always,
    /// Never: an image the store lacks is an error.
    Never,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The platform to take from an image index, os/arch[/variant] (default: this host's).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Speak plain HTTP to this registry (HOST:PORT), as docker's daemon option of that
    /// name; registries on loopback are always spoken to in plain HTTP.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Unpack the layers now; by default only their blobs are fetched and checked, and
    /// each layer is unpacked on the image's first use (run, create, build FROM, save).
    #[arg(long)]
    pub unpack: bool,
    /// The image: [REGISTRY/]NAME[:TAG] or NAME@sha256:DIGEST.
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show every container, not only the running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only those that match: status=exited, name=web, id=3f2a, ancestor=busybox, label=k[=v]
    /// (repeat: the same key ORs, different keys AND).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only the last container made (of any state).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Only the last N containers made (of any state).
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show commands whole.
    #[arg(long)]
    pub no_trunc: bool,
    /// Print each as this Go template: '{{.Names}} {{.Status}}', '{{json .}}'.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Show the size of each container's writable layer.
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing what the container writes until it ends (Ctrl-C to stop following).
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines written since this time: 2026-12-06T14:20:00Z, a unix time, or a while ago (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines written before this time (the same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show the time each line was written (RFC 3339, nanoseconds).
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container (name or id).
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep stdin open (the command reads your input).
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command the terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable: NAME=VALUE, or NAME to pass the host's value. May be repeated.
    #[arg(short = 'e', long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file of NAME=VALUE lines (as run --env-file).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Run the command in the background: exec returns at once, its output is discarded
    /// (as docker exec -d).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// The working directory inside the container (default: the container's).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as this user inside: UID[:GID] (default: the container's user).
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// The container (name or id).
    pub container: String,
    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's
    /// --stop-timeout, else 10).
    #[arg(short = 't', long = "time", value_name = "SECS")]
    pub time: Option<u32>,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach to the container's output once it started (as glassbox attach; one container).
    #[arg(short, long)]
    pub attach: bool,
    /// With -a: and your input to its stdin.
    #[arg(short, long)]
    pub interactive: bool,
    /// The keys that detach from it and leave it running (with -a).
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// The keys that detach and leave the container running, in docker's syntax:
    /// `ctrl-p,ctrl-q` (the default), `ctrl-x`, letters.
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Pass SIGINT and SIGTERM on to the container (without a terminal: with one, Ctrl-C
    /// is a key its terminal turns into SIGINT).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Only its output: your input does not go to its stdin.
    #[arg(long)]
    pub no_stdin: bool,
    /// The container (name or id).
    pub container: String,
}

#[derive(Args, Debug)]
#[command(after_help = "Docker's `rm -v` is `rm --volumes` here: in glassbox `-v` means verbose.")]
pub struct RmArgs {
    /// Remove running containers too (they are killed first).
    #[arg(short, long)]
    pub force: bool,
    /// Remove the containers' anonymous volumes too (named volumes always stay).
    #[arg(long)]
    pub volumes: bool,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// The signal: a name (KILL, TERM, HUP, USR1, with or without SIG) or a number.
    #[arg(
        short = 's',
        long = "signal",
        default_value = "KILL",
        value_name = "SIG"
    )]
    pub signal: String,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container (name or id).
    pub container: String,
    /// Only this container port: PORT or PORT/PROTO (tcp when none is given).
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container (name or id).
    pub old: String,
    /// Its new name.
    pub new: String,
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's
    /// --stop-timeout, else 10).
    #[arg(short = 't', long = "time", value_name = "SECS")]
    pub time: Option<u32>,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// -- container commands: update, top, stats --
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The memory limit: 64m, 1g (at least 6m).
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Memory and swap together (-1: unlimited swap).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// The CPU limit, in CPUs: 0.5 is half of one.
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// The relative CPU weight (1024 is normal).
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// The most processes and threads (-1: no limit).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// The containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container (name or id).
    pub container: String,
    /// Options for ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Print once and end (without it: a table refreshed every second on a terminal).
    #[arg(long)]
    pub no_stream: bool,
    /// Show the containers that are not running too.
    #[arg(short, long)]
    pub all: bool,
    /// The containers (names or ids); without any, every running one.
    pub containers: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Remove every container that is not running.
    Prune,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Remove images without a name that no container uses; -a: every image no container uses.
    Prune {
        #[arg(short, long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCommand {
    /// What images and containers take, and what prune could free.
    Df,
    /// Remove stopped containers, then unused images (-a: named ones too).
    Prune {
        #[arg(short, long)]
        all: bool,
    },
    /// As glassbox info.
    Info,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Keep owners (uid and gid) as they are.
    #[arg(short, long)]
    pub archive: bool,
    /// Follow a symbolic link SRC (inside the container's root); without it the link itself
    /// is copied, as docker cp.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// What to copy: a host path, or CONTAINER:PATH.
    pub src: String,
    /// Where to: a host path, or CONTAINER:PATH.
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The container (name or id).
    pub container: String,
}

// `glassbox build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The image's name, NAME[:TAG]. May be repeated.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A value for an ARG: NAME=VALUE, or NAME to take the host's. May be repeated.
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Make every step again, reusing nothing from the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Build up to this stage (FROM … AS NAME) and name that image.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// The build context: the directory the Dockerfile copies files from.
    pub context: PathBuf,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// A message for the new layer (the COMMENT column of glassbox history).
    #[arg(short, long)]
    pub message: Option<String>,
    /// The image's author.
    #[arg(short, long)]
    pub author: Option<String>,
    /// A Dockerfile instruction to apply to the image's config: CMD, ENTRYPOINT, ENV,
    /// EXPOSE, USER, VOLUME or WORKDIR. May be repeated.
    #[arg(short, long, value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// The container (name or id).
    pub container: String,
    /// The new image's name: lowercase letters, digits and . _ - / (no name: <none>).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Also the intermediate images a build keeps for its cache (hidden by default, as docker).
    #[arg(short, long)]
    pub all: bool,
    /// Show whole image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show the digest each image was pulled by (its index's, for a multi-platform one).
    #[arg(long)]
    pub digests: bool,
    /// Only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove an image with several names, or take the names from one a stopped container
    /// uses (the image itself then stays until the container is removed).
    #[arg(short, long)]
    pub force: bool,
    /// Keep the untagged build steps below the image (docker's --no-prune).
    #[arg(long)]
    pub no_prune: bool,
    /// The images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// The image (name or id).
    pub source: String,
    /// The new name, NAME[:TAG] (the tag defaults to latest).
    pub target: String,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Do not cut the CREATED BY column.
    #[arg(long)]
    pub no_trunc: bool,
    /// The image (name or id).
    pub image: String,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// docker save's archive: manifest.json, the config, one layer.tar per layer.
    Docker,
    /// An OCI image layout, as a tar: oci-layout, index.json, blobs/sha256/….
    Oci,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// The file to write (default: stdout, unless it is a terminal).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The archive's format.
    #[arg(long, value_enum, default_value = "docker")]
    pub format: SaveFormat,
    /// The image (name or id).
    pub image: String,
}

// The command to run after a stage: everything after `--`. (A plain comment: a doc comment
// here would become the about of every stage that flattens it, as clap defers their args.)
#[derive(Args, Debug, Clone)]
pub struct Tail {
    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[command(
    after_help = "Docker's `-v` is `--volume` here: in glassbox `-v` means verbose.\n\
Examples:\n  glassbox run busybox sh -c 'hostname; ps'\n  glassbox run --memory 64m --pids-limit 20 busybox sh\n  glassbox run --dry-run busybox true      (the whole plan, nothing done)"
)]
pub struct RunArgs {
    /// A name for the container (letters, digits, `_.-`).
    #[arg(long)]
    pub name: Option<String>,
    /// The container's hostname (default: the container's id, as docker gives it).
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Add a line to the container's /etc/hosts: NAME:IP. May be repeated.
    #[arg(long, value_name = "NAME:IP")]
    #[serde(default)]
    pub add_host: Vec<String>,
    /// A DNS server for the container's /etc/resolv.conf (instead of the host's, or of its
    /// network's name server). May be repeated.
    #[arg(long, value_name = "IP")]
    #[serde(default)]
    pub dns: Vec<String>,
    /// Another name the container answers to on a user-defined network. May be repeated.
    #[arg(long, value_name = "NAME")]
    #[serde(default)]
    pub network_alias: Vec<String>,
    /// Print help (-h is --hostname, as in docker run).
    #[arg(long, action = clap::ArgAction::Help)]
    #[serde(skip)]
    help: Option<bool>,
    /// Set an environment variable: NAME=VALUE, or NAME to pass the host's value. May be repeated.
    #[arg(short = 'e', long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file of NAME=VALUE lines.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// The working directory inside the container (made when missing, as docker does).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run this instead of the image's ENTRYPOINT (and drop its CMD); "" for none.
    #[arg(long, value_name = "CMD")]
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// Run as this user inside: UID[:GID] (names are looked up in the image's /etc/passwd).
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// A volume: NAME:CTR (a named volume, made at first use), /HOST:CTR (a host path), or
    /// CTR alone (an anonymous volume); `:ro` for read-only. May be repeated.
    #[arg(long, value_name = "NAME|HOST:CTR[:ro]")]
    pub volume: Vec<String>,
    /// As docker: type=volume|bind|tmpfs,source=…,target=…[,readonly][,volume-nocopy]
    /// [,tmpfs-size=…]. May be repeated.
    #[arg(long, value_name = "SPEC")]
    #[serde(default)]
    pub mount: Vec<String>,
    /// Mount every volume and bind mount of CONTAINER at the same paths (`:ro`: read-only).
    /// May be repeated.
    #[arg(long, value_name = "CONTAINER[:ro]")]
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// Publish a container port on the host: [IP:][HOST:]CTR[/tcp|/udp] (no HOST: a free
    /// one; ranges as 8000-8002:8000-8002). May be repeated.
    #[arg(short = 'p', long, value_name = "[IP:][HOST:]CTR")]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs, each on a free host port.
    #[arg(short = 'P', long)]
    #[serde(default)]
    pub publish_all: bool,
    /// none (the default: a network namespace with only lo), bridge (gb0, as docker0), host,
    /// or a network made with `glassbox network create`.
    #[arg(long, value_name = "NET")]
    pub network: Option<String>,
    /// Memory limit (as docker run --memory: 64m, 1g).
    // Hyphen values too: `-5m` gets glassbox's own sentence about sizes, not clap's.
    #[arg(short = 'm', long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs the container may use (0.5 = half a CPU).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024).
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Most processes the container may have at once (-1 for no limit).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Give the container a private copy of the image instead of an overlay over it (as
    /// docker's vfs storage driver: slower, more disk, works without overlayfs).
    #[arg(long)]
    #[serde(default)]
    pub no_overlay: bool,
    /// Mount a tmpfs at this path inside (PATH or PATH:SIZE). May be repeated.
    #[arg(long, value_name = "PATH[:SIZE]")]
    pub tmpfs: Vec<String>,
    /// When to pull the image from its registry (as docker run --pull). Without it, an
    /// image the store lacks is pulled only when its name has a registry
    /// (127.0.0.1:5000/x:1): a bare name (alpine) reaches Docker Hub only when asked.
    #[arg(long, value_enum, value_name = "WHEN")]
    #[serde(default)]
    pub pull: Option<PullPolicy>,
    #[command(flatten)]
    pub security: SecurityOpts,
    /// `host` (the default) or `private`: with `private`, root inside is an unprivileged
    /// uid outside (100000, or root's range in /etc/subuid), as Docker's userns-remap;
    /// `glassbox explain userns` says what it then cannot do.
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// Remove the container when it ends (otherwise it stays, exited, for logs, diff, commit
    /// and start, until `glassbox rm`).
    #[arg(long)]
    pub rm: bool,
    /// With -d: run it again when it ends: no, on-failure[:N], always, unless-stopped.
    #[arg(long, value_name = "POLICY")]
    #[serde(default)]
    pub restart: Option<String>,
    /// Run a small init as PID 1 (glassbox itself) that passes signals on to the command
    /// and reaps zombies, as docker's --init (tini): a command with no SIGTERM handler
    /// then ends on stop at once.
    #[arg(long)]
    #[serde(default)]
    pub init: bool,
    /// The signal stop sends first (default: the image's STOPSIGNAL, else SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds stop waits after that signal before SIGKILL (default 10; stop -t wins).
    #[arg(long, value_name = "SECS")]
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// A command run in the container (as exec does) every --health-interval: exit 0 is
    /// healthy; ps and inspect show the status, as docker's.
    #[arg(long, value_name = "CMD")]
    #[serde(default)]
    pub health_cmd: Option<String>,
    /// Time between health checks (30s, 500ms, 1m; default 30s).
    #[arg(long, value_name = "DURATION")]
    #[serde(default)]
    pub health_interval: Option<String>,
    /// Longest a health check may run before it counts as failed (default 30s).
    #[arg(long, value_name = "DURATION")]
    #[serde(default)]
    pub health_timeout: Option<String>,
    /// Failures in a row before the container is unhealthy (default 3).
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub health_retries: Option<u32>,
    /// Time after the start during which failures do not count (default 0s).
    #[arg(long, value_name = "DURATION")]
    #[serde(default)]
    pub health_start_period: Option<String>,
    /// No health check, whatever --health-cmd says.
    #[arg(long)]
    #[serde(default)]
    pub no_healthcheck: bool,
    /// Run in the background: print the container's id and leave it running under a small
    /// supervisor that keeps its output in a log (`glassbox logs`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open (the container reads your input).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Pause before each stage, explain it, and say how to look at the half-built container.
    #[arg(long)]
    pub step: bool,
    /// Leave out a stage (rootfs, namespaces, mounts, cgroup, network, security). May be repeated.
    #[arg(long, value_name = "STAGE")]
    pub skip: Vec<String>,
    /// Run only these stages (the others are left out). May be repeated.
    #[arg(long, value_name = "STAGE")]
    pub only: Vec<String>,
    /// The root filesystem: a directory, an image tarball, or `busybox`.
    #[arg(value_name = "ROOTFS|IMAGE")]
    pub image: String,
    /// The command and its arguments (default: the image's).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example: glassbox bisect busybox -- cat /proc/kcore   (which stage hides it?)"
)]
pub struct BisectArgs {
    /// Working means: this text is in the command's output.
    #[arg(long, value_name = "TEXT")]
    pub expect_output: Option<String>,
    /// Working means: this exit status (without either: an exit status other than the full
    /// run's, so the stage from which on it ends as under `glassbox run` is the one blamed).
    #[arg(long, value_name = "N")]
    pub expect_exit: Option<i32>,
    #[command(flatten)]
    pub run: RunArgs,
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

#[derive(Args, Debug, Clone)]
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
    /// Leave /proc's and /sys's sensitive paths open instead of masking them (as docker run
    /// --security-opt systempaths=unconfined).
    #[arg(long)]
    pub unmasked: bool,
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
    #[arg(short, long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap), as docker run --memory-swap.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs the command may use, as a fraction: 0.5 is half of one CPU.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024), as docker run --cpu-shares.
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Most processes the command may have at once (-1 for no limit).
    #[arg(
        long,
        alias = "pids-limit",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub pids: Option<i64>,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SecurityOpts {
    /// Add a capability to the default set (a name from capabilities(7), or ALL). May be repeated.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the default set (or ALL). May be repeated.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Keep every capability and install no seccomp filter (as docker run --privileged).
    #[arg(long)]
    pub privileged: bool,
    /// `seccomp=unconfined` turns the seccomp filter off; `no-new-privileges=false` leaves no_new_privs unset; with run, `systempaths=unconfined` leaves the sensitive paths of /proc and /sys unmasked.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SecurityArgs {
    #[command(flatten)]
    pub opts: SecurityOpts,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Containers or images (name or id), or a pid (its process view).
    #[arg(value_name = "NAME|PID", required = true)]
    pub targets: Vec<String>,
    /// Print each as this Go template: '{{.State.Pid}}', '{{json .Config}}', '{{range .Mounts}}{{.Source}} {{end}}'.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Look only for a container, or only for an image.
    #[arg(long = "type", value_name = "container|image", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    /// The process view of a running container's PID 1 (namespaces, root, cgroups, privileges).
    #[arg(short, long)]
    pub process: bool,
    /// The process view as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print a picture of its namespaces, mounts and cgroups next to this terminal's, in
    /// Graphviz's DOT language (dot -Tpng, or any DOT viewer, draws it).
    #[arg(long, conflicts_with_all = ["json", "svg"])]
    pub dot: bool,
    /// The same picture as SVG, drawn by Graphviz's dot (needs graphviz installed).
    #[arg(long, conflicts_with = "json")]
    pub svg: bool,
}

#[derive(Args, Debug)]
pub struct LessonArgs {
    /// The lesson to show (without it: the list).
    pub number: Option<u32>,
    /// Run the lesson's exercise checks on this machine and say which are done.
    #[arg(long, requires = "number")]
    pub check: bool,
    /// Write the files the lesson's commands use (escape.c, …) into the current directory.
    #[arg(long, requires = "number", conflicts_with = "check")]
    pub files: bool,
    /// Show the lesson with the exercises' hints.
    #[arg(long, requires = "number", conflicts_with_all = ["check", "files"])]
    pub hint: bool,
    /// Show the lesson with the exercises' hints and solutions.
    #[arg(long, requires = "number", conflicts_with_all = ["check", "files"])]
    pub solution: bool,
}

#[derive(Args, Debug)]
pub struct NetArgs {
    /// bridge (the default bridge gb0), none (only lo), host (no new namespace), or the name
    /// of a network made with `glassbox network create`.
    #[arg(long, default_value = "bridge", value_name = "NETWORK")]
    pub network: String,
    /// The container's address with its prefix (default: the next free one on the network).
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub ip: Option<String>,
    /// Publish a container port on the host, as docker run -p: [IP:][HOST:]CTR[/tcp|/udp].
    #[arg(short, long, value_name = "[IP:][HOST:]CTR[/PROTO]")]
    pub publish: Vec<String>,
    #[command(flatten)]
    pub tail: Tail,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Make a user-defined bridge network (the bridge itself is made at first use).
    Create {
        /// The network's name, which is also its bridge's name (at most 15 characters).
        name: String,
        /// Its subnet, as 10.80.0.0/24 (default: the next free 10.N.0.0/24).
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
        /// The bridge's address, the containers' gateway (default: the subnet's first).
        #[arg(long, value_name = "IP")]
        gateway: Option<String>,
        /// No way out: containers reach each other, but nothing beyond the network.
        #[arg(long)]
        internal: bool,
    },
    /// List the networks.
    Ls,
    /// Show a network as JSON: its subnet, gateway and the containers on it.
    Inspect {
        /// The network's name.
        name: String,
    },
    /// Remove every user-defined network no running container uses.
    Prune,
    /// Put a running container on one more network, hot (a second veth, eth1).
    Connect {
        /// Another name it answers to on that network. May be repeated.
        #[arg(long, value_name = "NAME")]
        alias: Vec<String>,
        /// The network.
        network: String,
        /// The container (name or id).
        container: String,
    },
    /// Take a running container off a network it was connected to.
    Disconnect {
        /// The network.
        network: String,
        /// The container (name or id).
        container: String,
    },
    /// Remove a user-defined network and its bridge and rules.
    Rm {
        /// The network's name.
        name: String,
    },
    /// The name server of a user-defined network (started by its first container).
    #[command(hide = true)]
    ServeDns {
        /// The network's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Make a volume (without NAME: a random one, as docker); prints its name.
    #[command(
        after_help = "Example:\n  glassbox volume create data\n  glassbox run --volume data:/data busybox sh -c 'echo hi > /data/f'"
    )]
    Create {
        /// Its name: letters, digits and `_.-`, at least two.
        name: Option<String>,
        /// A label, KEY=VALUE. May be repeated.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Vec<String>,
    },
    /// List the volumes (-q, glassbox's quiet flag: only their names).
    Ls {
        /// dangling=true (no container uses it), name=PART or label=KEY[=VALUE]. May be repeated.
        #[arg(short, long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
    /// Show volumes as JSON, as docker volume inspect.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes no container uses (running or stopped).
    Rm {
        /// No error for a volume that does not exist.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the anonymous volumes no container uses (--all: named ones too).
    Prune {
        /// Named volumes too.
        #[arg(short, long)]
        all: bool,
        /// Accepted for docker's sake: glassbox does not ask first.
        #[arg(short, long)]
        force: bool,
    },
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
#[command(
    after_help = "Each line is marked ✓ (fine), ! (works, worth knowing) or ✗ (missing), with what to do.\n\nExit status: 0 when everything `glassbox run` needs is here; 1 when one of its requirements is missing (root; the mount, pid, uts, ipc and net namespaces; a cgroup hierarchy with the memory, cpu and pids controllers; a static busybox for the default rootfs); 125 when doctor itself failed."
)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The container (name or id).
    #[arg(value_name = "CONTAINER")]
    pub source: String,
    /// The tar file to write (default: stdout, unless it is a terminal).
    #[arg(short, long, value_name = "FILE", conflicts_with_all = ["dir", "inspect"])]
    pub output: Option<PathBuf>,
    // The old spelling of `glassbox unpack IMAGE DIR`, still accepted.
    #[arg(value_name = "DIR", hide = true)]
    pub dir: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub force: bool,
    #[arg(long, hide = true)]
    pub inspect: bool,
    #[arg(long, value_name = "OS/ARCH", hide = true)]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// A tar (plain, gzip, zstd) as docker export writes it, a docker save archive, an OCI
    /// image layout (directory or tar), a directory, or the word `busybox` (offline default).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The directory to make the root filesystem in (new or empty; see --force).
    #[arg(value_name = "DIR", required_unless_present = "inspect")]
    pub dir: Option<PathBuf>,
    /// Replace the contents of a non-empty DIR.
    #[arg(long)]
    pub force: bool,
    /// Show the source's layers, sizes and config without extracting anything.
    #[arg(long)]
    pub inspect: bool,
    /// The platform to take from an OCI index with several (default: this host's).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
}

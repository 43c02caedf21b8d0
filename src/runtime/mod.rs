//! `glassbox runtime`: glassbox as an OCI runtime, spoken as runc spells it, so an engine
//! (podman, containerd) can hand it a bundle it prepared and the learner can read, narrated,
//! every call a runtime makes for a real engine. The same when the binary is called
//! `glassbox-runc`.
//!
//! `create` makes the container's process, sets it up and leaves it waiting on a FIFO
//! (runc's exec.fifo); `start` opens the FIFO and the process execs its command. The state
//! of each container is one JSON file under `--root` (default /run/glassbox-runtime).

mod bundle;
mod console;
mod control;
mod exec;
mod hooks;
mod init;
mod lifecycle;
mod seccomp;
mod state;
mod syscalls;

use crate::error::{Error, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "glassbox runtime",
    about = "Run OCI bundles as runc does: create, start, state, kill, delete"
)]
pub struct Cli {
    /// Where the containers' state lives.
    #[arg(long, default_value = "/run/glassbox-runtime")]
    pub root: PathBuf,
    /// Write the narration (and errors) to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Append the human narration of this call to FILE (tail -f it while an engine works).
    /// podman does not pass its environment on: give `--runtime-flag narrate=FILE`.
    #[arg(long, value_name = "FILE", env = "GLASSBOX_NARRATE")]
    pub narrate: Option<PathBuf>,
    /// Explain each call (as -v).
    #[arg(long)]
    pub debug: bool,
    /// Refused: glassbox manages cgroups itself.
    #[arg(long)]
    pub systemd_cgroup: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    pub id: String,
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted as runc does; glassbox always pivots.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted as runc does; glassbox makes no session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Descriptors 3 to 3+N-1 of this call stay open in the container's process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// `run` only: do not wait for the container.
    #[arg(short, long)]
    pub detach: bool,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Make the container and leave it waiting before its command.
    Create(CreateArgs),
    /// Let a created container run its command.
    Start { id: String },
    /// Create, start, wait, delete.
    Run(CreateArgs),
    /// The container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's process.
    Kill {
        id: String,
        signal: Option<String>,
        #[arg(short, long)]
        all: bool,
    },
    /// Remove a stopped container (--force: kill it first).
    Delete {
        id: String,
        #[arg(short, long)]
        force: bool,
    },
    /// The containers under --root.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// What this runtime supports, as JSON.
    Features,
    /// Run one more process (--process process.json) in a running container.
    Exec(exec::ExecArgs),
    /// The container's processes.
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// ps(1)'s options: accepted, not used.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
}

/// The command line when the binary is called by another name ending in `runc`
/// (`glassbox-runc`): the runtime's, as engines call it.
pub fn called_as_runtime(argv0: &str) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("runc"))
}

/// Parse the runtime's own command line (`args[0]` is the program name) and run it.
pub fn main(args: &[String]) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    // The narration goes to --log, or to GLASSBOX_NARRATE (a file the learner can tail -f
    // while an engine works), or to a terminal. An engine reads the runtime's stderr as its
    // error message: there it says nothing but errors.
    // --narrate (GLASSBOX_NARRATE) wins over the engine's --log: engines always give one, and the
    // learner's file is the point (errors still reach stderr, where engines read them too).
    let to_file = match (&cli.log, &cli.narrate) {
        (_, Some(file)) => Some((file, false)),
        (Some(log), None) => Some((log, cli.log_format == LogFormat::Json)),
        _ => None,
    };
    if let Some((file, json)) = to_file {
        if let Err(e) = crate::narrate::narrate_to_file(file, json) {
            eprintln!(
                "glassbox runtime: cannot open the log {}: {e}",
                file.display()
            );
            return 1;
        }
    }
    listen_fds();
    let quiet =
        to_file.is_none() && !cli.debug && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    match run(&cli, &args[1..], quiet) {
        Ok(code) => code,
        Err(e) => {
            crate::narrate::log_error(&e);
            if to_file.is_some() {
                // Engines show the runtime's stderr too.
                eprintln!("glassbox runtime: {}", e.what);
            }
            1
        }
    }
}

/// systemd's socket activation, honoured as runc does: descriptors 3 to 3+LISTEN_FDS-1,
/// when LISTEN_PID names this process, go on to the container's command, which is told
/// how many there are (see `init::become_command`). Meant for another process: forgotten.
fn listen_fds() -> u32 {
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok());
    let ours = std::env::var("LISTEN_PID").ok() == Some(std::process::id().to_string());
    match n {
        Some(n) if ours => n,
        _ => {
            std::env::remove_var("LISTEN_FDS");
            0
        }
    }
}

fn run(cli: &Cli, call: &[String], quiet: bool) -> Result<i32> {
    if cli.systemd_cgroup {
        return Err(Error::usage(
            "--systemd-cgroup is not supported: glassbox makes the container's cgroups itself, through the cgroup filesystem",
            "configure the engine for the cgroupfs manager (podman --cgroup-manager cgroupfs)",
        ));
    }
    let opts = crate::narrate::NarrateOpts {
        level: if cli.debug {
            crate::narrate::Level::Verbose
        } else if quiet {
            crate::narrate::Level::Quiet
        } else {
            crate::narrate::Level::Normal
        },
        color: crate::narrate::ColorChoice::Never,
        trace: std::env::var_os("GLASSBOX_TRACE").map(PathBuf::from),
        trace_format: Default::default(),
    };
    let narrator = crate::narrate::Narrator::new(&opts)?;
    // Each call an engine makes starts with its command line, so a tailed file reads as
    // the conversation: create, start, state, kill, delete.
    narrator.note(&format!("glassbox runtime {}", call.join(" ")));
    let sys = crate::sys::Sys::new(&narrator);
    let root = &cli.root;
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    let with_listen = |a: &CreateArgs| CreateArgs {
        preserve_fds: a.preserve_fds + listen,
        ..a.clone()
    };
    match &cli.command {
        Cmd::Create(a) => lifecycle::create(&sys, root, &with_listen(a)).map(|_| 0),
        Cmd::Start { id } => lifecycle::start(&sys, root, id).map(|_| 0),
        Cmd::Run(a) => lifecycle::run(&sys, root, &with_listen(a)),
        Cmd::State { id } => {
            let s = state::State::load(root, id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&s.public()).expect("json")
            );
            Ok(0)
        }
        Cmd::Kill { id, signal, all } => {
            lifecycle::kill(&sys, root, id, signal.as_deref().unwrap_or("TERM"), *all).map(|_| 0)
        }
        Cmd::Delete { id, force } => lifecycle::delete(&sys, root, id, *force).map(|_| 0),
        Cmd::List { format, quiet } => lifecycle::list(root, format, *quiet).map(|_| 0),
        Cmd::Exec(a) => exec::exec(
            &sys,
            root,
            &exec::ExecArgs {
                preserve_fds: a.preserve_fds + listen,
                ..a.clone()
            },
        ),
        Cmd::Ps { format, id, .. } => control::ps(root, id, format),
        Cmd::Pause { id } => control::pause(&sys, root, id, true),
        Cmd::Resume { id } => control::pause(&sys, root, id, false),
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).expect("json")
            );
            Ok(0)
        }
    }
}

/// `features`: what newer engines ask a runtime before they use it.
fn features() -> serde_json::Value {
    let caps: Vec<String> = (0..=crate::stages::security::last_cap())
        .map(crate::sys::security::cap_name)
        .collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_option_names(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.glassbox.runtime": "narrates every call"}
    })
}

fn mount_option_names() -> Vec<&'static str> {
    init::MOUNT_FLAGS.iter().map(|(n, _, _)| *n).collect()
}

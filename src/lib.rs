//! glassbox: a Linux containerizer built to teach. The binary (`main.rs`) only parses and
//! calls [`dispatch`]; everything else lives here so tests can reach it.

pub mod build;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod container;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod flags;
pub mod host;
pub mod images;
pub mod inspect;
pub mod journal;
pub mod lesson;
pub mod lock;
pub mod manual;
pub mod narrate;
pub mod networks;
pub mod out;
pub mod parse;
pub mod registry;
pub mod run;
pub mod runtime;
pub mod spec;
pub mod stages;
pub mod store;
pub mod sys;
pub mod volumes;

use cli::{Cli, Command, GlobalArgs};
use colored::Colorize;
use error::Result;
use narrate::{Level, NarrateOpts, Narrator};
use sys::Sys;

/// The narrator's settings from the global flags.
pub fn narrate_opts(g: &GlobalArgs) -> NarrateOpts {
    let level = if g.quiet {
        Level::Quiet
    } else {
        match (g.verbose, g.explain) {
            (0, false) => Level::Normal,
            (0, true) | (1, _) => Level::Verbose,
            _ => Level::Detail,
        }
    };
    NarrateOpts {
        level,
        color: g.color,
        trace: g.trace.clone(),
        trace_format: g.trace_format,
    }
}

/// Whether this command may end by SIGPIPE when its reader goes (`glassbox ps | head`), as
/// Unix tools do: the ones that only print. Every other one ignores SIGPIPE: it may hold
/// cgroups, links or mounts, and must live on to undo them (its narration then stops).
pub fn ends_on_closed_pipe(c: &Command) -> bool {
    matches!(
        c,
        Command::Ps(_)
            | Command::Logs(_)
            | Command::Top(_)
            | Command::Stats(_)
            | Command::Images(_)
            | Command::History(_)
            | Command::Inspect(_)
            | Command::Explain(_)
            | Command::Lesson(_)
            | Command::Doctor(_)
            | Command::Diff(_)
            | Command::Port(_)
            | Command::Network(cli::NetworkCommand::Ls)
            | Command::Completions(_)
            | Command::Manpage
            | Command::Volume(cli::VolumeCommand::Ls { .. })
            | Command::Volume(cli::VolumeCommand::Inspect { .. })
    )
}

/// Run one subcommand; returns the exit code.
pub fn dispatch(cli: &Cli) -> Result<i32> {
    // Settled now, before any child of ours becomes root of a user namespace.
    host::rootless();
    let narrator = Narrator::new(&narrate_opts(&cli.global))?;
    let sys = if cli.global.dry_run {
        Sys::dry(&narrator)
    } else {
        Sys::new(&narrator)
    };
    match &cli.command {
        Command::Run(a) => run::main(a, &sys),
        Command::Runtime { args } => {
            let mut argv = vec!["glassbox runtime".to_string()];
            argv.extend(args.iter().cloned());
            Ok(runtime::main(&argv))
        }
        Command::Bisect(a) => run::bisect::main(a),
        Command::Unpack(a) => stages::export::main(&a.spec(), &sys),
        Command::Export(a) => images::export::main(a, &sys),
        Command::Unshare(a) => stages::unshare::main(&a.spec(), &a.tail.command, &sys),
        Command::Chroot(a) => stages::root::chroot_main(&a.dir, &a.tail.command, &sys),
        Command::PivotRoot(a) => stages::root::pivot_root_main(&a.dir, &a.tail.command, &sys),
        Command::Mount(a) => stages::mounts::main(&a.spec(), &a.tail.command, &sys),
        Command::Enter(a) => stages::enter::main(a.pid, &a.tail.command, &sys),
        Command::Cgroup(a) => stages::cgroups::main(&a.spec(), &a.tail.command, &sys),
        Command::Security(a) => stages::security::main(&a.opts.spec(), &a.tail.command, &sys),
        Command::Inspect(a) => inspect::main(a),
        Command::Lesson(a) => lesson::main(a),
        // A bridge cannot be planned without making it: refused before anything is done.
        Command::Net(_) if cli.global.dry_run => Err(error::Error::usage(
            "`glassbox net` has no --dry-run yet",
            "run it without --dry-run, or read `glassbox explain net`",
        )),
        Command::Net(a) => stages::network::main(&a.spec(), &sys),
        Command::Network(c) => networks::main(c, &sys),
        Command::Volume(c) => volumes::main(c, &sys, cli.global.quiet),
        Command::Explain(a) => explain::main(a),
        Command::Doctor(a) => doctor::main(a, &cli.global),
        Command::Cleanup => cleanup_main(&sys),
        Command::Ps(a) => container::ps::main(a, cli.global.quiet),
        Command::Logs(a) => container::logs::main(a),
        Command::Exec(a) => container::exec::main(a, &sys),
        Command::Attach(a) => container::attach::main(a, &sys),
        Command::Stop(a) => container::lifecycle::stop_main(a, &sys),
        Command::Start(a) => container::lifecycle::start_main(a, &sys),
        Command::Rm(a) => container::lifecycle::rm_main(a, &sys),
        Command::Kill(a) => container::kill::main(a, &sys),
        Command::Wait(a) => container::wait::main(a, &sys),
        Command::Rename(a) => container::rename::main(a, &sys),
        Command::Port(a) => container::port::main(a),
        Command::Pause(a) => container::pause::pause_main(a, &sys),
        Command::Unpause(a) => container::pause::unpause_main(a, &sys),
        Command::Restart(a) => container::lifecycle::restart_main(a, &sys),
        Command::Update(a) => container::update::main(a, &sys),
        Command::Top(a) => container::top::main(a),
        Command::Stats(a) => container::stats::main(a),
        Command::Cp(a) => container::cp::main(a, &sys),
        Command::Create(a) => run::create(a, &sys),
        Command::Container(cli::ContainerCommand::Prune) => {
            container::system::container_prune(&sys)
        }
        Command::Image(cli::ImageCommand::Prune { all }) => {
            container::system::image_prune(&sys, *all)
        }
        Command::System(cli::SystemCommand::Prune { all }) => {
            container::system::system_prune(&sys, *all)
        }
        Command::System(cli::SystemCommand::Df) => container::system::df(),
        Command::System(cli::SystemCommand::Info) | Command::Info => container::system::info(),
        Command::Version => container::system::version(),
        Command::Diff(a) => images::diff_main(a, &sys),
        Command::Commit(a) => images::commit::main(a, &sys),
        Command::Build(a) => build::main(a, &sys, cli.global.quiet),
        Command::Images(a) => images::images_main(a, cli.global.quiet),
        Command::Rmi(a) => images::rmi_main(a, &sys),
        Command::History(a) => images::history_main(a),
        Command::Tag(a) => images::tag_main(a),
        Command::Save(a) => images::save::main(a, &sys),
        Command::Completions(a) => manual::completions(a.shell),
        Command::Manpage => manual::manpage(),
        Command::Pull(a) => registry::main(a, &sys),
        Command::Push(a) => registry::push::main(a, &sys),
        Command::Import(a) => images::import::main(a, &sys),
        Command::Load(a) => images::load::main(a, &sys),
        Command::Login(a) => registry::auth::login_main(a, &sys),
        Command::Logout(a) => registry::auth::logout_main(a),
    }
}

fn cleanup_main(sys: &Sys) -> Result<i32> {
    let journal = journal::Journal::open()?;
    sys.narrator.stage(
        "cleanup",
        "undo what glassbox left on the host, as its journal lists",
    );
    let report = cleanup::cleanup(sys, &journal);
    // Containers a killed glassbox left half-made (never listed by ps: they have no record).
    let half_made = store::containers::remove_incomplete()?;
    // Directories rm -f moved out of the store whose supervisor was killed before removing them.
    let trashed = store::containers::remove_trash()?;
    // The containers' directories of `wait`s that were killed (the journal removed their own).
    store::waiters::remove_empty();
    // -q: nothing but errors (what could not be removed).
    let tell = |line: String| {
        if sys.narrator.level > narrate::Level::Quiet {
            crate::outln!("{line}");
        }
    };
    for d in &half_made {
        tell(format!(
            "removed the half-made container directory {}",
            d.display()
        ));
    }
    for d in &trashed {
        tell(format!(
            "removed the directory of a removed container {} (its supervisor was killed)",
            d.display()
        ));
    }
    if report.undone.is_empty() && report.failed.is_empty() && report.in_use.is_empty() {
        if !half_made.is_empty() || !trashed.is_empty() {
            return Ok(0);
        }
        tell(format!(
            "Nothing to clean up: the journal ({}) lists nothing.",
            journal.dir().display()
        ));
        return Ok(0);
    }
    for u in &report.undone {
        tell(format!("removed {u}"));
    }
    for u in &report.in_use {
        tell(format!("left {u}"));
    }
    for f in &report.failed {
        crate::outln!("could not remove {f}");
    }
    Ok(if report.failed.is_empty() {
        0
    } else {
        error::exit::GLASSBOX
    })
}

/// Print an error once, at the top: what failed, the errno in plain words, what to do.
pub fn report_error(err: &error::Error, g: &GlobalArgs) {
    let color = narrate::use_color(g.color);
    colored::control::set_override(color);
    // Not eprintln!: with SIGPIPE ignored it would panic on a stderr nobody reads.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{} {}",
        "glassbox: error:".red().bold(),
        err
    );
}

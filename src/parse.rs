//! The command line parsed, as cheaply as it can be: clap's derive gives the tree, and a
//! start parses only what argv names of it.

use crate::cli::Cli;
use clap::{CommandFactory, FromArgMatches};

/// The command line, parsed. Every subcommand's arguments are deferred (`defer = true` on
/// the subcommand enums): clap builds only the one argv names, where building the whole tree
/// cost ~1 ms of CPU and 260 page faults at every start. And the tree parsed holds only that
/// subcommand (see [`only_the_named_subcommand`]); `run`, whose start is the one timed
/// against other runtimes, is parsed as one command of its own (see [`run_alone`]). Help,
/// errors and suggestions read as before: they come from the whole tree, which builds what
/// it shows.
pub fn parse(argv: Vec<String>) -> Result<Cli, clap::Error> {
    let globals = global_args();
    let named = named_subcommand(&globals, &argv);
    if let Some((at, "run")) = named {
        if let Some(cli) = run_alone(globals, &argv, at) {
            return Ok(cli);
        }
        return whole(Cli::command(), argv);
    }
    let full = Cli::command();
    if let Some((_, name)) = named {
        if let Some(cli) = only_the_named_subcommand(&full, &globals, name, &argv) {
            std::mem::forget((full, globals)); // freed at exit anyway; dropping costs ~0.1 ms
            return Ok(cli);
        }
    }
    std::mem::forget(globals);
    whole(full, argv)
}

/// Parse `argv` with the whole tree `cmd`: what help, errors and suggestions come from.
fn whole(mut cmd: clap::Command, argv: Vec<String>) -> Result<Cli, clap::Error> {
    let mut matches = cmd.try_get_matches_from_mut(argv)?;
    let cli = Cli::from_arg_matches_mut(&mut matches);
    std::mem::forget((cmd, matches)); // freed at exit anyway; dropping costs ~0.1 ms
    cli
}

/// A command holding the global flags (-q, -v, --trace…), as the whole tree has them.
fn global_args() -> clap::Command {
    use clap::Args;
    crate::cli::GlobalArgs::augment_args(clap::Command::new("glassbox"))
}

/// The subcommand argv names after the global flags, and where it is; None when there is
/// none (--help, --version, a typo, a flag only the whole tree knows): the whole tree
/// parses those.
fn named_subcommand<'a>(globals: &clap::Command, argv: &'a [String]) -> Option<(usize, &'a str)> {
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let mut words = argv.iter().enumerate().skip(1);
    loop {
        let (at, word) = words.next()?;
        if let Some(long) = word.strip_prefix("--") {
            let (flag, value) = match long.split_once('=') {
                Some((flag, _)) => (flag, true),
                None => (long, false),
            };
            let arg = globals
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))?;
            if takes_value(arg) && !value {
                words.next()?;
            }
        } else if let Some(shorts) = word.strip_prefix('-') {
            // -q, -v, -vv: flags without a value only.
            let known = |c: char| {
                globals
                    .get_arguments()
                    .any(|a| a.get_short() == Some(c) && !takes_value(a))
            };
            if shorts.is_empty() || !shorts.chars().all(known) {
                return None;
            }
        } else {
            return Some((at, word));
        }
    }
}

/// Parse `argv` with the tree of the global flags and only the subcommand `name`. Parsing
/// copies every global flag into every subcommand of the tree (7 flags into ~55
/// subcommands, ~400 copies of an Arg and its help text at each start); here into one.
/// None when the whole tree has no such subcommand or the parse fails: the whole tree
/// parses it again, so what succeeds here is what the whole tree would have parsed.
fn only_the_named_subcommand(
    full: &clap::Command,
    globals: &clap::Command,
    name: &str,
    argv: &[String],
) -> Option<Cli> {
    let sub = full.find_subcommand(name)?;
    let mut one = clap::Command::new("glassbox")
        .args(globals.get_arguments().cloned())
        .subcommand(sub.clone());
    let mut matches = one.try_get_matches_from_mut(argv).ok()?;
    let cli = Cli::from_arg_matches_mut(&mut matches).ok()?;
    std::mem::forget((one, matches)); // freed at exit anyway
    Some(cli)
}

/// Parse `glassbox [GLOBAL FLAGS] run ARGS…` (`run` at `at` in `argv`) as one command:
/// run's arguments beside the global flags, as the whole tree gives them to run, without
/// the ~55 other subcommands or a second level to parse (a test holds it equal to run in
/// the whole tree). The global flags before `run` are all flags (see [`named_subcommand`]):
/// they mean the same after it. None when the parse fails: the whole tree parses it again.
fn run_alone(globals: clap::Command, argv: &[String], at: usize) -> Option<Cli> {
    let mut run = run_command(globals);
    let words = argv[..at].iter().chain(&argv[at + 1..]);
    let mut matches = run.try_get_matches_from_mut(words).ok()?;
    let global = crate::cli::GlobalArgs::from_arg_matches_mut(&mut matches).ok()?;
    let args = crate::cli::RunArgs::from_arg_matches_mut(&mut matches).ok()?;
    std::mem::forget((run, matches)); // freed at exit anyway
    Some(Cli {
        global,
        command: crate::cli::Command::Run(Box::new(args)),
    })
}

/// run's one command: the global flags and run's arguments, with the settings the `Run`
/// variant of [`crate::cli::Command`] gives it.
fn run_command(globals: clap::Command) -> clap::Command {
    use clap::Args;
    crate::cli::RunArgs::augment_args(globals.name("run").disable_help_flag(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    /// What the whole tree makes of `line` (or its error's kind).
    fn whole(line: &str) -> String {
        let mut cmd = Cli::command();
        match cmd.try_get_matches_from_mut(words(line)) {
            Ok(m) => format!("{:?}", Cli::from_arg_matches(&m).unwrap()),
            Err(e) => format!("error {:?}", e.kind()),
        }
    }

    fn parsed(line: &str) -> String {
        match parse(words(line)) {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("error {:?}", e.kind()),
        }
    }

    #[test]
    fn the_one_subcommand_tree_parses_as_the_whole_tree_does() {
        for line in [
            "glassbox -q run --rm busybox /bin/true",
            "glassbox run -q --rm -e A=1 --name x busybox sh -c 'echo'",
            "glassbox -vv --color never run busybox true",
            "glassbox --trace /tmp/t --trace-format chrome run busybox",
            "glassbox --trace=/tmp/t ps -a",
            "glassbox --dry-run unshare --uts -- true",
            "glassbox network ls",
            "glassbox image ls",
            "glassbox -qv run busybox true",
            "glassbox run",
            "glassbox run --help",
            "glassbox --version",
            "glassbox",
            "glassbox rn busybox",
            "glassbox --nope run busybox",
            "glassbox help run",
            "glassbox run --no-such-flag busybox",
            "glassbox run --rm busybox sh -c 'echo -q'",
            "glassbox run busybox -q",
            "glassbox run -v --rm busybox true",
            "glassbox --color=never run -- busybox true",
            "glassbox --trace=/tmp/t run -d --name n -e A -p 8080:80 busybox sleep 9",
            "glassbox run --quiet --memory 64m --pids-limit 20 busybox sh",
            "glassbox -q run -q busybox",
            "glassbox -q run --verbose busybox",
            "glassbox run --version",
        ] {
            assert_eq!(parsed(line), whole(line), "{line}");
        }
    }

    #[test]
    fn a_named_subcommand_gets_a_tree_of_its_own() {
        let (full, globals) = (Cli::command(), global_args());
        let argv = words("glassbox -q --color never ps -a");
        assert_eq!(named_subcommand(&globals, &argv), Some((4, "ps")));
        let cli = only_the_named_subcommand(&full, &globals, "ps", &argv).unwrap();
        assert!(matches!(cli.command, crate::cli::Command::Ps(_)));
        assert!(cli.global.quiet);
        let argv = words("glassbox -q run x");
        assert_eq!(named_subcommand(&globals, &argv), Some((2, "run")));
        let argv = words("glassbox --trace /tmp/t run x");
        assert_eq!(named_subcommand(&globals, &argv), Some((3, "run")));
        for line in [
            "glassbox --version",
            "glassbox -x run",
            "glassbox --trace",
            "glassbox",
        ] {
            assert_eq!(named_subcommand(&globals, &words(line)), None, "{line}");
        }
        let argv = words("glassbox rn x");
        assert!(only_the_named_subcommand(&full, &globals, "rn", &argv).is_none());
    }

    /// run's one command holds the arguments and settings run has in the whole tree (its
    /// own, and the global flags the tree gives it).
    #[test]
    fn run_alone_is_run_as_the_whole_tree_has_it() {
        let mut full = Cli::command();
        full.build();
        let mut alone = run_command(global_args());
        alone.build();
        let whole_run = full.find_subcommand("run").unwrap();
        // An argument as parsing sees it: all but its place in the help (the global flags
        // come first in run's own command).
        let shown = |a: &clap::Arg| {
            let text = format!("{a:?}");
            let (before, rest) = text.split_once("disp_ord: ").unwrap();
            format!("{before}{}", &rest[rest.find(", ").unwrap()..])
        };
        // In the order positionals are numbered; the rest (flags) as a set.
        let args = |c: &clap::Command| -> (Vec<String>, Vec<String>) {
            let mut flags: Vec<String> = c
                .get_arguments()
                .filter(|a| !a.is_positional())
                .map(shown)
                .collect();
            flags.sort();
            let positionals = c.get_positionals().map(shown).collect();
            (positionals, flags)
        };
        assert!(args(whole_run).1.len() > 50);
        assert_eq!(args(&alone), args(whole_run));
        let settings = |c: &clap::Command| {
            (
                c.is_disable_help_flag_set(),
                c.is_allow_missing_positional_set(),
                c.is_args_conflicts_with_subcommands_set(),
                c.is_allow_external_subcommands_set(),
                c.is_subcommand_required_set(),
                c.is_arg_required_else_help_set(),
                c.is_dont_delimit_trailing_values_set(),
                c.get_subcommands().count(),
                // The derive's group of the global flags (top level in the whole tree) binds
                // nothing: not required, conflicting with nothing.
                c.get_groups()
                    .map(|g| format!("{g:?}"))
                    .filter(|g| {
                        !g.starts_with("ArgGroup { id: \"GlobalArgs\"")
                            || !g.ends_with(
                                "required: false, requires: [], conflicts: [], multiple: true }",
                            )
                    })
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(settings(&alone), settings(whole_run));
    }
}

//! The command line parsed, as cheaply as it can be: clap's derive gives the tree, and a
//! start parses only what argv names of it.

use crate::cli::Cli;
use clap::{CommandFactory, FromArgMatches};

/// The command line, parsed. Every subcommand's arguments are deferred (`defer = true` on
/// the subcommand enums): clap builds only the one argv names, where building the whole tree
/// cost ~1 ms of CPU and 260 page faults at every start. And the tree parsed holds only that
/// subcommand (see [`only_the_named_subcommand`]); for `run`, whose start is the one timed
/// against other runtimes, not even the tree's ~55 deferred subcommands are made (see
/// [`run_alone`]). Help, errors and suggestions read as before: they come from the whole
/// tree, which builds what it shows.
pub fn parse(argv: Vec<String>) -> Result<Cli, clap::Error> {
    let globals = global_args();
    let one = match named_subcommand(&globals, &argv) {
        Some("run") => Some(run_alone(&globals)),
        Some(name) => only_the_named_subcommand(&Cli::command(), &globals, name),
        None => None,
    };
    if let Some(mut one) = one {
        let parsed = one
            .try_get_matches_from_mut(&argv)
            .ok()
            .and_then(|m| Cli::from_arg_matches(&m).ok().map(|c| (c, m)));
        if let Some((cli, matches)) = parsed {
            std::mem::forget((one, matches)); // freed at exit anyway
            return Ok(cli);
        }
    }
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(argv)?;
    let cli = Cli::from_arg_matches(&matches);
    std::mem::forget((cmd, matches)); // freed at exit anyway; dropping costs ~0.1 ms
    cli
}

/// The global flags (-q, -v, --trace…), as the whole tree has them.
fn global_args() -> Vec<clap::Arg> {
    use clap::Args;
    crate::cli::GlobalArgs::augment_args(clap::Command::new("glassbox"))
        .get_arguments()
        .cloned()
        .collect()
}

/// The subcommand argv names after the global flags; None when there is none (--help,
/// --version, a typo, a flag only the whole tree knows): the whole tree parses those.
fn named_subcommand<'a>(globals: &[clap::Arg], argv: &'a [String]) -> Option<&'a str> {
    let takes_value = |a: &&clap::Arg| a.get_action().takes_values();
    let mut words = argv.iter().skip(1);
    loop {
        let word = words.next()?;
        if let Some(long) = word.strip_prefix("--") {
            let (flag, value) = match long.split_once('=') {
                Some((flag, _)) => (flag, true),
                None => (long, false),
            };
            let arg = globals.iter().find(|a| a.get_long() == Some(flag))?;
            if takes_value(&arg) && !value {
                words.next()?;
            }
        } else if let Some(shorts) = word.strip_prefix('-') {
            // -q, -v, -vv: flags without a value only.
            let known = |c: char| {
                globals
                    .iter()
                    .any(|a| a.get_short() == Some(c) && !takes_value(&a))
            };
            if shorts.is_empty() || !shorts.chars().all(known) {
                return None;
            }
        } else {
            return Some(word);
        }
    }
}

/// The tree with the global flags and only the subcommand `name`. Parsing copies every
/// global flag into every subcommand of the tree (7 flags into ~55 subcommands, ~400 copies
/// of an Arg and its help text at each start); here into one. None when the whole tree has
/// no such subcommand. A parse that fails here is made again on the whole tree, so what
/// succeeds here is what the whole tree would have parsed.
fn only_the_named_subcommand(
    full: &clap::Command,
    globals: &[clap::Arg],
    name: &str,
) -> Option<clap::Command> {
    let sub = full.find_subcommand(name)?;
    Some(
        clap::Command::new("glassbox")
            .args(globals.iter().cloned())
            .subcommand(sub.clone()),
    )
}

/// `glassbox run`'s tree, made without the whole tree: its arguments, and the settings the
/// `Run` variant of [`crate::cli::Command`] gives it (a test holds the two equal).
fn run_alone(globals: &[clap::Arg]) -> clap::Command {
    use clap::Args;
    let run = crate::cli::RunArgs::augment_args(clap::Command::new("run").disable_help_flag(true));
    clap::Command::new("glassbox")
        .args(globals.iter().cloned())
        .subcommand(run)
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
        ] {
            assert_eq!(parsed(line), whole(line), "{line}");
        }
    }

    #[test]
    fn a_named_subcommand_gets_a_tree_of_its_own() {
        let (full, globals) = (Cli::command(), global_args());
        let argv = words("glassbox -q --color never ps -a");
        let name = named_subcommand(&globals, &argv).unwrap();
        let one = only_the_named_subcommand(&full, &globals, name).unwrap();
        let names: Vec<_> = one.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(names, ["ps"]);
        let argv = words("glassbox -q run x");
        assert_eq!(named_subcommand(&globals, &argv), Some("run"));
        for line in [
            "glassbox --version",
            "glassbox -x run",
            "glassbox --trace",
            "glassbox",
        ] {
            assert_eq!(named_subcommand(&globals, &words(line)), None, "{line}");
        }
        assert!(only_the_named_subcommand(&full, &globals, "rn").is_none());
    }

    /// run's tree made alone holds the arguments and settings of run in the whole tree.
    #[test]
    fn run_alone_is_run_as_the_whole_tree_has_it() {
        let mut full = Cli::command();
        full.build();
        let mut alone = run_alone(&global_args());
        alone.build();
        let whole_run = full.find_subcommand("run").unwrap();
        let alone_run = alone.find_subcommand("run").unwrap();
        // In the order positionals are numbered; the rest (flags) as a set.
        let args = |c: &clap::Command| -> (Vec<String>, Vec<String>) {
            let mut flags: Vec<String> = c
                .get_arguments()
                .filter(|a| !a.is_positional())
                .map(|a| format!("{a:?}"))
                .collect();
            flags.sort();
            let positionals = c.get_positionals().map(|a| format!("{a:?}")).collect();
            (positionals, flags)
        };
        assert!(args(whole_run).1.len() > 50);
        assert_eq!(args(alone_run), args(whole_run));
        let settings = |c: &clap::Command| {
            (
                c.is_disable_help_flag_set(),
                c.is_allow_missing_positional_set(),
                c.is_args_conflicts_with_subcommands_set(),
                c.is_allow_external_subcommands_set(),
                c.is_subcommand_required_set(),
                c.is_arg_required_else_help_set(),
                c.is_dont_delimit_trailing_values_set(),
                c.get_groups().map(|g| format!("{g:?}")).collect::<Vec<_>>(),
            )
        };
        assert_eq!(settings(alone_run), settings(whole_run));
        // At the top: the whole tree's global flags (it also has --help and --version).
        let (whole_top, alone_top) = (args(&full).1, args(&alone).1);
        assert!(alone_top.iter().all(|a| whole_top.contains(a)));
        assert_eq!(
            alone_top.len(),
            full.get_arguments().filter(|a| a.is_global_set()).count() + 1
        );
    }
}

//! The command line parsed, as cheaply as it can be: clap's derive gives the tree, and a
//! start parses only what argv names of it.

use crate::cli::Cli;
use clap::{CommandFactory, FromArgMatches};

/// The command line, parsed. Every subcommand's arguments are deferred (`defer = true` on
/// the subcommand enums): clap builds only the one argv names, where building the whole tree
/// cost ~1 ms of CPU and 260 page faults at every start. And the tree parsed holds only that
/// subcommand (see [`only_the_named_subcommand`]). Help, errors and suggestions read as
/// before: they come from the whole tree, which builds what it shows.
pub fn parse(argv: Vec<String>) -> Result<Cli, clap::Error> {
    let mut cmd = Cli::command();
    if let Some(mut one) = only_the_named_subcommand(&cmd, &argv) {
        let parsed = one
            .try_get_matches_from_mut(&argv)
            .ok()
            .and_then(|m| Cli::from_arg_matches(&m).ok().map(|c| (c, m)));
        if let Some((cli, matches)) = parsed {
            std::mem::forget((cmd, one, matches)); // freed at exit anyway
            return Ok(cli);
        }
    }
    let matches = cmd.try_get_matches_from_mut(argv)?;
    let cli = Cli::from_arg_matches(&matches);
    std::mem::forget((cmd, matches)); // freed at exit anyway; dropping costs ~0.1 ms
    cli
}

/// The tree with the global flags and only the subcommand argv names. Parsing copies every
/// global flag into every subcommand of the tree (7 flags into ~55 subcommands, ~400 copies
/// of an Arg and its help text at each start); here into one. None when argv names no
/// subcommand after the global flags (--help, --version, a typo, a flag only the whole tree
/// knows): the whole tree parses those. A parse that fails here is made again on the whole
/// tree, so what succeeds here is what the whole tree would have parsed.
fn only_the_named_subcommand(full: &clap::Command, argv: &[String]) -> Option<clap::Command> {
    let globals: Vec<&clap::Arg> = full.get_arguments().collect();
    let takes_value = |a: &&clap::Arg| a.get_action().takes_values();
    let mut words = argv.iter().skip(1);
    let name = loop {
        let word = words.next()?;
        if let Some(long) = word.strip_prefix("--") {
            let (flag, value) = match long.split_once('=') {
                Some((flag, _)) => (flag, true),
                None => (long, false),
            };
            let arg = globals.iter().find(|a| a.get_long() == Some(flag))?;
            if takes_value(arg) && !value {
                words.next()?;
            }
        } else if let Some(shorts) = word.strip_prefix('-') {
            // -q, -v, -vv: flags without a value only.
            let known = |c: char| {
                globals
                    .iter()
                    .any(|a| a.get_short() == Some(c) && !takes_value(a))
            };
            if shorts.is_empty() || !shorts.chars().all(known) {
                return None;
            }
        } else {
            break word;
        }
    };
    let sub = full.find_subcommand(name)?;
    Some(
        clap::Command::new("glassbox")
            .args(globals.into_iter().cloned())
            .subcommand(sub.clone()),
    )
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
        let full = Cli::command();
        let one = only_the_named_subcommand(&full, &words("glassbox -q --color never run x"));
        let names: Vec<_> = one
            .unwrap()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        assert_eq!(names, ["run"]);
        for line in [
            "glassbox --version",
            "glassbox -x run",
            "glassbox help run",
            "glassbox",
        ] {
            assert!(
                only_the_named_subcommand(&full, &words(line)).is_none(),
                "{line}"
            );
        }
    }
}

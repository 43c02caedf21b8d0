//! The binary: parse, dispatch, report an error once, exit with docker's codes.

use clap::{CommandFactory, FromArgMatches};

fn main() {
    // Called as `glassbox-runc` (or any name ending in runc), as engines call a runtime.
    let argv: Vec<String> = std::env::args().collect();
    if argv
        .first()
        .is_some_and(|a| glassbox::runtime::called_as_runtime(a))
    {
        std::process::exit(glassbox::runtime::main(&argv));
    }
    let cli = match parse(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    glassbox::error::exit::GLASSBOX
                }
                _ => glassbox::error::exit::GLASSBOX,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Rust starts with SIGPIPE ignored. A command that only prints gets the default back, so
    // `glassbox ps | head` ends quietly; the others keep ignoring it, so losing the
    // narration's reader cannot kill them before they undo what they made. (Every command
    // glassbox execs gets the default again: see `Sys::exec_env`.)
    if glassbox::ends_on_closed_pipe(&cli.command) {
        glassbox::sys::own::default_sigpipe();
    } else {
        end_quietly_when_the_reader_is_gone();
    }
    let code = match glassbox::dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            glassbox::report_error(&err, &cli.global);
            err.code
        }
    };
    std::process::exit(code);
}

/// With SIGPIPE ignored, println! (or eprintln!) panics when the reader has gone. Commands
/// print through `outln!` and the narrator, which stop printing instead; should a println!
/// remain, end as SIGPIPE would have, quietly, with the status a shell shows for it
/// (128 + 13); other panics are reported as usual.
fn end_quietly_when_the_reader_is_gone() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        // "failed printing to stdout: Broken pipe" (or to stderr).
        if text.starts_with("failed printing to std") && text.contains("Broken pipe") {
            std::process::exit(128 + libc::SIGPIPE);
        }
        default(info);
    }));
}

/// The command line, parsed. clap's derive makes every subcommand's arguments, and parsing
/// copies the global flags into each and builds them: ~1 ms of CPU and 260 page faults at every
/// start. Every subcommand but the one argv names (if any) is swapped for an empty stub before the
/// parse (`ps`: 2.3 → 1.8 ms). A parse that fails, or lands elsewhere, is made again with the
/// whole tree, so help, errors and suggestions read exactly as before.
fn parse(argv: Vec<String>) -> Result<glassbox::cli::Cli, clap::Error> {
    use glassbox::cli::Cli;
    let mut cmd = Cli::command();
    let asked = subcommand_word(&argv)
        .and_then(|w| cmd.find_subcommand(w))
        .map(|s| s.get_name().to_string());
    let others: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| Some(n) != asked.as_ref())
        .collect();
    for name in others {
        cmd = cmd.mut_subcommand(name.clone(), |_| clap::Command::new(name));
    }
    match (cmd.try_get_matches_from_mut(&argv), &asked) {
        (Ok(m), Some(keep)) if m.subcommand_name() == Some(keep.as_str()) => {
            let cli = Cli::from_arg_matches(&m);
            std::mem::forget((cmd, m)); // freed at exit anyway; dropping costs ~0.1 ms
            return cli;
        }
        // `--version` reads the same whatever the subcommands are (465 → 360 faults).
        (Err(e), None) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            std::mem::forget(cmd);
            return Err(e);
        }
        _ => cmd = Cli::command(),
    }
    let m = cmd.try_get_matches_from_mut(&argv)?;
    Cli::from_arg_matches(&m)
}

/// The first word of argv that is not a global flag or its value: the subcommand, if any.
fn subcommand_word(argv: &[String]) -> Option<&str> {
    let mut words = argv.iter().skip(1).map(String::as_str);
    while let Some(w) = words.next() {
        match w {
            "--" => return None,
            // The global flags that take their value in the next word.
            "--trace" | "--trace-format" | "--color" => {
                words.next();
            }
            _ if w.starts_with('-') => {}
            _ => return Some(w),
        }
    }
    None
}

//! The binary: parse, dispatch, report an error once, exit with docker's codes.

fn main() {
    // Called as `glassbox-runc` (or any name ending in runc), as engines call a runtime.
    let argv: Vec<String> = std::env::args().collect();
    if argv
        .first()
        .is_some_and(|a| glassbox::runtime::called_as_runtime(a))
    {
        std::process::exit(glassbox::runtime::main(&argv));
    }
    let cli = match glassbox::parse::parse(argv) {
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

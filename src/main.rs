//! The binary: parse, dispatch, report an error once, exit with docker's codes.

use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE; restore the default so `glassbox … | head` ends quietly, and so
    // the commands glassbox execs start with the disposition every program expects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match glassbox::cli::Cli::try_parse() {
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
    let code = match glassbox::dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            glassbox::report_error(&err, &cli.global);
            err.code
        }
    };
    std::process::exit(code);
}

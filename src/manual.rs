//! Shell completions and the man page, generated from the clap definitions in cli.rs, so
//! they never drift from the flags glassbox really takes.

use crate::cli::Cli;
use crate::error::{Error, Result};
use clap::CommandFactory;
use std::io::Write;

/// `glassbox completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "glassbox", &mut std::io::stdout());
    Ok(0)
}

/// `glassbox manpage`: glassbox(1) in roff, each subcommand as a section of its own.
pub fn manpage() -> Result<i32> {
    let mut out = Vec::new();
    write_manpage(&mut out)
        .and_then(|()| std::io::stdout().write_all(&out))
        .map_err(|e| {
            Error::io(
                "could not write the man page to stdout",
                &e,
                "redirect it to a file: glassbox manpage > glassbox.1",
            )
        })?;
    Ok(0)
}

fn write_manpage(out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build(); // every subcommand's arguments, which a parse builds only for the one used
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"GLASSBOX {}\"", name.to_uppercase())?;
        let sub_man = clap_mangen::Man::new(sub.clone().bin_name(format!("glassbox {name}")));
        // The subcommand's synopsis, description and options, under its own heading.
        let mut part = Vec::new();
        sub_man.render_synopsis_section(&mut part)?;
        sub_man.render_description_section(&mut part)?;
        sub_man.render_options_section(&mut part)?;
        out.extend(demote_sections(&part));
    }
    man.render_version_section(out)?;
    Ok(())
}

/// A subcommand's .SH headings as .SS, so they sit under its own section.
fn demote_sections(roff: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(roff)
        .lines()
        .map(|l| match l.strip_prefix(".SH ") {
            Some(rest) => format!(".SS {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect::<String>()
        .into_bytes()
}

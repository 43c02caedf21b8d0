//! `glassbox lesson [N] [--check]`: the lessons in the terminal.
//!
//! The lesson files are embedded at build time (build.rs). On a terminal a lesson is rendered
//! (headings, code, emphasis) and paged when longer than the screen; piped, it is printed as
//! plain markdown. Either way the hidden markup (checks, folded hints and solutions) is left
//! out unless `--hint` or `--solution` asks for it. `--check` runs the exercise checks and
//! says, for each, done or not yet.

pub mod check;
pub mod parse;

use crate::error::{Error, Result};
use parse::Lesson;
use std::io::{IsTerminal, Write};

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));

/// Every lesson, in order.
pub fn all() -> Vec<Lesson> {
    LESSON_FILES
        .iter()
        .map(|(name, text)| parse::parse(name, text))
        .collect()
}

fn find(n: u32) -> Result<Lesson> {
    all().into_iter().find(|l| l.number == n).ok_or_else(|| {
        Error::usage(
            format!("there is no lesson {n}"),
            "run `glassbox lesson` to list the lessons",
        )
    })
}

pub fn main(a: &crate::cli::LessonArgs) -> Result<i32> {
    if let (Some(n), true) = (a.number, a.files) {
        return write_files(&find(n)?);
    }
    match (a.number, a.check) {
        (None, _) => {
            list();
            Ok(0)
        }
        (Some(n), false) => {
            show(&find(n)?, a.hint || a.solution, a.solution);
            Ok(0)
        }
        (Some(n), true) => check::check(&find(n)?),
    }
}

/// `--files`: the lesson's files into the current directory; an existing one is kept.
fn write_files(l: &Lesson) -> Result<i32> {
    if l.files.is_empty() {
        println!("Lesson {} uses no files.", l.number);
    }
    for (name, content) in &l.files {
        let path = std::path::Path::new(name);
        if path.exists() {
            println!("kept {name} (it exists already)");
            continue;
        }
        std::fs::write(path, content).map_err(|e| {
            Error::io(
                format!("cannot write {name}"),
                &e,
                "run it in a directory you can write to",
            )
        })?;
        println!("wrote {name}");
    }
    Ok(0)
}

fn list() {
    println!(
        "The lessons (read one with `glassbox lesson N`; `--check` checks your exercises, `--hint` and `--solution` help with them):"
    );
    for l in all() {
        println!("  {:>2}  {}", l.number, l.title);
    }
}

fn show(l: &Lesson, hints: bool, solutions: bool) {
    let text = parse::shown(l.text, hints, solutions);
    let out = std::io::stdout();
    if !out.is_terminal() {
        print!("{text}");
        return;
    }
    let (width, height) = termimad::terminal_size();
    let rendered = render_terminal(&text, width.clamp(40, 100) as usize);
    if rendered.lines().count() + 2 > height as usize && page(&rendered) {
        return;
    }
    print!("{rendered}");
}

/// Markdown as a terminal shows it (headings, code, emphasis), `width` columns wide.
pub fn render_terminal(markdown: &str, width: usize) -> String {
    termimad::MadSkin::default()
        .text(markdown, Some(width))
        .to_string()
}

/// Show `text` through the pager (`$PAGER`, else `less -R`); false if none could start.
fn page(text: &str) -> bool {
    let pager = std::env::var("PAGER").unwrap_or_else(|_| "less -R".into());
    let mut parts = pager.split_whitespace();
    let Some(prog) = parts.next() else {
        return false;
    };
    let Ok(mut child) = std::process::Command::new(prog)
        .args(parts)
        .stdin(std::process::Stdio::piped())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait().is_ok()
}

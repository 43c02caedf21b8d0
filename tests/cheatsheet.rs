//! The book's cheat sheet (lessons/cheatsheet.md): every glassbox command it names exists,
//! and the book lists it.

mod common;
use common::*;

fn cheatsheet() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lessons/cheatsheet.md"
    ))
    .unwrap()
}

/// The `glassbox …` commands in the sheet's `code` spans, as word lists.
fn glassbox_commands(markdown: &str) -> Vec<Vec<String>> {
    markdown
        .lines()
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter_map(|code| code.strip_prefix("glassbox "))
        .map(|rest| rest.split_whitespace().map(String::from).collect())
        .collect()
}

/// `glassbox WORDS… --help` exits 0.
fn help_works(words: &[String]) -> bool {
    glassbox()
        .args(words)
        .arg("--help")
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn every_glassbox_command_on_the_cheat_sheet_exists() {
    let commands = glassbox_commands(&cheatsheet());
    assert!(commands.len() >= 30, "{commands:?}");
    let mut problems = Vec::new();
    for words in &commands {
        // The subcommand, and a sub-subcommand where it has some (network create).
        let mut path = vec![words[0].clone()];
        if let Some(next) = words
            .get(1)
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        {
            let o = glassbox().arg(&words[0]).arg("--help").output().unwrap();
            if stdout(&o).contains("\nCommands:") {
                path.push(next.clone());
            }
        }
        if !help_works(&path) {
            problems.push(format!(
                "`glassbox {}`: `glassbox {} --help` fails",
                words.join(" "),
                path.join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_book_lists_the_cheat_sheet() {
    let summary =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/SUMMARY.md"))
            .unwrap();
    assert!(summary.contains("(cheatsheet.md)"), "{summary}");
}

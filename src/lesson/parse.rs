//! Lessons as data: title, runnable console blocks, exercises with their checks.
//!
//! A lesson is markdown. Commands the learner types are in ```console blocks, each command
//! on a line starting with `$ ` (a trailing `\` continues it on the next line) followed by
//! the output to expect. In expected output, a line `...` stands for any number of lines and
//! `[..]` inside a line for any text (pids, addresses, times). An exercise is a `### Exercise`
//! heading followed, anywhere in its section, by `<!-- check: SHELL -->` (exits 0 when the
//! learner has done it; hidden everywhere), a hint and a solution folded in
//! `<details><summary>Hint</summary>` … `</details>` (and `Solution`, whose ```sh block is
//! what the tests run to show the check turns to done), and optionally
//! `<!-- cleanup: SHELL -->` (what the tests run after the solution, on SIGTERM). The folds
//! open with a click in the book; the terminal leaves them out unless asked for (`--hint`,
//! `--solution`). A lesson that needs its own network
//! namespace when tested says `<!-- test: netns -->`. A fenced block whose info string has
//! `file=NAME` (```` ```c file=escape.c ````) is a file the lesson's commands use: the tests
//! write it into the working directory first, and `glassbox lesson N --files` writes it out
//! for the learner.

/// One command of a console block and the output the lesson shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub command: String,
    pub expected: Vec<String>,
    /// The line in the lesson file where the command is.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exercise {
    pub title: String,
    pub check: Option<String>,
    pub hint: Option<String>,
    pub solution: Option<String>,
    pub cleanup: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Lesson {
    pub number: u32,
    pub slug: String,
    pub title: String,
    pub text: &'static str,
    pub steps: Vec<Step>,
    pub exercises: Vec<Exercise>,
    /// Test this lesson inside a throwaway network namespace.
    pub needs_netns: bool,
    /// Files the commands use: (name, content).
    pub files: Vec<(String, String)>,
}

fn comment_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let t = line.trim();
    let inner = t.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    inner.strip_prefix(key)?.strip_prefix(':').map(str::trim)
}

/// Parse one lesson file (`NN-slug.md`).
pub fn parse(file_name: &str, text: &'static str) -> Lesson {
    let stem = file_name.trim_end_matches(".md");
    let (num, slug) = stem.split_once('-').unwrap_or(("0", stem));
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or(stem)
        .trim()
        .to_string();
    let mut steps = Vec::new();
    let mut exercises: Vec<Exercise> = Vec::new();
    let mut in_console = false;
    let mut in_other_fence = false;
    let mut pending: Option<Step> = None;
    let mut continuing = false;
    let mut needs_netns = false;
    let mut files: Vec<(String, String)> = Vec::new();
    let mut in_file: Option<(String, String)> = None;
    let mut fold: Option<(Fold, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some((kind, body)) = fold.as_mut() {
            if line.trim() == "</details>" {
                let (kind, body) = (*kind, std::mem::take(body));
                fold = None;
                if let Some(e) = exercises.last_mut() {
                    match kind {
                        Fold::Hint => e.hint = Some(join_prose(&body)),
                        Fold::Solution => e.solution = Some(code_of(&body)),
                    }
                }
            } else {
                body.push(line);
            }
            continue;
        }
        if !in_console && !in_other_fence && in_file.is_none() {
            if let Some(kind) = fold_start(line) {
                fold = Some((kind, Vec::new()));
                continue;
            }
        }
        let fence = line.trim_start().starts_with("```");
        if let Some((name, content)) = in_file.as_mut() {
            if fence {
                files.push((std::mem::take(name), std::mem::take(content)));
                in_file = None;
                in_other_fence = false;
            } else {
                content.push_str(line);
                content.push('\n');
            }
            continue;
        }
        if in_console {
            if fence {
                in_console = false;
                steps.extend(pending.take());
                continue;
            }
            if continuing {
                if let Some(s) = pending.as_mut() {
                    let part = line.trim_end();
                    continuing = part.ends_with('\\');
                    s.command.push('\n');
                    s.command.push_str(part);
                }
                continue;
            }
            if let Some(cmd) = line.strip_prefix("$ ") {
                steps.extend(pending.take());
                continuing = cmd.trim_end().ends_with('\\');
                pending = Some(Step {
                    command: cmd.trim_end().to_string(),
                    expected: Vec::new(),
                    line: i + 1,
                });
            } else if let Some(s) = pending.as_mut() {
                s.expected.push(line.trim_end().to_string());
            }
            continue;
        }
        if fence {
            if in_other_fence {
                in_other_fence = false;
            } else if line
                .trim_start()
                .trim_start_matches('`')
                .starts_with("console")
            {
                in_console = true;
            } else {
                in_other_fence = true;
                let file = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("file="));
                if let Some(name) = file.filter(|n| !n.contains('/') && !n.starts_with('.')) {
                    in_file = Some((name.to_string(), String::new()));
                }
            }
            continue;
        }
        if in_other_fence {
            continue;
        }
        if let Some(t) = line.strip_prefix("### Exercise") {
            let title = t
                .trim_start_matches(|c: char| c == ':' || c.is_ascii_digit() || c == ' ')
                .trim()
                .to_string();
            exercises.push(Exercise {
                title,
                check: None,
                hint: None,
                solution: None,
                cleanup: None,
            });
        } else if let Some(c) = comment_value(line, "check") {
            if let Some(e) = exercises.last_mut() {
                e.check = Some(c.to_string());
            }
        } else if let Some(c) = comment_value(line, "cleanup") {
            if let Some(e) = exercises.last_mut() {
                e.cleanup = Some(c.to_string());
            }
        } else if comment_value(line, "test") == Some("netns") {
            needs_netns = true;
        }
    }
    Lesson {
        number: num.parse().unwrap_or(0),
        slug: slug.to_string(),
        title,
        text,
        steps,
        exercises,
        needs_netns,
        files,
    }
}

/// The two folds an exercise may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    Hint,
    Solution,
}

/// `<details><summary>Hint</summary>` (or `Solution`) opens a fold.
fn fold_start(line: &str) -> Option<Fold> {
    let inner = line
        .trim()
        .strip_prefix("<details><summary>")?
        .strip_suffix("</summary>")?;
    match inner {
        "Hint" => Some(Fold::Hint),
        "Solution" => Some(Fold::Solution),
        _ => None,
    }
}

/// A hint's lines as one line of text (`--check` prints it after a "not yet").
fn join_prose(body: &[&str]) -> String {
    body.iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shell inside a solution's fenced block (or the whole fold when it has none).
fn code_of(body: &[&str]) -> String {
    let fences: Vec<usize> = (0..body.len())
        .filter(|&i| body[i].trim_start().starts_with("```"))
        .collect();
    let lines = match fences.as_slice() {
        [a, b, ..] => &body[a + 1..*b],
        _ => body,
    };
    lines.join("\n").trim().to_string()
}

/// The lesson as a learner reads it: no HTML comments, and the hint and solution folds
/// only when asked for (as "Hint:" / "Solution:" paragraphs where they stand).
pub fn shown(text: &str, hints: bool, solutions: bool) -> String {
    let mut out = String::new();
    let mut fold: Option<Fold> = None;
    let mut comment = false;
    let mut fence = false;
    // Where markup was left out, the blank line after it goes too (no holes in the text).
    let mut hole = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(kind) = fold {
            if t == "</details>" {
                fold = None;
                hole = true;
            } else if (kind == Fold::Hint && hints) || (kind == Fold::Solution && solutions) {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if comment {
            comment = !t.contains("-->");
            hole = true;
            continue;
        }
        if t.starts_with("```") {
            fence = !fence;
        } else if !fence {
            if let Some(kind) = fold_start(line) {
                fold = Some(kind);
                let (wanted, label) = match kind {
                    Fold::Hint => (hints, "**Hint:**"),
                    Fold::Solution => (solutions, "**Solution:**"),
                };
                if wanted {
                    out.push_str(label);
                    out.push('\n');
                }
                continue;
            }
            if t.starts_with("<!--") {
                comment = !t.ends_with("-->");
                hole = true;
                continue;
            }
            if hole && t.is_empty() && (out.is_empty() || out.ends_with("\n\n")) {
                continue;
            }
        }
        hole = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whether `actual` output matches the `expected` lines (`...` lines and `[..]` wildcards).
pub fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "..." => {
            (0..=actual.len()).any(|skip| output_matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => match actual.split_first() {
            Some((a, arest)) => line_matches(e, a) && output_matches(rest, arest),
            None => false,
        },
    }
}

/// One line against a pattern where `[..]` stands for any text.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    wildcard_match(pattern.trim_end(), line.trim_end(), "[..]")
}

/// Whether `text` matches `pattern`, where each `wildcard` in the pattern stands for any
/// text (also used by the strace-honesty harness, with `...`).
pub fn wildcard_match(pattern: &str, text: &str, wildcard: &str) -> bool {
    let parts: Vec<&str> = pattern.split(wildcard).collect();
    if parts.len() == 1 {
        return parts[0] == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Lesson: a sample\n<!-- test: netns -->\n\n```console\n$ echo hi\nhi\n$ printf 'a\\nb\\n' \\\n  | cat\na\n...\n```\n\n```sh\n$ not a step\n```\n\n### Exercise 1: Do it\nText.\n<!-- check: test -e /tmp -->\n<details><summary>Hint</summary>\n\nmake\nit\n\n</details>\n<details><summary>Solution</summary>\n\n```sh\nmkdir /tmp\n```\n\n</details>\n<!-- cleanup: true -->\nAfter.\n";

    #[test]
    fn parses_steps_exercises_and_options() {
        let l = parse("01-sample.md", SAMPLE);
        assert_eq!(
            (l.number, l.slug.as_str(), l.title.as_str()),
            (1, "sample", "Lesson: a sample")
        );
        assert!(l.needs_netns);
        assert_eq!(l.steps.len(), 2);
        assert_eq!(
            l.steps[0],
            Step {
                command: "echo hi".into(),
                expected: vec!["hi".into()],
                line: 5
            }
        );
        assert_eq!(l.steps[1].command, "printf 'a\\nb\\n' \\\n  | cat");
        assert_eq!(l.steps[1].expected, vec!["a", "..."]);
        assert_eq!(
            l.exercises,
            vec![Exercise {
                title: "Do it".into(),
                check: Some("test -e /tmp".into()),
                hint: Some("make it".into()),
                solution: Some("mkdir /tmp".into()),
                cleanup: Some("true".into()),
            }]
        );
    }

    #[test]
    fn shown_hides_comments_and_folds_unless_asked() {
        let plain = shown(SAMPLE, false, false);
        assert!(
            !plain.contains("<!--") && !plain.contains("<details>"),
            "{plain}"
        );
        assert!(
            !plain.contains("make") && !plain.contains("mkdir"),
            "{plain}"
        );
        assert!(
            plain.contains("Text.\n") && plain.contains("After.\n"),
            "{plain}"
        );
        assert!(plain.contains("$ printf"), "console blocks stay: {plain}");
        let hints = shown(SAMPLE, true, false);
        assert!(hints.contains("**Hint:**\n\nmake\nit\n"), "{hints}");
        assert!(!hints.contains("mkdir"), "{hints}");
        let both = shown(SAMPLE, true, true);
        assert!(
            both.contains("**Solution:**\n\n```sh\nmkdir /tmp\n```"),
            "{both}"
        );
        assert!(
            !both.contains("<!--") && !both.contains("</details>"),
            "{both}"
        );
    }

    #[test]
    fn wildcards_match_what_varies_and_nothing_else() {
        assert!(line_matches(
            "clone(child_stack=NULL, flags=SIGCHLD) = [..]",
            "clone(child_stack=NULL, flags=SIGCHLD) = 4242"
        ));
        assert!(!line_matches("pid [..] ended", "pid 7 is running"));
        assert!(output_matches(
            &["a".into(), "...".into(), "z".into()],
            &["a", "b", "c", "z"]
        ));
        assert!(output_matches(&["a".into(), "...".into()], &["a"]));
        assert!(!output_matches(&["a".into(), "z".into()], &["a", "b", "z"]));
        assert!(!output_matches(&["a".into()], &["a", "extra"]));
    }
}

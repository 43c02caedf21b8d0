//! Every command of every lesson runs, and its output must match what the lesson shows.
//!
//! Each lesson runs as one shell session in a fresh working directory (so a lesson's steps
//! build on each other, as they do for a learner), with stderr merged into stdout as a
//! terminal shows them, colour off, glassbox's state in a temp dir, and, for lessons that
//! say so, inside a throwaway network namespace.

mod common;
use common::*;
use glassbox::lesson::parse::{output_matches, shown, Exercise, Lesson};
use std::process::{Command, Stdio};

const MARK: &str = "@@glassbox-lesson-step@@";

/// PATH with the glassbox under test first, as a learner who installed it has.
fn path_with_glassbox() -> String {
    let bin_dir = bin().parent().unwrap().to_path_buf();
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// What `glassbox cleanup` still finds in a state directory: a leak, or None.
fn leftovers(state: &std::path::Path) -> Option<String> {
    // A bridged container's host veth goes with its namespace a moment after glassbox ended,
    // and a watcher strikes its journal entry then: give it that moment (a deadline, so an
    // entry nobody strikes still shows below).
    let link_entry = || {
        std::fs::read_dir(state.join("journal"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"kind\": \"link\""))
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while link_entry() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let o = glassbox()
        .arg("cleanup")
        .env("GLASSBOX_STATE_DIR", state)
        .output()
        .unwrap();
    let out = stdout(&o);
    (!out.starts_with("Nothing to clean up")).then_some(out)
}

/// The lesson run and the exercise checks both make cgroups and sleeps: one at a time.
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One lesson in a fresh working directory, on the state (and data) directory the lessons
/// before it used, as one learner's machine has it.
fn run_lesson(l: &Lesson, state: &std::path::Path) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    for (name, content) in &l.files {
        std::fs::write(work.path().join(name), content).unwrap();
    }
    let mut script = String::from("exec 2>&1\n");
    for s in &l.steps {
        script.push_str(&format!("echo '{MARK}'\n{}\n", s.command));
    }
    script.push_str(&format!("echo '{MARK}'\n"));
    let path = path_with_glassbox();
    let mut cmd = if l.needs_netns {
        let mut c = std::process::Command::new("unshare");
        // The throwaway namespace stands for a fresh host: its loopback is up, and it does
        // not forward (a new namespace copies ip_forward from the machine's, which another
        // program may have set).
        let fresh_host = "ip link set lo up\necho 0 > /proc/sys/net/ipv4/ip_forward";
        c.args(["--net", "sh", "-c", &format!("{fresh_host}\n{script}")]);
        c
    } else {
        let mut c = std::process::Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let out = cmd
        .current_dir(work.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .env("GLASSBOX_STATE_DIR", state)
        // Where a learner's data is /var/lib/glassbox, the lessons' commands name
        // ${GLASSBOX_DATA_DIR:-/var/lib/glassbox}: here, the test's own.
        .env("GLASSBOX_DATA_DIR", state.join("data"))
        .env_remove("GLASSBOX_TRACE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let chunks: Vec<&str> = text.split(&format!("{MARK}\n")).skip(1).collect();
    let mut problems = Vec::new();
    for (i, s) in l.steps.iter().enumerate() {
        let got: Vec<&str> = chunks
            .get(i)
            .map(|c| c.lines().collect())
            .unwrap_or_default();
        if !output_matches(&s.expected, &got) {
            problems.push(format!(
                "lessons/{:02}-{}.md:{}: `$ {}`\n  the lesson shows:\n    {}\n  it printed:\n    {}",
                l.number,
                l.slug,
                s.line,
                s.command,
                s.expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    // Whatever a lesson left in glassbox's journal is a leak.
    if let Some(left) = leftovers(state) {
        problems.push(format!(
            "lesson {} left host changes behind:
{left}",
            l.number
        ));
    }
    problems
}

#[test]
fn every_lesson_command_shows_what_the_lesson_says() {
    if !root_or_skip("every_lesson_command_shows_what_the_lesson_says") {
        return;
    }
    let _one_at_a_time = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let mounts = host_mounts();
    let mut problems = Vec::new();
    // Every lesson in order, on one fresh data directory, as a learner follows them: what
    // one lesson leaves behind shows in the next one's output.
    let state = tempfile::tempdir().unwrap();
    let lessons = glassbox::lesson::all();
    for l in &lessons {
        problems.extend(run_lesson(l, state.path()));
    }
    // No lesson means to keep a container: each removes the ones it made.
    let o = glassbox()
        .args(["ps", "-a"])
        .env("GLASSBOX_STATE_DIR", state.path())
        .env("GLASSBOX_DATA_DIR", state.path().join("data"))
        .output()
        .unwrap();
    if stdout(&o).lines().count() != 1 {
        problems.push(format!(
            "the lessons, followed in order, left containers behind:\n{}",
            stdout(&o)
        ));
    }
    assert!(
        problems.is_empty(),
        "{} lesson step(s) drifted from the tool:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    assert_eq!(
        host_mounts(),
        mounts,
        "a lesson changed the host's mount table"
    );
}

#[test]
fn every_lesson_has_steps_and_checked_exercises() {
    for l in glassbox::lesson::all() {
        assert!(!l.steps.is_empty(), "lesson {} has no commands", l.number);
        assert!(
            !l.exercises.is_empty(),
            "lesson {} has no exercises",
            l.number
        );
        for e in &l.exercises {
            assert!(
                e.check.is_some() && e.hint.is_some() && e.solution.is_some(),
                "lesson {} exercise {:?} lacks a check, a hint or a solution",
                l.number,
                e.title
            );
        }
    }
}

#[test]
fn lesson_lists_and_prints_when_piped() {
    let o = glassbox().arg("lesson").output().unwrap();
    assert!(o.status.success());
    for l in glassbox::lesson::all() {
        assert!(stdout(&o).contains(&l.title), "{}", stdout(&o));
        let one = glassbox()
            .args(["lesson", &l.number.to_string()])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&one),
            shown(l.text, false, false),
            "piped, a lesson prints as its markdown, without the hidden markup"
        );
    }
    let missing = glassbox().args(["lesson", "99"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(125));
    assert!(stderr(&missing).contains("there is no lesson 99"));
}

/// What must never reach a learner's eyes unasked: the markup and the checks' shell.
fn raw_markup(text: &str) -> Vec<&'static str> {
    // docker build's ` ---> ` arrows are output, not the end of a comment.
    let text = &text.replace("--->", "");
    [
        "<!--",
        "-->",
        "&lt;!--",
        "<details",
        "</details>",
        "<summary",
        "check:",
        "$(mine",
    ]
    .into_iter()
    .filter(|m| text.contains(m))
    .collect()
}

/// Text without terminal escape sequences (ESC [ … letter).
fn without_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The parts of markdown a learner copies: fenced lines and `inline code`.
fn code_in(markdown: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        } else if fence {
            code.push(line.trim().to_string());
        } else {
            code.extend(line.split('`').skip(1).step_by(2).map(String::from));
        }
    }
    code
}

/// Every lesson in the terminal (piped, rendered, with --hint and --solution) and in the book
/// shows no raw markup; hints and solutions only when asked for, folded in the book; the
/// lesson names `glassbox lesson N --check`; a `*` in a command shows whole.
#[test]
fn every_lesson_shows_no_raw_markup_in_the_terminal_or_the_book() {
    let mut problems = Vec::new();
    let lessons = glassbox::lesson::all();
    for l in &lessons {
        let n = l.number.to_string();
        let form = |flag: Option<&str>| {
            let mut c = glassbox();
            c.args(["lesson", &n]);
            c.args(flag);
            let o = c.output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o)
        };
        let (plain, hints, solutions) =
            (form(None), form(Some("--hint")), form(Some("--solution")));
        let check_named = format!("glassbox lesson {n} --check");
        for (name, text) in [
            ("", &plain),
            (" --hint", &hints),
            (" --solution", &solutions),
        ] {
            let raw = raw_markup(text);
            if !raw.is_empty() {
                problems.push(format!("`glassbox lesson {n}{name}` shows {raw:?}"));
            }
            if !text.contains(&check_named) {
                problems.push(format!(
                    "`glassbox lesson {n}{name}` never names `{check_named}`"
                ));
            }
        }
        for e in &l.exercises {
            let hint = e.hint.as_deref().unwrap_or_default();
            let first = hint
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            let solution = e.solution.as_deref().unwrap_or_default();
            if plain.contains("**Hint:**") || plain.contains("**Solution:**") {
                problems.push(format!(
                    "`glassbox lesson {n}` shows hints or solutions unasked"
                ));
            }
            if !hints.contains(&first) || hints.contains("**Solution:**") {
                problems.push(format!(
                    "`glassbox lesson {n} --hint`: no hint {first:?}, or a solution"
                ));
            }
            if !solutions.contains(solution) || !solutions.contains(&first) {
                problems.push(format!(
                    "`glassbox lesson {n} --solution` lacks {solution:?}"
                ));
            }
        }
        // On a terminal: rendered as termimad draws it; what a learner copies stays whole.
        for (name, markdown) in [("", &plain), (" --solution", &solutions)] {
            let drawn = without_escapes(&glassbox::lesson::render_terminal(markdown, 200));
            let raw = raw_markup(&drawn);
            if !raw.is_empty() {
                problems.push(format!("lesson {n}{name} on a terminal shows {raw:?}"));
            }
            for code in code_in(markdown).iter().filter(|c| c.contains('*')) {
                if !drawn.contains(code.as_str()) {
                    problems.push(format!("lesson {n}{name} on a terminal mangles `{code}`"));
                }
            }
        }
    }
    // In the book: hints and solutions folded in <details>, the markup nowhere in sight.
    if tool_or_skip(
        "every_lesson_shows_no_raw_markup_in_the_terminal_or_the_book (book)",
        "mdbook",
    ) {
        let out = tempfile::tempdir().unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
        let o = Command::new("mdbook")
            .arg("build")
            .arg(&dir)
            .arg("--dest-dir")
            .arg(out.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        for l in &lessons {
            let page = out.path().join(format!("{:02}-{}.html", l.number, l.slug));
            let html = std::fs::read_to_string(&page).unwrap();
            // HTML comments are hidden by the browser; what is left is what a reader sees.
            let mut seen = html.clone();
            while let (Some(a), Some(b)) = (seen.find("<!--"), seen.find("-->")) {
                if b < a {
                    break;
                }
                seen.replace_range(a..b + 3, "");
            }
            if seen.contains("&lt;!--") || seen.contains("$(mine") || seen.contains("check: ") {
                problems.push(format!("{} shows raw markup", page.display()));
            }
            let folds = |what: &str| {
                seen.matches(&format!("<details><summary>{what}</summary>"))
                    .count()
            };
            if folds("Hint") != l.exercises.len() || folds("Solution") != l.exercises.len() {
                problems.push(format!(
                    "{}: {} hint and {} solution folds for {} exercises",
                    page.display(),
                    folds("Hint"),
                    folds("Solution"),
                    l.exercises.len()
                ));
            }
            if !seen.contains(&format!("glassbox lesson {} --check", l.number)) {
                problems.push(format!("{} never names --check", page.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A command with none of the caller's GLASSBOX_* settings, glassbox on PATH, colour off,
/// working in `dir` with the state directory `state`: one learner's terminal.
fn learner_command(prog: &str, dir: &std::path::Path, state: &std::path::Path) -> Command {
    let mut c = Command::new(prog);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GLASSBOX_") {
            c.env_remove(key);
        }
    }
    c.current_dir(dir)
        .env("PATH", path_with_glassbox())
        .env("GLASSBOX_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// An exercise's solution as the tests run it: kept alive until SIGTERM, then its cleanup;
/// inside a throwaway network namespace for a lesson tested in one.
fn solution_argv(l: &Lesson, e: &Exercise) -> Vec<String> {
    let script = format!(
        "trap '{}; exit' TERM\n{}\nsleep 300 & wait\n",
        e.cleanup.as_deref().unwrap_or("true"),
        e.solution.as_deref().unwrap_or("false")
    );
    if l.needs_netns {
        let inner = format!("ip link set lo up\n{script}");
        ["unshare", "--net", "sh", "-c", &inner]
            .map(String::from)
            .to_vec()
    } else {
        ["sh", "-c", &script].map(String::from).to_vec()
    }
}

/// SIGTERM to a process group (glassbox passes it on, then removes what it made), then
/// SIGKILL to whatever is left.
fn stop_group(leader: i32) {
    unsafe { libc::kill(-leader, libc::SIGTERM) };
    for _ in 0..500 {
        if unsafe { libc::kill(-leader, 0) } != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unsafe { libc::kill(-leader, libc::SIGKILL) };
}

/// `glassbox lesson N --check` from the learner's terminal: its own session, in `dir`.
fn check_output(n: u32, dir: &std::path::Path, state: &std::path::Path) -> String {
    let o = learner_command("setsid", dir, state)
        .arg(bin())
        .args(["lesson", &n.to_string(), "--check"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    stdout(&o)
}

/// Another learner on the same machine does the exercise, in a terminal (session) and
/// directory of their own, and waits until their own check says done. Returns their
/// process group leader, or None when their check never said done.
fn start_other_learner(
    l: &Lesson,
    e: &Exercise,
    done_line: &str,
    dir: &std::path::Path,
    state: &std::path::Path,
) -> Option<i32> {
    let script = format!(
        "echo $$ > leader; \"$@\" & until glassbox lesson {} --check | grep -qF \"$DONE\"; do sleep 0.1; done; touch ready; wait",
        l.number
    );
    // setsid -f: a session of their own, and not a child of this test (our learner's shell).
    learner_command("setsid", dir, state)
        .args(["-f", "sh", "-c", &script, "other-learner"])
        .args(solution_argv(l, e))
        .env("DONE", done_line)
        .status()
        .unwrap();
    let leader = || -> Option<i32> {
        std::fs::read_to_string(dir.join("leader"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    for _ in 0..600 {
        if dir.join("ready").exists() {
            return leader();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if let Some(pid) = leader() {
        stop_group(pid);
    }
    None
}

/// Each check, twice: another learner's finished exercise (the same solution, run from their
/// own terminal, directory and state) must leave ours "not yet"; our own solution must make
/// it "done".
#[test]
fn every_exercise_check_sees_only_the_learners_own_work() {
    if !root_or_skip("every_exercise_check_sees_only_the_learners_own_work") {
        return;
    }
    let _one_at_a_time = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let mut problems = Vec::new();
    for l in glassbox::lesson::all() {
        for (i, e) in l.exercises.iter().enumerate() {
            let what = format!("lesson {} exercise {}", l.number, i + 1);
            if e.solution.is_none() {
                problems.push(format!("{what} has no solution to test its check with"));
                continue;
            }
            let done_line = format!("✓ exercise {}: {} — done", i + 1, e.title);
            let (mine, my_state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (theirs, their_state) =
                (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

            let other = start_other_learner(&l, e, &done_line, theirs.path(), their_state.path());
            if other.is_none() {
                problems.push(format!(
                    "{what}: another learner ran the solution, and their own check never said done"
                ));
            }
            let before = check_output(l.number, mine.path(), my_state.path());
            if before.contains(&done_line) {
                problems.push(format!(
                    "{what}: done before the learner did anything (another learner's work counted):\n{before}"
                ));
            }

            // Our learner does it: the solution in its own process group, a child of this test.
            let argv = solution_argv(&l, e);
            let mut child = learner_command("setsid", mine.path(), my_state.path())
                .args(&argv)
                .spawn()
                .unwrap();
            let mut after = String::new();
            for _ in 0..200 {
                after = check_output(l.number, mine.path(), my_state.path());
                if after.contains(&done_line) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            stop_group(child.id() as i32);
            let _ = child.wait();
            if let Some(pid) = other {
                stop_group(pid);
            }
            if !after.contains(&done_line) {
                problems.push(format!(
                    "{what}: the check never said done after the solution:\n{after}"
                ));
            }
            for state in [my_state.path(), their_state.path()] {
                if let Some(left) = leftovers(state) {
                    problems.push(format!("{what}: the solution left host changes:\n{left}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_lessons_build_as_a_book() {
    if !tool_or_skip("the_lessons_build_as_a_book", "mdbook") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let lessons = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let o = std::process::Command::new("mdbook")
        .arg("build")
        .arg(&lessons)
        .arg("--dest-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Every lesson is in the book's table of contents, and became a page.
    let summary = std::fs::read_to_string(lessons.join("SUMMARY.md")).unwrap();
    for l in glassbox::lesson::all() {
        let file = format!("{:02}-{}.md", l.number, l.slug);
        assert!(
            summary.contains(&format!("({file})")),
            "{file} is not in lessons/SUMMARY.md"
        );
        assert!(
            out.path().join(file.replace(".md", ".html")).exists(),
            "{file} was not built"
        );
    }
}

//! Every command of every lesson runs, and its output must match what the lesson shows.
//!
//! Each lesson runs as one shell session in a fresh working directory (so a lesson's steps
//! build on each other, as they do for a learner), with stderr merged into stdout as a
//! terminal shows them, colour off, glassbox's state in a temp dir, and, for lessons that
//! say so, inside a throwaway network namespace.

mod common;
use common::*;
use glassbox::lesson::parse::{output_matches, Lesson};

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

fn run_lesson(l: &Lesson) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
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
        // The throwaway namespace stands for the host: its loopback is up, as a host's is.
        c.args(["--net", "sh", "-c", &format!("ip link set lo up\n{script}")]);
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
        .env("GLASSBOX_STATE_DIR", state.path())
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
    if let Some(left) = leftovers(state.path()) {
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
    let lessons = glassbox::lesson::all();
    for l in &lessons {
        problems.extend(run_lesson(l));
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
                e.check.is_some() && e.hint.is_some(),
                "lesson {} exercise {:?} lacks a check or a hint",
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
            l.text,
            "piped, a lesson prints as its markdown"
        );
    }
    let missing = glassbox().args(["lesson", "99"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(125));
    assert!(stderr(&missing).contains("there is no lesson 99"));
}

#[test]
fn every_exercise_check_turns_done_when_its_solution_runs() {
    if !root_or_skip("every_exercise_check_turns_done_when_its_solution_runs") {
        return;
    }
    let _one_at_a_time = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let path = path_with_glassbox();
    let mut problems = Vec::new();
    for l in glassbox::lesson::all() {
        for (i, e) in l.exercises.iter().enumerate() {
            let Some(solution) = &e.solution else {
                problems.push(format!(
                    "lesson {} exercise {} has no solution to test its check with",
                    l.number,
                    i + 1
                ));
                continue;
            };
            let done_line = format!("✓ exercise {}: {} — done", i + 1, e.title);
            // The solution runs in its own process group, so all of it can be stopped after.
            let state = tempfile::tempdir().unwrap();
            let mut child = std::process::Command::new("setsid")
                .args(["sh", "-c", solution])
                .env("PATH", &path)
                .env("GLASSBOX_STATE_DIR", state.path())
                .env("NO_COLOR", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut seen = String::new();
            for _ in 0..100 {
                let o = glassbox()
                    .args(["lesson", &l.number.to_string(), "--check"])
                    .output()
                    .unwrap();
                seen = stdout(&o);
                if seen.contains(&done_line) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            // SIGTERM first: glassbox passes it on, then removes what it made.
            let group = -(child.id() as i32);
            unsafe { libc::kill(group, libc::SIGTERM) };
            let _ = child.wait();
            for _ in 0..500 {
                if unsafe { libc::kill(group, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            unsafe { libc::kill(group, libc::SIGKILL) };
            if let Some(left) = leftovers(state.path()) {
                problems.push(format!(
                    "lesson {} exercise {}: the solution left host changes:
{left}",
                    l.number,
                    i + 1
                ));
            }
            if !seen.contains(&done_line) {
                problems.push(format!(
                    "lesson {} exercise {}: the check never said done:\n{seen}",
                    l.number,
                    i + 1
                ));
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

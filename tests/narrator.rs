//! The narrator's levels, colour rules and JSON trace, seen from the outside on
//! `glassbox unshare --uts --hostname x -- true` (root) and its `--dry-run` (no root).

mod common;
use common::*;
use serde_json::Value;

const SUBJECT: &[&str] = &["unshare", "--uts", "--hostname", "gbnarr", "--", "true"];

/// Run glassbox with `flags` before the subject; NO_COLOR unless `keep_color_env`.
fn run(flags: &[&str], dry: bool) -> std::process::Output {
    let mut c = glassbox();
    if dry {
        c.arg("--dry-run");
    }
    c.args(flags).args(SUBJECT).output().unwrap()
}

/// True when this test can make the real calls; otherwise it uses --dry-run.
fn real() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn quiet_says_nothing_on_success() {
    if !root_or_skip("quiet_says_nothing_on_success") {
        return;
    }
    let o = run(&["-q"], false);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[test]
fn quiet_still_prints_errors() {
    // Bad input: refused before any call, with root or without.
    let o = glassbox()
        .args(["-q", "unshare", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with("glassbox: error: no namespace was asked for"),
        "{}",
        stderr(&o)
    );
    if !root_or_skip("quiet_still_prints_errors (a failed exec)") {
        return;
    }
    let o = glassbox()
        .args(["-q", "unshare", "--uts", "--", "no-such-command-gbnarr"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    let err = stderr(&o);
    assert!(err.contains("glassbox: error:"), "{err}");
    assert!(
        !err.contains("unshare(CLONE_NEWUTS)"),
        "-q showed a call line: {err}"
    );
}

#[test]
fn default_level_shows_the_stage_header_and_one_line_per_call() {
    let dry = !real();
    let o = run(&[], dry);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let result = if dry {
        "= ? (dry run: not made)"
    } else {
        "= 0"
    };
    assert!(err.starts_with("▶ unshare — "), "{err}");
    assert!(
        err.contains(&format!("  unshare(CLONE_NEWUTS) {result}\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!("  sethostname(\"gbnarr\", 6) {result}\n")),
        "{err}"
    );
    assert!(err.contains("  execve(\"/"), "{err}");
    assert!(!err.contains("why:") && !err.contains("man:"), "{err}");
}

#[test]
fn verbose_adds_why_by_hand_and_man() {
    let dry = !real();
    for flag in ["-v", "--explain"] {
        let o = run(&[flag], dry);
        assert_eq!(o.status.code(), Some(0));
        let err = stderr(&o);
        assert!(err.contains("    why: new namespaces"), "{flag}: {err}");
        assert!(
            err.contains("    by hand: unshare --uts\n"),
            "{flag}: {err}"
        );
        assert!(err.contains("    man: unshare(2)\n"), "{flag}: {err}");
        assert!(
            err.contains("    by hand: hostname gbnarr\n"),
            "{flag}: {err}"
        );
        assert!(err.contains("    man: execve(2)\n"), "{flag}: {err}");
        // The catalog's explanation of execve comes with it.
        assert!(err.contains("execve loads a new program"), "{flag}: {err}");
    }
}

#[test]
fn no_colour_when_piped_or_with_no_color_and_colour_when_always() {
    let dry = !real();
    // NO_COLOR set (glassbox() sets it).
    let o = run(&[], dry);
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
    // NO_COLOR unset, but stderr is a pipe.
    let mut c = glassbox();
    c.env_remove("NO_COLOR");
    if dry {
        c.arg("--dry-run");
    }
    let o = c.args(SUBJECT).output().unwrap();
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
    // --color always colours even a pipe.
    let o = run(&["--color", "always"], dry);
    assert!(stderr(&o).contains("\x1b["), "{:?}", stderr(&o));
    let o = run(&["--color", "never"], dry);
    assert!(!stderr(&o).contains('\x1b'));
}

fn trace_of(flags: &[&str], dry: bool) -> (std::process::Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.jsonl");
    let mut all = vec!["--trace", file.to_str().unwrap()];
    all.extend_from_slice(flags);
    let o = run(&all, dry);
    let text = std::fs::read_to_string(&file).expect("the trace file was written");
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (o, events)
}

#[test]
fn trace_writes_one_json_event_per_line() {
    let dry = !real();
    let (o, events) = trace_of(&[], dry);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(events[0]["event"], "stage");
    assert_eq!(events[0]["stage"], "unshare");
    let calls: Vec<&Value> = events.iter().filter(|e| e["event"] == "call").collect();
    let names: Vec<&str> = calls.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["unshare", "sethostname", "execve"]);
    assert_eq!(calls[0]["args"], serde_json::json!(["CLONE_NEWUTS"]));
    assert_eq!(calls[0]["result"], 0);
    assert_eq!(calls[1]["args"], serde_json::json!(["\"gbnarr\"", "6"]));
    assert_eq!(calls[0]["dry_run"], dry);
    // execve does not return when it works: no result.
    assert!(calls[2].get("result").is_none());
    assert_eq!(calls[0]["man"], "unshare(2)");
}

#[test]
fn trace_is_written_even_when_quiet() {
    let dry = !real();
    let (o, events) = trace_of(&["-q"], dry);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
    assert_eq!(events.iter().filter(|e| e["event"] == "call").count(), 3);
}

#[test]
fn dry_run_needs_no_root_and_changes_nothing() {
    let before = nix::unistd::gethostname().unwrap();
    let (o, events) = trace_of(&[], true);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("(dry run: not made)"));
    assert!(events
        .iter()
        .filter(|e| e["event"] == "call")
        .all(|e| e["dry_run"] == true));
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}

/// `-v` explains a call, a stage or a cgroup file the first time it comes up in a run, in
/// the parent or in the child, and later only refers back to it in one short line.
#[test]
fn verbose_explains_each_entry_once() {
    if !root_or_skip("verbose_explains_each_entry_once") {
        return;
    }
    let env = common::containers::Env::new();
    let o = env
        .cmd()
        .args(["-v", "run", "--rm", "busybox", "true"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // mount(2) and prctl(2) are made many times (the child mounts, the security stage drops
    // capabilities one by one): each explained once.
    for man in ["mount(2)", "prctl(2)", "docker-run(1)"] {
        let shown = err.matches(&format!("man: {man}\n")).count();
        assert_eq!(shown, 1, "{man} explained {shown} times:\n{err}");
    }
    assert!(err.contains("(mount(2) explained above)"), "{err}");
    // No line of an explanation is printed twice (the call-specific why and by-hand lines
    // and the references back are not explanations).
    let mut seen = std::collections::HashSet::new();
    for line in err.lines() {
        let t = line.trim();
        let specific = ["why:", "by hand:", "man:", "("]
            .iter()
            .any(|p| t.starts_with(p));
        if line.starts_with("    ") && t.len() > 30 && !specific {
            assert!(seen.insert(t), "explained twice: {t}\n{err}");
        }
    }
    env.assert_clean();
}

/// Without limits (and without the devices rule, --privileged) the cgroup stage still says
/// what it does: it makes a cgroup only to hold, count and kill the processes.
#[test]
fn cgroup_stage_says_what_it_does_without_limits() {
    if !root_or_skip("cgroup_stage_says_what_it_does_without_limits") {
        return;
    }
    let env = common::containers::Env::new();
    let o = env
        .cmd()
        .args(["run", "--privileged", "--rm", "busybox", "true"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let header = err.lines().find(|l| l.starts_with("▶ cgroup")).unwrap();
    assert_eq!(
        header,
        "▶ cgroup — no limits asked: a cgroup of its own only to hold, count and kill the container's processes"
    );
    env.assert_clean();
}

/// Parent and child narrate at the same time once the child is let go; neither may cut
/// into the other's line. A cut shows as a result left on a line of its own (" = 0"), the
/// call it belongs to stuck at the end of another. A race: 20 runs give it room to show.
#[test]
fn parent_and_child_lines_stay_whole() {
    if !root_or_skip("parent_and_child_lines_stay_whole") {
        return;
    }
    let env = common::containers::Env::new();
    for _ in 0..20 {
        let o = env
            .cmd()
            .args(["run", "--rm", "busybox", "true"])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{err}");
        for line in err.lines() {
            assert!(
                line.starts_with("▶ ") || line.starts_with("  "),
                "a line was cut into: {line:?}\n{err}"
            );
        }
    }
    env.assert_clean();
}

/// Chrome trace events as a trace viewer reads them: the JSON Array Format, whose closing
/// `]` may be left out (every process of a run appends to one file).
fn chrome_events(text: &str) -> Vec<Value> {
    assert!(text.starts_with("[\n"), "{text}");
    let body = text.trim_end().trim_end_matches(',');
    let events: Value = serde_json::from_str(&format!("{body}]"))
        .unwrap_or_else(|e| panic!("not a JSON array of events ({e}):\n{text}"));
    events.as_array().unwrap().clone()
}

/// `--trace-format chrome` on a run (and on its --dry-run): every event has the keys the
/// trace-event format requires; on each process's row time never goes back, and stage spans
/// (B/E) pair up and nest; calls are complete events (X) with a duration; parent and
/// container have rows of their own, by their host pids.
#[test]
fn chrome_trace_of_a_run_is_a_valid_timeline() {
    let real = real() && std::path::Path::new("/bin/busybox").exists();
    for dry in [true, false] {
        if !dry && !real {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.trace.json");
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", dir.path().join("state"))
            .env("GLASSBOX_DATA_DIR", dir.path().join("data"));
        if dry {
            c.arg("--dry-run");
        }
        let o = c
            .args(["-q", "--trace"])
            .arg(&file)
            .args(["--trace-format", "chrome", "run", "--rm", "busybox", "true"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let events = chrome_events(&std::fs::read_to_string(&file).unwrap());
        let rows = check_timeline(&events);
        if !dry {
            assert!(rows >= 2, "parent and container on rows of their own");
            assert!(journal_empty(&dir.path().join("state")));
        }
    }
}

/// The trace-event format's rules on `events`; returns the number of rows (processes).
fn check_timeline(events: &[Value]) -> usize {
    let mut rows: std::collections::BTreeMap<u64, (u64, Vec<String>)> = Default::default();
    let mut calls = Vec::new();
    for e in events {
        for key in ["name", "ph", "ts", "pid", "tid"] {
            assert!(e.get(key).is_some(), "{key} missing: {e}");
        }
        let (ts, tid) = (e["ts"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        assert_eq!(e["pid"], e["tid"], "{e}");
        let (last, open) = rows.entry(tid).or_default();
        assert!(ts >= *last, "time went back on row {tid}: {e}");
        *last = ts;
        let name = e["name"].as_str().unwrap().to_string();
        match e["ph"].as_str().unwrap() {
            "B" => open.push(name),
            "E" => assert_eq!(open.pop(), Some(name), "an E without its B on row {tid}"),
            "X" => {
                assert!(e["dur"].is_u64(), "{e}");
                calls.push(name);
            }
            "i" => assert_eq!(e["s"], "t", "{e}"),
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for (tid, (_, open)) in &rows {
        assert!(open.is_empty(), "row {tid} leaves {open:?} open");
    }
    // A container's PID 1 is drawn by its host pid, not as 1.
    assert!(!rows.contains_key(&1), "{:?}", rows.keys());
    for call in ["mount", "pivot_root", "execve"] {
        assert!(calls.iter().any(|c| c == call), "no {call} in {calls:?}");
    }
    rows.len()
}

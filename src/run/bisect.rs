//! `glassbox bisect`: for "my program works on the host but not in a container". Runs the
//! command with the stages of `run` switched on one after another and reports the first
//! stage at which it stops doing what it should, with that stage's explanation and the
//! calls that stage added.
//!
//! The first try already has the image's root and new namespaces: a command run with less
//! would run on the host itself, and could change it (a `hostname` call, a mount, a kill).

use super::config::Stage;
use crate::cli::BisectArgs;
use crate::error::{Error, Result};

/// The stages every try has: the least isolation that keeps the command off the host.
pub const BASE: [Stage; 2] = [Stage::Rootfs, Stage::Namespaces];

/// One step: its name, its catalog entry, the stages on (besides [`BASE`]), and whether
/// /proc and /sys keep Docker's masked paths. Mounts come first without the masks, then
/// with them, so a program that reads a masked path is told apart from one that needs
/// /proc at all.
struct Step {
    name: &'static str,
    catalog: &'static str,
    on: &'static [Stage],
    masked: bool,
}

const STEPS: [Step; 5] = [
    Step {
        name: "mounts",
        catalog: "mounts",
        on: &[Stage::Mounts],
        masked: false,
    },
    Step {
        name: "masked paths",
        catalog: "mount",
        on: &[Stage::Mounts],
        masked: true,
    },
    Step {
        name: "cgroup",
        catalog: "cgroup",
        on: &[Stage::Mounts, Stage::Cgroup],
        masked: true,
    },
    Step {
        name: "network",
        catalog: "net",
        on: &[Stage::Mounts, Stage::Cgroup, Stage::Network],
        masked: true,
    },
    Step {
        name: "security",
        catalog: "security",
        on: &[
            Stage::Mounts,
            Stage::Cgroup,
            Stage::Network,
            Stage::Security,
        ],
        masked: true,
    },
];

/// The stages a step may switch off.
const SWITCHED: [Stage; 4] = [
    Stage::Mounts,
    Stage::Cgroup,
    Stage::Network,
    Stage::Security,
];

/// One try: which stages were on, and what the command did.
struct Outcome {
    code: i32,
    stdout: String,
    trace: Vec<(String, String)>,
}

/// The arguments given after `bisect`, less bisect's own, to hand to `run`.
fn run_args() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    let start = args
        .iter()
        .position(|a| a == "bisect")
        .map_or(args.len(), |i| i + 1);
    let mut out = Vec::new();
    let mut it = args[start..].iter();
    while let Some(a) = it.next() {
        if a == "--expect-output" || a == "--expect-exit" {
            it.next();
        } else if !a.starts_with("--expect-output=") && !a.starts_with("--expect-exit=") {
            out.push(a.clone());
        }
    }
    out
}

fn try_with(on: &[Stage], masked: bool, args: &[String]) -> Result<Outcome> {
    let dir = std::env::temp_dir().join(format!(
        "glassbox-bisect-{}-{}.jsonl",
        std::process::id(),
        on.len()
    ));
    let _ = std::fs::remove_file(&dir);
    let mut cmd = crate::host::glassbox_command()?;
    cmd.arg("-q").arg("--trace").arg(&dir).arg("run");
    // Each try is thrown away: no exited container is kept for it.
    if !args.iter().any(|a| a == "--rm") {
        cmd.arg("--rm");
    }
    for s in SWITCHED.iter().filter(|s| !on.contains(s)) {
        cmd.args(["--skip", s.name()]);
    }
    if !masked {
        cmd.args(["--security-opt", "systempaths=unconfined"]);
    }
    let o = cmd
        .args(args)
        .env_remove("GLASSBOX_TRACE")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::io(
                "cannot start glassbox run",
                &e,
                "check that the glassbox binary is still there",
            )
        })?;
    let trace = std::fs::read_to_string(&dir)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "call")
        .map(|e| {
            (
                e["stage"].as_str().unwrap_or("").to_string(),
                e["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let _ = std::fs::remove_file(&dir);
    Ok(Outcome {
        code: o.status.code().unwrap_or(128),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        trace,
    })
}

pub fn main(a: &BisectArgs) -> Result<i32> {
    let args = run_args();
    let expectation = a.expect_exit.is_some() || a.expect_output.is_some();
    crate::outln!("bisect: the command in the image's root with new namespaces, then with the other stages of run switched on one by one");
    let mut outcomes = vec![try_with(&[], true, &args)?];
    for step in &STEPS {
        outcomes.push(try_with(step.on, step.masked, &args)?);
    }
    // The last step is the full run. Without an expectation, working means acting otherwise
    // than the full run does: a bare try without /proc fails too, and must not be mistaken
    // for the container's own failure.
    let full = outcomes.last().map_or(0, |o| o.code);
    let works = |o: &Outcome| -> bool {
        if !expectation {
            return o.code != full;
        }
        a.expect_exit.is_none_or(|n| o.code == n)
            && a.expect_output
                .as_ref()
                .is_none_or(|t| o.stdout.contains(t.as_str()))
    };
    let ok: Vec<bool> = outcomes.iter().map(works).collect();
    // The stage from which on it never works again: the one to blame.
    let broken_from = ok.iter().rposition(|w| *w).map_or(0, |i| i + 1);
    for (i, o) in outcomes.iter().enumerate() {
        let note = match (i.checked_sub(1).map(|p| ok[p]), ok[i]) {
            _ if i == broken_from && i > 0 && expectation => "   <- breaks here",
            _ if i == broken_from && i > 0 => "   <- the result changes here",
            (None, false) if expectation => "   (does not work yet)",
            (Some(false), true) if expectation => "   (works from here)",
            _ => "",
        };
        match i {
            0 => crate::outln!("  rootfs + namespaces   exit {}{note}", o.code),
            _ => crate::outln!("  + {:19} exit {}{note}", STEPS[i - 1].name, o.code),
        }
    }
    if broken_from == outcomes.len() {
        crate::outln!("It works with every stage on: nothing in glassbox's isolation breaks it.");
        Ok(0)
    } else if broken_from > 0 {
        let (before, now) = (&outcomes[broken_from - 1], &outcomes[broken_from]);
        report(&STEPS[broken_from - 1], before, now, expectation);
        Ok(0)
    } else if !expectation {
        crate::outln!("It ends with exit {full} whichever stages are on: the stages of run do not change its exit status (give --expect-output TEXT to compare what it prints).");
        Ok(0)
    } else {
        crate::outln!("It never works, whichever stages are on: the problem is not the container's isolation (or it needs more than the image's root and its own namespaces give).");
        Ok(1)
    }
}

/// The stage that broke the command: its explanation and the calls it added.
fn report(step: &Step, before: &Outcome, now: &Outcome, expectation: bool) {
    crate::outln!();
    if expectation {
        crate::outln!("The first stage that breaks it: {}.", step.name);
    } else {
        crate::outln!(
            "The stage from which on it ends as the full run does: {}.",
            step.name
        );
    }
    if let Some(e) = crate::narrate::catalog::lookup_kind(step.catalog, "stage") {
        crate::outln!("{}", e.summary.trim());
        crate::outln!();
        crate::outln!("{}", e.explain.trim());
    }
    let mut added: Vec<String> = Vec::new();
    for (st, name) in now.trace.iter().filter(|c| !before.trace.contains(c)) {
        let c = format!("{name} ({st})");
        if !added.contains(&c) {
            added.push(c);
        }
    }
    if !added.is_empty() {
        crate::outln!();
        crate::outln!("Calls this stage added: {}", added.join(", "));
    }
    crate::outln!();
    crate::outln!("To look closer, compare `glassbox run -v …` with and without this stage (--skip STAGE; --security-opt systempaths=unconfined for the masked paths).");
}

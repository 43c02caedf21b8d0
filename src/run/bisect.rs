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
use std::process::Command;

/// The stages every try has: the least isolation that keeps the command off the host.
pub const BASE: [Stage; 2] = [Stage::Rootfs, Stage::Namespaces];

/// The stages switched on one after another, on top of [`BASE`].
pub const ORDER: [Stage; 4] = [
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

fn try_with(on: &[Stage], args: &[String]) -> Result<Outcome> {
    let dir = std::env::temp_dir().join(format!(
        "glassbox-bisect-{}-{}.jsonl",
        std::process::id(),
        on.len()
    ));
    let _ = std::fs::remove_file(&dir);
    let exe = std::env::current_exe().map_err(|e| {
        Error::io(
            "cannot find the glassbox binary",
            &e,
            "run glassbox by its full path",
        )
    })?;
    let mut cmd = Command::new(exe);
    cmd.arg("-q").arg("--trace").arg(&dir).arg("run");
    for s in ORDER.iter().filter(|s| !on.contains(s)) {
        cmd.args(["--skip", s.name()]);
    }
    debug_assert!(BASE.iter().all(|s| !on.contains(s)));
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
    let good = |o: &Outcome, base: &Outcome| -> bool {
        let exit_ok = match a.expect_exit {
            Some(n) => o.code == n,
            None if a.expect_output.is_none() => o.code == base.code,
            None => true,
        };
        let out_ok = a
            .expect_output
            .as_ref()
            .is_none_or(|t| o.stdout.contains(t.as_str()));
        exit_ok && out_ok
    };
    println!("bisect: the command in the image's root with new namespaces, then with the other stages of run switched on one by one");
    let base = try_with(&[], &args)?;
    println!("  rootfs + namespaces   exit {}", base.code);
    if !good(&base, &base) {
        println!("It already fails with only its root and namespaces: run it with `glassbox unshare` and `glassbox pivot-root` by hand to see which.");
        return Ok(1);
    }
    let mut on: Vec<Stage> = Vec::new();
    let mut before = base;
    for stage in ORDER {
        on.push(stage);
        let now = try_with(&on, &args)?;
        let ok = good(&now, &before);
        println!(
            "  + {:19} exit {}{}",
            stage.name(),
            now.code,
            if ok {
                ""
            } else {
                "   <- the result changes here"
            }
        );
        if !ok {
            println!();
            println!("The first stage that changes the result: {}.", stage.name());
            if let Some(e) = crate::narrate::catalog::lookup_kind(stage.catalog_name(), "stage") {
                println!("{}", e.summary.trim());
                println!();
                println!("{}", e.explain.trim());
            }
            let added: Vec<String> = now
                .trace
                .iter()
                .filter(|c| !before.trace.contains(c))
                .map(|(st, name)| format!("{name} ({st})"))
                .fold(Vec::new(), |mut v, c| {
                    if !v.contains(&c) {
                        v.push(c);
                    }
                    v
                });
            if !added.is_empty() {
                println!();
                println!("Calls this stage added: {}", added.join(", "));
            }
            println!();
            println!("To look closer: glassbox run -v --skip {} … (works) against glassbox run -v … (fails).", stage.name());
            return Ok(0);
        }
        before = now;
    }
    println!("It works with every stage on: nothing in glassbox's isolation breaks it.");
    Ok(0)
}

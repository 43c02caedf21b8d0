//! `glassbox doctor`: what this host supports, each finding with what to do about it.
//!
//! The probing and the verdicts live in [`checks`]; this module only prints them, as lines
//! marked ✓ (fine), ! (worth knowing) or ✗ (missing), or as JSON with `--json`.
//! Exit status: 0 when everything `glassbox run` needs is here, 1
//! ([`checks::MISSING_REQUIREMENT`]) when something it needs is missing, 125 when doctor
//! itself failed.

pub mod check;
pub mod checks;
pub mod rootless;

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::error::Result;
use crate::narrate::{ColorChoice, Level, NarrateOpts, Narrator};
use crate::sys::Sys;
use checks::{Check, Facts, Status};
use colored::Colorize;

pub fn main(a: &DoctorArgs, g: &GlobalArgs) -> Result<i32> {
    // doctor prints its own report: the probe's calls go through the narrating layer with a
    // narrator that says nothing on stderr, but still writes `--trace` events.
    let quiet = Narrator::new(&NarrateOpts {
        level: Level::Quiet,
        color: ColorChoice::Never,
        trace: g.trace.clone(),
        trace_format: g.trace_format,
    })?;
    let sys = if g.dry_run {
        Sys::dry(&quiet)
    } else {
        Sys::new(&quiet)
    };
    quiet.stage("doctor", "what this host supports");
    let facts = Facts::gather(Some(&sys));
    let list = checks::evaluate(&facts);
    let code = checks::exit_code(&list);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&facts, &list, code)).unwrap_or_default()
        );
    } else {
        colored::control::set_override(stdout_color(g.color));
        print_report(&facts, &list, code, g.dry_run);
    }
    Ok(code)
}

/// Colour on stdout: as `--color` says, and for `auto` only on a terminal without NO_COLOR.
fn stdout_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// The report as one JSON object: the verdict, the cgroup placement, and every check.
pub fn to_json(f: &Facts, list: &[Check], code: i32) -> serde_json::Value {
    let controllers: serde_json::Map<String, serde_json::Value> = crate::host::cgroups::CONTROLLERS
        .iter()
        .map(|c| {
            (
                c.to_string(),
                serde_json::to_value(f.cgroups.place(c)).unwrap_or_default(),
            )
        })
        .collect();
    serde_json::json!({
        "ready": code == 0,
        "exit_code": code,
        "root": f.euid == 0,
        "kernel": f.kernel,
        "namespaces": f.namespaces,
        "cgroup": {
            "layout": f.cgroups.layout,
            "v2_mount": f.cgroups.v2_mount,
            "v2_controllers": f.cgroups.v2_controllers,
            "controllers": controllers,
        },
        "overlay_probe": f.overlay.as_ref().map(|p| serde_json::json!({
            "single": probe_json(&p.single),
            "stacked": probe_json(&p.stacked),
        })),
        "busybox": f.busybox,
        "rootless": f.rootless,
        "checks": list,
    })
}

/// A probe as `"ok"` or its error.
fn probe_json(p: &checks::Probe) -> String {
    match p {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    }
}

fn mark(s: Status) -> colored::ColoredString {
    match s {
        Status::Ok => "✓".green().bold(),
        Status::Warn => "!".yellow().bold(),
        Status::Fail => "✗".red().bold(),
    }
}

fn print_report(f: &Facts, list: &[Check], code: i32, dry_run: bool) {
    println!("{}", "glassbox doctor — what this host supports".bold());
    for c in list {
        let need = if c.required && c.status == Status::Fail {
            format!(" {}", "(needed by run)".red())
        } else {
            String::new()
        };
        println!("{} {}{}", mark(c.status), c.what, need);
        if let Some(t) = &c.todo {
            println!("    {}", t.dimmed());
        }
    }
    if f.overlay.is_none() && f.euid == 0 && dry_run {
        println!(
            "{}",
            "  (--dry-run: the overlay mount was not tried)".dimmed()
        );
    }
    println!();
    if code == 0 {
        println!(
            "{} everything `glassbox run` needs is here.",
            mark(Status::Ok)
        );
    } else {
        let missing: Vec<&str> = list
            .iter()
            .filter(|c| c.required && c.status == Status::Fail)
            .map(|c| c.id.as_str())
            .collect();
        println!(
            "{} `glassbox run` cannot work here yet: missing {} (exit status {code}).",
            mark(Status::Fail),
            missing.join(", ")
        );
    }
}

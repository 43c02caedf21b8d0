//! `glassbox explain NAME`: the catalog entry for a syscall, a flag or a stage, with nothing run.

use crate::cli::ExplainArgs;
use crate::error::{Error, Result};
use crate::narrate::catalog;
use colored::Colorize;

pub fn main(a: &ExplainArgs) -> Result<i32> {
    crate::narrate::use_color(crate::narrate::ColorChoice::Auto);
    if a.list {
        print_list();
        return Ok(0);
    }
    let name = a.name.as_deref().unwrap_or_default();
    let found = catalog::lookup_all(name);
    if found.is_empty() {
        let near: Vec<&str> = catalog::entries()
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| n.to_ascii_lowercase().contains(&name.to_ascii_lowercase()))
            .collect();
        let todo = if near.is_empty() {
            "see `glassbox explain --list` for every name".to_string()
        } else {
            format!(
                "did you mean {}? (`glassbox explain --list` has every name)",
                near.join(", ")
            )
        };
        return Err(Error::usage(
            format!("nothing in the catalog is called {name:?}"),
            todo,
        ));
    }
    let colored_out = {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    };
    colored::control::set_override(colored_out);
    for (i, e) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let man = if e.man.is_empty() {
            String::new()
        } else {
            format!("  [{}]", e.man)
        };
        println!("{} ({}){}", e.name.bold(), e.kind, man);
        println!("{}", e.summary);
        println!();
        println!("{}", e.explain.trim());
        if let Some(cmd) = &e.by_hand {
            println!();
            println!("{} {}", "By hand:".bold(), cmd);
        }
        if !e.see_also.is_empty() {
            println!("{} {}", "See also:".bold(), e.see_also.join(", "));
        }
        if let Some(ops) = crate::stages::examples::example(&e.name).filter(|_| e.kind == "stage") {
            print_plan(&e.name, &ops);
        }
    }
    Ok(0)
}

/// The stage's plan, op by op, as it would run on ROOTFS (what a dry run narrates).
fn print_plan(name: &str, ops: &[crate::stages::ops::Op]) {
    use crate::stages::ops::Op;
    println!();
    println!(
        "{} (on a root filesystem at ROOTFS, op by op):",
        format!(
            "The plan of glassbox {}",
            if name == "mounts" { "mount" } else { name }
        )
        .bold()
    );
    for op in ops {
        match op {
            // Warnings depend on where explain runs, not on the stage.
            Op::Stage { .. } | Op::Warn(_) | Op::Detail(_) => {}
            Op::Note(t) => println!("  {}", t.dimmed()),
            other => println!("  {other}"),
        }
    }
}

fn print_list() {
    for kind in ["stage", "syscall", "flag", "file", "request"] {
        let of_kind: Vec<_> = catalog::entries()
            .iter()
            .filter(|e| e.kind == kind)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        println!("{}s:", kind);
        let width = of_kind.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in of_kind {
            println!("  {:width$}  {}", e.name, e.summary);
        }
        println!();
    }
}

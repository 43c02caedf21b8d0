//! `glassbox inspect --dot|--svg`: a process's namespaces, mounts and cgroups drawn next to
//! this terminal's, for those who would rather look than read.
//!
//! The graph is written by hand in Graphviz's DOT language (a few dozen lines a reader can
//! follow); `--svg` hands it to Graphviz's `dot -Tsvg`. A namespace both share is one box
//! between the two sides; one the process has alone is a box on its side, filled.

use super::Inspection;
use crate::error::{Error, Result};
use std::io::Write;
use std::process::{Command, Stdio};

/// At most this many mounts are listed per side; the rest are counted.
const MOUNTS_SHOWN: usize = 12;

/// A DOT string literal's contents: backslashes and quotes escaped, one `\l` per line (each
/// line left-aligned in its box).
fn label(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("{}\\l", l.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect()
}

/// The mount points and filesystem types of a mountinfo file, one line each.
fn mounts(pid: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?;
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
            Some(format!("{point} ({fstype})"))
        })
        .collect()
}

fn mounts_label(title: String, all: &[String]) -> String {
    let mut lines = vec![title];
    lines.extend(all.iter().take(MOUNTS_SHOWN).cloned());
    if all.len() > MOUNTS_SHOWN {
        lines.push(format!("… and {} more", all.len() - MOUNTS_SHOWN));
    }
    label(&lines)
}

fn cgroups(pid: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// The picture of `i` next to this terminal (the process glassbox inspect runs in), in DOT.
pub fn dot(i: &Inspection) -> String {
    let pid = i.pid.to_string();
    let mut out = String::from(
        "digraph glassbox_inspect {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n",
    );
    out += &format!(
        "  label=\"{}\";\n  labelloc=t;\n",
        label(&[format!(
            "glassbox inspect {pid}: what the process shares with this terminal, and what it has alone"
        )])
    );
    // The two sides, each with its mounts and cgroups.
    let sides = [
        (
            "host",
            "this terminal",
            std::process::id().to_string(),
            "glassbox inspect".to_string(),
        ),
        ("proc", "the process", pid.clone(), i.command.clone()),
    ];
    for (id, title, which, command) in &sides {
        let fill = if *id == "proc" {
            "lightyellow"
        } else {
            "white"
        };
        out += &format!(
            "  subgraph cluster_{id} {{\n    label=\"{}\";\n    style=rounded;\n",
            label(&[title.to_string()])
        );
        out += &format!(
            "    {id} [label=\"{}\", style=filled, fillcolor={fill}];\n",
            label(&[format!("pid {which}: {command}")])
        );
        let m = mounts(which);
        out += &format!(
            "    {id}_mounts [label=\"{}\"];\n",
            mounts_label(format!("mounts: {}", m.len()), &m)
        );
        let mut cg = vec!["cgroups:".to_string()];
        cg.extend(cgroups(which));
        out += &format!("    {id}_cgroups [label=\"{}\"];\n", label(&cg));
        for n in i.namespaces.iter().filter(|n| n.isolated) {
            let ns = if *id == "proc" { &n.id } else { &n.host };
            out += &format!(
                "    {id}_ns_{kind} [label=\"{}\", style=filled, fillcolor={}];\n",
                label(std::slice::from_ref(ns)),
                if *id == "proc" { "palegreen" } else { "white" },
                kind = n.kind
            );
        }
        out += "  }\n";
        out += &format!("  {id} -> {id}_mounts [label=\"mountinfo\"];\n  {id} -> {id}_cgroups;\n");
        for n in i.namespaces.iter().filter(|n| n.isolated) {
            out += &format!("  {id} -> {id}_ns_{};\n", n.kind);
        }
    }
    // What both share: one box, an arrow from each side.
    out += "  subgraph cluster_shared {\n    label=\"shared by both\";\n    style=dashed;\n";
    for n in i.namespaces.iter().filter(|n| !n.isolated) {
        out += &format!(
            "    shared_ns_{} [label=\"{}\"];\n",
            n.kind,
            label(std::slice::from_ref(&n.id))
        );
    }
    out += "  }\n";
    for n in i.namespaces.iter().filter(|n| !n.isolated) {
        out += &format!(
            "  host -> shared_ns_{0} [color=gray];\n  proc -> shared_ns_{0} [color=gray];\n",
            n.kind
        );
    }
    out += "}\n";
    out
}

/// The picture as SVG, drawn by Graphviz's `dot -Tsvg`.
pub fn svg(dot_text: &str) -> Result<Vec<u8>> {
    let missing = |e: &std::io::Error| {
        Error::io(
            "cannot draw the SVG: Graphviz's `dot` did not start",
            e,
            "install Graphviz (apt-get install graphviz), or write the graph with --dot and draw it elsewhere",
        )
    };
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing(&e))?;
    // dot reads all of its input before it writes: write, close, then read.
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(dot_text.as_bytes());
    let out = child.wait_with_output().map_err(|e| missing(&e))?;
    if written.is_err() || !out.status.success() {
        return Err(Error::new(
            format!(
                "Graphviz's dot could not draw the graph: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "write the graph with --dot to see what dot was given, and report it",
        ));
    }
    Ok(out.stdout)
}

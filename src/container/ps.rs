//! `glassbox ps`: the containers there are, in docker's columns.

use crate::cli::PsArgs;
use crate::error::Result;
use crate::host::cgroups::CgroupHost;
use crate::store::containers::{records, State, Status};
use crate::store::now;
use crate::store::state::ago;
use serde::Deserialize;
use std::io::Write;

/// Print lines to stdout a screenful at a time: one write(2) per 8 KiB, where println! on
/// Rust's line-buffered stdout makes one per line. A reader that went away (`| head`) ends
/// the printing quietly.
pub fn print_lines<L: std::fmt::Display>(lines: impl IntoIterator<Item = L>) {
    let mut out = std::io::BufWriter::with_capacity(8192, std::io::stdout().lock());
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Print rows as columns, each as wide as its widest cell plus three spaces (as docker's
/// tabwriter does).
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    print_lines(rows.iter().map(|r| {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        line.trim_end().to_string()
    }));
}

/// The part of a container's record that ps shows: serde skips the rest (the image
/// config) without building it. Its ports are in its config.json.
#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    image: String,
    command: Vec<String>,
    created: u64,
}

/// The command as docker ps shows it: quoted, cut to 20 characters with an ellipsis.
fn short_command(cmd: &[String]) -> String {
    let joined = cmd.join(" ");
    let cut: String = if joined.chars().count() > 20 {
        format!("{}…", joined.chars().take(19).collect::<String>())
    } else {
        joined
    };
    format!("\"{cut}\"")
}

/// docker's PORTS column, for a running container: 0.0.0.0:8080->80/tcp, as it got them.
fn ports(dir: &std::path::Path) -> String {
    let maps = crate::stages::network::ports::load(dir);
    crate::stages::network::ports::ps_column(&maps)
}

pub fn main(a: &PsArgs, ids_only: bool) -> Result<i32> {
    let now = now();
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    let mut all = records::<Row>();
    // Newest first, as docker lists them.
    all.sort_by(|(_, a), (_, b)| (b.created, &b.id).cmp(&(a.created, &a.id)));
    let mut ids = Vec::new();
    let mut buf = Vec::new();
    let mut host = None;
    for (dir, c) in all {
        let state = State::read_with(&dir, &mut buf);
        if !a.all && state.effective() != Status::Running {
            continue;
        }
        if ids_only {
            ids.push(c.id);
            continue;
        }
        let mut status = state.describe(now);
        if state.effective() == Status::Running {
            // Paused is the kernel's word (the cgroup's freezer), not a record's.
            let host = host.get_or_insert_with(CgroupHost::current);
            if super::pause::freezer_of(host, &c.id).is_some_and(|f| f.is_frozen()) {
                status.push_str(" (Paused)");
            }
        }
        rows.push(vec![
            c.id,
            c.image,
            short_command(&c.command),
            format!("{} ago", ago(now, Some(c.created))),
            status,
            if state.effective() == Status::Running {
                ports(&dir)
            } else {
                String::new()
            },
            c.name,
        ]);
    }
    if ids_only {
        print_lines(ids);
    } else {
        print_table(&rows);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_ports_read_as_docker_ps_shows_them() {
        let cmd = ["sh", "-c", "while true; do date; sleep 1; done"].map(String::from);
        assert_eq!(short_command(&cmd), "\"sh -c while true; d…\"");
        assert_eq!(short_command(&["true".into()]), "\"true\"");
        let d = tempfile::tempdir().unwrap();
        let publish = [
            crate::stages::network::ports::parse("8080:80").unwrap(),
            crate::stages::network::ports::parse("127.0.0.1:53:53/udp").unwrap(),
        ]
        .concat();
        crate::stages::network::ports::save(d.path(), &publish).unwrap();
        assert_eq!(
            ports(d.path()),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:53->53/udp"
        );
    }
}

//! `glassbox ps`: the containers there are, in docker's columns.

use crate::cli::PsArgs;
use crate::error::Result;
use crate::store::containers::{list, Status};
use crate::store::now;
use crate::store::state::ago;

/// Print rows as columns, each as wide as its widest cell plus three spaces (as docker's
/// tabwriter does).
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
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

/// docker's PORTS column: 0.0.0.0:8080->80/tcp.
fn ports(publish: &[String]) -> String {
    publish
        .iter()
        .map(|p| {
            let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            match ports.split_once(':') {
                Some((host, ctr)) => format!("0.0.0.0:{host}->{ctr}/{proto}"),
                None => format!("{ports}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
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
    // Newest first, as docker lists them.
    for c in list().iter().rev() {
        let state = c.state();
        if !a.all && state.effective() != Status::Running {
            continue;
        }
        if ids_only {
            println!("{}", c.id());
            continue;
        }
        rows.push(vec![
            c.id().to_string(),
            c.record.image.clone(),
            short_command(&c.record.command),
            format!("{} ago", ago(now, Some(c.record.created))),
            state.describe(now),
            ports(&c.record.args.publish),
            c.name().to_string(),
        ]);
    }
    if !ids_only {
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
        assert_eq!(
            ports(&["8080:80".into(), "53:53/udp".into()]),
            "0.0.0.0:8080->80/tcp, 0.0.0.0:53->53/udp"
        );
    }
}

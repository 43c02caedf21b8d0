//! `glassbox ps`: the containers there are, in docker's columns.

use crate::cli::PsArgs;
use crate::error::Result;
use crate::host::cgroups::CgroupHost;
use crate::store::containers::{records, State, Status};
use crate::store::now;
use crate::store::state::ago;
use serde::Deserialize;

pub use crate::out::{print_lines, print_table};

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

/// `-f KEY=VALUE`: the same key ORs, different keys AND (as docker ps).
struct Filters(Vec<(String, String)>);

impl Filters {
    fn parse(given: &[String]) -> Result<Filters> {
        let mut v = Vec::new();
        for f in given {
            let Some((k, val)) = f.split_once('=') else {
                return Err(bad_filter(f));
            };
            if !["status", "name", "id", "ancestor", "label"].contains(&k) {
                return Err(bad_filter(f));
            }
            v.push((k.to_string(), val.to_string()));
        }
        Ok(Filters(v))
    }

    fn keep(&self, key: &str, matches: impl Fn(&str) -> bool) -> bool {
        let mut asked = self.0.iter().filter(|(k, _)| k == key).peekable();
        asked.peek().is_none() || asked.any(|(_, v)| matches(v))
    }

    fn wants(&self, c: &Row, status: &str) -> bool {
        let image = |v: &str| {
            c.image == v || c.image == format!("{v}:latest") || format!("{}:latest", c.image) == v
        };
        self.keep("status", |v| v == status)
            && self.keep("name", |v| c.name.contains(v))
            && self.keep("id", |v| c.id.starts_with(v))
            && self.keep("ancestor", image)
            // glassbox containers carry no labels (run has no --label): none matches.
            && self.keep("label", |_| false)
    }
}

fn bad_filter(f: &str) -> crate::error::Error {
    crate::error::Error::usage(
        format!("{f:?} is not a filter ps knows"),
        "give KEY=VALUE with KEY status, name, id, ancestor or label, e.g. -f status=exited",
    )
}

/// The bytes of the files in a container's writable layer.
fn upper_size(dir: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum()
    }
    walk(&dir.join("upper"))
}

pub fn main(a: &PsArgs, ids_only: bool) -> Result<i32> {
    let now = now();
    let filters = Filters::parse(&a.filter)?;
    let template = a
        .format
        .as_deref()
        .map(super::template::Template::parse)
        .transpose()?;
    let last = if a.latest { Some(1) } else { a.last };
    let all = a.all || last.is_some() || a.filter.iter().any(|f| f.starts_with("status="));
    let mut header = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if a.size {
        header.push("SIZE");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let mut all_rows = records::<Row>();
    // Newest first, as docker lists them.
    all_rows.sort_by(|(_, a), (_, b)| (b.created, &b.id).cmp(&(a.created, &a.id)));
    if let Some(n) = last {
        all_rows.truncate(n);
    }
    let mut ids = Vec::new();
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    let mut host = None;
    for (dir, c) in all_rows {
        let state = State::read_with(&dir, &mut buf);
        if !all && state.effective() != Status::Running {
            continue;
        }
        let mut status = state.describe(now);
        let mut word = match state.effective() {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Dead => "dead",
        };
        if state.effective() == Status::Running {
            // Paused is the kernel's word (the cgroup's freezer), not a record's.
            let host = host.get_or_insert_with(CgroupHost::current);
            if super::pause::freezer_of(host, &c.id).is_some_and(|f| f.is_frozen()) {
                status.push_str(" (Paused)");
                word = "paused";
            } else if let Some(h) = crate::run::health::read(&dir) {
                // docker's Up 5 seconds (healthy).
                status.push_str(&format!(" ({})", h.status));
            }
        }
        if !filters.wants(&c, word) {
            continue;
        }
        if ids_only {
            ids.push(c.id);
            continue;
        }
        let command = if a.no_trunc {
            format!("\"{}\"", c.command.join(" "))
        } else {
            short_command(&c.command)
        };
        let size = a.size.then(|| crate::out::docker_size(upper_size(&dir)));
        if let Some(t) = &template {
            let v = serde_json::json!({
                "ID": c.id,
                "Image": c.image,
                "Command": command,
                "CreatedAt": crate::clock::rfc3339(c.created),
                "RunningFor": format!("{} ago", ago(now, Some(c.created))),
                "Ports": ports(&dir),
                "State": word,
                "Status": status,
                "Names": c.name,
                "Size": size.clone().unwrap_or_default(),
                "Labels": "",
            });
            lines.push(t.render(&v)?);
            continue;
        }
        let mut row = vec![
            c.id,
            c.image,
            command,
            format!("{} ago", ago(now, Some(c.created))),
            status,
            if state.effective() == Status::Running {
                ports(&dir)
            } else {
                String::new()
            },
            c.name,
        ];
        row.extend(size);
        rows.push(row);
    }
    if ids_only {
        print_lines(ids);
    } else if template.is_some() {
        print_lines(lines);
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

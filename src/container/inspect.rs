//! `glassbox inspect NAME`: a container or an image in docker inspect's JSON shape, the
//! fields learners use (Id, Name, State, Config, HostConfig, Mounts, NetworkSettings), with
//! `--format` for Go-template field paths. Everything is read, nothing is changed: the
//! container's record and config.json (its OCI spec), its state, and from the kernel what
//! only the kernel knows (paused: the freezer; the address: /proc/PID/net/fib_trie, the
//! routing table of the container's own network namespace).

use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::store::containers::{Container, Status};
use serde_json::{json, Map, Value};

/// docker's time for "never".
const NEVER: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<u64>) -> String {
    t.map_or(NEVER.to_string(), rfc3339)
}

/// The container's config.json as JSON (null for a container made before bundles).
fn bundle(c: &Container) -> Value {
    c.bundle_config()
        .ok()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// The IPv4 addresses of a network namespace other than loopback, as the kernel's routing
/// table lists its local addresses (`|-- 10.77.0.2` then `/32 host LOCAL`).
fn addresses(pid: i32) -> Vec<String> {
    let trie = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie")).unwrap_or_default();
    let mut found = Vec::new();
    let mut last = "";
    for line in trie.lines() {
        let l = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if l.starts_with("/32 host LOCAL") {
            if !last.starts_with("127.") && !found.iter().any(|a| a == last) {
                found.push(last.to_string());
            }
        } else if line.contains("|-- ") {
            last = l;
        }
    }
    found
}

fn state(c: &Container) -> Value {
    let mut v = state_fields(c);
    if let Some(h) = crate::run::health::read(&c.dir) {
        v["Health"] = serde_json::to_value(h).expect("serialisable");
    }
    v
}

fn state_fields(c: &Container) -> Value {
    let s = c.state();
    let status = s.effective();
    let pid = s.running_pid();
    let paused =
        pid.is_some() && super::pause::is_paused(&crate::host::cgroups::CgroupHost::current(), c);
    let word = match status {
        Status::Created => "created",
        Status::Running if paused => "paused",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Dead => "dead",
    };
    json!({
        "Status": word,
        "Running": status == Status::Running,
        "Paused": paused,
        "Restarting": false,
        "OOMKilled": s.oom_killed,
        "Dead": status == Status::Dead,
        "Pid": pid.unwrap_or(0),
        "ExitCode": s.exit_code.unwrap_or(0),
        "Error": s.error.clone().unwrap_or_default(),
        "StartedAt": time(s.started),
        "FinishedAt": time(s.finished),
    })
}

/// `80/tcp` from `8080:80` or `53:53/udp`.
/// One published port as config.json's annotation spells it, `[IP:][HOST:]CTR/PROTO`:
/// (`CTR/PROTO`, host address, host port; empty when a free one is chosen at the start).
fn container_port(p: &str) -> (String, String, String) {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let mut parts = ports.rsplitn(3, ':');
    let ctr = parts.next().unwrap_or_default();
    let host = parts.next().unwrap_or_default().to_string();
    let ip = parts
        .next()
        .filter(|ip| !ip.is_empty())
        .unwrap_or("0.0.0.0");
    (format!("{ctr}/{proto}"), ip.to_string(), host)
}

/// The capabilities config.json keeps, as docker's CapAdd and CapDrop against its default 14.
fn caps_against_default(spec: &Value) -> (Vec<String>, Vec<String>, bool) {
    let kept: Vec<String> = spec["process"]["capabilities"]["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str())
        .map(|c| c.trim_start_matches("CAP_").to_string())
        .collect();
    let default = crate::stages::security::DOCKER_DEFAULT_CAPS;
    let add = kept
        .iter()
        .filter(|c| !default.contains(&c.as_str()))
        .cloned()
        .collect();
    let drop = default
        .iter()
        .filter(|d| !kept.iter().any(|c| c == *d))
        .map(|d| d.to_string())
        .collect();
    // Read once for all the containers one inspect names.
    static LAST_CAP: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let all = kept.len() as u32 > *LAST_CAP.get_or_init(crate::stages::security::last_cap);
    (add, drop, all)
}

/// `--restart` as docker's HostConfig.RestartPolicy.
fn restart_policy(p: Option<&str>) -> Value {
    let p = p.unwrap_or("no");
    let (name, max) = p.split_once(':').unwrap_or((p, "0"));
    json!({"Name": name, "MaximumRetryCount": max.parse::<u32>().unwrap_or(0)})
}

/// The id of the image the container was made from (`sha256:…`, as docker's `.Image`):
/// the stored image with the same layers; empty if it is gone.
fn image_id(r: &crate::store::containers::Record) -> String {
    // Read once for all the containers one inspect names.
    static IMAGES: std::sync::OnceLock<Vec<crate::store::images::ImageRecord>> =
        std::sync::OnceLock::new();
    IMAGES
        .get_or_init(crate::store::images::list)
        .iter()
        .find(|i| i.rootfs() == r.rootfs && i.upper_layers() == r.layers)
        .map(|i| format!("sha256:{}", i.id))
        .unwrap_or_default()
}

/// A container in docker inspect's shape.
pub fn container(c: &Container) -> Value {
    let spec = bundle(c);
    let r = &c.record;
    let process = &spec["process"];
    let resources = &spec["linux"]["resources"];
    let annotation = |k: &str| spec["annotations"][k].as_str().unwrap_or("").to_string();
    let network = match annotation(crate::spec::annotation::NETWORK).as_str() {
        "" => "bridge".to_string(),
        n => n.to_string(),
    };
    let nano_cpus = match (
        resources["cpu"]["quota"].as_i64(),
        resources["cpu"]["period"].as_i64(),
    ) {
        (Some(q), Some(p)) if q > 0 && p > 0 => q * 1_000_000_000 / p,
        _ => 0,
    };
    let mounts: Vec<Value> = spec["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "bind")
        .map(|m| {
            let options = m["options"].as_array().cloned().unwrap_or_default();
            let ro = options.iter().any(|o| o == "ro" || o == "rro");
            json!({
                "Type": "bind",
                "Source": m["source"],
                "Destination": m["destination"],
                "Mode": if ro { "ro" } else { "" },
                "RW": !ro,
                "Propagation": "rprivate",
            })
        })
        .collect();
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    let publish = annotation(crate::spec::annotation::PUBLISH);
    for p in publish.split(',').filter(|p| !p.is_empty()) {
        let (ctr, ip, host) = container_port(p);
        exposed.insert(ctr.clone(), json!({}));
        bindings.insert(ctr, json!([{"HostIp": ip, "HostPort": host}]));
    }
    // docker's Binds: the -v flags, a volume by its name, a host path by itself.
    let attached: Vec<crate::store::volumes::Attached> =
        serde_json::from_str(&annotation(crate::spec::annotation::VOLUMES)).unwrap_or_default();
    let binds: Vec<String> = attached
        .iter()
        .map(|v| {
            let source = match &v.volume {
                Some(name) => name.clone(),
                None => v.source.display().to_string(),
            };
            let ro = if v.read_only { ":ro" } else { "" };
            format!("{source}:{}{ro}", v.target.display())
        })
        .collect();
    let (cap_add, cap_drop, privileged) = caps_against_default(&spec);
    let user = match (
        process["user"]["uid"].as_u64().unwrap_or(0),
        process["user"]["gid"].as_u64().unwrap_or(0),
    ) {
        (0, 0) => String::new(),
        (u, g) => format!("{u}:{g}"),
    };
    let pid = c.state().running_pid();
    let ip = pid
        .map(addresses)
        .and_then(|a| a.into_iter().next())
        .unwrap_or_default();
    let mut networks = Map::new();
    if !matches!(network.as_str(), "none" | "host") {
        networks.insert(network.clone(), json!({ "IPAddress": ip }));
    }
    let command = &r.command;
    json!({
        "Id": r.id,
        "Created": rfc3339(r.created),
        "Path": command.first().cloned().unwrap_or_default(),
        "Args": command.iter().skip(1).collect::<Vec<_>>(),
        "State": state(c),
        "Image": image_id(r),
        "LogPath": c.log_path(),
        "Name": format!("/{}", r.name),
        "RestartCount": c.state().restart_count,
        "Driver": if annotation(crate::spec::annotation::ROOTFS) == "copy" { "vfs" } else { "overlay" },
        "HostConfig": {
            "Binds": binds,
            "NetworkMode": network,
            "PortBindings": bindings,
            "RestartPolicy": restart_policy(Some(annotation(crate::spec::annotation::RESTART).as_str()).filter(|r| !r.is_empty())),
            "AutoRemove": annotation(crate::spec::annotation::REMOVE) == "true",
            "CapAdd": cap_add,
            "CapDrop": cap_drop,
            "Privileged": privileged,
            "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
            "Memory": resources["memory"]["limit"].as_i64().unwrap_or(0),
            "NanoCpus": nano_cpus,
            "PidsLimit": resources["pids"]["limit"].as_i64().filter(|n| *n > 0),
            "IDMappings": id_mappings(&spec["linux"]),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": spec["hostname"].as_str().unwrap_or(""),
            "User": user,
            "ExposedPorts": exposed,
            "Tty": process["terminal"].as_bool().unwrap_or(false),
            "OpenStdin": annotation(crate::spec::annotation::STDIN) == "inherit",
            "Env": process["env"].as_array().cloned().unwrap_or_default(),
            "Cmd": command,
            "Image": r.image,
            "WorkingDir": process["cwd"].as_str().unwrap_or(""),
            "Labels": {},
        },
        "NetworkSettings": {
            "IPAddress": ip,
            "Ports": Value::Object(Map::new()),
            "Networks": networks,
        },
    })
}

/// The user namespace's mappings of config.json (`--userns private`, or without root the
/// user's own), as podman inspect shows them: CONTAINER:HOST:SIZE; null without one.
fn id_mappings(linux: &Value) -> Value {
    let list = |key: &str| -> Vec<String> {
        linux[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!("{}:{}:{}", m["containerID"], m["hostID"], m["size"]))
            .collect()
    };
    let (uids, gids) = (list("uidMappings"), list("gidMappings"));
    match uids.is_empty() {
        true => Value::Null,
        false => json!({ "UidMap": uids, "GidMap": gids }),
    }
}

/// An image in docker inspect's shape: its config (as `save` writes it) and glassbox's
/// record of it.
pub fn image(rec: &crate::store::images::ImageRecord) -> Result<Value> {
    let config: Value = serde_json::from_slice(&rec.config_bytes()?).unwrap_or(Value::Null);
    Ok(json!({
        "Id": format!("sha256:{}", rec.id),
        "RepoTags": rec.names,
        "Parent": rec.parent.as_ref().map(|p| format!("sha256:{p}")).unwrap_or_default(),
        "Created": config["created"],
        "Config": config["config"],
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": rec.size(),
        "RootFS": {
            "Type": "layers",
            "Layers": rec.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
    }))
}

/// What NAME is: a container first (as docker looks), then an image.
fn lookup(name: &str, kind: Option<&str>) -> Result<Value> {
    if kind != Some("image") {
        match crate::store::containers::find(name) {
            Ok(c) => return Ok(container(&c)),
            Err(e) if kind == Some("container") => return Err(e),
            Err(_) => {}
        }
    }
    match crate::store::images::find(name) {
        Ok(Some(rec)) => image(&rec),
        _ => Err(Error::usage(
            format!("no such container or image: {name}"),
            "`glassbox ps -a` lists the containers, `glassbox images` the images",
        )),
    }
}

pub fn main(a: &crate::cli::InspectArgs) -> Result<i32> {
    let template = a
        .format
        .as_deref()
        .map(super::template::Template::parse)
        .transpose()?;
    let mut found = Vec::new();
    let mut code = 0;
    for name in &a.targets {
        match lookup(name, a.kind.as_deref()) {
            Ok(v) => found.push(v),
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    match template {
        Some(t) => {
            // Written a screenful at a time (one write a line before); what rendered
            // before a failing one is still printed.
            let mut lines = Vec::with_capacity(found.len());
            let mut failed = Ok(());
            for v in &found {
                match t.render(v) {
                    Ok(l) => lines.push(l),
                    Err(e) => {
                        failed = Err(e);
                        break;
                    }
                }
            }
            crate::out::print_lines(lines);
            failed?;
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(found)).expect("serializes")
        ),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_read_as_docker_shows_them() {
        let any = || "0.0.0.0".to_string();
        assert_eq!(
            container_port("8080:80/tcp"),
            ("80/tcp".into(), any(), "8080".into())
        );
        assert_eq!(
            container_port("53:53/udp"),
            ("53/udp".into(), any(), "53".into())
        );
        assert_eq!(
            container_port("127.0.0.1:8081:80/tcp"),
            ("80/tcp".into(), "127.0.0.1".into(), "8081".into())
        );
        assert_eq!(
            container_port("82/tcp"),
            ("82/tcp".into(), any(), String::new())
        );
    }
}

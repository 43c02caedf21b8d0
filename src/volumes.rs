//! `glassbox volume create|ls|inspect|rm|prune`, as `docker volume`. The volumes themselves
//! are the store's (store/volumes.rs); `run` mounts them (run/volumes.rs).

use crate::cli::VolumeCommand;
use crate::error::{Error, Result};
use crate::store::volumes::{self as store, Volume};
use crate::sys::Sys;
use std::collections::BTreeMap;

pub fn main(c: &VolumeCommand, sys: &Sys, quiet: bool) -> Result<i32> {
    match c {
        VolumeCommand::Create { name, label } => create(sys, name.as_deref(), label),
        VolumeCommand::Ls { filter } => ls(filter, quiet),
        VolumeCommand::Inspect { names } => inspect(names),
        VolumeCommand::Rm { force, names } => rm(sys, names, *force),
        VolumeCommand::Prune { all, .. } => prune(sys, *all, quiet),
    }
}

fn create(sys: &Sys, name: Option<&str>, labels: &[String]) -> Result<i32> {
    crate::store::need_root("volume create")?;
    let name = name.map_or_else(store::random_name, String::from);
    store::check_name(&name)?;
    let mut map = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        map.insert(k.to_string(), v.to_string());
    }
    let journal = sys.journal()?;
    let _lock = store::lock()?;
    // As docker: creating a volume that exists is no error, and changes nothing.
    if store::get(&name).is_none() {
        store::create(sys, journal.as_ref(), &name, map, None)?;
    }
    crate::outln!("{name}");
    Ok(0)
}

/// Whether `v` passes every `-f KEY=VALUE` (dangling=true|false, name=PART, label=KEY).
fn passes(v: &Volume, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, val)| match k.as_str() {
        "dangling" => store::users(&v.name).is_empty() == matches!(val.as_str(), "true" | "1"),
        "name" => v.name.contains(val.as_str()),
        "label" => {
            let (lk, lv) = val.split_once('=').unwrap_or((val, ""));
            v.labels
                .get(lk)
                .is_some_and(|x| !val.contains('=') || x == lv)
        }
        _ => true,
    })
}

fn ls(filter: &[String], quiet: bool) -> Result<i32> {
    let mut filters = Vec::new();
    for f in filter {
        match f.split_once('=') {
            Some((k @ ("dangling" | "name" | "label"), v)) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => {
                return Err(Error::usage(
                    format!("invalid filter '{f}'"),
                    "filter with -f dangling=true, -f name=PART or -f label=KEY[=VALUE]",
                ))
            }
        }
    }
    let shown: Vec<Volume> = store::list()
        .into_iter()
        .filter(|v| passes(v, &filters))
        .collect();
    if !quiet {
        crate::outln!("{:<10}VOLUME NAME", "DRIVER");
    }
    for v in shown {
        if quiet {
            crate::outln!("{}", v.name);
        } else {
            crate::outln!("{:<10}{}", "local", v.name);
        }
    }
    Ok(0)
}

/// What `docker volume inspect` prints for a local volume.
fn inspect_json(v: &Volume) -> serde_json::Value {
    serde_json::json!({
        "CreatedAt": crate::clock::rfc3339(v.created),
        "Driver": "local",
        "Labels": v.labels,
        "Mountpoint": v.mountpoint(),
        "Name": v.name,
        "Options": null,
        "Scope": "local",
    })
}

fn no_such(name: &str) -> Error {
    Error::usage(
        format!("no such volume: {name}"),
        "`glassbox volume ls` lists the volumes there are",
    )
    .with_code(1)
}

fn inspect(names: &[String]) -> Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        match store::get(n) {
            Some(v) => out.push(inspect_json(&v)),
            None => {
                crate::narrate::report_error(&no_such(n));
                code = 1;
            }
        }
    }
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&out).expect("JSON serializes")
    );
    Ok(code)
}

fn rm(sys: &Sys, names: &[String], force: bool) -> Result<i32> {
    crate::store::need_root("volume rm")?;
    let journal = sys.journal()?;
    let _lock = store::lock()?;
    let mut code = 0;
    for n in names {
        let done = (|| -> Result<()> {
            if store::get(n).is_none() {
                return if force { Ok(()) } else { Err(no_such(n)) };
            }
            let users = store::users(n);
            if !users.is_empty() {
                return Err(Error::usage(
                    format!(
                        "cannot remove volume {n}: it is in use by container {} (running or stopped, a container keeps its volumes)",
                        users.join(", ")
                    ),
                    format!("remove the container first (glassbox rm {}), then the volume", users.join(" ")),
                )
                .with_code(1));
            }
            store::remove(sys, journal.as_ref(), n)
        })();
        match done {
            Ok(()) => crate::outln!("{n}"),
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Remove the volumes no container uses: anonymous ones, or every one with --all (as
/// docker 23 and later).
fn prune(sys: &Sys, all: bool, quiet: bool) -> Result<i32> {
    crate::store::need_root("volume prune")?;
    let journal = sys.journal()?;
    let _lock = store::lock()?;
    let mut reclaimed = 0;
    let mut deleted = Vec::new();
    for v in store::list() {
        if !(all || v.anonymous()) || !store::users(&v.name).is_empty() {
            continue;
        }
        let bytes = store::size(&v.mountpoint());
        store::remove(sys, journal.as_ref(), &v.name)?;
        reclaimed += bytes;
        deleted.push(v.name);
    }
    if quiet {
        return Ok(0);
    }
    if !deleted.is_empty() {
        crate::outln!("Deleted Volumes:");
        for d in &deleted {
            crate::outln!("{d}");
        }
        crate::outln!();
    }
    crate::outln!(
        "Total reclaimed space: {}",
        crate::out::docker_size(reclaimed)
    );
    Ok(0)
}

//! `glassbox network create|ls|rm`: user-defined bridges, as `docker network`. A network is
//! a name, a bridge and a subnet (the network stage's config); its bridge, address and rules
//! are made by the first container that uses it and removed here, each in the network
//! namespace it was made in (cleanup's rule).

use crate::cli::NetworkCommand;
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::stages::network::config::{self, Network};
use crate::sys::net::link_index;
use crate::sys::Sys;
use std::net::Ipv4Addr;

/// `glassbox network create|ls|rm`.
pub fn main(c: &NetworkCommand, sys: &Sys) -> Result<i32> {
    match c {
        NetworkCommand::Create {
            name,
            subnet,
            gateway,
            internal,
        } => create(name, subnet.as_deref(), gateway.as_deref(), *internal),
        NetworkCommand::Inspect { name } => inspect(name),
        NetworkCommand::Prune => prune(sys),
        NetworkCommand::Connect {
            alias,
            network,
            container,
        } => crate::stages::network::attach::connect(sys, network, container, alias),
        NetworkCommand::Disconnect { network, container } => {
            crate::stages::network::attach::disconnect(sys, network, container)
        }
        NetworkCommand::Ls => {
            crate::outln!("{:<16} {:<16} SUBNET", "NAME", "BRIDGE");
            let mut all = Vec::new();
            if let Ok(d) = config::default_network() {
                all.push(d);
            }
            all.extend(config::user_networks());
            for n in all {
                crate::outln!("{:<16} {:<16} {}", n.name, n.bridge, n.subnet);
            }
            Ok(0)
        }
        NetworkCommand::Rm { name } => rm(sys, name),
        NetworkCommand::ServeDns { name } => crate::stages::network::dns::serve(sys, name),
    }
}

fn create(name: &str, subnet: Option<&str>, gateway: Option<&str>, internal: bool) -> Result<i32> {
    config::check_name(name)?;
    let _lock = config::lock()?;
    let others: Vec<Network> = config::user_networks()
        .into_iter()
        .chain(config::default_network().ok())
        .collect();
    if others.iter().any(|n| n.name == name) {
        return Err(Error::usage(
            format!("a network called {name:?} exists already"),
            "choose another name, or remove it first (glassbox network rm)",
        ));
    }
    if link_index(name) != 0 {
        return Err(Error::usage(
            format!("the host already has a link called {name:?}"),
            "choose another name",
        ));
    }
    let free = |s: &config::Subnet| {
        config::clash(s, name).is_none() && others.iter().all(|n| !n.subnet.overlaps(s))
    };
    let subnet = match subnet {
        Some(text) => {
            let s = config::Subnet::parse(text).ok_or_else(|| {
                Error::usage(
                    format!("--subnet {text:?} is not an IPv4 subnet with a prefix from 8 to 30"),
                    "give --subnet as 10.80.0.0/24",
                )
            })?;
            if !free(&s) {
                return Err(Error::usage(
                    format!("--subnet {s} overlaps a host route or another network"),
                    "choose a free subnet (ip route; glassbox network ls)",
                ));
            }
            s
        }
        None => (78..=250)
            .filter_map(|i| config::Subnet::parse(&format!("10.{i}.0.0/24")))
            .find(free)
            .ok_or_else(|| {
                Error::usage("no free 10.N.0.0/24 subnet is left", "give --subnet CIDR")
            })?,
    };
    let gateway = match gateway {
        None => None,
        Some(text) => {
            let ok = text
                .parse::<Ipv4Addr>()
                .ok()
                .filter(|g| subnet.contains(*g) && *g != subnet.base && *g != subnet.broadcast());
            Some(ok.ok_or_else(|| {
                Error::usage(
                    format!("--gateway {text:?} is not a host address of the subnet {subnet}"),
                    format!("give an address inside {subnet}, as {}", subnet.gateway()),
                )
            })?)
        }
    };
    config::save(&Network {
        name: name.into(),
        bridge: name.into(),
        subnet,
        gateway,
        internal,
    })?;
    crate::outln!("{name} {subnet}");
    Ok(0)
}

fn rm(sys: &Sys, name: &str) -> Result<i32> {
    if ["bridge", "none", "host"].contains(&name) {
        return Err(Error::usage(
            format!("{name} is a built-in network and cannot be removed"),
            "`glassbox cleanup` removes the default bridge gb0 when nothing uses it",
        ));
    }
    let net = config::find(name)?;
    let journal = Journal::open()?;
    let _lock = config::lock()?;
    if !config::leased(&journal, name).is_empty() {
        return Err(Error::usage(
            format!("the network {name} is in use by running containers"),
            "stop them first",
        ));
    }
    sys.narrator
        .stage("network", &format!("remove network {name}"));
    let tag = format!("glassbox:net:{name}");
    let bridge_ns: Vec<_> = journal
        .entries()
        .into_iter()
        .filter(|e| matches!(&e.resource, Resource::Bridge { name: b } if *b == net.bridge))
        .map(|e| e.netns)
        .collect();
    // Each in the network namespace it was made in (cleanup's rule).
    let report = crate::cleanup::cleanup_where(sys, &journal, |e| match &e.resource {
        Resource::FirewallRule { delete } => delete.contains(&tag),
        Resource::Bridge { name: b } => *b == net.bridge,
        _ => false,
    });
    if let Some(left) = report.failed.first().or(report.in_use.first()) {
        return Err(Error::new(
            format!("cannot remove network {name}: {left}"),
            "see glassbox cleanup",
        ));
    }
    // If that was the last bridge of its namespace, ip_forward goes back there (the entry
    // refuses while other bridges stay).
    crate::cleanup::cleanup_where(sys, &journal, |e| {
        matches!(e.resource, Resource::Sysctl { .. }) && bridge_ns.contains(&e.netns)
    });
    config::forget(name);
    crate::outln!("{name}");
    Ok(0)
}

/// `glassbox network inspect NAME`: as docker network inspect prints it (a list of one).
fn inspect(name: &str) -> Result<i32> {
    let net = config::find(name)?;
    let mut containers = serde_json::Map::new();
    for c in crate::store::containers::list() {
        if c.state().effective() != crate::store::containers::Status::Running {
            continue;
        }
        for e in crate::stages::network::dns::load_endpoints(&c.dir) {
            if e.network == net.name {
                containers.insert(
                    c.id().to_string(),
                    serde_json::json!({
                        "Name": c.name(),
                        "IPv4Address": format!("{}/{}", e.address, net.subnet.prefix),
                        "Aliases": e.names,
                    }),
                );
            }
        }
    }
    let v = serde_json::json!([{
        "Name": net.name,
        "Id": net.id(),
        "Driver": "bridge",
        "IPAM": { "Driver": "default", "Config": [{
            "Subnet": net.subnet.to_string(),
            "Gateway": net.gateway().to_string(),
        }]},
        "Internal": net.internal,
        "Options": { "com.docker.network.bridge.name": net.bridge },
        "Containers": containers,
    }]);
    crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap());
    Ok(0)
}

/// `glassbox network prune`: every user-defined network no running container uses.
fn prune(sys: &Sys) -> Result<i32> {
    let journal = Journal::open()?;
    let unused: Vec<Network> = config::user_networks()
        .into_iter()
        .filter(|n| config::leased(&journal, &n.name).is_empty())
        .collect();
    if unused.is_empty() {
        return Ok(0);
    }
    crate::outln!("Deleted Networks:");
    for n in unused {
        rm(sys, &n.name)?;
    }
    Ok(0)
}

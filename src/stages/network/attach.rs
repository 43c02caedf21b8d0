//! `glassbox network connect|disconnect`: a running container joins another network, or
//! leaves one, hot — as `docker network connect` does it: one more veth pair, its inside end
//! born in the container's network namespace as eth1 (eth2, …), addressed there; no default
//! route (that stays with the first network).
//!
//! What connect makes lives as long as the container: its lease and link are journalled
//! with the container's PID 1 as their owner, so they count as in use while it runs, and the
//! run that waits for the container (or `cleanup`) undoes them when it ends.

use super::config;
use super::dns::{self, Endpoint};
use crate::error::{Error, Result};
use crate::journal::{Journal, Owner, Resource};
use crate::store::containers::Container;
use crate::sys::net::link_index;
use crate::sys::Sys;
use std::os::fd::{AsFd, AsRawFd};

/// The running container `reference`, its PID 1 and its endpoints.
fn running(reference: &str) -> Result<(Container, Owner, Vec<Endpoint>)> {
    let c = crate::store::containers::find(reference)?;
    let owner = c.state().process.filter(|p| p.is_alive()).ok_or_else(|| {
        Error::usage(
            format!("container {reference} is not running"),
            format!("start it first (glassbox start {reference})"),
        )
    })?;
    let endpoints = dns::load_endpoints(&c.dir);
    Ok((c, owner, endpoints))
}

/// `network connect [--alias A] NET CONTAINER`.
pub fn connect(sys: &Sys, network: &str, reference: &str, aliases: &[String]) -> Result<i32> {
    let n = sys.narrator;
    let net = config::find(network)?;
    let (c, owner, mut endpoints) = running(reference)?;
    if endpoints.is_empty() {
        return Err(Error::usage(
            format!("container {reference} has no bridge network (it runs with --network none, host or container:)"),
            "connect containers that run on a bridge network (--network bridge or a network of yours)",
        ));
    }
    if endpoints.iter().any(|e| e.network == net.name) {
        return Err(Error::usage(
            format!("container {reference} is on network {network} already"),
            format!("disconnect it first (glassbox network disconnect {network} {reference})"),
        ));
    }
    for a in aliases {
        crate::run::config::check_hostname(a)?;
    }
    let journal = Journal::open()?;
    let lock = config::lock()?;
    let taken = config::leased(&journal, &net.name);
    let addr = net.hosts().find(|h| !taken.contains(h)).ok_or_else(|| {
        Error::usage(
            format!("the network {} has no free address left", net.name),
            "stop a container on it, or use a network with a bigger subnet",
        )
    })?;
    n.stage(
        "network",
        &format!("connect {} to {} ({}), hot", c.name(), net.name, net.subnet),
    );
    journal.record_for(
        Resource::Lease {
            network: net.name.clone(),
            address: addr.to_string(),
        },
        owner.clone(),
    )?;
    let mut nl = sys.netlink_open("the routing socket, to add the container's new cable")?;
    super::ensure_bridge(sys, &journal, &mut nl, &net)?;
    if net.name != "bridge" {
        dns::ensure(sys, &journal, &net)?;
    }
    drop(lock);
    // The first free number: eth1 again after a disconnect took it out.
    let k = (1..)
        .find(|k| {
            let h = format!("gbh{}n{k}", owner.pid);
            link_index(&h) == 0 && !endpoints.iter().any(|e| e.link.as_deref() == Some(&h))
        })
        .unwrap();
    let inside = format!("eth{k}");
    let host = format!("gbh{}n{k}", owner.pid);
    journal.record_for(Resource::Link { name: host.clone() }, owner.clone())?;
    sys.link_add_veth(
        &mut nl,
        &host,
        None,
        &inside,
        owner.pid as i32,
        &format!("one more cable: its other end is born inside the container as {inside}"),
    )?;
    sys.link_set_up(
        &mut nl,
        &host,
        Some((&net.bridge, link_index(&net.bridge))),
        "plug the host end into the network's bridge and bring it up",
    )?;
    inside_the_container(sys, owner.pid, |sys| {
        let mut nl = sys.netlink_open("a routing socket inside the container's namespace")?;
        sys.addr_add(
            &mut nl,
            &inside,
            addr,
            net.subnet.prefix,
            "its address on the new network",
        )?;
        sys.link_set_up(&mut nl, &inside, None, "bring its new end up")
    })?;
    let mut names = vec![c.name().to_string(), c.id().chars().take(12).collect()];
    names.extend(aliases.iter().cloned());
    endpoints.push(Endpoint {
        network: net.name.clone(),
        address: addr,
        names,
        link: Some(host),
    });
    dns::save_endpoints(&c.dir, &endpoints)?;
    n.note(&format!(
        "{} is on {} as {addr} ({inside}); its names resolve there",
        c.name(),
        net.name
    ));
    Ok(0)
}

/// `network disconnect NET CONTAINER`: its cable on that network out, lease freed.
pub fn disconnect(sys: &Sys, network: &str, reference: &str) -> Result<i32> {
    let net = config::find(network)?;
    let (c, owner, mut endpoints) = running(reference)?;
    let Some(at) = endpoints.iter().position(|e| e.network == net.name) else {
        return Err(Error::usage(
            format!("container {reference} is not on network {network}"),
            format!("glassbox network inspect {network} lists who is"),
        ));
    };
    if endpoints[at].link.is_none() {
        return Err(Error::usage(
            format!("{network} is the network container {reference} was started on"),
            "only networks added with glassbox network connect can be disconnected",
        ));
    }
    sys.narrator.stage(
        "network",
        &format!("disconnect {} from {}, hot", c.name(), net.name),
    );
    let ep = endpoints.remove(at);
    let journal = Journal::open()?;
    let mine = |e: &crate::journal::Entry| e.owner == owner;
    for e in journal.entries().into_iter().filter(mine) {
        match &e.resource {
            Resource::Link { name } if ep.link.as_ref() == Some(name) => {
                let mut nl = sys.netlink_open("the routing socket, to pull the cable out")?;
                sys.link_del(
                    &mut nl,
                    name,
                    "delete the host end: the end inside the container goes with it",
                )?;
                journal.strike(&e.id);
            }
            Resource::Lease { network, address }
                if *network == net.name && *address == ep.address.to_string() =>
            {
                journal.strike(&e.id);
            }
            _ => {}
        }
    }
    dns::save_endpoints(&c.dir, &endpoints)?;
    if net.name != "bridge" {
        dns::stop_if_idle(sys, &journal, &net.name)?;
    }
    Ok(0)
}

/// Run `f` in the network namespace of process `pid` (this thread joins it, then comes back).
fn inside_the_container(sys: &Sys, pid: u32, f: impl FnOnce(&Sys) -> Result<()>) -> Result<()> {
    let todo = "check that the container still runs (glassbox ps)";
    let home = super::open_ns_file("/proc/thread-self/ns/net", todo)?;
    // Once this thread has moved, its ns file is the container's: the way back is the
    // descriptor kept open.
    let home_path = format!("/proc/self/fd/{}", home.as_raw_fd());
    let theirs = format!("/proc/{pid}/ns/net");
    let there = super::open_ns_file(&theirs, todo)?;
    sys.setns(
        there.as_fd(),
        None,
        &theirs,
        libc::CLONE_NEWNET,
        "into the container's network namespace, to address its new end there",
    )?;
    let done = f(sys);
    sys.setns(
        home.as_fd(),
        None,
        &home_path,
        libc::CLONE_NEWNET,
        "back to the host's network namespace",
    )?;
    done
}

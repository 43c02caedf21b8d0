//! The network stage: give a command its own network namespace wired to a bridge (or none,
//! or the host's), then run it. `glassbox network` (user-defined bridges) is in networks.rs.
//!
//! Bridge mode, in order (as `ip` and `iptables` by hand would do it):
//! 1. validate everything (network, --ip, --publish, ports free) and lease an address under a
//!    file lock — before the first change;
//! 2. make the bridge if missing: bridge link, gateway address, up, route_localnet,
//!    ip_forward (its old value journalled), and the network's rules (masquerade out,
//!    isolation from other bridges, forward accept). These belong to the network, not to
//!    the container that made them first: they stay, as docker0 does, until `network rm`,
//!    or `glassbox cleanup` once no container uses them; `rm` of that container leaves them;
//! 3. fork the command with CLONE_NEWNET; the child waits on a pipe while the parent makes a
//!    veth pair whose peer is born inside the child's namespace as `eth0`, puts the host end
//!    on the bridge and adds the --publish DNAT rules;
//! 4. the child, now inside its own namespace, brings `lo` up, addresses `eth0`, brings it up,
//!    adds the default route via the bridge, and execs the command;
//! 5. when the command ends the parent deletes the rules and the veth and frees the lease.
//!
//! /etc/hosts and /etc/resolv.conf are left to `glassbox run`: this stage's command runs on the
//! host's filesystem, where those files are the host's.

pub mod attach;
pub mod config;
pub mod dns;
pub mod firewall;
pub mod ports;
pub mod watcher;

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::sys::channel::Channel;
use crate::sys::net::{link_index, LinkWatch, Netlink};
use crate::sys::process::{forward_signals_to, Forked};
use crate::sys::Sys;
use config::Network;
use firewall::Rule;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

pub use ports::Publish;

/// How a command is networked (`--network`): the one parser `glassbox net` and `run` use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// The host's own network namespace.
    Host,
    /// A network namespace of its own with only a loopback device.
    None,
    /// A network namespace wired to a bridge: `bridge` (gb0) or a `glassbox network create` one.
    Bridge(String),
    /// `container:NAME`: the network namespace of that running container, whose PID 1 is
    /// this pid (joined with setns(2), as docker's --network container:NAME).
    Container(String, u32),
}

impl NetworkMode {
    /// `host`, `none`, `bridge` or the name of a user-defined network (which must exist).
    pub fn parse(name: &str) -> Result<NetworkMode> {
        if let Some(other) = name.strip_prefix("container:") {
            let c = crate::store::containers::find(other)?;
            let pid = c
                .state()
                .process
                .filter(|p| p.is_alive())
                .map(|p| p.pid)
                .ok_or_else(|| {
                    Error::usage(
                        format!("--network {name}: container {other} is not running"),
                        format!("start it first (glassbox start {other})"),
                    )
                })?;
            return Ok(NetworkMode::Container(other.to_string(), pid));
        }
        Ok(match name {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            name => {
                if name != "bridge" {
                    config::find(name)?;
                }
                NetworkMode::Bridge(name.to_string())
            }
        })
    }

    /// As `--network` spells it.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::Host => "host".into(),
            NetworkMode::None => "none".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(n, _) => format!("container:{n}"),
        }
    }
}

/// Every `--publish`, checked: each host port once, and only on a bridge network.
pub fn parse_publish_all(specs: &[String], mode: &NetworkMode) -> Result<Vec<Publish>> {
    let mut publish: Vec<Publish> = Vec::new();
    for spec in specs {
        for p in ports::parse(spec)? {
            let clash = |q: &Publish| {
                q.host == p.host
                    && q.proto == p.proto
                    && (q.ip.is_none() || p.ip.is_none() || q.ip == p.ip)
            };
            if p.host != 0 && publish.iter().any(clash) {
                return Err(Error::usage(
                    format!("host port {}/{} is published twice", p.host, p.proto),
                    "publish each host port once",
                ));
            }
            publish.push(p);
        }
    }
    if !publish.is_empty() && !matches!(mode, NetworkMode::Bridge(_)) {
        return Err(Error::usage(
            format!(
                "--publish needs a bridge network, and --network {} has none",
                mode.name()
            ),
            "leave out --publish, or use --network bridge",
        ));
    }
    Ok(publish)
}

/// What `glassbox net` is asked for: the network (bridge, none, host or a user one), an
/// address, published ports; and the command to run in it.
#[derive(Debug, Clone, Default)]
pub struct NetSpec {
    pub network: String,
    pub ip: Option<String>,
    pub publish: Vec<String>,
    pub command: Vec<String>,
}

pub fn main(a: &NetSpec, sys: &Sys) -> Result<i32> {
    let mode = NetworkMode::parse(&a.network)?;
    if !matches!(mode, NetworkMode::Bridge(_)) && (a.ip.is_some() || !a.publish.is_empty()) {
        return Err(Error::usage(
            format!(
                "--ip and --publish need a bridge network, and --network {} has none",
                a.network
            ),
            "leave out --ip and --publish, or use --network bridge",
        ));
    }
    let publish = parse_publish_all(&a.publish, &mode)?;
    match mode {
        NetworkMode::Host => {
            sys.narrator
                .stage("net", "host network: no namespace of its own");
            sys.narrator.note(
                "the command shares the host's network namespace: its links, addresses, ports",
            );
            super::exec_tail(sys, &a.command)
        }
        NetworkMode::None => none(sys, a),
        NetworkMode::Bridge(name) => bridged(sys, a, &name, &publish),
        NetworkMode::Container(..) => Err(Error::usage(
            "`glassbox net` cannot join a container's network",
            "use glassbox run --network container:NAME, or glassbox enter PID",
        )),
    }
}

/// `--network none`: a new network namespace with only `lo`, up.
fn none(sys: &Sys, a: &NetSpec) -> Result<i32> {
    sys.narrator
        .stage("net", "a network namespace of its own, with only lo");
    let (forked, gate) = sys.fork_gated(
        libc::CLONE_NEWNET,
        "a child in a new, empty network namespace",
    )?;
    match forked {
        Forked::Child => child_finish(sys, a, None, gate.as_ref()),
        Forked::Parent(pid) => {
            forward_signals_to(pid);
            let ended = sys.wait_child(pid, gate.as_ref(), "wait for the command to end");
            let ended = ended?;
            sys.narrator
                .note(&format!("the command {}", ended.describe()));
            Ok(ended.code())
        }
    }
}

/// What the child configures inside its namespace.
#[derive(Debug, Clone, Copy)]
pub struct Inside {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

/// Inside the new network namespace: lo up, then (bridge mode) eth0 addressed and up with a
/// default route. What `glassbox net` and `run` both do in the child.
pub fn configure_inside(sys: &Sys, inside: Option<Inside>) -> Result<()> {
    let mut nl = sys.netlink_open("a routing socket inside the new network namespace")?;
    sys.link_set_up(&mut nl, "lo", None, crate::sys::net::LO_UP_WHY)?;
    if let Some(i) = inside {
        sys.addr_add(
            &mut nl,
            "eth0",
            i.addr,
            i.prefix,
            "the container's own address on the bridge's subnet",
        )?;
        sys.link_set_up(
            &mut nl,
            "eth0",
            None,
            "bring the container's end of the veth up",
        )?;
        sys.route_add_default(
            &mut nl,
            i.gateway,
            "everything not on the subnet goes to the bridge, the container's gateway",
        )?;
    }
    Ok(())
}

/// `--network none` for a child cloned without it (a child cloned ahead, see
/// `run::parent::ChildAhead`), made by the parent while the child builds its filesystem:
/// the kernel's slowest namespace to make is then made beside the child's work, not before
/// it. This thread steps into a new network namespace, brings lo up, keeps the namespace
/// open, and steps back; [`hand_empty`] gives the child the open file.
pub fn make_empty(sys: &Sys) -> Result<std::fs::File> {
    let ours = "/proc/thread-self/ns/net";
    let todo = "check that /proc is mounted (glassbox reads its own namespaces there)";
    let home = open_ns_file(ours, todo)?;
    // Once this thread has moved, its ns file is the new namespace: the way back is the
    // descriptor kept open.
    let home_path = format!("/proc/self/fd/{}", home.as_raw_fd());
    sys.unshare(
        libc::CLONE_NEWNET,
        "a network namespace for the container, made by the parent while its child builds the container's filesystem",
    )?;
    let made = configure_inside(sys, None).and_then(|_| open_ns_file(ours, todo));
    // Back whatever happened: the rest of the parent's work is in the host's namespace.
    let back = sys.setns(
        home.as_fd(),
        None,
        &home_path,
        libc::CLONE_NEWNET,
        "back to the host's network namespace (the new one lives on while a descriptor of it is open)",
    );
    if let Err(e) = back {
        // Only undoing is left to do, none of it in a network namespace.
        return Err(e.with_why(
            "glassbox is left in the container's new network namespace: the container is not started",
        ));
    }
    made
}

/// The empty network namespace for a child cloned ahead: the one `helper` made beside
/// glassbox's start (sys/empty_net.rs), or, without one (or when it gave up before its
/// work), one [`make_empty`] makes now.
pub fn empty(
    sys: &Sys,
    helper: Option<crate::sys::empty_net::EmptyNet<'_, '_>>,
) -> Result<std::fs::File> {
    let why = "a network namespace for the container, made beside glassbox's start while it planned the container";
    match helper.map(|h| h.take(why)).transpose()?.flatten() {
        Some(ns) => Ok(ns),
        None => make_empty(sys),
    }
}

/// Send the namespace [`empty`] gives to the child, over `gate`.
pub fn hand_empty(sys: &Sys, gate: &Channel, ns: &std::fs::File) -> Result<()> {
    sys.hand_namespace(
        gate,
        ns.as_fd(),
        "hand the child its network namespace: it joins it before it mounts /sys, whose class/net shows the namespace's interfaces",
    )
}

/// In a child cloned ahead: join the network namespace its parent hands it ([`empty`]). A
/// parent that gave up instead ends the child here, unstarted.
pub fn join_empty(sys: &Sys, gate: &Channel) -> Result<()> {
    let why =
        "wait for the network namespace the parent hands over, made while this child builds the container";
    let Some(ns) = sys.wait_for_namespace(gate, why)? else {
        crate::sys::signals::exit_now(crate::error::exit::GLASSBOX)
    };
    let path = format!("/proc/self/fd/{}", ns.as_raw_fd());
    sys.setns(
        ns.as_fd(),
        None,
        &path,
        libc::CLONE_NEWNET,
        "join the container's network namespace, handed by the parent: only lo, up",
    )
}

/// Open a namespace file (`/proc/PID/ns/net`) to join it, or to keep it alive; `todo`
/// says what to check if it cannot be opened.
pub(crate) fn open_ns_file(path: &str, todo: &str) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open {path}"), &e, todo))
}

/// In the child: configure the namespace, then exec the command. A failure goes to the
/// parent on `parent` (which reports it), or is reported here when there is none.
fn child_finish(
    sys: &Sys,
    a: &NetSpec,
    inside: Option<Inside>,
    parent: Option<&Channel>,
) -> Result<i32> {
    let err = match configure_inside(sys, inside).and_then(|_| super::exec_tail(sys, &a.command)) {
        Err(e) => e,
        Ok(_) => unreachable!("exec returns only on failure"),
    };
    sys.fail_to_parent(parent, &err)
}

/// Undo a list of (journal id, resource), newest first; the first error is returned after
/// every undo was tried.
fn undo_all(sys: &Sys, journal: &Journal, made: &mut Vec<(String, Resource)>) -> Result<()> {
    let mut first = None;
    while let Some((id, r)) = made.pop() {
        match undo(sys, &r) {
            Ok(()) => journal.strike(&id),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Undo what one container made on `net`; its name server goes with its last container.
/// The host end of its veth is left to the kernel, which removes it with the container's
/// network namespace, and the wait for that to a watcher process (see watcher.rs).
fn release(
    sys: &Sys,
    journal: &Journal,
    made: &mut Vec<(String, Resource)>,
    net: &Network,
    watch: Option<LinkWatch>,
) -> Result<()> {
    let veth = watch.and_then(|w| {
        let at = made
            .iter()
            .position(|(_, r)| matches!(r, Resource::Link { name } if *name == w.name))?;
        Some((made.remove(at), w))
    });
    let mut undone = undo_all(sys, journal, made);
    if let Some(((id, link), w)) = veth {
        if watcher::leave(sys, journal, &id, w).is_err() {
            // No watcher: the link is deleted here, as before the kernel was left to it.
            made.push((id, link));
            undone = undone.and(undo_all(sys, journal, made));
        }
    }
    if net.name != "bridge" {
        sys.compound("", || dns::stop_if_idle(sys, journal, &net.name), || ())?;
    }
    undone
}

/// A bridged network made ready for one container, before its process exists: the bridge
/// (made if missing), a leased address, and what must be undone.
pub struct Wiring {
    pub net: Network,
    pub addr: Ipv4Addr,
    pub journal: Journal,
    pub nl: Netlink,
    pub made: Vec<(String, Resource)>,
    /// The published ports, each with its host port (a free one chosen for `-p CTR`).
    pub publish: Vec<Publish>,
    /// The container's PID 1, once wired: what `network connect` adds is journalled for it.
    pub pid: Option<i32>,
    /// Listens for the kernel's removal of the host end of the veth (see `release`).
    pub watch: Option<LinkWatch>,
}

impl Wiring {
    /// What the child must set up inside its namespace.
    pub fn inside(&self) -> Inside {
        Inside {
            addr: self.addr,
            prefix: self.net.subnet.prefix,
            gateway: self.net.gateway(),
        }
    }

    /// In the parent, once the child exists: its veth, onto the bridge, and the DNAT rules.
    pub fn connect(&mut self, sys: &Sys, pid: i32) -> Result<()> {
        self.pid = Some(pid);
        self.watch = wire(
            sys,
            &self.journal,
            &mut self.nl,
            &self.net,
            pid,
            self.addr,
            &self.publish,
            &mut self.made,
        )?;
        Ok(())
    }

    /// Undo the rules, the veth and the lease (the bridge stays, as docker0 does), and stop
    /// the network's name server if that was its last container. What `network connect`
    /// added is the caller's to undo first (`cleanup::release_connected`).
    pub fn undo(&mut self, sys: &Sys) -> Result<()> {
        release(
            sys,
            &self.journal,
            &mut self.made,
            &self.net,
            self.watch.take(),
        )
    }
}

/// Check the network, the address and the ports, make the bridge if missing, lease an
/// address — everything before the container's process exists.
pub fn prepare(sys: &Sys, name: &str, ip: Option<&str>, publish: &[Publish]) -> Result<Wiring> {
    let n = sys.narrator;
    let net = config::find(name)?;
    let journal = sys.journal_to_plan()?;
    for p in publish.iter().filter(|p| p.host != 0) {
        ports::check_free(p)?;
    }
    let lock = config::lock()?;
    // One read of the journal under the lock, for the ports and the addresses taken.
    let live = config::live(&journal);
    let mut published = config::published_in(&live);
    for p in publish.iter().filter(|p| p.host != 0) {
        if published.contains(&(p.host, p.proto.to_string())) {
            return Err(Error::usage(
                format!(
                    "host port {}/{} is already published by another container",
                    p.host, p.proto
                ),
                "choose another host port, or stop that container (glassbox ps shows its PORTS)",
            ));
        }
    }
    // `-p CTR`: a free host port, chosen under the lock so no other container gets it.
    let mut publish = publish.to_vec();
    published.extend(publish.iter().map(|p| (p.host, p.proto.to_string())));
    for p in publish.iter_mut().filter(|p| p.host == 0) {
        p.host = ports::choose(p.host_ip(), p.proto, &published)?;
        published.push((p.host, p.proto.to_string()));
        n.note(&format!(
            "container port {}/{} gets the free host port {}",
            p.ctr, p.proto, p.host
        ));
    }
    let taken = config::leased_in(&live, &net.name);
    let addr = match ip {
        Some(ip) => config::check_ip(ip, &net, &taken)?,
        None => net.hosts().find(|h| !taken.contains(h)).ok_or_else(|| {
            Error::usage(
                format!("the network {} has no free address left", net.name),
                "stop a container on it, or use a network with a bigger subnet",
            )
        })?,
    };
    n.stage(
        "net",
        &format!(
            "a network namespace wired to bridge {} ({})",
            net.bridge, net.subnet
        ),
    );
    let mut nl =
        sys.netlink_open("the kernel's routing socket, to make links, addresses and routes")?;
    ensure_bridge(sys, &journal, &mut nl, &net)?;
    let mut made: Vec<(String, Resource)> = Vec::new();
    let lease = Resource::Lease {
        network: net.name.clone(),
        address: addr.to_string(),
    };
    made.push((journal.record(lease.clone())?, lease));
    // The ports too, under the same lock: the next container sees them taken.
    for p in &publish {
        let port = Resource::Port {
            port: p.host,
            proto: p.proto.to_string(),
        };
        made.push((journal.record(port.clone())?, port));
    }
    // A user-defined network's name server (the default bridge has none, as docker0).
    if net.name != "bridge" {
        if let Err(e) = dns::ensure(sys, &journal, &net) {
            let _ = undo_all(sys, &journal, &mut made);
            return Err(e);
        }
    }
    drop(lock);
    n.note(&format!(
        "leased {addr}/{} on {}",
        net.subnet.prefix, net.name
    ));
    Ok(Wiring {
        net,
        addr,
        journal,
        nl,
        made,
        publish,
        pid: None,
        watch: None,
    })
}

fn bridged(sys: &Sys, a: &NetSpec, name: &str, publish: &[Publish]) -> Result<i32> {
    sys.require(|| match crate::host::rootless() {
        false => Ok(()),
        true => Err(Error::usage(
            format!("glassbox net --network {name} needs root: its bridge, the veth's host end and the firewall rules are made in the host's network namespace, which an ordinary user may not change"),
            "use --network none inside `glassbox unshare --user --map-root-user --net …`, or `glassbox run --network bridge` (without root: a user-mode network through slirp4netns), or run it as root",
        )),
    })?;
    let n = sys.narrator;
    let Wiring {
        net,
        addr,
        journal,
        mut nl,
        mut made,
        publish,
        ..
    } = prepare(sys, name, a.ip.as_deref(), publish)?;
    // The child waits at its gate until its veth is in; its end of the channel closes at
    // its exec, or carries why it failed first.
    let forked = sys.fork_gated(
        libc::CLONE_NEWNET,
        "a child in a new network namespace; it waits until its veth is in",
    );
    let (pid, gate) = match forked {
        Err(e) => {
            let _ = undo_all(sys, &journal, &mut made);
            return Err(e);
        }
        Ok((Forked::Child, gate)) => {
            return child_finish(
                sys,
                a,
                Some(Inside {
                    addr,
                    prefix: net.subnet.prefix,
                    gateway: net.gateway(),
                }),
                gate.as_ref(),
            );
        }
        Ok((Forked::Parent(pid), gate)) => (pid, gate),
    };
    forward_signals_to(pid);
    let watch = match wire(sys, &journal, &mut nl, &net, pid, addr, &publish, &mut made) {
        Ok(watch) => watch,
        Err(e) => {
            // Closed without Go, the gate ends the child; collect it, then undo.
            drop(gate);
            let _ = sys.wait(pid, "the setup failed: collect the child, which exits");
            let _ = undo_all(sys, &journal, &mut made);
            return Err(e);
        }
    };
    let ended = sys.wait_child(
        pid,
        gate.as_ref(),
        "wait for the command to end, then undo the wiring",
    );
    n.stage("net", "undo: rules, veth and lease");
    let undone = release(sys, &journal, &mut made, &net, watch);
    let ended = ended?;
    n.note(&format!("the command {}", ended.describe()));
    undone?;
    Ok(ended.code())
}

/// In the parent: the veth pair into the child's namespace, onto the bridge; the DNAT rules.
#[allow(clippy::too_many_arguments)]
fn wire(
    sys: &Sys,
    journal: &Journal,
    nl: &mut Netlink,
    net: &Network,
    pid: i32,
    addr: Ipv4Addr,
    publish: &[Publish],
    made: &mut Vec<(String, Resource)>,
) -> Result<Option<LinkWatch>> {
    let host = format!("gbh{pid}");
    let link = Resource::Link { name: host.clone() };
    made.push((journal.record(link.clone())?, link));
    sys.link_add_veth(
        nl,
        &host,
        Some((&net.bridge, link_index(&net.bridge))),
        "eth0",
        pid,
        "a virtual cable: one end stays on the host, plugged into the bridge and up; the other is born inside the child's namespace as eth0",
    )?;
    sys.narrator.note(&format!(
        "veth pair: {host} (host end, on {}) <-> eth0 (in the namespace of pid {pid})",
        net.bridge
    ));
    // Listening before the child can end: its end of the cable goes with its namespace.
    let watch = sys.link_watch(
        &host,
        "the kernel's link notifications, to hear when the host end goes with the container's namespace",
    )?;
    for p in publish {
        let to = format!("{addr}:{}", p.ctr);
        for chain in ["PREROUTING", "OUTPUT"] {
            // PREROUTING catches packets from outside; OUTPUT those the host itself sends
            // (to its own addresses and to localhost, which route_localnet lets through).
            let rule = Rule {
                table: "nat",
                chain,
                insert: false,
                spec: [
                    vec!["-p".into(), p.proto.into()],
                    // -p IP:…: only that address of the host; else every local one.
                    match p.ip.filter(|ip| !ip.is_unspecified()) {
                        Some(ip) => vec!["-d".into(), ip.to_string()],
                        None => vec![
                            "-m".into(),
                            "addrtype".into(),
                            "--dst-type".into(),
                            "LOCAL".into(),
                        ],
                    },
                    vec![
                        "--dport".into(),
                        p.host.to_string(),
                        "-j".into(),
                        "DNAT".into(),
                        "--to-destination".into(),
                        to.clone(),
                    ],
                ]
                .concat(),
                tag: pid.to_string(),
            };
            let id = firewall::add(sys, journal, &rule)?;
            let r = journal
                .entries()
                .into_iter()
                .find(|e| e.id == id)
                .map(|e| e.resource)
                .expect("the rule was just journalled");
            made.push((id, r));
        }
    }
    Ok(Some(watch))
}

/// Make the network's bridge if it is missing, with its address, sysctls and rules.
fn ensure_bridge(sys: &Sys, journal: &Journal, nl: &mut Netlink, net: &Network) -> Result<()> {
    if link_index(&net.bridge) != 0 {
        sys.narrator
            .note(&format!("bridge {} is there already", net.bridge));
        return Ok(());
    }
    if let Some((r, dev)) = config::clash(&net.subnet, &net.bridge) {
        return Err(Error::usage(
            format!(
                "the subnet {} of network {} overlaps the host's route {r} on {dev}",
                net.subnet, net.name
            ),
            "make a network with another subnet (glassbox network create NAME --subnet CIDR)",
        ));
    }
    // ip_forward is journalled before the bridge, so that cleanup (newest first) reaches it
    // after the bridge, and puts it back once the last bridge is gone.
    let forward = Path::new(IP_FORWARD);
    let was = crate::host::read_trimmed(IP_FORWARD).unwrap_or_default();
    if was != "1" {
        journal.record(Resource::Sysctl {
            path: forward.to_path_buf(),
            old: was,
        })?;
    }
    journal.record(Resource::Bridge {
        name: net.bridge.clone(),
    })?;
    sys.link_add_bridge(
        nl,
        &net.bridge,
        "a virtual switch the containers' veths plug into (it stays, as docker0 does)",
    )?;
    sys.addr_add(
        nl,
        &net.bridge,
        net.gateway(),
        net.subnet.prefix,
        "the bridge's own address: the containers' gateway, and the route to the subnet",
    )?;
    sys.link_set_up(nl, &net.bridge, None, "bring the bridge up")?;
    sys.write_file_plain(
        forward,
        "1",
        "let the host route packets between the bridge and its other links (the old value is journalled: it comes back with the last bridge)",
    )?;
    sys.write_file_plain(
        Path::new(&format!(
            "/proc/sys/net/ipv4/conf/{}/route_localnet",
            net.bridge
        )),
        "1",
        "let packets to 127.0.0.1 that a --publish rule rewrote leave through the bridge",
    )?;
    let tag = format!("net:{}", net.name);
    let br = net.bridge.clone();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    // --internal: nothing leaves the network; otherwise its packets leave with the host's
    // address.
    let out = if net.internal {
        Rule {
            table: "filter",
            chain: "FORWARD",
            insert: true,
            spec: s(&["-i", &br, "!", "-o", &br, "-j", "DROP"]),
            tag: tag.clone(),
        }
    } else {
        Rule {
            table: "nat",
            chain: "POSTROUTING",
            insert: false,
            spec: s(&[
                "-s",
                &net.subnet.to_string(),
                "!",
                "-o",
                &br,
                "-j",
                "MASQUERADE",
            ]),
            tag: tag.clone(),
        }
    };
    let rules = [
        out,
        Rule {
            table: "nat",
            chain: "POSTROUTING",
            insert: false,
            spec: s(&[
                "-o",
                &br,
                "-m",
                "addrtype",
                "--src-type",
                "LOCAL",
                "-j",
                "MASQUERADE",
            ]),
            tag: tag.clone(),
        },
        Rule {
            table: "filter",
            chain: "FORWARD",
            insert: true,
            spec: s(&[
                "-o",
                &br,
                "!",
                "-i",
                &br,
                "-m",
                "conntrack",
                "--ctstate",
                "NEW",
                "-m",
                "conntrack",
                "!",
                "--ctstate",
                "DNAT",
                "-j",
                "DROP",
            ]),
            tag: tag.clone(),
        },
        Rule {
            table: "filter",
            chain: "FORWARD",
            insert: false,
            spec: s(&["-i", &br, "-j", "ACCEPT"]),
            tag: tag.clone(),
        },
        Rule {
            table: "filter",
            chain: "FORWARD",
            insert: false,
            spec: s(&["-o", &br, "-j", "ACCEPT"]),
            tag,
        },
    ];
    for r in &rules {
        firewall::add(sys, journal, r)?;
    }
    Ok(())
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The network whose bridge is `bridge`: the default one (gb0) or a user-defined one.
fn network_of_bridge(bridge: &str) -> String {
    if bridge == config::DEFAULT_BRIDGE {
        "bridge".to_string()
    } else {
        bridge.to_string()
    }
}

/// Whether an entry was made in this network namespace (an older one without a namespace
/// may have been: counted as here, to keep what may still be needed).
pub(crate) fn made_here(e: &crate::journal::Entry) -> bool {
    e.netns.is_none() || e.netns == crate::journal::NetNs::current()
}

/// Whether a running glassbox in this network namespace still holds an address on
/// `network` (its journal's live leases: /sys/class/net shows the namespace sysfs was
/// mounted in, not ours, so it cannot tell).
pub(crate) fn network_in_use(network: &str) -> bool {
    Journal::open().is_ok_and(|j| {
        j.entries().iter().any(|e| {
            e.owner.is_alive()
                && made_here(e)
                && matches!(&e.resource, Resource::Lease { network: n, .. } if n == network)
        })
    })
}

/// A bridge glassbox made in this network namespace that is still there, if any.
fn bridge_left() -> Option<String> {
    Journal::open()
        .ok()?
        .entries()
        .into_iter()
        .find_map(|e| match e.resource {
            Resource::Bridge { name } if made_here(&e) && link_index(&name) != 0 => Some(name),
            _ => None,
        })
}

fn still_in_use(what: &str, network: &str) -> Error {
    Error::new(
        format!("{what} is still in use: containers on network {network} are running"),
        "stop those containers first; `glassbox cleanup` removes it once they are gone",
    )
}

/// Why `r` must stay for now, if it must: the bridge and its network's rules outlive the
/// glassbox that made them (as docker0 does) while containers use the network, and
/// ip_forward stays 1 while a glassbox bridge is there. Cleanup reports these as in use.
pub fn still_needed(r: &Resource) -> Option<Error> {
    match r {
        Resource::Bridge { name } if network_in_use(&network_of_bridge(name)) => Some(
            still_in_use(&format!("bridge {name}"), &network_of_bridge(name)),
        ),
        Resource::FirewallRule { delete } => delete
            .iter()
            .find_map(|a| a.strip_prefix("glassbox:net:"))
            .filter(|net| network_in_use(net))
            .map(|net| still_in_use(&format!("a firewall rule of network {net}"), net)),
        Resource::Sysctl { path, .. } => bridge_left().map(|bridge| {
            Error::new(
                format!("{} stays 1 while bridge {bridge} is there", path.display()),
                "remove that network first (glassbox network rm, or glassbox cleanup once no container uses it)",
            )
        }),
        _ => None,
    }
}

pub fn undo(sys: &Sys, r: &Resource) -> Result<()> {
    if let Some(kept) = still_needed(r) {
        return Err(kept);
    }
    match r {
        Resource::FirewallRule { delete } => firewall::run(sys, delete, true),
        Resource::Link { name } | Resource::Bridge { name } => {
            if link_index(name) == 0 {
                return Ok(());
            }
            let mut nl = sys.netlink_open("the routing socket, to delete a link")?;
            sys.link_del(&mut nl, name, "remove what glassbox made")
        }
        // Its owner is the responder: cleanup reaches it only once that has ended.
        Resource::Responder { .. } => Ok(()),
        // A lease and a port claim are only the journal's: striking them frees them.
        Resource::Lease { .. } | Resource::Port { .. } => Ok(()),
        // The last bridge takes ip_forward back to what it was; a value someone else has
        // changed since is theirs, and stays.
        Resource::Sysctl { path, old } => {
            if crate::host::read_trimmed(&path.to_string_lossy()).as_deref() != Some("1") {
                return Ok(());
            }
            sys.write_file_plain(
                path,
                old,
                "the last glassbox bridge is gone: put back the value it had before",
            )
        }
        other => Err(Error::new(
            format!("{} is not a network resource", other.describe()),
            "report this as a bug",
        )),
    }
}

/// `--network container:NAME`: join that container's network namespace (before /proc is
/// the container's own, while /proc/PID is still the host's view of it).
pub fn join_container(sys: &Sys, name: &str, pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let fd = std::fs::File::open(&path).map_err(|e| {
        Error::io(
            format!("cannot open {path}, the network namespace of container {name}"),
            &e,
            format!("check that {name} still runs (glassbox ps)"),
        )
    })?;
    sys.setns(
        fd.as_fd(),
        None,
        &path,
        libc::CLONE_NEWNET,
        &format!("share {name}'s network: its interfaces, addresses, routes and ports"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parser_for_network_and_publish() {
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("bridge").unwrap(),
            NetworkMode::Bridge("bridge".into())
        );
        let bridge = NetworkMode::Bridge("bridge".into());
        let two = ["8080:80".to_string(), "8081:81/udp".to_string()];
        assert_eq!(parse_publish_all(&two, &bridge).unwrap().len(), 2);
        let twice = ["8080:80".to_string(), "8080:81".to_string()];
        let e = parse_publish_all(&twice, &bridge).unwrap_err();
        assert!(e.to_string().contains("published twice"), "{e}");
        let e = parse_publish_all(&two, &NetworkMode::None).unwrap_err();
        assert!(
            e.to_string().contains("--publish needs a bridge network"),
            "{e}"
        );
    }
}

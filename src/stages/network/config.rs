//! Networks, subnets and address leases: what the net stage decides before it touches anything.
//!
//! A network is a bridge and a subnet. `bridge` (the default, bridge `gb0`) always exists;
//! user-defined ones are a small JSON file each under `$STATE/networks/`. Addresses are handed
//! out under a file lock (`$STATE/net.lock`) and each lease is a journal entry, so parallel
//! containers never share an address and a killed glassbox's lease is freed by cleanup.

use crate::error::{Error, Result};
use crate::journal::{state_dir, Entry, Journal, Owner, Resource};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The default bridge and the subnets it tries, first one that no host route overlaps.
pub const DEFAULT_BRIDGE: &str = "gb0";
pub const DEFAULT_SUBNETS: &[&str] = &["10.77.0.0/24", "10.177.0.0/24", "172.29.77.0/24"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Option<Subnet> {
        let (a, p) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        if !(8..=30).contains(&prefix) {
            return None;
        }
        let base = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        Some(Subnet { base, prefix })
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.prefix) == u32::from(self.base)
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        let m = mask(self.prefix.min(o.prefix));
        u32::from(self.base) & m == u32::from(o.base) & m
    }

    /// The first host address: the bridge's (the containers' gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !mask(self.prefix))
    }

    /// Addresses a container may have: all but network, gateway and broadcast.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.base) + 2;
        let last = u32::from(self.broadcast()) - 1;
        (first..=last).map(Ipv4Addr::from)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// A bridge network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    pub subnet: Subnet,
    /// `--gateway`: the bridge's address (default: the subnet's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`: no way out of the network (no masquerade, forwarding out dropped).
    #[serde(default)]
    pub internal: bool,
}

impl Network {
    /// The bridge's address: the containers' gateway and name server.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway.unwrap_or(self.subnet.gateway())
    }

    /// Addresses a container may have: the subnet's, but the gateway.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = Ipv4Addr::from(u32::from(self.subnet.base) + 1);
        std::iter::once(first)
            .chain(self.subnet.hosts())
            .filter(move |a| *a != self.gateway())
    }

    /// docker's network id: 64 hex digits (here a digest of the name and subnet, stable).
    pub fn id(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{} {}", self.name, self.subnet).as_bytes());
        crate::stages::export::stream::hex(&d)
    }
}

/// The host's IPv4 routes (destination subnet, device), from /proc/net/route.
pub fn host_routes() -> Vec<(Subnet, String)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if m == 0 {
                return None; // the default route overlaps everything; it is no clash
            }
            let prefix = u32::from_be(m).count_ones() as u8;
            Some((
                Subnet {
                    base: Ipv4Addr::from(u32::from_be(dst)),
                    prefix,
                },
                f[0].to_string(),
            ))
        })
        .collect()
}

/// A route of the host (not through `own_bridge`) that overlaps `s`.
pub fn clash(s: &Subnet, own_bridge: &str) -> Option<(Subnet, String)> {
    host_routes()
        .into_iter()
        .find(|(r, dev)| dev != own_bridge && r.overlaps(s))
}

fn networks_dir() -> PathBuf {
    state_dir().join("networks")
}

/// The default network: gb0 on the first default subnet no host route overlaps.
pub fn default_network() -> Result<Network> {
    for s in DEFAULT_SUBNETS {
        let subnet = Subnet::parse(s).expect("the default subnets parse");
        if clash(&subnet, DEFAULT_BRIDGE).is_none()
            && user_networks().iter().all(|n| !n.subnet.overlaps(&subnet))
        {
            return Ok(Network {
                name: "bridge".into(),
                bridge: DEFAULT_BRIDGE.into(),
                subnet,
                gateway: None,
                internal: false,
            });
        }
    }
    Err(Error::usage(
        format!(
            "every default subnet for the bridge network ({}) overlaps a route of this host",
            DEFAULT_SUBNETS.join(", ")
        ),
        "make a network with a free subnet (glassbox network create NAME --subnet CIDR) and use --network NAME",
    ))
}

/// The user-defined networks.
pub fn user_networks() -> Vec<Network> {
    let mut v: Vec<Network> = std::fs::read_dir(networks_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    v.sort_by(|a: &Network, b: &Network| a.name.cmp(&b.name));
    v
}

/// The network called `name` (`bridge` is the default one).
pub fn find(name: &str) -> Result<Network> {
    if name == "bridge" {
        return default_network();
    }
    user_networks()
        .into_iter()
        .find(|n| n.name == name)
        .ok_or_else(|| {
            Error::usage(
                format!("there is no network called {name:?}"),
                "use bridge, none, host, or a network listed by `glassbox network ls` (make one with `glassbox network create`)",
            )
        })
}

/// Check a bridge/network name: 1 to 15 characters (IFNAMSIZ less the NUL), no `/` or space.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 {
        return Err(Error::usage(
            format!(
                "the network name {name:?} is {} characters long, and a bridge name must be 1 to 15 (IFNAMSIZ)",
                name.len()
            ),
            "choose a shorter name",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name == "."
        || name == ".."
    {
        return Err(Error::usage(
            format!("the network name {name:?} may hold only letters, digits, '-', '_' and '.'"),
            "choose another name",
        ));
    }
    if ["bridge", "none", "host"].contains(&name) || name == DEFAULT_BRIDGE {
        return Err(Error::usage(
            format!("the network name {name:?} is taken by a built-in network"),
            "choose another name",
        ));
    }
    Ok(())
}

/// Save a user-defined network (written whole with a rename).
pub fn save(n: &Network) -> Result<()> {
    let dir = networks_dir();
    let fail = |e: std::io::Error| {
        Error::io(
            format!("cannot save the network {} in {}", n.name, dir.display()),
            &e,
            "check that the state directory is writable",
        )
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let tmp = dir.join(format!(".{}.tmp", n.name));
    std::fs::write(&tmp, serde_json::to_vec_pretty(n).unwrap()).map_err(fail)?;
    std::fs::rename(&tmp, dir.join(format!("{}.json", n.name))).map_err(fail)
}

pub fn forget(name: &str) {
    let _ = std::fs::remove_file(networks_dir().join(format!("{name}.json")));
}

/// An exclusive lock on glassbox's network state, held until dropped.
pub fn lock() -> Result<crate::lock::Guard> {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::io(
            format!("cannot make {}", dir.display()),
            &e,
            "run as root, or set GLASSBOX_STATE_DIR to a directory you can write",
        )
    })?;
    crate::lock::exclusive(&dir.join("net.lock"), "glassbox's network state")
}

/// The journal's entries whose owner still runs: read once, each owner's /proc/PID/stat
/// once (a bridge's entries share one owner), for `leased_in` and `published_in`.
pub fn live(journal: &Journal) -> Vec<Entry> {
    let mut alive: Vec<(Owner, bool)> = Vec::new();
    let mut out = journal.entries();
    out.retain(|e| match alive.iter().find(|(o, _)| *o == e.owner) {
        Some(&(_, a)) => a,
        None => {
            let a = e.owner.is_alive();
            alive.push((e.owner.clone(), a));
            a
        }
    });
    out
}

/// Addresses leased on `network` by glassbox processes that still run.
pub fn leased(journal: &Journal, network: &str) -> Vec<Ipv4Addr> {
    leased_in(&live(journal), network)
}

/// The addresses on `network` that `live` entries lease.
pub fn leased_in(live: &[Entry], network: &str) -> Vec<Ipv4Addr> {
    live.iter()
        .filter_map(|e| match &e.resource {
            Resource::Lease {
                network: n,
                address,
            } if n == network => address.parse().ok(),
            _ => None,
        })
        .collect()
}

/// The host ports (port, protocol) that `live` entries claim.
pub fn published_in(live: &[Entry]) -> Vec<(u16, String)> {
    live.iter()
        .filter_map(|e| match &e.resource {
            Resource::Port { port, proto } => Some((*port, proto.clone())),
            _ => None,
        })
        .collect()
}

/// Parse `--ip ADDR/PREFIX` against the network; refuse what cannot be used.
pub fn check_ip(ip: &str, net: &Network, taken: &[Ipv4Addr]) -> Result<Ipv4Addr> {
    let (a, p) = ip.split_once('/').unwrap_or((ip, ""));
    let addr: Ipv4Addr = a.parse().map_err(|_| {
        Error::usage(
            format!("--ip {ip:?} is not an IPv4 address with a prefix, as 10.77.0.5/24"),
            "give --ip ADDR/PREFIX",
        )
    })?;
    if !p.is_empty() && p.parse::<u8>().ok() != Some(net.subnet.prefix) {
        return Err(Error::usage(
            format!(
                "--ip {ip} has another prefix than the network {} ({})",
                net.name, net.subnet
            ),
            format!("use /{}", net.subnet.prefix),
        ));
    }
    if !net.subnet.contains(addr) {
        return Err(Error::usage(
            format!(
                "--ip {addr} is outside the subnet {} of the network {}",
                net.subnet, net.name
            ),
            format!("choose an address in {}", net.subnet),
        ));
    }
    if addr == net.subnet.base || addr == net.subnet.broadcast() || addr == net.gateway() {
        return Err(Error::usage(
            format!(
                "--ip {addr} is the network, gateway or broadcast address of {}",
                net.subnet
            ),
            format!(
                "choose another address in {} (glassbox network inspect {} shows the gateway)",
                net.subnet, net.name
            ),
        ));
    }
    if taken.contains(&addr) {
        return Err(Error::usage(
            format!("--ip {addr} is already in use on the network {}", net.name),
            "choose another address, or leave --ip out to get a free one",
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.77.0.9/24").unwrap();
        assert_eq!(s.to_string(), "10.77.0.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 77, 0, 255));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 77, 0, 2)));
        assert_eq!(s.hosts().count(), 253);
        assert!(s.overlaps(&Subnet::parse("10.0.0.0/8").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.78.0.0/24").unwrap()));
        assert!(Subnet::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn names() {
        assert!(check_name("mynet").is_ok());
        assert!(check_name("a-very-long-name16").is_err());
        assert!(check_name("bad/name").is_err());
        assert!(check_name("bridge").is_err());
    }
}

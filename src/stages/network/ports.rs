//! Published ports: every `-p` form docker run takes, the free host port chosen for `-p CTR`,
//! who holds a host port that is taken, and the mapping a container got (for `port`, `ps`).
//!
//! `-p [IP:][HOST[-HOST]:]CTR[-CTR][/tcp|/udp]`: no HOST means any free port of the host's
//! ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), chosen under the network lock
//! and journalled as the fixed ones are, so two containers never get the same one.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::Path;

/// One published port. `host` 0: a free one, chosen when the container is wired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub ip: Option<Ipv4Addr>,
    pub host: u16,
    pub ctr: u16,
    pub proto: &'static str,
}

impl Publish {
    /// The address it listens on, as docker prints it.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// As recorded for `glassbox port` and `ps`.
    pub fn mapping(&self) -> Mapping {
        Mapping {
            ip: self.host_ip(),
            host: self.host,
            ctr: self.ctr,
            proto: self.proto.to_string(),
        }
    }
}

/// A port as it was published: what `glassbox port` and `ps` read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub ip: Ipv4Addr,
    pub host: u16,
    pub ctr: u16,
    pub proto: String,
}

impl Mapping {
    /// docker ps's form: 0.0.0.0:8080->80/tcp.
    pub fn ps_form(&self) -> String {
        format!("{}:{}->{}/{}", self.ip, self.host, self.ctr, self.proto)
    }
    /// docker port's form: 80/tcp -> 0.0.0.0:8080.
    pub fn port_form(&self) -> String {
        format!("{}/{} -> {}:{}", self.ctr, self.proto, self.ip, self.host)
    }
}

/// docker ps's PORTS column: each mapping in ps form, consecutive ones joined into a range
/// (`0.0.0.0:9000-9002->9000-9002/tcp`).
pub fn ps_column(maps: &[Mapping]) -> String {
    let mut runs: Vec<(Mapping, u16)> = Vec::new();
    for m in maps {
        match runs.last_mut() {
            Some((first, n))
                if first.ip == m.ip
                    && first.proto == m.proto
                    && u32::from(first.host) + u32::from(*n) + 1 == u32::from(m.host)
                    && u32::from(first.ctr) + u32::from(*n) + 1 == u32::from(m.ctr) =>
            {
                *n += 1
            }
            _ => runs.push((m.clone(), 0)),
        }
    }
    runs.iter()
        .map(|(m, n)| match n {
            0 => m.ps_form(),
            n => format!(
                "{}:{}-{}->{}-{}/{}",
                m.ip,
                m.host,
                m.host + n,
                m.ctr,
                m.ctr + n,
                m.proto
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse one `-p`; a range gives one Publish per port.
pub fn parse(s: &str) -> Result<Vec<Publish>> {
    let bad = |why: &str| {
        Error::usage(
            format!("--publish {s:?} {why}"),
            "give --publish [IP:][HOST:]CTR[/tcp|/udp] with ports from 1 to 65535 (ranges as 8000-8002), as 8080:80, 80, 127.0.0.1:8080:80 or 127.0.0.1::80",
        )
    };
    let (ports, proto) = match s.rsplit_once('/') {
        Some((p, "tcp")) => (p, "tcp"),
        Some((p, "udp")) => (p, "udp"),
        Some(_) => return Err(bad("names a protocol other than tcp or udp")),
        None => (s, "tcp"),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(*ip), *h, *c),
        _ => return Err(bad("has too many ':' (IPv6 addresses are not supported)")),
    };
    let ip = match ip {
        None => None,
        Some(text) => Some(
            text.parse::<Ipv4Addr>()
                .map_err(|_| bad(&format!("has {text:?}, which is not an IPv4 address")))?,
        ),
    };
    let range = |p: &str| -> Option<(u16, u16)> {
        let n = |x: &str| x.parse::<u16>().ok().filter(|&n| n > 0);
        let (a, b) = match p.split_once('-') {
            Some((a, b)) => (n(a)?, n(b)?),
            None => (n(p)?, n(p)?),
        };
        (a <= b).then_some((a, b))
    };
    let ctr = range(ctr).ok_or_else(|| {
        bad("has a container port that is not a number (or range) from 1 to 65535")
    })?;
    let count = ctr.1 - ctr.0;
    let host = match host {
        "" => None,
        h => {
            let r = range(h).ok_or_else(|| {
                bad("has a host port that is not a number (or range) from 1 to 65535")
            })?;
            if r.1 - r.0 != count {
                return Err(bad(
                    "has a host range and a container range of different lengths",
                ));
            }
            Some(r.0)
        }
    };
    Ok((0..=count)
        .map(|i| Publish {
            ip,
            host: host.map_or(0, |h| h + i),
            ctr: ctr.0 + i,
            proto,
        })
        .collect())
}

/// The image's EXPOSEd ports ("80/tcp"), each to a free host port (`-P`), unless a `-p`
/// publishes it already.
pub fn exposed(exposed: &[String], already: &[Publish]) -> Vec<Publish> {
    exposed
        .iter()
        .filter_map(|e| {
            parse(e.split_once('/').map_or(e.as_str(), |(p, _)| p))
                .ok()
                .map(|v| (e, v))
        })
        .flat_map(|(e, v)| {
            let proto = if e.ends_with("/udp") { "udp" } else { "tcp" };
            v.into_iter().map(move |p| Publish { proto, ..p })
        })
        .filter(|p| !already.iter().any(|q| q.ctr == p.ctr && q.proto == p.proto))
        .collect()
}

/// Whether a host port can be bound now (a listener there would shadow the rule).
fn bindable(ip: Ipv4Addr, port: u16, proto: &str) -> bool {
    if proto == "udp" {
        std::net::UdpSocket::bind((ip, port)).is_ok()
    } else {
        std::net::TcpListener::bind((ip, port)).is_ok()
    }
}

/// Refuse a host port something on the host holds, naming the holder when /proc can.
pub fn check_free(p: &Publish) -> Result<()> {
    if bindable(p.host_ip(), p.host, p.proto) {
        return Ok(());
    }
    let who = holder(p.host, p.proto)
        .map(|(pid, comm)| format!(" by {comm} (pid {pid})"))
        .unwrap_or_default();
    Err(Error::usage(
        format!("host port {}/{} is already in use{who}", p.host, p.proto),
        "choose another host port (or leave it out for a free one), or stop what listens there (ss -lntup)",
    ))
}

/// A free host port in the ephemeral range, not in `taken` (journalled by other containers
/// or chosen already for this one).
pub fn choose(ip: Ipv4Addr, proto: &str, taken: &[(u16, String)]) -> Result<u16> {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = range
        .split_whitespace()
        .filter_map(|x| x.parse::<u16>().ok());
    let (lo, hi) = (it.next().unwrap_or(32768), it.next().unwrap_or(60999));
    (lo..=hi)
        .find(|&port| {
            !taken.iter().any(|(t, pr)| *t == port && pr == proto) && bindable(ip, port, proto)
        })
        .ok_or_else(|| {
            Error::usage(
                format!("no free host port is left in {lo}-{hi} for {proto}"),
                "give the host port: -p HOST:CTR",
            )
        })
}

/// The process holding a listening (tcp) or bound (udp) socket on `port`: the socket's inode
/// from /proc/net/{tcp,udp}[6], then the /proc/PID/fd link that points at it.
pub fn holder(port: u16, proto: &str) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for file in [format!("/proc/net/{proto}"), format!("/proc/net/{proto}6")] {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // 0A is LISTEN; a udp socket is 07 (unconnected), also bound.
            let listening = proto == "udp" || f.get(3) == Some(&"0A");
            if local_port == Some(port) && listening {
                inodes.extend(f.get(9).map(|i| format!("socket:[{i}]")));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = proc_entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let fds = std::fs::read_dir(proc_entry.path().join("fd"));
        for fd in fds.into_iter().flatten().flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if inodes.iter().any(|i| Path::new(i) == target) {
                let comm =
                    std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
                return Some((pid, comm.trim().to_string()));
            }
        }
    }
    None
}

/// The file in a container's directory with the ports it got, while it runs.
pub const FILE: &str = "ports.json";

/// Record the ports a container got (its directory; nothing in a dry run).
pub fn save(dir: &Path, publish: &[Publish]) -> Result<()> {
    let maps: Vec<Mapping> = publish.iter().map(Publish::mapping).collect();
    crate::store::write_whole(&dir.join(FILE), &serde_json::to_vec_pretty(&maps).unwrap())
}

/// The ports a container got, as recorded.
pub fn load(dir: &Path) -> Vec<Mapping> {
    std::fs::read(dir.join(FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_docker_form_parses() {
        let one = |s: &str| parse(s).unwrap();
        let p = |ip: Option<[u8; 4]>, host, ctr, proto| Publish {
            ip: ip.map(Ipv4Addr::from),
            host,
            ctr,
            proto,
        };
        assert_eq!(one("18080:80"), vec![p(None, 18080, 80, "tcp")]);
        assert_eq!(one("80"), vec![p(None, 0, 80, "tcp")]);
        assert_eq!(
            one("127.0.0.1:8081:8000"),
            vec![p(Some([127, 0, 0, 1]), 8081, 8000, "tcp")]
        );
        assert_eq!(
            one("127.0.0.1::8000/udp"),
            vec![p(Some([127, 0, 0, 1]), 0, 8000, "udp")]
        );
        assert_eq!(
            one("8000-8002:9000-9002"),
            vec![
                p(None, 8000, 9000, "tcp"),
                p(None, 8001, 9001, "tcp"),
                p(None, 8002, 9002, "tcp")
            ]
        );
        assert_eq!(one("53:53/udp")[0].proto, "udp");
        for bad in [
            "0:80",
            "1:2/sctp",
            "70000:80",
            "x:1:2",
            "8000-8001:80",
            "1:2:3:4",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("localhost:8081:8000").unwrap_err().to_string();
        assert!(e.contains("not an IPv4 address"), "{e}");
    }

    #[test]
    fn exposed_ports_skip_what_is_published() {
        let already = parse("8080:80").unwrap();
        let e = exposed(&["80/tcp".into(), "53/udp".into()], &already);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].ctr, e[0].proto, e[0].host), (53, "udp", 0));
    }

    #[test]
    fn ps_joins_consecutive_ports_into_ranges() {
        let maps: Vec<Mapping> = ["9000-9002:8000-8002", "9005:8005", "53:53/udp"]
            .iter()
            .flat_map(|s| parse(s).unwrap())
            .map(|p| p.mapping())
            .collect();
        assert_eq!(
            ps_column(&maps),
            "0.0.0.0:9000-9002->8000-8002/tcp, 0.0.0.0:9005->8005/tcp, 0.0.0.0:53->53/udp"
        );
    }

    #[test]
    fn forms_as_docker_prints_them() {
        let m = parse("127.0.0.1:8081:8000").unwrap()[0].mapping();
        assert_eq!(m.ps_form(), "127.0.0.1:8081->8000/tcp");
        assert_eq!(m.port_form(), "8000/tcp -> 127.0.0.1:8081");
    }
}

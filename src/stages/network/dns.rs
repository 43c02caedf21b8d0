//! A user-defined network's name server, as docker's embedded DNS: containers on the network
//! find each other by container name, `--network-alias` and short id; the default bridge has
//! none (as docker's), so names do not resolve there.
//!
//! How: one small glassbox process per network (`glassbox network serve-dns NAME`), started
//! by the network's first container and stopped by its last. It listens on UDP port 53 at
//! the bridge's address (the containers' gateway, which each one's resolv.conf names) in the
//! network namespace the bridge is in, and answers A queries from the store: every running
//! container's `endpoints.json` on that network. A dotted name it does not know goes to the
//! host's name servers (the answer passed back as it came); an unknown single name gets
//! NXDOMAIN. The responder journals itself (the entry's owner is its own pid), ends by itself
//! once no live lease is left on its network, and writes what it answers to
//! `$STATE/networks/NAME.dns.log`.

use super::config::{self, Network};
use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::sys::Sys;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A container's place on one network: its address and the names it answers to there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub address: Ipv4Addr,
    pub names: Vec<String>,
    /// The host end of its veth, for one `network connect` added (disconnect deletes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The file in a container's directory with its endpoints.
pub const ENDPOINTS: &str = "endpoints.json";

pub fn save_endpoints(dir: &Path, endpoints: &[Endpoint]) -> Result<()> {
    let text = serde_json::to_vec_pretty(endpoints).unwrap();
    crate::store::write_whole(&dir.join(ENDPOINTS), &text)
}

pub fn load_endpoints(dir: &Path) -> Vec<Endpoint> {
    std::fs::read(dir.join(ENDPOINTS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Where a network's responder writes what it answers.
pub fn log_path(network: &str) -> PathBuf {
    crate::journal::state_dir()
        .join("networks")
        .join(format!("{network}.dns.log"))
}

/// The journal entry of `network`'s responder, if one runs in this network namespace.
fn running(journal: &Journal, network: &str) -> Option<crate::journal::Entry> {
    journal.entries().into_iter().find(|e| {
        e.owner.is_alive()
            && super::made_here(e)
            && matches!(&e.resource, Resource::Responder { network: n } if n == network)
    })
}

/// Start `net`'s responder unless it runs (called under the network lock, after this
/// container's lease is journalled, so the responder finds the network in use).
pub fn ensure(sys: &Sys, journal: &Journal, net: &Network) -> Result<()> {
    let n = sys.narrator;
    if let Some(e) = running(journal, &net.name) {
        n.note(&format!(
            "the name server of network {} runs already (pid {})",
            net.name, e.owner.pid
        ));
        return Ok(());
    }
    let log = log_path(&net.name);
    n.note(&format!(
        "$ glassbox -v network serve-dns {} 2>>{} &   (the network's name server, at {}:53)",
        net.name,
        log.display(),
        net.gateway()
    ));
    sys.compound("", || spawn(sys, net, &log), || ())
}

/// Start `net`'s responder as a child of its own, writing to `log`; back once it is ready.
fn spawn(sys: &Sys, net: &Network, log: &Path) -> Result<()> {
    let n = sys.narrator;
    let fail = |e: std::io::Error| {
        Error::io(
            format!("cannot start the name server of network {}", net.name),
            &e,
            "check that the state directory is writable",
        )
    };
    let _ = std::fs::create_dir_all(log.parent().unwrap());
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(fail)?;
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    // Its own process group: a Ctrl-C meant for this container does not end the network's.
    let mut child = std::process::Command::new(std::env::current_exe().map_err(fail)?)
        .args(["-v", "network", "serve-dns", &net.name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(fail)?;
    // It says "ready" once its socket is bound (or ends, having said why in its log).
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.wait();
        let why = std::fs::read_to_string(log).unwrap_or_default();
        let last = why
            .lines()
            .rev()
            .find(|l| l.contains("error"))
            .unwrap_or("");
        return Err(Error::new(
            format!(
                "the name server of network {} did not start: {}",
                net.name,
                last.trim()
            ),
            format!("read {} for the whole story", log.display()),
        ));
    }
    n.note(&format!(
        "the name server of network {} runs as pid {}; what it answers goes to {}",
        net.name,
        child.id(),
        log.display()
    ));
    Ok(())
}

/// Stop `network`'s responder once no container of this namespace uses the network.
pub fn stop_if_idle(sys: &Sys, journal: &Journal, network: &str) -> Result<()> {
    let _lock = config::lock()?;
    if super::network_in_use(network) {
        return Ok(());
    }
    if let Some(e) = running(journal, network) {
        sys.kill(
            e.owner.pid as i32,
            libc::SIGTERM,
            "the network's last container ended: its name server goes with it",
        )?;
        journal.strike(&e.id);
    }
    Ok(())
}

/// Stop every name server of this namespace whose network no container uses (for cleanup,
/// after a glassbox was killed before it could stop it).
pub fn stop_idle(sys: &Sys, journal: &Journal) {
    for e in journal.entries() {
        if let Resource::Responder { network } = &e.resource {
            if e.owner.is_alive() && super::made_here(&e) {
                let _ = sys.compound("", || stop_if_idle(sys, journal, network), || ());
            }
        }
    }
}

/// The names on `network`: each running container's endpoint there.
fn names_on(network: &str) -> Vec<(String, Ipv4Addr)> {
    use crate::store::containers::Status;
    crate::store::containers::list()
        .into_iter()
        .filter(|c| c.state().effective() == Status::Running)
        .flat_map(|c| load_endpoints(&c.dir))
        .filter(|e| e.network == network)
        .flat_map(|e| e.names.into_iter().map(move |n| (n, e.address)))
        .collect()
}

/// `glassbox network serve-dns NAME`: the responder itself.
pub fn serve(sys: &Sys, name: &str) -> Result<i32> {
    let n = sys.narrator;
    let net = config::find(name)?;
    n.stage(
        "dns",
        &format!("the name server of network {name}, for its containers"),
    );
    let journal = Journal::open()?;
    let id = journal.record(Resource::Responder {
        network: name.to_string(),
    })?;
    let at = SocketAddrV4::new(net.gateway(), 53);
    let sock = match sys.udp_bind(
        at,
        "the network's name server: each container's resolv.conf names its gateway",
    ) {
        Ok(s) => s,
        Err(e) => {
            journal.strike(&id);
            return Err(e);
        }
    };
    println!("ready");
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let mut checked = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        if let Ok((len, peer)) = sock.recv_from(&mut buf) {
            if let Some(reply) = answer(sys, &buf[..len], name) {
                let _ = sock.send_to(&reply, peer);
            }
        }
        if checked.elapsed() > Duration::from_secs(1) {
            checked = Instant::now();
            if !super::network_in_use(name) {
                n.note("no container uses the network any more: the name server ends");
                journal.strike(&id);
                return Ok(0);
            }
        }
    }
}

/// A query's name, its type and where its question ends (None: not a query we can read).
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // a compression pointer has no place in a question
        }
        labels.push(String::from_utf8_lossy(q.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

/// The reply to one query, narrated at -v.
fn answer(sys: &Sys, q: &[u8], network: &str) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None; // not one question: ignored, as a resolver would
    }
    let (name, qtype, end) = question(q)?;
    let found: Vec<Ipv4Addr> = names_on(network)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|(_, a)| a)
        .collect();
    let say = |what: &str| {
        sys.narrator
            .verbose(&format!("query {name} (type {qtype}): {what}"))
    };
    if let Some(&addr) = found.first() {
        // A for A (and ANY); any other type of a known name: no records, no error.
        let records: &[Ipv4Addr] = if qtype == 1 || qtype == 255 {
            say(&format!("A {addr} (a container on {network})"));
            &[addr]
        } else {
            say("no record of this type (containers here have IPv4 addresses only)");
            &[]
        };
        return Some(reply(q, end, 0, records));
    }
    if name.contains('.') {
        if let Some(r) = forward(sys, q) {
            say("forwarded to the host's name server, its answer passed back");
            return Some(r);
        }
        say("SERVFAIL: the host's name servers did not answer");
        return Some(reply(q, end, 2, &[]));
    }
    say(&format!(
        "NXDOMAIN: no container is called so on network {network}"
    ));
    Some(reply(q, end, 3, &[]))
}

/// A reply: the query's id and question, our flags, `rcode`, and one A record per address.
fn reply(q: &[u8], end: usize, rcode: u8, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let mut r = q[..2].to_vec();
    // QR (a response), AA (we are the authority for these names), RD copied, RA.
    r.push(0x80 | 0x04 | (q[2] & 0x01));
    r.push(0x80 | rcode);
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&q[12..end]);
    for a in addrs {
        // The name as a pointer to the question's (offset 12), type A, class IN, TTL 5 s
        // (containers come and go), 4 bytes of address.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        r.extend_from_slice(&a.octets());
    }
    r
}

/// Ask the host's name servers (its /etc/resolv.conf), each for up to 2 s.
fn forward(sys: &Sys, q: &[u8]) -> Option<Vec<u8>> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers = conf
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<Ipv4Addr>().ok());
    for server in servers {
        let sock = sys
            .udp_bind(
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                "a socket to ask the host's name server a name no container has",
            )
            .ok()?;
        let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 512];
        if sock.send_to(q, (server, 53)).is_ok() {
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                return Some(buf[..len].to_vec());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name`, type A, as `nslookup` sends it.
    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn a_reply_carries_the_question_and_the_address() {
        let q = query("Web");
        let (name, qtype, end) = question(&q).unwrap();
        assert_eq!((name.as_str(), qtype, end), ("web", 1, q.len()));
        let r = reply(&q, end, 0, &[Ipv4Addr::new(10, 80, 0, 2)]);
        assert_eq!(&r[..2], &[0x12, 0x34], "the query's id");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 80, 0, 2]);
        let nx = reply(&q, end, 3, &[]);
        assert_eq!(nx[3] & 0x0f, 3, "NXDOMAIN");
        assert_eq!(nx.len(), q.len());
    }
}

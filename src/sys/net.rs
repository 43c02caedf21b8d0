//! Netlink calls: links, addresses and routes, as `ip(8)` makes them.
//!
//! The messages are built by hand here (a header, a fixed struct, then type-length-value
//! attributes) rather than with the netlink-packet-* crates: the bytes are few, a learner can
//! read every one of them next to rtnetlink(7), and there is no matched set of three
//! fast-moving crates to keep in step.
//!
//! How a message is narrated (and checked against strace): each is one `sendto(2)` on the
//! NETLINK_ROUTE socket, rendered as strace -y shows it, with the message cut short after its
//! type:
//!
//! ```text
//! sendto(3<socket:[97131]>, [{nlmsg_len=60, nlmsg_type=RTM_NEWLINK, ...}, ...], 60, 0, ..., 12) = 60
//! ```
//!
//! The part before `, ...` is a prefix of what strace prints; the `ip` command that sends the
//! same message is the by-hand line. The kernel's answer (an `NLMSG_ERROR` carrying 0 or an
//! errno, because every request asks for `NLM_F_ACK`) is read with recv(2) and reported as an
//! `ack:` line; a refusal becomes the error.

use super::{check, Diagnosis, Sys};
use crate::error::{Error, Result};
use crate::narrate::Call;
use nix::errno::Errno;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// rtnetlink(7) numbers (linux/rtnetlink.h, linux/if_link.h, linux/veth.h).
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;

fn type_name(t: u16) -> &'static str {
    match t {
        RTM_NEWLINK => "RTM_NEWLINK",
        RTM_DELLINK => "RTM_DELLINK",
        RTM_NEWADDR => "RTM_NEWADDR",
        RTM_NEWROUTE => "RTM_NEWROUTE",
        _ => "?",
    }
}

/// One netlink request being built: header, fixed struct, attributes.
pub struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
    ty: u16,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Msg {
            buf,
            nests: Vec::new(),
            ty,
        }
    }

    /// struct ifinfomsg: family, type, index, flags, change.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        self.buf.extend_from_slice(&[0, 0, 0, 0]); // AF_UNSPEC, pad, ifi_type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn attr(mut self, ty: u16, data: &[u8]) -> Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self
    }

    fn attr_str(self, ty: u16, s: &str) -> Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d)
    }

    fn begin(mut self, ty: u16) -> Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(mut self) -> Msg {
        let start = self.nests.pop().expect("a nest was begun");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// How the opening of a routing socket is narrated.
pub(super) fn socket_call(why: &str) -> Call {
    Call::new(
        "socket",
        vec![
            "AF_NETLINK".into(),
            "SOCK_RAW|SOCK_CLOEXEC".into(),
            "NETLINK_ROUTE".into(),
        ],
        "netlink(7)",
        why,
    )
}

/// How a netlink request sent on `socket` (`3<socket:[97131]>`, as strace -y shows it) is
/// narrated: as strace shows the sendto(2) of it.
pub(super) fn sendto_call(socket: &str, ty: u16, len: usize, why: &str, by_hand: &str) -> Call {
    Call::new(
        "sendto",
        vec![
            socket.to_string(),
            format!(
                "[{{nlmsg_len={len}, nlmsg_type={}, ...}}, ...]",
                type_name(ty)
            ),
            len.to_string(),
            "0".into(),
            "...".into(),
            "12".into(),
        ],
        "rtnetlink(7)",
        why,
    )
    .by_hand(by_hand)
}

/// Why a new network namespace's lo is brought up (the parent's way and the helper's).
pub const LO_UP_WHY: &str =
    "loopback starts down in a new namespace: bring it up so 127.0.0.1 works";

/// `ip link set NAME up`, as a request.
fn link_up_msg(name: &str) -> Msg {
    Msg::new(RTM_NEWLINK, 0)
        .ifinfo(0, libc::IFF_UP as u32, libc::IFF_UP as u32)
        .attr_str(IFLA_IFNAME, name)
}

/// `ip link set lo up` as one rtnetlink request (sequence number 1), for a helper that
/// sends it with raw syscalls (sys/empty_net.rs).
pub(super) fn lo_up_request() -> Vec<u8> {
    link_up_msg("lo").finish(1)
}

/// An open NETLINK_ROUTE socket.
pub struct Netlink {
    fd: OwnedFd,
    inode: u64,
    seq: u32,
}

impl Netlink {
    /// The descriptor as strace -y shows it: `3<socket:[97131]>`.
    fn shown(&self) -> String {
        format!("{}<socket:[{}]>", self.fd.as_raw_fd(), self.inode)
    }
}

/// The index of a link in this process's network namespace (0 when there is none).
pub fn link_index(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else {
        return 0;
    };
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

impl Sys<'_> {
    /// socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE): the kernel's routing socket.
    pub fn netlink_open(&self, why: &str) -> Result<Netlink> {
        let call = || socket_call(why);
        let fd = self.call_plain(call, || {
            check(unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::NETLINK_ROUTE,
                )
            } as libc::c_long)
        })?;
        if self.dry_run() {
            // A descriptor nobody uses: sends are not made in a dry run.
            let fd = unsafe { libc::dup(2) };
            return Ok(Netlink {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                inode: 0,
                seq: 0,
            });
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let inode = nix::sys::stat::fstat(&fd).map(|s| s.st_ino).unwrap_or(0);
        Ok(Netlink { fd, inode, seq: 0 })
    }

    /// Send one request and read the kernel's acknowledgement.
    fn netlink_send(
        &self,
        nl: &mut Netlink,
        msg: Msg,
        why: &str,
        by_hand: &str,
        diagnose: impl FnOnce(Errno) -> Diagnosis,
    ) -> Result<()> {
        nl.seq += 1;
        let ty = msg.ty;
        let bytes = msg.finish(nl.seq);
        let len = bytes.len();
        let call = || sendto_call(&nl.shown(), ty, len, why, by_hand);
        let raw = nl.fd.as_raw_fd();
        self.call_plain(call, || {
            let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            sa.nl_family = libc::AF_NETLINK as u16;
            check(unsafe {
                libc::sendto(
                    raw,
                    bytes.as_ptr() as *const libc::c_void,
                    len,
                    0,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            } as libc::c_long)
        })?;
        if self.dry_run() {
            return Ok(());
        }
        self.netlink_ack(read_ack(raw, nl.seq), ty, by_hand, diagnose)
    }

    /// The kernel's answer to a request of type `ty` (`by_hand` as ip(8) says it), as the
    /// narration tells it: done, or refused (with why and what to do).
    pub(super) fn netlink_ack(
        &self,
        ack: std::result::Result<(), Errno>,
        ty: u16,
        by_hand: &str,
        diagnose: impl FnOnce(Errno) -> Diagnosis,
    ) -> Result<()> {
        let errno = match ack {
            Ok(()) => {
                self.narrator.detail("ack: 0 (done)");
                return Ok(());
            }
            Err(errno) => errno,
        };
        let words = crate::error::errno_words(errno);
        self.narrator.note(&format!(
            "ack: the kernel refused {}: {words}",
            type_name(ty)
        ));
        let d = diagnose(errno);
        if let Some(why) = &d.why {
            self.narrator.hint(why);
        }
        let mut e = Error::sys(
            format!("the kernel refused `{by_hand}` ({})", type_name(ty)),
            errno,
            d.todo,
        );
        e.why = d.why;
        Err(e)
    }

    /// `ip link add NAME type bridge`.
    pub fn link_add_bridge(&self, nl: &mut Netlink, name: &str, why: &str) -> Result<()> {
        let msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        self.netlink_send(
            nl,
            msg,
            why,
            &format!("ip link add {name} type bridge"),
            |e| link_diagnosis(name, e),
        )
    }

    /// `ip link add HOST [master BRIDGE up] type veth peer name PEER netns PID`: a pair whose
    /// peer end is made straight inside the network namespace of process `pid`. With a
    /// bridge, the host end is plugged in and up in the same request: one round trip, and one
    /// turn at the kernel's rtnl lock, fewer.
    pub fn link_add_veth(
        &self,
        nl: &mut Netlink,
        host: &str,
        master: Option<(&str, u32)>,
        peer: &str,
        pid: i32,
        why: &str,
    ) -> Result<()> {
        let up = if master.is_some() {
            libc::IFF_UP as u32
        } else {
            0
        };
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, up, up)
            .attr_str(IFLA_IFNAME, host);
        let mut by_hand = format!("ip link add {host}");
        if let Some((bridge, index)) = master {
            msg = msg.attr(IFLA_MASTER, &index.to_ne_bytes());
            by_hand.push_str(&format!(" master {bridge} up"));
        }
        let msg = msg
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, peer)
            .attr(IFLA_NET_NS_PID, &(pid as u32).to_ne_bytes())
            .end()
            .end()
            .end();
        by_hand.push_str(&format!(" type veth peer name {peer} netns {pid}"));
        self.netlink_send(nl, msg, why, &by_hand, |e| link_diagnosis(host, e))
    }

    /// `ip link set NAME [master BRIDGE] up`.
    pub fn link_set_up(
        &self,
        nl: &mut Netlink,
        name: &str,
        master: Option<(&str, u32)>,
        why: &str,
    ) -> Result<()> {
        let mut msg = link_up_msg(name);
        let mut by_hand = format!("ip link set {name}");
        if let Some((bridge, index)) = master {
            msg = msg.attr(IFLA_MASTER, &index.to_ne_bytes());
            by_hand.push_str(&format!(" master {bridge}"));
        }
        by_hand.push_str(" up");
        self.netlink_send(nl, msg, why, &by_hand, |e| link_diagnosis(name, e))
    }

    /// `ip link del NAME`. A link already gone counts as deleted.
    pub fn link_del(&self, nl: &mut Netlink, name: &str, why: &str) -> Result<()> {
        let msg = Msg::new(RTM_DELLINK, 0)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name);
        match self.netlink_send(nl, msg, why, &format!("ip link del {name}"), |e| {
            link_diagnosis(name, e)
        }) {
            Err(e) if e.errno == Some(Errno::ENODEV) => {
                self.narrator.note(&format!("{name} was already gone"));
                Ok(())
            }
            other => other,
        }
    }

    /// `ip addr add ADDR/PREFIX dev NAME`.
    pub fn addr_add(
        &self,
        nl: &mut Netlink,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
        why: &str,
    ) -> Result<()> {
        let index = if self.dry_run() { 0 } else { link_index(name) };
        let mut msg = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        msg.buf
            .extend_from_slice(&[libc::AF_INET as u8, prefix, 0, 0]);
        msg.buf.extend_from_slice(&index.to_ne_bytes());
        let msg = msg
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets());
        self.netlink_send(
            nl,
            msg,
            why,
            &format!("ip addr add {addr}/{prefix} dev {name}"),
            |e| link_diagnosis(name, e),
        )
    }

    /// `ip route add default via GATEWAY`.
    pub fn route_add_default(&self, nl: &mut Netlink, gateway: Ipv4Addr, why: &str) -> Result<()> {
        let mut msg = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot),
        // scope (universe), type (unicast), flags.
        msg.buf
            .extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0, 254, 3, 0, 1]);
        msg.buf.extend_from_slice(&0u32.to_ne_bytes());
        let msg = msg.attr(RTA_GATEWAY, &gateway.octets());
        self.netlink_send(
            nl,
            msg,
            why,
            &format!("ip route add default via {gateway}"),
            |e| super::diagnose::generic("RTM_NEWROUTE", e),
        )
    }
}

/// A routing socket that listens to the kernel's link notifications (the RTNLGRP_LINK group),
/// and the link whose end it waits for. The host end of a container's veth needs no
/// RTM_DELLINK of ours: the kernel removes both ends when the container's network namespace
/// dies, in one batch, where a deletion of ours waits 25–40 ms for RCU grace periods of its
/// own. Listening, glassbox still knows when the link is gone, so its journal entry is struck
/// only then, and the name is free again before glassbox ends.
pub struct LinkWatch {
    nl: Netlink,
    pub name: String,
    index: u32,
}

impl LinkWatch {
    /// The socket's descriptor, which a process that closes all others must keep.
    pub fn fd(&self) -> i32 {
        self.nl.fd.as_raw_fd()
    }

    /// The watched link's index (0 when it was gone already).
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// rtnetlink(7): the multicast group of link notifications (RTMGRP_LINK as a bind mask).
const RTMGRP_LINK: u32 = 1;

impl Sys<'_> {
    /// socket(AF_NETLINK…) then bind(2) to the RTNLGRP_LINK group, while link `name` exists.
    pub fn link_watch(&self, name: &str, why: &str) -> Result<LinkWatch> {
        let nl = self.netlink_open(why)?;
        let shown = nl.shown();
        let call = || {
            Call::new(
                "bind",
                vec![
                    shown,
                    "{sa_family=AF_NETLINK, nl_pid=0, nl_groups=...}".into(),
                    "12".into(),
                ],
                "rtnetlink(7)",
                "join the group RTNLGRP_LINK (nl_groups=RTMGRP_LINK): the kernel tells this socket of every link made or removed",
            )
        };
        let raw = nl.fd.as_raw_fd();
        self.call_plain(call, || {
            let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = RTMGRP_LINK;
            check(unsafe {
                libc::bind(
                    raw,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            } as libc::c_long)
        })?;
        let index = if self.dry_run() { 0 } else { link_index(name) };
        Ok(LinkWatch {
            nl,
            name: name.to_string(),
            index,
        })
    }

    /// Read every notification waiting on the watch, without waiting: the indices of the
    /// links the kernel removed (RTM_DELLINK). None when notifications were lost (ENOBUFS):
    /// then only asking by name tells which links are gone.
    pub fn links_deleted(&self, w: &LinkWatch) -> Option<Vec<u32>> {
        let fd = w.nl.fd.as_raw_fd();
        let mut buf = vec![0u8; 16384];
        let mut gone = Vec::new();
        loop {
            let n = unsafe {
                libc::recv(
                    fd,
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EAGAIN => return Some(gone),
                    Errno::EINTR => continue,
                    _ => return None,
                }
            }
            each_deleted(&buf[..n as usize], |i| gone.push(i));
        }
    }
}

/// The index of each link these netlink messages say was removed (RTM_DELLINK).
fn each_deleted(buf: &[u8], mut f: impl FnMut(u32)) {
    let mut off = 0usize;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        if len < 16 || off + len > buf.len() {
            return;
        }
        // struct ifinfomsg after the header: family, pad, type, then the index.
        if ty == RTM_DELLINK && len >= 24 {
            f(u32::from_ne_bytes(
                buf[off + 20..off + 24].try_into().unwrap(),
            ));
        }
        off += (len + 3) & !3;
    }
}

/// Why the kernel refused a request about link `name`, and what to do.
pub(super) fn link_diagnosis(name: &str, e: Errno) -> Diagnosis {
    match e {
        Errno::EEXIST => Diagnosis {
            why: Some(format!(
                "a link or address named like {name} already exists"
            )),
            todo: "look with `ip link` / `ip addr`; `glassbox cleanup` removes what glassbox left"
                .into(),
        },
        Errno::EOPNOTSUPP => Diagnosis {
            why: Some("this kernel lacks the veth or bridge driver".into()),
            todo: "load it: modprobe veth; modprobe bridge".into(),
        },
        _ => super::diagnose::generic("netlink", e),
    }
}

/// Read until the NLMSG_ERROR that answers `seq`: 0 is success, else the errno.
fn read_ack(fd: i32, seq: u32) -> std::result::Result<(), Errno> {
    let mut buf = vec![0u8; 16384];
    loop {
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        let mut off = 0usize;
        let n = n as usize;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            if len < 16 {
                break;
            }
            if ty == NLMSG_ERROR && mseq == seq && off + 20 <= n {
                let err = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                return if err == 0 {
                    Ok(())
                } else {
                    Err(Errno::from_raw(-err))
                };
            }
            off += (len + 3) & !3;
        }
    }
}

impl Sys<'_> {
    /// socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, 0) then bind(2) to `addr`: a UDP socket that
    /// receives what is sent to that address and port (the network's name server).
    pub fn udp_bind(&self, addr: std::net::SocketAddrV4, why: &str) -> Result<std::net::UdpSocket> {
        let call = || {
            Call::new(
                "socket",
                vec![
                    "AF_INET".into(),
                    "SOCK_DGRAM|SOCK_CLOEXEC".into(),
                    "IPPROTO_IP".into(),
                ],
                "socket(2)",
                why,
            )
        };
        let fd = self.call_plain(call, || {
            check(
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
                    as libc::c_long,
            )
        })?;
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let call = || {
            Call::new(
                "bind",
                vec![
                    fd.as_raw_fd().to_string(),
                    format!(
                        "{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
                        addr.port(),
                        addr.ip()
                    ),
                    std::mem::size_of::<libc::sockaddr_in>().to_string(),
                ],
                "bind(2)",
                "listen on this address and port: packets sent there come to this socket",
            )
        };
        self.call(
            call,
            || {
                check(unsafe {
                    libc::bind(
                        fd.as_raw_fd(),
                        &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    )
                } as libc::c_long)
            },
            |e| match e {
                Errno::EADDRINUSE => Diagnosis {
                    why: Some("something already listens on this address and port".into()),
                    todo: "stop it (ss -lunp shows who)".into(),
                },
                Errno::EADDRNOTAVAIL => Diagnosis {
                    why: Some("no link of this network namespace has this address".into()),
                    todo: "check that the bridge is up with its address (ip addr)".into(),
                },
                _ => super::diagnose::generic("bind", e),
            },
        )?;
        Ok(std::net::UdpSocket::from(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_sized() {
        let m = Msg::new(RTM_NEWLINK, NLM_F_CREATE)
            .ifinfo(0, 0, 0)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .end();
        let b = m.finish(7);
        // header 16 + ifinfomsg 16 + nest 4 + "veth\0" 4+5 padded to 12
        assert_eq!(b.len(), 16 + 16 + 4 + 12);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 48);
        assert_eq!(u16::from_ne_bytes(b[32..34].try_into().unwrap()), 16);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
    }

    #[test]
    fn a_dellink_of_the_watched_index_is_found_among_others() {
        let msg = |ty: u16, index: i32| {
            let mut m = Msg::new(ty, 0)
                .ifinfo(index, 0, 0)
                .attr_str(IFLA_IFNAME, "x");
            m.buf[6..8].copy_from_slice(&0u16.to_ne_bytes());
            m.finish(0)
        };
        let both = [msg(RTM_NEWLINK, 7), msg(RTM_DELLINK, 9)].concat();
        let deleted = |buf: &[u8]| {
            let mut v = Vec::new();
            each_deleted(buf, |i| v.push(i));
            v
        };
        assert_eq!(deleted(&both), vec![9]);
        assert!(deleted(&msg(RTM_NEWLINK, 9)).is_empty());
    }
}

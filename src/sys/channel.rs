//! The one channel between a parent and the child it forked: a unix socket pair of type
//! SOCK_SEQPACKET, so each message is one record (no length prefix to get wrong), carrying
//! a [`Message`] as JSON. Both ends are close-on-exec: the child's end closes by itself
//! when its command starts, which the parent reads as the end of the channel.
//!
//! The parent-death rule: a child that sees its end close before [`Message::Go`] knows its
//! parent died (or gave up) before letting it go, and exits rather than start a container
//! nobody watches.

use super::{check, Sys};
use crate::error::{Error, Result};
use crate::narrate::Call;
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The largest message: a record longer than this is refused, never cut short.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What a parent and its child tell each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Parent to child: everything the child needs from outside is ready; go on.
    Go,
    /// Child to parent: its command started (`run -d`'s supervisor to the front).
    Ready,
    /// Child to parent: it failed before its command could start. The parent reports it.
    Failed(Failure),
    /// Child to parent: a probe's findings (`glassbox doctor`), in the probe's own words.
    Report(String),
    /// To a network watcher, and echoed back once it has taken it: watch this host veth and
    /// strike its journal entry `id` when the link is gone (see stages/network/watcher.rs).
    Watch { id: String, link: String },
    /// Parent to child: a namespace for it to join rides with this message, as a
    /// descriptor (SCM_RIGHTS): one the parent made while the child built the container.
    Namespace,
}

/// An [`Error`] as it crosses the channel: the errno as its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub what: String,
    pub errno: Option<i32>,
    pub why: Option<String>,
    pub todo: String,
    pub code: i32,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        Failure {
            what: e.what.clone(),
            errno: e.errno.map(|e| e as i32),
            why: e.why.clone(),
            todo: e.todo.clone(),
            code: e.code,
        }
    }
}

impl Failure {
    /// Back into the error it was (no `From`: it would leave `?` guessing error types).
    pub fn into_error(self) -> Error {
        let f = self;
        Error {
            what: f.what,
            errno: f.errno.map(Errno::from_raw),
            why: f.why,
            todo: f.todo,
            code: f.code,
        }
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A connected unix socket used as a channel (one small record a message).
impl From<OwnedFd> for Channel {
    fn from(fd: OwnedFd) -> Channel {
        Channel { fd }
    }
}

/// Both ends, before the fork: each side keeps one and closes the other.
pub fn pair() -> Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if made != 0 {
        return Err(Error::sys(
            "cannot make a socket pair between glassbox and its child",
            Errno::last(),
            "check the limit on open files (ulimit -n)",
        ));
    }
    let end = |fd| Channel {
        fd: unsafe { OwnedFd::from_raw_fd(fd) },
    };
    Ok((end(fds[0]), end(fds[1])))
}

/// The message header as strace shows it, with `iov_base` the bytes (or `...`).
fn shown_msghdr(base: &str, len: usize) -> String {
    format!("{{..., msg_iov=[{{iov_base={base}, iov_len={len}}}], ...}}")
}

/// As [`shown_msghdr`], with the descriptor that rides along (SCM_RIGHTS): `fd` and what it
/// refers to, as strace -y shows it (`6<net:[4026532179]>`).
fn shown_msghdr_with_fd(base: &str, len: usize, fd: RawFd) -> String {
    let cmsg_len = unsafe { libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) };
    let refers = super::fd_link(fd);
    format!(
        "{{..., msg_iov=[{{iov_base={base}, iov_len={len}}}], msg_iovlen=1, msg_control=[{{cmsg_len={cmsg_len}, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[{fd}<{refers}>]}}], ...}}"
    )
}

/// Where messages are received: a buffer in .bss, so only the pages a message fills are ever
/// touched. A zeroed 64 KiB Vec each time cost ~35 page faults a run: the memset, and in a
/// just-forked child a malloc that merges the free lists, copying pages shared with the parent.
static INBOX: std::sync::Mutex<[u8; MAX_MESSAGE]> = std::sync::Mutex::new([0; MAX_MESSAGE]);

/// `f` with a receive buffer: the shared one, or a fresh one when that is taken (by another
/// thread, or held by a thread that did not follow a fork into this process).
fn with_inbox<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    match INBOX.try_lock() {
        Ok(mut inbox) => f(&mut inbox[..]),
        Err(_) => f(&mut vec![0u8; MAX_MESSAGE]),
    }
}

/// recvmsg(2) into `buf`; the length, 0 when the other end closed. A descriptor sent with
/// the record is not taken: the kernel closes it (see [`recv_raw_with_fd`]).
fn recv_raw(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> std::result::Result<i64, Errno> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    loop {
        let n = check(unsafe { libc::recvmsg(fd, &mut hdr, flags) } as libc::c_long);
        match n {
            Err(Errno::EINTR) => continue,
            Ok(_) if hdr.msg_flags & libc::MSG_TRUNC != 0 => return Err(Errno::EMSGSIZE),
            n => return n,
        }
    }
}

/// recvmsg(2) into `buf`, and the one descriptor that may ride with the record (SCM_RIGHTS),
/// received close-on-exec: it is for this process, not for the command it will run. Any
/// other descriptor that came is closed.
fn recv_raw_with_fd(
    fd: RawFd,
    buf: &mut [u8],
) -> std::result::Result<(i64, Option<OwnedFd>), Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut space = nix::cmsg_space!([RawFd; 1]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut *buf)];
        let msg = match recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let mut fds = msg
            .cmsgs()?
            .filter_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => Some(fds),
                _ => None,
            })
            .flatten()
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        let handed = fds.next();
        fds.for_each(drop);
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(Errno::EMSGSIZE);
        }
        if handed.is_none() && msg.flags.contains(MsgFlags::MSG_CTRUNC) {
            // The kernel dropped the descriptor: this process had no free slot for it.
            return Err(Errno::EMFILE);
        }
        return Ok((msg.bytes as i64, handed));
    }
}

/// sendmsg(2) as narrated, with the descriptor that rides along, if any.
fn send_call(ch: &Channel, bytes: &[u8], handed: Option<RawFd>, why: &str) -> Call {
    let base = super::quote(&String::from_utf8_lossy(bytes));
    let hdr = match handed {
        Some(fd) => shown_msghdr_with_fd(&base, bytes.len(), fd),
        None => shown_msghdr(&base, bytes.len()),
    };
    Call::new(
        "sendmsg",
        vec![ch.as_raw_fd().to_string(), hdr, "MSG_NOSIGNAL".into()],
        "unix(7)",
        why,
    )
}

/// sendmsg(2) of one record, with descriptor `handed` riding along (SCM_RIGHTS) if given;
/// MSG_NOSIGNAL: a closed end is EPIPE, never a SIGPIPE.
fn send_raw(fd: RawFd, bytes: &[u8], handed: Option<RawFd>) -> std::result::Result<i64, Errno> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(bytes)];
    let fds = [handed.unwrap_or(-1)];
    let rights = [ControlMessage::ScmRights(&fds)];
    let cmsgs: &[ControlMessage] = if handed.is_some() { &rights } else { &[] };
    sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map(|n| n as i64)
}

fn decode(bytes: &[u8]) -> Result<Message> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            format!("a message between glassbox and its child could not be read ({e})"),
            "this is a glassbox bug: please report it with the narration (-v)",
        )
    })
}

impl Sys<'_> {
    /// sendmsg(2): one message to the other end. MSG_NOSIGNAL: an end that already closed
    /// is EPIPE here, not a SIGPIPE that would end glassbox.
    pub fn send_message(&self, ch: &Channel, msg: &Message, why: &str) -> Result<()> {
        self.send_with(ch, msg, None, why)
    }

    /// [`Sys::send_message`], with descriptor `handed` riding along if given.
    fn send_with(
        &self,
        ch: &Channel,
        msg: &Message,
        handed: Option<RawFd>,
        why: &str,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(msg).expect("a message always serializes");
        let call = || send_call(ch, &bytes, handed, why);
        self.call_plain(call, || send_raw(ch.as_raw_fd(), &bytes, handed))?;
        Ok(())
    }

    /// sendmsg(2) of [`Message::Go`] to a child at its gate, narrated once it is made: the
    /// child wakes and narrates at once, and one whole line each keeps them apart.
    pub(super) fn send_go(&self, ch: &Channel, why: &str) -> Result<()> {
        let bytes = serde_json::to_vec(&Message::Go).expect("a message always serializes");
        let call = send_call(ch, &bytes, None, why);
        // The child waits to narrate until this line is written whole.
        let sent = self.narrator.holding(|| {
            let sent = send_raw(ch.as_raw_fd(), &bytes, None);
            self.narrator.after(&call, sent);
            sent
        });
        sent.map(|_| ()).map_err(|errno| {
            Error::sys(
                format!("{} failed", call.render_short()),
                errno,
                "the child ended before it was let go: its exit status says why",
            )
        })
    }

    /// sendmsg(2) of [`Message::Namespace`] with the namespace file `ns` riding along: the
    /// child joins it with setns(2). This process's own descriptor stays open until the
    /// caller closes it.
    pub fn hand_namespace(&self, ch: &Channel, ns: BorrowedFd, why: &str) -> Result<()> {
        self.send_with(ch, &Message::Namespace, Some(ns.as_raw_fd()), why)
    }

    /// In a child: wait for [`Message::Namespace`] and take the descriptor that came with
    /// it. `None` when the parent's end closed first (it died or gave up); an error when
    /// what came was something else.
    pub fn wait_for_namespace(&self, ch: &Channel, why: &str) -> Result<Option<OwnedFd>> {
        let fd = ch.as_raw_fd();
        let (got, shown, handed, closed) = with_inbox(|buf| match recv_raw_with_fd(fd, buf) {
            Ok((n, handed)) => {
                let msg = &buf[..n as usize];
                let ours = n > 0 && matches!(decode(msg), Ok(Message::Namespace));
                let shown = super::quote(&String::from_utf8_lossy(msg));
                (Ok(n), shown, handed.filter(|_| ours), n == 0)
            }
            Err(e) => (Err(e), "...".into(), None, false),
        });
        // Described only when it is told (or fails): what the descriptor refers to is a
        // readlink of /proc/self/fd/N, on the way to the container's command.
        let handed_fd = handed.as_ref().map(|h| h.as_raw_fd());
        let call = || {
            let header = match handed_fd {
                Some(h) => shown_msghdr_with_fd(&shown, MAX_MESSAGE, h),
                None => shown_msghdr(&shown, MAX_MESSAGE),
            };
            Call::new(
                "recvmsg",
                vec![fd.to_string(), header, "MSG_CMSG_CLOEXEC".into()],
                "unix(7)",
                why,
            )
        };
        if self.describes_calls() {
            self.narrator.after(&call(), got);
        }
        if let Err(errno) = got {
            return Err(Error::sys(
                format!("{} failed", call().render_short()),
                errno,
                "this is a glassbox bug: please report it with the narration (-v)",
            ));
        }
        match (handed, closed) {
            (Some(ns), _) => Ok(Some(ns)),
            (None, true) => Ok(None),
            (None, false) => Err(Error::new(
                format!("{} brought no namespace", call().render_short()),
                "this is a glassbox bug: please report it with the narration (-v)",
            )),
        }
    }

    /// recvmsg(2): the next message, waiting for it; `None` when the other end closed (its
    /// process ended, or its command started) without sending one.
    pub fn recv_message(&self, ch: &Channel, why: &str) -> Result<Option<Message>> {
        self.recv_with(ch, 0, why)
    }

    /// As [`Sys::recv_message`] without waiting: a message already sent, or `None`.
    pub fn recv_message_now(&self, ch: &Channel, why: &str) -> Result<Option<Message>> {
        let now = || match self.recv_with(ch, libc::MSG_DONTWAIT, why) {
            Err(e) if e.errno == Some(Errno::EAGAIN) => Ok(None),
            other => other,
        };
        match now() {
            // A peer that ended with a message of ours unread (a child that failed before
            // its last gate) resets the socket: the error comes once, and what the peer sent
            // before it ended is still there to read.
            Err(e) if e.errno == Some(Errno::ECONNRESET) => now(),
            other => other,
        }
    }

    fn recv_with(&self, ch: &Channel, flags: libc::c_int, why: &str) -> Result<Option<Message>> {
        let fd = ch.as_raw_fd();
        let shown_flags = if flags & libc::MSG_DONTWAIT != 0 {
            "MSG_DONTWAIT"
        } else {
            "0"
        };
        let mut call = Call::new(
            "recvmsg",
            vec![
                fd.to_string(),
                shown_msghdr("...", MAX_MESSAGE),
                shown_flags.into(),
            ],
            "unix(7)",
            why,
        );
        if flags & libc::MSG_DONTWAIT == 0 {
            call = call.blocking();
        }
        with_inbox(|buf| {
            let n = self.call_plain(call, || recv_raw(fd, buf, flags))? as usize;
            if n == 0 || self.dry_run() {
                return Ok(None);
            }
            decode(&buf[..n]).map(Some)
        })
    }

    /// In a child just cloned: wait for [`Message::Go`]. The wait is narrated once it is
    /// over, so that the child's line cannot land inside the parent's. Returns false when
    /// the parent's end closed first (the parent died or gave up).
    pub(super) fn wait_for_go(&self, ch: &Channel, why: &str) -> bool {
        let fd = ch.as_raw_fd();
        let (got, shown, go) = with_inbox(|buf| {
            let got = recv_raw(fd, buf, 0);
            let Ok(n) = got else {
                return (got, "...".into(), false);
            };
            let msg = &buf[..n as usize];
            let go = n > 0 && matches!(decode(msg), Ok(Message::Go));
            (got, super::quote(&String::from_utf8_lossy(msg)), go)
        });
        let call = Call::new(
            "recvmsg",
            vec![
                fd.to_string(),
                shown_msghdr(&shown, MAX_MESSAGE),
                "0".into(),
            ],
            "unix(7)",
            why,
        );
        self.narrator.after(&call, got);
        go
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;

    fn failure() -> Failure {
        Failure {
            what: "chdir(\"/missing\") failed".into(),
            errno: Some(libc::ENOENT),
            why: None,
            todo: "give a directory that exists in the image".into(),
            code: 125,
        }
    }

    #[test]
    fn each_message_arrives_whole_and_in_order() {
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let (a, b) = pair().unwrap();
        let big = Message::Report("x".repeat(MAX_MESSAGE - 100));
        for m in [Message::Go, Message::Failed(failure()), big.clone()] {
            sys.send_message(&a, &m, "test").unwrap();
        }
        // Three records, not one stream: each comes back as it was sent.
        assert_eq!(sys.recv_message(&b, "test").unwrap(), Some(Message::Go));
        assert_eq!(
            sys.recv_message(&b, "test").unwrap(),
            Some(Message::Failed(failure()))
        );
        assert_eq!(sys.recv_message(&b, "test").unwrap(), Some(big));
        assert_eq!(sys.recv_message_now(&b, "test").unwrap(), None);
    }

    #[test]
    fn a_message_arrives_while_the_shared_buffer_is_taken() {
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let (a, b) = pair().unwrap();
        // As in a fork made while another thread held it: a fresh buffer serves, none waits.
        let held = INBOX.lock().unwrap();
        sys.send_message(&a, &Message::Failed(failure()), "test")
            .unwrap();
        assert_eq!(
            sys.recv_message(&b, "test").unwrap(),
            Some(Message::Failed(failure()))
        );
        sys.send_message(&a, &Message::Go, "test").unwrap();
        assert!(sys.wait_for_go(&b, "the gate"));
        drop(held);
    }

    #[test]
    fn a_closed_end_reads_as_none_and_a_send_to_it_is_epipe() {
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let (a, b) = pair().unwrap();
        drop(a);
        // What a child at its gate sees when its parent died: no Go, the end closed.
        assert!(!sys.wait_for_go(&b, "the gate"));
        assert_eq!(sys.recv_message(&b, "test").unwrap(), None);
        let (a, b) = pair().unwrap();
        drop(b);
        let err = sys.send_message(&a, &Message::Go, "test").unwrap_err();
        assert_eq!(err.errno, Some(Errno::EPIPE));
    }

    #[test]
    fn only_go_lets_a_child_through_its_gate() {
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let (a, b) = pair().unwrap();
        sys.send_message(&a, &Message::Report("hello".into()), "test")
            .unwrap();
        assert!(!sys.wait_for_go(&b, "the gate"));
        sys.send_message(&a, &Message::Go, "test").unwrap();
        assert!(sys.wait_for_go(&b, "the gate"));
    }

    #[test]
    fn a_namespace_rides_with_its_message_and_nothing_else_passes_for_one() {
        use std::os::fd::AsFd;
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let link = |fd: RawFd| std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
        let (a, b) = pair().unwrap();
        sys.hand_namespace(&a, ns.as_fd(), "test").unwrap();
        let got = sys.wait_for_namespace(&b, "test").unwrap().unwrap();
        // Another descriptor of the same namespace, close-on-exec.
        assert_ne!(got.as_raw_fd(), ns.as_raw_fd());
        assert_eq!(link(got.as_raw_fd()), link(ns.as_raw_fd()));
        let flags = unsafe { libc::fcntl(got.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        // A Go where a namespace was awaited is refused, not taken for one.
        sys.send_message(&a, &Message::Go, "test").unwrap();
        assert!(sys.wait_for_namespace(&b, "test").is_err());
        // A parent that closed its end: no namespace, no error (the child ends).
        drop(a);
        assert!(sys.wait_for_namespace(&b, "test").unwrap().is_none());
    }

    #[test]
    fn a_failure_crosses_with_its_errno_hint_and_code() {
        let e = Error::sys("mount failed", Errno::EACCES, "check the path")
            .with_why("a volume on a filesystem that refuses")
            .with_code(126);
        let back = Failure::from(&e).into_error();
        assert_eq!(back.errno, Some(Errno::EACCES));
        assert_eq!(back.why, e.why);
        assert_eq!(back.todo, e.todo);
        assert_eq!(back.code, 126);
    }

    #[test]
    fn a_record_too_long_is_refused_not_cut() {
        let (a, b) = pair().unwrap();
        let long = vec![b'x'; MAX_MESSAGE + 1];
        let sent = unsafe { libc::send(a.as_raw_fd(), long.as_ptr().cast(), long.len(), 0) };
        assert_eq!(sent as usize, long.len());
        let mut buf = vec![0u8; MAX_MESSAGE];
        assert_eq!(recv_raw(b.as_raw_fd(), &mut buf, 0), Err(Errno::EMSGSIZE));
    }
}

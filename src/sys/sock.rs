//! The attach socket: a unix stream socket in a detached container's directory on which its
//! log keeper accepts `glassbox attach` clients (as conmon's attach socket, or the fifos
//! containerd-shim keeps). socket, bind, listen, accept4 on the keeper's side; socket,
//! connect and a recvmsg with the container's stdin (SCM_RIGHTS) on the client's.

use super::{check, quote, Sys};
use crate::error::Result;
use crate::narrate::Call;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A sockaddr_un for `path` (at most 107 bytes).
fn address(path: &Path) -> std::result::Result<(libc::sockaddr_un, libc::socklen_t), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= sa.sun_path.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((sa, len as libc::socklen_t))
}

/// The address and its length as strace shows them.
fn sun(path: &Path) -> [String; 2] {
    let len = address(path).map_or(0, |(_, len)| len);
    [
        format!(
            "{{sa_family=AF_UNIX, sun_path={}}}",
            quote(&path.display().to_string())
        ),
        len.to_string(),
    ]
}

impl Sys<'_> {
    fn unix_socket(&self, why: &str) -> Result<OwnedFd> {
        self.unix_socket_flagged(0, why)
    }

    /// socket(AF_UNIX, SOCK_STREAM) with `extra` flags (SOCK_NONBLOCK) besides CLOEXEC.
    fn unix_socket_flagged(&self, extra: i32, why: &str) -> Result<OwnedFd> {
        let shown = if extra & libc::SOCK_NONBLOCK != 0 {
            "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"
        } else {
            "SOCK_STREAM|SOCK_CLOEXEC"
        };
        let call = || {
            Call::new(
                "socket",
                vec!["AF_UNIX".into(), shown.into(), "0".into()],
                "socket(2)",
                why,
            )
        };
        let fd = self.call_plain(call, || {
            check(unsafe {
                libc::socket(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC | extra,
                    0,
                )
            } as libc::c_long)
        })?;
        self.owned(fd)
    }

    /// The descriptor a call returned. A dry run made none (its stand-in is 0, our stdin):
    /// /dev/null stands in, so dropping it closes nothing of ours.
    fn owned(&self, fd: i64) -> Result<OwnedFd> {
        if self.kernel.makes_calls() {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| {
                crate::error::Error::io("cannot open /dev/null", &e, "check that /dev/null exists")
            })
    }

    /// A listening unix socket at `path` (a stale one left by an earlier run replaced).
    pub fn listen_unix(&self, path: &Path, why: &str) -> Result<OwnedFd> {
        // Through the kernel seam: a dry run removes nothing.
        let _ = self.remove_path(path);
        let fd = self.unix_socket(why)?;
        let call = || {
            Call::new(
                "bind",
                [vec![fd.as_raw_fd().to_string()], sun(path).to_vec()].concat(),
                "bind(2)",
                "give the socket its name: that path is where the other side connects",
            )
        };
        self.call_plain(call, || {
            let (sa, len) = address(path)?;
            check(unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &sa as *const libc::sockaddr_un as *const libc::sockaddr,
                    len,
                )
            } as libc::c_long)
        })?;
        // bind made it 0777 minus the umask: only its owner may reach the container's stdin.
        let call = || {
            Call::new(
                "fchmodat",
                vec![
                    "AT_FDCWD".into(),
                    quote(&path.display().to_string()),
                    "0600".into(),
                ],
                "chmod(2)",
                "only its owner (root) may connect: what it hands out is not for other users",
            )
        };
        self.call_plain(call, || {
            let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(|_| Errno::EINVAL)?;
            check(unsafe { libc::syscall(libc::SYS_fchmodat, libc::AT_FDCWD, p.as_ptr(), 0o600) })
        })?;
        let call = || {
            Call::new(
                "listen",
                vec![fd.as_raw_fd().to_string(), "8".into()],
                "listen(2)",
                "accept connections on it, up to 8 waiting",
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::listen(fd.as_raw_fd(), 8) } as libc::c_long)
        })?;
        Ok(fd)
    }

    /// Wait for the next client on a listening socket.
    pub fn accept(&self, listener: &OwnedFd, why: &str) -> Result<OwnedFd> {
        let l = listener.as_raw_fd();
        let call = || {
            Call::new(
                "accept4",
                vec![
                    l.to_string(),
                    "NULL".into(),
                    "NULL".into(),
                    "SOCK_CLOEXEC".into(),
                ],
                "accept4(2)",
                why,
            )
            .blocking()
        };
        let fd = self.call_plain(call, || {
            check(unsafe {
                libc::accept4(
                    l,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            } as libc::c_long)
        })?;
        self.owned(fd)
    }

    /// Connect to the unix socket at `path`.
    pub fn connect_unix(&self, path: &Path, why: &str) -> Result<OwnedFd> {
        self.connect_unix_flagged(path, 0, why)
    }

    /// [`Sys::connect_unix`] that never waits: a listener that does not accept (stopped,
    /// frozen) with its backlog full answers EAGAIN at once instead of blocking the caller.
    /// The socket stays non-blocking.
    pub fn connect_unix_now(&self, path: &Path, why: &str) -> Result<OwnedFd> {
        self.connect_unix_flagged(path, libc::SOCK_NONBLOCK, why)
    }

    fn connect_unix_flagged(&self, path: &Path, extra: i32, why: &str) -> Result<OwnedFd> {
        let fd = self.unix_socket_flagged(extra, why)?;
        let call = || {
            Call::new(
                "connect",
                [vec![fd.as_raw_fd().to_string()], sun(path).to_vec()].concat(),
                "connect(2)",
                why,
            )
        };
        self.call_plain(call, || {
            let (sa, len) = address(path)?;
            check(unsafe {
                libc::connect(
                    fd.as_raw_fd(),
                    &sa as *const libc::sockaddr_un as *const libc::sockaddr,
                    len,
                )
            } as libc::c_long)
        })?;
        Ok(fd)
    }

    /// recvmsg(2) one byte and the descriptor that may come with it (SCM_RIGHTS). `None`
    /// when the other end sent no descriptor.
    pub fn recv_fd(&self, socket: &OwnedFd, why: &str) -> Result<Option<OwnedFd>> {
        let s = socket.as_raw_fd();
        let call = || {
            Call::new(
                "recvmsg",
                vec![
                    s.to_string(),
                    "{..., msg_iov=[{iov_base=..., iov_len=1}], ...}".into(),
                    "MSG_CMSG_CLOEXEC".into(),
                ],
                "unix(7)",
                why,
            )
            .blocking()
        };
        let mut got = None;
        self.call_plain(call, || {
            let (bytes, fd) = recv_one_fd(s)?;
            got = fd;
            Ok(bytes as i64)
        })?;
        Ok(got)
    }
}

/// recvmsg(2) of one byte and the descriptor that may ride with it (SCM_RIGHTS), close-on-exec.
pub(crate) fn recv_one_fd(socket: RawFd) -> nix::Result<(usize, Option<OwnedFd>)> {
    let mut buf = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let fd = msg.cmsgs()?.find_map(|c| match c {
        nix::sys::socket::ControlMessageOwned::ScmRights(fds) => {
            fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) })
        }
        _ => None,
    });
    Ok((msg.bytes, fd))
}

/// Wake a thread blocked in accept(2) on `listener` (it returns EINVAL): the keeper's end.
/// Not narrated: it changes nothing outside this process.
pub fn wake(listener: RawFd) {
    let _ = nix::sys::socket::shutdown(listener, nix::sys::socket::Shutdown::Both);
}

/// Whether `fd` is a terminal (the container's master end) rather than a pipe.
pub fn is_terminal(fd: &OwnedFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

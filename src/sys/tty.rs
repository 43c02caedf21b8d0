//! A terminal of the container's own (`run -t`): a pseudo-terminal pair from the
//! container's devpts, made its controlling terminal, its master end handed to glassbox
//! over a socket (as runc's console socket does).

use super::{check, quote, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn open(sys: &Sys, path: &str, why: &str) -> Result<OwnedFd> {
    let c = std::ffi::CString::new(path).expect("no NUL in a device path");
    let call = || {
        Call::new(
            "openat",
            vec![
                "AT_FDCWD".into(),
                quote(path),
                "O_RDWR|O_NOCTTY|O_CLOEXEC".into(),
            ],
            "open(2)",
            why,
        )
    };
    let fd = sys.call_plain(call, || {
        check(
            unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) }
                as libc::c_long,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

impl Sys<'_> {
    /// In the container, after /dev/pts is mounted: a new pseudo-terminal pair from its
    /// devpts. Returns (master, slave).
    pub fn open_console(&self) -> Result<(OwnedFd, OwnedFd)> {
        let master = open(
            self,
            "/dev/ptmx",
            "a new terminal pair from the container's own devpts (its /dev/ptmx)",
        )?;
        let m = master.as_raw_fd();
        let mut unlock: libc::c_int = 0;
        let call = || {
            Call::new(
                "ioctl",
                vec![m.to_string(), "TIOCSPTLCK".into(), "[0]".into()],
                "ioctl_tty(2)",
                "unlock its other end, as unlockpt(3) does",
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) } as libc::c_long)
        })?;
        let mut n: libc::c_uint = 0;
        let call = || {
            Call::new(
                "ioctl",
                vec![m.to_string(), "TIOCGPTN".into(), "...".into()],
                "ioctl_tty(2)",
                "which /dev/pts/N the other end is, as ptsname(3) asks",
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut n) } as libc::c_long)
        })?;
        let slave = open(
            self,
            &format!("/dev/pts/{n}"),
            "the container's end: it becomes its stdin, stdout and stderr",
        )?;
        Ok((master, slave))
    }

    /// Make `fd` (a terminal) this process's controlling terminal; the caller is a session
    /// leader (setsid).
    pub fn make_controlling_terminal(&self, fd: RawFd, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "ioctl",
                vec![fd.to_string(), "TIOCSCTTY".into(), "0".into()],
                "ioctl_tty(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } as libc::c_long)
        })?;
        Ok(())
    }

    /// sendmsg(2) one descriptor over a unix socket (SCM_RIGHTS).
    pub fn send_fd(&self, socket: RawFd, fd: RawFd, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "sendmsg",
                vec![
                    socket.to_string(),
                    format!("{{msg_iov=[\"t\"], msg_control=[{{SCM_RIGHTS, [{fd}]}}]}}"),
                    "0".into(),
                ],
                "unix(7)",
                why,
            )
        };
        self.call_plain(call, || {
            let iov = [std::io::IoSlice::new(b"t")];
            let fds = [fd];
            let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
            nix::sys::socket::sendmsg::<()>(
                socket,
                &iov,
                &cmsg,
                nix::sys::socket::MsgFlags::empty(),
                None,
            )
            .map(|n| n as i64)
        })?;
        Ok(())
    }
}

/// In glassbox: receive the descriptor the container sent (None if it ended first).
pub fn receive_fd(socket: RawFd) -> Option<OwnedFd> {
    super::sock::recv_one_fd(socket).ok()?.1
}

/// Your terminal's settings as they were when [`raw_stdin`] changed them; put back when
/// dropped. These change only this terminal's line discipline, not the host: not narrated.
pub struct SavedTerminal(Option<nix::sys::termios::Termios>);

impl Drop for SavedTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Put stdin's terminal in raw input mode: no line editing, no echo, no signals from keys
/// (the container's terminal does all that). Output processing stays on, so narration lines
/// still start at column 0. Not a terminal: nothing changes.
pub fn raw_stdin() -> SavedTerminal {
    let saved = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    if let Some(t) = &saved {
        use nix::sys::termios::{InputFlags as I, LocalFlags as L};
        let mut raw = t.clone();
        raw.local_flags &= !(L::ICANON | L::ECHO | L::ISIG | L::IEXTEN);
        raw.input_flags &= !(I::ICRNL | I::IXON | I::BRKINT | I::INPCK | I::ISTRIP);
        raw.control_chars[libc::VMIN] = 1;
        raw.control_chars[libc::VTIME] = 0;
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &raw,
        );
    }
    SavedTerminal(saved)
}

/// Give the terminal `to` the window size of stdin's terminal (TIOCGWINSZ, TIOCSWINSZ).
pub fn copy_window_size(to: RawFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

/// A stream socket pair (close-on-exec) for handing a terminal over.
pub fn console_socketpair() -> Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| {
        crate::error::Error::sys(
            "cannot make the console socket",
            e,
            "check the limit on open files (ulimit -n)",
        )
    })
}

/// In a forked helper: close its copy of a descriptor whose owner (in the parent) keeps it,
/// so that only the intended process holds the other end.
pub fn close_copy(fd: RawFd) {
    let _ = nix::unistd::close(fd);
}

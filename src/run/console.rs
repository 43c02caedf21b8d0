//! `run -t`: the container gets a terminal of its own, as Docker gives it.
//!
//! The container opens a pseudo-terminal pair from its own devpts (so `tty` inside names
//! it, /dev/pts/0), makes it its controlling terminal and sends the master end to glassbox
//! over a socket pair made before the clone. glassbox puts your terminal in raw mode (keys
//! go through as they are: Ctrl-C is a byte the container's terminal turns into SIGINT for
//! its foreground job), copies keys in and output out, passes on window size changes, and
//! puts your terminal back when the container ends.

use crate::error::Result;
use crate::sys::tty;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The two ends of the console socket: glassbox keeps one, the container the other.
pub struct Socket {
    pub ours: OwnedFd,
    pub theirs: OwnedFd,
}

pub fn socket(sys: &crate::sys::Sys) -> Result<Option<Socket>> {
    Ok(sys
        .console_socketpair()?
        .map(|(ours, theirs)| Socket { ours, theirs }))
}

static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::SeqCst);
}

/// Relays between your terminal and the container's, until dropped (after the container
/// ended): then the last output is copied and your terminal restored.
pub struct Relay {
    out: Option<std::thread::JoinHandle<()>>,
    _restore: tty::SavedTerminal,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(t) = self.out.take() {
            let _ = t.join();
        }
    }
}

/// In glassbox, once the container is cloned: relay its terminal as soon as it sends it.
/// Join the handle after the container ended (the relay is then finished and dropped).
pub fn relay_in_background(socket: Socket, keys: bool) -> std::thread::JoinHandle<Option<Relay>> {
    drop(socket.theirs);
    std::thread::spawn(move || relay(&socket.ours, keys))
}

/// For `exec`, which joins the container's namespaces (which a process with threads may not
/// do): the relay is a process of its own, forked before the joins. Returns its pid.
pub fn relay_process(sys: &crate::sys::Sys, socket: &Socket, keys: bool) -> Result<i32> {
    use crate::sys::process::Forked;
    match sys.fork(
        0,
        "a relay for the terminal: it stays out here while glassbox joins the container",
    )? {
        Forked::Child => {
            // Only the command may hold the other end: its close tells the relay it failed.
            tty::close_copy(socket.theirs.as_raw_fd());
            crate::sys::signals::ignore(&[libc::SIGINT, libc::SIGQUIT]);
            // Dropped when the terminal's last process has ended: output copied, terminal back.
            drop(relay(&socket.ours, keys));
            crate::sys::signals::exit_now(0)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

/// Wait for the container's terminal (None if the container ended without sending it) and
/// relay it. `keys`: copy your keystrokes in (-i).
fn relay(socket: &OwnedFd, keys: bool) -> Option<Relay> {
    let master = crate::sys::tty::receive_fd(socket.as_raw_fd())?;
    let m = master.as_raw_fd();
    tty::copy_window_size(m);
    // The output thread's read returns on SIGWINCH, and the new size is passed on.
    crate::sys::signals::catch_interrupting(libc::SIGWINCH, on_winch);
    let restore = tty::raw_stdin();
    let writer = master.try_clone().ok()?;
    if keys {
        // Not joined: it sits in read(0) until the next key; the process ends after.
        std::thread::spawn(move || {
            let mut to = std::fs::File::from(writer);
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Ok(n) if n > 0 && to.write_all(&buf[..n]).is_ok() => {}
                    _ => break,
                }
            }
        });
    }
    let out = std::thread::spawn(move || {
        let mut from = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        let mut stdout = std::io::stdout();
        loop {
            if RESIZED.swap(false, Ordering::SeqCst) {
                tty::copy_window_size(m);
            }
            match from.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO: every process of the container's terminal has ended.
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if stdout
                        .write_all(&buf[..n])
                        .and_then(|()| stdout.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    Some(Relay {
        out: Some(out),
        _restore: restore,
    })
}

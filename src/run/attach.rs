//! The server side of `glassbox attach`, in a detached container's log keeper: it listens
//! on `attach.sock` in the container's directory, hands each client the container's stdin
//! (the terminal's master end with -t, the stdin pipe's write end with -i) over SCM_RIGHTS,
//! and copies the container's output to every attached client as well as to the log, so the
//! log goes on whether anybody is attached or not.
//!
//! Output goes to clients in frames: one byte for the stream (1 stdout, 2 stderr), the
//! length as four bytes big-endian, then the bytes (docker's attach stream has the same
//! shape with an 8-byte header).

use crate::sys::Sys;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// The name of the socket in the container's directory.
pub const SOCKET: &str = "attach.sock";

/// The attached clients, shared by the threads that copy output.
#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Vec<UnixStream>>>);

impl Clients {
    /// Send `data` from `stream` to every client; one that cannot keep up is let go.
    pub fn send(&self, stream: u8, data: &[u8]) {
        let Ok(mut clients) = self.0.lock() else {
            return;
        };
        if clients.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 5);
        frame.push(stream);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        clients.retain_mut(|c| c.write_all(&frame).is_ok());
    }

    /// Greet a new client with `hello` and add it, under the lock: no output reaches it
    /// before its greeting, and none made in answer to its first keys is missed.
    fn join(&self, c: UnixStream, hello: impl FnOnce(&mut UnixStream) -> bool) {
        let Ok(mut clients) = self.0.lock() else {
            return;
        };
        let mut c = c;
        // A client that stops reading must not hold the log up for long.
        let _ = c.set_write_timeout(Some(std::time::Duration::from_secs(1)));
        if hello(&mut c) {
            clients.push(c);
        }
    }
}

/// Accept clients until the listener is woken ([`crate::sys::sock::wake`]) at the end.
pub fn serve(sys: &Sys, listener: &OwnedFd, stdin: Option<&OwnedFd>, clients: &Clients) {
    use std::os::fd::AsRawFd;
    while let Ok(conn) = sys.accept(
        listener,
        "wait for glassbox attach (EINVAL once the container has ended and the keeper stops)",
    ) {
        clients.join(UnixStream::from(conn), |conn| match stdin {
            Some(fd) => sys
                .send_fd(
                    conn.as_raw_fd(),
                    fd.as_raw_fd(),
                    "hand the client the container's stdin: its keys go straight in",
                )
                .is_ok(),
            // Output only: one byte without a descriptor.
            None => conn.write_all(b"n").is_ok(),
        });
    }
}

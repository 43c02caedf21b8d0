//! The console socket an engine passes (`--console-socket`): the terminal's master end is
//! sent over it to whoever relays the terminal (conmon, containerd's shim).

use crate::error::{Error, Result};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connect to the engine's console socket.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| {
        Error::io(
            format!("cannot connect to the console socket {}", path.display()),
            &e,
            "check that the engine is listening on it",
        )
    })
}

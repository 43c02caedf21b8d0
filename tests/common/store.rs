//! A state directory of a test's own for tests that need no turn on the host (images, pulls,
//! builds): glassbox run in it, and the "must succeed, give me its output" shorthand.

use super::{glassbox, stderr, stdout};
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Store {
    pub state: tempfile::TempDir,
}

impl Store {
    /// A fresh state directory named PREFIX…, removed with the Store.
    pub fn new(prefix: &str) -> Store {
        Store {
            state: tempfile::Builder::new().prefix(prefix).tempdir().unwrap(),
        }
    }

    /// glassbox with the state directory (and HOME, where `login` keeps credentials) its own.
    pub fn cmd(&self) -> Command {
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", self.state.path())
            .env_remove("DOCKER_CONFIG")
            .env("HOME", self.state.path());
        c
    }

    /// `glassbox -q ARGS…`.
    pub fn gb(&self, args: &[&str]) -> Output {
        self.cmd().arg("-q").args(args).output().unwrap()
    }

    /// `glassbox -q ARGS…`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.gb(args))
    }

    pub fn data(&self) -> PathBuf {
        self.state.path().join("data")
    }
}

/// The stdout of `glassbox ARGS…`, which must have succeeded (else its output, in the panic).
pub fn succeeded(args: &[&str], o: Output) -> String {
    assert!(
        o.status.success(),
        "glassbox {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

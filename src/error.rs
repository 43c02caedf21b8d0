//! One error type for the whole tool: what failed, the errno in plain words, and what to do.
//!
//! Errors are built where the failure is understood and reported once, at the top (`main`),
//! with the exit code `docker run` would use.

use nix::errno::Errno;
use std::fmt;

/// Exit codes as `docker run` uses them.
pub mod exit {
    /// glassbox itself failed.
    pub const GLASSBOX: i32 = 125;
    /// The command was found but cannot be invoked.
    pub const CANNOT_INVOKE: i32 = 126;
    /// The command was not found.
    pub const NOT_FOUND: i32 = 127;
}

#[derive(Debug, Clone)]
pub struct Error {
    /// What failed, as one sentence without the trailing full stop.
    pub what: String,
    /// The errno, when a syscall said no.
    pub errno: Option<Errno>,
    /// What is probably behind it on this host (a diagnosis, when one was made).
    pub why: Option<String>,
    /// What the user can do about it.
    pub todo: String,
    /// The process exit code to use.
    pub code: i32,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failure of glassbox itself (exit 125).
    pub fn new(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Error {
            what: what.into(),
            errno: None,
            why: None,
            todo: todo.into(),
            code: exit::GLASSBOX,
        }
    }

    /// A failed syscall (exit 125), with its errno.
    pub fn sys(what: impl Into<String>, errno: Errno, todo: impl Into<String>) -> Self {
        Error {
            errno: Some(errno),
            ..Error::new(what, todo)
        }
    }

    /// Bad input from the user: nothing was done (exit 125).
    pub fn usage(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Error::new(what, todo)
    }

    pub fn with_why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// An I/O error on a path, turned into an error with the errno.
    pub fn io(what: impl Into<String>, err: &std::io::Error, todo: impl Into<String>) -> Self {
        let errno = err.raw_os_error().map(Errno::from_raw);
        Error {
            errno,
            why: if errno.is_none() {
                Some(err.to_string())
            } else {
                None
            },
            ..Error::new(what, todo)
        }
    }
}

/// The errno as strace prints it and in plain words: `EPERM (Operation not permitted)`.
pub fn errno_words(errno: Errno) -> String {
    format!("{:?} ({})", errno, errno.desc())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        if let Some(e) = self.errno {
            write!(f, ": {}", errno_words(e))?;
        }
        writeln!(f, ".")?;
        if let Some(why) = &self.why {
            writeln!(f, "  why: {why}")?;
        }
        write!(f, "  what to do: {}", self.todo)
    }
}

impl std::error::Error for Error {}

//! The narrating syscall layer: every syscall glassbox makes goes through here.
//!
//! Each wrapper (1) describes its call — name, arguments rendered as strace renders them,
//! man page, a one-line why; (2) hands it to the narrator *before* making it; (3) makes it,
//! unless `--dry-run`; (4) reports the result the way strace does and, on failure, builds an
//! error with a diagnosis in plain words.
//!
//! Conventions for rendering arguments (the strace-honesty test compares them with strace):
//! strings in double quotes (`"proc"`), `NULL` for a null pointer, flags as `A|B` (any order:
//! they are compared as sets), `0` for no flags, and `...` for an argument not shown
//! (it matches anything). A file written through a descriptor is shown as strace `-y` shows
//! it: `write(3</sys/fs/cgroup/pids/x/pids.max>, "20", 2)`.

pub mod diagnose;
pub mod flags;
pub mod fs;
pub mod mount;
pub mod net;
pub mod ns;
pub mod process;
pub mod security;
pub mod tree;
pub mod tty;

use crate::error::{Error, Result};
use crate::narrate::{Call, Narrator};
use nix::errno::Errno;

/// The seam between stages and the kernel. Holds the narrator and whether calls are made.
pub struct Sys<'n> {
    pub narrator: &'n Narrator,
}

/// What the user can be told after a failed call: why it probably failed, and what to do.
pub struct Diagnosis {
    pub why: Option<String>,
    pub todo: String,
}

impl<'n> Sys<'n> {
    pub fn new(narrator: &'n Narrator) -> Self {
        Sys { narrator }
    }

    pub fn dry_run(&self) -> bool {
        self.narrator.dry_run
    }

    /// Narrate `call`, make it with `make` (unless dry run), narrate the result.
    /// On failure, `diagnose` turns the errno into a diagnosis for the error.
    pub fn call(
        &self,
        call: Call,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
        diagnose: impl FnOnce(Errno) -> Diagnosis,
    ) -> Result<i64> {
        self.narrator.before(&call);
        let result = if self.dry_run() { Ok(0) } else { make() };
        self.narrator.after(&call, result);
        result.map_err(|errno| {
            let d = diagnose(errno);
            if let Some(why) = &d.why {
                self.narrator.hint(why);
            }
            let mut err = Error::sys(format!("{} failed", call.render_short()), errno, d.todo);
            err.why = d.why;
            err
        })
    }

    /// Like [`Sys::call`] with the generic diagnosis for the errno.
    pub fn call_plain(
        &self,
        call: Call,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
    ) -> Result<i64> {
        let name = call.name.clone();
        self.call(call, make, |e| diagnose::generic(&name, e))
    }
}

/// A string argument as strace shows it: in double quotes, with escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{:o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path argument: `"/proc"`.
pub fn qpath(p: &std::path::Path) -> String {
    quote(&p.to_string_lossy())
}

/// Flags as `A|B|C`, from a table of (bit, name); unknown bits in hex; `0` when empty.
pub fn render_flags(value: u64, table: &[(u64, &str)]) -> String {
    let mut names = Vec::new();
    let mut rest = value;
    for &(bit, name) in table {
        if bit != 0 && value & bit == bit {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// A C string for a syscall argument, or an error naming the bad input.
pub fn cstring(s: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| {
        Error::usage(
            format!("the argument {s:?} holds a NUL byte"),
            "remove the NUL byte from the argument",
        )
    })
}

/// The return value of a libc call that returns -1 and sets errno.
pub fn check(ret: libc::c_long) -> std::result::Result<i64, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

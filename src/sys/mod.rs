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

pub mod bpf;
pub mod channel;
pub mod diagnose;
pub mod empty_net;
pub mod fifo;
pub mod flags;
pub mod fs;
pub mod helper;
pub mod holder;
pub mod mount;
pub mod net;
pub mod ns;
pub mod own;
pub mod pipe;
pub mod process;
pub mod quiet;
pub mod reap;
pub mod security;
pub mod signals;
pub mod sock;
pub mod tree;
pub mod tty;
mod vm_helper;
pub mod wait;

use crate::error::{Error, Result};
use crate::narrate::{Call, Narrator};
use nix::errno::Errno;

/// The seam between stages and the kernel: every wrapper describes its call, and the
/// `Kernel` behind `Sys` decides whether it is made. The narration, the rendering of the
/// arguments and the diagnosis are the same code whichever kernel it is, so what a dry run
/// prints and what a unit test records is exactly what a real run narrates.
pub struct Sys<'n> {
    pub narrator: &'n Narrator,
    kernel: &'n dyn Kernel,
}

/// Who carries the calls out: the running kernel ([`Linux`]), nobody (`--dry-run`:
/// [`DryRun`]), or a recording double for unit tests ([`Recorder`]).
pub trait Kernel {
    /// Make the call with `make`, or not. `None`: the call was not made (its narration
    /// then says so, and the wrapper goes on as if it had returned 0).
    fn perform(
        &self,
        call: &Call,
        make: &mut dyn FnMut() -> std::result::Result<i64, Errno>,
    ) -> Option<std::result::Result<i64, Errno>>;

    /// Whether calls are really made. When they are not, a wrapper that would hand back a
    /// kernel object (a descriptor, a child process) gives a stand-in instead.
    fn makes_calls(&self) -> bool;

    /// Whether this is the recording double (which lets a unit test go on past an exec).
    fn records(&self) -> bool {
        false
    }
}

/// The running kernel: every call is made.
pub struct Linux;

impl Kernel for Linux {
    fn perform(
        &self,
        _call: &Call,
        make: &mut dyn FnMut() -> std::result::Result<i64, Errno>,
    ) -> Option<std::result::Result<i64, Errno>> {
        Some(make())
    }
    fn makes_calls(&self) -> bool {
        true
    }
}

/// `--dry-run`: every call is narrated, none is made.
pub struct DryRun;

impl Kernel for DryRun {
    fn perform(
        &self,
        _call: &Call,
        _make: &mut dyn FnMut() -> std::result::Result<i64, Errno>,
    ) -> Option<std::result::Result<i64, Errno>> {
        None
    }
    fn makes_calls(&self) -> bool {
        false
    }
}

/// One call as the recording double saw it: its name and arguments, rendered as the
/// narration renders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub name: String,
    pub args: Vec<String>,
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name, self.args.join(", "))
    }
}

/// The recording double: keeps one ordered log of every call a stage asks for, and makes
/// none. A test can have the next call of a given name fail with an errno, to follow an
/// error path without root.
#[derive(Default)]
pub struct Recorder {
    log: std::cell::RefCell<Vec<Recorded>>,
    failures: std::cell::RefCell<Vec<(String, Errno)>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Recorded> {
        self.log.borrow().clone()
    }

    /// The calls so far as `name(args)` lines, in order.
    pub fn lines(&self) -> Vec<String> {
        self.log.borrow().iter().map(|c| c.to_string()).collect()
    }

    /// The names of the calls so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.log.borrow().iter().map(|c| c.name.clone()).collect()
    }

    /// The next call named `name` fails with `errno`.
    pub fn fail_next(&self, name: &str, errno: Errno) {
        self.failures.borrow_mut().push((name.to_string(), errno));
    }
}

impl Kernel for Recorder {
    fn perform(
        &self,
        call: &Call,
        _make: &mut dyn FnMut() -> std::result::Result<i64, Errno>,
    ) -> Option<std::result::Result<i64, Errno>> {
        self.log.borrow_mut().push(Recorded {
            name: call.name.clone(),
            args: call.args.clone(),
        });
        let mut failures = self.failures.borrow_mut();
        let i = failures.iter().position(|(n, _)| *n == call.name)?;
        Some(Err(failures.remove(i).1))
    }
    fn makes_calls(&self) -> bool {
        false
    }
    fn records(&self) -> bool {
        true
    }
}

/// What the user can be told after a failed call: why it probably failed, and what to do.
pub struct Diagnosis {
    pub why: Option<String>,
    pub todo: String,
}

impl Diagnosis {
    /// A refusal the caller expects and handles (an rmdir's EBUSY it acts on): nothing to
    /// explain.
    pub fn expected() -> Diagnosis {
        Diagnosis {
            why: None,
            todo: String::new(),
        }
    }
}

impl<'n> Sys<'n> {
    /// Calls made on the running kernel.
    pub fn new(narrator: &'n Narrator) -> Self {
        Sys {
            narrator,
            kernel: &Linux,
        }
    }

    /// Calls narrated and not made (`--dry-run`).
    pub fn dry(narrator: &'n Narrator) -> Self {
        Sys {
            narrator,
            kernel: &DryRun,
        }
    }

    /// Calls carried out (or not) by `kernel`: the recording double in unit tests.
    pub fn with_kernel(narrator: &'n Narrator, kernel: &'n dyn Kernel) -> Self {
        Sys { narrator, kernel }
    }

    /// True when calls are not made (a dry run, or the recording double).
    pub fn dry_run(&self) -> bool {
        !self.kernel.makes_calls()
    }

    /// Whether someone follows the calls in the order they are made: lines are shown, or
    /// it is a dry run (which shows one thing after another). Unwatched, work that does not
    /// depend on other work may overlap it.
    pub fn watched(&self) -> bool {
        self.narrator.shows_lines() || !self.kernel.makes_calls()
    }

    /// A precondition that matters only when calls are really made (root, a capability, a
    /// private mount namespace): without calls nothing changes, so a dry run needs no root.
    pub fn require(&self, check: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.kernel.makes_calls() {
            check()
        } else {
            Ok(())
        }
    }

    /// The journal every lasting host change is written to before it is made; none when
    /// calls are not made (nothing will need undoing).
    pub fn journal(&self) -> Result<Option<crate::journal::Journal>> {
        if self.kernel.makes_calls() {
            crate::journal::Journal::open().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The journal a stage plans against: the real one, or in a dry run one that reads the
    /// entries (addresses leased, ports published) and writes none.
    pub fn journal_to_plan(&self) -> Result<crate::journal::Journal> {
        if self.kernel.makes_calls() {
            crate::journal::Journal::open()
        } else {
            Ok(crate::journal::Journal::read_only())
        }
    }

    /// Strike journal entry `id` once its undo was made; when calls are not made nothing
    /// was undone, so it stays for the real cleanup.
    pub fn strike_undone(&self, journal: &crate::journal::Journal, id: &str) {
        if self.kernel.makes_calls() {
            journal.strike(id);
        }
    }

    /// Run the program `argv` (iptables) and collect its output, shown as the command line
    /// (`$ iptables …`); `todo` says what to do when it cannot be started. None when calls
    /// are not made: the program is not run either.
    pub fn run_tool(&self, argv: &[String], todo: &str) -> Result<Option<std::process::Output>> {
        self.narrator.note(&format!("$ {}", argv.join(" ")));
        if !self.kernel.makes_calls() {
            return Ok(None);
        }
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map(Some)
            .map_err(|e| Error::io(format!("cannot run {}", argv[0]), &e, todo))
    }

    /// An exclusive lock on the directory `path` (`what` names it in an error); none when
    /// calls are not made (nothing will change that another command could race).
    pub fn lock_dir(
        &self,
        path: &std::path::Path,
        what: &str,
    ) -> Result<Option<crate::lock::Guard>> {
        if self.kernel.makes_calls() {
            crate::lock::exclusive_dir(path, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Wait (polling every 10 ms, up to `limit`) until `settled` says the kernel has done
    /// what was asked; when calls are not made there is nothing to wait for.
    pub fn wait_until(&self, limit: std::time::Duration, settled: impl Fn() -> bool) {
        let start = std::time::Instant::now();
        while self.kernel.makes_calls() && !settled() && start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Work that glassbox's own code does rather than one wrapped call — a copy made with
    /// std::fs or `cp`, an archive written, a record stored, a helper process — shown as
    /// `shown` (the command that would do it by hand, or what it is). Done only when calls
    /// are made; otherwise the narration says it was not, and `not_made` stands in for it.
    pub fn compound<T>(
        &self,
        shown: &str,
        work: impl FnOnce() -> Result<T>,
        not_made: impl FnOnce() -> T,
    ) -> Result<T> {
        self.compound_or(shown, work, || Ok(not_made()))
    }

    /// [`Sys::compound`] whose stand-in may fail: a dry run that cannot go on without the
    /// work's result (an image not in the store yet) says so as an error.
    pub fn compound_or<T>(
        &self,
        shown: &str,
        work: impl FnOnce() -> Result<T>,
        not_made: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if self.kernel.makes_calls() {
            if !shown.is_empty() {
                self.narrator.note(shown);
            }
            return work();
        }
        if !shown.is_empty() {
            self.narrator.note(&format!("{shown} (dry run: not done)"));
        }
        not_made()
    }

    /// A request glassbox sends itself (HTTP to a registry), narrated as a call: announced,
    /// then sent by `send` (which narrates the answer) only when calls are made. When they
    /// are not, nothing is sent and there is no answer to go on with: an error says so.
    pub fn request<T>(&self, call: &Call, send: impl FnOnce() -> Result<T>) -> Result<T> {
        self.narrator.before(call);
        match self.kernel.perform(call, &mut || Ok(0)) {
            Some(Ok(_)) => send(),
            Some(Err(errno)) => {
                self.narrator.after(call, Err(errno));
                Err(self.failed(call, errno, |c, e| diagnose::generic(&c.name, e)))
            }
            None => {
                self.narrator.not_made(call);
                Err(Error::new(
                    "dry run: the registry was not asked",
                    "run without --dry-run to pull",
                ))
            }
        }
    }

    /// Something learnt by making calls (a probe of what the host supports); none when calls
    /// are not made.
    pub fn probe<T>(&self, probe: impl FnOnce() -> T) -> Option<T> {
        self.kernel.makes_calls().then(probe)
    }

    /// Narration that only a run whose calls are not made gives: what another process
    /// would do now (the parent, for a dry run that goes on as the child).
    pub fn show_if_not_made(&self, show: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.kernel.makes_calls() {
            Ok(())
        } else {
            show()
        }
    }

    /// A note that only a run whose calls are not made gives: what would happen now.
    pub fn note_if_not_made(&self, text: impl FnOnce() -> String) {
        if !self.kernel.makes_calls() {
            self.narrator.note(&text());
        }
    }

    /// Show `text` where the narration goes and wait for Enter (from the terminal, else
    /// from stdin); when calls are not made there is nothing half-built to look at.
    pub fn pause_for_enter(&self, text: &str) {
        use std::io::BufRead;
        if !self.kernel.makes_calls() {
            return;
        }
        // Where the narration goes, not eprintln!: that would panic on a reader that has gone.
        let _ = std::io::Write::write_all(&mut crate::narrate::narration_out(), text.as_bytes());
        let mut line = String::new();
        match std::fs::File::open("/dev/tty") {
            Ok(tty) => {
                let _ = std::io::BufReader::new(tty).read_line(&mut line);
            }
            Err(_) => {
                let _ = std::io::stdin().lock().read_line(&mut line);
            }
        }
    }

    /// The socket pair a container's terminal comes back on (-t); none when calls are not
    /// made (no container will send one).
    pub fn console_socketpair(
        &self,
    ) -> Result<Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>> {
        if self.kernel.makes_calls() {
            tty::console_socketpair().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Narrate `call`, have the kernel make it with `make`, narrate the result.
    /// On failure, `diagnose` turns the errno into a diagnosis for the error.
    /// `call` may be a closure that builds the [`Call`]: with nothing to narrate (`-q`, no
    /// trace) it is built only if the call fails, for the error message.
    pub fn call(
        &self,
        call: impl Describe,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
        diagnose: impl FnOnce(Errno) -> Diagnosis,
    ) -> Result<i64> {
        self.call_with(call, make, |_, errno| diagnose(errno))
    }

    /// Whether a call is described at all: told, recorded, or shown in a dry run. When
    /// not, only a failed call is (for its error).
    pub fn describes_calls(&self) -> bool {
        self.narrator.tells_calls() || self.kernel.records() || self.dry_run()
    }

    fn call_with(
        &self,
        call: impl Describe,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
        diagnose: impl FnOnce(&Call, Errno) -> Diagnosis,
    ) -> Result<i64> {
        if !self.describes_calls() {
            return make().map_err(|errno| self.failed(&call.describe(), errno, diagnose));
        }
        let call = call.describe();
        self.narrator.before(&call);
        self.perform(&call, make)
            .map_err(|errno| self.failed(&call, errno, diagnose))
    }

    /// The error of a failed call: what failed, the errno, and the diagnosis (its hint
    /// also narrated).
    fn failed(
        &self,
        call: &Call,
        errno: Errno,
        diagnose: impl FnOnce(&Call, Errno) -> Diagnosis,
    ) -> Error {
        let d = diagnose(call, errno);
        if let Some(why) = &d.why {
            self.narrator.hint(why);
        }
        let mut err = Error::sys(format!("{} failed", call.render_short()), errno, d.todo);
        err.why = d.why;
        err
    }

    /// Have the kernel make an already-announced call, and narrate its result (or that it
    /// was not made, which a wrapper then takes as a return of 0).
    fn perform(
        &self,
        call: &Call,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
    ) -> std::result::Result<i64, Errno> {
        let mut make = Some(make);
        let mut once = || make.take().map_or(Ok(0), |m| m());
        match self.kernel.perform(call, &mut once) {
            Some(result) => {
                self.narrator.after(call, result);
                result
            }
            None => {
                self.narrator.not_made(call);
                Ok(0)
            }
        }
    }

    /// Like [`Sys::call`] with the generic diagnosis for the errno.
    pub fn call_plain(
        &self,
        call: impl Describe,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
    ) -> Result<i64> {
        self.call_with(call, make, |call, e| diagnose::generic(&call.name, e))
    }
}

/// A syscall's description, or a closure that builds it when it is needed.
pub trait Describe {
    fn describe(self) -> Call;
}

impl Describe for Call {
    fn describe(self) -> Call {
        self
    }
}

impl<F: FnOnce() -> Call> Describe for F {
    fn describe(self) -> Call {
        self()
    }
}

/// What descriptor `fd` refers to, as strace -y shows it beside its number
/// (`net:[4026532008]`, `socket:[97131]`, a path); empty when it cannot be read.
pub(crate) fn fd_link(fd: std::os::fd::RawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|l| l.display().to_string())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_call_nobody_is_shown_is_described_only_when_it_fails() {
        let quiet = Narrator::silent();
        let sys = Sys::new(&quiet);
        let described = std::cell::Cell::new(0);
        let describe = || {
            described.set(described.get() + 1);
            Call::new("rmdir", vec![quote("/x")], "rmdir(2)", "a test")
        };
        assert_eq!(sys.call_plain(describe, || Ok(0)).unwrap(), 0);
        assert_eq!(described.get(), 0, "described, though nothing is shown");
        let err = sys.call_plain(describe, || Err(Errno::ENOENT)).unwrap_err();
        assert_eq!(described.get(), 1);
        assert_eq!(err.what, "rmdir(\"/x\") failed");
        assert_eq!(err.errno, Some(Errno::ENOENT));
    }

    #[test]
    fn compound_work_is_done_only_when_calls_are_made() {
        let narrator = Narrator::silent();
        let done = std::cell::Cell::new(0);
        let work = || {
            done.set(done.get() + 1);
            Ok(1)
        };
        assert_eq!(
            Sys::dry(&narrator)
                .compound("cp -a a b", work, || 2)
                .unwrap(),
            2
        );
        assert_eq!(Sys::dry(&narrator).probe(|| 3), None);
        assert_eq!(done.get(), 0, "a dry run did the work");
        assert_eq!(
            Sys::new(&narrator)
                .compound("cp -a a b", work, || 2)
                .unwrap(),
            1
        );
        assert_eq!(done.get(), 1);
    }

    #[test]
    fn the_recorder_keeps_every_call_in_order_and_makes_none() {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        let target = Path::new("/nonexistent/glassbox-recorder-test");
        sys.mount(
            &mount::MountArgs {
                source: Some("proc"),
                target,
                fstype: Some("proc"),
                flags: libc::MS_NOSUID,
                data: None,
            },
            "a test",
            "mount -t proc proc /x",
        )
        .unwrap();
        sys.pivot_root(target, target, "a test").unwrap();
        assert_eq!(
            recorder.lines(),
            [
                "mount(\"proc\", \"/nonexistent/glassbox-recorder-test\", \"proc\", MS_NOSUID, NULL)",
                "pivot_root(\"/nonexistent/glassbox-recorder-test\", \"/nonexistent/glassbox-recorder-test\")",
            ]
        );
        assert!(sys.dry_run(), "a stage sees calls as not made");
    }

    #[test]
    fn a_request_is_sent_only_when_calls_are_made_and_recorded_in_order() {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let get = Call::new("GET", vec![quote("http://x/v2/")], "a spec", "a test");
        let sent = std::cell::Cell::new(0);
        let send = || {
            sent.set(sent.get() + 1);
            Ok(200)
        };
        let sys = Sys::with_kernel(&narrator, &recorder);
        assert!(sys.request(&get, send).is_err(), "no answer to go on with");
        assert!(Sys::dry(&narrator).request(&get, send).is_err());
        assert_eq!(sent.get(), 0, "a request was sent when calls are not made");
        assert_eq!(recorder.lines(), ["GET(\"http://x/v2/\")"]);
        assert_eq!(Sys::new(&narrator).request(&get, send).unwrap(), 200);
        assert_eq!(sent.get(), 1);
    }

    #[test]
    fn the_recorder_fails_the_call_it_is_told_to_fail_with_its_diagnosis() {
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        recorder.fail_next("pivot_root", Errno::EINVAL);
        let err = sys
            .pivot_root(Path::new("/a"), Path::new("/a/old"), "a test")
            .unwrap_err();
        assert!(err.to_string().contains("pivot_root"), "{err}");
        assert_eq!(recorder.names(), ["pivot_root"]);
        // Only the next one fails.
        sys.pivot_root(Path::new("/a"), Path::new("/a/old"), "a test")
            .unwrap();
    }
}

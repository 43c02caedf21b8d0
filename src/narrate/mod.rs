//! The narrator: everything glassbox tells the user about what it does.
//!
//! Narration goes to stderr so the container's own stdout stays clean. Each syscall is shown
//! *before* it is made (so a hang or a crash still shows the call) and its result is appended
//! the way strace prints it. `--trace FILE` writes the same events as JSON lines, or as
//! Chrome trace events (`--trace-format chrome`, see [`chrome`]).

pub mod catalog;
pub mod chrome;
mod shared;

use crate::error::errno_words;
use colored::Colorize;
use nix::errno::Errno;
use serde::Serialize;
use std::cell::RefCell;
use std::fs::File;
use std::io::Write;

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `-q`: nothing but errors.
    Quiet = 0,
    /// Stage headers and one strace-like line per call.
    Normal = 1,
    /// `-v`/`--explain`: also the explanation, the by-hand equivalent and the man page.
    Verbose = 2,
    /// `-vv`: also per-item detail (each file an export writes).
    Detail = 3,
}

/// How `--trace` writes its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TraceFormat {
    /// One JSON object a line, glassbox's own events.
    #[default]
    Jsonl,
    /// Chrome trace events: a timeline of stages and calls for a trace viewer.
    Chrome,
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A syscall as the narrator shows it: name and arguments rendered as strace renders them.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// The syscall's name, as strace shows it (`unshare`, `mount`, `pivot_root`).
    pub name: String,
    /// Each argument rendered as strace renders it (`"proc"`, `MS_NOSUID|MS_NODEV`, `NULL`).
    pub args: Vec<String>,
    /// The man page: `unshare(2)`.
    pub man: String,
    /// One line: why glassbox makes this call here.
    pub why: String,
    /// The shell command that does the same by hand, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_hand: Option<String>,
    /// The call may block for long (wait4): shown on a line of its own before it is made,
    /// and again with its result, so the command's own output never lands mid-line.
    #[serde(skip)]
    pub blocks: bool,
}

impl Call {
    pub fn new(name: &str, args: Vec<String>, man: &str, why: impl Into<String>) -> Self {
        Call {
            name: name.to_string(),
            args,
            man: man.to_string(),
            why: why.into(),
            by_hand: None,
            blocks: false,
        }
    }

    pub fn blocking(mut self) -> Self {
        self.blocks = true;
        self
    }

    pub fn by_hand(mut self, cmd: impl Into<String>) -> Self {
        self.by_hand = Some(cmd.into());
        self
    }

    /// The call cut to a readable length for an error message.
    pub fn render_short(&self) -> String {
        let full = self.render();
        if full.chars().count() <= 160 {
            return full;
        }
        let head: String = full.chars().take(150).collect();
        format!("{head}…)")
    }

    /// `name(arg, arg, …)` as strace prints it.
    pub fn render(&self) -> String {
        format!("{}({})", self.name, self.args.join(", "))
    }
}

/// One line of the JSON trace.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum TraceEvent<'a> {
    Stage {
        stage: &'a str,
        title: &'a str,
    },
    Call {
        stage: &'a str,
        #[serde(flatten)]
        call: &'a Call,
        /// The return value, when the call succeeded (absent for a call that does not return).
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<i64>,
        /// The errno name, when the call failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        errno: Option<String>,
        dry_run: bool,
        pid: u32,
    },
    Note {
        stage: &'a str,
        text: &'a str,
    },
}

/// Settings for the narrator, from the global command-line flags.
#[derive(Debug, Clone)]
pub struct NarrateOpts {
    pub level: Level,
    pub color: ColorChoice,
    pub trace: Option<std::path::PathBuf>,
    pub trace_format: TraceFormat,
}

impl Default for NarrateOpts {
    fn default() -> Self {
        NarrateOpts {
            level: Level::Normal,
            color: ColorChoice::Auto,
            trace: None,
            trace_format: TraceFormat::Jsonl,
        }
    }
}

pub struct Narrator {
    pub level: Level,
    color: bool,
    trace: RefCell<Option<File>>,
    /// With `--trace-format chrome`: what the trace's timeline has open.
    timeline: Option<chrome::Timeline>,
    stage: RefCell<String>,
    /// A call line written without its result yet.
    pending: RefCell<bool>,
    /// Shared with the processes this one forks: what was explained, whose turn to write.
    shared: Option<shared::Shared>,
}

/// Whether colour should be used on stderr for this choice, following NO_COLOR.
pub fn use_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

impl Drop for Narrator {
    fn drop(&mut self) {
        self.close_span();
    }
}

impl Narrator {
    pub fn new(opts: &NarrateOpts) -> crate::error::Result<Self> {
        let trace = match &opts.trace {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        crate::error::Error::io(
                            format!("cannot open the trace file {}", path.display()),
                            &e,
                            "give --trace a path in a directory you can write to",
                        )
                    })?,
            ),
            None => None,
        };
        if let (Some(f), TraceFormat::Chrome) = (&trace, opts.trace_format) {
            // The first process to write the file starts the JSON array.
            if f.metadata().map(|m| m.len() == 0).unwrap_or(false) {
                let _ = (&*f).write_all(chrome::HEADER.as_bytes());
            }
        }
        let color = use_color(opts.color);
        colored::control::set_override(color);
        Ok(Narrator {
            level: opts.level,
            color,
            trace: RefCell::new(trace),
            timeline: (opts.trace_format == TraceFormat::Chrome).then(chrome::Timeline::default),
            stage: RefCell::new(String::new()),
            pending: RefCell::new(false),
            shared: shared::Shared::new(),
        })
    }

    /// A narrator that says nothing (for library use and unit tests).
    pub fn silent() -> Self {
        Narrator {
            level: Level::Quiet,
            color: false,
            trace: RefCell::new(None),
            timeline: None,
            stage: RefCell::new(String::new()),
            pending: RefCell::new(false),
            shared: None,
        }
    }

    /// The trace file's descriptor, which a process that closes all others must keep.
    pub fn trace_fd(&self) -> Option<u32> {
        use std::os::fd::AsRawFd;
        self.trace.borrow().as_ref().map(|f| f.as_raw_fd() as u32)
    }

    /// Whether calls are shown or traced: when not, they need not be described at all.
    pub fn tells_calls(&self) -> bool {
        self.level >= Level::Normal || self.trace.borrow().is_some()
    }

    /// Whether lines go to the terminal (not under `-q`): processes that work side by side
    /// then take turns, so that no line of one lands inside another's.
    pub fn shows_lines(&self) -> bool {
        self.level >= Level::Normal
    }

    pub fn colored(&self) -> bool {
        self.color
    }

    fn emit(&self, event: &TraceEvent) {
        if self.trace.borrow().is_none() {
            return;
        }
        let text = match &self.timeline {
            None => serde_json::to_string(event).map(|l| l + "\n").ok(),
            Some(t) => Some(chrome::lines(&t.events(event))),
        };
        if let (Some(f), Some(text)) = (self.trace.borrow_mut().as_mut(), text) {
            // One write per event: O_APPEND keeps lines whole across processes.
            let _ = f.write_all(text.as_bytes());
        }
    }

    /// Chrome traces: this process's stage span ends (it execs, or ends).
    pub fn close_span(&self) {
        if let (Some(t), Some(f)) = (&self.timeline, self.trace.borrow_mut().as_mut()) {
            if let Some(e) = t.close() {
                let _ = f.write_all(chrome::lines(&[e]).as_bytes());
            }
        }
    }

    /// The descriptors the narrator holds (its trace file), which no cleanup may close.
    pub fn own_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<_> = self.trace.borrow().iter().map(|f| f.as_raw_fd()).collect();
        let own = NARRATION_FD.load(std::sync::atomic::Ordering::Relaxed);
        if own > 2 {
            fds.push(own);
        }
        fds
    }

    /// From here on, narrate on a descriptor of its own (a duplicate of stderr, closed at
    /// execve), so that stderr itself can be pointed elsewhere — a detached container's log —
    /// while the narration still reaches the terminal.
    pub fn keep_own_stderr(&self) {
        // Already elsewhere (glassbox runtime --log): it stays there.
        if NARRATION_FD.load(std::sync::atomic::Ordering::Relaxed) != 2 {
            return;
        }
        if let Some(fd) = crate::sys::own::dup_cloexec(2) {
            NARRATION_FD.store(fd, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Narrate no more if the narration was moved off stderr (`keep_own_stderr`): a
    /// detached container's init must not keep its caller's terminal open.
    pub fn stop_if_not_stderr(&self) {
        if NARRATION_FD.load(std::sync::atomic::Ordering::Relaxed) != 2 {
            READER_GONE.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn err_line(&self, text: &str) {
        self.finish_pending();
        self.wait_turn();
        let mut e = narration_out();
        let _ = writeln!(e, "{text}");
    }

    fn finish_pending(&self) {
        if self.pending.replace(false) {
            let _ = writeln!(narration_out());
        }
    }

    /// The current stage's name.
    pub fn current_stage(&self) -> String {
        self.stage.borrow().clone()
    }

    /// A stage header: `▶ unshare — new namespaces for this process`.
    pub fn stage(&self, stage: &str, title: &str) {
        *self.stage.borrow_mut() = stage.to_string();
        self.emit(&TraceEvent::Stage { stage, title });
        if self.level >= Level::Normal {
            let head = format!("▶ {stage}");
            self.err_line(&format!("{} — {}", head.bold().cyan(), title));
            if self.level >= Level::Verbose {
                if let Some(entry) = catalog::lookup_kind(stage, "stage") {
                    if self.first_time(&entry) {
                        self.explanation(&entry.explain, entry.by_hand.as_deref(), &entry.man);
                    } else {
                        self.err_line(&format!("    {}", "(stage explained above)".dimmed()));
                    }
                }
            }
        }
    }

    /// A line of plain narration (what is about to happen, a summary).
    pub fn note(&self, text: &str) {
        let stage = self.current_stage();
        self.emit(&TraceEvent::Note {
            stage: &stage,
            text,
        });
        if self.level >= Level::Normal {
            self.err_line(&format!("  {}", text.dimmed()));
        }
    }

    /// Detail shown only at `-v` and above.
    pub fn verbose(&self, text: &str) {
        if self.level >= Level::Verbose {
            self.err_line(&format!("    {}", text.dimmed()));
        }
    }

    /// Per-item detail shown only at `-vv`.
    pub fn detail(&self, text: &str) {
        if self.level >= Level::Detail {
            self.err_line(&format!("    {}", text.dimmed()));
        }
    }

    /// A warning is shown at every level but `-q`.
    pub fn warn(&self, text: &str) {
        let stage = self.current_stage();
        self.emit(&TraceEvent::Note {
            stage: &stage,
            text,
        });
        if self.level >= Level::Normal {
            self.err_line(&format!("  {} {}", "warning:".yellow().bold(), text));
        }
    }

    fn explanation(&self, text: &str, by_hand: Option<&str>, man: &str) {
        for line in text.trim().lines() {
            self.err_line(&format!("    {}", line.dimmed()));
        }
        if let Some(cmd) = by_hand {
            self.err_line(&format!("    {} {}", "by hand:".italic(), cmd));
        }
        if !man.is_empty() {
            self.err_line(&format!("    {} {}", "man:".italic(), man));
        }
    }

    /// Called before a syscall is made: shows it, without its result yet.
    pub fn before(&self, call: &Call) {
        if let Some(t) = &self.timeline {
            t.call_starts();
        }
        if self.level >= Level::Normal && call.blocks {
            self.err_line(&format!("  {} {}", call.render().green(), "…".dimmed()));
        } else if self.level >= Level::Normal {
            self.finish_pending();
            self.wait_turn();
            let mut e = narration_out();
            let _ = write!(e, "  {}", call.render().green());
            let _ = e.flush();
            *self.pending.borrow_mut() = true;
        }
    }

    /// Called after a syscall returned: appends `= 0` or `= -1 EPERM (…)`, and records it.
    pub fn after(&self, call: &Call, result: Result<i64, Errno>) {
        self.finish(call, Some(result));
    }

    /// Called for a call that was not made (a dry run): `= ? (dry run: not made)`.
    pub fn not_made(&self, call: &Call) {
        self.finish(call, None);
    }

    fn finish(&self, call: &Call, result: Option<Result<i64, Errno>>) {
        let stage = self.current_stage();
        self.emit(&TraceEvent::Call {
            stage: &stage,
            call,
            result: result.and_then(|r| r.ok()),
            errno: result.and_then(|r| r.err()).map(|e| format!("{e:?}")),
            dry_run: result.is_none(),
            pid: crate::sys::quiet::pid(),
        });
        if self.level < Level::Normal {
            return;
        }
        let tail = match result {
            None => format!(" = ? {}", "(dry run: not made)".dimmed()),
            // umask(2) returns a mode: strace shows it in octal, as 022.
            Some(Ok(v)) if call.name == "umask" => format!(" = {v:03o}"),
            Some(Ok(v)) => format!(" = {v}"),
            Some(Err(e)) => format!(" = -1 {}", errno_words(e).red().bold()),
        };
        // One write for a whole line: another process narrating at the same time (a child
        // just let go) cannot land in the middle of it.
        let line = if self.pending.replace(false) {
            format!("{tail}\n")
        } else {
            format!("  {}{tail}\n", call.render().green())
        };
        self.wait_turn();
        let _ = narration_out().write_all(line.as_bytes());
        if self.level >= Level::Verbose {
            self.verbose_call(call);
        }
    }

    /// For a call that does not return when it works (execve): record it before it is made.
    pub fn before_no_return(&self, call: &Call, made: bool) {
        let stage = self.current_stage();
        self.emit(&TraceEvent::Call {
            stage: &stage,
            call,
            result: None,
            errno: None,
            dry_run: !made,
            pid: crate::sys::quiet::pid(),
        });
        if made {
            // execve replaces this process's image: what it ran ends here.
            self.close_span();
        }
        if self.level >= Level::Normal {
            let tail = if !made {
                format!(" = ? {}", "(dry run: not made)".dimmed())
            } else {
                " = ?".to_string()
            };
            self.err_line(&format!("  {}{}", call.render().green(), tail));
            if self.level >= Level::Verbose {
                self.verbose_call(call);
            }
        }
    }

    /// True the first time in this run (across the processes it forked) that `entry` is
    /// to be explained: later occurrences only refer back to it.
    pub fn first_time(&self, entry: &catalog::Entry) -> bool {
        match &self.shared {
            Some(seen) => seen.first_time(catalog::index_of(entry)),
            None => true,
        }
    }

    fn verbose_call(&self, call: &Call) {
        self.err_line(&format!("    {} {}", "why:".italic(), call.why));
        let entry = catalog::lookup_kind(&call.name, "syscall")
            .or_else(|| catalog::lookup_kind(&call.name, "request"));
        if let Some(e) = entry.as_ref().filter(|e| !self.first_time(e)) {
            if let Some(cmd) = &call.by_hand {
                self.err_line(&format!("    {} {}", "by hand:".italic(), cmd));
            }
            let back = format!("({} explained above)", e.man);
            self.err_line(&format!("    {}", back.dimmed()));
            return;
        }
        if let Some(entry) = &entry {
            for line in entry.explain.trim().lines() {
                self.err_line(&format!("    {}", line.dimmed()));
            }
        }
        let by_hand = call
            .by_hand
            .clone()
            .or_else(|| entry.as_ref().and_then(|e| e.by_hand.clone()));
        if let Some(cmd) = by_hand {
            self.err_line(&format!("    {} {}", "by hand:".italic(), cmd));
        }
        self.err_line(&format!("    {} {}", "man:".italic(), call.man));
    }

    /// The hint after a failed call, in plain words.
    pub fn hint(&self, text: &str) {
        if self.level >= Level::Normal {
            self.err_line(&format!("    {} {}", "hint:".yellow().bold(), text));
        }
    }

    /// Wait while another process of the run holds the narration.
    fn wait_turn(&self) {
        if let Some(s) = &self.shared {
            s.wait_turn();
        }
    }

    /// Narrate in `f` while the other processes of the run wait to write: for the call
    /// that lets a child go, narrated after it is made while the child already runs.
    pub fn holding<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.shared {
            Some(s) => s.holding(f),
            None => f(),
        }
    }

    /// Forget a half-written line (in a child right after fork: the parent finishes it).
    pub fn forget_pending(&self) {
        *self.pending.borrow_mut() = false;
    }
}

/// The descriptor narration is written to: stderr, unless `keep_own_stderr` moved it.
static NARRATION_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(2);

/// Set once a write found nobody reading (EPIPE: `glassbox … 2>&1 | head` and head ended).
/// From then on glassbox stops narrating and carries on: what it made must still be undone.
static READER_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Where narration (and an error from a forked child) is written.
pub fn narration_out() -> NarrationOut {
    NarrationOut(NARRATION_FD.load(std::sync::atomic::Ordering::Relaxed))
}

pub struct NarrationOut(libc::c_int);

impl Write for NarrationOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        if READER_GONE.load(Relaxed) {
            return Ok(buf.len());
        }
        if JSON_LOG.load(Relaxed) {
            return json_lines(self.0, buf);
        }
        // SIGPIPE is ignored (see `ends_on_closed_pipe`), so a lost reader is EPIPE here.
        match crate::sys::own::write(self.0, buf) {
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                READER_GONE.store(true, Relaxed);
                Ok(buf.len())
            }
            other => other,
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `glassbox runtime --log-format json`: each narration line becomes the JSON line runc
/// writes to its log ({"level","msg","time"}), which podman and containerd read.
static JSON_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The level of the lines being written: "info", or "error" while an error is reported.
static JSON_LEVEL: std::sync::Mutex<&str> = std::sync::Mutex::new("info");
/// A line written in parts (a call, then its result) waits here for its end.
static JSON_PARTIAL: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

fn json_lines(fd: libc::c_int, buf: &[u8]) -> std::io::Result<usize> {
    let mut partial = JSON_PARTIAL.lock().unwrap_or_else(|e| e.into_inner());
    partial.extend_from_slice(buf);
    while let Some(end) = partial.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = partial.drain(..=end).collect();
        let msg = String::from_utf8_lossy(&line[..end]).trim_end().to_string();
        if msg.is_empty() {
            continue;
        }
        let level = *JSON_LEVEL.lock().unwrap_or_else(|e| e.into_inner());
        let time = crate::clock::rfc3339(crate::clock::now());
        let mut out = serde_json::json!({"level": level, "msg": msg, "time": time}).to_string();
        out.push('\n');
        let _ = crate::sys::own::write(fd, out.as_bytes());
    }
    Ok(buf.len())
}

/// Send the narration to the file `path` (appended) instead of stderr, as JSON lines when
/// `json`: `glassbox runtime --log FILE [--log-format json]`.
pub fn narrate_to_file(path: &std::path::Path, json: bool) -> std::io::Result<()> {
    use std::os::fd::IntoRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // std opens with O_CLOEXEC: the container's command never inherits the log.
    let fd = f.into_raw_fd();
    NARRATION_FD.store(fd, std::sync::atomic::Ordering::Relaxed);
    JSON_LOG.store(json, std::sync::atomic::Ordering::Relaxed);
    colored::control::set_override(false);
    Ok(())
}

/// Report an error where the narration goes, at level "error" in a JSON log.
pub fn log_error(err: &crate::error::Error) {
    *JSON_LEVEL.lock().unwrap_or_else(|e| e.into_inner()) = "error";
    report_error(err);
    *JSON_LEVEL.lock().unwrap_or_else(|e| e.into_inner()) = "info";
}

/// Print an error where the narration goes, once: for a forked child or a command that has
/// no command line of its own to consult (`glassbox: error: what failed…`).
pub fn report_error(err: &crate::error::Error) {
    use std::io::Write;
    let _ = writeln!(
        narration_out(),
        "{} {}",
        "glassbox: error:".red().bold(),
        err
    );
}

//! `--trace-format chrome`: the trace as Chrome trace events, so a run opens as a timeline
//! (chrome://tracing, ui.perfetto.dev, speedscope).
//!
//! The JSON Array Format: `[` then one event per line, each ending in `,`. The closing `]` is
//! optional in that format, which lets every process of a run (parent, container, helpers)
//! append its own events to one file, as the JSON lines trace does. A stage is a span (`B`
//! then `E`) on the row of the process that ran it, a call a complete event (`X`) with its
//! duration, a note an instant (`i`). Times are microseconds of the wall clock, shared by
//! all processes.

use serde_json::{json, Value};

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// This process's pid in the pid namespace of the /proc mounted (NSpid's first field): the
/// host's pid, where a new pid namespace makes the process 1 to itself.
pub fn host_pid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The start of the file: written once, by whoever finds it empty.
pub const HEADER: &str = "[\n";

fn event(ph: &str, cat: &str, name: &str, ts: u64, pid: u32) -> Value {
    json!({ "name": name, "cat": cat, "ph": ph, "ts": ts, "pid": pid, "tid": pid })
}

/// A stage begins on this process's row.
pub fn stage_begin(stage: &str, title: &str, ts: u64, pid: u32) -> Value {
    let mut e = event("B", "stage", stage, ts, pid);
    e["args"] = json!({ "title": title });
    e
}

/// The stage this process was in ends.
pub fn stage_end(stage: &str, ts: u64, pid: u32) -> Value {
    event("E", "stage", stage, ts, pid)
}

/// A call from `start` to `end`, with what strace would show as its arguments and result.
pub fn call(name: &str, args: Value, start: u64, end: u64, pid: u32) -> Value {
    let mut e = event("X", "syscall", name, start, pid);
    e["dur"] = json!(end.saturating_sub(start));
    e["args"] = args;
    e
}

/// A note: an instant on this process's row.
pub fn note(text: &str, ts: u64, pid: u32) -> Value {
    let mut e = event("i", "note", text, ts, pid);
    e["s"] = json!("t");
    e
}

/// Events as they go into the file: one a line, each followed by a comma.
pub fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e},\n")).collect()
}

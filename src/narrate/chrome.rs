//! `--trace-format chrome`: the trace as Chrome trace events, so a run opens as a timeline
//! (chrome://tracing, ui.perfetto.dev, speedscope).
//!
//! The JSON Array Format: `[` then one event per line, each ending in `,`. The closing `]` is
//! optional in that format, which lets every process of a run (parent, container, helpers)
//! append its own events to one file, as the JSON lines trace does. A stage is a span (`B`
//! then `E`) on the row of the process that ran it, a call a complete event (`X`) with its
//! duration, a note an instant (`i`). Times are microseconds of the wall clock, shared by
//! all processes.

use super::TraceEvent;
use serde_json::{json, Value};
use std::cell::RefCell;

/// What one process's narrator keeps of the timeline: the stage span it has open (a forked
/// child inherits its parent's, but draws on a row of its own), when the call being made
/// began, and its row (its pid as the host sees it, for the pid it has itself).
#[derive(Default)]
pub struct Timeline {
    open: RefCell<Option<(String, u32)>>,
    call_start: RefCell<Option<u64>>,
    row: RefCell<Option<(u32, u32)>>,
}

impl Timeline {
    /// A call is about to be made: its bar starts now.
    pub fn call_starts(&self) {
        *self.call_start.borrow_mut() = Some(now_us());
    }

    /// This process's row: its pid as the host sees it. Read once per process, while /proc
    /// is still the host's (a container mounts its own later).
    fn row(&self) -> u32 {
        let own = crate::sys::quiet::pid();
        if let Some((p, row)) = *self.row.borrow() {
            if p == own {
                return row;
            }
        }
        let row = host_pid().unwrap_or(own);
        *self.row.borrow_mut() = Some((own, row));
        row
    }

    /// Opens `stage` on this row at `ts` unless this process has it open already.
    fn ensure_open(&self, stage: &str, ts: u64, pid: u32, out: &mut Vec<Value>) {
        let mut open = self.open.borrow_mut();
        if !stage.is_empty() && open.as_ref().is_none_or(|(_, p)| *p != pid) {
            out.push(stage_begin(stage, "", ts, pid));
            *open = Some((stage.to_string(), pid));
        }
    }

    /// One narration event as trace events: a stage closes this process's span and opens
    /// its own, a call is a complete event from `call_starts` to now, a note an instant.
    pub(super) fn events(&self, event: &TraceEvent) -> Vec<Value> {
        let (now, pid) = (now_us(), self.row());
        let mut out = Vec::new();
        match event {
            TraceEvent::Stage { stage, title } => {
                out.extend(self.close_at(now));
                out.push(stage_begin(stage, title, now, pid));
                *self.open.borrow_mut() = Some((stage.to_string(), pid));
            }
            TraceEvent::Call {
                stage,
                call: c,
                result,
                errno,
                dry_run,
                ..
            } => {
                let start = self.call_start.take().unwrap_or(now).min(now);
                self.ensure_open(stage, start, pid, &mut out);
                let args = json!({
                    "call": c.render(),
                    "result": result,
                    "errno": errno,
                    "dry_run": dry_run,
                });
                out.push(call(&c.name, args, start, now, pid));
            }
            TraceEvent::Note { stage, text } => {
                self.ensure_open(stage, now, pid, &mut out);
                out.push(note(text, now, pid));
            }
        }
        out
    }

    /// The end of this process's open span, if it opened one (it execs, or ends).
    pub fn close(&self) -> Option<Value> {
        self.close_at(now_us())
    }

    fn close_at(&self, ts: u64) -> Option<Value> {
        let pid = self.row();
        let (name, _) = self.open.take().filter(|(_, p)| *p == pid)?;
        Some(stage_end(&name, ts, pid))
    }
}

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
    crate::host::own_status(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })?
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

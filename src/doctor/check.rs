//! One line of doctor's report and its status: shared by the host checks (checks.rs) and
//! the rootless checks (rootless.rs), so neither has to import the other for it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// ✓ fine.
    Ok,
    /// ! works, but something is worth knowing or fixing.
    Warn,
    /// ✗ missing.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable name for tools and tests: `root`, `ns.pid`, `cgroup.memory`, `busybox`.
    pub id: String,
    pub status: Status,
    /// Whether `glassbox run` needs this (a failed required check makes doctor exit 1).
    pub required: bool,
    /// What was found, in one line.
    pub what: String,
    /// What to do about it (or why it matters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
}

impl Check {
    pub(super) fn new(id: &str, status: Status, required: bool, what: impl Into<String>) -> Self {
        Check {
            id: id.to_string(),
            status,
            required,
            what: what.into(),
            todo: None,
        }
    }

    pub(super) fn todo(mut self, t: impl Into<String>) -> Self {
        self.todo = Some(t.into());
        self
    }
}

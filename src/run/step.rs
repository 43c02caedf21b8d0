//! `run --step`: pause before each stage, say what it will do, and how to look at the
//! half-built container from another terminal.

use super::config::Stage;
use super::Plan;
use crate::sys::Sys;

/// This process's pid as the host sees it (the first NSpid entry), even inside a new pid
/// namespace, while /proc is still the host's.
pub fn host_pid() -> i32 {
    crate::narrate::chrome::host_pid()
        .map(|p| p as i32)
        .unwrap_or_else(|| crate::sys::quiet::pid() as i32)
}

/// Before `stage`: explain it and wait for Enter (from the terminal, else from stdin).
/// `container` is the host pid of the container's first process, once there is one.
pub fn pause(sys: &Sys, plan: &Plan, stage: Stage, container: Option<i32>) {
    if !plan.step {
        return;
    }
    let summary = crate::narrate::catalog::lookup_kind(stage.catalog_name(), "stage")
        .map(|e| e.summary)
        .unwrap_or_default();
    let mut text = format!(
        "\n── next stage: {} — {}\n   (`glassbox explain {}` says more)\n",
        stage.name(),
        summary.trim(),
        stage.name()
    );
    match container {
        Some(pid) => text.push_str(&format!(
            "   From another terminal, look at the half-built container:\n     glassbox inspect {pid}      nsenter -t {pid} -a sh      cat /proc/{pid}/mountinfo\n"
        )),
        None => text.push_str(&format!(
            "   The container's process does not exist yet: glassbox (pid {}) is preparing it.\n",
            std::process::id()
        )),
    }
    text.push_str("   Press Enter to go on.\n");
    sys.pause_for_enter(&text);
}

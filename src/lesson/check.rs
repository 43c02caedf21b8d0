//! `glassbox lesson N --check`: each exercise's check, run against the learner's own work.
//!
//! On a shared machine (a workshop) anyone's `sleep` or container would satisfy a check that
//! looks at the whole machine, so checks look only at what this learner made: files in the
//! directory they check from, containers in their data directory, and processes started
//! from their terminal — the descendants of the shell that runs `--check`, or processes of
//! its session. `PRELUDE` gives every check the shell function `mine` for the last.

use super::parse::Lesson;
use crate::error::Result;

/// Shell run before every check. `mine [NAME]` prints the pids of the learner's processes
/// (called NAME): the check's shell is a child of glassbox, whose parent is the learner's shell.
/// `cgroup_value PID FILE…` prints the first FILE found in PID's own cgroups (v1 or v2).
/// A learner who typed `sudo glassbox …` has sudo as glassbox's parent: their shell is above it.
pub const PRELUDE: &str = r#"learner=$(ps -o ppid= -p $PPID | tr -d ' ')
while [ "$(ps -o comm= -p "$learner")" = sudo ]; do learner=$(ps -o ppid= -p "$learner" | tr -d ' '); done
session=$(ps -o sid= -p "$learner" | tr -d ' ')
mine() {
  ps -e -o pid=,ppid=,sid=,comm= | awk -v me="$learner" -v sid="$session" -v name="$1" '
    { ppid[$1] = $2; sid_of[$1] = $3; comm[$1] = $4 }
    END {
      for (p in ppid) {
        if (name != "" && comm[p] != name) continue
        ok = (sid_of[p] == sid)
        for (q = p; !ok && q > 1; q = ppid[q]) ok = (q == me)
        if (ok) print p
      }
    }'
}
cgroup_value() {
  _cg_pid=$1; shift
  while IFS=: read -r _ _cg_ctrl _cg_path; do
    for _cg_f in "$@"; do
      for _cg_d in "/sys/fs/cgroup/$_cg_ctrl$_cg_path" "/sys/fs/cgroup$_cg_path"; do
        [ -f "$_cg_d/$_cg_f" ] && { cat "$_cg_d/$_cg_f"; return; }
      done
    done
  done < "/proc/$_cg_pid/cgroup"
}
"#;

/// Run each exercise's check: done, or not yet with the hint.
pub fn check(l: &Lesson) -> Result<i32> {
    if l.exercises.is_empty() {
        println!("Lesson {} has no exercises to check.", l.number);
        return Ok(0);
    }
    println!("{}", l.title);
    // The checks call glassbox too: find it where this one is, even when it is not on PATH.
    let path = match std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
    {
        Some(dir) => format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    let mut done = 0;
    for (i, e) in l.exercises.iter().enumerate() {
        let ok = e.check.as_deref().is_some_and(|c| {
            std::process::Command::new("sh")
                .args(["-c", &format!("{PRELUDE}{c}")])
                .env("PATH", &path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if ok {
            done += 1;
            println!("  ✓ exercise {}: {} — done", i + 1, e.title);
        } else {
            println!("  ✗ exercise {}: {} — not yet", i + 1, e.title);
            if let Some(h) = &e.hint {
                println!("      hint: {h}");
            }
        }
    }
    println!("{done} of {} done.", l.exercises.len());
    Ok(if done == l.exercises.len() { 0 } else { 1 })
}

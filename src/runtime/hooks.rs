//! The runtime spec's hooks and the state they read on stdin: run by the runtime
//! (lifecycle.rs) and by the container's init (init.rs) alike.

use super::bundle::Bundle;
use crate::error::{Error, Result};
use crate::sys::process::{Ended, Forked};
use crate::sys::Sys;
use std::os::fd::AsRawFd;

/// Run the hooks of one kind with the state on stdin; a failed prestart or createRuntime
/// hook fails the create, later ones are only reported (as the spec says).
pub(super) fn hooks(
    sys: &Sys,
    b: &Bundle,
    kind: &str,
    state: &serde_json::Value,
    fatal: bool,
) -> Result<()> {
    let Some(h) = b.spec.hooks().as_ref() else {
        return Ok(());
    };
    #[allow(deprecated)]
    let list = match kind {
        "prestart" => h.prestart(),
        "createRuntime" => h.create_runtime(),
        "createContainer" => h.create_container(),
        "startContainer" => h.start_container(),
        "poststart" => h.poststart(),
        _ => h.poststop(),
    };
    for hook in list.iter().flatten() {
        let path = hook.path();
        sys.narrator.note(&format!(
            "{kind} hook: run {} with the container's state on its stdin",
            path.display()
        ));
        let failed = match run_one(sys, hook, kind, state) {
            Ok(Ended::Exited(0)) => None,
            Ok(ended) => Some(Error::new(
                format!("the {kind} hook {} {}", path.display(), ended.describe()),
                "check the hook in config.json",
            )),
            // The child's own error (execve's errno in plain words), said of the hook.
            Err(e) => Some(Error {
                what: format!(
                    "the {kind} hook {} could not be run: {}",
                    path.display(),
                    e.what
                ),
                todo: "check the hook's path in config.json".into(),
                ..e
            }),
        };
        if let Some(e) = failed {
            if fatal {
                return Err(e);
            }
            sys.narrator.warn(&e.what);
        }
    }
    Ok(())
}

/// One hook as the runtime's other children are run: fork, the state on a pipe as its
/// stdin, execve with only the hook's environment; then wait for it.
fn run_one(
    sys: &Sys,
    hook: &oci_spec::runtime::Hook,
    kind: &str,
    state: &serde_json::Value,
) -> Result<Ended> {
    let path = hook.path();
    let mut argv = hook.args().clone().unwrap_or_default();
    if argv.is_empty() {
        argv.push(path.to_string_lossy().into_owned());
    }
    let env = hook.env().clone().unwrap_or_default();
    let (read, write) = sys.pipe("the hook reads the container's state on its stdin")?;
    let (forked, gate) = sys.fork_gated(0, &format!("a child for the {kind} hook"))?;
    let pid = match forked {
        Forked::Child => {
            drop(write);
            let e = match sys.dup2(read.as_raw_fd(), 0, "the state's pipe as the hook's stdin") {
                Ok(()) => match sys.exec_at(path, &argv, Some(&env), &format!("the {kind} hook")) {
                    Err(e) => e,
                    Ok(never) => match never {},
                },
                Err(e) => e,
            };
            sys.fail_to_parent(gate.as_ref(), &e)
        }
        Forked::Parent(pid) => pid,
    };
    drop(read);
    // The state is far smaller than a pipe's buffer: written whole before the hook runs.
    let mut w = std::fs::File::from(write);
    let _ = std::io::Write::write_all(&mut w, state.to_string().as_bytes());
    drop(w);
    let ended = sys.wait_releasing(pid, gate.as_ref(), &format!("wait for the {kind} hook"))?;
    match sys.child_failure(gate.as_ref()) {
        Some(e) => Err(e),
        None => Ok(ended),
    }
}

pub(super) fn state_json(id: &str, status: &str, pid: i32, b: &Bundle) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "id": id, "status": status, "pid": pid, "bundle": b.dir,
        "annotations": b.spec.annotations().clone().unwrap_or_default(),
    })
}

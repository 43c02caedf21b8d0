//! The runtime spec's hooks and the state they read on stdin: run by the runtime
//! (lifecycle.rs) and by the container's init (init.rs) alike.

use super::bundle::Bundle;
use crate::error::{Error, Result};
use crate::sys::Sys;

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
        let args = hook.args().clone().unwrap_or_default();
        let mut cmd = std::process::Command::new(path);
        if args.len() > 1 {
            cmd.args(&args[1..]);
        }
        if let Some(a0) = args.first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, a0);
        }
        cmd.env_clear();
        for kv in hook.env().iter().flatten() {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        let outcome = cmd
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = std::io::Write::write_all(&mut stdin, state.to_string().as_bytes());
                }
                child.wait()
            });
        let failed = match outcome {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!("ended with {s}")),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failed {
            let e = Error::new(
                format!("the {kind} hook {} failed: {why}", path.display()),
                "check the hook in config.json",
            );
            if fatal {
                return Err(e);
            }
            sys.narrator.warn(&e.what);
        }
    }
    Ok(())
}

pub(super) fn state_json(id: &str, status: &str, pid: i32, b: &Bundle) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "id": id, "status": status, "pid": pid, "bundle": b.dir,
        "annotations": b.spec.annotations().clone().unwrap_or_default(),
    })
}

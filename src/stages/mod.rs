//! The stages: each owns its concept end to end (plan, apply, undo, explain).

pub mod cgroupns;
pub mod cgroups;
pub mod enter;
pub mod examples;
pub mod export;
pub mod mounting;
pub mod mounts;
pub mod network;
pub mod ops;
pub mod root;
pub mod seccomp_tree;
pub mod security;
pub mod unshare;

use crate::error::Result;
use crate::sys::process::{forward_signals_to, Ended, Forked};
use crate::sys::Sys;

/// Run the rest of the command line in place of this process (the util-linux model).
pub fn exec_tail(sys: &Sys, command: &[String]) -> Result<i32> {
    sys.exec(
        command,
        "run the rest of the command line in place of glassbox",
    )?;
    Ok(0)
}

/// Fork, run `command` in the child, wait in the parent; returns how the child ended.
/// Signals to glassbox are passed on to the child, so glassbox stays to clean up.
pub fn fork_exec_wait(
    sys: &Sys,
    ns_flags: libc::c_int,
    command: &[String],
    why: &str,
) -> Result<Ended> {
    let (forked, gate) = sys.fork_gated(ns_flags, why)?;
    match forked {
        Forked::Child => {
            let err = match sys.exec(command, "the child becomes the command") {
                Err(e) => e,
                Ok(never) => match never {},
            };
            sys.fail_to_parent(gate.as_ref(), &err)
        }
        Forked::Parent(pid) => {
            forward_signals_to(pid);
            let ended = sys.wait_child(
                pid,
                gate.as_ref(),
                "wait for the command to end, then report and clean up",
            );
            ended
        }
    }
}

//! The op lists of the stages that plan ops, as `explain` shows them: above the stages
//! (it asks each for its plan), so the ops they are made of need not know the stages.

use super::ops::Op;
use std::path::Path;

/// The ops of stage `name` as `glassbox NAME` would plan them on a root filesystem at
/// ROOTFS with the defaults (Docker's, for security), for `explain`; None for a stage
/// that does not plan ops.
pub fn example(name: &str) -> Option<Vec<Op>> {
    let root = Path::new("ROOTFS");
    match name {
        "chroot" => Some(super::root::chroot_ops(root)),
        "pivot-root" => Some(super::root::pivot_ops(root)),
        "mount" | "mounts" => Some(super::mounts::Plan::example(root).ops()),
        "security" => {
            let last = super::security::last_cap().min(63);
            let all = (0..=last).fold(0u64, |a, n| a | (1u64 << n));
            let plan = super::security::SecurityPlan::docker_default();
            super::security::ops(&plan, None, all, last).ok()
        }
        _ => None,
    }
}

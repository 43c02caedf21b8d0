//! The security stage: what a container process may still do once it runs.
//!
//! The same steps, in the same order, as Docker's runtime: drop capabilities from the
//! bounding set, set the remaining capabilities (Docker's default 14, empty inheritable),
//! clear the ambient set, set no_new_privs, install a seccomp filter, and mark every
//! descriptor above stdio close-on-exec — each its own narrated call.

use crate::error::{Error, Result};
use crate::sys::security::{cap_name, cap_number};
use crate::sys::Sys;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use std::collections::BTreeMap;

/// Docker's default capability set (see capabilities(7) and Docker's docs).
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Syscalls the default filter refuses with EPERM: kernel keyring, kexec, module loading,
/// handle-based opens (the "shocker" escape), clocks, swap, reboot, BPF and perf, the
/// new mount API, and namespace changes from inside. In the spirit of Docker's profile,
/// as a short denylist a learner can read.
pub const DENIED_SYSCALLS: &[(&str, libc::c_long)] = &[
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("quotactl", libc::SYS_quotactl),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("kcmp", libc::SYS_kcmp),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("fsopen", libc::SYS_fsopen),
    ("fsmount", libc::SYS_fsmount),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
];

/// What the security stage will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPlan {
    /// Capabilities kept (a bit per capability number).
    pub caps: u64,
    pub no_new_privs: bool,
    pub seccomp: bool,
}

fn bit(name: &str) -> Result<u64> {
    cap_number(name).map(|n| 1u64 << n).ok_or_else(|| {
        Error::usage(
            format!("{name:?} is not a capability this glassbox knows"),
            "use a name from capabilities(7), such as NET_ADMIN or CAP_SYS_TIME, or ALL",
        )
    })
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    crate::host::read_trimmed("/proc/sys/kernel/cap_last_cap")
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

/// The capabilities this process holds (CapPrm): no plan can give more.
pub fn held_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapPrm:").map(|v| v.trim().to_string()))
        })
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0)
}

fn all_caps() -> u64 {
    let last = last_cap().min(63);
    (0..=last).fold(0, |acc, n| acc | (1u64 << n))
}

impl SecurityPlan {
    /// Docker's defaults: 14 capabilities, no_new_privs, the default seccomp filter.
    pub fn docker_default() -> Self {
        let caps = DOCKER_DEFAULT_CAPS
            .iter()
            .map(|c| bit(c).expect("a known capability"))
            .fold(0, |a, b| a | b);
        SecurityPlan {
            caps,
            no_new_privs: true,
            seccomp: true,
        }
    }

    /// `--privileged`: every capability, no filter (and said so).
    pub fn privileged() -> Self {
        SecurityPlan {
            caps: all_caps(),
            no_new_privs: false,
            seccomp: false,
        }
    }

    /// Apply `--cap-add` and `--cap-drop` as docker does: `--cap-drop ALL` empties the set
    /// first, then the adds, then the other drops.
    pub fn adjust(&mut self, add: &[String], drop: &[String]) -> Result<()> {
        if drop.iter().any(|d| d.eq_ignore_ascii_case("all")) {
            self.caps = 0;
        }
        for a in add {
            self.caps |= if a.eq_ignore_ascii_case("all") {
                all_caps()
            } else {
                bit(a)?
            };
        }
        for d in drop.iter().filter(|d| !d.eq_ignore_ascii_case("all")) {
            self.caps &= !bit(d)?;
        }
        Ok(())
    }

    /// The kept capabilities by name.
    pub fn cap_names(&self) -> Vec<String> {
        (0..64)
            .filter(|n| self.caps & (1u64 << n) != 0)
            .map(cap_name)
            .collect()
    }
}

/// The default seccomp filter as a BPF program: the denied calls answer EPERM.
pub fn default_filter() -> Result<BpfProgram> {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = DENIED_SYSCALLS
        .iter()
        .map(|(_, nr)| (*nr, vec![]))
        .collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        Error::new(
            format!(
                "no seccomp filter for the {} architecture",
                std::env::consts::ARCH
            ),
            "run with --security-opt seccomp=unconfined",
        )
    })?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| {
        Error::new(
            format!("cannot build the seccomp filter: {e}"),
            "run with --security-opt seccomp=unconfined",
        )
    })?;
    BpfProgram::try_from(filter).map_err(|e| {
        Error::new(
            format!("cannot compile the seccomp filter: {e}"),
            "run with --security-opt seccomp=unconfined",
        )
    })
}

impl SecurityPlan {
    /// The plan the docker-style options ask for; checked before anything is done.
    pub fn from_opts(o: &crate::cli::SecurityOpts) -> Result<Self> {
        let mut plan = if o.privileged {
            SecurityPlan::privileged()
        } else {
            SecurityPlan::docker_default()
        };
        plan.adjust(&o.cap_add, &o.cap_drop)?;
        for opt in &o.security_opt {
            match opt.replace(':', "=").as_str() {
                "seccomp=unconfined" => plan.seccomp = false,
                "no-new-privileges" | "no-new-privileges=true" => plan.no_new_privs = true,
                "no-new-privileges=false" => plan.no_new_privs = false,
                // Masked /proc and /sys paths belong to the mount stage, which reads it.
                "systempaths=unconfined" => {}
                other => {
                    return Err(Error::usage(
                        format!("the security option {other:?} is not one glassbox knows"),
                        "use seccomp=unconfined, no-new-privileges=true, no-new-privileges=false or systempaths=unconfined",
                    ))
                }
            }
        }
        Ok(plan)
    }
}

/// `glassbox security [--cap-add …] [--cap-drop …] -- CMD…`: apply, then exec CMD.
pub fn main(a: &crate::cli::SecurityArgs, sys: &Sys) -> Result<i32> {
    if a.opts
        .security_opt
        .iter()
        .any(|o| o.replace(':', "=") == "systempaths=unconfined")
    {
        return Err(Error::usage(
            "systempaths=unconfined is about mounts, not this stage",
            "use glassbox mount --unmasked (or glassbox run --security-opt systempaths=unconfined)",
        ));
    }
    let plan = SecurityPlan::from_opts(&a.opts)?;
    apply(sys, &plan)?;
    super::exec_tail(sys, &a.tail.command)
}

/// Apply the plan to this process, right before it execs the command.
pub fn apply(sys: &Sys, plan: &SecurityPlan) -> Result<()> {
    let n = sys.narrator;
    n.stage("security", "cut privileges down to what a container needs");
    let held = held_caps();
    if plan.caps & !held != 0 {
        let missing: Vec<String> = (0..64)
            .filter(|n| plan.caps & !held & (1u64 << n) != 0)
            .map(cap_name)
            .collect();
        n.warn(&format!(
            "glassbox itself does not hold {}, so the container cannot have it either",
            missing.join(", ")
        ));
    }
    let caps = plan.caps & held;
    let last = last_cap().min(63);
    for cap in 0..=last {
        if caps & (1u64 << cap) == 0 {
            sys.capbset_drop(cap, &format!("{} is not in the kept set: drop it from the bounding set so no execve can get it back", cap_name(cap)))?;
        }
    }
    sys.capset(
        caps,
        caps,
        0,
        "keep only the chosen capabilities; inheritable empty, so nothing passes on by inheritance",
    )?;
    sys.clear_ambient_caps("no capability survives execve through the ambient set")?;
    if plan.no_new_privs {
        sys.set_no_new_privs(
            "no setuid binary or file capability inside can raise privileges again",
        )?;
    }
    if plan.seccomp {
        let program: Vec<libc::sock_filter> = default_filter()?
            .iter()
            .map(|f| libc::sock_filter {
                code: f.code,
                jt: f.jt,
                jf: f.jf,
                k: f.k,
            })
            .collect();
        n.note(&format!(
            "the seccomp filter answers EPERM to {} syscalls: {}",
            DENIED_SYSCALLS.len(),
            DENIED_SYSCALLS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        sys.seccomp_filter(
            &program,
            "from here on the kernel checks every syscall against the filter",
        )?;
    } else {
        n.warn("no seccomp filter: every syscall the capabilities allow is open to the container");
    }
    sys.cloexec_from(
        3,
        "no descriptor but stdin, stdout and stderr crosses into the container",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_has_fourteen_capabilities() {
        let p = SecurityPlan::docker_default();
        assert_eq!(p.caps.count_ones(), 14);
        assert!(p.cap_names().contains(&"CAP_NET_BIND_SERVICE".to_string()));
        assert!(!p.cap_names().contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn cap_add_and_drop_as_docker_does() {
        let mut p = SecurityPlan::docker_default();
        p.adjust(&["NET_ADMIN".into()], &["chown".into(), "CAP_KILL".into()])
            .unwrap();
        let names = p.cap_names();
        assert!(names.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(
            !names.contains(&"CAP_CHOWN".to_string()) && !names.contains(&"CAP_KILL".to_string())
        );
        p.adjust(&[], &["ALL".into()]).unwrap();
        assert_eq!(p.caps, 0);
        p.adjust(&["SYS_TIME".into()], &["ALL".into()]).unwrap();
        assert_eq!(p.cap_names(), vec!["CAP_SYS_TIME"]);
        assert!(p.adjust(&["NOT_A_CAP".into()], &[]).is_err());
    }

    #[test]
    fn the_default_filter_compiles() {
        assert!(default_filter().unwrap().len() > DENIED_SYSCALLS.len());
    }
}

//! The security stage: what a container process may still do once it runs.
//!
//! The same steps, in the same order, as Docker's runtime: drop capabilities from the
//! bounding set, change to the container's user keeping capabilities across the change
//! (PR_SET_KEEPCAPS), set the remaining capabilities (Docker's default 14, empty
//! inheritable), clear the ambient set, set no_new_privs, install a seccomp filter, and mark every
//! descriptor above stdio close-on-exec — each its own narrated call.

use super::ops::{self, Op};
use crate::error::{Error, Result};
use crate::sys::security::{cap_name, cap_number};
use crate::sys::Sys;

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
/// handle-based opens (the "shocker" escape), clocks, swap, reboot, BPF and perf, io_uring,
/// the new mount API, and namespace changes from inside. In the spirit of Docker's profile,
/// as a short denylist a learner can read. The third field is the capability that opens a
/// call again when the container keeps it, as in Docker's profile (`--cap-add SYS_ADMIN`
/// allows mount and unshare; `--cap-add SYS_TIME` allows settimeofday).
#[rustfmt::skip]
pub const DENIED_SYSCALLS: &[(&str, libc::c_long, Option<&str>)] = &[
    ("keyctl", libc::SYS_keyctl, None),
    ("add_key", libc::SYS_add_key, None),
    ("request_key", libc::SYS_request_key, None),
    ("kexec_load", libc::SYS_kexec_load, None),
    ("kexec_file_load", libc::SYS_kexec_file_load, None),
    ("open_by_handle_at", libc::SYS_open_by_handle_at, Some("CAP_DAC_READ_SEARCH")),
    ("name_to_handle_at", libc::SYS_name_to_handle_at, None),
    ("init_module", libc::SYS_init_module, Some("CAP_SYS_MODULE")),
    ("finit_module", libc::SYS_finit_module, Some("CAP_SYS_MODULE")),
    ("delete_module", libc::SYS_delete_module, Some("CAP_SYS_MODULE")),
    ("bpf", libc::SYS_bpf, Some("CAP_SYS_ADMIN")),
    ("perf_event_open", libc::SYS_perf_event_open, Some("CAP_SYS_ADMIN")),
    ("userfaultfd", libc::SYS_userfaultfd, None),
    ("reboot", libc::SYS_reboot, Some("CAP_SYS_BOOT")),
    ("swapon", libc::SYS_swapon, None),
    ("swapoff", libc::SYS_swapoff, None),
    ("acct", libc::SYS_acct, Some("CAP_SYS_PACCT")),
    ("settimeofday", libc::SYS_settimeofday, Some("CAP_SYS_TIME")),
    ("clock_settime", libc::SYS_clock_settime, Some("CAP_SYS_TIME")),
    ("clock_adjtime", libc::SYS_clock_adjtime, Some("CAP_SYS_TIME")),
    ("adjtimex", libc::SYS_adjtimex, Some("CAP_SYS_TIME")),
    ("iopl", libc::SYS_iopl, Some("CAP_SYS_RAWIO")),
    ("ioperm", libc::SYS_ioperm, Some("CAP_SYS_RAWIO")),
    ("quotactl", libc::SYS_quotactl, Some("CAP_SYS_ADMIN")),
    ("lookup_dcookie", libc::SYS_lookup_dcookie, Some("CAP_SYS_ADMIN")),
    ("kcmp", libc::SYS_kcmp, Some("CAP_SYS_PTRACE")),
    ("process_vm_readv", libc::SYS_process_vm_readv, Some("CAP_SYS_PTRACE")),
    ("process_vm_writev", libc::SYS_process_vm_writev, Some("CAP_SYS_PTRACE")),
    // io_uring does file and network I/O behind the filter's back (Docker since 2023).
    ("io_uring_setup", libc::SYS_io_uring_setup, None),
    ("io_uring_enter", libc::SYS_io_uring_enter, None),
    ("io_uring_register", libc::SYS_io_uring_register, None),
    ("fsopen", libc::SYS_fsopen, Some("CAP_SYS_ADMIN")),
    ("fsmount", libc::SYS_fsmount, Some("CAP_SYS_ADMIN")),
    ("move_mount", libc::SYS_move_mount, Some("CAP_SYS_ADMIN")),
    ("open_tree", libc::SYS_open_tree, Some("CAP_SYS_ADMIN")),
    ("mount_setattr", libc::SYS_mount_setattr, Some("CAP_SYS_ADMIN")),
    ("unshare", libc::SYS_unshare, Some("CAP_SYS_ADMIN")),
    ("setns", libc::SYS_setns, Some("CAP_SYS_ADMIN")),
    ("mount", libc::SYS_mount, Some("CAP_SYS_ADMIN")),
    ("umount2", libc::SYS_umount2, Some("CAP_SYS_ADMIN")),
    ("pivot_root", libc::SYS_pivot_root, None),
];

/// The namespace flags of clone(2) that the filter refuses without CAP_SYS_ADMIN: a user
/// namespace made inside would give its maker every capability over new namespaces.
pub const CLONE_NAMESPACE_FLAGS: &[(libc::c_int, &str)] = &[
    (libc::CLONE_NEWNS, "CLONE_NEWNS"),
    (libc::CLONE_NEWUTS, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC, "CLONE_NEWIPC"),
    (libc::CLONE_NEWUSER, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID, "CLONE_NEWPID"),
    (libc::CLONE_NEWNET, "CLONE_NEWNET"),
    (libc::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
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

/// The highest capability number this kernel knows: fixed while it runs, so read once
/// (and a child forked after the first read does not read it again).
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        crate::host::read_trimmed("/proc/sys/kernel/cap_last_cap")
            .and_then(|s| s.parse().ok())
            .unwrap_or(40)
    })
}

/// The capabilities this process holds (its permitted set): no plan can give more.
pub fn held_caps() -> u64 {
    crate::sys::quiet::permitted_caps().unwrap_or(0)
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

/// Whether `caps` holds the capability named `name`.
fn keeps(caps: u64, name: &str) -> bool {
    cap_number(name).is_some_and(|n| caps & (1u64 << n) != 0)
}

/// The entries of [`DENIED_SYSCALLS`] the filter refuses when the container keeps `caps`.
fn denied(
    caps: u64,
) -> impl Iterator<Item = &'static (&'static str, libc::c_long, Option<&'static str>)> {
    DENIED_SYSCALLS
        .iter()
        .filter(move |(_, _, unless)| !unless.is_some_and(|c| keeps(caps, c)))
}

/// The names of the syscalls the filter refuses when the container keeps `caps`.
pub fn denied_syscalls(caps: u64) -> Vec<&'static str> {
    denied(caps).map(|(name, _, _)| *name).collect()
}

/// The default seccomp filter as a BPF program (assembled in `seccomp_tree.rs`): the denied
/// calls answer EPERM, and so does clone(2) with a namespace flag unless CAP_SYS_ADMIN is kept
/// (as Docker's profile); then clone3(2) answers ENOSYS: its flags sit in a structure in
/// memory that a filter cannot read, and ENOSYS (not EPERM) makes the C library fall back to
/// clone(2), whose flags the filter checks. One filter: one seccomp(2) call, and one program
/// the kernel runs on every later syscall.
pub fn default_filter(caps: u64) -> Result<Vec<libc::sock_filter>> {
    let denied: Vec<i64> = denied(caps).map(|(_, nr, _)| *nr).collect();
    let clone_flags = match keeps(caps, "CAP_SYS_ADMIN") {
        true => 0,
        false => CLONE_NAMESPACE_FLAGS
            .iter()
            .fold(0u32, |all, (flag, _)| all | *flag as u32),
    };
    let rules = super::seccomp_tree::Rules {
        denied: &denied,
        clone_flags,
    };
    super::seccomp_tree::program(&rules).ok_or_else(|| {
        Error::new(
            format!(
                "no seccomp filter for the {} architecture",
                std::env::consts::ARCH
            ),
            "run with --security-opt seccomp=unconfined",
        )
    })
}

impl SecurityPlan {
    /// The plan the docker-style options ask for; checked before anything is done.
    pub fn from_opts(o: &SecuritySpec) -> Result<Self> {
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

/// The security flags as docker run spells them: --cap-add, --cap-drop, --privileged,
/// --security-opt.
#[derive(Debug, Clone, Default)]
pub struct SecuritySpec {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
}

impl SecuritySpec {
    /// `--security-opt systempaths=unconfined` (or `:`): /proc's and /sys's paths unmasked.
    pub fn systempaths_unconfined(&self) -> bool {
        self.security_opt
            .iter()
            .any(|o| o.replace(':', "=") == "systempaths=unconfined")
    }
}

/// `glassbox security [--cap-add …] [--cap-drop …] -- CMD…`: apply, then exec CMD.
pub fn main(opts: &SecuritySpec, command: &[String], sys: &Sys) -> Result<i32> {
    if opts.systempaths_unconfined() {
        return Err(Error::usage(
            "systempaths=unconfined is about mounts, not this stage",
            "use glassbox mount --unmasked (or glassbox run --security-opt systempaths=unconfined)",
        ));
    }
    let plan = SecurityPlan::from_opts(opts)?;
    apply(sys, &plan, None)?;
    super::exec_tail(sys, command)
}

/// Apply the plan to this process, right before it execs the command, and become `user`
/// (uid, gid) on the way.
pub fn apply(sys: &Sys, plan: &SecurityPlan, user: Option<(u32, u32)>) -> Result<()> {
    ops::execute(sys, &ops(plan, user, held_caps(), last_cap())?)
}

/// The operations of the security stage for a process holding `held` on a kernel whose
/// last capability is `last`. runc's order: the bounding set first (dropping from it needs
/// CAP_SETPCAP); then the ids, with the capabilities kept across the change, so a plan
/// without CAP_SETUID or CAP_SETGID can still change them; then the kept sets, the
/// ambient set, no_new_privs and the filter.
pub fn ops(plan: &SecurityPlan, user: Option<(u32, u32)>, held: u64, last: u32) -> Result<Vec<Op>> {
    let mut ops = vec![Op::Stage {
        name: "security",
        title: "cut privileges down to what a container needs",
    }];
    if plan.caps & !held != 0 {
        let missing: Vec<String> = (0..64)
            .filter(|n| plan.caps & !held & (1u64 << n) != 0)
            .map(cap_name)
            .collect();
        ops.push(Op::Warn(format!(
            "glassbox itself does not hold {}, so the container cannot have it either",
            missing.join(", ")
        )));
    }
    let caps = plan.caps & held;
    for cap in 0..=last.min(63) {
        if caps & (1u64 << cap) == 0 {
            ops.push(Op::CapbsetDrop { cap, why: format!("{} is not in the kept set: drop it from the bounding set so no execve can get it back", cap_name(cap)) });
        }
    }
    if plan.seccomp && !plan.no_new_privs {
        ops.push(Op::Note("without no_new_privs, installing a filter needs CAP_SYS_ADMIN: install it now, while glassbox still holds it (as runc does)".into()));
        filter_ops(&mut ops, caps)?;
    }
    if let Some((uid, gid)) = user {
        ops.push(Op::Note(format!("become uid {uid}, gid {gid} before the capabilities are cut, so dropping SETUID or SETGID cannot stop the change (runc's order)")));
        ops.push(Op::KeepCaps {
            on: true,
            why: "keep the permitted capabilities across the change of uid: the cut below decides what stays".into(),
        });
        ops.extend(user_ops(uid, gid));
        ops.push(Op::KeepCaps {
            on: false,
            why: "the ids are changed: back to the kernel's rule".into(),
        });
    }
    ops.push(Op::Capset {
        caps,
        why: "keep only the chosen capabilities; inheritable empty, so nothing passes on by inheritance".into(),
    });
    ops.push(Op::ClearAmbientCaps {
        why: "no capability survives execve through the ambient set".into(),
    });
    if plan.no_new_privs {
        ops.push(Op::NoNewPrivs {
            why: "no setuid binary or file capability inside can raise privileges again".into(),
        });
        if plan.seccomp {
            filter_ops(&mut ops, caps)?;
        }
    }
    if !plan.seccomp {
        ops.push(Op::Warn(
            "no seccomp filter: every syscall the capabilities allow is open to the container"
                .into(),
        ));
    }
    ops.push(Op::CloexecFrom {
        first: 3,
        why: "no descriptor but stdin, stdout and stderr crosses into the container".into(),
    });
    Ok(ops)
}

/// Become the container's user: groups, then gid, then uid (once the uid is not 0, the
/// capabilities to change the others are gone).
pub fn become_user(sys: &Sys, uid: u32, gid: u32) -> Result<()> {
    ops::execute(sys, &user_ops(uid, gid))
}

pub fn user_ops(uid: u32, gid: u32) -> [Op; 3] {
    [
        Op::SetGroups {
            why: "no supplementary groups from the host".into(),
        },
        Op::SetResGid {
            gid,
            why: "the group the container runs as".into(),
        },
        Op::SetResUid {
            uid,
            why: "the user the container runs as: at execve a non-zero uid keeps no capability"
                .into(),
        },
    ]
}

/// The default filter, as one program: clone and clone3 are checked in it unless
/// CAP_SYS_ADMIN is kept.
fn filter_ops(ops: &mut Vec<Op>, caps: u64) -> Result<()> {
    let denied = denied_syscalls(caps);
    let sys_admin = keeps(caps, "CAP_SYS_ADMIN");
    ops.push(Op::Note(format!(
        "the seccomp filter answers EPERM to {} syscalls: {}{}; and to every syscall number from 0x40000000 up (x86's x32 ABI), while a syscall of another architecture kills the process",
        denied.len(),
        denied.join(", "),
        if sys_admin {
            ""
        } else {
            "; and to clone with a namespace flag (CLONE_NEWUSER, CLONE_NEWNET, ...)"
        }
    )));
    let program = default_filter(caps)?;
    let why = if sys_admin {
        "from here on the kernel checks every syscall against the filter"
    } else {
        "from here on the kernel checks every syscall against the filter; clone3 answers ENOSYS: its flags are out of a filter's reach, and ENOSYS makes the C library fall back to clone, whose flags the filter checks"
    };
    ops.push(Op::Seccomp {
        name: "default filter",
        program,
        why: why.into(),
    });
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
    fn the_default_filter_answers_each_syscall_as_the_list_says() {
        use crate::stages::seccomp_tree::tests::{run, ARCH_HERE};
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        for caps in [SecurityPlan::docker_default().caps, u64::MAX] {
            let p = default_filter(caps).unwrap();
            let denied = denied_syscalls(caps);
            let checks_clone = !keeps(caps, "CAP_SYS_ADMIN");
            for nr in 0..512i64 {
                let name = DENIED_SYSCALLS.iter().find(|d| d.1 == nr).map(|d| d.0);
                let want = if name.is_some_and(|n| denied.contains(&n)) {
                    eperm
                } else if nr == libc::SYS_clone3 && checks_clone {
                    libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
                } else {
                    libc::SECCOMP_RET_ALLOW
                };
                assert_eq!(run(&p, ARCH_HERE, nr as u32, 0), want, "{nr} {name:?}");
            }
            for (flag, name) in CLONE_NAMESPACE_FLAGS {
                let answer = run(&p, ARCH_HERE, libc::SYS_clone as u32, *flag as u64 | 17);
                let want = if checks_clone {
                    eperm
                } else {
                    libc::SECCOMP_RET_ALLOW
                };
                assert_eq!(answer, want, "clone({name})");
            }
        }
    }

    #[test]
    fn the_filters_compile_and_sys_admin_opens_the_namespace_calls() {
        let docker = SecurityPlan::docker_default().caps;
        assert!(default_filter(docker).unwrap().len() > DENIED_SYSCALLS.len());
        let denied = denied_syscalls(docker);
        assert!(denied.contains(&"unshare") && denied.contains(&"io_uring_setup"));
        let mut admin = SecurityPlan::docker_default();
        admin.adjust(&["SYS_ADMIN".into()], &[]).unwrap();
        let denied = denied_syscalls(admin.caps);
        assert!(!denied.contains(&"unshare") && !denied.contains(&"mount"));
        assert!(denied.contains(&"keyctl") && denied.contains(&"io_uring_setup"));
    }

    /// The calls of the security stage with their prctl options, with runs of one step
    /// (the bounding-set drops) shown once.
    fn steps(recorder: &crate::sys::Recorder) -> Vec<String> {
        let mut steps: Vec<String> = Vec::new();
        for c in recorder.calls() {
            let step = match c.name.as_str() {
                "prctl" => format!("prctl {}", c.args[0]),
                other => other.to_string(),
            };
            if steps.last() != Some(&step) {
                steps.push(step);
            }
        }
        steps
    }

    #[test]
    fn the_ids_change_before_the_cut_and_the_filter_comes_after_no_new_privs() {
        let narrator = crate::narrate::Narrator::silent();
        let recorder = crate::sys::Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        apply(&sys, &SecurityPlan::docker_default(), Some((1000, 1000))).unwrap();
        assert_eq!(
            steps(&recorder),
            [
                "prctl PR_CAPBSET_DROP",
                "prctl PR_SET_KEEPCAPS",
                "setgroups",
                "setresgid",
                "setresuid",
                "prctl PR_SET_KEEPCAPS",
                "capset",
                "prctl PR_CAP_AMBIENT",
                "prctl PR_SET_NO_NEW_PRIVS",
                "seccomp",
                "close_range",
            ]
        );
    }

    #[test]
    fn without_a_user_no_id_changes_and_privileged_installs_no_filter() {
        let narrator = crate::narrate::Narrator::silent();
        let recorder = crate::sys::Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        apply(&sys, &SecurityPlan::privileged(), None).unwrap();
        let steps = steps(&recorder);
        for absent in ["setresuid", "seccomp", "prctl PR_SET_KEEPCAPS"] {
            assert!(!steps.iter().any(|s| s == absent), "{absent} in {steps:?}");
        }
        assert_eq!(steps.last().map(String::as_str), Some("close_range"));
    }
}

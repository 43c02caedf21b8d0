//! An engine's seccomp profile (linux.seccomp) compiled to BPF. seccompiler gives a filter
//! one action for every rule, so the profile becomes stacked filters: one with the rules of
//! the default's opposite, one per other action. The kernel runs every filter and keeps the
//! strictest answer, which is the profile's answer for a syscall matched once.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> SeccompAction {
    match a {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActKillThread | LinuxSeccompAction::ScmpActKill => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        // Notify and trace need a listener glassbox does not run: refuse the call instead.
        _ => SeccompAction::Errno(libc::ENOSYS as u32),
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::new(
        format!("cannot compile the seccomp profile in config.json: {e}"),
        "check linux.seccomp, or run without it",
    )
}

fn number(name: &str) -> Option<i64> {
    super::syscalls::X86_64
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr)
}

/// The profile as filters to install in order.
pub fn compile(s: &LinuxSeccomp) -> Result<Vec<Vec<libc::sock_filter>>> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(bad("glassbox knows syscall numbers for x86_64 only"));
    }
    let default = action(s.default_action(), s.default_errno_ret());
    // Rules grouped by their action; the ones that answer as the default need no filter.
    // Per action: each syscall's conditions (None: matched whatever its arguments).
    type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;
    let mut groups: Vec<(SeccompAction, Rules)> = Vec::new();
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        let mut conds = Vec::new();
        for a in rule.args().iter().flatten() {
            let op = match a.op() {
                LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
                LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
                LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
                LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
                LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
                LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
                LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
            };
            let value = match a.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
                _ => a.value(),
            };
            conds.push(
                SeccompCondition::new(a.index() as u8, SeccompCmpArgLen::Qword, op, value)
                    .map_err(bad)?,
            );
        }
        let i = match groups.iter().position(|(a, _)| *a == act) {
            Some(i) => i,
            None => {
                groups.push((act.clone(), BTreeMap::new()));
                groups.len() - 1
            }
        };
        // Names this table lacks (other architectures' calls) are skipped, as libseccomp does.
        for nr in rule.names().iter().filter_map(|n| number(n)) {
            let entry = groups[i].1.entry(nr).or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), conds.is_empty()) {
                (_, true) => *entry = None,
                (Some(list), false) => list.push(SeccompRule::new(conds.clone()).map_err(bad)?),
                (None, false) => {}
            }
        }
    }
    let has_allow = groups.iter().any(|(a, _)| *a == SeccompAction::Allow);
    let mut out = Vec::new();
    for (act, rules) in groups {
        // seccompiler's form: an empty rule list matches every call of that number.
        let rules: BTreeMap<i64, Vec<SeccompRule>> = rules
            .into_iter()
            .map(|(nr, r)| (nr, r.unwrap_or_default()))
            .collect();
        // Allow rules sit against the default; every other action against "allow".
        let mismatch = if act == SeccompAction::Allow {
            default.clone()
        } else {
            SeccompAction::Allow
        };
        let f = SeccompFilter::new(rules, mismatch, act, TargetArch::x86_64).map_err(bad)?;
        out.push(program(f)?);
    }
    if default != SeccompAction::Allow && !has_allow {
        out.push(all(default)?);
    }
    Ok(out)
}

/// A filter that answers every call with `act`.
fn all(act: SeccompAction) -> Result<Vec<libc::sock_filter>> {
    let f = SeccompFilter::new(
        BTreeMap::new(),
        act,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(bad)?;
    program(f)
}

/// A filter compiled, as the kernel's sock_filter array.
fn program(f: SeccompFilter) -> Result<Vec<libc::sock_filter>> {
    let compiled = BpfProgram::try_from(f).map_err(bad)?;
    Ok(compiled
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect())
}

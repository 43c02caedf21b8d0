//! `glassbox explain`: an entry printed without running anything, the list, and a wrong name.

mod common;
use common::*;

#[test]
fn explain_execve_prints_its_catalog_entry() {
    let o = glassbox().args(["explain", "execve"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("execve (syscall)  [execve(2)]\n"), "{out}");
    assert!(
        out.contains("Replace this process's program with another"),
        "{out}"
    );
    assert!(out.contains("By hand: exec cmd"), "{out}");
    assert!(out.contains("See also: fork, clone"), "{out}");
    assert!(!out.contains('\x1b'), "colour on a pipe: {out:?}");
    assert_eq!(
        stderr(&o),
        "",
        "explain runs nothing, so it narrates nothing"
    );
}

#[test]
fn explain_finds_an_entry_by_its_alias_and_ignores_case() {
    let o = glassbox().args(["explain", "waitpid"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("wait4 (syscall)"), "{}", stdout(&o));
    let o = glassbox()
        .args(["explain", "pr_set_no_new_privs"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).starts_with("PR_SET_NO_NEW_PRIVS (flag)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_list_lists_every_kind_and_each_listed_name_explains() {
    let o = glassbox().args(["explain", "--list"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for heading in ["syscalls:", "flags:", "files:"] {
        assert!(out.lines().any(|l| l == heading), "no {heading} in {out}");
    }
    let names: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for expected in [
        "execve",
        "clone",
        "PR_SET_NO_NEW_PRIVS",
        "/proc/self/uid_map",
        "openat",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not listed: {names:?}"
        );
    }
    for name in names {
        let o = glassbox().args(["explain", name]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "explain {name}: {}", stderr(&o));
        assert!(
            stdout(&o).lines().any(|l| l.starts_with(name)),
            "explain {name} does not print it: {}",
            stdout(&o)
        );
    }
}

#[test]
fn explain_an_unknown_name_exits_125_with_a_suggestion() {
    let o = glassbox().args(["explain", "execv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains("glassbox: error: nothing in the catalog is called \"execv\""),
        "{err}"
    );
    assert!(err.contains("did you mean execve?"), "{err}");
    assert_eq!(stdout(&o), "");

    let o = glassbox().args(["explain", "qqqq"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("`glassbox explain --list`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_closed_pipe_ends_glassbox_quietly() {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} explain --list | head -1", bin().display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn commands_start_with_the_default_sigpipe() {
    // SigIgn in /proc/self/status: bit 13 (SIGPIPE) must not be set for the exec'd command.
    let o = glassbox()
        .args(["-q", "--dry-run", "unshare", "--uts", "--", "true"])
        .output()
        .unwrap();
    assert!(o.status.success());
    if root_or_skip("commands_start_with_the_default_sigpipe") {
        let o = glassbox()
            .args([
                "-q",
                "unshare",
                "--uts",
                "--",
                "grep",
                "SigIgn",
                "/proc/self/status",
            ])
            .output()
            .unwrap();
        let mask = u64::from_str_radix(stdout(&o).split_whitespace().last().unwrap(), 16).unwrap();
        assert_eq!(
            mask & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE is ignored in the command"
        );
    }
}

#[test]
fn explain_a_stage_lists_its_plan_op_by_op() {
    let o = glassbox().args(["explain", "pivot-root"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let plan = out
        .split_once("The plan of glassbox pivot-root (on a root filesystem at ROOTFS, op by op):\n")
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no plan in {out}"));
    let ops: Vec<&str> = plan.lines().map(str::trim).take(5).collect();
    assert_eq!(
        ops,
        [
            "mount(\"ROOTFS\", \"ROOTFS\", NULL, MS_BIND|MS_REC, NULL)",
            "chdir(\"ROOTFS\")",
            "pivot_root(\".\", \".\")",
            "umount2(\".\", MNT_DETACH)",
            "chdir(\"/\")",
        ]
    );
    // The filter is installed after no_new_privs, as the stage does it.
    let o = glassbox().args(["explain", "security"]).output().unwrap();
    let out = stdout(&o);
    let at = |line: &str| {
        out.find(line)
            .unwrap_or_else(|| panic!("no {line} in {out}"))
    };
    assert!(
        at("  prctl(PR_SET_NO_NEW_PRIVS, 1)\n")
            < at("  seccomp(SECCOMP_SET_MODE_FILTER, 0, default filter)\n")
    );
}

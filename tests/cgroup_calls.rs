//! What the cgroup stage of `glassbox run` asks of the kernel, call by call (strace): the
//! host's layout is read once, before the stage, so nothing is probed that the layout
//! already says; a rule file takes all its rules through one open; and the teardown reads
//! each cgroup's cgroup.procs once and removes the shared parent by rmdir alone.

mod common;
use common::containers::Env;
use common::strace::Syscall;
use common::*;

/// The path a call names: a quoted absolute path, or strace -y's `<path>` of its fd.
fn path_of(c: &Syscall) -> String {
    let quoted = c.args.iter().find(|a| a.starts_with("\"/"));
    match quoted {
        Some(a) => a.trim_matches('"').to_string(),
        None => c.args.first().map_or(String::new(), |a| {
            a.split_once('<')
                .map_or("", |(_, p)| p.trim_end_matches('>'))
                .to_string()
        }),
    }
}

/// glassbox's calls on cgroup files (not the container's: it runs busybox).
fn cgroup_calls(t: &strace::Traced) -> Vec<(String, String, String)> {
    t.calls
        .iter()
        .filter(|c| c.by_glassbox)
        .map(|c| (c.name.clone(), path_of(c), c.args.join(", ")))
        .filter(|(_, p, _)| p.starts_with("/sys/fs/cgroup/"))
        .collect()
}

#[test]
fn a_runs_cgroup_stage_makes_no_needless_call() {
    let test = "a_runs_cgroup_stage_makes_no_needless_call";
    if !root_or_skip(test) || !tool_or_skip(test, "strace") {
        return;
    }
    let env = Env::new();
    let state = env.state.path().to_path_buf();
    let t = strace::run_with(&["run", "--rm", "busybox", "true"], |c| {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GLASSBOX_") && key != "GLASSBOX_TRACE" {
                c.env_remove(key);
            }
        }
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    let calls = cgroup_calls(&t);
    let shown = || {
        calls
            .iter()
            .map(|(n, _, a)| format!("{n}({a})"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let host = glassbox::host::cgroups::CgroupHost::current();
    let cpuset = host.place("cpuset").filter(|p| p.version == 1);
    // cpuset's files only in the cpuset hierarchy: elsewhere they cannot exist.
    for (_, p, _) in &calls {
        if p.contains("/cpuset.") {
            let mount = cpuset.as_ref().map(|c| c.mount.clone());
            assert!(
                mount.is_some_and(|m| std::path::Path::new(p).starts_with(m)),
                "{p} probed outside the cpuset hierarchy:\n{}",
                shown()
            );
        }
    }
    let count = |name: &str, end: &str| {
        calls
            .iter()
            .filter(|(n, p, _)| n == name && p.ends_with(end))
            .count()
    };
    if host.place("devices").is_some_and(|p| p.version == 1) {
        assert_eq!(
            count("openat", "/devices.allow"),
            1,
            "devices.allow opened once for all its rules:\n{}",
            shown()
        );
        assert_eq!(count("write", "/devices.allow"), 11, "{}", shown());
    }
    // The teardown: each cgroup empty (its init was waited for) goes with one rmdir, with no
    // read of its processes first, no probing for cgroup.kill or freezer.state when nothing
    // is left to kill, and no listing of the shared parent.
    let made: Vec<&String> = calls
        .iter()
        .filter(|(n, p, _)| n == "mkdir" && !p.ends_with("/glassbox"))
        .map(|(_, p, _)| p)
        .collect();
    assert!(!made.is_empty(), "{}", shown());
    for cgroup in &made {
        let removed = calls
            .iter()
            .filter(|(n, p, _)| n == "rmdir" && p == *cgroup)
            .count();
        assert_eq!(removed, 1, "{cgroup} removed by one rmdir:\n{}", shown());
    }
    assert_eq!(
        count("openat", "/cgroup.procs"),
        0,
        "cgroup.procs read before an rmdir that needs no kill:\n{}",
        shown()
    );
    for (n, p, _) in &calls {
        assert!(
            !(p.ends_with("/cgroup.kill") || p.ends_with("/freezer.state")),
            "{n} of {p}, with nothing left to kill:\n{}",
            shown()
        );
        assert!(
            !(n.starts_with("getdents") && p.ends_with("/glassbox")),
            "the shared parent listed before its rmdir:\n{}",
            shown()
        );
    }
    env.assert_clean();
}

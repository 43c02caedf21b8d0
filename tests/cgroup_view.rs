//! What a container sees of its cgroups, as under Docker: a cgroup namespace whose roots are
//! its own cgroups (/proc/self/cgroup reads `0::/`, and `/` on every v1 line), and those
//! cgroups mounted read-only at /sys/fs/cgroup.

mod common;
use common::containers::Env;
use common::*;

/// The container's view: its /proc/self/cgroup, then `--` and what /sys/fs/cgroup holds,
/// then `--` and what two writes there said.
const LOOK: &str = "cat /proc/self/cgroup; echo --; ls /sys/fs/cgroup; echo --; \
    mkdir /sys/fs/cgroup/new 2>&1; for d in /sys/fs/cgroup/*/; do [ -d $d ] && mkdir ${d}new 2>&1; done; \
    [ -f /sys/fs/cgroup/cgroup.procs ] && mkdir /sys/fs/cgroup/new2 2>&1; true";

fn sections(out: &str) -> Vec<Vec<&str>> {
    out.split("--\n").map(|s| s.lines().collect()).collect()
}

#[test]
fn a_default_run_sees_only_its_own_cgroup_read_only() {
    if !root_or_skip("a_default_run_sees_only_its_own_cgroup_read_only") {
        return;
    }
    // Searchable: the mapped root of --userns private looks up the container's files.
    let env = Env::searchable();
    let cases: [&[&str]; 3] = [
        &[],
        &["--memory", "32m", "--pids-limit", "20"],
        &["--userns", "private", "--memory", "32m"],
    ];
    for limits in cases {
        let mut args = vec!["run", "--rm"];
        args.extend(limits);
        args.extend(["busybox", "sh", "-c", LOOK]);
        let out = env.ok(&args);
        let s = sections(&out);
        assert_eq!(s.len(), 3, "{out}");
        // Each hierarchy's line names the root: its own cgroup is the namespace's root.
        assert!(s[0].contains(&"0::/"), "{limits:?}: {out}");
        assert!(
            s[0].iter().all(|l| l.ends_with(":/")),
            "{limits:?}: a host path is visible: {out}"
        );
        assert!(!s[1].is_empty(), "{limits:?}: /sys/fs/cgroup is empty");
        // Every write is refused by the mount, not by a permission: root inside would pass those.
        assert!(!s[2].is_empty(), "{limits:?}: nothing tried: {out}");
        assert!(
            s[2].iter().all(|l| l.ends_with("Read-only file system")),
            "{limits:?}: a write to /sys/fs/cgroup was not refused as read-only: {out}"
        );
    }
    // With a limit, the container reads its own limit where any Linux program looks for it.
    let out = env.ok(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; true",
    ]);
    assert_eq!(out.trim(), "33554432", "{out}");
    env.assert_clean();
}

#[test]
fn the_cgroup_view_is_narrated_and_skip_cgroup_says_what_it_leaves_out() {
    if !root_or_skip("the_cgroup_view_is_narrated_and_skip_cgroup_says_what_it_leaves_out")
        || !tool_or_skip("the_cgroup_view_is_narrated", "strace")
    {
        return;
    }
    let env = Env::new();
    // Under strace: every narrated unshare and mount was made as shown, and none unshown.
    let t = strace::run_with(&["run", "--rm", "busybox", "true"], |c| {
        c.env("GLASSBOX_STATE_DIR", env.state.path());
    });
    let err = stderr(&t.output);
    assert!(t.output.status.success(), "{err}");
    t.assert_honest();
    assert!(err.contains("  unshare(CLONE_NEWCGROUP) = 0"), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("  mount(\"cgroup\", \"")
            && l.contains("/sys/fs/cgroup")
            && l.contains("MS_RDONLY")
            && l.ends_with(") = 0")),
        "{err}"
    );
    // The first mount on /sys/fs/cgroup (a tmpfs, or on pure v2 the cgroup2 tree) goes
    // through the descriptor its check opened, as a volume's does.
    assert!(
        err.lines().any(|l| l.starts_with("  mount(")
            && l.contains(", \"/proc/self/fd/")
            && (l.contains("\"mode=755\")") || l.contains("\"cgroup2\""))),
        "{err}"
    );
    let o = env
        .cmd()
        .args([
            "run",
            "--rm",
            "--skip",
            "cgroup",
            "busybox",
            "ls",
            "/sys/fs/cgroup",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("--skip cgroup: no cgroup of its own and no cgroup namespace"),
        "{err}"
    );
    assert!(!err.contains("CLONE_NEWCGROUP"), "{err}");
    assert_eq!(stdout(&o), "", "/sys/fs/cgroup is not empty");
    env.assert_clean();
}

/// Every run has a cgroup under the shared `glassbox` parent, so a killed container's `rm`
/// often finds the parent it made holding another run's cgroup: it leaves the parent to
/// that run (and to a later cleanup) instead of failing.
#[test]
fn rm_of_a_killed_container_leaves_the_shared_parent_to_the_runs_in_it() {
    if !root_or_skip("rm_of_a_killed_container_leaves_the_shared_parent_to_the_runs_in_it") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "60"]);
    let id = env.containers().pop().unwrap();
    let supervisor = env.state_json(&id)["supervisor"]["pid"].as_i64().unwrap();
    // Another run's cgroup in the same parent, for as long as this test needs it.
    let parents: Vec<_> = ["/sys/fs/cgroup/unified/glassbox", "/sys/fs/cgroup/glassbox"]
        .iter()
        .map(std::path::Path::new)
        .filter(|p| p.is_dir())
        .collect();
    let other = parents
        .first()
        .expect("the run made a v2 cgroup")
        .join(format!("other-run-{}", std::process::id()));
    std::fs::create_dir(&other).unwrap();
    unsafe { libc::kill(supervisor as i32, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = env.gb(&["rm", "-f", "first"]);
    let _ = std::fs::remove_dir(&other);
    // As that run would on its way out, the last one: rm left the parent to it.
    let _ = std::fs::remove_dir(parents[0]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.containers().is_empty());
    let o = env.gb(&["cleanup"]);
    assert!(o.status.success(), "{}", stderr(&o));
    env.assert_clean();
}

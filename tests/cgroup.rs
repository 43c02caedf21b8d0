//! The cgroup stage on the real kernel (this VM is hybrid: memory, cpu and pids on cgroup v1,
//! an empty v2 tree at /sys/fs/cgroup/unified). Every test uses its own cgroup name and a
//! guard that removes whatever a failing run might leave, and asserts that glassbox itself
//! left nothing.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hierarchies a glassbox cgroup can appear in on this host (freezer: for the pure-v1
/// test, which uses it to kill).
fn hierarchies() -> Vec<PathBuf> {
    let host = glassbox::host::cgroups::CgroupHost::current();
    let mut v: Vec<PathBuf> = ["memory", "cpu", "pids", "freezer"]
        .iter()
        .filter_map(|c| host.place(c).map(|p| p.mount))
        .collect();
    v.extend(host.v2_mount);
    v.dedup();
    v
}

/// A unique cgroup name for a test, and a guard that removes it (and the glassbox parent,
/// if empty) whatever happens, killing what is left inside first.
struct Name {
    name: String,
    state: tempfile::TempDir,
}

impl Name {
    fn new(test: &str) -> Name {
        Name {
            name: format!("gbt-{test}-{}", std::process::id()),
            state: tempfile::tempdir().unwrap(),
        }
    }
    fn dirs(&self) -> Vec<PathBuf> {
        hierarchies()
            .into_iter()
            .map(|h| h.join("glassbox").join(&self.name))
            .collect()
    }
    /// The directories of this test's cgroup that exist now.
    fn left(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| d.exists()).collect()
    }
    fn cmd(&self) -> Command {
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", self.state.path());
        c
    }
    fn journal_entries(&self) -> usize {
        std::fs::read_dir(self.state.path().join("journal"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        for d in self.left() {
            let kill = d.join("cgroup.kill");
            if kill.exists() {
                let _ = std::fs::write(&kill, "1");
            }
            for _ in 0..200 {
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                if procs.trim().is_empty() {
                    break;
                }
                for p in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = std::fs::remove_dir(&d);
            if let Some(parent) = d.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// The percentage in the report's `(NN% of one CPU)`.
fn cpu_percent(report: &str) -> f64 {
    let i = report
        .find("% of one CPU")
        .expect("the report shows CPU use");
    let start = report[..i].rfind('(').unwrap() + 1;
    report[start..i].parse().unwrap()
}

/// Wait (up to a generous bound, not a timing assertion) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    if !root_or_skip("fork_bomb_stops_at_the_pids_limit") || !tool_or_skip("pids", "strace") {
        return;
    }
    let n = Name::new("pids");
    let state = n.state.path().to_path_buf();
    // Forks until fork fails: the shell then gives up (exit 2) and the sleeps it left
    // behind are killed by glassbox.
    let t = strace::run_with(
        &[
            "cgroup",
            "--name",
            &n.name,
            "--pids",
            "20",
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; wait",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        },
    );
    let err = stderr(&t.output);
    assert!(err.contains("Cannot fork") || err.contains("fork"), "{err}");
    assert_eq!(t.output.status.code(), Some(2), "{err}");
    assert!(err.contains("the pids limit of 20 was hit"), "{err}");
    assert!(
        err.contains("pids.max>, \"20\", 2) = 2"),
        "the limit write is narrated: {err}"
    );
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
    assert_eq!(n.journal_entries(), 0, "the journal still lists something");
    t.assert_honest();
    // The host can still fork.
    assert!(Command::new("true").status().unwrap().success());
}

/// A real fork bomb: every process forks two more and exits. Under --pids 20 the forks
/// fail at the limit and the bomb dies out; the memory and CPU limits are a second fence
/// for the shared machine should the pids limit ever not hold.
#[test]
fn real_fork_bomb_is_stopped_and_the_host_is_fine() {
    if !root_or_skip("real_fork_bomb_is_stopped_and_the_host_is_fine") {
        return;
    }
    let n = Name::new("bomb");
    let o = n
        .cmd()
        .args([
            "cgroup", "--name", &n.name, "--pids", "20", "--memory", "64m",
        ])
        .args([
            "--cpus",
            "0.5",
            "--",
            "sh",
            "-c",
            "b() { b & b & }; b; until sleep 1; do :; done; exit 0",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.contains("Cannot fork"), "fork failed inside: {err}");
    assert!(err.contains("the pids limit of 20 was hit"), "{err}");
    // The outer shell ends by itself: 0 once a sleep could fork again, or 2 when its own
    // fork of the bomb failed first (which of the two depends on how busy the machine is).
    assert!(matches!(o.status.code(), Some(0) | Some(2)), "{err}");
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
    assert!(Command::new("true").status().unwrap().success());
}

#[test]
fn memory_hog_is_oom_killed_and_exits_137() {
    if !root_or_skip("memory_hog_is_oom_killed_and_exits_137") {
        return;
    }
    let n = Name::new("oom");
    // dd fills a 256 MiB buffer: past 32 MiB the OOM killer ends it.
    let o = n
        .cmd()
        .args(["cgroup", "--name", &n.name, "--memory", "32M", "--"])
        .args(["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(137), "{err}");
    assert!(err.contains("killed by the OOM killer"), "{err}");
    assert!(err.contains("the 32.0 MiB limit"), "{err}");
    assert!(
        err.contains("memory.limit_in_bytes>, \"33554432\", 8) = 8")
            || err.contains("memory.max>, \"33554432\", 8) = 8"),
        "{err}"
    );
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
}

#[test]
fn busy_loop_gets_about_its_cpu_quota_and_is_throttled() {
    if !root_or_skip("busy_loop_gets_about_its_cpu_quota_and_is_throttled") {
        return;
    }
    let n = Name::new("cpu");
    let o = n
        .cmd()
        .args(["cgroup", "--name", &n.name, "--cpus", "0.2", "--"])
        .args(["timeout", "2", "sh", "-c", "while :; do :; done"])
        .output()
        .unwrap();
    let err = stderr(&o);
    // timeout(1) ends the loop after 2 s and exits 124.
    assert_eq!(o.status.code(), Some(124), "{err}");
    assert!(
        err.contains("cpu.cfs_quota_us>, \"20000\", 5) = 5")
            || err.contains("cpu.max>, \"20000 100000\""),
        "{err}"
    );
    // A measured share of one CPU, with a generous band (the quota is 20%).
    let pct = cpu_percent(&err);
    assert!((10.0..=35.0).contains(&pct), "{pct}% of one CPU: {err}");
    assert!(err.contains("cpu: throttled in"), "{err}");
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
}

#[test]
fn limits_and_moves_are_narrated_honestly() {
    if !root_or_skip("limits_and_moves_are_narrated_honestly") || !tool_or_skip("honest", "strace")
    {
        return;
    }
    let n = Name::new("honest");
    let state = n.state.path().to_path_buf();
    let t = strace::run_with(
        &[
            "cgroup",
            "--name",
            &n.name,
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids",
            "50",
            "--",
            "sh",
            "-c",
            "sleep 30 & cat /proc/self/cgroup",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        },
    );
    let out = stdout(&t.output);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    // The command ran inside every cgroup.
    for ctrl in ["memory", "cpu", "pids"] {
        assert!(
            out.contains(&format!(":{ctrl}:/glassbox/{}", n.name)),
            "{ctrl} missing from {out}"
        );
    }
    assert!(out.contains(&format!("0::/glassbox/{}", n.name)), "{out}");
    let names = t.narrated_names();
    assert!(
        names.iter().filter(|n| *n == "mkdir").count() >= 4,
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "rmdir"), "{names:?}");
    // The sleep left behind was killed through cgroup.kill before the removal.
    assert!(stderr(&t.output).contains("cgroup.kill>, \"1\", 1) = 1"));
    t.assert_honest();
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
}

/// cgroup v2 mechanics for real on this host's v2 tree (no controllers there): create,
/// move a process in, kill it with cgroup.kill, remove — through the stage's own functions.
#[test]
fn v2_create_move_kill_remove() {
    if !root_or_skip("v2_create_move_kill_remove") {
        return;
    }
    use glassbox::host::cgroups::{CgroupHost, Layout};
    use glassbox::stages::cgroups::{apply, limits::Limits, plan, undo};
    let Some(v2) = CgroupHost::current().v2_mount else {
        common::skip(
            "v2_create_move_kill_remove",
            "no cgroup v2 tree on this host",
        );
        return;
    };
    let n = Name::new("v2");
    let host = CgroupHost {
        layout: Layout::V2,
        v2_mount: Some(v2.clone()),
        v2_controllers: Vec::new(),
        v1_hierarchies: Vec::new(),
    };
    let p = plan(&host, &Limits::default(), &n.name).unwrap();
    let narrator = glassbox::narrate::Narrator::silent();
    let sys = glassbox::sys::Sys::new(&narrator);
    let journal = glassbox::journal::Journal::at(&n.state.path().join("journal")).unwrap();
    let mut made = apply(&sys, Some(&journal), &p).unwrap();
    let dir = v2.join("glassbox").join(&n.name);
    assert!(dir.join("cgroup.kill").exists());
    assert!(journal
        .entries()
        .iter()
        .any(|e| e.resource == glassbox::journal::Resource::Cgroup { path: dir.clone() }));

    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    assert!(cg.contains(&format!("0::/glassbox/{}", n.name)), "{cg}");
    assert!(std::fs::read_to_string(dir.join("cgroup.events"))
        .unwrap()
        .contains("populated 1"));

    undo(&sys, Some(&journal), &mut made);
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "cgroup.kill sends SIGKILL");
    assert!(!dir.exists(), "the v2 cgroup was not removed");
    assert!(journal.entries().is_empty(), "the journal still lists it");
}

#[test]
fn sigterm_is_forwarded_and_the_cgroup_still_removed() {
    if !root_or_skip("sigterm_is_forwarded_and_the_cgroup_still_removed") {
        return;
    }
    let n = Name::new("term");
    let mut gb = n
        .cmd()
        .args([
            "-q", "cgroup", "--name", &n.name, "--pids", "10", "--", "sleep", "60",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let v2procs = n.dirs().last().unwrap().join("cgroup.procs");
    wait_until("the command is in its cgroup", || {
        std::fs::read_to_string(&v2procs).is_ok_and(|s| !s.trim().is_empty())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gb.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let status = gb.wait().unwrap();
    // sleep died of the forwarded SIGTERM: 128 + 15.
    assert_eq!(status.code(), Some(143));
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
    assert_eq!(n.journal_entries(), 0);
}

#[test]
fn cleanup_after_kill_9_removes_the_cgroups() {
    if !root_or_skip("cleanup_after_kill_9_removes_the_cgroups") {
        return;
    }
    let n = Name::new("kill9");
    let mut gb = n
        .cmd()
        .args([
            "-q", "cgroup", "--name", &n.name, "--memory", "64m", "--pids", "10", "--",
        ])
        .args(["sh", "-c", "echo $$; exec sleep 60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(gb.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid: i32 = line.trim().parse().unwrap();
    gb.kill().unwrap(); // SIGKILL: glassbox gets no chance to clean up.
    gb.wait().unwrap();
    assert_eq!(
        n.left().len(),
        3,
        "memory, pids and v2 cgroups stay after kill -9"
    );
    assert!(n.journal_entries() > 0);

    let o = n.cmd().arg("cleanup").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("removed cgroup {}", n.dirs()[0].display())),
        "{out}"
    );
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
    assert_eq!(n.journal_entries(), 0);
    // The command in it was killed too (its pid is gone or a zombie about to be reaped).
    wait_until("the command is gone", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    });
    // Safe to run again.
    let again = n.cmd().arg("cleanup").output().unwrap();
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("Nothing to clean up"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn bad_input_is_one_clear_sentence_and_creates_nothing() {
    for (args, says) in [
        (vec!["--memory", "12XB"], "--memory \"12XB\" is not a size"),
        (vec!["--cpus", "-1"], "--cpus -1 is not more than 0"),
        (vec!["--pids", "0"], "--pids 0 is not a usable limit"),
        (
            vec!["--cpus", "0.005"],
            "below the kernel's minimum CPU quota",
        ),
        (vec!["--memory", "1m"], "below the smallest memory limit"),
        (
            vec!["--name", "../up", "--pids", "5"],
            "not a usable cgroup name",
        ),
    ] {
        let n = Name::new("bad");
        let name = ["--name", n.name.as_str()];
        let o = n
            .cmd()
            .arg("cgroup")
            .args(if args[0] == "--name" {
                &[][..]
            } else {
                &name[..]
            })
            .args(&args)
            .args(["--", "true"])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.starts_with("glassbox: error: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        // One sentence, then what to do; no call was narrated.
        assert_eq!(err.lines().count(), 2, "{args:?}: {err}");
        assert!(!err.contains("mkdir("), "{args:?}: {err}");
        assert!(n.left().is_empty(), "{args:?} created {:?}", n.left());
        assert_eq!(n.journal_entries(), 0);
    }
}

#[test]
fn a_missing_command_exits_127_before_anything_is_made() {
    let n = Name::new("nocmd");
    let o = n
        .cmd()
        .args([
            "cgroup",
            "--name",
            &n.name,
            "--pids",
            "5",
            "--",
            "no-such-command-gb",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains("\"no-such-command-gb\" was not found"),
        "{err}"
    );
    assert!(!err.contains("mkdir("), "{err}");
    assert!(n.left().is_empty());
}

#[test]
fn dry_run_shows_the_plan_and_touches_nothing() {
    let n = Name::new("dry");
    let o = n
        .cmd()
        .args([
            "--dry-run",
            "cgroup",
            "--name",
            &n.name,
            "--memory",
            "64m",
            "--pids",
            "20",
        ])
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("pids.max>, \"20\", 2) = ?"), "{err}");
    assert!(err.contains("(dry run: not made)"), "{err}");
    assert!(n.left().is_empty());
    assert!(!Path::new(&n.state.path().join("journal")).exists());
}

/// The pure-v1 path for real: the host seen without its v2 tree, as on an older distribution.
/// pids limit written on the v1 pids hierarchy, a forking shell moved in, then undo freezes,
/// kills and removes (the v1 way, with no cgroup.kill).
#[test]
fn v1_only_limit_freeze_kill_remove() {
    if !root_or_skip("v1_only_limit_freeze_kill_remove") {
        return;
    }
    use glassbox::host::cgroups::{CgroupHost, Layout};
    use glassbox::stages::cgroups::{apply, limits::Limits, plan, undo};
    let real = CgroupHost::current();
    if real.place("pids").is_none_or(|p| p.version != 1) {
        common::skip(
            "v1_only_limit_freeze_kill_remove",
            "no v1 pids hierarchy here",
        );
        return;
    }
    let n = Name::new("v1");
    let host = CgroupHost {
        layout: Layout::V1,
        v2_mount: None,
        v2_controllers: Vec::new(),
        v1_hierarchies: real.v1_hierarchies.clone(),
    };
    let limits = Limits {
        pids: Some(Some(50)),
        ..Default::default()
    };
    let p = plan(&host, &limits, &n.name).unwrap();
    let trace = n.state.path().join("trace.jsonl");
    let narrator = glassbox::narrate::Narrator::new(&glassbox::narrate::NarrateOpts {
        level: glassbox::narrate::Level::Quiet,
        trace: Some(trace.clone()),
        ..Default::default()
    })
    .unwrap();
    let sys = glassbox::sys::Sys::new(&narrator);
    let journal = glassbox::journal::Journal::at(&n.state.path().join("journal")).unwrap();
    let mut made = apply(&sys, Some(&journal), &p).unwrap();
    let dirs = p.dirs();
    let pids_dir = dirs
        .iter()
        .find(|d| d.starts_with(real.place("pids").unwrap().mount))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(pids_dir.join("pids.max"))
            .unwrap()
            .trim(),
        "50"
    );

    // A shell that keeps forking sleeps, moved into every cgroup of the plan.
    let mut child = Command::new("sh")
        .args(["-c", "read x; while :; do sleep 5 & sleep 0.05; done"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for d in &dirs {
        std::fs::write(d.join("cgroup.procs"), child.id().to_string()).unwrap();
    }
    drop(child.stdin.take()); // read returns: the loop starts, inside the cgroups
    wait_until("the shell has forked", || {
        std::fs::read_to_string(pids_dir.join("cgroup.procs")).is_ok_and(|s| s.lines().count() >= 4)
    });
    undo(&sys, Some(&journal), &mut made);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert!(dirs.iter().all(|d| !d.exists()), "left behind: {dirs:?}");
    assert!(journal.entries().is_empty());
    // Without cgroup.kill, the freezer cgroup was frozen, its processes killed, then thawed.
    let events = std::fs::read_to_string(&trace).unwrap();
    if real.place("freezer").is_some() {
        let at = |needle: &str| {
            events
                .find(needle)
                .unwrap_or_else(|| panic!("no {needle} in {events}"))
        };
        let (frozen, kill, thawed) = (at("FROZEN"), at("\"name\":\"kill\""), at("THAWED"));
        assert!(frozen < kill && kill < thawed, "{events}");
    }
}

/// What the kernel itself refuses, and the diagnosis glassbox gives for it: a CPU quota
/// under 1 ms (EINVAL), and on this hybrid host a v1-bound controller enabled in v2 (ENOENT).
#[test]
fn kernel_refusals_are_diagnosed() {
    if !root_or_skip("kernel_refusals_are_diagnosed") {
        return;
    }
    use glassbox::host::cgroups::CgroupHost;
    use glassbox::stages::cgroups::{apply, limits::Limits, plan, undo};
    use glassbox::sys::diagnose::cgroup_write;
    let host = CgroupHost::current();
    let n = Name::new("refuse");
    let limits = Limits {
        cpus: Some(glassbox::stages::cgroups::limits::parse_cpus("0.5").unwrap()),
        ..Default::default()
    };
    let p = plan(&host, &limits, &n.name).unwrap();
    let narrator = glassbox::narrate::Narrator::silent();
    let sys = glassbox::sys::Sys::new(&narrator);
    let journal = glassbox::journal::Journal::at(&n.state.path().join("journal")).unwrap();
    let mut made = apply(&sys, Some(&journal), &p).unwrap();
    let cpu = p
        .groups
        .iter()
        .find(|g| g.controllers.contains(&"cpu"))
        .unwrap();
    let file = cpu.dir(&n.name).join(if cpu.version == 1 {
        "cpu.cfs_quota_us"
    } else {
        "cpu.max"
    });
    let value = if cpu.version == 1 {
        "500"
    } else {
        "500 100000"
    };
    let e = sys
        .write_file(&file, value, "test", |errno| {
            cgroup_write(&file, value, errno)
        })
        .unwrap_err();
    assert_eq!(e.errno, Some(nix::errno::Errno::EINVAL));
    assert!(
        e.why.as_deref().unwrap().contains("at least 1000 µs"),
        "{e}"
    );

    let v2 = p.groups.iter().find(|g| g.version == 2);
    let memory_on_v1 = host.place("memory").is_some_and(|m| m.version == 1);
    if let (Some(v2), true) = (v2, memory_on_v1) {
        let sc = v2.dir(&n.name).join("cgroup.subtree_control");
        let e = sys
            .write_file(&sc, "+memory", "test", |errno| {
                cgroup_write(&sc, "+memory", errno)
            })
            .unwrap_err();
        assert_eq!(e.errno, Some(nix::errno::Errno::ENOENT));
        assert!(
            e.why
                .as_deref()
                .unwrap()
                .contains("bound to a cgroup v1 hierarchy"),
            "{e}"
        );
    }
    undo(&sys, Some(&journal), &mut made);
    assert!(n.left().is_empty(), "left behind: {:?}", n.left());
}

//! `glassbox runtime`: an engine's bundle (here the one `runc spec` writes) run as runc runs
//! it, the create/start/state/kill/delete sequence an engine drives, and bad bundles refused.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a container shows of itself: name, ids, privileges, seccomp mode, its mounts
/// (mount point and filesystem type), a call its seccomp profile refuses, its cgroup limits.
const SCRIPT: &str = r#"hostname; id
grep -E '^(Cap...|NoNewPrivs|Seccomp):' /proc/self/status
awk '{print $5, $9}' /proc/self/mountinfo | sort
ls /dev; ulimit -n
cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max
mkdir /tmp/d && mount -t tmpfs none /tmp/d || echo mount refused"#;

/// A bundle as an engine hands it over: busybox as rootfs, config.json from `runc spec`
/// with the script as its command, a hostname, and a seccomp profile refusing mount(2).
struct Bundle {
    dir: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Bundle {
    fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let o = glassbox()
            .env("GLASSBOX_DATA_DIR", data.path())
            .args(["-q", "unpack", "busybox"])
            .arg(dir.path().join("rootfs"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let st = Command::new("runc")
            .arg("spec")
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        let b = Bundle { dir, _data: data };
        b.edit(|v| {
            v["process"]["terminal"] = false.into();
            v["process"]["args"] = serde_json::json!(args);
            v["hostname"] = "engine-made".into();
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
        });
        b
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.path().join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

/// The cgroup directories of runtime container `id` still there (tests of this file run
/// side by side: each checks its own).
fn cgroups_left(id: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join("glassbox").join(format!("rt-{id}")))
        .filter(|d| d.is_dir())
        .collect()
}

/// A runtime's state directory of the test's own; whatever is left in it is deleted.
struct Runtime {
    root: tempfile::TempDir,
    runc: bool,
}

impl Runtime {
    fn new(runc: bool) -> Runtime {
        Runtime {
            root: tempfile::tempdir().unwrap(),
            runc,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = if self.runc {
            Command::new("runc")
        } else {
            let mut c = glassbox();
            c.arg("runtime");
            c
        };
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let o = self.out(&["state", id]);
        assert!(o.status.success(), "state: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for e in std::fs::read_dir(self.root.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = self
                .cmd()
                .args(["delete", "--force", &id])
                .stderr(Stdio::null())
                .output();
        }
    }
}

#[test]
fn an_engine_bundle_runs_as_runc_runs_it() {
    let t = "an_engine_bundle_runs_as_runc_runs_it";
    if !root_or_skip(t) || !tool_or_skip(t, "runc") {
        return;
    }
    let before = host_mounts();
    let b = Bundle::new(&["sh", "-c", SCRIPT]);
    b.edit(|v| {
        v["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20});
        v["linux"]["resources"]["pids"] = serde_json::json!({"limit": 100});
    });
    let run = |runc: bool| {
        let r = Runtime::new(runc);
        let o = r.out(&["run", "--bundle", &b.path().to_string_lossy(), "same-view"]);
        assert!(o.status.success(), "runc={runc}: {}", stderr(&o));
        stdout(&o)
    };
    let theirs = run(true);
    let ours = run(false);
    assert!(theirs.contains("engine-made"), "{theirs}");
    assert!(theirs.contains("Seccomp:\t2"), "{theirs}");
    assert!(theirs.contains("mount refused"), "{theirs}");
    assert!(theirs.contains("67108864\n100\n"), "{theirs}");
    assert_eq!(
        ours, theirs,
        "glassbox runtime and runc see different containers"
    );
    assert_eq!(host_mounts(), before);
    assert_eq!(cgroups_left("same-view"), Vec::<std::path::PathBuf>::new());
}

#[test]
fn create_start_state_kill_delete_as_an_engine_drives_them() {
    let t = "create_start_state_kill_delete_as_an_engine_drives_them";
    if !root_or_skip(t) {
        return;
    }
    let b = Bundle::new(&["sleep", "60"]);
    b.edit(|v| v["annotations"] = serde_json::json!({"org.example.who": "test"}));
    let r = Runtime::new(false);
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("runtime.log");
    let pid_file = r.root.path().join("pid");
    // The container's process keeps create's stdout and stderr (an engine passes its own
    // pipes): files here, or the test would wait for them to close.
    let err = logdir.path().join("stderr");
    let st = r
        .cmd()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(b.path())
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("c1")
        .status()
        .unwrap();
    let said = std::fs::read_to_string(&err).unwrap();
    assert!(st.success(), "create: {said}");
    let s = r.state("c1");
    assert_eq!(s["ociVersion"], oci_spec::runtime::VERSION);
    assert_eq!(s["id"], "c1");
    assert_eq!(s["status"], "created");
    assert_eq!(
        s["bundle"],
        b.path().canonicalize().unwrap().to_string_lossy().as_ref()
    );
    assert_eq!(s["annotations"]["org.example.who"], "test");
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Waiting on exec.fifo: not yet its command.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");
    // Every log line is runc's JSON: level, msg, time.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "{text}");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(),
            "{line}"
        );
    }

    let st = r
        .cmd()
        .args(["start", "c1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let s = r.state("c1");
    assert_eq!(s["status"], "running");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    let o = r.out(&["delete", "c1"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("container c1 is still running"),
        "{}",
        stderr(&o)
    );
    let list = stdout(&r.out(&["list", "--format", "json"]));
    assert!(list.contains("\"c1\""), "{list}");

    assert!(r.out(&["kill", "c1", "KILL"]).status.success());
    let mut status = String::new();
    for _ in 0..100 {
        status = r.state("c1")["status"].as_str().unwrap().to_string();
        if status == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status, "stopped");
    assert!(r.out(&["delete", "c1"]).status.success());
    let o = r.out(&["state", "c1"]);
    assert!(
        stderr(&o).contains("container c1 does not exist"),
        "{}",
        stderr(&o)
    );
    assert_eq!(cgroups_left("c1"), Vec::<std::path::PathBuf>::new());
}

#[test]
fn bad_bundles_are_refused_in_one_sentence() {
    let t = "bad_bundles_are_refused_in_one_sentence";
    if !root_or_skip(t) {
        return;
    }
    let r = Runtime::new(false);
    let refused = |bundle: &Path, says: &str| {
        let o = r
            .cmd()
            .args(["create", "--bundle"])
            .arg(bundle)
            .arg("bad")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(
            !r.root.path().join("bad").exists(),
            "a refused bundle leaves no state"
        );
    };
    let empty = tempfile::tempdir().unwrap();
    refused(empty.path(), "has no config.json");

    let b = Bundle::new(&["true"]);
    b.edit(|v| v["ociVersion"] = "2.0.0".into());
    refused(
        b.path(),
        "asks for OCI runtime spec version \"2.0.0\", and glassbox runs 1.x",
    );

    let b = Bundle::new(&["true"]);
    std::os::unix::fs::symlink("/etc", b.path().join("rootfs/escape")).unwrap();
    b.edit(|v| {
        v["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}),
        )
    });
    refused(
        b.path(),
        "the mount destination /escape/x climbs out of the root filesystem through the symlink",
    );
}

#[test]
fn called_as_glassbox_runc_it_speaks_as_runc() {
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("glassbox-runc");
    std::os::unix::fs::symlink(bin(), &named).unwrap();
    let o = Command::new(&named).arg("features").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], oci_spec::runtime::VERSION);
    assert_eq!(v["linux"]["cgroup"]["systemd"], false);
    let o = Command::new(&named)
        .args(["--systemd-cgroup", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--systemd-cgroup is not supported"),
        "{}",
        stderr(&o)
    );
}

/// Under strace: every namespace, mount, root and hostname call the runtime makes for an
/// engine's bundle is narrated, as made.
#[test]
fn the_runtime_narration_is_honest() {
    let t = "the_runtime_narration_is_honest";
    if !root_or_skip(t) || !tool_or_skip(t, "strace") {
        return;
    }
    let b = Bundle::new(&["true"]);
    let r = Runtime::new(false);
    let root = r.root.path().to_string_lossy().into_owned();
    let bundle = b.path().to_string_lossy().into_owned();
    let traced = strace::run_with(
        &[
            "runtime", "--root", &root, "run", "--bundle", &bundle, "honest",
        ],
        |c| {
            c.stdin(Stdio::null());
        },
    );
    assert!(traced.output.status.success(), "{}", stderr(&traced.output));
    traced.assert_honest();
    let names = traced.narrated_names();
    for call in ["clone", "mount", "pivot_root", "sethostname", "prlimit64"] {
        assert!(
            names.iter().any(|n| n == call),
            "{call} not narrated: {names:?}"
        );
    }
    assert_eq!(cgroups_left("honest"), Vec::<std::path::PathBuf>::new());
}

/// Hooks get the state on stdin; a namespace given by path is joined; oomScoreAdj is set.
#[test]
fn hooks_namespace_paths_and_oom_score_adj_as_config_json_asks() {
    let t = "hooks_namespace_paths_and_oom_score_adj_as_config_json_asks";
    if !root_or_skip(t) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/net; cat /proc/self/oom_score_adj",
    ]);
    let hook = |name: &str| {
        serde_json::json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}.json", out.path().display())],
            "env": ["PATH=/usr/bin:/bin"]
        }])
    };
    b.edit(|v| {
        v["hooks"] = serde_json::json!({
            "prestart": hook("prestart"),
            "poststart": hook("poststart"),
            "poststop": hook("poststop"),
        });
        v["process"]["oomScoreAdj"] = 500.into();
        // The test's own network namespace, joined by path instead of made.
        for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = format!("/proc/{}/ns/net", std::process::id()).into();
            }
        }
    });
    let r = Runtime::new(false);
    let o = r.out(&["run", "--bundle", &b.path().to_string_lossy(), "hooked"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        stdout(&o),
        format!("{}\n500\n", host_net.display()),
        "joined the namespace and set the OOM score"
    );
    for (hook, status) in [
        ("prestart", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let text = std::fs::read_to_string(out.path().join(format!("{hook}.json")))
            .unwrap_or_else(|_| panic!("the {hook} hook did not run"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "hooked", "{hook}");
        assert_eq!(v["status"], status, "{hook}");
        assert_eq!(v["ociVersion"], oci_spec::runtime::VERSION);
    }
    assert_eq!(cgroups_left("hooked"), Vec::<std::path::PathBuf>::new());
}

/// createContainer runs in the container's mount namespace before pivot_root (host paths),
/// startContainer inside the container after start, before its command; both get the state.
#[test]
fn create_container_and_start_container_hooks_run_in_the_container() {
    let t = "create_container_and_start_container_hooks_run_in_the_container";
    if !root_or_skip(t) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let b = Bundle::new(&["cat", "/tmp/startContainer.json"]);
    let hook = |dir: &str, name: &str| {
        serde_json::json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {dir}/{name}.json; readlink /proc/self/ns/mnt > {dir}/{name}.mnt")],
            "env": ["PATH=/usr/bin:/bin"]
        }])
    };
    let host_dir = out.path().display().to_string();
    b.edit(|v| {
        v["hooks"] = serde_json::json!({
            "createContainer": hook(&host_dir, "createContainer"),
            "startContainer": hook("/tmp", "startContainer"),
        });
        v["root"]["readonly"] = false.into();
    });
    let r = Runtime::new(false);
    let o = r.out(&["run", "--bundle", &b.path().to_string_lossy(), "hooked2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The command reads what the startContainer hook wrote inside the container.
    let started: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(started["id"], "hooked2");
    let text = std::fs::read_to_string(out.path().join("createContainer.json"))
        .expect("the createContainer hook did not run");
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["id"], "hooked2");
    assert_eq!(created["status"], "created");
    assert_eq!(created["pid"], started["pid"]);
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let mnt = std::fs::read_to_string(out.path().join("createContainer.mnt")).unwrap();
    assert_ne!(
        mnt.trim(),
        host_mnt.to_string_lossy(),
        "createContainer ran in the host's mount namespace"
    );
    assert_eq!(cgroups_left("hooked2"), Vec::<std::path::PathBuf>::new());
}

/// The runtime spec's state schema (schema/state-schema.json), checked by hand: required
/// ociVersion, id, status and bundle as strings; status one of its enum (runc adds
/// "paused", which engines read); pid an integer ≥ 0, and > 0 while created or running;
/// annotations, if there, an object of strings.
fn check_state_schema(v: &serde_json::Value) -> String {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    for key in ["ociVersion", "id", "status", "bundle"] {
        assert!(o.get(key).is_some_and(|k| k.is_string()), "{key} in {v}");
    }
    let version = o["ociVersion"].as_str().unwrap();
    assert_eq!(version.split('.').count(), 3, "{version} is no semver");
    let status = o["status"].as_str().unwrap().to_string();
    assert!(
        ["creating", "created", "running", "stopped", "paused"].contains(&status.as_str()),
        "status {status}"
    );
    let pid = o
        .get("pid")
        .map(|p| p.as_i64().unwrap_or_else(|| panic!("pid {p}")));
    assert!(pid.unwrap_or(0) >= 0, "{v}");
    if status == "created" || status == "running" {
        assert!(pid.unwrap_or(0) > 0, "no pid while {status}: {v}");
    }
    if let Some(a) = o.get("annotations") {
        let a = a.as_object().unwrap_or_else(|| panic!("annotations {a}"));
        assert!(a.values().all(|x| x.is_string()), "{v}");
    }
    status
}

#[test]
fn state_and_list_json_follow_the_runtime_spec_state_schema() {
    let t = "state_and_list_json_follow_the_runtime_spec_state_schema";
    if !root_or_skip(t) {
        return;
    }
    let b = Bundle::new(&["sleep", "60"]);
    b.edit(|v| v["annotations"] = serde_json::json!({"org.example.who": "test"}));
    let r = Runtime::new(false);
    let quiet = |args: &[&str]| {
        let st = r
            .cmd()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    };
    let both = |want: &str| {
        assert_eq!(check_state_schema(&r.state("sc1")), want);
        let list: serde_json::Value =
            serde_json::from_slice(&r.out(&["list", "--format", "json"]).stdout).unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(check_state_schema(&list[0]), want);
    };
    let bundle = b.path().to_string_lossy().into_owned();
    quiet(&["create", "--bundle", &bundle, "sc1"]);
    both("created");
    quiet(&["start", "sc1"]);
    both("running");
    quiet(&["pause", "sc1"]);
    both("paused");
    quiet(&["resume", "sc1"]);
    both("running");
    quiet(&["kill", "sc1", "KILL"]);
    for _ in 0..100 {
        if r.state("sc1")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    both("stopped");
    quiet(&["delete", "sc1"]);
    assert_eq!(cgroups_left("sc1"), Vec::<std::path::PathBuf>::new());
}

/// `--preserve-fds N` and systemd's LISTEN_FDS (with LISTEN_PID naming the runtime): the
/// descriptors from 3 on reach the container's command; LISTEN_FDS tells it how many.
#[test]
fn preserved_and_socket_activated_descriptors_reach_the_command() {
    let t = "preserved_and_socket_activated_descriptors_reach_the_command";
    if !root_or_skip(t) {
        return;
    }
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo ${LISTEN_FDS:-none} ${LISTEN_PID:-none}; echo to-fd-3 >&3",
    ]);
    let r = Runtime::new(false);
    let out = tempfile::tempdir().unwrap();
    let run = |id: &str, env: &str, flags: &str| {
        let file = out.path().join(id);
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{env} exec \"$0\" runtime --root \"$1\" run {flags} --bundle \"$2\" {id} 3>\"$3\"",
            ))
            .arg(bin())
            .arg(r.root.path())
            .arg(b.path())
            .arg(&file)
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (o, std::fs::read_to_string(file).unwrap())
    };
    let (o, fd3) = run("keep", "", "--preserve-fds 1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "none none\n");
    assert_eq!(fd3, "to-fd-3\n");
    let (o, fd3) = run("listen", "LISTEN_FDS=1 LISTEN_PID=$$", "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "1 1\n",
        "the command is PID 1 of its pid namespace"
    );
    assert_eq!(fd3, "to-fd-3\n");
    // Meant for another process: not passed on.
    let (o, fd3) = run("other", "LISTEN_FDS=1 LISTEN_PID=1", "");
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "none none\n");
    assert_eq!(fd3, "");
}

/// `exec` into a running container: its output, its exit status, and a narration strace
/// confirms (the cgroup writes, each setns, the forks, the exec).
#[test]
fn exec_joins_a_running_container_and_its_narration_is_honest() {
    let t = "exec_joins_a_running_container_and_its_narration_is_honest";
    if !root_or_skip(t) || !tool_or_skip(t, "strace") {
        return;
    }
    let b = Bundle::new(&["sleep", "60"]);
    let r = Runtime::new(false);
    let bundle = b.path().to_string_lossy().into_owned();
    for args in [
        &["create", "--bundle", &bundle, "ex1"][..],
        &["start", "ex1"][..],
    ] {
        let st = r
            .cmd()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    }
    let process = b.path().join("process.json");
    let mut p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.path().join("config.json")).unwrap()).unwrap();
    p["process"]["args"] = serde_json::json!(["sh", "-c", "hostname; cat /proc/1/comm; exit 7"]);
    std::fs::write(&process, p["process"].to_string()).unwrap();
    let root = r.root.path().to_string_lossy().into_owned();
    let traced = strace::run_with(
        &[
            "runtime",
            "--root",
            &root,
            "exec",
            "--process",
            &process.to_string_lossy(),
            "ex1",
        ],
        |c| {
            c.stdin(Stdio::null());
        },
    );
    assert_eq!(
        traced.output.status.code(),
        Some(7),
        "{}",
        stderr(&traced.output)
    );
    assert_eq!(stdout(&traced.output), "engine-made\nsleep\n");
    traced.assert_honest();
    let names = traced.narrated_names();
    for call in ["setns", "clone", "execve"] {
        assert!(
            names.iter().any(|n| n == call),
            "{call} not narrated: {names:?}"
        );
    }
    assert!(r.out(&["delete", "--force", "ex1"]).status.success());
    assert_eq!(cgroups_left("ex1"), Vec::<std::path::PathBuf>::new());
}

/// The engine's cgroupsPath, as runc honours it: the container's cgroup is that path in
/// every hierarchy (missing parents made, cpuset's CPUs copied down so a process can join),
/// and delete removes only the container's own directory, never the parents (runc leaves
/// them: an engine's other containers go there too).
#[test]
fn the_engines_cgroups_path_is_the_containers_cgroup_as_under_runc() {
    let t = "the_engines_cgroups_path_is_the_containers_cgroup_as_under_runc";
    if !root_or_skip(t) || !tool_or_skip(t, "runc") {
        return;
    }
    let parent = format!("gb-engine-parent-{}", std::process::id());
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    b.edit(|v| {
        v["linux"]["cgroupsPath"] = format!("/{parent}/ctr-1").into();
        v["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20});
    });
    let hierarchies: Vec<std::path::PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path())
        .filter(|h| h.join("cgroup.procs").exists())
        .collect();
    let run = |runc: bool| {
        let r = Runtime::new(runc);
        let o = r.out(&["run", "--bundle", &b.path().to_string_lossy(), "ctr-1"]);
        assert!(o.status.success(), "runc={runc}: {}", stderr(&o));
        // What is left: the parent in every hierarchy, not the container's own directory.
        for h in &hierarchies {
            assert!(h.join(&parent).is_dir(), "runc={runc}: {}", h.display());
            assert!(!h.join(&parent).join("ctr-1").exists(), "runc={runc}");
        }
        stdout(&o)
    };
    let theirs = run(true);
    let ours = run(false);
    for h in &hierarchies {
        let _ = std::fs::remove_dir(h.join(&parent));
    }
    assert!(
        theirs.contains(&format!(":memory:/{parent}/ctr-1\n")),
        "{theirs}"
    );
    assert_eq!(
        ours, theirs,
        "glassbox and runc put the container elsewhere"
    );
}

/// A hook is a child of the runtime like any other: its fork and its execve are narrated
/// (with the hook's own argv[0]) and strace sees them as narrated.
#[test]
fn hooks_are_forked_and_execed_in_the_narration() {
    let t = "hooks_are_forked_and_execed_in_the_narration";
    if !root_or_skip(t) || !tool_or_skip(t, "strace") {
        return;
    }
    let b = Bundle::new(&["true"]);
    b.edit(|v| {
        v["hooks"] = serde_json::json!({
            "prestart": [{"path": "/bin/sh", "args": ["hook-sh", "-c", "cat >/dev/null"]}],
            "poststop": [{"path": "/bin/true", "args": ["poststop-true"]}],
        })
    });
    let r = Runtime::new(false);
    let root = r.root.path().to_string_lossy().into_owned();
    let bundle = b.path().to_string_lossy().into_owned();
    let traced = strace::run_with(
        &[
            "runtime", "--root", &root, "run", "--bundle", &bundle, "hooknarr",
        ],
        |c| {
            c.stdin(Stdio::null());
        },
    );
    assert!(traced.output.status.success(), "{}", stderr(&traced.output));
    traced.assert_honest();
    let narrated = traced.narrated();
    for (path, arg0) in [("/bin/sh", "hook-sh"), ("/bin/true", "poststop-true")] {
        let exec = narrated.iter().position(|e| {
            e["name"] == "execve"
                && e["args"][0].as_str().is_some_and(|a| a.contains(path))
                && e["args"][1].as_str().is_some_and(|a| a.contains(arg0))
        });
        let exec = exec.unwrap_or_else(|| panic!("the execve of {path} is not narrated"));
        assert!(
            narrated[..exec].iter().any(|e| e["name"] == "clone"),
            "no fork narrated before the hook {path}"
        );
    }
    assert_eq!(cgroups_left("hooknarr"), Vec::<std::path::PathBuf>::new());
}

/// glassbox's own bundles name `/glassbox/NAME` (its shared parent): in every hierarchy,
/// cpuset's included, where a new cgroup must be given its parent's CPUs before a process
/// may join it.
#[test]
fn a_bundle_glassbox_made_runs_in_its_cgroup_in_every_hierarchy() {
    let t = "a_bundle_glassbox_made_runs_in_its_cgroup_in_every_hierarchy";
    if !root_or_skip(t) {
        return;
    }
    let name = format!("gb-own-{}", std::process::id());
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    b.edit(|v| v["linux"]["cgroupsPath"] = format!("/glassbox/{name}").into());
    let r = Runtime::new(false);
    let o = r.out(&["run", "--bundle", &b.path().to_string_lossy(), "own1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = stdout(&o);
    for want in [":cpuset:", ":memory:", "0::"] {
        assert!(
            lines
                .lines()
                .any(|l| l.contains(want) && l.ends_with(&format!(":/glassbox/{name}"))),
            "{want}: {lines}"
        );
    }
    let left: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("glassbox").join(&name))
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

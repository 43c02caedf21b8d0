//! podman drives glassbox as its OCI runtime (`podman --runtime glassbox-runc`), and the
//! container prints what the same podman run prints under runc.

mod common;
use common::tmux::Tmux;
use common::*;
use std::path::Path;
use std::process::Command;

/// podman with storage and run state of the test's own (a temporary directory), the cgroupfs manager (glassbox refuses systemd's) and no network.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn cmd(&self) -> Command {
        self.cmd_with(Command::new("podman"))
    }

    /// podman in the network namespace `ns` (nsenter, not `ip netns exec`: that one also
    /// mounts a /sys of its own, without the cgroup filesystems runtimes need).
    fn cmd_in(&self, ns: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{ns}")).arg("podman");
        self.cmd_with(c)
    }

    fn cmd_with(&self, mut c: Command) -> Command {
        let d = self.dir.path();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GLASSBOX_") {
                c.env_remove(k);
            }
        }
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "vfs",
            ])
            // Its exit files too (by default under /run/libpod).
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            // conmon writes a file `oom` into its working directory when it sees one.
            .current_dir(d);
        // The runtime keeps its state in its default --root, /run/glassbox-runtime: podman
        // passes --runtime-flag to some calls only (not to the delete of its cleanup).
        c
    }

    /// `podman --runtime RUNTIME run --rm IMAGE sh -c SCRIPT`: its stdout.
    fn run(&self, runtime: &Path, flags: &[&str], script: &str) -> String {
        let o = self
            .cmd()
            .arg("--runtime")
            .arg(runtime)
            .args(["run", "--rm", "--network", "none"])
            .args(flags)
            .stdin(std::process::Stdio::null())
            // podman as root here asks for limits the host's hard limits may not allow.
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(["localhost/gb-busybox:test", "sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman --runtime {}: {}",
            runtime.display(),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Podman {
    /// A podman of the test's own with busybox, as glassbox exports it, imported from a
    /// tarball; and glassbox linked as `glassbox-runc` (engines find a runtime by the name
    /// it is called under).
    fn with_image() -> (Podman, std::path::PathBuf) {
        let p = Podman {
            dir: tempfile::tempdir().unwrap(),
        };
        let d = p.dir.path();
        let o = glassbox()
            .env("GLASSBOX_DATA_DIR", d.join("data"))
            .args(["-q", "unpack", "busybox"])
            .arg(d.join("rootfs"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let st = Command::new("tar")
            .arg("-C")
            .arg(d.join("rootfs"))
            .arg("-cf")
            .arg(d.join("bb.tar"))
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        let o = p
            .cmd()
            .arg("import")
            .arg(d.join("bb.tar"))
            .arg("localhost/gb-busybox:test")
            .output()
            .unwrap();
        assert!(o.status.success(), "podman import: {}", stderr(&o));
        let runc_named = d.join("glassbox-runc");
        std::os::unix::fs::symlink(bin(), &runc_named).unwrap();
        (p, runc_named)
    }

    /// `podman --runtime RUNTIME ARGS…`, checked: its stdout.
    fn ok(&self, runtime: &Path, args: &[&str]) -> String {
        let o = self
            .cmd()
            .arg("--runtime")
            .arg(runtime)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {}: {}",
            args.join(" "),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Podman {
    /// The ids of every container this podman made (its events log, kept in --tmpdir).
    fn ids(&self) -> Vec<String> {
        let log = self.dir.path().join("tmp/events/events.log");
        let mut ids: Vec<String> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["Type"] == "container")
            .filter_map(|v| v["ID"].as_str().map(String::from))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Drop this podman (its containers removed), then the cgroups of its containers left.
    fn cgroups_left_after(self) -> Vec<std::path::PathBuf> {
        let ids = self.ids();
        assert!(!ids.is_empty());
        drop(self);
        ids.iter().flat_map(|id| libpod_cgroups_left(id)).collect()
    }
}

/// One podman test at a time: each checks that no libpod cgroup is left under glassbox's
/// parent, which another one running beside it would have.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The cgroups of podman's container `id` left in any
/// hierarchy: where podman's cgroupsPath puts them (or glassbox's parent, before).
fn libpod_cgroups_left(id: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("libpod-{id}");
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|h| [h.path().join("libpod_parent"), h.path().join("glassbox")])
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-a", "-f"]).output();
        let _ = self.cmd().args(["rmi", "-a", "-f"]).output();
        let _ = self.cmd().args(["system", "reset", "-f"]).output();
    }
}

#[test]
fn podman_runs_a_container_through_glassbox_as_through_runc() {
    let t = "podman_runs_a_container_through_glassbox_as_through_runc";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "runc") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let (p, runc_named) = Podman::with_image();
    let script = "echo hi; id; grep CapEff /proc/self/status";
    let ours = p.run(&runc_named, &[], script);
    let theirs = p.run(Path::new("/usr/sbin/runc"), &[], script);
    assert!(ours.starts_with("hi\nuid=0(root) gid=0(root)"), "{ours}");
    assert_eq!(
        ours, theirs,
        "podman's container differs under glassbox and runc"
    );
    // -t: the terminal's master end goes to conmon over the console socket.
    let ours = p.run(&runc_named, &["-t"], "tty; echo hi");
    let theirs = p.run(Path::new("/usr/sbin/runc"), &["-t"], "tty; echo hi");
    assert!(ours.starts_with("/dev/pts/0"), "{ours}");
    assert_eq!(ours, theirs);
    let left = p.cgroups_left_after();
    assert_eq!(host_mounts(), before);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// The container's cgroups are the ones podman names in cgroupsPath
/// (`/libpod_parent/libpod-ID`), in every hierarchy, as runc makes them; when it is removed
/// its own directories go, and podman's shared libpod_parent stays.
#[test]
fn podman_finds_the_container_in_the_cgroups_it_named_as_under_runc() {
    let t = "podman_finds_the_container_in_the_cgroups_it_named_as_under_runc";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "runc") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (p, rt) = Podman::with_image();
    let ours = p.run(&rt, &[], "cat /proc/self/cgroup");
    let theirs = p.run(Path::new("/usr/sbin/runc"), &[], "cat /proc/self/cgroup");
    let id = |out: &str| {
        let at = out.find("libpod-").expect(out) + "libpod-".len();
        out[at..at + 64].to_string()
    };
    let (our_id, their_id) = (id(&ours), id(&theirs));
    assert!(
        ours.contains(&format!(":memory:/libpod_parent/libpod-{our_id}\n")),
        "{ours}"
    );
    assert_eq!(
        ours.replace(&our_id, "ID"),
        theirs.replace(&their_id, "ID"),
        "podman's container is in other cgroups under glassbox than under runc"
    );
    let left = p.cgroups_left_after();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(Path::new("/sys/fs/cgroup/memory/libpod_parent").is_dir());
}

/// `podman run -d`, then `exec` (the runtime's exec), `pause`/`unpause`, `stop` and `rm`,
/// all through glassbox.
#[test]
fn podman_runs_detached_execs_pauses_stops_and_removes_through_glassbox() {
    let t = "podman_runs_detached_execs_pauses_stops_and_removes_through_glassbox";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let (p, rt) = Podman::with_image();
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut run = vec!["run", "-d", "--name", "gb-bg", "--network", "none"];
    run.extend(limits);
    run.extend(["localhost/gb-busybox:test", "sleep", "1000"]);
    p.ok(&rt, &run);
    let status = |p: &Podman| p.ok(&rt, &["inspect", "--format", "{{.State.Status}}", "gb-bg"]);
    assert_eq!(status(&p).trim(), "running");
    // exec: a second process inside the first one's namespaces.
    let out = p.ok(
        &rt,
        &[
            "exec",
            "gb-bg",
            "sh",
            "-c",
            "echo in; cat /proc/1/comm; hostname",
        ],
    );
    assert!(out.starts_with("in\nsleep\n"), "{out}");
    // exec -t: a terminal of its own, its master end sent over the console socket.
    let out = p.ok(&rt, &["exec", "-t", "gb-bg", "tty"]);
    assert!(out.starts_with("/dev/pts/"), "{out}");
    let o = p
        .cmd()
        .arg("--runtime")
        .arg(&rt)
        .args(["exec", "gb-bg", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    p.ok(&rt, &["pause", "gb-bg"]);
    assert_eq!(status(&p).trim(), "paused");
    p.ok(&rt, &["unpause", "gb-bg"]);
    assert_eq!(status(&p).trim(), "running");
    p.ok(&rt, &["stop", "-t", "2", "gb-bg"]);
    assert_eq!(status(&p).trim(), "exited");
    p.ok(&rt, &["rm", "gb-bg"]);
    let left = p.cgroups_left_after();
    assert_eq!(host_mounts(), before);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// A memory limit podman asks for is the container's: the kernel kills it at the limit, and
/// podman reports OOMKilled. conmon learns of the kill from an eventfd on the container's
/// memory.oom_control (cgroup v1; memory.events on v2), found through /proc/PID/cgroup, and
/// writes a file `oom` into its working directory; podman 4.3 looks for it in the bundle
/// and starts conmon from its own working directory. So the container is created first and
/// started from its bundle, as under runc on this host, where otherwise both say false.
#[test]
fn podman_sees_the_memory_limit_and_oom_kill_as_under_runc() {
    let t = "podman_sees_the_memory_limit_and_oom_kill_as_under_runc";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "runc") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let (p, rt) = Podman::with_image();
    let oom = |runtime: &Path, name: &str| {
        let mut create = vec!["create", "--name", name, "--network", "none"];
        create.extend(["--memory", "32m", "--memory-swap", "32m"]);
        create.extend([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]);
        // The limit as the container sees it, then tail keeps the one endless line it
        // reads in memory.
        create.extend(["localhost/gb-busybox:test", "sh", "-c"]);
        create.push("cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exec tail /dev/zero");
        p.ok(runtime, &create);
        let bundle = p.ok(runtime, &["inspect", "--format", "{{.StaticDir}}", name]);
        let o = p
            .cmd()
            .current_dir(bundle.trim())
            .arg("--runtime")
            .arg(runtime)
            .args(["start", "--attach", name])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
        assert_eq!(stdout(&o), "33554432\n");
        let killed = p.ok(
            runtime,
            &["inspect", "--format", "{{.State.OOMKilled}}", name],
        );
        p.ok(runtime, &["rm", name]);
        killed
    };
    let theirs = oom(Path::new("/usr/sbin/runc"), "runc-oom");
    assert_eq!(theirs.trim(), "true", "under runc");
    let ours = oom(&rt, "gb-oom");
    assert_eq!(ours.trim(), "true", "podman saw no OOM kill under glassbox");
    let left = p.cgroups_left_after();
    assert_eq!(host_mounts(), before);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// The learner tails the narration of each call podman makes: GLASSBOX_NARRATE set in a
/// wrapper podman runs as its runtime (podman passes no environment on), and
/// `--runtime-flag narrate=FILE` for the calls podman gives its runtime flags to.
#[test]
fn the_narration_of_each_runtime_call_under_podman_goes_to_a_file() {
    let t = "the_narration_of_each_runtime_call_under_podman_goes_to_a_file";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (p, rt) = Podman::with_image();
    let d = p.dir.path().to_path_buf();
    let file = d.join("narration");
    let wrapper = d.join("glassbox-narrated");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nGLASSBOX_NARRATE={} exec {} runtime \"$@\"\n",
            file.display(),
            bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut run = vec!["run", "-d", "--name", "gb-told", "--network", "none"];
    run.extend(limits);
    run.extend(["localhost/gb-busybox:test", "sleep", "1000"]);
    p.ok(&wrapper, &run);
    p.ok(&wrapper, &["stop", "-t", "1", "gb-told"]);
    p.ok(&wrapper, &["rm", "gb-told"]);
    let text = std::fs::read_to_string(&file).unwrap();
    let calls: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("glassbox runtime "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(calls.first(), Some(&"create"), "{text}");
    assert_eq!(calls.get(1), Some(&"start"), "{text}");
    assert!(calls.contains(&"kill"), "{calls:?}");
    assert_eq!(calls.last(), Some(&"delete"), "{calls:?}");
    assert!(text.contains("pivot_root"), "{text}");

    // --runtime-flag: the same narration for create and start.
    let told = d.join("flagged");
    let flag = format!("narrate={}", told.display());
    let mut run = vec!["--runtime-flag", &flag, "run", "--rm", "--network", "none"];
    run.extend(limits);
    run.extend(["localhost/gb-busybox:test", "true"]);
    p.ok(&rt, &run);
    let text = std::fs::read_to_string(&told).unwrap();
    assert!(text.contains("glassbox runtime --narrate="), "{text}");
    assert!(text.contains("pivot_root"), "{text}");
}

/// A network namespace of the test's own (`ip netns add`), deleted with everything in it
/// (podman's bridge, its firewall rules) when the test ends, pass or fail.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let st = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap();
        assert!(st.success());
        let ns = Netns(name.to_string());
        let st = ns.run(&["ip", "link", "set", "lo", "up"]).status().unwrap();
        assert!(st.success());
        ns
    }

    fn run(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.0)).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// `podman run -p 127.0.0.1:PORT:80` through glassbox, inside a network namespace the test
/// made: podman's CNI bridge and port mapping (a network of the test's own, its addresses
/// kept in the test's directory), busybox httpd in the container, fetched from inside the
/// namespace; nothing is left outside it.
#[test]
fn podman_publishes_a_port_of_a_container_run_by_glassbox() {
    let t = "podman_publishes_a_port_of_a_container_run_by_glassbox";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "nsenter") {
        return;
    }
    if !Path::new("/usr/lib/cni/portmap").exists() {
        skip(t, "no CNI plugins (containernetworking-plugins)");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let netns_before = std::fs::read_dir("/run/netns")
        .map(|d| d.count())
        .unwrap_or(0);
    let cni_cache_was_there = Path::new("/var/lib/cni").exists();
    let ns = Netns::new(&format!("gb-pm-{}", std::process::id()));
    let (p, rt) = Podman::with_image();
    let d = p.dir.path().to_path_buf();
    let conf = d.join("cni");
    std::fs::create_dir(&conf).unwrap();
    let net = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "gbtest",
        "plugins": [
            {"type": "bridge", "bridge": "gbt0", "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "dataDir": d.join("ipam"),
                      "ranges": [[{"subnet": "10.89.77.0/24", "gateway": "10.89.77.1"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    std::fs::write(conf.join("gbtest.conflist"), net.to_string()).unwrap();
    let podman = |args: &[&str]| {
        let o = p
            .cmd_in(&ns.0)
            .arg("--network-config-dir")
            .arg(&conf)
            .arg("--runtime")
            .arg(&rt)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "podman {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    podman(&[
        "run", "-d", "--name", "web", "--network", "gbtest",
        "-p", "127.0.0.1:18080:80",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "localhost/gb-busybox:test", "sh", "-c",
        "mkdir /www && echo served through glassbox > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let mut got = String::new();
    for _ in 0..50 {
        let o = ns
            .run(&[
                "busybox",
                "wget",
                "-q",
                "-O",
                "-",
                "http://127.0.0.1:18080/",
            ])
            .output()
            .unwrap();
        got = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "served through glassbox\n");
    podman(&["rm", "-f", "-t", "0", "web"]);
    let left = p.cgroups_left_after();
    drop(ns);
    if !cni_cache_was_there {
        // The CNI plugins' result cache, podman's (under runc too), not the runtime's.
        let _ = std::fs::remove_dir_all("/var/lib/cni");
    }
    assert_eq!(host_mounts(), before);
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let netns_after = std::fs::read_dir("/run/netns")
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(netns_after, netns_before, "a network namespace is left");
}

/// `podman run -it` through glassbox in a terminal (tmux): the terminal's master end goes
/// to conmon over the console socket, what is typed reaches the container's shell, its
/// output comes back, and its exit status is podman's.
#[test]
fn podman_run_it_through_glassbox_in_a_terminal() {
    let t = "podman_run_it_through_glassbox_in_a_terminal";
    if !root_or_skip(t) || !tool_or_skip(t, "podman") || !tool_or_skip(t, "tmux") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let (p, rt) = Podman::with_image();
    let mut c = p.cmd();
    c.arg("--runtime")
        .arg(&rt)
        .args(["run", "-it", "--rm", "--network", "none"])
        .args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ])
        .args(["localhost/gb-busybox:test", "sh"]);
    let line: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let term = Tmux::running("podman-it", "sh");
    term.keys(&[
        &format!(
            "cd '{}' && {}; echo podman-said-$?",
            p.dir.path().display(),
            line.join(" ")
        ),
        "Enter",
    ]);
    term.wait_for("/ #");
    // Expected texts are computed, so the echo of the typed line never matches them.
    term.keys(&["echo inside-$((6*7)) on $(tty)", "Enter"]);
    term.wait_for("inside-42 on /dev/pts/0");
    term.keys(&["exit 3", "Enter"]);
    term.wait_for("podman-said-3");
    drop(term);
    let left = p.cgroups_left_after();
    assert_eq!(host_mounts(), before);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

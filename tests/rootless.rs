//! glassbox as an ordinary user: each test makes a throwaway user (root is needed for that
//! only), runs glassbox as that user through runuser, and removes the user, its home and
//! its /etc/subuid and /etc/subgid lines afterwards, pass or fail.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A user made for one test, removed with everything of theirs when dropped.
struct User {
    name: String,
    uid: u32,
    home: PathBuf,
    /// glassbox where this user can run it.
    bin: PathBuf,
}

impl User {
    /// A new user; `range`: with a subuid/subgid range of its own.
    fn make(tag: &str, range: Option<u32>) -> User {
        let name = format!("gbrl{tag}{}", std::process::id() % 100000);
        let home = PathBuf::from("/home").join(&name);
        let lock = SUBID_FILES.lock().unwrap_or_else(|e| e.into_inner());
        let ok = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", "-d"])
            .arg(&home)
            .arg(&name)
            .status()
            .unwrap()
            .success();
        drop(lock);
        assert!(ok, "useradd {name}");
        let mut user = User {
            uid: 0,
            bin: bin(),
            home,
            name,
        };
        // Made before anything can fail, so that Drop removes what useradd made.
        user.uid = id(&user.name);
        // useradd may have given it a range already (SUB_UID_MIN in login.defs): set ours.
        drop_lines(&user.name, user.uid);
        if let Some(start) = range {
            let _one_at_a_time = SUBID_FILES.lock().unwrap_or_else(|e| e.into_inner());
            for f in ["/etc/subuid", "/etc/subgid"] {
                let mut text = std::fs::read_to_string(f).unwrap_or_default();
                text.push_str(&format!("{}:{start}:65536\n", user.name));
                std::fs::write(f, text).unwrap();
            }
        }
        // Its runtime directory, as a login session has it (/tmp may not be writable).
        let run = user.home.join(".run");
        std::fs::create_dir(&run).unwrap();
        chown(&run, user.uid);
        // glassbox where the user can run it: target/ may sit under a home only root reads.
        if !user.sh("test -x \"$0\"", &[user.bin.to_str().unwrap()]) {
            let copy = user.home.join("glassbox");
            std::fs::copy(bin(), &copy).unwrap();
            chown(&copy, user.uid);
            user.bin = copy;
        }
        user
    }

    fn command(&self) -> Command {
        self.command_in(None)
    }

    /// As [`User::command`], inside the network namespace `netns` (`ip netns add`).
    fn command_in(&self, netns: Option<&str>) -> Command {
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "runuser"]);
                c
            }
            None => Command::new("runuser"),
        };
        c.args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!(
                "XDG_RUNTIME_DIR={}",
                self.home.join(".run").display()
            ))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg("NO_COLOR=1")
            .arg(format!("GLASSBOX_TRACE={}", process_trace().display()));
        c
    }

    /// `glassbox ARGS…` as this user.
    fn glassbox(&self, args: &[&str]) -> Output {
        self.command().arg(&self.bin).args(args).output().unwrap()
    }

    fn sh(&self, script: &str, args: &[&str]) -> bool {
        self.command()
            .args(["sh", "-c", script])
            .args(args)
            .status()
            .unwrap()
            .success()
    }

    fn data(&self) -> PathBuf {
        self.home.join(".local/share/glassbox")
    }

    /// What is left of containers and journal entries in the user's directories.
    fn leftovers(&self) -> Vec<String> {
        let list = |d: &Path| -> Vec<String> {
            std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        };
        let mut left = list(&self.data().join("containers"));
        left.extend(list(&self.home.join(".run/glassbox/journal")));
        left
    }

    /// The user's processes still running (zombies aside: reaping them is init's), after
    /// a moment for a supervisor that recorded how its container ended to exit.
    fn processes(&self) -> Vec<String> {
        let mut left = Vec::new();
        for _ in 0..30 {
            left = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
                .filter(|s| {
                    let field = |k: &str| {
                        s.lines()
                            .find_map(|l| l.strip_prefix(k))
                            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                    };
                    field("Uid:") == Some(self.uid.to_string())
                        && field("State:") != Some("Z".into())
                })
                .map(|s| s.lines().next().unwrap_or("").to_string())
                .collect();
            if left.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        left
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.uid.to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let lock = SUBID_FILES.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
        drop(lock);
        drop_lines(&self.name, self.uid);
        if self.home.starts_with("/home/") {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}

fn id(name: &str) -> u32 {
    let o = Command::new("id").args(["-u", name]).output().unwrap();
    stdout(&o).trim().parse().unwrap()
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
}

/// The tests of this file run at once: one change of /etc/subuid and /etc/subgid (ours,
/// useradd's, userdel's) at a time.
static SUBID_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Take the user's lines out of /etc/subuid and /etc/subgid.
fn drop_lines(name: &str, uid: u32) {
    let _one_at_a_time = SUBID_FILES.lock().unwrap_or_else(|e| e.into_inner());
    for f in ["/etc/subuid", "/etc/subgid"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let (n, u) = (format!("{name}:"), format!("{uid}:"));
        let kept: String = text
            .lines()
            .filter(|l| !(l.starts_with(&n) || uid != 0 && l.starts_with(&u)))
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != text {
            std::fs::write(f, kept).unwrap();
        }
    }
}

fn ready(test: &str) -> bool {
    root_or_skip(test)
        && tool_or_skip(test, "useradd")
        && tool_or_skip(test, "runuser")
        && tool_or_skip(test, "newuidmap")
        && tool_or_skip(test, "busybox")
}

#[test]
fn an_ordinary_user_runs_a_container_as_root_inside_with_its_range_mapped() {
    if !ready("rootless_run") {
        return;
    }
    let before = host_state();
    let u = User::make("a", Some(300000));
    let o = u.glassbox(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "id; hostname; cat /proc/self/uid_map",
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("uid=0(root) gid=0(root)"), "{out}");
    let map: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| f.len() == 3)
        .collect();
    let uid = u.uid.to_string();
    assert_eq!(
        map,
        [vec!["0", uid.as_str(), "1"], vec!["1", "300000", "65536"]],
        "{out}"
    );
    // The hostname is the container's own (its id), not the host's.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let line2 = out.lines().nth(1).unwrap_or("");
    assert!(!line2.is_empty() && line2 != host.trim(), "{out}");
    // What needs root was said once, and the maps were written by the setuid helpers.
    assert_eq!(err.matches("without root: no cgroup").count(), 1, "{err}");
    assert!(
        err.contains("$ newuidmap ") && err.contains(&format!(" 0 {uid} 1 1 300000 65536")),
        "{err}"
    );
    assert!(u.data().join("images").is_dir(), "the user's own store");
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(u.processes(), Vec::<String>::new());
    assert_eq!(host_state(), before);
}

#[test]
fn detached_exec_logs_stop_and_rm_work_for_an_ordinary_user() {
    if !ready("rootless_detached") {
        return;
    }
    let before = host_state();
    let u = User::make("b", Some(400000));
    let o = u.glassbox(&[
        "-q",
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 600",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ps = u.glassbox(&["ps"]);
    assert!(stdout(&ps).contains("web"), "{}", stdout(&ps));
    let mut logs = String::new();
    for _ in 0..50 {
        logs = stdout(&u.glassbox(&["logs", "web"]));
        if logs.contains("started") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(logs, "started\n");
    let e = u.glassbox(&[
        "-q",
        "exec",
        "web",
        "sh",
        "-c",
        "id -u; cat /proc/1/cmdline",
    ]);
    assert_eq!(e.status.code(), Some(0), "{}", stderr(&e));
    assert_eq!(stdout(&e), "0\nsleep\x00600\x00");
    // A file the container gives to another of its users is uid 400000+1000 on the host:
    // rm must remove it all the same.
    let c = u.glassbox(&[
        "-q",
        "exec",
        "web",
        "sh",
        "-c",
        "mkdir /d && touch /d/f && chown -R 1000 /d && chmod 700 /d",
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    let s = u.glassbox(&["-q", "stop", "-t", "1", "web"]);
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    let r = u.glassbox(&["-q", "rm", "web"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(stdout(&u.glassbox(&["ps", "-aq"])), "");
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(u.processes(), Vec::<String>::new());
    assert_eq!(host_state(), before);
}

#[test]
fn without_a_range_only_the_user_s_uid_is_mapped_and_it_says_so_once() {
    if !ready("rootless_single") {
        return;
    }
    let u = User::make("c", None);
    let o = u.glassbox(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{err}");
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", &u.uid.to_string(), "1"], "{out}");
    assert_eq!(
        err.matches("has no range in /etc/subuid").count(),
        1,
        "{err}"
    );
    assert_eq!(u.leftovers(), Vec::<String>::new());
}

#[test]
fn what_needs_root_is_refused_in_one_sentence_before_anything_is_made() {
    if !ready("rootless_refused") {
        return;
    }
    let u = User::make("d", Some(500000));
    for (args, says) in [
        (vec!["-p", "8080:80"], "--publish needs a bridge network"),
        (
            vec!["--memory", "32m"],
            "--memory, --cpus and --pids need root",
        ),
        (
            vec!["--userns", "private"],
            "--userns private is for glassbox run as root",
        ),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend(&args);
        all.extend(["busybox", "true"]);
        let o = u.glassbox(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    }
    // Refused before the image was even exported.
    assert!(!u.data().join("images").exists());
}

/// The command lesson 3 shows as text for an ordinary user (alice, uid 1000, range
/// 100000:65536), and the output it shows.
fn lesson_example() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/03-namespaces.md"),
    )
    .unwrap();
    let block = text
        .split("<!-- rootless-example -->\n```sh\n")
        .nth(1)
        .expect("lesson 3 marks its rootless example")
        .split("```")
        .next()
        .unwrap();
    let mut lines = block.lines();
    let command = lines.next().unwrap().strip_prefix("alice$ ").unwrap();
    (command.to_string(), lines.map(String::from).collect())
}

#[test]
fn lesson_3_shows_what_an_ordinary_user_sees() {
    if !ready("rootless_lesson") {
        return;
    }
    let u = User::make("e", Some(100000));
    let (command, shown) = lesson_example();
    // The lesson's glassbox is the one under test, as the learner's is on PATH.
    let script = command.replacen("glassbox", &u.bin.display().to_string(), 1);
    let o = u.command().args(["sh", "-c", &script]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    // alice's uid is this user's.
    let expected: Vec<Vec<String>> = shown
        .iter()
        .map(|l| {
            words(l)
                .into_iter()
                .map(|w| if w == "1000" { u.uid.to_string() } else { w })
                .collect()
        })
        .collect();
    let got: Vec<Vec<String>> = stdout(&o).lines().map(words).collect();
    assert_eq!(
        got, expected,
        "lesson 3's rootless example drifted from the tool"
    );
}

#[test]
fn a_rootless_run_narrates_what_it_does_truthfully() {
    if !ready("rootless_honest") || !tool_or_skip("rootless_honest", "strace") {
        return;
    }
    let before = host_state();
    let u = User::make("f", Some(600000));
    if u.bin != bin() {
        skip(
            "rootless_honest",
            "the user cannot reach the glassbox under test",
        );
        return;
    }
    let t = strace::run_as_with(
        &u.name,
        &["run", "--rm", "busybox", "cat", "/proc/self/uid_map"],
        |c| {
            for (key, _) in std::env::vars_os() {
                let k = key.to_string_lossy();
                if k.starts_with("XDG_") || k.starts_with("GLASSBOX_") && k != "GLASSBOX_TRACE" {
                    c.env_remove(key);
                }
            }
            c.env("HOME", &u.home)
                .env("XDG_RUNTIME_DIR", u.home.join(".run"))
                .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
                .env("NO_COLOR", "1");
        },
    );
    assert_eq!(t.output.status.code(), Some(0), "{}", stderr(&t.output));
    assert!(
        stdout(&t.output).contains(" 600000 "),
        "{}",
        stdout(&t.output)
    );
    t.assert_honest();
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(host_state(), before);
}

#[test]
fn an_ordinary_user_s_commit_keeps_what_the_container_deleted() {
    if !ready("rootless_commit") {
        return;
    }
    let u = User::make("g", Some(700000));
    let o = u.glassbox(&[
        "-q",
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "rm -rf /etc && mkdir /etc && echo new > /etc/new",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = u.glassbox(&["-q", "commit", "c1", "mine:v1"]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    // /etc was replaced whole (an opaque directory): the image's passwd stays gone.
    let r = u.glassbox(&["-q", "run", "--rm", "mine:v1", "ls", "/etc"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert!(!stdout(&r).contains("passwd"), "{}", stdout(&r));
    assert!(stdout(&r).contains("new"), "{}", stdout(&r));
    for args in [["-q", "rm", "c1"], ["-q", "rmi", "mine:v1"]] {
        let o = u.glassbox(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(u.leftovers(), Vec::<String>::new());
}

/// A network namespace made for one test (`ip netns add`, lo up), deleted when dropped: what
/// the user-mode network reaches from there is loopback and nothing else.
struct Netns(String);

impl Netns {
    fn make(tag: &str) -> Netns {
        let name = format!("gbrl{tag}{}", std::process::id() % 100000);
        let ok = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
        assert!(ok(&["netns", "add", &name]), "ip netns add {name}");
        let ns = Netns(name);
        assert!(ok(&["-n", &ns.0, "link", "set", "lo", "up"]));
        ns
    }

    /// `ARGS…` as root inside the namespace.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// /dev/net/tun open to every user while the test runs (Debian's udev makes it 0666; some
/// machines keep it 0600), its mode put back when dropped. One test at a time holds it, so
/// that one putting the mode back never pulls it from under another.
struct TunOpen(
    Option<u32>,
    #[allow(dead_code)] std::sync::MutexGuard<'static, ()>,
);

static TUN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TunOpen {
    fn make() -> TunOpen {
        Self::with_mode(0o666)
    }

    /// /dev/net/tun with `mode` while the test runs.
    fn with_mode(wanted: u32) -> TunOpen {
        use std::os::unix::fs::PermissionsExt;
        let one = TUN.lock().unwrap_or_else(|e| e.into_inner());
        let tun = Path::new("/dev/net/tun");
        let mode = std::fs::metadata(tun).unwrap().permissions().mode() & 0o7777;
        if mode == wanted {
            return TunOpen(None, one);
        }
        std::fs::set_permissions(tun, std::fs::Permissions::from_mode(wanted)).unwrap();
        TunOpen(Some(mode), one)
    }
}

impl Drop for TunOpen {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(mode) = self.0 {
            let _ = std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(mode));
        }
    }
}

/// The parent of the user's process named `comm` (a container's PID 1: its supervisor).
fn parent_of(uid: u32, comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let status = std::fs::read_to_string(e.path().join("status")).ok()?;
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .map(String::from)
        };
        (field("Name:")? == comm && field("Uid:")? == uid.to_string())
            .then(|| field("PPid:")?.parse().ok())
            .flatten()
    })
}

#[test]
fn a_published_port_reaches_a_rootless_container_over_the_user_mode_network() {
    if !ready("rootless_usernet")
        || !tool_or_skip("rootless_usernet", "slirp4netns")
        || !tool_or_skip("rootless_usernet", "ip")
    {
        return;
    }
    let ns = Netns::make("n");
    let _tun = TunOpen::make();
    let before = host_state();
    let u = User::make("n", Some(800000));
    let gb = |args: &[&str]| {
        u.command_in(Some(&ns.0))
            .arg(&u.bin)
            .args(args)
            .output()
            .unwrap()
    };
    // An interface with slirp's address and a default route through its gateway.
    let o = gb(&[
        "-q",
        "run",
        "--rm",
        "--network",
        "bridge",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.contains("inet 10.0.2.100/24"), "{out}");
    assert!(out.contains("default via 10.0.2.2 dev eth0"), "{out}");
    assert_eq!(u.processes(), Vec::<String>::new(), "slirp4netns ended");
    // A published port reaches busybox httpd in a detached container.
    let port = 18000 + std::process::id() % 1000;
    let publish = format!("127.0.0.1:{port}:80");
    let o = gb(&[
        "-q",
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "bridge",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello from the container > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let url = format!("http://127.0.0.1:{port}/");
    let mut got = String::new();
    for _ in 0..50 {
        got = stdout(&ns.run(&["busybox", "wget", "-q", "-O-", &url]));
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "hello from the container\n");
    assert_eq!(
        stdout(&gb(&["port", "web"])),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    // glassbox's supervisor killed: slirp4netns ends with it (its exit pipe closed), and rm
    // strikes what the supervisor journaled.
    let supervisor = parent_of(u.uid, "httpd").expect("the container's supervisor");
    let _ = Command::new("kill")
        .args(["-KILL", &supervisor.to_string()])
        .status();
    assert_eq!(u.processes(), Vec::<String>::new());
    let r = gb(&["-q", "rm", "-f", "web"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(host_state(), before);
}

#[test]
fn a_rootless_container_s_config_json_and_inspect_show_its_id_mappings() {
    if !ready("rootless_idmap") {
        return;
    }
    let u = User::make("m", Some(900000));
    let o = u.glassbox(&["-q", "run", "--name", "c", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let uid = u.uid;
    let expected = [format!("0:{uid}:1"), "1:900000:65536".to_string()];
    // The bundle says what glassbox made, for runc or glassbox's runtime to read.
    let dir = std::fs::read_dir(u.data().join("containers"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let maps = |k: &str| -> Vec<String> {
        spec["linux"][k]
            .as_array()
            .unwrap_or_else(|| panic!("no {k} in config.json: {}", spec["linux"]))
            .iter()
            .map(|m| format!("{}:{}:{}", m["containerID"], m["hostID"], m["size"]))
            .collect()
    };
    assert_eq!(maps("uidMappings"), expected);
    assert_eq!(maps("gidMappings"), expected);
    let i = u.glassbox(&["inspect", "c"]);
    assert_eq!(i.status.code(), Some(0), "{}", stderr(&i));
    let v: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
    assert_eq!(
        v[0]["HostConfig"]["IDMappings"]["UidMap"],
        serde_json::json!(expected),
        "{v}"
    );
    // Read back, the mapping is the rootless one again (not --userns private).
    let s = u.glassbox(&["-q", "start", "c"]);
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    let s = u.glassbox(&["wait", "c"]);
    assert_eq!(stdout(&s), "0\n");
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    let r = u.glassbox(&["-q", "rm", "c"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(u.leftovers(), Vec::<String>::new());
}

#[test]
fn the_stage_subcommands_and_pause_work_or_say_why_for_an_ordinary_user() {
    if !ready("rootless_stages") {
        return;
    }
    let before = host_state();
    let u = User::make("s", Some(1000000));
    // The image's directory, made by a first run.
    let o = u.glassbox(&["-q", "run", "--rm", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let root = u.data().join("images/busybox/rootfs");
    let (root, bin) = (root.to_str().unwrap(), u.bin.to_str().unwrap());
    // In a user namespace of its own (the seed's first command), each stage works.
    let inside = |args: &[&str]| {
        let mut all = vec!["-q", "unshare", "--user", "--map-root-user", "--mount"];
        all.extend(["--pid", "--fork", "--", bin, "-q"]);
        all.extend(args);
        u.glassbox(&all)
    };
    for (args, out) in [
        (
            vec!["chroot", root, "--", "/bin/cat", "/etc/hostname"],
            None,
        ),
        (
            vec!["pivot-root", root, "--", "/bin/ls", "/bin/busybox"],
            Some("/bin/busybox\n"),
        ),
        (
            vec!["mount", "--root", root, "proc", "tmp", "--", "/bin/true"],
            Some(""),
        ),
    ] {
        let o = inside(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        if let Some(out) = out {
            assert_eq!(stdout(&o), out, "{args:?}");
        }
    }
    // Without one, or where the host's root is needed, one sentence says why.
    for (args, says) in [
        (
            vec!["chroot", root, "--", "/bin/true"],
            "needs CAP_SYS_CHROOT",
        ),
        (
            vec!["cgroup", "--pids", "20", "--", "true"],
            "no cgroup v2 subtree",
        ),
        (
            vec!["net", "--network", "bridge", "--", "true"],
            "glassbox net --network bridge needs root",
        ),
    ] {
        let o = u.glassbox(&args);
        let err = stderr(&o);
        if args[0] == "cgroup" && !err.contains("glassbox: error:") {
            continue; // a delegated subtree: the limits apply, as for root
        }
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    }
    // pause: the freezer of the container's cgroup, which needs a delegated subtree.
    let o = u.glassbox(&["-q", "run", "-d", "--name", "p", "busybox", "sleep", "600"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = u.glassbox(&["-q", "pause", "p"]);
    if p.status.success() {
        let ps = stdout(&u.glassbox(&["ps"]));
        assert!(ps.contains("Paused"), "{ps}");
        let un = u.glassbox(&["-q", "unpause", "p"]);
        assert_eq!(un.status.code(), Some(0), "{}", stderr(&un));
    } else {
        let err = stderr(&p);
        assert_eq!(p.status.code(), Some(1), "{err}");
        assert!(
            err.contains("cannot pause container p without root here")
                && err.contains("delegated to you"),
            "{err}"
        );
    }
    let r = u.glassbox(&["-q", "rm", "-f", "p"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(u.processes(), Vec::<String>::new());
    assert_eq!(host_state(), before);
}

#[test]
fn a_rootless_user_mode_network_is_narrated_truthfully() {
    if !ready("rootless_usernet_honest")
        || !tool_or_skip("rootless_usernet_honest", "strace")
        || !tool_or_skip("rootless_usernet_honest", "slirp4netns")
    {
        return;
    }
    let ns = Netns::make("h");
    let _tun = TunOpen::make();
    let u = User::make("h", Some(1100000));
    if u.bin != bin() {
        skip(
            "rootless_usernet_honest",
            "the user cannot reach the glassbox under test",
        );
        return;
    }
    let publish = format!("127.0.0.1:{}:80", 19000 + std::process::id() % 1000);
    let args = [
        "run",
        "--rm",
        "--network",
        "bridge",
        "-p",
        &publish,
        "busybox",
        "true",
    ];
    let t = strace::run_as_prefixed(&["ip", "netns", "exec", &ns.0], &u.name, &args, |c| {
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("XDG_") || k.starts_with("GLASSBOX_") && k != "GLASSBOX_TRACE" {
                c.env_remove(key);
            }
        }
        c.env("HOME", &u.home)
            .env("XDG_RUNTIME_DIR", u.home.join(".run"))
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .env("NO_COLOR", "1");
    });
    assert_eq!(t.output.status.code(), Some(0), "{}", stderr(&t.output));
    assert!(stderr(&t.output).contains("$ slirp4netns "));
    t.assert_honest();
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(u.processes(), Vec::<String>::new());
}

#[test]
fn without_dev_net_tun_the_user_mode_network_says_what_to_do() {
    if !ready("rootless_no_tun") || !tool_or_skip("rootless_no_tun", "slirp4netns") {
        return;
    }
    let ns = Netns::make("t");
    let _tun = TunOpen::with_mode(0o600);
    let u = User::make("t", Some(1200000));
    let o = u
        .command_in(Some(&ns.0))
        .arg(&u.bin)
        .args([
            "-q",
            "run",
            "--rm",
            "--network",
            "bridge",
            "busybox",
            "true",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("open(\"/dev/net/tun\"): Permission denied"),
        "{err}"
    );
    assert!(err.contains("as root, chmod 0666 /dev/net/tun"), "{err}");
    assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    assert_eq!(u.leftovers(), Vec::<String>::new());
    assert_eq!(u.processes(), Vec::<String>::new());
}

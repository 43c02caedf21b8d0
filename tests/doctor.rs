//! `glassbox doctor` on the real host: its reading of the cgroup layout against an
//! independent reading of /proc/self/mountinfo, its JSON, its exit-code rule, and the overlay
//! probe leaving the host as it was (checked under strace by the honesty harness).

mod common;
use common::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;

fn doctor_json(adjust: impl FnOnce(&mut std::process::Command)) -> (Value, i32) {
    let mut c = glassbox();
    c.args(["doctor", "--json"]);
    adjust(&mut c);
    let o = c.output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}): {}", stdout(&o)));
    (v, o.status.code().expect("doctor exits, not killed"))
}

fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v}"))
}

/// Where each controller is, read here without glassbox's code: a v1 `cgroup` mount whose
/// super options name it, else the cgroup2 mount if its cgroup.controllers offers it.
/// Each controller and where it lives: (cgroup version, mount point), if anywhere.
type Places = Vec<(String, Option<(u64, String)>)>;

fn expected_places() -> (String, Places) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v1: Vec<(Vec<String>, String)> = Vec::new();
    let mut v2: Option<String> = None;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ").unwrap();
        let point = left.split(' ').nth(4).unwrap().to_string();
        let mut r = right.split(' ');
        let fstype = r.next().unwrap();
        let _source = r.next();
        let opts = r.next().unwrap_or("");
        match fstype {
            "cgroup" => v1.push((opts.split(',').map(String::from).collect(), point)),
            "cgroup2" if v2.is_none() => v2 = Some(point),
            _ => {}
        }
    }
    let v2_offers = v2
        .as_ref()
        .and_then(|m| std::fs::read_to_string(format!("{m}/cgroup.controllers")).ok())
        .unwrap_or_default();
    let places = ["memory", "cpu", "pids"]
        .iter()
        .map(|ctrl| {
            let place = v1
                .iter()
                .find(|(o, _)| o.iter().any(|x| x == ctrl))
                .map(|(_, p)| (1, p.clone()))
                .or_else(|| {
                    v2.as_ref()
                        .filter(|_| v2_offers.split_whitespace().any(|c| c == *ctrl))
                        .map(|p| (2, p.clone()))
                });
            (ctrl.to_string(), place)
        })
        .collect();
    let has_v1 = v1
        .iter()
        .any(|(o, _)| o.iter().any(|x| !x.starts_with("name=") && x != "rw"));
    let layout = match (has_v1, v2.is_some()) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "none",
    };
    (layout.to_string(), places)
}

#[test]
fn doctor_reads_the_real_hosts_cgroup_layout() {
    let (v, _) = doctor_json(|_| {});
    let (layout, places) = expected_places();
    assert_eq!(v["cgroup"]["layout"], layout.as_str(), "{}", v["cgroup"]);
    for (ctrl, place) in places {
        let got = &v["cgroup"]["controllers"][&ctrl];
        let line = check(&v, &format!("cgroup.{ctrl}"));
        match place {
            Some((ver, mount)) => {
                assert_eq!(got["version"], ver, "{ctrl}: {got}");
                assert_eq!(got["mount"], mount.as_str(), "{ctrl}: {got}");
                assert_eq!(line["status"], "ok");
                assert_eq!(
                    line["what"],
                    format!("{ctrl} controller: cgroup v{ver} at {mount}")
                );
            }
            None => {
                assert!(got.is_null(), "{ctrl}: {got}");
                assert_eq!(line["status"], "fail");
            }
        }
    }
    if layout == "hybrid" {
        // On a hybrid host (as this VM: v1 controllers, v2 at /sys/fs/cgroup/unified) the text
        // says where the v2 tree is and that the limits go to v1.
        let l = check(&v, "cgroup.layout");
        assert!(l["what"].as_str().unwrap().contains("hybrid"), "{l}");
        assert!(l["what"]
            .as_str()
            .unwrap()
            .contains(v["cgroup"]["v2_mount"].as_str().unwrap()));
    }
}

#[test]
fn doctor_json_exit_code_follows_the_required_checks() {
    let (v, code) = doctor_json(|_| {});
    let missing = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["required"] == true && c["status"] == "fail");
    assert_eq!(code, if missing { 1 } else { 0 }, "{v}");
    assert_eq!(v["exit_code"], code);
    assert_eq!(v["ready"], !missing);
    assert_eq!(v["root"], nix::unistd::geteuid().is_root());
    // Every line has the fields a tool would read.
    for c in v["checks"].as_array().unwrap() {
        assert!(c["id"].is_string() && c["what"].is_string(), "{c}");
        assert!(
            ["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
    }
    let kernel = nix::sys::utsname::uname().unwrap();
    assert_eq!(v["kernel"], kernel.release().to_str().unwrap());
}

#[test]
fn doctor_without_busybox_on_path_exits_1_and_says_how_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let o = glassbox()
        .arg("doctor")
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("✗ no busybox on PATH for the default rootfs (needed by run)"),
        "{out}"
    );
    assert!(out.contains("apt-get install busybox-static"), "{out}");
    assert!(
        out.contains("`glassbox run` cannot work here yet: missing"),
        "{out}"
    );
    assert!(out.contains("busybox"));
}

#[test]
fn doctor_finds_a_static_busybox_and_refuses_a_dynamic_one() {
    if !tool_or_skip("doctor_busybox", "busybox") {
        return;
    }
    let (v, _) = doctor_json(|_| {});
    let bb = check(&v, "busybox");
    // Compare with what ldd says about the same file.
    let path = v["busybox"]["path"].as_str().unwrap();
    let ldd_dynamic = std::process::Command::new("ldd")
        .arg(path)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert_eq!(
        bb["status"],
        if ldd_dynamic { "fail" } else { "ok" },
        "{bb}"
    );

    // A dynamically linked program named busybox first on PATH is refused.
    let dir = tempfile::tempdir().unwrap();
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let sh_dynamic = std::process::Command::new("ldd")
        .arg(&sh)
        .output()
        .map(|o| o.status.success())
        .unwrap();
    if !sh_dynamic {
        common::skip("the dynamic half", "/bin/sh is static here");
        return;
    }
    std::fs::copy(&sh, dir.path().join("busybox")).unwrap();
    let (v, code) = doctor_json(|c| {
        c.env("PATH", dir.path());
    });
    assert_eq!(check(&v, "busybox")["status"], "fail");
    assert!(check(&v, "busybox")["what"]
        .as_str()
        .unwrap()
        .contains("dynamically linked"));
    assert_eq!(code, 1);
}

#[test]
fn doctor_as_a_normal_user_reports_rootless_readiness() {
    if !root_or_skip("doctor_as_a_normal_user_reports_rootless_readiness") {
        return;
    }
    // nobody, with a home it cannot write: its data directory cannot be made.
    let o = glassbox()
        .args(["doctor", "--json"])
        .env("HOME", "/nonexistent")
        .env_remove("XDG_DATA_HOME")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
    assert_eq!(o.status.code(), Some(1));
    // Not root is no longer a missing requirement: glassbox runs rootless.
    assert_eq!(check(&v, "root")["status"], "warn");
    assert!(check(&v, "root")["todo"].as_str().unwrap().contains("sudo"));
    assert_eq!(check(&v, "rootless.subuid")["status"], "warn");
    assert!(check(&v, "rootless.subuid")["todo"]
        .as_str()
        .unwrap()
        .contains("usermod --add-subuids"));
    assert!(check(&v, "rootless.newuidmap")["what"].is_string());
    assert!(check(&v, "rootless.cgroup")["what"].is_string());
    assert_eq!(check(&v, "rootless.data")["status"], "fail");
    assert!(check(&v, "rootless.data")["what"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/.local/share/glassbox"));
    // Without root the overlay mount is not tried.
    assert!(v["overlay_probe"].is_null());
    // A /dev/net/tun only root may open stops the user-mode network: said, with what to do.
    use std::os::unix::fs::PermissionsExt;
    let tun = std::fs::metadata("/dev/net/tun").map(|m| m.permissions().mode() & 0o006);
    let net = check(&v, "rootless.network");
    let slirp = std::path::Path::new("/usr/bin/slirp4netns").is_file();
    if tun.is_ok_and(|m| m != 0o006) && slirp {
        assert_eq!(net["status"], "warn");
        assert!(net["todo"]
            .as_str()
            .unwrap()
            .contains("chmod 0666 /dev/net/tun"));
    } else {
        assert!(net["what"].is_string());
    }
}

#[test]
fn doctor_overlay_probe_is_narrated_honestly_and_leaves_nothing() {
    if !root_or_skip("doctor_overlay_probe_is_narrated_honestly_and_leaves_nothing")
        || !tool_or_skip("doctor_overlay_probe", "strace")
    {
        return;
    }
    let mounts = host_mounts();
    let t = strace::run(&["doctor"]);
    assert!(
        t.output.status.code() == Some(0) || t.output.status.code() == Some(1),
        "{}",
        stderr(&t.output)
    );
    // doctor prints its own report: the probe says nothing on stderr.
    assert_eq!(stderr(&t.output), "");
    let names = t.narrated_names();
    assert_eq!(
        names.first().map(String::as_str),
        Some("clone"),
        "{names:?}"
    );
    let mount_data: Vec<String> = t
        .narrated()
        .iter()
        .filter(|e| e["name"] == "mount")
        .map(|e| e["args"][4].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        mount_data.iter().any(|d| d.contains("lowerdir=")),
        "no overlay mount was tried: {names:?}"
    );
    t.assert_honest();
    assert_eq!(host_mounts(), mounts, "the host's mount table changed");
    let out = stdout(&t.output);
    assert!(out.contains("overlay"), "{out}");
}

#[test]
fn doctor_text_is_plain_when_piped_and_coloured_when_asked() {
    let o = glassbox().arg("doctor").output().unwrap();
    let out = stdout(&o);
    assert!(
        !out.contains('\x1b'),
        "escape codes in piped output: {out:?}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("✓ ") || l.starts_with("✗ ")),
        "{out}"
    );
    assert!(out.contains("cgroup layout:"), "{out}");
    let o = glassbox()
        .args(["--color", "always", "doctor"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("\x1b["),
        "no colour with --color always"
    );
}

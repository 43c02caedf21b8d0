//! The spec builder, without root: `run`'s flags parsed and planned as `glassbox run
//! --dry-run` plans them, then turned into a spec.

use super::{annotation as key, build, file};
use crate::run::Plan;
use crate::stages::{mounts, security};
use clap::Parser;
use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccompAction, Spec};
use std::path::Path;

/// A root filesystem directory and the spec of `glassbox run ARGS… ROOTFS true`.
struct Made {
    _rootfs: tempfile::TempDir,
    plan: Plan,
    spec: Spec,
}

fn plan_of(args: &[&str], rootfs: &Path) -> Plan {
    let mut argv = vec!["glassbox", "--dry-run", "run"];
    argv.extend_from_slice(args);
    let root = rootfs.to_string_lossy().into_owned();
    argv.extend([root.as_str(), "true"]);
    let cli = crate::cli::Cli::try_parse_from(argv).expect("valid flags");
    let crate::cli::Command::Run(a) = cli.command else {
        unreachable!()
    };
    let n = crate::narrate::Narrator::new(&crate::narrate::NarrateOpts {
        level: crate::narrate::Level::Quiet,
        ..Default::default()
    })
    .unwrap();
    crate::run::plan(&a, &crate::sys::Sys::dry(&n)).expect("a valid plan")
}

fn made(args: &[&str]) -> Made {
    let rootfs = tempfile::tempdir().unwrap();
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp"] {
        std::fs::create_dir(rootfs.path().join(d)).unwrap();
    }
    let plan = plan_of(args, rootfs.path());
    let spec = build(&plan, Path::new("/bundle")).unwrap();
    Made {
        _rootfs: rootfs,
        plan,
        spec,
    }
}

fn json(spec: &Spec) -> serde_json::Value {
    serde_json::from_str(&file::to_json(spec)).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_default_run_is_the_container_docker_would_ask_runc_for() {
    let m = made(&["--name", "web", "-e", "A=b", "-w", "/etc"]);
    let v = json(&m.spec);
    assert_eq!(v["ociVersion"], oci_spec::runtime::VERSION);
    assert_eq!(strings(&v["process"]["args"]), ["true"]);
    assert!(strings(&v["process"]["env"]).contains(&"A=b".to_string()));
    assert_eq!(v["process"]["cwd"], "/etc");
    assert_eq!(v["process"]["user"]["uid"], 0);
    assert_eq!(v["process"]["noNewPrivileges"], true);
    assert!(v["process"].get("rlimits").is_none(), "no rlimits: {v}");
    let mut docker: Vec<String> = security::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    docker.sort();
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(strings(&v["process"]["capabilities"][set]), docker, "{set}");
    }
    assert!(strings(&v["process"]["capabilities"]["inheritable"]).is_empty());
    assert_eq!(v["hostname"], m.plan.hostname.as_str());
    assert_eq!(v["root"]["path"], "merged");
    let types: Vec<LinuxNamespaceType> = m
        .spec
        .linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect();
    use LinuxNamespaceType::*;
    // The cgroup namespace last: the child unshares it once it is in its cgroups.
    assert_eq!(types, [Pid, Network, Ipc, Uts, Mount, Cgroup]);
    let dests: Vec<String> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap().to_string())
        .collect();
    // runc's default spec's order: /sys after /dev's.
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    assert_eq!(
        v["linux"]["cgroupsPath"],
        format!("/glassbox/gb-{}", m.plan.id)
    );
    assert_eq!(strings(&v["linux"]["maskedPaths"]), mounts::MASKED);
    assert_eq!(strings(&v["linux"]["readonlyPaths"]), mounts::READONLY);
    let seccomp = m.spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActAllow);
    let rules = seccomp.syscalls().as_ref().unwrap();
    let rule = &rules[0];
    assert_eq!(rule.action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(rule.errno_ret(), Some(libc::EPERM as u32));
    let docker = security::SecurityPlan::docker_default().caps;
    assert_eq!(rule.names(), &security::denied_syscalls(docker));
    // Without CAP_SYS_ADMIN: clone with any namespace flag, and clone3 (ENOSYS).
    let clones: Vec<u64> = rules
        .iter()
        .filter(|r| r.names() == &["clone"])
        .map(|r| r.args().as_ref().unwrap()[0].value())
        .collect();
    assert_eq!(clones.len(), security::CLONE_NAMESPACE_FLAGS.len());
    assert!(clones.contains(&(libc::CLONE_NEWUSER as u64)));
    let clone3 = rules.iter().find(|r| r.names() == &["clone3"]).unwrap();
    assert_eq!(clone3.errno_ret(), Some(libc::ENOSYS as u32));
    // No limits: a cgroup all the same (checked above), holding only the devices rule:
    // deny all, then runc's default allowlist (/dev/null is c 1:3).
    assert!(v["linux"]["resources"].get("memory").is_none());
    let devices = v["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(devices[0]["allow"], false);
    assert!(devices
        .iter()
        .any(|d| d["allow"] == true && d["major"] == 1 && d["minor"] == 3));
    assert!(v["linux"].get("uidMappings").is_none());
    let a = &v["annotations"];
    assert_eq!(a[key::NAME], "web");
    assert_eq!(a[key::ROOTFS], "overlay");
    assert_eq!(a[key::NETWORK], "none");
    let lower = a[key::OVERLAY_LOWERDIR].as_str().unwrap();
    assert!(lower.starts_with("/bundle/init:"), "{lower}");
    assert!(lower.ends_with(&*m.plan.image.rootfs.to_string_lossy()));
    assert_eq!(a[key::OVERLAY_UPPERDIR], "/bundle/upper");
}

#[test]
fn limits_become_cgroup_resources() {
    let m = made(&[
        "--name",
        "lim",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "20",
    ]);
    let v = json(&m.spec);
    let r = &v["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(r["memory"]["swap"], 128 << 20);
    assert_eq!(r["cpu"]["quota"], 50_000);
    assert_eq!(r["cpu"]["period"], 100_000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["pids"]["limit"], 20);
    assert_eq!(
        v["linux"]["cgroupsPath"],
        format!("/glassbox/gb-{}", m.plan.id)
    );
    assert_eq!(
        json(&made(&["--pids-limit=-1"]).spec)["linux"]["resources"]["pids"]["limit"],
        -1
    );
}

#[test]
fn every_device_but_the_containers_own_is_denied() {
    let v = json(&made(&[]).spec);
    let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules[0]["allow"], false);
    assert!(
        rules[0].get("major").is_none(),
        "the first rule is deny-all"
    );
    for (name, major, minor) in mounts::DEVICES {
        assert!(
            rules
                .iter()
                .any(|r| r["allow"] == true && r["major"] == *major && r["minor"] == *minor),
            "/dev/{name} is not allowed"
        );
    }
    assert_eq!(
        v["linux"]["devices"].as_array().unwrap().len(),
        mounts::DEVICES.len()
    );
}

#[test]
fn flags_change_the_spec_as_they_change_the_container() {
    // A non-root user: the capabilities are only a bound, as glassbox's setuid leaves them.
    let v = json(&made(&["--user", "1000:1000", "--read-only"]).spec);
    assert_eq!(v["process"]["user"]["uid"], 1000);
    assert!(strings(&v["process"]["capabilities"]["effective"]).is_empty());
    assert_eq!(strings(&v["process"]["capabilities"]["bounding"]).len(), 14);
    assert_eq!(v["root"]["readonly"], true);
    assert!(!v["annotations"][key::OVERLAY_OPTIONS]
        .as_str()
        .unwrap()
        .contains("upperdir"));

    // The host's network: no namespace of its own, and no sysfs (it belongs to one).
    let v = json(&made(&["--network", "host"]).spec);
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(!ns.iter().any(|n| n["type"] == "network"));
    assert!(!v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["destination"] == "/sys"));
    assert!(!strings(&v["linux"]["maskedPaths"])
        .iter()
        .any(|p| p.starts_with("/sys/")));

    // CAP_SYS_ADMIN opens the namespace calls again, as in the filter.
    let v = json(&made(&["--cap-add", "SYS_ADMIN"]).spec);
    let rules = v["linux"]["seccomp"]["syscalls"].as_array().unwrap();
    assert!(!rules
        .iter()
        .any(|r| strings(&r["names"]).contains(&"clone3".to_string())));
    assert!(!strings(&rules[0]["names"]).contains(&"mount".to_string()));

    let v = json(&made(&["--privileged", "--security-opt", "systempaths=unconfined"]).spec);
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(v["process"]["noNewPrivileges"], false);
    assert!(strings(&v["linux"]["maskedPaths"]).is_empty());

    let vol = tempfile::tempdir().unwrap();
    let volume = format!("{}:/data:ro", vol.path().display());
    let v = json(
        &made(&[
            "--volume",
            &volume,
            "--tmpfs",
            "/scratch:8m",
            "--no-overlay",
        ])
        .spec,
    );
    let mounts = v["mounts"].as_array().unwrap();
    let data = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
    assert_eq!(data["type"], "bind");
    assert_eq!(strings(&data["options"]), ["rbind", "rro"]);
    let scratch = mounts
        .iter()
        .find(|m| m["destination"] == "/scratch")
        .unwrap();
    assert!(strings(&scratch["options"]).contains(&"size=8m".to_string()));
    assert_eq!(v["root"]["path"], "rootfs");
    assert_eq!(v["annotations"][key::ROOTFS], "copy");
}

#[test]
fn a_rootless_container_has_the_mapping_glassbox_made() {
    let mut m = made(&[]);
    let range = |start| crate::store::idmap::Range {
        start,
        count: 65_536,
    };
    let mut ids = crate::run::rootless::Ids {
        uid: 1000,
        gid: 1001,
        ranges: Some((range(100_000), range(300_000))),
        source: String::new(),
        cgroups: None,
    };
    m.plan.rootless = Some(ids.clone());
    let v = json(&build(&m.plan, Path::new("/bundle")).unwrap());
    let maps = |k: &str| -> Vec<(u64, u64, u64)> {
        v["linux"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let n = |f: &str| m[f].as_u64().unwrap();
                (n("containerID"), n("hostID"), n("size"))
            })
            .collect()
    };
    assert_eq!(maps("uidMappings"), [(0, 1000, 1), (1, 100_000, 65_536)]);
    assert_eq!(maps("gidMappings"), [(0, 1001, 1), (1, 300_000, 65_536)]);
    // Without a range: the user alone, as root.
    ids.ranges = None;
    m.plan.rootless = Some(ids);
    let v = json(&build(&m.plan, Path::new("/bundle")).unwrap());
    assert_eq!(v["linux"]["uidMappings"].as_array().unwrap().len(), 1);
    assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
}

#[test]
fn a_private_user_namespace_has_its_id_maps() {
    let mut m = made(&[]);
    m.plan.userns = Some(crate::store::idmap::Mapping {
        uids: crate::store::idmap::Range {
            start: 100_000,
            count: 65_536,
        },
        gids: crate::store::idmap::Range {
            start: 200_000,
            count: 1_000,
        },
        source: String::new(),
    });
    let v = json(&build(&m.plan, Path::new("/bundle")).unwrap());
    assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 100_000);
    assert_eq!(v["linux"]["uidMappings"][0]["containerID"], 0);
    assert_eq!(v["linux"]["uidMappings"][0]["size"], 65_536);
    assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 200_000);
    assert!(v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
    // overlayfs in a user namespace keeps its markers in user.* xattrs.
    assert!(v["annotations"][key::OVERLAY_OPTIONS]
        .as_str()
        .unwrap()
        .starts_with("userxattr,"));
}

#[test]
fn the_text_is_stable_and_reads_back() {
    let m = made(&[]);
    let text = file::to_json(&m.spec);
    assert_eq!(
        text,
        file::to_json(&build(&m.plan, Path::new("/bundle")).unwrap())
    );
    let back: Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(back, m.spec);
}

#[test]
fn privileged_allows_every_device_as_docker_does() {
    let v = json(&made(&["--privileged"]).spec);
    let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["allow"], true);
    assert_eq!(rules[0]["access"], "rwm");
}

/// config.json is what runs: the plan read back from the spec is the plan that made it.
#[test]
fn the_plan_read_back_from_the_spec_is_the_plan() {
    let vol = tempfile::tempdir().unwrap();
    let volume = format!("{}:/data:ro", vol.path().display());
    let rw = format!("{}:/rw", vol.path().display());
    let combos: Vec<Vec<&str>> = vec![
        vec![],
        vec![
            "--name",
            "web",
            "-e",
            "A=b",
            "-w",
            "/etc",
            "--hostname",
            "h1",
        ],
        vec!["--user", "1000:1000", "--read-only"],
        vec!["--user", "0:0"],
        vec!["--network", "host"],
        vec!["--network", "bridge", "-p", "8080:80", "-p", "53:53/udp"],
        vec![
            "--network",
            "bridge",
            "-p",
            "127.0.0.1:8081:80",
            "-p",
            "127.0.0.1::81",
            "-p",
            "82",
            "-p",
            "9000-9001:9000-9001/udp",
        ],
        vec![
            "--add-host",
            "db:10.1.2.3",
            "--dns",
            "10.0.0.53",
            "--network-alias",
            "web",
        ],
        vec!["--cap-add", "SYS_ADMIN", "--cap-drop", "CHOWN"],
        vec!["--privileged"],
        vec!["--security-opt", "systempaths=unconfined"],
        vec!["--security-opt", "seccomp=unconfined"],
        vec!["--security-opt", "no-new-privileges=false"],
        vec![
            "--volume",
            &volume,
            "--volume",
            &rw,
            "--tmpfs",
            "/scratch:8m",
        ],
        vec!["--tmpfs", "/tmp", "--no-overlay"],
        vec!["--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5"],
        vec!["--cpu-shares", "512", "--pids-limit", "20"],
        vec!["--memory", "64m", "--memory-swap=-1", "--pids-limit=-1"],
        vec!["-i", "--rm"],
        vec!["--skip", "namespaces", "--hostname", "h2"],
        vec!["--skip", "security", "--cap-add", "NET_ADMIN"],
        vec!["--skip", "cgroup", "--memory", "64m"],
        vec!["--skip", "mounts", "--volume", &volume],
        vec!["--skip", "rootfs", "--tmpfs", "/x"],
        vec!["--skip", "network"],
        vec!["--only", "rootfs", "--only", "mounts"],
        vec!["--only", "security"],
    ];
    for args in combos {
        let m = made(&args);
        let back = crate::run::Plan::from_spec(&m.spec, Path::new("/bundle")).unwrap();
        assert_eq!(back, m.plan, "glassbox run {}", args.join(" "));
    }
    // What flags cannot reach in a dry run: a terminal, a private user namespace.
    let mut m = made(&[]);
    m.plan.tty = true;
    m.plan.userns = Some(crate::store::idmap::Mapping {
        uids: crate::store::idmap::Range {
            start: 100_000,
            count: 65_536,
        },
        gids: crate::store::idmap::Range {
            start: 200_000,
            count: 1_000,
        },
        source: "/etc/subuid".into(),
    });
    let spec = build(&m.plan, Path::new("/bundle")).unwrap();
    let back = crate::run::Plan::from_spec(&spec, Path::new("/bundle")).unwrap();
    assert_eq!(back, m.plan);
}

/// The filesystems' options are those the mount stage mounts them with (as before they
/// were taken from the stage itself).
#[test]
fn the_filesystems_have_the_mount_stages_flags_and_data() {
    let v = json(&made(&[]).spec);
    let mounts = v["mounts"].as_array().unwrap();
    let of = |dest: &str| {
        let m = mounts.iter().find(|m| m["destination"] == dest).unwrap();
        (
            m["type"].as_str().unwrap().to_string(),
            m["source"].as_str().unwrap().to_string(),
            strings(&m["options"]).join(","),
        )
    };
    let want = |t: &str, s: &str, o: &str| (t.to_string(), s.to_string(), o.to_string());
    assert_eq!(of("/proc"), want("proc", "proc", "nosuid,nodev,noexec"));
    assert_eq!(of("/sys"), want("sysfs", "sysfs", "ro,nosuid,nodev,noexec"));
    assert_eq!(
        of("/dev"),
        want("tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k")
    );
    assert_eq!(
        of("/dev/pts"),
        want(
            "devpts",
            "devpts",
            "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"
        )
    );
    assert_eq!(
        of("/dev/shm"),
        want("tmpfs", "shm", "nosuid,nodev,noexec,mode=1777,size=65536k")
    );
}

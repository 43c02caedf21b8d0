//! The isolation stages (unshare, chroot, pivot-root, mount, enter) on the real kernel, with a
//! busybox root filesystem made by rootfs-scripts/busybox.sh; each run that makes isolation
//! calls also goes through the strace-honesty harness, and every root test checks that the
//! host's mount table is the same before and after.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A busybox root filesystem in a temporary directory (removed on drop).
struct Rootfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn rootfs() -> Rootfs {
    let dir = tempfile::Builder::new()
        .prefix("gb-iso-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-scripts/busybox.sh");
    let o = Command::new("sh").arg(&script).arg(&path).output().unwrap();
    assert!(o.status.success(), "busybox.sh failed: {}", stderr(&o));
    Rootfs { _dir: dir, path }
}

fn gb() -> String {
    bin().to_string_lossy().into_owned()
}

/// Root, strace and busybox are there (or the test is skipped; a failure under CI=true).
fn ready(test: &str) -> bool {
    root_or_skip(test) && tool_or_skip(test, "strace") && tool_or_skip(test, "busybox")
}

/// Compare the host's mount table with what it was before the test, on drop too.
struct MountsUnchanged(Mounts);

impl MountsUnchanged {
    fn now() -> Self {
        MountsUnchanged(host_mounts())
    }
}

impl Drop for MountsUnchanged {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(host_mounts(), self.0, "the host's mount table changed");
        }
    }
}

#[test]
fn the_by_hand_chain_makes_a_container_from_a_busybox_rootfs() {
    if !ready("the_by_hand_chain") {
        return;
    }
    let r = rootfs();
    let root = r.path.to_str().unwrap();
    let _m = MountsUnchanged::now();
    let host_name = nix::unistd::gethostname().unwrap();
    let script = "echo pid=$$; hostname; ps -o pid,comm > /tmp/ps; tail -n +2 /tmp/ps | tr -s ' ' | tr '\\n' ,; echo; \
        ls /sys/class/net | tr '\\n' ,; echo; \
        echo keys=$(cat /proc/keys | wc -c); echo x > /proc/keys; echo keys-after=$(cat /proc/keys | wc -c); \
        touch /proc/acpi/gb 2>/dev/null || echo acpi-ro; \
        mkdir /sys/gb 2>/dev/null || echo sys-ro; \
        (echo gb > /proc/sys/kernel/domainname) 2>/dev/null || echo procsys-ro; \
        ls /dev | tr '\\n' ,; echo; \
        test -d /tmp/gb-iso-old || echo no-host; \
        grep -c . /proc/self/mountinfo";
    let t = strace::run(&[
        "unshare",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--pid",
        "--fork",
        "--hostname",
        "box",
        "--",
        &gb(),
        "mount",
        "--root",
        root,
        "proc",
        "sys",
        "tmp",
        "dev",
        "devpts",
        "shm",
        "--",
        &gb(),
        "pivot-root",
        root,
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    let out = stdout(&t.output);
    assert!(t.output.status.success(), "{}\n{out}", stderr(&t.output));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    assert_eq!(lines[1], "box", "{out}");
    // ps sees the shell as PID 1 and itself, nothing of the host.
    let procs: Vec<Vec<&str>> = lines[2]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split_whitespace().collect())
        .collect();
    assert_eq!(procs.len(), 2, "ps saw {procs:?}");
    assert_eq!(procs[0], vec!["1", "sh"], "ps saw {procs:?}");
    assert_eq!(procs[1][1], "ps", "ps saw {procs:?}");
    assert_eq!(
        lines[3], "lo,",
        "only lo in the new network namespace: {out}"
    );
    assert_eq!(lines[4], "keys=0", "masked /proc/keys reads empty: {out}");
    assert_eq!(
        lines[5], "keys-after=0",
        "a write to masked /proc/keys lands nowhere: {out}"
    );
    assert_eq!(lines[6], "acpi-ro", "{out}");
    assert_eq!(lines[7], "sys-ro", "/sys is read-only inside: {out}");
    assert_eq!(
        lines[8], "procsys-ro",
        "/proc/sys is read-only inside: {out}"
    );
    assert_eq!(
        lines[9], "fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero,",
        "only the safe devices in /dev"
    );
    assert_eq!(lines[10], "no-host", "{out}");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_name);
    let names = t.narrated_names();
    let pr = names
        .iter()
        .position(|n| n == "pivot_root")
        .expect("pivot_root narrated");
    assert_eq!(
        names[pr + 1],
        "umount2",
        "the old root is detached right after the pivot"
    );
    t.assert_honest();
}

#[test]
fn ps_in_a_new_pid_namespace_with_its_own_proc_shows_pid_1_only() {
    if !ready("ps_shows_pid_1_only") || !tool_or_skip("ps_shows_pid_1_only", "ps") {
        return;
    }
    let _m = MountsUnchanged::now();
    let t = strace::run(&[
        "unshare",
        "--pid",
        "--fork",
        "--mount",
        "--",
        &gb(),
        "mount",
        "proc",
        "--",
        "ps",
        "-e",
        "-o",
        "pid=",
    ]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output).trim(), "1", "ps saw more than itself");
    t.assert_honest();
}

#[test]
fn an_ipc_object_made_inside_is_invisible_outside() {
    if !ready("ipc") || !tool_or_skip("ipc", "ipcmk") {
        return;
    }
    let host_queues = || stdout(&Command::new("ipcs").arg("-q").output().unwrap());
    let before = host_queues();
    let t = strace::run(&[
        "unshare",
        "--ipc",
        "--",
        "sh",
        "-c",
        "ipcmk -Q >/dev/null && ipcs -q | grep -c '^0x'",
    ]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output).trim(), "1", "the queue is there inside");
    assert_eq!(host_queues(), before, "the host saw the queue made inside");
    t.assert_honest();
}

#[test]
fn a_new_network_namespace_has_only_lo() {
    if !ready("net_only_lo") {
        return;
    }
    let t = strace::run(&[
        "unshare",
        "--net",
        "--",
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    ]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output), "lo\n");
    t.assert_honest();
}

#[test]
fn map_root_user_as_nobody_is_root_inside_and_nobody_outside() {
    if !ready("map_root_user") {
        return;
    }
    let t = strace::run_as(
        "nobody",
        &[
            "unshare",
            "--user",
            "--map-root-user",
            "--",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; sleep 0 & echo $!",
        ],
    );
    let out = stdout(&t.output);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "uid inside");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        map,
        vec!["0", "65534", "1"],
        "uid 0 inside is 65534 outside"
    );
    t.assert_honest();
    // Outside, the same process runs as the real uid (nobody): the host's /proc says so.
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args([
            "-q",
            "unshare",
            "--user",
            "--map-root-user",
            "--",
            "sh",
            "-c",
        ])
        .arg("id -u; sleep 30 & echo $!; wait")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut inside, mut pid_line) = (String::new(), String::new());
    std::io::BufRead::read_line(&mut reader, &mut inside).unwrap();
    std::io::BufRead::read_line(&mut reader, &mut pid_line).unwrap();
    let pid: i32 = pid_line.trim().parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    assert_eq!(inside, "0\n", "uid inside");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("65534"),
        "outside, the process runs as the real uid: {uid_line}"
    );
}

const ESCAPE_C: &str = r#"
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
/* The classic chroot escape: chroot into a subdirectory, so the working directory is left
   outside the root; climb with ..; make what is reached the root. argv[1] is a path that
   exists only on the host. */
int main(int argc, char **argv) {
    struct stat st;
    mkdir("gb-escape", 0755);
    if (chroot("gb-escape") != 0) { perror("chroot"); return 2; }
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    if (argc > 1 && stat(argv[1], &st) == 0) { puts("ESCAPED"); return 0; }
    puts("CONTAINED");
    return 1;
}
"#;

/// Compile the escape helper statically into the root filesystem as /escape.
fn build_escape(r: &Rootfs) -> bool {
    if !tool_or_skip("chroot_escape", "gcc") {
        return false;
    }
    let src = r.path.parent().unwrap().join("escape.c");
    std::fs::write(&src, ESCAPE_C).unwrap();
    let o = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(r.path.join("escape"))
        .arg(&src)
        .output()
        .unwrap();
    if !o.status.success() {
        let msg = format!(
            "gcc -static failed (is libc6-dev installed?): {}",
            stderr(&o)
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        common::skip("chroot escape", &msg);
        return false;
    }
    true
}

#[test]
fn the_chroot_escape_reaches_the_host_under_chroot_but_not_under_pivot_root() {
    if !ready("chroot_escape") {
        return;
    }
    let r = rootfs();
    if !build_escape(&r) {
        return;
    }
    let marker_dir = tempfile::Builder::new()
        .prefix("gb-host-marker-")
        .tempdir()
        .unwrap();
    let marker = marker_dir.path().join("only-on-the-host");
    std::fs::write(&marker, "host").unwrap();
    let root = r.path.to_str().unwrap();
    let m = marker.to_str().unwrap();
    let _mounts = MountsUnchanged::now();

    let t = strace::run(&["chroot", root, "--", "/escape", m]);
    assert_eq!(stdout(&t.output), "ESCAPED\n", "{}", stderr(&t.output));
    assert_eq!(t.narrated_names(), vec!["chroot", "chdir", "execve"]);
    t.assert_honest();

    let t = strace::run(&[
        "unshare",
        "--mount",
        "--",
        &gb(),
        "pivot-root",
        root,
        "--",
        "/escape",
        m,
    ]);
    assert_eq!(stdout(&t.output), "CONTAINED\n", "{}", stderr(&t.output));
    assert_eq!(t.output.status.code(), Some(1));
    t.assert_honest();
}

#[test]
fn enter_joins_a_running_containers_namespaces_root_and_cwd() {
    if !ready("enter") {
        return;
    }
    let r = rootfs();
    let root = r.path.to_str().unwrap();
    let _m = MountsUnchanged::now();
    let child = glassbox()
        .args([
            "-q",
            "unshare",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--fork",
            "--hostname",
            "entered",
            "--",
            &gb(),
            "-q",
            "mount",
            "--root",
            root,
            "proc",
            "--",
            &gb(),
            "-q",
            "pivot-root",
            root,
            "--",
            "/bin/sh",
            "-c",
            "cd /etc && echo ready && exec sleep 600",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let guard = Kill::when_ready(child);
    // The sleeper is the grandchild of glassbox unshare: find it by its parent.
    let unshare_pid = guard.0.id();
    let sleeper = find_descendant_named(unshare_pid, "sleep").expect("the container's sleep");
    let _sleeper_guard = KillPid(sleeper);
    let t = strace::run(&[
        "enter", &sleeper.to_string(), "--", "/bin/sh", "-c",
        "hostname; pwd; ps -o pid,comm | tail -n +2 | grep -c sleep; ls /escape-none 2>&1 | grep -c 'No such'; test -e /bin/busybox && echo busybox",
    ]);
    let out = stdout(&t.output);
    assert!(t.output.status.success(), "{}\n{out}", stderr(&t.output));
    assert_eq!(
        out,
        "entered\n/etc\n1\n1\nbusybox\n",
        "{}",
        stderr(&t.output)
    );
    let names = t.narrated_names();
    assert_eq!(
        names.iter().filter(|n| *n == "setns").count(),
        5,
        "{names:?}"
    );
    t.assert_honest();
    drop(guard);
}

/// SIGKILL a process on drop: a PID 1 ignores SIGTERM, and killing glassbox (its parent,
/// outside the pid namespace) does not end it.
/// A container started by a test, stopped (SIGKILL) and reaped when the test ends, pass or
/// fail.
struct Kill(std::process::Child);

impl Kill {
    /// Take the child once it has printed `ready` (its container is built).
    fn when_ready(mut child: std::process::Child) -> Kill {
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let guard = Kill(child);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert_eq!(line, "ready\n");
        guard
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct KillPid(u32);

impl Drop for KillPid {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn find_descendant_named(pid: u32, name: &str) -> Option<u32> {
    for _ in 0..100 {
        let mut stack = vec![pid];
        while let Some(p) = stack.pop() {
            let children =
                std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
                if comm.trim() == name {
                    return Some(c);
                }
                stack.push(c);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

// ---- bad input: one clear sentence, docker's exit codes, nothing changed ----

fn fails_with(args: &[&str], code: i32, says: &str) {
    let o = glassbox().args(args).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?} should say {says:?}:\n{err}");
}

#[test]
fn a_missing_root_directory_is_refused() {
    if !root_or_skip("missing_dir") {
        return;
    }
    let _m = MountsUnchanged::now();
    fails_with(
        &["chroot", "/no/such/gb-root", "--", "/bin/sh"],
        125,
        "glassbox: error: the new root /no/such/gb-root cannot be used: ENOENT",
    );
    fails_with(
        &[
            "unshare",
            "--mount",
            "--",
            &gb(),
            "pivot-root",
            "/no/such/gb-root",
            "--",
            "/bin/sh",
        ],
        125,
        "the new root /no/such/gb-root cannot be used",
    );
}

#[test]
fn a_root_directory_without_a_command_is_a_usage_error() {
    fails_with(&["chroot", "/tmp"], 125, "COMMAND");
    fails_with(&["pivot-root", "/tmp", "--"], 125, "COMMAND");
}

#[test]
fn a_command_missing_from_the_new_root_exits_127() {
    if !ready("missing_command") {
        return;
    }
    let r = rootfs();
    fails_with(
        &[
            "chroot",
            r.path.to_str().unwrap(),
            "--",
            "/usr/bin/no-such-thing",
        ],
        127,
        "is not in the new root",
    );
}

#[test]
fn a_rootfs_whose_proc_is_a_symlink_is_refused() {
    if !ready("proc_symlink") {
        return;
    }
    let r = rootfs();
    std::fs::remove_dir(r.path.join("proc")).unwrap();
    std::os::unix::fs::symlink("/proc", r.path.join("proc")).unwrap();
    let _m = MountsUnchanged::now();
    let t = strace::run(&[
        "unshare",
        "--mount",
        "--",
        &gb(),
        "mount",
        "--root",
        r.path.to_str().unwrap(),
        "proc",
        "--",
        "true",
    ]);
    assert_eq!(t.output.status.code(), Some(125));
    let err = stderr(&t.output);
    assert!(err.contains("/rootfs/proc is a symlink"), "{err}");
    assert!(
        !t.calls
            .iter()
            .any(|c| c.name == "mount" && c.args.first().is_some_and(|a| a == "\"proc\"")),
        "proc was mounted although its mount point is a symlink"
    );
    t.assert_honest();
}

#[test]
fn a_volume_target_climbing_out_is_refused() {
    if !ready("volume_climb") {
        return;
    }
    let r = rootfs();
    // A symlink inside the root pointing out: the target must not be followed.
    std::os::unix::fs::symlink("/", r.path.join("escape-link")).unwrap();
    let _m = MountsUnchanged::now();
    fails_with(
        &[
            "unshare",
            "--mount",
            "--",
            &gb(),
            "mount",
            "--root",
            r.path.to_str().unwrap(),
            "--volume",
            "/tmp:/escape-link/tmp",
            "--",
            "true",
        ],
        125,
        "is a symlink",
    );
    fails_with(
        &[
            "mount",
            "--root",
            "/tmp",
            "--volume",
            "/tmp:/a/../../etc",
            "--",
            "true",
        ],
        125,
        "holds `..`",
    );
}

#[test]
fn volumes_are_bound_and_ro_ones_are_read_only() {
    if !ready("volumes") {
        return;
    }
    let r = rootfs();
    let host = tempfile::Builder::new()
        .prefix("gb-vol-")
        .tempdir()
        .unwrap();
    std::fs::write(host.path().join("hello"), "from the host\n").unwrap();
    let hv = host.path().to_str().unwrap();
    let root = r.path.to_str().unwrap();
    let _m = MountsUnchanged::now();
    let t = strace::run(&[
        "unshare",
        "--mount",
        "--",
        &gb(),
        "mount",
        "--root",
        root,
        "--volume",
        &format!("{hv}:/data"),
        "--volume",
        &format!("{hv}:/ro:ro"),
        "--",
        &gb(),
        "pivot-root",
        root,
        "--",
        "/bin/sh",
        "-c",
        "cat /data/hello; echo w > /data/written; echo x > /ro/no 2>/dev/null || echo ro-refused",
    ]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output), "from the host\nro-refused\n");
    assert!(
        host.path().join("written").exists(),
        "the rw volume is the host directory"
    );
    assert!(!host.path().join("no").exists());
    t.assert_honest();
}

#[test]
fn an_unknown_filesystem_name_is_refused() {
    if !root_or_skip("unknown_fs") {
        return;
    }
    fails_with(
        &["mount", "--root", "/tmp", "proc", "bogusfs", "--", "true"],
        125,
        "glassbox mount does not know the filesystem \"bogusfs\"",
    );
}

#[test]
fn mount_and_pivot_root_refuse_the_hosts_mount_namespace() {
    if !ready("host_mount_ns") {
        return;
    }
    let r = rootfs();
    let _m = MountsUnchanged::now();
    let root = r.path.to_str().unwrap();
    fails_with(
        &["mount", "--root", root, "proc", "--", "true"],
        125,
        "refuses to run in the host's mount namespace",
    );
    fails_with(
        &["pivot-root", root, "--", "/bin/sh"],
        125,
        "glassbox unshare --mount",
    );
}

#[test]
fn root_only_stages_as_nobody_say_so() {
    if !root_or_skip("as_nobody") || !tool_or_skip("as_nobody", "setpriv") {
        return;
    }
    for (stage, extra) in [
        ("chroot", vec!["/", "--", "/bin/sh"]),
        ("pivot-root", vec!["/", "--", "/bin/sh"]),
        ("mount", vec!["--root", "/", "proc", "--", "true"]),
        ("enter", vec!["1", "--", "true"]),
    ] {
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin())
            .env("NO_COLOR", "1")
            .arg(stage)
            .args(&extra)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{stage}: {err}");
        assert!(
            err.contains(&format!("glassbox {stage} needs CAP_SYS_"))
                && err.contains("does not have it"),
            "{stage}: {err}"
        );
        assert_eq!(err.matches("glassbox: error:").count(), 1, "{err}");
    }
}

#[test]
fn explain_has_real_entries_for_the_isolation_calls() {
    for name in [
        "CLONE_NEWPID",
        "unshare",
        "pivot_root",
        "chroot",
        "setns",
        "MS_PRIVATE",
        "mount",
        "enter",
    ] {
        let o = glassbox().args(["explain", name]).output().unwrap();
        assert!(o.status.success(), "explain {name}: {}", stderr(&o));
        assert!(
            stdout(&o).lines().count() > 4,
            "explain {name} is too short"
        );
    }
    let o = glassbox().args(["explain", "chroot"]).output().unwrap();
    assert!(
        stdout(&o).contains("escape"),
        "chroot must say it is escapable"
    );
}

#[test]
fn the_chain_works_rootless_as_nobody_in_a_user_namespace() {
    if !ready("rootless_chain") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let r = rootfs();
    for p in [r.path.parent().unwrap(), r.path.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = r.path.to_str().unwrap();
    let _m = MountsUnchanged::now();
    let t = strace::run_as(
        "nobody",
        &[
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--fork",
            "--",
            &gb(),
            "mount",
            "--root",
            root,
            "proc",
            "sys",
            "tmp",
            "dev",
            "--",
            &gb(),
            "pivot-root",
            root,
            "--",
            "/bin/sh",
            "-c",
            "id -u; echo $$; cat /proc/keys | wc -c; echo hi > /dev/null && echo null-ok; \
             mkdir /sys/gb 2>/dev/null || echo sys-ro",
        ],
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(stdout(&t.output), "0\n1\n0\nnull-ok\nsys-ro\n");
    // In a user namespace a device mknod is refused: the devices are the host's, bound in
    // onto empty files (a regular file's mknod).
    let err = stderr(&t.output);
    assert!(
        err.contains("mount(\"/dev/null\", \"")
            && err.contains("/dev/null\", S_IFREG|0666)")
            && !err.contains("S_IFCHR"),
        "{err}"
    );
    t.assert_honest();
}

#[test]
fn dry_run_prints_the_mount_plan_without_root_or_changes() {
    let r = tempfile::tempdir().unwrap();
    std::fs::create_dir(r.path().join("proc")).unwrap();
    let _m = MountsUnchanged::now();
    let o = glassbox()
        .args([
            "--dry-run",
            "mount",
            "--root",
            r.path().to_str().unwrap(),
            "proc",
            "tmp",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("mount(\"proc\", ")
            && err.contains("MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) = ? (dry run: not made)"),
        "{err}"
    );
    assert!(
        err.contains("\"tmpfs\", MS_NOSUID|MS_NODEV, \"mode=1777,size=64m\") = ? (dry run"),
        "{err}"
    );
}

#[test]
fn enter_joins_a_rootless_container_as_its_root() {
    if !ready("enter_rootless") || !tool_or_skip("enter_rootless", "setpriv") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let r = rootfs();
    for p in [r.path.parent().unwrap(), r.path.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = r.path.to_str().unwrap();
    let _m = MountsUnchanged::now();
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args([
            "-q",
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--",
            &gb(),
            "-q",
            "mount",
            "--root",
            root,
            "proc",
            "--",
            &gb(),
            "-q",
            "pivot-root",
            root,
            "--",
            "/bin/sh",
            "-c",
            "echo ready && exec sleep 600",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let guard = Kill::when_ready(child);
    let sleeper = find_descendant_named(guard.0.id(), "sleep").expect("the container's sleep");
    let _sleeper_guard = KillPid(sleeper);
    let t = strace::run(&[
        "enter",
        &sleeper.to_string(),
        "--",
        "/bin/sh",
        "-c",
        "id -u; ps -o pid | tail -n +2 | head -1",
    ]);
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert_eq!(
        stdout(&t.output).split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1"]
    );
    assert_eq!(
        t.narrated_names()[0],
        "setns",
        "the user namespace is joined first"
    );
    assert!(stderr(&t.output).contains("CLONE_NEWUSER) = 0"));
    t.assert_honest();
    drop(guard);
}

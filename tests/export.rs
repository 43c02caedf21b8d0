//! `glassbox unpack` against archives made by real tools: GNU tar (plain, gzip, zstd), umoci
//! (an OCI layout with a hardlink, a setuid file, a whiteout and an opaque directory) and
//! skopeo (the same image as a docker-archive and an oci-archive). Also: atomicity, --force,
//! the errors (not an archive, truncated gzip, missing layer, digest mismatch) and --inspect.

mod common;

use common::{glassbox, stderr, stdout};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        Env { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn export(&self, args: &[&str]) -> std::process::Output {
        glassbox()
            .env("GLASSBOX_STATE_DIR", self.p("state"))
            .current_dir(self.dir.path())
            .arg("unpack")
            .args(args)
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.export(args);
        assert!(o.status.success(), "export {args:?}: {}", stderr(&o));
        stdout(&o)
    }
    fn fails(&self, args: &[&str]) -> String {
        let o = self.export(args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "export {args:?}: {}",
            stderr(&o)
        );
        let e = stderr(&o);
        let first = e
            .lines()
            .find(|l| l.starts_with("glassbox: error: "))
            .unwrap_or("");
        assert!(first.ends_with('.'), "one clear sentence: {e}");
        // Nothing left behind: no staging directory, no journal entry.
        let left: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("glassbox-export"))
            .collect();
        assert!(left.is_empty(), "staging left: {left:?}");
        let j: Vec<_> = std::fs::read_dir(self.p("state/journal"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        assert!(j.is_empty(), "journal left: {j:?}");
        e
    }
    fn sh(&self, script: &str) {
        let o = Command::new("sh")
            .arg("-ec")
            .arg(script)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A small tree with what an image has: modes, owners, a setuid file, symlinks, a hardlink.
fn make_tree(e: &Env) {
    e.sh(
        "mkdir -p src/bin src/etc src/srv/deep src/ro; echo hello > src/etc/greeting; \
         printf '#!/bin/sh\\necho hi\\n' > src/bin/tool; chmod 4755 src/bin/tool; \
         ln -s tool src/bin/alias; ln -s /etc/greeting src/etc/abs; \
         ln src/etc/greeting src/srv/hard; echo x > src/ro/file; chmod 0555 src/ro; \
         chmod 0700 src/srv/deep; touch -d 2001-02-03 src/etc/greeting",
    );
    if nix::unistd::geteuid().is_root() {
        e.sh("chown -h 1234:5678 src/etc/abs src/srv/deep");
    }
}

fn check_tree(root: &Path) {
    let m = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("etc/greeting")).unwrap(),
        "hello\n"
    );
    assert_eq!(m("bin/tool").mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(
        std::fs::read_link(root.join("bin/alias")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/abs")).unwrap(),
        Path::new("/etc/greeting")
    );
    assert_eq!(
        m("srv/hard").ino(),
        m("etc/greeting").ino(),
        "hardlink kept"
    );
    assert_eq!(m("ro").mode() & 0o7777, 0o555);
    assert_eq!(m("srv/deep").mode() & 0o7777, 0o700);
    assert_eq!(m("etc/greeting").mtime(), 981158400, "mtime kept");
    if nix::unistd::geteuid().is_root() {
        assert_eq!((m("etc/abs").uid(), m("etc/abs").gid()), (1234, 5678));
        assert_eq!((m("srv/deep").uid(), m("srv/deep").gid()), (1234, 5678));
    }
}

#[test]
fn gnu_tar_plain_gzip_zstd_and_a_directory() {
    if !common::tool_or_skip("gnu_tar", "tar") || !common::tool_or_skip("gnu_tar", "zstd") {
        return;
    }
    let e = Env::new();
    make_tree(&e);
    e.sh("tar cf a.tar -C src . && tar czf a.tgz -C src . && tar --zstd -cf a.tzst -C src . && cp a.tgz renamed.bin");
    for (src, dir) in [
        ("a.tar", "r1"),
        ("a.tgz", "r2"),
        ("a.tzst", "r3"),
        ("renamed.bin", "r4"),
        ("src", "r5"),
    ] {
        e.ok(&[src, dir]);
        check_tree(&e.p(dir));
        assert!(
            !e.p(&format!("{dir}.config.json")).exists(),
            "a plain tar has no config"
        );
    }
}

#[test]
fn busybox_rootfs_runs_a_shell() {
    let e = Env::new();
    if !Path::new("/bin/busybox").exists() && !Path::new("/usr/bin/busybox").exists() {
        return assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs busybox-static"
        );
    }
    e.ok(&["busybox", "bb"]);
    for p in ["proc", "sys", "dev", "tmp"] {
        assert!(
            std::fs::read_dir(e.p("bb").join(p))
                .unwrap()
                .next()
                .is_none(),
            "{p} is empty"
        );
    }
    assert_eq!(
        std::fs::symlink_metadata(e.p("bb/tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::read_link(e.p("bb/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(std::fs::read_to_string(e.p("bb/etc/passwd"))
        .unwrap()
        .starts_with("root:x:0:0"));
    let cfg = glassbox::stages::export::load_config(&e.p("bb"))
        .unwrap()
        .unwrap();
    assert_eq!(cfg.cmd, Some(vec!["/bin/sh".to_string()]));
    // The static busybox runs from the tree.
    let o = Command::new(e.p("bb/bin/busybox"))
        .args(["echo", "ok"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
}

/// An OCI layout made with umoci from a busybox rootfs, with 4 layers: the rootfs; /srv with a
/// setuid file and a hardlink; a whiteout of /bin/vi; /etc replaced opaquely.
fn umoci_image(e: &Env) -> bool {
    if !common::tool_or_skip("umoci", "umoci") || !common::tool_or_skip("umoci", "busybox") {
        return false;
    }
    e.ok(&["busybox", "bb"]);
    e.sh(
        "umoci init --layout oci && umoci new --image oci:bb && umoci insert --image oci:bb bb / && \
         mkdir -p extra/srv && echo hi > extra/srv/hello && ln extra/srv/hello extra/srv/hello2 && \
         chmod 4755 extra/srv/hello && umoci insert --image oci:bb extra/srv /srv && \
         umoci insert --image oci:bb --whiteout /bin/vi && mkdir newetc && echo new > newetc/only && \
         umoci insert --image oci:bb --opaque newetc /etc && \
         umoci config --image oci:bb --config.cmd /bin/sh --config.env FOO=bar \
           --config.exposedports 80/tcp --config.workingdir /srv --config.user 1000",
    );
    true
}

fn check_image(root: &Path) {
    let m = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    assert_eq!(m("srv/hello").mode() & 0o7777, 0o4755);
    assert_eq!(m("srv/hello").ino(), m("srv/hello2").ino());
    assert!(
        !root.join("bin/vi").exists() && root.join("bin/ls").exists(),
        "whiteout applied"
    );
    let etc: Vec<_> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        etc,
        vec!["only"],
        "opaque /etc holds only the upper layer's file"
    );
    let cfg = glassbox::stages::export::load_config(root)
        .unwrap()
        .unwrap();
    assert_eq!(cfg.env, vec!["FOO=bar"]);
    assert_eq!(cfg.cmd, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(cfg.working_dir, "/srv");
    assert_eq!(cfg.user, "1000");
    assert_eq!(cfg.exposed_ports, vec!["80/tcp"]);
}

#[test]
fn umoci_oci_layout_and_skopeo_archives() {
    let e = Env::new();
    if !umoci_image(&e) {
        return;
    }
    e.ok(&["oci", "r-oci"]);
    check_image(&e.p("r-oci"));
    let inspect = e.ok(&["--inspect", "oci"]);
    assert!(
        inspect.contains("layers:   4") && inspect.contains("ExposedPorts: [80/tcp]"),
        "{inspect}"
    );
    assert!(!e.p("oci-inspected").exists());
    if !common::tool_or_skip("skopeo", "skopeo") {
        return;
    }
    e.sh("skopeo copy oci:oci:bb docker-archive:d.tar:glassbox/bb:1 && skopeo copy oci:oci:bb oci-archive:o.tar");
    e.ok(&["d.tar", "r-docker"]);
    check_image(&e.p("r-docker"));
    e.ok(&["o.tar", "r-ociarch"]);
    check_image(&e.p("r-ociarch"));
    let inspect = e.ok(&["--inspect", "d.tar"]);
    assert!(inspect.contains("glassbox/bb:1"), "{inspect}");
}

#[test]
fn damaged_images_fail_cleanly() {
    let e = Env::new();
    if !umoci_image(&e) || !common::tool_or_skip("skopeo", "skopeo") {
        return;
    }
    // Digest mismatch: flip a byte in the first layer blob (a copy of the layout).
    e.sh("cp -a oci bad && f=$(ls -S bad/blobs/sha256/* | head -1) && printf 'X' | dd of=$f bs=1 seek=100 conv=notrunc 2>/dev/null");
    let err = e.fails(&["bad", "r"]);
    assert!(
        err.contains("does not match its digest") || err.contains("damaged"),
        "{err}"
    );
    assert!(!e.p("r").exists());
    // Missing layer.
    e.sh("cp -a oci missing && rm $(ls -S missing/blobs/sha256/* | head -1)");
    let err = e.fails(&["missing", "r"]);
    assert!(err.contains("missing"), "{err}");
    // A docker-archive whose layer was edited: its diff_id no longer matches.
    e.sh(
        "skopeo copy oci:oci:bb docker-archive:d.tar:x/y:1 && mkdir dx && tar xf d.tar -C dx && \
          l=$(ls -S dx/*.tar | tail -1) && printf 'extra' > dx/extra && tar rf $l -C dx extra && \
          tar cf dbad.tar -C dx $(cd dx && ls | grep -v '^extra$')",
    );
    let err = e.fails(&["dbad.tar", "r"]);
    assert!(err.contains("does not match its digest"), "{err}");
}

#[test]
fn errors_are_one_sentence_and_leave_nothing() {
    let e = Env::new();
    make_tree(&e);
    e.sh("echo 'just text, not an archive' > notes.txt && tar czf a.tgz -C src . && head -c 300 a.tgz > cut.tgz");
    let err = e.fails(&["notes.txt", "r"]);
    assert!(err.contains("is not an archive"), "{err}");
    let err = e.fails(&["cut.tgz", "r"]);
    assert!(
        err.contains("truncated") || err.contains("too early") || err.contains("damaged"),
        "{err}"
    );
    assert!(!e.p("r").exists());
    e.sh("tar cf a.tar -C src . && head -c 2000 a.tar > cut.tar");
    let err = e.fails(&["cut.tar", "r"]);
    assert!(err.contains("truncated"), "{err}");
    let err = e.fails(&["no-such-file.tar", "r"]);
    assert!(err.contains("cannot read the source"), "{err}");
}

#[test]
fn a_non_empty_dir_is_refused_unless_force() {
    let e = Env::new();
    make_tree(&e);
    e.sh("tar cf a.tar -C src . && mkdir r && echo mine > r/keep");
    let err = e.fails(&["a.tar", "r"]);
    assert!(
        err.contains("is not empty") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(e.p("r/keep")).unwrap(),
        "mine\n",
        "DIR as it was"
    );
    e.ok(&["--force", "a.tar", "r"]);
    assert!(!e.p("r/keep").exists());
    check_tree(&e.p("r"));
    // An empty DIR is fine without --force.
    e.sh("mkdir empty");
    e.ok(&["a.tar", "empty"]);
    check_tree(&e.p("empty"));
}

#[test]
fn dry_run_writes_nothing() {
    let e = Env::new();
    make_tree(&e);
    e.sh("tar cf a.tar -C src .");
    let o = e.export(&["--dry-run", "a.tar", "r"]);
    assert!(o.status.success());
    assert!(!e.p("r").exists());
    // --dry-run is a global flag placed after the subcommand here; check the narration.
    assert!(stderr(&o).contains("dry run"), "{}", stderr(&o));
}

#[test]
fn vv_lists_each_file_and_normal_gives_a_summary() {
    let e = Env::new();
    make_tree(&e);
    e.sh("tar cf a.tar -C src .");
    let normal = stderr(&e.export(&["a.tar", "r1"]));
    assert!(
        normal.contains("extracted: 3 files (26 B), 5 dirs, 2 symlinks, 1 hardlinks"),
        "{normal}"
    );
    assert!(
        !normal.contains("\"greeting\""),
        "no per-file lines by default: {normal}"
    );
    let o = glassbox()
        .env("GLASSBOX_STATE_DIR", e.p("state"))
        .current_dir(e.dir.path())
        .args(["-vv", "unpack", "a.tar", "r2"])
        .output()
        .unwrap();
    let vv = stderr(&o);
    assert!(
        vv.contains("openat(")
            && vv.contains("\"greeting\", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC"),
        "{vv}"
    );
    assert!(vv.contains("RESOLVE_BENEATH"), "{vv}");
}

#[test]
fn the_stage_is_headed_by_its_verb_unpack() {
    let e = Env::new();
    make_tree(&e);
    e.sh("tar cf a.tar -C src .");
    let normal = stderr(&e.export(&["a.tar", "r1"]));
    assert!(
        normal.contains("▶ unpack — turn an image into a root filesystem"),
        "{normal}"
    );
    assert!(!normal.contains("▶ export"), "{normal}");
}

#[test]
fn the_narration_is_honest_under_strace() {
    if !common::tool_or_skip("export_strace", "strace") {
        return;
    }
    let e = Env::new();
    make_tree(&e);
    e.sh("tar czf a.tgz -C src .");
    let state = e.p("state");
    let src = e.p("a.tgz");
    let dir = e.p("r");
    let t = common::strace::run_with(
        &["unpack", src.to_str().unwrap(), dir.to_str().unwrap()],
        |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    assert_eq!(
        t.narrated_names(),
        vec!["mkdir", "openat", "umask", "umask", "renameat2"],
        "the calls narrated at the normal level"
    );
    check_tree(&dir);
}

#[test]
fn xattrs_and_file_capabilities_are_kept() {
    if !common::root_or_skip("export_xattrs") || !common::tool_or_skip("export_xattrs", "setcap") {
        return;
    }
    let e = Env::new();
    e.sh(
        "mkdir xa && cp /bin/true xa/ping && echo f > xa/u && setcap cap_net_raw+ep xa/ping && \
          python3 -c \"import os; os.setxattr('xa/u','user.color',b'blue')\" && \
          tar --xattrs --xattrs-include='*' -cf xa.tar -C xa .",
    );
    e.ok(&["xa.tar", "r"]);
    let get = |p: &str, n: &str| {
        let o = Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import os,sys; sys.stdout.write(os.getxattr('{p}','{n}').hex())"
            ))
            .current_dir(e.dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(get("r/u", "user.color"), get("xa/u", "user.color"));
    assert_eq!(
        get("r/ping", "security.capability"),
        get("xa/ping", "security.capability")
    );
    assert!(!get("r/ping", "security.capability").is_empty());
}

/// A docker-save archive made by hand (no docker, skopeo or umoci needed): its one layer is
/// an uncompressed tar, whose blob digest and diff id are one hash of the same bytes.
#[test]
fn a_docker_save_layer_is_checked_against_its_diff_id() {
    let e = Env::new();
    e.sh(r#"mkdir -p src/etc l && echo hi > src/etc/hello && tar cf l/layer.tar -C src etc
        d=$(sha256sum l/layer.tar | cut -d' ' -f1)
        cfg() { printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$1" > c.json; }
        echo '[{"Config":"c.json","RepoTags":["x/y:1"],"Layers":["l/layer.tar"]}]' > manifest.json
        cfg "$d" && tar cf good.tar manifest.json c.json l
        cfg "$(echo "$d" | tr 0-9a-f 1-9a-f0)" && tar cf bad.tar manifest.json c.json l"#);
    e.ok(&["good.tar", "r"]);
    assert_eq!(std::fs::read_to_string(e.p("r/etc/hello")).unwrap(), "hi\n");
    let err = e.fails(&["bad.tar", "r2"]);
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(!e.p("r2").exists());
}

/// `export --help` names every file export writes: DIR, and DIR.config.json beside it
/// (it once said nothing is ever written outside DIR).
#[test]
fn help_names_every_file_export_writes() {
    let help = stdout(&glassbox().args(["unpack", "--help"]).output().unwrap());
    assert!(
        help.contains("DIR.config.json") && !help.contains("nothing is ever written outside"),
        "{help}"
    );
    let e = Env::new();
    if !Path::new("/bin/busybox").exists() && !Path::new("/usr/bin/busybox").exists() {
        return;
    }
    e.ok(&["busybox", "bb"]);
    let mut written: Vec<String> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state")
        .collect();
    written.sort();
    assert_eq!(written, ["bb", "bb.config.json"]);
}

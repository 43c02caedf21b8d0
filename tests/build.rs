//! `glassbox build` on the real kernel, from the busybox image made offline: what the built
//! images run, the cache, a failing RUN, refused copies, and other tools reading the result.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A state directory of the test's own (narrated unless the arguments say -q), and a build
/// context.
struct Env {
    store: common::store::Store,
    ctx: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            store: common::store::Store::new("gb-build-"),
            ctx: tempfile::Builder::new()
                .prefix("gb-ctx-")
                .tempdir()
                .unwrap(),
        }
    }
    fn state(&self) -> &Path {
        self.store.state.path()
    }
    fn gb(&self, args: &[&str]) -> Output {
        self.store.cmd().args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        common::store::succeeded(args, self.gb(args))
    }
    fn file(&self, rel: &str, text: &str) {
        let p = self.ctx.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn ctx(&self) -> &str {
        self.ctx.path().to_str().unwrap()
    }
    fn build(&self, tag: &str) -> Output {
        self.gb(&["build", "-t", tag, self.ctx()])
    }
    fn containers_left(&self) -> usize {
        std::fs::read_dir(self.state().join("data/containers"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
    fn run(&self, args: &[&str]) -> String {
        let mut a = vec!["-q", "run", "--rm"];
        a.extend(args);
        self.ok(&a)
    }
}

fn ready(test: &str) -> bool {
    root_or_skip(test) && tool_or_skip(test, "busybox") && Path::new("/bin/busybox").exists()
}

const APP: &str = "# syntax=docker/dockerfile:1
FROM busybox
ARG GREETING=hello
ENV APP_HOME=/srv/app \\
    MODE=test
WORKDIR $APP_HOME
COPY . ./
RUN echo \"$GREETING from RUN\" > /built.txt && chmod +x app.sh
USER nobody
CMD [\"./app.sh\"]
";

#[test]
fn an_app_copied_in_runs_with_its_cmd_env_workdir_and_user() {
    if !ready("an_app_copied_in_runs_with_its_cmd_env_workdir_and_user") {
        return;
    }
    let env = Env::new();
    env.file("Dockerfile", APP);
    env.file(
        "app.sh",
        "#!/bin/sh\necho \"app $MODE $(pwd) $(id -u)\"; cat /built.txt; ls\n",
    );
    env.file("secret.env", "PASSWORD=x\n");
    env.file("logs/a.log", "x\n");
    env.file(".dockerignore", "secret.env\nlogs\n");
    let o = env.gb(&[
        "build",
        "--build-arg",
        "GREETING=hi",
        "-t",
        "app:v1",
        env.ctx(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Step 1/8 : FROM busybox\n"), "{out}");
    assert!(out.contains("Step 6/8 : RUN echo"), "{out}");
    assert!(out.contains("Successfully tagged app:v1"), "{out}");
    let ran = env.run(&["app:v1"]);
    let lines: Vec<&str> = ran.lines().collect();
    assert_eq!(lines[0], "app test /srv/app 65534", "{ran}");
    assert_eq!(lines[1], "hi from RUN", "ARG from --build-arg reaches RUN");
    assert!(lines.contains(&"app.sh"), "{ran}");
    assert!(
        !ran.contains("secret.env") && !ran.contains("logs"),
        ".dockerignore: {ran}"
    );
    // history shows each instruction.
    let h = env.ok(&["history", "--no-trunc", "app:v1"]);
    for want in [
        "CMD [\"./app.sh\"]",
        "USER nobody",
        "COPY",
        "WORKDIR /srv/app",
    ] {
        assert!(h.contains(want), "history lacks {want}: {h}");
    }
    assert_eq!(env.containers_left(), 0);
}

#[test]
fn run_image_args_reach_the_entrypoint() {
    if !ready("run_image_args_reach_the_entrypoint") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nENTRYPOINT [\"echo\", \"sleeping\"]\nCMD [\"5\"]\n",
    );
    assert!(env.build("sleeper").status.success());
    assert_eq!(env.run(&["sleeper"]), "sleeping 5\n");
    assert_eq!(env.run(&["sleeper", "10"]), "sleeping 10\n");
}

#[test]
fn a_multi_stage_build_copies_from_the_first_stage() {
    if !ready("a_multi_stage_build_copies_from_the_first_stage") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox AS builder\nRUN mkdir /out && echo compiled > /out/prog\n\nFROM busybox\nCOPY --from=builder /out/prog /usr/local/prog\nCMD cat /usr/local/prog\n",
    );
    let o = env.build("multi");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.run(&["multi"]), "compiled\n");
    assert_eq!(
        env.run(&["multi", "sh", "-c", "test -e /out || echo absent"]),
        "absent\n",
        "only the copied file comes from the first stage"
    );
}

#[test]
fn a_failing_run_stops_the_build_with_its_code_and_line() {
    if !ready("a_failing_run_stops_the_build_with_its_code_and_line") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nRUN touch /half\nRUN exit 3\nCMD true\n",
    );
    let o = env.build("broken");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert!(!stdout(&o).contains("Step 4/4"), "the build went on");
    assert_eq!(env.containers_left(), 0, "a container was left behind");
    assert!(journal_empty(env.state()));
    let images = env.ok(&["images"]);
    assert!(!images.contains("broken"), "{images}");
}

#[test]
fn a_rebuild_is_cached_and_a_changed_file_rebuilds_from_its_copy() {
    if !ready("a_rebuild_is_cached_and_a_changed_file_rebuilds_from_its_copy") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nRUN echo base > /base\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt > /copy\nCMD cat /copy\n",
    );
    env.file("msg.txt", "one\n");
    assert!(env.build("c:1").status.success());
    let containers_dir = env.state().join("data/containers");
    let o = env.build("c:1");
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert!(!out.contains("Running in"), "a container was made: {out}");
    assert_eq!(env.containers_left(), 0, "{containers_dir:?}");
    env.file("msg.txt", "two\n");
    let out = stdout(&env.build("c:2"));
    let steps: Vec<&str> = out.split("Step ").collect();
    assert!(steps[2].contains("Using cache"), "RUN before COPY: {out}");
    assert!(
        !steps[3].contains("Using cache"),
        "COPY of a changed file: {out}"
    );
    assert!(steps[4].contains("Running in"), "RUN after it: {out}");
    assert_eq!(env.run(&["c:2"]), "two\n");
    assert_eq!(env.run(&["c:1"]), "one\n");
}

#[test]
fn copies_from_outside_the_context_are_refused() {
    if !ready("copies_from_outside_the_context_are_refused") {
        return;
    }
    let env = Env::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x"), "host secret\n").unwrap();
    let parent_rel = format!(
        "../{}/x",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    // The context and `outside` are both in the temp directory: ../NAME/x reaches it.
    env.file(
        "Dockerfile",
        &format!("FROM busybox\nCOPY {parent_rel} /x\n"),
    );
    let o = env.build("out1");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("outside the build context"),
        "{}",
        stderr(&o)
    );
    env.file("Dockerfile", "FROM busybox\nCOPY . /app\n");
    std::os::unix::fs::symlink(outside.path().join("x"), env.ctx.path().join("link")).unwrap();
    let o = env.build("out2");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("outside the build context"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(env.ctx.path().join("link")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", env.ctx.path().join("link")).unwrap();
    let o = env.build("out3");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    // A FIFO in the context is refused (reading it would hang the build); a symlink loop
    // inside it is copied as the link it is.
    std::fs::remove_file(env.ctx.path().join("link")).unwrap();
    assert!(Command::new("mkfifo")
        .arg(env.ctx.path().join("fifo"))
        .status()
        .unwrap()
        .success());
    let o = env.build("out4");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    std::fs::remove_file(env.ctx.path().join("fifo")).unwrap();
    std::os::unix::fs::symlink("loop", env.ctx.path().join("loop")).unwrap();
    let o = env.build("looped");
    assert!(o.status.success(), "{}", stderr(&o));
    let images = env.ok(&["images"]);
    assert!(!images.contains("out"), "{images}");
    assert_eq!(
        std::fs::read_to_string(outside.path().join("x")).unwrap(),
        "host secret\n"
    );
}

#[test]
fn a_built_image_is_read_by_umoci_and_skopeo_after_save() {
    let t = "a_built_image_is_read_by_umoci_and_skopeo_after_save";
    if !ready(t) || !tool_or_skip(t, "skopeo") || !tool_or_skip(t, "umoci") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nLABEL course=docker\nCOPY hello.txt /hello.txt\nRUN echo ran > /ran\nCMD cat /hello.txt\n",
    );
    env.file("hello.txt", "hello\n");
    let o = env.gb(&["-q", "build", "-t", "saved:v1", env.ctx()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o);
    assert!(
        id.starts_with("sha256:") && id.trim().len() == 71,
        "-q prints only the id: {id:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let tar: PathBuf = dir.path().join("o.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "saved:v1",
        "-o",
        tar.to_str().unwrap(),
    ]);
    let o = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", tar.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
    let inspected: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspected["Labels"]["course"], "docker", "{inspected}");
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    assert!(Command::new("tar")
        .arg("xf")
        .arg(&tar)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap()
        .success());
    let o = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(dir.path().join("bundle"))
        .output()
        .unwrap();
    assert!(o.status.success(), "umoci: {}", stderr(&o));
    let rootfs = dir.path().join("bundle/rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("ran")).unwrap(),
        "ran\n"
    );
}

#[test]
fn add_unpacks_a_local_tar_and_writes_nothing_outside() {
    if !ready("add_unpacks_a_local_tar_and_writes_nothing_outside") {
        return;
    }
    let env = Env::new();
    let outside = tempfile::tempdir().unwrap();
    // A hostile archive: a symlink to a host directory, then a file written through it.
    let f = std::fs::File::create(env.ctx.path().join("files.tar.gz")).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    t.append_data(&mut h, "a.txt", &b"aa\n"[..]).unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    t.append_link(&mut l, "out", outside.path()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    t.append_data(&mut h, "out/pwned", &b"xx\n"[..]).unwrap();
    t.into_inner().unwrap().finish().unwrap();
    env.file("Dockerfile", "FROM busybox\nADD files.tar.gz /opt/\n");
    let o = env.build("added");
    assert!(
        !outside.path().join("pwned").exists(),
        "the archive wrote outside: {}",
        stderr(&o)
    );
    if o.status.success() {
        assert_eq!(env.run(&["added", "cat", "/opt/a.txt"]), "aa\n");
    } else {
        assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    }
    // A harmless one unpacks.
    let f = std::fs::File::create(env.ctx.path().join("files.tar.gz")).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    t.append_data(&mut h, "a.txt", &b"aa\n"[..]).unwrap();
    t.into_inner().unwrap().finish().unwrap();
    let o = env.build("added2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.run(&["added2", "cat", "/opt/a.txt"]), "aa\n");
}

#[test]
fn a_build_is_narrated_honestly() {
    let t = "a_build_is_narrated_honestly";
    if !ready(t) || !tool_or_skip(t, "strace") {
        return;
    }
    let env = Env::new();
    env.file("Dockerfile", "FROM busybox\nCOPY f /f\nRUN cat /f > /g\n");
    env.file("f", "x\n");
    let traced = common::strace::run_with(&["build", "-t", "traced", env.ctx()], |c| {
        c.env("GLASSBOX_STATE_DIR", env.state());
    });
    assert!(traced.output.status.success(), "{}", stderr(&traced.output));
    traced.assert_honest();
    let names = traced.narrated_names();
    for want in ["pivot_root", "renameat2"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not narrated: {names:?}"
        );
    }
}

#[test]
fn history_images_and_rmi_treat_the_steps_as_docker_does() {
    if !ready("history_images_and_rmi_treat_the_steps_as_docker_does") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n",
    );
    env.file("f", "x\n");
    let id = env.ok(&["-q", "build", "-t", "steps", env.ctx()]);
    let short = &id.trim()["sha256:".len()..][..12];
    // history: the image's own id on its top line (its CMD), the COPY step's under it.
    let h = env.ok(&["history", "steps"]);
    let rows: Vec<&str> = h.lines().skip(1).collect();
    assert!(rows[0].starts_with(short), "{h}");
    assert!(rows[0].contains("CMD"), "{h}");
    assert!(
        !rows[1].starts_with("<missing>"),
        "the COPY step is local: {h}"
    );
    // images: the intermediate step only with -a.
    assert!(!env.ok(&["images"]).contains("<none>"));
    assert!(env.ok(&["images", "-a"]).contains("<none>"));
    // rmi: the untagged step below goes with the image (two images, the COPY's layer),
    // busybox stays.
    let out = env.ok(&["rmi", "steps"]);
    assert_eq!(out.matches("Deleted: sha256:").count(), 3, "{out}");
    let left = env.ok(&["images", "-a"]);
    assert_eq!(left.lines().count(), 2, "only busybox is left: {left}");
}

#[test]
fn copy_keeps_the_owner_and_mode_of_the_images_parent_dirs() {
    if !ready("copy_keeps_the_owner_and_mode_of_the_images_parent_dirs") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nRUN mkdir -p /srv/data && chown 65534:65534 /srv/data && chmod 750 /srv/data\nCOPY f /srv/data/f\nCOPY f /tmp/f\n",
    );
    env.file("f", "x\n");
    let o = env.build("parents");
    assert!(o.status.success(), "{}", stderr(&o));
    // The parents COPY wrote into its layer are the image's: /tmp stays 1777, and the
    // directory RUN made keeps its owner and mode.
    assert_eq!(
        env.run(&[
            "parents",
            "stat",
            "-c",
            "%a %u",
            "/tmp",
            "/srv/data",
            "/srv"
        ]),
        "1777 0\n750 65534\n755 0\n"
    );
}

#[test]
fn a_scratch_stage_keeps_its_config_steps_in_history() {
    if !ready("a_scratch_stage_keeps_its_config_steps_in_history") {
        return;
    }
    let env = Env::new();
    env.file("f", "x\n");
    // FROM scratch: the config steps before its first layer are in its history too.
    env.file(
        "Dockerfile",
        "FROM scratch\nENV A=1\nLABEL course=docker\nCOPY f /f\n",
    );
    let o = env.build("scratchy");
    assert!(o.status.success(), "{}", stderr(&o));
    let h = env.ok(&["history", "--no-trunc", "scratchy"]);
    let lines: Vec<&str> = h.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{h}");
    assert!(lines[0].contains("COPY f in /f"), "{h}");
    assert!(lines[1].contains("LABEL course=docker"), "{h}");
    assert!(lines[2].contains("ENV A=1"), "{h}");
}

#[test]
fn shell_changes_the_shell_form_of_later_run_and_cmd() {
    if !ready("shell_changes_the_shell_form_of_later_run_and_cmd") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nRUN echo \"$0\" > /before\nSHELL [\"/bin/ash\", \"-c\"]\nRUN echo \"$0\" > /after\nCMD echo \"cmd $0\"\n",
    );
    let o = env.build("shelled");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.run(&["shelled", "cat", "/before", "/after"]),
        "/bin/sh\n/bin/ash\n"
    );
    assert_eq!(env.run(&["shelled"]), "cmd /bin/ash\n");
    let h = env.ok(&["history", "--no-trunc", "shelled"]);
    assert!(h.contains("SHELL [\"/bin/ash\", \"-c\"]"), "{h}");
    // Only the exec form is taken.
    env.file("Dockerfile", "FROM busybox\nSHELL /bin/ash -c\n");
    let o = env.build("badshell");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
}

#[test]
fn heredocs_feed_run_and_copy() {
    if !ready("heredocs_feed_run_and_copy") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox
ARG WHO=world
RUN <<EOF
echo one > /one
echo two >> /one
EOF
RUN cat <<EOF > /two
hello $WHO
EOF
COPY <<EOF /etc/greeting
hi ${WHO}
EOF
COPY <<\"raw.txt\" /docs/
$WHO stays
raw.txt
CMD [\"cat\", \"/one\", \"/two\", \"/etc/greeting\", \"/docs/raw.txt\"]
",
    );
    let o = env.build("heredocs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.run(&["heredocs"]),
        "one\ntwo\nhello world\nhi world\n$WHO stays\n"
    );
    // A here-document never ended is refused before anything is built.
    env.file("Dockerfile", "FROM busybox\nRUN <<EOF\necho x\n");
    let o = env.build("unended");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("no line EOF"), "{}", stderr(&o));
}

#[test]
fn wildcards_in_copy_sources_follow_dockers_rules() {
    if !ready("wildcards_in_copy_sources_follow_dockers_rules") {
        return;
    }
    let env = Env::new();
    for f in [
        "a.txt",
        "b.txt",
        "c.log",
        "sub/d.txt",
        "sub/e.log",
        "skip.txt",
    ] {
        env.file(f, &format!("{f}\n"));
    }
    env.file(".dockerignore", "skip.txt\n");
    env.file(
        "Dockerfile",
        "FROM busybox\nCOPY *.txt /dst/\nCOPY s?b/*.txt c.* /deep/\n",
    );
    let o = env.build("globbed");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.run(&["globbed", "ls", "/dst", "/deep"]),
        "/deep:\nc.log\nd.txt\n\n/dst:\na.txt\nb.txt\n"
    );
    // Several files need a directory destination ending in /; a pattern must match.
    env.file("Dockerfile", "FROM busybox\nCOPY *.txt /dst\n");
    let o = env.build("nodir");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("end with a /"), "{}", stderr(&o));
    env.file("Dockerfile", "FROM busybox\nCOPY *.none /dst/\n");
    let o = env.build("nomatch");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("matches *.none"), "{}", stderr(&o));
}

#[test]
fn copy_into_a_directory_the_image_has_copies_into_it() {
    if !ready("copy_into_a_directory_the_image_has_copies_into_it") {
        return;
    }
    let env = Env::new();
    env.file("a.txt", "a\n");
    // /root is in busybox, /app made by an earlier step: neither ends with /, both are
    // directories, so the files go into them as docker puts them.
    env.file(
        "Dockerfile",
        "FROM busybox\nRUN mkdir /app\nCOPY a.txt /root\nCOPY a.txt /app\nCOPY <<EOF /app\nhi\nEOF\n",
    );
    let o = env.build("intodir");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.run(&[
            "intodir",
            "sh",
            "-c",
            "cat /root/a.txt /app/a.txt /app/EOF; ls /app"
        ]),
        "a\na\nhi\nEOF\na.txt\n"
    );
}

#[test]
fn shell_is_kept_in_the_image_and_used_by_images_built_from_it() {
    if !ready("shell_is_kept_in_the_image_and_used_by_images_built_from_it") {
        return;
    }
    let env = Env::new();
    env.file("Dockerfile", "FROM busybox\nSHELL [\"/bin/ash\", \"-c\"]\n");
    let o = env.build("shellbase");
    assert!(o.status.success(), "{}", stderr(&o));
    let inspect = env.ok(&["inspect", "shellbase"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        v[0]["Config"]["Shell"],
        serde_json::json!(["/bin/ash", "-c"]),
        "{inspect}"
    );
    env.file(
        "Dockerfile",
        "FROM shellbase\nRUN echo \"$0\" > /s\nCMD echo \"cmd $0\"\n",
    );
    let o = env.build("shellchild");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.run(&["shellchild", "cat", "/s"]), "/bin/ash\n");
    assert_eq!(env.run(&["shellchild"]), "cmd /bin/ash\n");
}

#[test]
fn a_run_heredoc_with_a_shebang_is_run_by_its_interpreter() {
    if !ready("a_run_heredoc_with_a_shebang_is_run_by_its_interpreter") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox
RUN <<EOF
#!/bin/awk -f
BEGIN { print \"by awk\" > \"/by-awk\" }
EOF
RUN <<SCRIPT
#!/bin/sh -e
echo \"$0\" > /name
SCRIPT
",
    );
    let o = env.build("shebang");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.run(&["shebang", "cat", "/by-awk", "/name"]),
        "by awk\n/dev/pipes/SCRIPT\n"
    );
    // The script's directory is gone, and a rebuild is cached.
    let left: Vec<_> = std::fs::read_dir(env.state().join("data/images/layers"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("pipes"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let again = env.build("shebang");
    assert_eq!(stdout(&again).matches("Using cache").count(), 2);
}

#[test]
fn rmi_no_prune_keeps_the_untagged_steps_below() {
    if !ready("rmi_no_prune_keeps_the_untagged_steps_below") {
        return;
    }
    let env = Env::new();
    env.file(
        "Dockerfile",
        "FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n",
    );
    env.file("f", "x\n");
    env.ok(&["-q", "build", "-t", "steps", env.ctx()]);
    let out = env.ok(&["rmi", "--no-prune", "steps"]);
    assert_eq!(out.matches("Deleted: sha256:").count(), 1, "{out}");
    let left = env.ok(&["images", "-a"]);
    assert_eq!(left.lines().count(), 3, "busybox and the COPY step: {left}");
    assert!(left.contains("<none>"), "{left}");
}

#[test]
fn a_build_sweeps_what_a_killed_build_or_pull_left() {
    if !ready("a_build_sweeps_what_a_killed_build_or_pull_left") {
        return;
    }
    let env = Env::new();
    env.file("Dockerfile", "FROM busybox\nRUN true\n");
    env.ok(&["-q", "build", "-t", "first", env.ctx()]);
    // 4194304 is above the largest pid_max: no live process has it.
    let layers = env.state().join("data/images/layers");
    std::fs::create_dir_all(layers.join(".build-pipes-4194304")).unwrap();
    std::fs::write(layers.join(".build-pipes-4194304/SCRIPT"), "#!/bin/sh\n").unwrap();
    std::fs::write(layers.join(".build-4194304.tar"), "half a layer").unwrap();
    std::fs::create_dir_all(layers.join(".unpack-4194304-0/etc")).unwrap();
    let o = env.gb(&["build", "--no-cache", "-t", "second", env.ctx()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("4194304"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        stderr(&o).contains("left by a build that was killed"),
        "{}",
        stderr(&o)
    );
}

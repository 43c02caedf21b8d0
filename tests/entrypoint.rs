//! `run`'s command, HOME and working directory as docker settles them: arguments replace
//! only CMD, `--entrypoint` replaces ENTRYPOINT, HOME comes from the image's passwd, `-w`
//! is made when missing, and `commit` records the container's own command.

mod common;
use common::*;
use std::path::Path;

struct Env(common::store::Store);

impl std::ops::Deref for Env {
    type Target = common::store::Store;
    fn deref(&self) -> &common::store::Store {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        Env(common::store::Store::new("gb-ep-"))
    }
    /// An image whose ENTRYPOINT echoes its arguments and whose CMD is `default`.
    fn echo_image(&self) {
        self.ok(&["run", "--name", "base", "busybox", "true"]);
        self.ok(&[
            "commit",
            "-c",
            r#"ENTRYPOINT ["echo","from-ep"]"#,
            "-c",
            r#"CMD ["default"]"#,
            "base",
            "echoer",
        ]);
        self.ok(&["rm", "base"]);
    }
}

fn ready(test: &str) -> bool {
    root_or_skip(test) && tool_or_skip(test, "busybox") && Path::new("/bin/busybox").exists()
}

#[test]
fn arguments_replace_cmd_and_keep_the_entrypoint() {
    if !ready("arguments_replace_cmd_and_keep_the_entrypoint") {
        return;
    }
    let env = Env::new();
    env.echo_image();
    assert_eq!(
        env.ok(&["run", "--rm", "echoer"]),
        "from-ep default\n",
        "no arguments: ENTRYPOINT + CMD"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "echoer", "10"]),
        "from-ep 10\n",
        "arguments replace CMD only"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "printf",
            "echoer",
            "%s-",
            "a"
        ]),
        "a-",
        "--entrypoint replaces ENTRYPOINT"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "--entrypoint", "", "echoer", "echo", "plain"]),
        "plain\n",
        "--entrypoint \"\" leaves the arguments alone"
    );
}

#[test]
fn home_comes_from_the_image_passwd() {
    if !ready("home_comes_from_the_image_passwd") {
        return;
    }
    let env = Env::new();
    let home = |user: Option<&str>| {
        let mut args = vec!["run", "--rm"];
        if let Some(u) = user {
            args.extend(["-u", u]);
        }
        args.extend(["busybox", "sh", "-c", "echo $HOME"]);
        env.ok(&args).trim().to_string()
    };
    assert_eq!(home(None), "/root");
    // busybox's nobody has /home as its home; a uid with no entry gets /.
    let nobody = std::fs::read_to_string(
        env.state
            .path()
            .join("data/images/busybox/rootfs/etc/passwd"),
    )
    .unwrap_or_default()
    .lines()
    .find(|l| l.starts_with("nobody:"))
    .and_then(|l| l.split(':').nth(5).map(String::from))
    .unwrap();
    assert_eq!(home(Some("nobody")), nobody);
    assert_eq!(home(Some("4242")), "/");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "-e",
            "HOME=/mine",
            "busybox",
            "sh",
            "-c",
            "echo $HOME"
        ]),
        "/mine\n",
        "-e HOME wins"
    );
}

#[test]
fn a_missing_workdir_is_made() {
    if !ready("a_missing_workdir_is_made") {
        return;
    }
    let env = Env::new();
    assert_eq!(
        env.ok(&["run", "--rm", "-w", "/does/not/exist", "busybox", "pwd"]),
        "/does/not/exist\n"
    );
}

#[test]
fn commit_records_the_containers_own_command() {
    if !ready("commit_records_the_containers_own_command") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "c1", "busybox", "echo", "committed"]);
    env.ok(&["commit", "c1", "mine"]);
    env.ok(&["rm", "c1"]);
    assert_eq!(env.ok(&["run", "--rm", "mine"]), "committed\n");
}

//! Volumes as the Docker course uses them: named and anonymous volumes, an image's VOLUME
//! and its copy-up, `:ro`, `--mount`, `--volumes-from`, and the `volume` commands — on the
//! real kernel, in a state directory of each test's own, the host compared after.

mod common;
use common::containers::Env;
use common::*;

/// The names `volume ls -q` lists.
fn volumes(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls"])
        .lines()
        .map(String::from)
        .collect()
}

/// A failing glassbox command's stderr.
fn fails(env: &Env, args: &[&str]) -> String {
    let o = env.gb(args);
    assert!(!o.status.success(), "glassbox {args:?} should fail");
    stderr(&o)
}

#[test]
fn a_named_volume_keeps_its_data_across_rm_and_a_new_container() {
    if !root_or_skip("a_named_volume_keeps_its_data_across_rm_and_a_new_container") {
        return;
    }
    let env = Env::new();
    // Made at first use, as docker does.
    env.ok(&[
        "run",
        "--name",
        "writer",
        "--volume",
        "notes:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(volumes(&env), vec!["notes"]);
    // The container's config.json has it as a bind mount.
    let id = env.containers().pop().unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data().join(format!("containers/{id}/config.json"))).unwrap(),
    )
    .unwrap();
    let m = config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/data")
        .expect("the volume is in config.json's mounts");
    assert_eq!(m["type"], "bind");
    assert_eq!(
        m["source"],
        env.data().join("volumes/notes/_data").display().to_string()
    );
    env.ok(&["rm", "--volumes", "writer"]);
    assert_eq!(
        volumes(&env),
        vec!["notes"],
        "rm --volumes keeps named ones"
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--volume",
        "notes:/elsewhere",
        "busybox",
        "cat",
        "/elsewhere/f",
    ]);
    assert_eq!(out, "kept\n");
    assert_eq!(volumes(&env), vec!["notes"], "run --rm keeps named ones");
    env.assert_clean();
}

#[test]
fn anonymous_volumes_go_with_rm_volumes_and_run_rm_named_ones_stay() {
    if !root_or_skip("anonymous_volumes_go_with_rm_volumes_and_run_rm_named_ones_stay") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "a1",
        "--volume",
        "/scratch",
        "--volume",
        "keep:/keep",
        "busybox",
        "sh",
        "-c",
        "echo x > /scratch/f",
    ]);
    let all = volumes(&env);
    assert_eq!(all.len(), 2, "{all:?}");
    let anon = all.iter().find(|v| *v != "keep").unwrap().clone();
    assert_eq!(anon.len(), 64, "an anonymous volume has a random name");
    // Inspect shows docker's fields, and labels it anonymous.
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", &anon])).unwrap();
    let v = &json[0];
    assert_eq!(v["Name"], anon.as_str());
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert!(v["Labels"]
        .as_object()
        .unwrap()
        .contains_key("com.docker.volume.anonymous"));
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
    let mountpoint = std::path::PathBuf::from(v["Mountpoint"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(mountpoint.join("f")).unwrap(),
        "x\n"
    );
    // Plain rm keeps it (dangling now), rm --volumes takes it.
    env.ok(&["rm", "--volumes", "a1"]);
    assert_eq!(volumes(&env), vec!["keep"]);
    assert!(!mountpoint.exists());
    // --rm takes the anonymous volume, never the named one.
    env.ok(&[
        "run",
        "--rm",
        "--volume",
        "/tmpdata",
        "--mount",
        "type=volume,target=/other",
        "--volume",
        "keep:/keep",
        "busybox",
        "true",
    ]);
    assert_eq!(volumes(&env), vec!["keep"]);
    env.assert_clean();
}

#[test]
fn an_image_volume_is_filled_with_the_images_files() {
    if !root_or_skip("an_image_volume_is_filled_with_the_images_files") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /seed/sub && echo seeded > /seed/sub/file && chown -R 1000:2000 /seed && chmod 0640 /seed/sub/file && chmod 0750 /seed",
    ]);
    env.ok(&["commit", "--change", "VOLUME /seed", "base", "seeded:v1"]);
    env.ok(&["rm", "base"]);
    let out = env.ok(&[
        "run",
        "--name",
        "user",
        "seeded:v1",
        "sh",
        "-c",
        "stat -c '%u:%g %a' /seed /seed/sub/file; cat /seed/sub/file",
    ]);
    assert_eq!(out, "1000:2000 750\n1000:2000 640\nseeded\n");
    // It is a volume: outside the container's writable layer, and listed.
    let vols = volumes(&env);
    assert_eq!(vols.len(), 1, "{vols:?}");
    let data = env.data().join(format!("volumes/{}/_data", vols[0]));
    assert_eq!(
        std::fs::read_to_string(data.join("sub/file")).unwrap(),
        "seeded\n"
    );
    // Copied once, into a new volume: a named volume with files keeps its own.
    env.ok(&[
        "run",
        "--rm",
        "--volume",
        "mine:/seed",
        "seeded:v1",
        "sh",
        "-c",
        "echo mine > /seed/own",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--volume",
        "mine:/seed",
        "seeded:v1",
        "ls",
        "/seed",
    ]);
    assert_eq!(out, "own\nsub\n");
    // nocopy: an empty volume stays empty.
    let out = env.ok(&[
        "run",
        "--rm",
        "--volume",
        "bare:/seed:nocopy",
        "seeded:v1",
        "ls",
        "/seed",
    ]);
    assert_eq!(out, "");
    env.ok(&["rm", "--volumes", "user"]);
    env.ok(&["volume", "rm", "mine", "bare"]);
    assert!(volumes(&env).is_empty());
    env.ok(&["rmi", "seeded:v1"]);
    env.assert_clean();
}

#[test]
fn a_read_only_volume_refuses_writes() {
    if !root_or_skip("a_read_only_volume_refuses_writes") {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "ro-data"]);
    let o = env.gb(&[
        "run",
        "--rm",
        "--volume",
        "ro-data:/x:ro",
        "busybox",
        "sh",
        "-c",
        "echo no > /x/f",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = env.gb(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=ro-data,dst=/x,readonly",
        "busybox",
        "touch",
        "/x/f",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!env.data().join("volumes/ro-data/_data/f").exists());
    env.ok(&["volume", "rm", "ro-data"]);
    env.assert_clean();
}

#[test]
fn a_volume_in_use_is_not_removed_and_prune_takes_only_unused_ones() {
    if !root_or_skip("a_volume_in_use_is_not_removed_and_prune_takes_only_unused_ones") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--volume",
        "held:/h",
        "--volume",
        "/anon-held",
        "busybox",
        "sleep",
        "60",
    ]);
    let e = fails(&env, &["volume", "rm", "held"]);
    assert!(
        e.contains("cannot remove volume held: it is in use by container busy"),
        "{e}"
    );
    env.ok(&["stop", "-t", "0", "busy"]);
    // Stopped, it still holds its volumes (as docker).
    let e = fails(&env, &["volume", "rm", "held"]);
    assert!(e.contains("in use by container busy"), "{e}");
    env.ok(&["volume", "create", "spare"]);
    env.ok(&["run", "--rm", "--volume", "/gone", "busybox", "true"]);
    env.ok(&[
        "run", "--name", "left", "--volume", "/orphan", "busybox", "true",
    ]);
    env.ok(&["rm", "left"]);
    // -f dangling=true: the volumes no container uses.
    let dangling = env.ok(&["volume", "ls", "-f", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 2, "{dangling}");
    assert!(dangling.contains("spare"));
    // prune: only unused anonymous ones (as docker 23 and later); --all: named ones too.
    let o = env.cmd().args(["volume", "prune", "-f"]).output().unwrap();
    let out = stdout(&o);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.ends_with("\nTotal reclaimed space: 0B\n"), "{out}");
    assert_eq!(volumes(&env).len(), 3, "{:?}", volumes(&env));
    env.ok(&["volume", "prune", "--all", "-f"]);
    let left = volumes(&env);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"held".to_string()));
    env.ok(&["rm", "--volumes", "busy"]);
    assert_eq!(volumes(&env), vec!["held"]);
    env.ok(&["volume", "rm", "held"]);
    assert!(volumes(&env).is_empty());
    // Missing: a clear error; -f: none.
    let e = fails(&env, &["volume", "rm", "held"]);
    assert!(e.contains("no such volume: held"), "{e}");
    env.ok(&["volume", "rm", "-f", "held"]);
    env.assert_clean();
}

#[test]
fn mount_takes_dockers_forms_and_refuses_with_dockers_words() {
    if !root_or_skip("mount_takes_dockers_forms_and_refuses_with_dockers_words") {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("h"), "from host\n").unwrap();
    let bind = format!(
        "type=bind,source={},target=/h,readonly",
        host.path().display()
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--mount",
        &bind,
        "--mount",
        "type=volume,source=mv,target=/v",
        "--mount",
        "type=tmpfs,destination=/t,tmpfs-size=1m",
        "busybox",
        "sh",
        "-c",
        "cat /h/h; touch /h/x 2>/dev/null || echo bind ro; echo v > /v/f && cat /v/f; grep ' /t ' /proc/mounts | grep -o 'size=[0-9]*k'",
    ]);
    assert_eq!(out, "from host\nbind ro\nv\nsize=1024k\n");
    assert_eq!(volumes(&env), vec!["mv"]);
    for (spec, says) in [
        ("type=volume,source=mv", "target is required"),
        (
            "type=bind,target=/x",
            "invalid mount config for type \"bind\": field Source must not be empty",
        ),
        (
            "type=bind,source=/no/such/dir,target=/x",
            "bind source path does not exist: /no/such/dir",
        ),
        (
            "type=tmpfs,source=mv,target=/x",
            "invalid mount config for type \"tmpfs\"",
        ),
        (
            "type=volume,source=mv,target=/x,tmpfs-size=1m",
            "cannot mix 'tmpfs-*' options with mount type 'volume'",
        ),
        ("type=volume,target=/x,color=red", "unexpected key 'color'"),
        ("type=volume,source=mv,target=x", "must be absolute"),
    ] {
        let e = fails(&env, &["run", "--rm", "--mount", spec, "busybox", "true"]);
        assert!(e.contains(says), "--mount {spec}: {e}");
    }
    let e = fails(
        &env,
        &["run", "--rm", "--volume", "bad!name:/x", "busybox", "true"],
    );
    assert!(
        e.contains("includes invalid characters for a local volume name"),
        "{e}"
    );
    let e = fails(
        &env,
        &[
            "run",
            "--rm",
            "--volume",
            "a1:/x",
            "--mount",
            "type=volume,target=/x",
            "busybox",
            "true",
        ],
    );
    assert!(e.contains("Duplicate mount point: /x"), "{e}");
    env.ok(&["volume", "rm", "mv"]);
    assert!(volumes(&env).is_empty(), "a refused run made no volume");
    env.assert_clean();
}

#[test]
fn volumes_from_mounts_another_containers_volumes() {
    if !root_or_skip("volumes_from_mounts_another_containers_volumes") {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/b", host.path().display());
    env.ok(&[
        "run",
        "--name",
        "source",
        "--volume",
        "shared:/s",
        "--volume",
        "/anon",
        "--volume",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo s > /s/f; echo a > /anon/f; echo b > /b/f",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "source",
        "busybox",
        "sh",
        "-c",
        "cat /s/f /anon/f /b/f; echo more > /s/g",
    ]);
    assert_eq!(out, "s\na\nb\n");
    let o = env.gb(&[
        "run",
        "--rm",
        "--volumes-from",
        "source:ro",
        "busybox",
        "touch",
        "/anon/x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The anonymous volume --rm ran with was source's: it stays with source.
    assert_eq!(volumes(&env).len(), 2);
    let e = fails(
        &env,
        &["run", "--rm", "--volumes-from", "nobody", "busybox", "true"],
    );
    assert!(e.contains("no such container: nobody"), "{e}");
    env.ok(&[
        "run",
        "--name",
        "consumer",
        "--volumes-from",
        "source",
        "busybox",
        "cat",
        "/anon/f",
    ]);
    env.ok(&["rm", "--volumes", "source"]);
    // consumer still uses source's anonymous volume: it stays, and consumer starts again
    // with the volumes it was made with, though source is gone.
    assert_eq!(volumes(&env).len(), 2);
    env.ok(&["start", "consumer"]);
    assert_eq!(env.ok(&["wait", "consumer"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "consumer"]), "a\n");
    env.ok(&["rm", "--volumes", "consumer"]);
    assert_eq!(volumes(&env), vec!["shared"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "b\n"
    );
    env.ok(&["volume", "rm", "shared"]);
    env.assert_clean();
}

#[test]
fn volume_create_ls_and_inspect_as_docker() {
    if !root_or_skip("volume_create_ls_and_inspect_as_docker") {
        return;
    }
    let env = Env::new();
    assert_eq!(env.ok(&["volume", "create", "web-data"]), "web-data\n");
    // Again: no error, as docker.
    assert_eq!(env.ok(&["volume", "create", "web-data"]), "web-data\n");
    let random = env.ok(&["volume", "create", "--label", "app=web"]);
    let random = random.trim();
    assert_eq!(random.len(), 64);
    let table = stdout(&env.cmd().args(["volume", "ls"]).output().unwrap());
    assert!(table.starts_with("DRIVER    VOLUME NAME\n"), "{table}");
    assert!(table.contains("local     web-data\n"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", random])).unwrap();
    assert_eq!(json[0]["Labels"]["app"], "web");
    assert_eq!(
        env.ok(&["volume", "ls", "-f", "label=app=web"]).trim(),
        random
    );
    let e = fails(&env, &["volume", "create", "../x"]);
    assert!(
        e.contains("invalid characters for a local volume name"),
        "{e}"
    );
    env.ok(&["volume", "rm", "web-data", random]);
    assert!(volumes(&env).is_empty());
    assert!(journal_empty(env.state.path()));
    env.assert_clean();
}

#[test]
fn a_run_that_cannot_make_its_container_leaves_no_new_volume() {
    if !root_or_skip("a_run_that_cannot_make_its_container_leaves_no_new_volume") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run", "--name", "taken", "--volume", "old:/o", "busybox", "true",
    ]);
    let e = fails(
        &env,
        &[
            "run", "--name", "taken", "--volume", "old:/o", "--volume", "fresh:/f", "--volume",
            "/anon", "busybox", "true",
        ],
    );
    assert!(e.contains("already in use"), "{e}");
    assert_eq!(
        volumes(&env),
        vec!["old"],
        "the volumes made for it are gone"
    );
    env.ok(&["rm", "taken"]);
    env.ok(&["volume", "rm", "old"]);
    env.assert_clean();
}

#[test]
fn a_dry_run_makes_no_volume() {
    if !root_or_skip("a_dry_run_makes_no_volume") {
        return;
    }
    let env = Env::new();
    let o = env
        .cmd()
        .args([
            "--dry-run",
            "run",
            "--volume",
            "planned:/p",
            "--volume",
            "/a",
            "busybox",
            "true",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("volume planned is new: made now, for /p"), "{e}");
    assert!(e.contains("mkdir("), "{e}");
    // The config.json it shows has the volume it would make, as a bind mount.
    let planned = env.data().join("volumes/planned/_data");
    let out = stdout(&o);
    assert!(
        out.contains(&format!("\"source\": \"{}\"", planned.display())),
        "{out}"
    );
    assert!(volumes(&env).is_empty());
    env.assert_clean();
}

#[test]
fn volumes_are_narrated_as_they_are_made_and_mounted() {
    if !root_or_skip("volumes_are_narrated_as_they_are_made_and_mounted")
        || !tool_or_skip(
            "volumes_are_narrated_as_they_are_made_and_mounted",
            "strace",
        )
    {
        return;
    }
    let env = Env::new();
    // The image (and busybox's export) first, so the traced run only makes volumes.
    env.ok(&["run", "--name", "base", "busybox", "mkdir", "/seed"]);
    env.ok(&["commit", "--change", "VOLUME /seed", "base", "vol:v1"]);
    env.ok(&["rm", "base"]);
    let t = strace::run_with(
        &["run", "--rm", "--volume", "traced:/t:ro", "vol:v1", "true"],
        |c| {
            c.env("GLASSBOX_STATE_DIR", env.state.path());
        },
    );
    let err = stderr(&t.output);
    assert!(t.output.status.success(), "{err}");
    t.assert_honest();
    let made = |name: &str| {
        format!(
            "  mkdir(\"{}\", 0701) = 0",
            env.data().join("volumes").join(name).display()
        )
    };
    assert!(err.contains(&made("traced")), "{err}");
    assert!(
        err.contains("copy-up: the image's files at /seed fill the new volume"),
        "{err}"
    );
    assert!(err.contains("mount_setattr("), "{err}");
    // --rm took the anonymous volume, and kept the named one.
    assert_eq!(volumes(&env), vec!["traced"]);
    env.ok(&["volume", "rm", "traced"]);
    env.ok(&["rmi", "vol:v1"]);
    env.assert_clean();
}

#[test]
fn an_image_volume_on_a_symlink_copies_nothing_from_the_host_and_is_refused() {
    if !root_or_skip("an_image_volume_on_a_symlink_copies_nothing_from_the_host_and_is_refused") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        "ln -s /etc /seed; mkdir /d; ln -s ../../../../../../etc /d/up",
    ]);
    env.ok(&["commit", "--change", "VOLUME /seed /d/up", "base", "evil"]);
    env.ok(&["rm", "base"]);
    let o = env.gb(&["run", "--name", "victim", "evil", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is a symlink"), "{}", stderr(&o));
    // Its volumes were made, and nothing of the host's /etc was copied into them.
    let vols = volumes(&env);
    assert_eq!(vols.len(), 2, "{vols:?}");
    for v in &vols {
        let data = env.data().join(format!("volumes/{v}/_data"));
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "{v}");
    }
    env.ok(&["rm", "--volumes", "victim"]);
    assert!(volumes(&env).is_empty());
    env.ok(&["rmi", "evil"]);
    env.assert_clean();
}

#[test]
fn an_interrupted_volume_create_or_rm_leaves_nothing_half_made() {
    use std::os::unix::process::ExitStatusExt;
    if !root_or_skip("an_interrupted_volume_create_or_rm_leaves_nothing_half_made")
        || !tool_or_skip(
            "an_interrupted_volume_create_or_rm_leaves_nothing_half_made",
            "strace",
        )
    {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "first"]);
    let in_state = |c: &mut std::process::Command| {
        c.env("GLASSBOX_STATE_DIR", env.state.path());
    };
    // Killed at the mkdir of the volume's _data: its directory is there, its record not.
    let t = strace::run_injected(
        "mkdir:signal=KILL:when=4",
        &["volume", "create", "second"],
        in_state,
    );
    assert_eq!(t.output.status.signal(), Some(libc::SIGKILL));
    let second = env.data().join("volumes/second");
    assert!(second.is_dir(), "killed after its directory was made");
    assert_eq!(
        volumes(&env),
        vec!["first"],
        "a half-made volume is not listed"
    );
    assert!(!journal_empty(env.state.path()));
    env.ok(&["cleanup"]);
    assert!(!second.exists());
    // Killed while its files are deleted: renamed aside first, so gone from the list at once.
    std::fs::write(env.data().join("volumes/first/_data/f"), "x").unwrap();
    let t = strace::run_injected(
        "unlinkat:signal=KILL:when=1",
        &["volume", "rm", "first"],
        in_state,
    );
    assert_eq!(t.output.status.signal(), Some(libc::SIGKILL));
    assert!(volumes(&env).is_empty());
    assert!(!journal_empty(env.state.path()));
    env.ok(&["cleanup"]);
    let left: Vec<_> = std::fs::read_dir(env.data().join("volumes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    env.assert_clean();
}

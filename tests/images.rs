//! Images on the real kernel: what `diff` reads from a container's upper directory, what
//! `commit` makes of it, that the new image runs with the changes, that `save` writes
//! archives skopeo, umoci and `glassbox unpack` read, and that bad input changes nothing.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A state and data directory of the test's own; everything the test makes lives in it and
/// goes with it.
struct Env(common::store::Store);

impl std::ops::Deref for Env {
    type Target = common::store::Store;
    fn deref(&self) -> &common::store::Store {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        Env(common::store::Store::new("gb-img-"))
    }
    /// `glassbox ARGS…` without -q (which makes `images` print only ids), which must
    /// succeed; its stdout.
    fn table(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().unwrap();
        assert!(o.status.success(), "glassbox {args:?}: {}", stderr(&o));
        stdout(&o)
    }
    /// Every path under the state directory, for "nothing changed".
    fn tree(&self) -> Vec<String> {
        fn walk(d: &Path, out: &mut Vec<String>) {
            let Ok(rd) = std::fs::read_dir(d) else { return };
            for e in rd.flatten() {
                out.push(e.path().display().to_string());
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
        let mut v = Vec::new();
        walk(self.state.path(), &mut v);
        v.sort();
        v
    }
    /// The busybox image's rootfs, as exported into the cache.
    fn busybox_rootfs(&self) -> PathBuf {
        self.data().join("images/busybox/rootfs")
    }
    /// Container c1 adds /new, changes /etc/passwd and deletes /bin/vi; commit it as
    /// myimg:v1. Returns the new image's id.
    fn committed(&self) -> String {
        self.ok(&[
            "run",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo new > /new; echo x >> /etc/passwd; rm /bin/vi",
        ]);
        let out = self.ok(&["commit", "-m", "adds /new", "c1", "myimg:v1"]);
        let id = out.trim().strip_prefix("sha256:").unwrap_or_else(|| {
            panic!("commit printed {out:?}, not the image id");
        });
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{out:?}"
        );
        id.to_string()
    }
    fn layer_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data().join("images/layers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

fn ready(test: &str) -> bool {
    root_or_skip(test) && tool_or_skip(test, "busybox") && Path::new("/bin/busybox").exists()
}

fn sha256_file(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

/// Table rows without the header, each split on runs of 2+ spaces (cells hold single spaces).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn diff_shows_what_a_container_added_changed_and_deleted() {
    if !ready("diff_shows_what_a_container_added_changed_and_deleted") {
        return;
    }
    let env = Env::new();
    // What the test relies on: busybox has /bin/vi and /etc/passwd, and no /new.
    env.ok(&["run", "--rm", "busybox", "true"]);
    let rootfs = env.busybox_rootfs();
    assert!(rootfs.join("bin/vi").symlink_metadata().is_ok());
    assert!(rootfs.join("etc/passwd").is_file() && !rootfs.join("new").exists());
    env.ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo new > /new; echo x >> /etc/passwd; rm /bin/vi",
    ]);
    let o = env.gb(&["diff", "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /new\n"
    );
    // The container wrote /etc/hostname's layer (its init layer), not its changes.
    assert!(!stdout(&o).contains("hostname"));
    // A container that changed nothing has an empty diff.
    env.ok(&["run", "--name", "c0", "busybox", "true"]);
    assert_eq!(env.ok(&["diff", "c0"]), "");
    // By id too.
    let ps = env.ok(&["ps", "-aq"]);
    let ids: Vec<&str> = ps.lines().collect();
    assert_eq!(ids.len(), 2, "{ps}");
    env.ok(&["rm", "c0", "c1"]);
}

#[test]
fn a_directory_made_again_is_opaque_and_hides_what_the_image_had() {
    if !ready("a_directory_made_again_is_opaque") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "c2",
        "busybox",
        "sh",
        "-c",
        "rm -rf /etc; mkdir /etc; echo a > /etc/only; ln /bin/busybox /bb2; mkfifo /ff",
    ]);
    // Everything busybox and the init layer had in /etc is gone; /bin/busybox was copied
    // up to be linked, so it is a change.
    assert_eq!(
        env.ok(&["diff", "c2"]),
        "A /bb2\nC /bin\nC /bin/busybox\nC /etc\nD /etc/group\nD /etc/hostname\nD /etc/hosts\nA /etc/only\nD /etc/passwd\nA /ff\n"
    );
    env.ok(&["commit", "c2", "opaque:v1"]);
    // The new layer keeps the opaque directory: the image's /etc shows nothing of busybox's,
    // and only the new container's own init files are added back.
    let out = env.ok(&[
        "run",
        "--rm",
        "opaque:v1",
        "sh",
        "-c",
        "ls /etc; ls -i /bin/busybox /bb2 | awk '{print $1}' | uniq | wc -l; ls -l /ff | cut -c1",
    ]);
    assert_eq!(out, "hostname\nhosts\nonly\n1\np\n");
    // An OCI archive keeps it too: umoci sees /etc with only /etc/only.
    if !tool_or_skip("opaque_oci", "umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("o.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "opaque:v1",
        "-o",
        tar.to_str().unwrap(),
    ]);
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let o = Command::new("tar")
        .arg("xf")
        .arg(&tar)
        .arg("-C")
        .arg(&layout)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let bundle = dir.path().join("bundle");
    let o = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = std::fs::read_dir(bundle.join("rootfs/etc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["only"]);
}

#[test]
fn a_committed_image_runs_with_the_changes() {
    if !ready("a_committed_image_runs_with_the_changes") {
        return;
    }
    let env = Env::new();
    let id = env.committed();
    // The image id is the sha256 of its config, as docker's is.
    let config = env.data().join(format!("images/store/{id}/config.json"));
    assert_eq!(sha256_file(&config), id);
    // Only root may change the store (its records say which directories a container
    // stacks), even after a run whose export set the umask to 0.
    let mut store = vec![env.data().join("images"), env.data().join("images/layers")];
    store.extend(env.layer_dirs());
    for d in ["images/store", &format!("images/store/{id}")] {
        store.push(env.data().join(d));
        for e in std::fs::read_dir(env.data().join(d)).unwrap().flatten() {
            store.push(e.path());
        }
    }
    for p in &store {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "{} is {mode:o}", p.display());
    }
    let out = env.ok(&[
        "run",
        "--rm",
        "myimg:v1",
        "sh",
        "-c",
        "cat /new; test -e /bin/vi || echo vi gone; tail -n 1 /etc/passwd",
    ]);
    assert_eq!(out, "new\nvi gone\nx\n");
    // By a short id, too.
    assert_eq!(env.ok(&["run", "--rm", &id[..12], "cat", "/new"]), "new\n");

    let images = rows(&env.table(&["images"]));
    let mine = images
        .iter()
        .find(|r| r[0] == "myimg")
        .unwrap_or_else(|| panic!("{images:?}"));
    assert_eq!(mine[1], "v1");
    assert_eq!(mine[2], &id[..12]);
    assert_eq!(mine.last().unwrap(), "2", "two layers: {mine:?}");
    let bb = images.iter().find(|r| r[0] == "busybox").unwrap();
    assert_eq!(
        (bb[1].as_str(), bb.last().unwrap().as_str()),
        ("latest", "1")
    );
    assert_eq!(env.ok(&["images", "myimg"]), format!("{}\n", &id[..12]));

    let history = env.table(&["history", "myimg:v1"]);
    let h = rows(&history);
    assert_eq!(h.len(), 2, "{history}");
    assert_eq!(h[0][0], &id[..12]);
    assert!(h[0][2].starts_with("sh -c echo new > /new"), "{history}");
    assert_eq!(
        h[0][3], "77B",
        "the layer holds /new (4 B) and /etc/passwd: {history}"
    );
    assert_eq!(h[0].last().unwrap(), "adds /new");
    assert_eq!(h[1][2], "glassbox unpack busybox", "{history}");
    // The bottom row is the busybox image itself.
    assert_eq!(h[1][0], bb[2]);
}

#[test]
fn two_containers_of_one_image_share_its_layers_and_not_their_writes() {
    if !ready("two_containers_share_layers") {
        return;
    }
    let env = Env::new();
    env.committed();
    env.ok(&[
        "run",
        "--name",
        "a",
        "myimg:v1",
        "sh",
        "-c",
        "echo a > /mine",
    ]);
    let o = env.gb(&["run", "--name", "b", "myimg:v1", "cat", "/mine"]);
    assert_eq!(o.status.code(), Some(1), "b sees a's write: {}", stdout(&o));
    // Both read the very files of the store: overlayfs shows a lower file's own inode.
    let layer = env.layer_dirs();
    assert_eq!(layer.len(), 1, "one committed layer on disk: {layer:?}");
    let inode = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().ino().to_string()
    };
    let want = format!(
        "{}\n{}\n",
        inode(&env.busybox_rootfs().join("bin/busybox")),
        inode(&layer[0].join("new"))
    );
    for _ in 0..2 {
        let got = env.ok(&[
            "run",
            "--rm",
            "myimg:v1",
            "stat",
            "-c",
            "%i",
            "/bin/busybox",
            "/new",
        ]);
        assert_eq!(got, want);
    }
    // The records point at the same directories.
    let rec = |name: &str| -> serde_json::Value {
        let dir = std::fs::read_dir(env.data().join("containers"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                std::fs::read_to_string(p.join("container.json"))
                    .is_ok_and(|t| t.contains(&format!("\"name\": \"{name}\"")))
            })
            .unwrap();
        serde_json::from_str(&std::fs::read_to_string(dir.join("container.json")).unwrap()).unwrap()
    };
    let (a, b) = (rec("a"), rec("b"));
    assert_eq!(a["rootfs"], b["rootfs"]);
    assert_eq!(a["layers"], b["layers"]);
    assert_eq!(a["layers"][0], layer[0].display().to_string());
}

/// Unpack `image` from an OCI layout with umoci; the unpacked rootfs.
fn umoci_unpack(layout: &Path, image: &str, into: &Path) -> PathBuf {
    let o = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{image}", layout.display()))
        .arg(into)
        .output()
        .unwrap();
    assert!(o.status.success(), "umoci: {}", stderr(&o));
    into.join("rootfs")
}

fn assert_has_the_changes(rootfs: &Path) {
    assert_eq!(
        std::fs::read_to_string(rootfs.join("new")).unwrap(),
        "new\n"
    );
    assert!(
        rootfs.join("bin/vi").symlink_metadata().is_err(),
        "/bin/vi is back in {}",
        rootfs.display()
    );
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(std::fs::read_to_string(rootfs.join("etc/passwd"))
        .unwrap()
        .ends_with("x\n"));
    // No whiteout is left over as a file.
    assert!(!rootfs.join("bin/.wh.vi").exists());
}

#[test]
fn save_writes_archives_that_skopeo_umoci_and_export_read() {
    if !ready("save_writes_archives") {
        return;
    }
    if !tool_or_skip("save_writes_archives", "skopeo")
        || !tool_or_skip("save_writes_archives", "umoci")
    {
        return;
    }
    let env = Env::new();
    let id = env.committed();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // docker save form: skopeo reads it and converts it; umoci unpacks the result.
    let x = d.join("x.tar");
    env.ok(&["save", "myimg:v1", "-o", x.to_str().unwrap()]);
    let list = stdout(&Command::new("tar").arg("tf").arg(&x).output().unwrap());
    assert!(list.lines().any(|l| l == "manifest.json"), "{list}");
    assert!(list.lines().any(|l| l == format!("{id}.json")), "{list}");
    let manifest = stdout(
        &Command::new("tar")
            .arg("xOf")
            .arg(&x)
            .arg("manifest.json")
            .output()
            .unwrap(),
    );
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m[0]["RepoTags"][0], "myimg:v1");
    assert_eq!(m[0]["Layers"].as_array().unwrap().len(), 2);
    let o = Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", x.display()))
        .arg(format!("oci:{}:t", d.join("oci").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo: {}", stderr(&o));
    assert_has_the_changes(&umoci_unpack(&d.join("oci"), "t", &d.join("bundle1")));

    // OCI layout form, in a tar: untarred, umoci reads it as it is.
    let o_tar = d.join("o.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        "myimg:v1",
        "-o",
        o_tar.to_str().unwrap(),
    ]);
    let layout = d.join("layout");
    std::fs::create_dir(&layout).unwrap();
    assert!(Command::new("tar")
        .arg("xf")
        .arg(&o_tar)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap()
        .success());
    assert!(layout.join("blobs/sha256").join(&id).is_file());
    assert_has_the_changes(&umoci_unpack(&layout, "v1", &d.join("bundle2")));
    // skopeo reads the archive itself.
    let o = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", o_tar.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["Layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // And glassbox unpack reads all three back into a root filesystem.
    for (src, to) in [(&x, "r1"), (&o_tar, "r2"), (&layout, "r3")] {
        env.ok(&[
            "unpack",
            src.to_str().unwrap(),
            d.join(to).to_str().unwrap(),
        ]);
        assert_has_the_changes(&d.join(to));
    }
    // The same image saves to the same bytes: layers are made the same way every time.
    let y = d.join("y.tar");
    env.ok(&["save", "myimg:v1", "-o", y.to_str().unwrap()]);
    assert_eq!(sha256_file(&x), sha256_file(&y));
    // Nothing but the archives was left beside them.
    let mut left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    left.sort();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_input_says_so_in_one_sentence_and_changes_nothing() {
    if !ready("bad_input_changes_nothing") {
        return;
    }
    let env = Env::new();
    env.committed();
    env.ok(&[
        "run",
        "--no-overlay",
        "--name",
        "copy",
        "busybox",
        "touch",
        "/t",
    ]);
    let before = env.tree();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("x.tar");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["diff", "nosuch"], "no such container: nosuch"),
        (&["diff", "../x"], "\"../x\" is not a container name or id"),
        (&["commit", "nosuch", "img"], "no such container: nosuch"),
        (
            &["commit", "../x", "img"],
            "\"../x\" is not a container name or id",
        ),
        (
            &["commit", "c1", "../x"],
            "\"../x\" is not a valid image name",
        ),
        (
            &["commit", "c1", "Bad:Tag!"],
            "\"Bad:Tag!\" is not a valid image name",
        ),
        (
            &["commit", "c1", "a/../b"],
            "\"a/../b\" is not a valid image name",
        ),
        (
            &["commit", "c1", "/abs"],
            "\"/abs\" is not a valid image name",
        ),
        (
            &["commit", "-c", "VOLUME x", "c1", "img"],
            "the change \"VOLUME x\" cannot be applied",
        ),
        (
            &["diff", "copy"],
            "container copy runs on a private copy of its image (--no-overlay)",
        ),
        (
            &["commit", "copy", "img"],
            "runs on a private copy of its image",
        ),
        (&["rmi", "nosuch"], "no such image: nosuch"),
        (&["rmi", "../x"], "\"../x\" is not a valid image name"),
        (&["history", "nosuch:v2"], "no such image: nosuch:v2"),
        (
            &["history", "Bad:Tag!"],
            "\"Bad:Tag!\" is not a valid image name",
        ),
        (&["save", "nosuch", "-o", out], "no such image: nosuch"),
        (&["images", "UPPER"], "\"UPPER\" is not a valid image name"),
    ];
    for (args, said) in cases {
        let o = env.gb(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "glassbox {args:?}: {}",
            stderr(&o)
        );
        let err = stderr(&o);
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("glassbox: error: ") && first.contains(said) && first.ends_with('.'),
            "glassbox {args:?} said: {err}"
        );
        assert!(
            err.contains("what to do:"),
            "glassbox {args:?} says nothing to do: {err}"
        );
        assert!(stdout(&o).is_empty());
    }
    // run's own failures keep docker run's code.
    let o = env.gb(&["run", "nosuch:v1", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no such image or file: nosuch:v1"));
    assert_eq!(env.tree(), before, "bad input changed the state directory");
    assert!(!Path::new(out).exists());
}

#[test]
fn rmi_refuses_an_image_in_use_and_removes_what_nothing_uses() {
    if !ready("rmi_refuses_an_image_in_use") {
        return;
    }
    let env = Env::new();
    let id = env.committed();
    // c1 runs on busybox: refused, nothing changed.
    let o = env.gb(&["rmi", "busybox"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot remove image busybox:latest: container c1 uses it"),
        "{}",
        stderr(&o)
    );
    // myimg:v1 is built on busybox: by id, refused too.
    let bb_id = rows(&env.table(&["images", "busybox"]))[0][2].clone();
    env.ok(&["rm", "c1"]);
    let o = env.gb(&["rmi", &bb_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("image myimg:v1 is built on it"),
        "{}",
        stderr(&o)
    );
    // A container of myimg:v1 holds it; -f takes only its names.
    env.ok(&["run", "--name", "user", "myimg:v1", "true"]);
    let o = env.gb(&["rmi", "myimg:v1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("container user uses it"));
    assert_eq!(env.ok(&["rmi", "-f", "myimg:v1"]), "Untagged: myimg:v1\n");
    let none = rows(&env.table(&["images"]));
    assert!(
        none.iter().any(|r| r[0] == "<none>" && r[2] == id[..12]),
        "{none:?}"
    );
    assert_eq!(env.ok(&["run", "--rm", &id[..12], "cat", "/new"]), "new\n");
    // Once the container is gone, the image and its layer go; busybox's layer stays with it.
    env.ok(&["rm", "user"]);
    let out = env.ok(&["rmi", &id[..12]]);
    assert!(
        out.starts_with(&format!("Deleted: sha256:{id}\nDeleted: sha256:")),
        "{out}"
    );
    assert!(env.layer_dirs().is_empty());
    assert!(env.busybox_rootfs().is_dir());
    // An image built on busybox holds busybox: by id refused; by name only the name goes
    // (as docker), and the image stays, unnamed, under its child.
    env.ok(&["run", "--name", "c3", "busybox", "touch", "/t"]);
    env.ok(&["commit", "c3", "two:a"]);
    env.ok(&["rm", "c3"]);
    let o = env.gb(&["rmi", &bb_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("image two:a is built on it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.ok(&["rmi", "busybox"]), "Untagged: busybox:latest\n");
    assert!(env.busybox_rootfs().is_dir());
    let out = env.ok(&["rmi", "two:a"]);
    assert!(
        out.starts_with("Untagged: two:a\nDeleted: sha256:"),
        "{out}"
    );
    // Its parent, busybox's image, now untagged and with nothing else built on it, goes
    // with it (docker rmi removes untagged parents), export cache and all.
    assert!(out.contains(&format!("Deleted: sha256:{bb_id}")), "{out}");
    assert!(!env.data().join("images/busybox").exists());
    assert!(env.layer_dirs().is_empty());
    assert_eq!(env.ok(&["images"]), "");
    // The next run exports busybox again.
    env.ok(&["run", "--rm", "busybox", "true"]);
    assert!(env.busybox_rootfs().is_dir());
    assert_eq!(rows(&env.table(&["images"]))[0][0], "busybox");
}

/// `glassbox rm -f NAME` when dropped: a detached container never outlives its test.
struct RmOnDrop<'a>(&'a Env, &'a str);

impl Drop for RmOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.gb(&["rm", "-f", self.1]);
    }
}

#[test]
fn a_running_container_is_committed_as_it_is() {
    if !ready("a_running_container_is_committed") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo up > /up; sleep 60",
    ]);
    let _rm = RmOnDrop(&env, "live");
    let wrote = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        env.ok(&["diff", "live"]).contains("A /up")
    });
    assert!(wrote, "the detached container never wrote /up");
    let o = env
        .cmd()
        .args(["commit", "live", "live:v1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("live is running: its files are copied as they are at this moment"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.ok(&["run", "--rm", "live:v1", "cat", "/up"]), "up\n");
}

#[test]
fn the_narration_of_a_commit_is_honest() {
    if !ready("the_narration_of_a_commit_is_honest") || !tool_or_skip("commit_honest", "strace") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo new > /new; rm /bin/vi",
    ]);
    let state = env.state.path().to_path_buf();
    let t = strace::run_with(&["commit", "c1", "traced:v1"], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    let names = t.narrated_names();
    for call in ["mkdir", "openat", "umask", "renameat2"] {
        assert!(
            names.iter().any(|n| n == call),
            "{call} not narrated: {names:?}"
        );
    }
    assert_eq!(
        env.ok(&["run", "--rm", "traced:v1", "cat", "/new"]),
        "new\n"
    );
}

#[test]
fn a_committed_layer_counts_for_users_and_for_a_private_copy() {
    if !ready("a_committed_layer_counts_for_users_and_for_a_private_copy") {
        return;
    }
    let e = Env::new();
    e.ok(&[
        "run",
        "--name",
        "adduser",
        "busybox",
        "sh",
        "-c",
        "echo 'app:x:4321:4322::/:/bin/sh' >> /etc/passwd; rm /bin/vi",
    ]);
    e.ok(&["commit", "adduser", "withuser:v1"]);
    // -u NAME is looked up in the /etc/passwd the container sees: the committed layer's.
    let out = e.ok(&["run", "--rm", "-u", "app", "withuser:v1", "id"]);
    assert!(out.starts_with("uid=4321(app) gid=4322"), "{out}");
    // Without an overlay the layers are applied to a copy: the deletion holds there too.
    let out = e.ok(&[
        "run",
        "--rm",
        "--no-overlay",
        "withuser:v1",
        "sh",
        "-c",
        "grep -c ^app: /etc/passwd; ls /bin/vi 2>/dev/null || echo no-vi",
    ]);
    assert_eq!(out, "1\nno-vi\n");
}

#[test]
fn tag_gives_an_image_another_name() {
    if !ready("tag_gives_an_image_another_name") {
        return;
    }
    let e = Env::new();
    e.ok(&[
        "run",
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "echo tagged > /t",
    ]);
    e.ok(&["commit", "t1", "first:v1"]);
    e.ok(&["tag", "first:v1", "second"]);
    // Both names, one image id.
    let table = e.table(&["images"]);
    let id_of = |repo: &str| {
        rows(&table)
            .into_iter()
            .find(|r| r[0] == repo)
            .map(|r| r[2].clone())
            .unwrap_or_else(|| panic!("{repo} not listed:\n{table}"))
    };
    assert_eq!(id_of("first"), id_of("second"));
    assert_eq!(
        e.ok(&["run", "--rm", "second:latest", "cat", "/t"]),
        "tagged\n"
    );
    // Bad input: one sentence, exit 1, nothing changed.
    for (args, says) in [
        (vec!["tag", "nosuch:v1", "x"], "no such image: nosuch:v1"),
        (vec!["tag", "first:v1", "Bad:Tag!"], "Bad:Tag!"),
    ] {
        let o = e.gb(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // The same images and ids (CREATED moves on with the clock: left out).
    let without_age = |t: &str| -> Vec<Vec<String>> {
        rows(t)
            .into_iter()
            .map(|r| r.into_iter().take(3).collect())
            .collect()
    };
    assert_eq!(without_age(&e.table(&["images"])), without_age(&table));
}

/// `export CONTAINER -o FILE` (as docker export) writes what the container sees — its
/// changes over its image, deleted files and replaced directories left out — and `import`
/// makes an image of that tar which runs with the same files. The view is mounted in a
/// mount namespace of export's own: the host's mount table does not change.
#[test]
fn export_writes_a_containers_files_and_import_runs_them() {
    if !ready("export_writes_a_containers_files") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo new > /new; rm /bin/vi; rm -rf /etc; mkdir /etc; echo a > /etc/only; sleep 60",
    ]);
    let _rm = RmOnDrop(&env, "live");
    let wrote = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        env.ok(&["diff", "live"]).contains("A /etc/only")
    });
    assert!(wrote, "the detached container never wrote /etc/only");
    let before = host_mounts();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("live.tar");
    env.ok(&["export", "live", "-o", tar.to_str().unwrap()]);
    assert_eq!(host_mounts(), before, "export left a mount on the host");
    let o = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    let names: Vec<String> = stdout(&o).lines().map(String::from).collect();
    for want in ["new", "etc/only", "bin/busybox"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for gone in ["bin/vi", "etc/passwd"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} in {names:?}");
    }
    env.ok(&["import", tar.to_str().unwrap(), "liveimg:v1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "liveimg:v1",
        "sh",
        "-c",
        "cat /new; ls /etc; test -e /bin/vi || echo no vi",
    ]);
    // The new container's own init files come back in /etc, as in any container.
    assert_eq!(out, "new\nhostname\nhosts\nonly\nno vi\n");
    // Without -o, to stdout: the same tar.
    let o = env.gb(&["export", "live"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&tar).unwrap());
}

/// `unpack IMAGE DIR` is the image-to-directory verb; `export IMAGE DIR`, its old spelling,
/// still works and says so; `export` of something that is no container says what to type.
#[test]
fn unpack_takes_an_image_and_export_a_container() {
    if !ready("unpack_takes_an_image") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    let old = dir.path().join("old");
    env.ok(&["unpack", "busybox", new.to_str().unwrap()]);
    assert!(new.join("bin/busybox").exists());
    let o = env
        .cmd()
        .args(["export", "busybox", old.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(old.join("bin/busybox").exists());
    assert!(
        stderr(&o).contains("is now `glassbox unpack IMAGE DIR`"),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("x.tar");
    let o = env.gb(&["export", "busybox", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no such container: busybox")
            && stderr(&o).contains("glassbox unpack busybox DIR"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn the_narration_of_an_export_is_honest() {
    if !ready("the_narration_of_an_export_is_honest") || !tool_or_skip("export_honest", "strace") {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo new > /new",
    ]);
    let state = env.state.path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("c1.tar");
    let t = strace::run_with(&["export", "c1", "-o", tar.to_str().unwrap()], |c| {
        c.env("GLASSBOX_STATE_DIR", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    let names = t.narrated_names();
    for call in ["unshare", "mount"] {
        assert!(
            names.iter().any(|n| n == call),
            "{call} not narrated: {names:?}"
        );
    }
}

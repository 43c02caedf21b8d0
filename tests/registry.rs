//! `glassbox pull` against a real registry (Debian's docker-registry, started by each test
//! on 127.0.0.1 with a port and storage of its own, and killed after) and against a small
//! hostile one written here. Images are made with umoci and pushed with skopeo. Traffic
//! goes to 127.0.0.1 only.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A data and state directory of the test's own.
struct Env(common::store::Store);

impl std::ops::Deref for Env {
    type Target = common::store::Store;
    fn deref(&self) -> &common::store::Store {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        Env(common::store::Store::new("gb-pull-"))
    }
    /// The layer directories of the store.
    fn layers(&self) -> Vec<String> {
        names(&self.data().join("images/layers"))
    }
    /// The blobs of the store (temporary ones included).
    fn blobs(&self) -> Vec<String> {
        names(&self.data().join("blobs/sha256"))
    }
    /// `glassbox images` (without -q, which would list only ids).
    fn images(&self) -> String {
        let o = self.cmd().arg("images").output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    }
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A docker-registry of the test's own; killed when dropped.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: Option<&str>) -> Registry {
        Registry::start_with(htpasswd, None)
    }

    /// With TLS: the server's certificate and key files.
    fn start_with(htpasswd: Option<&str>, tls: Option<(&Path, &Path)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth = match htpasswd {
            Some(line) => {
                let p = dir.path().join("htpasswd");
                std::fs::write(&p, line).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    p.display()
                )
            }
            None => String::new(),
        };
        let tls = match tls {
            Some((cert, key)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}",
            dir.path().join("storage").display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Registry {
            child,
            port,
            _dir: dir,
        }
    }
    fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools_or_skip(test: &str) -> bool {
    root_or_skip(test)
        && tool_or_skip(test, "skopeo")
        && tool_or_skip(test, "umoci")
        && tool_or_skip(test, "busybox")
        && Path::new(REGISTRY).exists()
}

fn sh(script: &str) {
    let o = Command::new("sh").arg("-ec").arg(script).output().unwrap();
    assert!(
        o.status.success(),
        "{script} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// An OCI layout at `dir` whose tag `tag` has one layer per script (each run in the
/// unpacked root filesystem, as `cd ROOTFS && sh -c SCRIPT`).
fn umoci_image(dir: &Path, tag: &str, layers: &[&str]) {
    let d = dir.display();
    if !dir.join("oci-layout").exists() {
        sh(&format!("umoci init --layout {d}"));
    }
    sh(&format!("umoci new --image {d}:{tag}"));
    for (i, script) in layers.iter().enumerate() {
        let b = dir.with_extension(format!("b{i}"));
        let b = b.display();
        sh(&format!(
            "umoci unpack --image {d}:{tag} {b} >/dev/null; cd {b}/rootfs; {script}; cd /; umoci repack --image {d}:{tag} {b}; rm -rf {b}"
        ));
    }
    sh(&format!(
        "umoci config --image {d}:{tag} --config.cmd /bin/sh --config.env PATH=/bin"
    ));
}

/// The base: busybox, and files of every kind under /data.
const BASE: &str = "mkdir -p bin data/sub data/gone; cp /bin/busybox bin/; ln -s busybox bin/sh; \
    echo a > data/a; echo b > data/b; echo x > data/gone/x; ln -s a data/link; ln data/a data/hard; \
    echo s > data/suid; chmod 4755 data/suid; chown 1000:1001 data/sub; chmod 0750 data/sub";
/// A second layer: a deleted file (a whiteout), a deleted directory, a changed file.
const CHANGE: &str = "rm data/b; rm -rf data/gone; echo changed > data/a; echo new > data/sub/new";

/// The listing of `/data` as busybox prints it (names, modes, owners, kinds, links, sums).
const LIST: &str = "cd / && { find data -type d | sort | xargs stat -c '%n %a %u %g %F'; \
    find data ! -type d | sort | xargs stat -c '%n %a %u %g %F %h %N'; \
    find data -type f | sort | xargs md5sum; }";

/// The tree `umoci unpack` makes of the image.
fn umoci_tree(layout: &Path, tag: &str) -> String {
    umoci_tree_with(layout, tag, LIST)
}

fn umoci_tree_with(layout: &Path, tag: &str, list: &str) -> String {
    let b = layout.with_extension("check");
    sh(&format!(
        "umoci unpack --image {}:{tag} {} >/dev/null",
        layout.display(),
        b.display()
    ));
    let o = Command::new("busybox")
        .args([
            "sh",
            "-c",
            &list.replace("cd /", &format!("cd {}/rootfs", b.display())),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&b);
    stdout(&o)
}

fn push(layout: &Path, tag: &str, to: &str, extra: &[&str]) {
    let o = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .args(extra)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{to}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo copy: {}", stderr(&o));
}

#[test]
fn pull_then_run_gives_the_tree_umoci_unpacks_for_oci_and_docker_manifests() {
    if !tools_or_skip("pull_then_run_gives_the_tree_umoci_unpacks") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE, CHANGE]);
    let want = umoci_tree(&layout, "1");
    let want_unlinked = umoci_tree_with(&layout, "1", &LIST.replace(" %h", ""));
    assert!(
        want.contains("data/a ") && !want.contains("data/b "),
        "{want}"
    );
    push(&layout, "1", &reg.name("x:oci"), &[]);
    push(&layout, "1", &reg.name("x:docker"), &["--format", "v2s2"]);
    for tag in ["oci", "docker"] {
        let name = reg.name(&format!("x:{tag}"));
        assert_eq!(
            env.ok(&["pull", &name]).trim(),
            format!("127.0.0.1:{}/x:{tag}", reg.port)
        );
        let got = env.ok(&["run", "--rm", &name, "sh", "-c", LIST]);
        assert_eq!(
            got, want,
            "{tag}: the container's /data differs from umoci's"
        );
        // Without an overlay the layers are copied file by file (run/copy.rs, `cp -a` per
        // entry), which keeps no hard links between entries: compare all but link counts.
        let unlinked = LIST.replace(" %h", "");
        let copy = env.ok(&["run", "--rm", "--no-overlay", &name, "sh", "-c", &unlinked]);
        assert_eq!(copy, want_unlinked, "{tag} --no-overlay");
    }
    // Both manifests name the same layers: they are stored once.
    assert_eq!(env.layers().len(), 2, "{:?}", env.layers());
    let images = env.images();
    assert!(
        images.contains(&format!("127.0.0.1:{}/x", reg.port)),
        "{images}"
    );
}

#[test]
fn a_second_image_on_the_same_base_adds_only_its_own_layer() {
    if !tools_or_skip("a_second_image_on_the_same_base_adds_only_its_own_layer") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "base", &[BASE]);
    // The same base layer (umoci writes the same bytes for the same tree? not promised:
    // copy the base's manifest instead, then add one layer).
    sh(&format!(
        "umoci tag --image {l}:base top && umoci unpack --image {l}:top {b} >/dev/null && echo top > {b}/rootfs/data/top && umoci repack --image {l}:top {b} && rm -rf {b}",
        l = layout.display(),
        b = work.path().join("b").display()
    ));
    push(&layout, "base", &reg.name("base:1"), &[]);
    push(&layout, "top", &reg.name("top:1"), &[]);
    env.ok(&["pull", &reg.name("base:1")]);
    // pull fetches the blobs; the layer is unpacked when the image is first used.
    assert!(env.layers().is_empty(), "{:?}", env.layers());
    env.ok(&["run", "--rm", &reg.name("base:1"), "sh", "-c", "true"]);
    let (layers, blobs) = (env.layers(), env.blobs());
    assert_eq!(layers.len(), 1);
    let o = env
        .cmd()
        .args(["pull", &reg.name("top:1")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    // The base layer's blob was not downloaded again: one new layer blob, a config and a
    // manifest.
    assert_eq!(env.blobs().len(), blobs.len() + 3, "{:?}", env.blobs());
    let top = env.ok(&[
        "run",
        "--rm",
        &reg.name("top:1"),
        "sh",
        "-c",
        "cat /data/top /data/a",
    ]);
    assert_eq!(top, "top\na\n");
    // Its first use unpacked only its own layer.
    let after = env.layers();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(layers.iter().all(|l| after.contains(l)));
}

#[test]
fn an_index_gives_the_hosts_platform_and_platform_chooses_another() {
    if !tools_or_skip("an_index_gives_the_hosts_platform_and_platform_chooses_another") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    // The host's platform, and another one (whose image still runs here: its busybox is
    // the host's whatever its config says).
    let (host, other) = match std::env::consts::ARCH {
        "aarch64" => ("arm64", "amd64"),
        _ => ("amd64", "arm64"),
    };
    umoci_image(&layout, "host", &[BASE]);
    umoci_image(&layout, "other", &[BASE, "echo other > data/arch"]);
    sh(&format!(
        "umoci config --image {l}:host --architecture {host} && umoci config --image {l}:other --architecture {other}",
        l = layout.display()
    ));
    // An index of the two, tagged "multi" in the layout.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut manifests = Vec::new();
    for (tag, arch) in [("host", host), ("other", other)] {
        let m = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap();
        manifests.push(serde_json::json!({
            "mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"}
        }));
    }
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests
    }))
    .unwrap();
    let hex = sha256(&nested);
    std::fs::write(layout.join("blobs/sha256").join(&hex), &nested).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"), "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        }]
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    push(&layout, "multi", &reg.name("multi:1"), &["--all"]);
    env.ok(&["pull", &reg.name("multi:1")]);
    let listed = env.ok(&["run", "--rm", &reg.name("multi:1"), "sh", "-c", "ls /data"]);
    assert!(!listed.contains("arch"), "{listed}");
    env.ok(&[
        "pull",
        "--platform",
        &format!("linux/{other}"),
        &reg.name("multi:1"),
    ]);
    let arm = env.ok(&[
        "run",
        "--rm",
        &reg.name("multi:1"),
        "sh",
        "-c",
        "cat /data/arch",
    ]);
    assert_eq!(arm, "other\n");
    let o = env.gb(&["pull", "--platform", "linux/s390x", &reg.name("multi:1")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "no manifest for linux/s390x; it has linux/{host}, linux/{other}"
        )),
        "{}",
        stderr(&o)
    );
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn basic_auth_needs_the_credentials_of_dockers_config() {
    if !tools_or_skip("basic_auth_needs_the_credentials_of_dockers_config")
        || !tool_or_skip("basic_auth", "htpasswd")
    {
        return;
    }
    let line = Command::new("htpasswd")
        .args(["-Bbn", "learner", "s3cret"])
        .output()
        .unwrap();
    let env = Env::new();
    let reg = Registry::start(Some(&stdout(&line)));
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE]);
    push(
        &layout,
        "1",
        &reg.name("private:1"),
        &["--dest-creds", "learner:s3cret"],
    );
    let o = env
        .cmd()
        .args(["pull", &reg.name("private:1")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("asks for credentials"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("WWW-Authenticate") || stderr(&o).contains("= 401"),
        "{}",
        stderr(&o)
    );
    assert!(!env.images().contains("private"));
    let docker = work.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    let auth = base64("learner:s3cret");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"auth":"{auth}"}}}}}}"#,
            reg.port
        ),
    )
    .unwrap();
    let o = env
        .cmd()
        .env("DOCKER_CONFIG", &docker)
        .args(["pull", &reg.name("private:1")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The secret is never shown.
    assert!(!stderr(&o).contains("s3cret") && !stderr(&o).contains(&auth));
    assert!(
        stderr(&o).contains("Authorization: Basic …"),
        "{}",
        stderr(&o)
    );
    assert!(env.images().contains("private"));
}

fn base64(s: &str) -> String {
    let o = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    stdout(&o)
}

/// One answer of the fake registry.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many bytes of the body (Content-Length still says all of it), then
    /// close, or (with `stall`) wait until the test ends.
    cut: Option<usize>,
    stall: bool,
}

fn reply(status: u16, body: &[u8]) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_vec(),
        cut: None,
        stall: false,
    }
}

/// A registry written here, on 127.0.0.1: `answer` maps each request path to a reply.
fn fake_registry(
    answer: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    fake_registry_seeing(move |path, _| answer(path))
}

/// As [`fake_registry`], with the request's head (its headers) given to `answer` too; what
/// `seen` keeps is each request's path.
fn fake_registry_seeing(
    answer: impl Fn(&str, &str) -> Reply + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let answer = answer.clone();
            let seen = seen2.clone();
            std::thread::spawn(move || serve(s, &*answer, &seen));
        }
    });
    (port, seen)
}

fn serve(
    mut s: std::net::TcpStream,
    answer: &dyn Fn(&str, &str) -> Reply,
    seen: &std::sync::Mutex<Vec<String>>,
) {
    loop {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let path = text.split(' ').nth(1).unwrap_or("").to_string();
        seen.lock().unwrap().push(path.clone());
        let r = answer(&path, &text);
        let mut out = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            r.status,
            r.body.len()
        );
        for (k, v) in &r.headers {
            out += &format!("{k}: {v}\r\n");
        }
        out += "\r\n";
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&r.body[..r.cut.unwrap_or(r.body.len())]);
        if s.write_all(&bytes).is_err() {
            return;
        }
        if r.stall {
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        if r.cut.is_some() {
            return;
        }
    }
}

/// A small valid image: one uncompressed layer with /data/f; (manifest, config, layer).
fn small_image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "data/f", &b"hello\n"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]}
    }))
    .unwrap();
    let manifest = manifest_for(&config, &format!("sha256:{}", sha256(&layer)), layer.len());
    (manifest, config, layer)
}

fn manifest_for(config: &[u8], layer_digest: &str, layer_size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha256(config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}]
    }))
    .unwrap()
}

/// The fake registry serving `manifest`, `config` and `layer` honestly, unless `hostile`
/// answers a path first.
fn serving(
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
    hostile: impl Fn(&str) -> Option<Reply> + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let cfg = format!("/v2/x/blobs/sha256:{}", sha256(&config));
    let lay = format!("/v2/x/blobs/sha256:{}", sha256(&layer));
    fake_registry(move |path| {
        if let Some(r) = hostile(path) {
            return r;
        }
        match path {
            "/v2/" => reply(200, b"{}"),
            "/v2/x/manifests/1" => {
                let mut r = reply(200, &manifest);
                r.headers.push((
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                ));
                r
            }
            p if p == cfg => reply(200, &config),
            p if p == lay => reply(200, &layer),
            _ => reply(404, b"{}"),
        }
    })
}

/// Nothing recorded: no image, no blob by the name of a hostile digest, no layer, and
/// nothing outside the data directory.
fn assert_nothing_recorded(env: &Env, what: &str) {
    let images = env.images();
    assert_eq!(
        images.lines().count(),
        1,
        "{what}: an image was recorded:\n{images}"
    );
    assert!(
        env.layers().iter().all(|l| !l.starts_with('.')),
        "{what}: {:?}",
        env.layers()
    );
    assert!(
        env.blobs().iter().all(|b| !b.starts_with(".tmp")),
        "{what}: {:?}",
        env.blobs()
    );
    let outside: Vec<String> = names(env.state.path())
        .into_iter()
        .filter(|n| !["data", "journal", "traces"].contains(&n.as_str()) && !n.ends_with(".lock"))
        .collect();
    assert!(
        outside.is_empty(),
        "{what}: written outside the store: {outside:?}"
    );
}

#[test]
fn hostile_registry_answers_are_refused_and_nothing_is_recorded() {
    if !root_or_skip("hostile_registry_answers_are_refused_and_nothing_is_recorded") {
        return;
    }
    let (manifest, config, layer) = small_image();
    let layer_path = format!("/v2/x/blobs/sha256:{}", sha256(&layer));
    let climbing = manifest_for(&config, "sha256:../../x", layer.len());
    let huge = manifest_for(&config, &format!("sha256:{}", sha256(&layer)), 1 << 40);
    let lp = layer_path.clone();
    type Case = (
        &'static str,
        Box<dyn Fn(&str) -> Option<Reply> + Send + Sync>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "a blob that does not match its digest",
            Box::new(move |p| {
                let mut evil = b"not the layer".to_vec();
                evil.resize(layer.len(), b'!');
                (p == lp).then(|| reply(200, &evil))
            }),
            "does not match its digest",
        ),
        (
            "a digest that climbs out",
            Box::new(move |p| (p == "/v2/x/manifests/1").then(|| reply(200, &climbing))),
            "refusing the digest",
        ),
        (
            "a manifest naming a huge size",
            Box::new(move |p| (p == "/v2/x/manifests/1").then(|| reply(200, &huge))),
            "a layer is said to be",
        ),
        (
            "a truncated body",
            {
                let lp = layer_path.clone();
                let (_, _, layer) = small_image();
                Box::new(move |p| {
                    (p == lp).then(|| Reply {
                        cut: Some(layer.len() / 2),
                        ..reply(200, &layer)
                    })
                })
            },
            "connection failed",
        ),
        (
            "a redirect loop",
            {
                let lp = layer_path.clone();
                Box::new(move |p| {
                    if p == lp {
                        let mut r = reply(307, b"");
                        r.headers.push(("Location".into(), "/elsewhere".into()));
                        Some(r)
                    } else if p == "/elsewhere" {
                        let mut r = reply(307, b"");
                        r.headers.push(("Location".into(), lp.clone()));
                        Some(r)
                    } else {
                        None
                    }
                })
            },
            "go round in a loop",
        ),
    ];
    for (what, hostile, says) in cases {
        let env = Env::new();
        let (m, c, l) = (manifest.clone(), config.clone(), small_image().2);
        let (port, _) = serving(m, c, l, hostile);
        let o = env.gb(&["pull", &format!("127.0.0.1:{port}/x:1")]);
        assert_eq!(o.status.code(), Some(125), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{what}: {}", stderr(&o));
        assert_nothing_recorded(&env, what);
        assert!(
            !env.data().join("x").exists() && !env.state.path().join("x").exists(),
            "{what}"
        );
    }
}

#[test]
fn a_pull_killed_half_way_leaves_no_image_and_the_next_one_completes() {
    if !root_or_skip("a_pull_killed_half_way_leaves_no_image_and_the_next_one_completes") {
        return;
    }
    let env = Env::new();
    let (manifest, config, layer) = small_image();
    let layer_path = format!("/v2/x/blobs/sha256:{}", sha256(&layer));
    let stall = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let s2 = stall.clone();
    let l2 = layer.clone();
    let (port, seen) = serving(manifest, config, layer, move |p| {
        (p == layer_path && s2.load(std::sync::atomic::Ordering::SeqCst)).then(|| Reply {
            cut: Some(l2.len() / 2),
            stall: true,
            ..reply(200, &l2)
        })
    });
    let name = format!("127.0.0.1:{port}/x:1");
    let mut child = env
        .cmd()
        .args(["-q", "pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the layer's download has begun, then kill -9.
    let started = std::time::Instant::now();
    while !env.blobs().iter().any(|b| b.starts_with(".tmp")) {
        assert!(
            started.elapsed().as_secs() < 20,
            "the download never began: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let images = env.images();
    assert_eq!(
        images.lines().count(),
        1,
        "a killed pull recorded an image:\n{images}"
    );
    stall.store(false, std::sync::atomic::Ordering::SeqCst);
    let o = env.gb(&["pull", &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.images().contains(&format!("127.0.0.1:{port}/x")));
    assert!(
        env.blobs().iter().all(|b| !b.starts_with(".tmp")),
        "{:?}",
        env.blobs()
    );
    assert!(
        env.layers().iter().all(|l| !l.starts_with('.')),
        "{:?}",
        env.layers()
    );
}

#[test]
fn run_pulls_a_missing_image_and_pull_never_refuses_one() {
    if !tools_or_skip("run_pulls_a_missing_image_and_pull_never_refuses_one") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE]);
    push(&layout, "1", &reg.name("r:1"), &[]);
    let name = reg.name("r:1");
    let o = env.gb(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("no such image: {name} (and --pull never)")),
        "{}",
        stderr(&o)
    );
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "sh", "-c", "cat /data/a"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\n");
    assert!(
        stderr(&o).contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("GET(\"http://127.0.0.1:"),
        "{}",
        stderr(&o)
    );
    // Found locally now: no request at all.
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "sh", "-c", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("GET("), "{}", stderr(&o));
    let o = env
        .cmd()
        .args(["run", "--rm", "--pull", "always", &name, "sh", "-c", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

#[test]
fn a_pulled_image_saves_with_its_own_diff_ids_and_rmi_frees_its_blobs() {
    if !tools_or_skip("a_pulled_image_saves_with_its_own_diff_ids_and_rmi_frees_its_blobs") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE, CHANGE]);
    let name = reg.name("s:1");
    push(&layout, "1", &name, &[]);
    env.ok(&["pull", &name]);
    assert_eq!(
        env.blobs().len(),
        4,
        "manifest, config, two layers: {:?}",
        env.blobs()
    );
    // docker save's form: unpack checks each layer tar against the config's diff ids.
    let tar = work.path().join("s.tar");
    env.ok(&["save", &name, "-o", tar.to_str().unwrap()]);
    let out = work.path().join("out");
    env.ok(&["unpack", tar.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/new")).unwrap(),
        "new\n"
    );
    assert!(!out.join("data/b").exists());
    // The OCI form, unpacked by umoci, is the tree umoci made of the original.
    let oci_tar = work.path().join("s-oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci",
        &name,
        "-o",
        oci_tar.to_str().unwrap(),
    ]);
    let again = work.path().join("again");
    std::fs::create_dir(&again).unwrap();
    sh(&format!(
        "tar xf {} -C {}",
        oci_tar.display(),
        again.display()
    ));
    let tag = "1";
    assert_eq!(umoci_tree(&again, tag), umoci_tree(&layout, "1"));
    env.ok(&["rmi", &name]);
    assert!(env.blobs().is_empty(), "{:?}", env.blobs());
    assert!(env.layers().is_empty(), "{:?}", env.layers());
}

#[test]
fn a_bearer_challenge_gets_a_token_and_every_request_is_narrated_and_traced() {
    if !root_or_skip("a_bearer_challenge_gets_a_token_and_every_request_is_narrated_and_traced") {
        return;
    }
    let env = Env::new();
    let (manifest, config, layer) = small_image();
    let cfg = format!("/v2/x/blobs/sha256:{}", sha256(&config));
    let lay = format!("/v2/x/blobs/sha256:{}", sha256(&layer));
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let p2 = port.clone();
    let (p, seen) = fake_registry_seeing(move |path, head| {
        let port = p2.load(std::sync::atomic::Ordering::SeqCst);
        if path.starts_with("/token?") {
            return reply(200, br#"{"token":"tok3n"}"#);
        }
        if !head
            .to_ascii_lowercase()
            .contains("authorization: bearer tok3n")
        {
            let mut r = reply(401, b"{}");
            r.headers.push((
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake""#),
            ));
            return r;
        }
        match path {
            "/v2/" => reply(200, b"{}"),
            "/v2/x/manifests/1" => reply(200, &manifest),
            p if p == cfg => reply(200, &config),
            p if p == lay => reply(200, &layer),
            _ => reply(404, b"{}"),
        }
    });
    port.store(p, std::sync::atomic::Ordering::SeqCst);
    let trace = env.state.path().join("pull.trace");
    let o = env
        .cmd()
        .args([
            "--trace",
            trace.to_str().unwrap(),
            "pull",
            &format!("127.0.0.1:{p}/x:1"),
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The challenge, the token (asked anonymously, for this repository), then the retry.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "/v2/");
    assert_eq!(seen[1], "/token?service=fake&scope=repository%3Ax%3Apull");
    assert_eq!(seen[2], "/v2/");
    for line in [
        format!("GET(\"http://127.0.0.1:{p}/v2/\") = 401"),
        format!(
            "GET(\"http://127.0.0.1:{p}/token?service=fake&scope=repository%3Ax%3Apull\") = 200"
        ),
        format!("GET(\"http://127.0.0.1:{p}/v2/\", \"Authorization: Bearer …\") = 200"),
    ] {
        assert!(err.contains(&line), "no {line} in:\n{err}");
    }
    assert!(!err.contains("tok3n"), "the token is shown:\n{err}");
    // --trace has the same requests as events, with their statuses.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["name"] == "GET")
        .collect();
    let statuses: Vec<i64> = events
        .iter()
        .map(|e| e["result"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [401, 200, 200, 200, 200, 200], "{events:?}");
    assert!(events[3]["args"][0]
        .as_str()
        .unwrap()
        .ends_with("/v2/x/manifests/1\""));
    assert!(env.images().contains(&format!("127.0.0.1:{p}/x")));
}

#[test]
fn login_keeps_credentials_the_registry_took_and_logout_forgets_them() {
    if !tools_or_skip("login_keeps_credentials_the_registry_took_and_logout_forgets_them")
        || !tool_or_skip("login", "htpasswd")
    {
        return;
    }
    let line = Command::new("htpasswd")
        .args(["-Bbn", "learner", "s3cret"])
        .output()
        .unwrap();
    let env = Env::new();
    let reg = Registry::start(Some(&stdout(&line)));
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE]);
    let name = reg.name("private:1");
    push(&layout, "1", &name, &["--dest-creds", "learner:s3cret"]);
    let server = format!("127.0.0.1:{}", reg.port);
    let login = |password: &str| {
        let mut c = env
            .cmd()
            .args(["login", "--password-stdin", "-u", "learner", &server])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        c.wait_with_output().unwrap()
    };
    let file = env.data().join("auth.json");
    let o = login("wrong");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refuses the credentials given"),
        "{}",
        stderr(&o)
    );
    assert!(!file.exists());
    let o = login("s3cret");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Login Succeeded\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    env.ok(&["pull", &name]);
    assert_eq!(
        env.ok(&["logout", &server]),
        format!("Removing login credentials for {server}\n")
    );
    env.ok(&["rmi", &name]);
    let o = env.gb(&["pull", &name]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("asks for credentials"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bare_name_reaches_no_registry_unless_asked() {
    if !root_or_skip("a_bare_name_reaches_no_registry_unless_asked") {
        return;
    }
    let env = Env::new();
    let o = env
        .cmd()
        .args(["run", "--rm", "nosuch:v1", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(err.contains("no such image or file: nosuch:v1"), "{err}");
    assert!(
        err.contains("glassbox pull NAME first, or run --pull missing"),
        "{err}"
    );
    assert!(
        !err.contains("GET(") && !err.contains("Unable to find"),
        "{err}"
    );
}

#[test]
fn push_of_a_committed_image_is_read_back_by_skopeo_and_umoci() {
    if !tools_or_skip("push_of_a_committed_image_is_read_back_by_skopeo_and_umoci") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE, CHANGE]);
    let base = reg.name("base:1");
    push(&layout, "1", &base, &[]);
    env.ok(&["pull", &base]);
    env.ok(&[
        "run",
        "--name",
        "c1",
        &base,
        "sh",
        "-c",
        "echo pushed > /data/new",
    ]);
    let name = reg.name("team/pushed:v1");
    env.ok(&["commit", "c1", &name]);
    env.ok(&["rm", "c1"]);
    let o = env.cmd().args(["push", &name]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("v1: digest: sha256:"),
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(err.contains("= 201"), "{err}");
    // The base's blobs are in the registry already, under another repository: mounted from
    // there (POST ?mount=…&from=base), and the new layer sent.
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3, "{v}");
    // skopeo copies it back, and umoci unpacks the base's tree plus the new file.
    let back = work.path().join("back");
    let o = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("oci:{}:1", back.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = umoci_tree(&back, "1");
    assert!(tree.contains("data/new 644 0 0 regular file 1"), "{tree}");
    assert!(tree.contains("data/sub 750 1000 1001 directory"), "{tree}");
    assert!(!tree.contains("data/b "), "{tree}");
    // A second push finds every blob there.
    let o = env.cmd().args(["push", &name]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("already exists").count(),
        4,
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("POST("), "{}", stderr(&o));
}

#[test]
fn import_makes_a_one_layer_image_of_a_root_filesystem_tar() {
    if !root_or_skip("import_makes_a_one_layer_image_of_a_root_filesystem_tar")
        || !tool_or_skip("import", "busybox")
    {
        return;
    }
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    sh(&format!(
        "mkdir -p {r}/bin {r}/etc && cp /bin/busybox {r}/bin/ && ln -s busybox {r}/bin/sh && echo hello > {r}/etc/hello && chmod 4711 {r}/etc/hello",
        r = root.display()
    ));
    let tgz = work.path().join("root.tgz");
    sh(&format!(
        "tar -C {} -czf {} .",
        root.display(),
        tgz.display()
    ));
    let id = env.ok(&["import", tgz.to_str().unwrap(), "myroot:v1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    let out = env.ok(&[
        "run",
        "--rm",
        "myroot:v1",
        "sh",
        "-c",
        "cat /etc/hello; stat -c %a /etc/hello",
    ]);
    assert_eq!(out, "hello\n4711\n");
    let images = env.images();
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("myroot") && l.trim_end().ends_with(" 1")),
        "{images}"
    );
    // From stdin, the same tar: another image (its config says when and from what, as
    // docker import's does), on the same layer.
    let o = env
        .cmd()
        .args(["-q", "import", "-", "myroot:v2"])
        .stdin(std::fs::File::open(&tgz).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("sha256:"), "{}", stdout(&o));
    assert_eq!(env.layers().len(), 1);
    assert!(
        env.blobs().iter().all(|b| !b.starts_with(".tmp")),
        "{:?}",
        env.blobs()
    );
    // Not a tar: refused, nothing recorded.
    let bad = work.path().join("bad");
    std::fs::write(&bad, vec![7u8; 2000]).unwrap();
    let o = env.gb(&["import", bad.to_str().unwrap(), "bad:v1"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(!env.images().contains("bad"));
}

#[test]
fn load_puts_back_what_save_wrote_with_its_names() {
    if !tools_or_skip("load_puts_back_what_save_wrote_with_its_names") {
        return;
    }
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE, CHANGE]);
    // An OCI layout as umoci wrote it: its ref name is a bare tag, so no name comes with it.
    let o = env.ok(&["load", "-i", layout.to_str().unwrap()]);
    assert!(o.starts_with("Loaded image ID: sha256:"), "{o}");
    let id = o.trim().rsplit(':').next().unwrap().to_string();
    env.ok(&["tag", &id, "team/loaded:v1"]);
    let want = umoci_tree(&layout, "1");
    assert_eq!(
        env.ok(&["run", "--rm", "team/loaded:v1", "sh", "-c", LIST]),
        want
    );
    for format in ["docker", "oci"] {
        let tar = work.path().join(format!("{format}.tar"));
        env.ok(&[
            "save",
            "--format",
            format,
            "team/loaded:v1",
            "-o",
            tar.to_str().unwrap(),
        ]);
        env.ok(&["rmi", "team/loaded:v1"]);
        assert!(env.layers().is_empty(), "{format}: {:?}", env.layers());
        assert_eq!(
            env.ok(&["load", "-i", tar.to_str().unwrap()]),
            "Loaded image: team/loaded:v1\n",
            "{format}"
        );
        assert_eq!(
            env.ok(&["run", "--rm", "team/loaded:v1", "sh", "-c", LIST]),
            want,
            "{format}"
        );
        assert_eq!(env.layers().len(), 2, "{format}");
    }
}

#[test]
fn pull_narration_is_honest_under_strace() {
    if !root_or_skip("pull_narration_is_honest_under_strace") || !tool_or_skip("strace", "strace") {
        return;
    }
    let env = Env::new();
    let (manifest, config, layer) = small_image();
    let (port, _) = serving(manifest, config, layer, |_| None);
    let name = format!("127.0.0.1:{port}/x:1");
    let state = env.state.path().to_path_buf();
    let t = common::strace::run_with(&["pull", &name], |c| {
        c.env("GLASSBOX_STATE_DIR", &state).env("HOME", &state);
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    let names = t.narrated_names();
    assert_eq!(names.iter().filter(|n| *n == "GET").count(), 4, "{names:?}");
    // Each narrated request went out on a TCP socket as shown; every other call as well.
    t.assert_honest();
}

#[test]
fn tls_with_a_private_ca_from_certs_d_works_and_an_unknown_ca_is_refused() {
    if !tools_or_skip("tls_with_a_private_ca_from_certs_d_works_and_an_unknown_ca_is_refused")
        || !tool_or_skip("tls", "openssl")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path().display();
    sh(&format!(
        "cd {w} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=glassbox-test-ca 2>/dev/null \
         && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=another-ca 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null \
         && printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext \
         && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext 2>/dev/null"
    ));
    let reg = Registry::start_with(
        None,
        Some((&work.path().join("srv.crt"), &work.path().join("srv.key"))),
    );
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE]);
    let name = reg.name("tls:1");
    push(&layout, "1", &name, &[]);
    let env = Env::new();
    let certs = work.path().join("certs.d");
    let host_dir = certs.join(format!("127.0.0.1:{}", reg.port));
    std::fs::create_dir_all(&host_dir).unwrap();
    // Another CA than the one that signed the registry's certificate: refused, clearly.
    std::fs::copy(work.path().join("other.crt"), host_dir.join("ca.crt")).unwrap();
    let o = env
        .cmd()
        .env("GLASSBOX_CERTS_DIR", &certs)
        .args(["-q", "pull", &name])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has a TLS certificate this machine does not trust"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("certs.d/127.0.0.1:"), "{}", stderr(&o));
    assert!(!env.images().contains("tls"));
    // Its own CA: pulled over TLS.
    std::fs::copy(work.path().join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    let o = env
        .cmd()
        .env("GLASSBOX_CERTS_DIR", &certs)
        .args(["pull", &name])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "GET(\"https://127.0.0.1:{}/v2/\") = 200",
            reg.port
        )),
        "{}",
        stderr(&o)
    );
    assert!(env.images().contains("tls"));
}

#[test]
fn an_image_of_more_layers_than_one_mount_option_page_lists_runs() {
    if !tools_or_skip("an_image_of_more_layers_than_one_mount_option_page_lists_runs") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    // 45 layers of ~100-byte store paths: a lowerdir of ~4.6 kB, past mount(2)'s page.
    let mut layers = vec![BASE.to_string()];
    layers.extend((1..45).map(|i| format!("echo {i} > data/layer{i}; rm -f data/layer{}", i - 1)));
    let scripts: Vec<&str> = layers.iter().map(String::as_str).collect();
    umoci_image(&layout, "1", &scripts);
    let name = reg.name("tall:1");
    push(&layout, "1", &name, &[]);
    env.ok(&["pull", "--unpack", &name]);
    assert_eq!(env.layers().len(), 45);
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "sh", "-c", "ls /data; cat /data/a"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("layer44\n") && !out.contains("layer43\n"),
        "{out}"
    );
    assert!(out.ends_with("a\n"), "{out}");
    let err = stderr(&o);
    assert!(err.contains("fsopen(\"overlay\", FSOPEN_CLOEXEC)"), "{err}");
    assert_eq!(err.matches("\"lowerdir+\"").count(), 46, "{err}"); // init + 45 layers
    assert!(err.contains("move_mount("), "{err}");
    // The new mount API's calls are narrated as strace sees them.
    if tool_or_skip("tall strace", "strace") {
        let state = env.state.path().to_path_buf();
        let t = common::strace::run_with(&["run", "--rm", &name, "sh", "-c", "true"], |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        });
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        t.assert_honest();
    }
}

/// Sources as skopeo spells them: `oci:DIR:TAG` runs and loads the image of that tag (a
/// layout with two is refused without one, never the first taken silently), and
/// `docker-archive:FILE:NAME:TAG` or `:@N` one image of an archive that holds several.
#[test]
fn oci_and_docker_archive_sources_pick_the_image_asked_for() {
    if !tools_or_skip("oci_and_docker_archive_sources_pick_the_image_asked_for") {
        return;
    }
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("two");
    let base = "mkdir -p bin; cp /bin/busybox bin/; ln -s busybox bin/sh";
    umoci_image(&layout, "one", &[&format!("{base}; echo one > which")]);
    umoci_image(&layout, "two", &[&format!("{base}; echo two > which")]);
    let l = layout.to_str().unwrap();
    let o = env.gb(&["run", "--rm", l, "busybox", "cat", "/which"]);
    assert_eq!(o.status.code(), Some(125), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("holds 2 images (tags one, two): which one?")
            && stderr(&o).contains("oci:DIR:TAG"),
        "{}",
        stderr(&o)
    );
    let two = format!("oci:{l}:two");
    assert_eq!(
        env.ok(&["run", "--rm", &two, "busybox", "cat", "/which"]),
        "two\n"
    );
    let o = env.ok(&["load", "-i", &format!("oci:{l}:one")]);
    assert_eq!(o.lines().count(), 1, "{o}");
    let one_id = o.trim().rsplit(':').next().unwrap().to_string();
    assert_eq!(
        env.ok(&["run", "--rm", &one_id, "busybox", "cat", "/which"]),
        "one\n"
    );
    let o = env.gb(&["run", "--rm", &format!("oci:{l}:three"), "true"]);
    assert!(
        stderr(&o).contains("has no image three (it has one, two)"),
        "{}",
        stderr(&o)
    );

    // A docker save archive of both: the two archives glassbox save writes, one manifest.
    let merged = work.path().join("merged");
    let mut manifest = Vec::new();
    for (which, id) in [("one", one_id.clone()), ("two", two_id(&env, &two))] {
        let name = format!("pick/{which}:v1");
        env.ok(&["tag", &id, &name]);
        let tar = work.path().join(format!("{which}.tar"));
        env.ok(&["save", &name, "-o", tar.to_str().unwrap()]);
        std::fs::create_dir_all(&merged).unwrap();
        sh(&format!(
            "tar -xf {} -C {}",
            tar.display(),
            merged.display()
        ));
        let m: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(merged.join("manifest.json")).unwrap()).unwrap();
        manifest.extend(m);
        env.ok(&["rmi", &name]);
    }
    std::fs::write(
        merged.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let multi = work.path().join("multi.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        merged.display(),
        multi.display()
    ));
    let m = multi.to_str().unwrap();
    let run = |src: String| env.ok(&["run", "--rm", &src, "busybox", "cat", "/which"]);
    assert_eq!(run(format!("docker-archive:{m}:pick/two:v1")), "two\n");
    assert_eq!(run(format!("docker-archive:{m}:@0")), "one\n");
    let o = env.gb(&["run", "--rm", &format!("docker-archive:{m}"), "true"]);
    assert!(
        stderr(&o).contains("holds 2 images (it has pick/one:v1, pick/two:v1): which one?"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        env.ok(&["load", "-i", m]),
        "Loaded image: pick/one:v1\nLoaded image: pick/two:v1\n"
    );
}

/// The id of the image `run SOURCE` loaded (it is the only one with that content).
fn two_id(env: &Env, source: &str) -> String {
    let o = env.ok(&["load", "-i", source]);
    o.trim().rsplit(':').next().unwrap().to_string()
}

/// A one-layer image of /bin/busybox: its manifest, config and layer.
fn busybox_image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let bb = std::fs::read("/bin/busybox").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]}
    }))
    .unwrap();
    let manifest = manifest_for(&config, &format!("sha256:{}", sha256(&layer)), layer.len());
    (manifest, config, layer)
}

/// `pull` fetches and checks the blobs only; the layers are unpacked on the image's first
/// use, once, and what a use killed while unpacking left is swept by the next one.
/// `pull --unpack` unpacks at once.
#[test]
fn pull_fetches_the_blobs_and_the_first_run_unpacks_the_layers() {
    if !root_or_skip("pull_fetches_the_blobs_and_the_first_run_unpacks")
        || !Path::new("/bin/busybox").exists()
    {
        return;
    }
    let env = Env::new();
    let (manifest, config, layer) = busybox_image();
    let (port, _seen) = serving(manifest, config, layer, |_| None);
    let name = format!("127.0.0.1:{port}/x:1");
    let o = env.cmd().args(["pull", &name]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unpacked on first use"),
        "{}",
        stderr(&o)
    );
    assert!(env.layers().is_empty(), "pull unpacked: {:?}", env.layers());
    let images = env.images();
    assert!(images.contains(&format!("127.0.0.1:{port}/x")), "{images}");
    // Not unpacked yet: SIZE is its blob's, not 0.
    assert!(!images.contains(" 0B "), "{images}");
    // A first use killed while unpacking: its staging directory, its process gone.
    let stale = env.data().join("images/layers/.unpack-4194305-0");
    std::fs::create_dir_all(stale.join("bin")).unwrap();
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "/bin/busybox", "echo", "ok"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok\n");
    assert!(
        stderr(&o).contains("unpacked on first use"),
        "{}",
        stderr(&o)
    );
    assert!(!stale.exists(), "{stale:?} is still there");
    assert_eq!(env.layers().len(), 1, "{:?}", env.layers());
    // Once: the second run finds it unpacked.
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "/bin/busybox", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("unpacked on first use"),
        "{}",
        stderr(&o)
    );
    // pull --unpack: the layer at once, as docker pull.
    let env2 = Env::new();
    env2.ok(&["pull", "--unpack", &name]);
    assert_eq!(env2.layers().len(), 1, "{:?}", env2.layers());
    // Blobs downloaded while layers unpack under umask 0 are still nobody else's to write.
    let blobs = env2.state.path().join("data/blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt;
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "{:?} is {mode:o}", e.path());
    }
    // The first use's unpacking is narrated as strace sees it.
    if tool_or_skip("first use strace", "strace") {
        let env3 = Env::new();
        env3.ok(&["pull", &name]);
        let state = env3.state.path().to_path_buf();
        let t = common::strace::run_with(&["run", "--rm", &name, "/bin/busybox", "true"], |c| {
            c.env("GLASSBOX_STATE_DIR", &state);
        });
        assert!(t.output.status.success(), "{}", stderr(&t.output));
        assert!(stderr(&t.output).contains("unpacked on first use"));
        t.assert_honest();
    }
}

/// What a pull killed while unpacking leaves (`.unpack-PID` among the layers, its process
/// gone) is swept by the next pull; and once an image is pulled by digest, `run
/// NAME@sha256:…` runs it from the store without asking the registry again.
#[test]
fn the_next_pull_sweeps_a_killed_unpack_and_run_by_digest_fetches_nothing() {
    if !root_or_skip("the_next_pull_sweeps_a_killed_unpack") || !Path::new("/bin/busybox").exists()
    {
        return;
    }
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let bb = std::fs::read("/bin/busybox").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]}
    }))
    .unwrap();
    let manifest = manifest_for(&config, &format!("sha256:{}", sha256(&layer)), layer.len());
    let digest = format!("sha256:{}", sha256(&manifest));
    let by_digest = format!("/v2/x/manifests/{digest}");
    let m2 = manifest.clone();
    let (port, seen) = serving(manifest, config, layer, move |p| {
        (p == by_digest).then(|| {
            let mut r = reply(200, &m2);
            r.headers.push((
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            ));
            r
        })
    });
    // A pull killed while unpacking: its staging directory, its process long gone (a pid
    // above the kernel's largest).
    let stale = env.data().join("images/layers/.unpack-4194305");
    std::fs::create_dir_all(stale.join("bin")).unwrap();
    std::fs::write(stale.join("bin/half"), "half").unwrap();
    let name = format!("127.0.0.1:{port}/x@{digest}");
    let o = env.gb(&["pull", &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stale.exists(),
        "the killed pull's {stale:?} is still there"
    );
    seen.lock().unwrap().clear();
    let o = env
        .cmd()
        .args(["run", "--rm", &name, "/bin/busybox", "echo", "ok"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok\n");
    assert!(
        !stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "run asked the registry again: {:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn a_push_to_a_second_repository_mounts_the_blobs_the_first_has() {
    if !tools_or_skip("a_push_to_a_second_repository_mounts_the_blobs_the_first_has")
        || !tool_or_skip("push_mount", "busybox")
    {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    sh(&format!(
        "mkdir -p {r}/bin && cp /bin/busybox {r}/bin/ && echo hello > {r}/hello && tar -C {r} -czf {w}/root.tgz .",
        r = root.display(),
        w = work.path().display()
    ));
    let (one, two) = (reg.name("team/one:1"), reg.name("team/two:1"));
    env.ok(&[
        "import",
        &format!("{}/root.tgz", work.path().display()),
        &one,
    ]);
    let first = env.cmd().args(["push", &one]).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!stderr(&first).contains("mount="), "{}", stderr(&first));
    env.ok(&["tag", &one, &two]);
    let o = env.cmd().args(["push", &two]).output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The layer and the config: each one POST ?mount=…&from=team/one answered 201, no PUT.
    let mounts: Vec<&str> = err.lines().filter(|l| l.contains("mount=sha256")).collect();
    assert_eq!(mounts.len(), 2, "{err}");
    assert!(
        mounts
            .iter()
            .all(|l| l.contains("from=team%2Fone") && l.contains("= 201")),
        "{err}"
    );
    assert_eq!(err.matches("Mounted from team/one").count(), 2, "{err}");
    assert_eq!(
        err.matches("PUT(").count(),
        1,
        "only the manifest is sent: {err}"
    );
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{two}")])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
}

#[test]
fn a_pull_by_an_index_digest_is_found_again_by_that_digest() {
    if !tools_or_skip("a_pull_by_an_index_digest_is_found_again_by_that_digest") {
        return;
    }
    let env = Env::new();
    let reg = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    umoci_image(&layout, "1", &[BASE]);
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    sh(&format!(
        "umoci config --image {}:1 --architecture {arch}",
        layout.display()
    ));
    // An index of one platform around the image, pushed as it is.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = &index["manifests"][0];
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"}
        }]
    }))
    .unwrap();
    let hex = sha256(&nested);
    std::fs::write(layout.join("blobs/sha256").join(&hex), &nested).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"), "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        }]
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    push(&layout, "multi", &reg.name("multi:1"), &["--all"]);
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}", reg.name("multi:1")))
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", stderr(&raw));
    let by_index = reg.name(&format!("multi@sha256:{}", sha256(&raw.stdout)));
    env.ok(&["pull", &by_index]);
    let listed = stdout(&env.cmd().args(["images", "--digests"]).output().unwrap());
    assert!(
        listed.starts_with("REPOSITORY")
            && listed.contains(&format!("sha256:{}", sha256(&raw.stdout))),
        "{listed}"
    );
    // Found by the index's digest, without asking the registry again.
    let o = env
        .cmd()
        .args([
            "run", "--rm", "--pull", "never", &by_index, "sh", "-c", "echo ok",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok\n");
}

//! `glassbox inspect PID` on real processes.

mod common;
use common::*;

#[test]
fn a_process_in_new_namespaces_shows_which_are_isolated() {
    if !root_or_skip("a_process_in_new_namespaces_shows_which_are_isolated") {
        return;
    }
    let mut child = std::process::Command::new(bin())
        .args(["-q", "unshare", "--uts", "--ipc", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    // Wait until the child has exec'd sleep (its uts namespace differs from ours).
    let ours = std::fs::read_link("/proc/self/ns/uts").unwrap();
    for _ in 0..500 {
        let cmd =
            std::fs::read_to_string(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
        if cmd.starts_with("sleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_ne!(
        std::fs::read_link(format!("/proc/{}/ns/uts", child.id())).unwrap(),
        ours
    );
    let o = glassbox()
        .args(["inspect", &child.id().to_string()])
        .output()
        .unwrap();
    let json = glassbox()
        .args(["inspect", "--json", &child.id().to_string()])
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains(&format!("process {}: sleep 30", child.id())),
        "{out}"
    );
    let line = |k: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(k))
            .unwrap()
            .to_string()
    };
    assert!(line("uts ").ends_with("isolated"), "{out}");
    assert!(line("ipc ").ends_with("isolated"), "{out}");
    assert!(line("net ").ends_with("shared with this terminal"), "{out}");
    assert!(line("pid ").ends_with("shared with this terminal"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let isolated: Vec<&str> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["isolated"] == true)
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(isolated, vec!["uts", "ipc"]);
}

#[test]
fn a_missing_process_is_a_clear_error() {
    let o = glassbox().args(["inspect", "999999999"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("there is no process 999999999"),
        "{}",
        stderr(&o)
    );
}

/// `inspect --svg` of a real container draws its namespaces, mounts and cgroups next to this
/// terminal's, and a real renderer (rsvg-convert) turns it into a PNG; `--dot` is the graph.
#[test]
fn a_container_drawn_as_svg_renders_to_png() {
    let test = "a_container_drawn_as_svg_renders_to_png";
    if !root_or_skip(test) || !tool_or_skip(test, "dot") || !tool_or_skip(test, "rsvg-convert") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let gb = || {
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", state.path())
            .env("GLASSBOX_DATA_DIR", state.path().join("data"));
        c
    };
    let started = gb()
        .args([
            "-q", "run", "-d", "--name", "drawn", "busybox", "sleep", "60",
        ])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", stderr(&started));
    let dot = gb().args(["inspect", "--dot", "drawn"]).output().unwrap();
    let svg = gb().args(["inspect", "--svg", "drawn"]).output().unwrap();
    let status = gb().args(["inspect", "--json", "drawn"]).output().unwrap();
    let removed = gb().args(["-q", "rm", "-f", "drawn"]).output().unwrap();
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(journal_empty(state.path()));

    assert!(dot.status.success(), "{}", stderr(&dot));
    let graph = stdout(&dot);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(graph.starts_with("digraph "), "{graph}");
    // Each of its isolated namespaces by its inode, its root mount, its own cgroup.
    for n in v["namespaces"].as_array().unwrap() {
        if n["isolated"] == true {
            assert!(graph.contains(n["id"].as_str().unwrap()), "{n}\n{graph}");
        }
    }
    assert!(graph.contains("/ (overlay)"), "{graph}");
    assert!(graph.contains("/glassbox/gb-"), "{graph}");

    assert!(svg.status.success(), "{}", stderr(&svg));
    let dir = tempfile::tempdir().unwrap();
    let (svg_file, png_file) = (dir.path().join("c.svg"), dir.path().join("c.png"));
    std::fs::write(&svg_file, &svg.stdout).unwrap();
    let o = std::process::Command::new("rsvg-convert")
        .arg(&svg_file)
        .arg("-o")
        .arg(&png_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "rsvg-convert: {}", stderr(&o));
    let png = std::fs::read(&png_file).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
}

/// Without Graphviz, --svg says what is missing and what to do.
#[test]
fn svg_without_graphviz_says_to_install_it() {
    let o = glassbox()
        .args(["inspect", "--svg", &std::process::id().to_string()])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let e = stderr(&o);
    assert!(
        e.contains("Graphviz") && e.contains("apt-get install graphviz") && e.contains("--dot"),
        "{e}"
    );
}

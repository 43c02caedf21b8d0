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

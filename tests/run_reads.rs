//! What a `run` reads about itself and its own records: each process reads
//! /proc/self/status, looks at each of its namespaces and asks its pid once, and the parent
//! never reads back the state.json and config.json it has just written (it keeps them).

mod common;
use common::containers::Env;
use common::*;
use std::collections::HashMap;

#[test]
fn a_run_reads_what_it_already_knows_only_once() {
    if !root_or_skip("a_run_reads_what_it_already_knows_only_once")
        || !tool_or_skip("run_reads", "strace")
    {
        return;
    }
    let env = Env::new();
    // Warm the image cache first, so the traced run is the container alone.
    env.ok(&["run", "--rm", "busybox", "true"]);
    let t = strace::run_with(&["-q", "run", "--rm", "busybox", "true"], |c| {
        c.env("GLASSBOX_STATE_DIR", env.state.path())
            .env_remove("GLASSBOX_DATA_DIR");
    });
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    t.assert_honest();
    let mine = |c: &&strace::Syscall| c.by_glassbox;
    let path = |c: &strace::Syscall, i: usize| c.args.get(i).cloned().unwrap_or_default();
    let mut counts: HashMap<(u32, String), usize> = HashMap::new();
    for c in t.calls.iter().filter(mine) {
        let what = match c.name.as_str() {
            "openat" if path(c, 1).contains("/proc/self/status") => "/proc/self/status".into(),
            "statx" | "newfstatat" | "stat" if path(c, 1).contains("/proc/self/ns/") => path(c, 1),
            "getpid" => "getpid".into(),
            _ => continue,
        };
        *counts.entry((c.pid, what)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "read more than once by one process: {twice:?}"
    );
    // Its own records, read back: opened without O_WRONLY.
    let read_back: Vec<String> = t
        .calls
        .iter()
        .filter(mine)
        .filter(|c| c.name == "openat" && !path(c, 2).contains("O_WRONLY"))
        .map(|c| path(c, 1))
        .filter(|p| {
            p.contains("/containers/") && (p.contains("state.json") || p.contains("config.json"))
        })
        .collect();
    assert!(read_back.is_empty(), "records read back: {read_back:?}");
    env.assert_clean();
}

//! What README tells a newcomer to type works: the install step (then glassbox from PATH,
//! its man page and completions) and the tour's published port.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// cargo install may relink target/HOST-TUPLE/debug/glassbox, which the other test runs: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn readme() -> String {
    std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap()
}

/// A command with none of the caller's GLASSBOX_* settings, on the test's own state dir.
fn clean(mut c: Command, state: &Path) -> Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GLASSBOX_") {
            c.env_remove(key);
        }
    }
    c.env("GLASSBOX_STATE_DIR", state)
        .env("GLASSBOX_DATA_DIR", state.join("data"))
        .env("NO_COLOR", "1");
    c
}

/// `cargo install --path .` as README says (a debug build into this checkout's target
/// directory, so the test reuses what is compiled), then the installed glassbox runs a
/// container, renders its man page with man -l and prints completions that complete in bash.
#[test]
fn cargo_install_then_glassbox_from_path_runs_and_has_a_man_page() {
    assert!(
        readme().contains("cargo install --path ."),
        "README has no install step"
    );
    if !root_or_skip("cargo_install_then_glassbox_from_path_runs_and_has_a_man_page")
        || !tool_or_skip(
            "cargo_install_then_glassbox_from_path_runs_and_has_a_man_page",
            "man",
        )
    {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args(["install", "--quiet", "--locked", "--debug", "--path", "."])
        .arg("--root")
        .arg(root.path())
        .arg("--target-dir")
        .arg(Path::new(MANIFEST_DIR).join("target"))
        .current_dir(MANIFEST_DIR)
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo install failed:\n{}", stderr(&o));
    let path = format!(
        "{}:{}",
        root.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let installed = |args: &[&str]| {
        let mut c = clean(Command::new("glassbox"), state.path());
        c.args(args).env("PATH", &path);
        c.output().unwrap()
    };

    let run = installed(&["-q", "run", "--rm", "busybox", "true"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(journal_empty(state.path()));

    let page = installed(&["manpage"]);
    assert!(page.status.success(), "{}", stderr(&page));
    let file = root.path().join("glassbox.1");
    std::fs::write(&file, &page.stdout).unwrap();
    let man = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = stdout(&man);
    assert!(man.status.success(), "man -l failed: {}", stderr(&man));
    for heading in [
        "NAME",
        "SYNOPSIS",
        "GLASSBOX RUN",
        "GLASSBOX EXPORT",
        "--memory",
    ] {
        assert!(
            text.contains(heading),
            "the man page lacks {heading}:\n{text}"
        );
    }

    let completions = installed(&["completions", "bash"]);
    assert!(completions.status.success(), "{}", stderr(&completions));
    let script = root.path().join("glassbox.bash");
    std::fs::write(&script, &completions.stdout).unwrap();
    // Sourced as bash-completion would, `glassbox ru<TAB>` offers run and runtime.
    let bash = Command::new("bash")
        .arg("-c")
        .arg(
            "source \"$1\"; COMP_WORDS=(glassbox ru); COMP_CWORD=1; COMP_LINE='glassbox ru'; \
             COMP_POINT=11; _glassbox glassbox ru glassbox; echo \"${COMPREPLY[@]}\"",
        )
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(stdout(&bash), "run runtime\n", "{}", stderr(&bash));
    assert!(stdout(&completions).contains("--pids-limit"));
}

/// The tour's published-port line serves a page: HTTP 200, not busybox httpd's 404 for a
/// directory with no index.html. Run as README shows it, in a throwaway network namespace
/// standing for the host.
#[test]
fn readme_published_port_example_answers_200() {
    let line = readme()
        .lines()
        .find(|l| l.contains("-p 8080:80"))
        .expect("README shows -p 8080:80")
        .to_string();
    let command = line.split("   #").next().unwrap().trim().to_string();
    if !root_or_skip("readme_published_port_example_answers_200") {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let state = tempfile::tempdir().unwrap();
    let script = format!(
        "ip link set lo up\n{command} >/dev/null 2>&1 &\n\
         for i in $(seq 50); do\n\
           r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 127.0.0.1 8080 2>/dev/null | head -1)\n\
           [ -n \"$r\" ] && break; sleep 0.1\n\
         done\n\
         echo \"$r\"\n\
         kill $!; wait $!\n\
         glassbox -q cleanup\n"
    );
    let path = format!(
        "{}:{}",
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = clean(Command::new("unshare"), state.path());
    let o = c
        .args(["--net", "sh", "-c", &script])
        .env("PATH", path)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.starts_with("HTTP/1.") && out.contains(" 200 "),
        "`{command}` answered:\n{out}\n{}",
        stderr(&o)
    );
    assert!(journal_empty(state.path()));
}

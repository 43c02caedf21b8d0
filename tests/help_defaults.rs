//! What `--help` says a default is, is what glassbox does when the flag is left out.

mod common;
use common::*;

/// The help text of one option of `glassbox run`, joined across its wrapped lines.
fn run_help_of(option: &str) -> String {
    let o = glassbox().args(["run", "--help"]).output().unwrap();
    let help = stdout(&o);
    let mut text = String::new();
    let mut inside = false;
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') {
            inside = t.split([' ', ',']).any(|w| w == option);
        }
        if inside {
            text.push_str(t);
            text.push(' ');
        }
    }
    assert!(!text.is_empty(), "{option} is not in run --help:\n{help}");
    text
}

#[test]
fn run_help_names_the_defaults_run_uses() {
    assert!(
        run_help_of("--network").contains("none (the default"),
        "{}",
        run_help_of("--network")
    );
    assert!(
        run_help_of("--hostname").contains("default: the container's id"),
        "{}",
        run_help_of("--hostname")
    );
    if !root_or_skip("run_help_names_the_defaults_run_uses") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = glassbox()
        .env("GLASSBOX_STATE_DIR", state.path())
        .args([
            "-q",
            "run",
            "--rm",
            "--name",
            "named",
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net; hostname",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // --network none: only the loopback device.
    assert_eq!(lines[..lines.len() - 1], ["lo"], "{out}");
    // The hostname is the id (12 hex digits), not the name.
    let hostname = lines[lines.len() - 1];
    assert!(
        hostname.len() == 12 && hostname.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
}

/// Every option with a default, with the subcommand path to it (["network", "create"]).
fn options_with_defaults() -> Vec<(Vec<String>, clap::Arg)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Arg)>) {
        for a in cmd.get_arguments() {
            // A global option is checked once, at the top (the build copies it into each).
            if !path.is_empty() && a.is_global_set() {
                continue;
            }
            // (A built flag defaults to "false": only options that take a value count.)
            if !a.get_default_values().is_empty()
                && a.get_action().takes_values()
                && a.get_long().is_some()
                && !a.is_hide_set()
            {
                out.push((path.clone(), a.clone()));
            }
        }
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    // Built: glassbox defers each subcommand's arguments until it is used.
    let mut cmd = <glassbox::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    walk(&cmd, vec![], &mut out);
    out
}

/// The value glassbox parses for an option left out: the subcommand with only its required
/// arguments (a placeholder each), parsed by glassbox's own parser.
fn parsed_default(path: &[String], id: &str) -> String {
    let mut cmd = <glassbox::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut argv: Vec<String> = vec!["glassbox".into()];
    let mut sub = &mut cmd;
    for name in path {
        argv.push(name.clone());
        sub = sub.find_subcommand_mut(name).unwrap();
    }
    for a in sub.get_arguments() {
        if a.is_required_set() && a.is_positional() {
            if a.is_last_set() {
                argv.push("--".into());
            }
            argv.push("x".into());
        }
    }
    if path.is_empty() {
        // A global option: any subcommand will do.
        argv.push("ps".into());
    }
    let mut m = cmd
        .try_get_matches_from(&argv)
        .unwrap_or_else(|e| panic!("{argv:?} {id}: {e}"));
    for name in path {
        m = m.subcommand_matches(name).unwrap().clone();
    }
    m.get_raw(id)
        .unwrap_or_else(|| panic!("{argv:?} parsed no value for {id}"))
        .map(|v| v.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// The lines of `glassbox PATH --help` that describe `--long`.
fn help_block(path: &[String], long: &str) -> String {
    let o = glassbox().args(path).arg("--help").output().unwrap();
    let help = stdout(&o);
    let mut text = String::new();
    let mut inside = false;
    for line in help.lines() {
        let t = line.trim_start();
        // An option's first line is indented by at most 6; its text and values by more.
        if t.starts_with('-') && line.len() - t.len() <= 6 {
            inside = t.split([' ', ',', '=']).any(|w| w == long);
        } else if !line.is_empty() && !line.starts_with(' ') {
            inside = false;
        }
        if inside {
            text.push_str(t);
            text.push(' ');
        }
    }
    text
}

/// For every option with a default: `--help` shows the value glassbox parses when the option
/// is left out, the option's own text names no other, and no README line that names the
/// option and a default says another.
#[test]
fn every_documented_default_is_the_parsed_one() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut problems = Vec::new();
    let found = options_with_defaults();
    assert!(found.len() >= 6, "{found:?}");
    for (path, arg) in found {
        let long = format!("--{}", arg.get_long().unwrap());
        let short = arg.get_short().map(|c| format!("-{c}"));
        let what = format!("glassbox {} {long}", path.join(" "));
        let parsed = parsed_default(&path, arg.get_id().as_str());
        let help = help_block(&path, &long);
        if !help.contains(&format!("[default: {parsed}]")) {
            problems.push(format!(
                "{what}: --help does not show [default: {parsed}]: {help}"
            ));
        }
        let prose = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if prose.to_lowercase().contains("default") && !prose.contains(&parsed) {
            problems.push(format!("{what}: its text names another default: {prose}"));
        }
        let sub = path.last().cloned().unwrap_or_default();
        let names_option = |l: &str| {
            l.contains(&long)
                || short
                    .as_ref()
                    .is_some_and(|s| l.contains(&format!("[{s} ")))
        };
        let names_sub = |l: &str| {
            sub.is_empty()
                || l.contains(&format!("`{sub}"))
                || l.contains(&format!("glassbox {sub}"))
        };
        for line in readme
            .lines()
            .filter(|l| l.contains("default") && names_sub(l) && names_option(l))
        {
            if !line.contains(&parsed) {
                problems.push(format!("{what}: README says otherwise: {line}"));
            }
        }
        // README's tour spells the stop grace time out in seconds.
        if path == ["stop"] && long == "--time" {
            let line = readme
                .lines()
                .find(|l| l.contains("glassbox stop web"))
                .unwrap();
            if !line.contains(&format!("after {parsed} s")) {
                problems.push(format!("{what}: README says otherwise: {line}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `--version` is parsed with the subcommands stubbed (a faster start): it, and a near miss
/// of it, must read as clap made them with the whole tree.
#[test]
fn version_and_a_near_miss_of_it_read_as_before() {
    let want = format!("glassbox {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["--version"][..], &["-q", "-V"], &["--version", "ps"]] {
        let o = glassbox().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), want, "{args:?}");
    }
    let o = glassbox().arg("--versio").output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("tip: a similar argument exists: '--version'"),
        "{}",
        stderr(&o)
    );
}

/// What `glassbox SUBCOMMAND --help` opens with is the subcommand's own description, the one
/// `glassbox --help` lists: glassbox builds a subcommand's arguments only when it is used,
/// and a doc comment on a struct of arguments it flattens would then replace it.
#[test]
fn every_subcommand_keeps_its_own_description_once_built() {
    let listed = <glassbox::cli::Cli as clap::CommandFactory>::command();
    let mut built = <glassbox::cli::Cli as clap::CommandFactory>::command();
    built.build();
    let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
    let mut checked = 0;
    for (before, after) in listed.get_subcommands().zip(built.get_subcommands()) {
        assert_eq!(before.get_name(), after.get_name());
        assert_eq!(
            text(before.get_about()),
            text(after.get_about()),
            "glassbox {} --help",
            before.get_name()
        );
        assert_eq!(
            text(before.get_long_about()),
            text(after.get_long_about()),
            "glassbox {} --help",
            before.get_name()
        );
        checked += 1;
    }
    assert!(checked > 40, "{checked} subcommands");
}

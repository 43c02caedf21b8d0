//! The strace-honesty harness: run glassbox under `strace -f` and under `--trace`, then check
//! that every narrated call appears in strace with the same arguments and result, and that
//! glassbox made no namespace, mount, root, hostname or cgroup-file call it did not narrate.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

/// One syscall as strace printed it.
#[derive(Debug, Clone)]
pub struct Syscall {
    pub pid: u32,
    pub name: String,
    pub args: Vec<String>,
    /// `0`, `4242`, `-1 EPERM (Operation not permitted)`, or `?`.
    pub result: String,
    /// Whether the process was glassbox when it made the call.
    pub by_glassbox: bool,
}

/// What a traced run gave.
pub struct Traced {
    pub output: Output,
    pub events: Vec<Value>,
    pub calls: Vec<Syscall>,
}

/// Calls that change isolation state: glassbox must narrate every one it makes.
const WATCHED: &[&str] = &[
    "unshare",
    "setns",
    "mount",
    "mount_setattr",
    "umount2",
    "pivot_root",
    "chroot",
    "sethostname",
    "bpf",
];

/// Run `glassbox ARGS…` (and any glassbox it chains to) under strace and --trace.
pub fn run(args: &[&str]) -> Traced {
    run_with(args, |_| {})
}

/// As [`run`], with a hook to adjust the command (environment, stdin).
pub fn run_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Traced {
    run_full(&[], None, &[], args, adjust)
}

/// As [`run`], with glassbox started as `user` (strace -u USER): for non-root tests.
pub fn run_as(user: &str, args: &[&str]) -> Traced {
    run_full(&[], Some(user), &[], args, |_| {})
}

/// As [`run_as`], with a hook to adjust the command (the user's HOME, say).
#[allow(dead_code)]
pub fn run_as_with(user: &str, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Traced {
    run_full(&[], Some(user), &[], args, adjust)
}

/// As [`run_as_with`], with strace itself started by `prefix` (`ip netns exec NS`).
#[allow(dead_code)]
pub fn run_as_prefixed(
    prefix: &[&str],
    user: &str,
    args: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> Traced {
    run_full(prefix, Some(user), &[], args, adjust)
}

/// As [`run_with`], with strace's fault injection: `inject` as for `strace -e inject=…`
/// (`clone3:error=ENOSYS` makes every clone3 fail as on a kernel without it).
pub fn run_injected(inject: &str, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Traced {
    run_full(&[], None, &[&format!("--inject={inject}")], args, adjust)
}

/// As [`run_with`], with strace itself started by `prefix` (for instance
/// `unshare --net -- …`, so the whole traced run happens in a throwaway network namespace).
pub fn run_prefixed(prefix: &[&str], args: &[&str], adjust: impl FnOnce(&mut Command)) -> Traced {
    run_full(prefix, None, &[], args, adjust)
}

fn run_full(
    prefix: &[&str],
    user: Option<&str>,
    strace_opts: &[&str],
    args: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> Traced {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let strace_out = dir.path().join("strace.txt");
    let trace = dir.path().join("trace.jsonl");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("strace");
            c
        }
        None => Command::new("strace"),
    };
    if let Some(u) = user {
        // The traced glassbox runs as `u` and must be able to append to the trace file.
        std::fs::write(&trace, "").unwrap();
        std::fs::set_permissions(&trace, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        cmd.args(["-u", u]);
    }
    cmd.args(strace_opts)
        .args(["-f", "-y", "-qq", "-s", "4096", "-o"])
        .arg(&strace_out)
        .arg(super::bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env("GLASSBOX_TRACE", &trace);
    adjust(&mut cmd);
    let output = cmd.output().expect("strace runs (is it installed?)");
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    // What these calls made on the host is compared after the test as well (host_state).
    if let Ok(mut all) = std::fs::OpenOptions::new()
        .append(true)
        .open(super::process_trace())
    {
        use std::io::Write;
        let _ = all.write_all(traced.as_bytes());
    }
    let events = traced
        .lines()
        .map(|l| serde_json::from_str(l).expect("every trace line is JSON"))
        .collect();
    let calls = parse(
        &std::fs::read_to_string(&strace_out).unwrap_or_default(),
        &super::bin(),
    );
    Traced {
        output,
        events,
        calls,
    }
}

impl Traced {
    /// The narrated call events.
    pub fn narrated(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "call")
            .collect()
    }

    /// Assert the narration is honest both ways; panics with a readable report if not.
    pub fn assert_honest(&self) {
        let mut used = vec![false; self.calls.len()];
        let mut problems = Vec::new();
        for ev in self.narrated() {
            if ev["dry_run"] == true {
                continue;
            }
            let found = self
                .calls
                .iter()
                .enumerate()
                .find(|(i, c)| !used[*i] && matches(ev, c));
            match found {
                Some((i, _)) => used[i] = true,
                None => problems.push(format!(
                    "narrated but not seen by strace: {}",
                    show_event(ev)
                )),
            }
        }
        for (i, c) in self.calls.iter().enumerate() {
            if used[i] || !c.by_glassbox || !is_watched(c) {
                continue;
            }
            problems.push(format!(
                "made by glassbox but not narrated: [pid {}] {}({}) = {}",
                c.pid,
                c.name,
                c.args.join(", "),
                c.result
            ));
        }
        assert!(
            problems.is_empty(),
            "the narration is not honest:\n  {}\n--- stderr ---\n{}",
            problems.join("\n  "),
            String::from_utf8_lossy(&self.output.stderr)
        );
    }

    /// The names of the narrated calls, in order (for asserting a stage's sequence).
    pub fn narrated_names(&self) -> Vec<String> {
        self.narrated()
            .iter()
            .map(|e| e["name"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn show_event(ev: &Value) -> String {
    let args: Vec<String> = ev["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let res = if let Some(e) = ev["errno"].as_str() {
        format!("-1 {e}")
    } else {
        ev["result"].to_string()
    };
    format!(
        "{}({}) = {}",
        ev["name"].as_str().unwrap_or("?"),
        args.join(", "),
        res
    )
}

/// A narrated HTTP request (`GET("http://host:port/v2/…", "Accept: …")`, src/registry/)
/// and the write that sent it on a socket (`sendto(5<socket:[…]>, "GET /v2/… HTTP/1.1\r\n
/// accept: …"`, or write): the request line and the headers shown really went out.
fn http_matches(ev: &Value, c: &Syscall) -> bool {
    if !matches!(c.name.as_str(), "write" | "sendto")
        || !c
            .args
            .first()
            .is_some_and(|a| a.contains("socket:") || a.contains("TCP"))
    {
        return false;
    }
    let Some(sent) = c.args.get(1) else {
        return false;
    };
    let args: Vec<&str> = ev["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a.as_str().unwrap_or("").trim_matches('"'))
        .collect();
    let url = args.first().copied().unwrap_or("");
    let after = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after.find('/').map_or("/", |i| &after[i..]);
    let line = format!(
        "\"{} {path} HTTP/1.1\\r\\n",
        ev["name"].as_str().unwrap_or("")
    );
    let head = sent.to_ascii_lowercase();
    sent.starts_with(&line)
        && args[1..].iter().all(|h| match h.split_once(": ") {
            // Shown without the secret: the scheme must be what was sent.
            Some((k, v)) if v.ends_with('…') => head.contains(&format!(
                "{}: {}",
                k.to_ascii_lowercase(),
                v.trim_end_matches('…').to_ascii_lowercase()
            )),
            Some(("Content-Length", _)) => true, // a file body may go chunked
            Some((k, v)) => head.contains(&format!(
                "{}: {}",
                k.to_ascii_lowercase(),
                v.to_ascii_lowercase()
            )),
            None => false,
        })
}

/// Whether a strace call is one glassbox must narrate.
fn is_watched(c: &Syscall) -> bool {
    if WATCHED.contains(&c.name.as_str()) {
        return true;
    }
    let first = c.args.first().map(String::as_str).unwrap_or("");
    match c.name.as_str() {
        "clone" | "clone3" => c.args.iter().any(|a| a.contains("CLONE_NEW")),
        "write" => is_kernel_control_file(first),
        "prctl" => matches!(
            first,
            "PR_CAPBSET_DROP" | "PR_SET_NO_NEW_PRIVS" | "PR_CAP_AMBIENT" | "PR_SET_KEEPCAPS"
        ),
        // A netlink request that changes links, addresses or routes (src/sys/net.rs).
        "sendto" | "sendmsg" => c.args.get(1).is_some_and(|a| {
            ["RTM_NEW", "RTM_DEL", "RTM_SET"]
                .iter()
                .any(|t| a.contains(&format!("nlmsg_type={t}")))
        }),
        "mkdir" | "rmdir" => first.starts_with("\"/sys/fs/cgroup"),
        "mkdirat" | "unlinkat" => c
            .args
            .get(1)
            .is_some_and(|a| a.starts_with("\"/sys/fs/cgroup")),
        _ => false,
    }
}

/// Files whose writes change isolation: cgroup files and user-namespace maps.
fn is_kernel_control_file(fd_arg: &str) -> bool {
    let Some(path) = fd_arg.split_once('<').map(|(_, p)| p.trim_end_matches('>')) else {
        return false;
    };
    path.starts_with("/sys/fs/cgroup")
        || path.ends_with("/uid_map")
        || path.ends_with("/gid_map")
        || path.ends_with("/setgroups")
}

/// Whether a narrated event and a strace line are the same call.
fn matches(ev: &Value, c: &Syscall) -> bool {
    let name = ev["name"].as_str().unwrap_or("");
    if matches!(name, "GET" | "HEAD" | "POST" | "PUT") {
        return http_matches(ev, c);
    }
    let mut nargs: Vec<String> = ev["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    // strace -y shows AT_FDCWD with the working directory: `AT_FDCWD</tmp>`.
    let mut sargs: Vec<String> = c
        .args
        .iter()
        .map(|a| {
            if a.starts_with("AT_FDCWD<") {
                "AT_FDCWD".to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    // glibc may make the *at form of a call: drop its AT_FDCWD to compare.
    let same_name = name == c.name
        || (format!("{name}at") == c.name && sargs.first().map(String::as_str) == Some("AT_FDCWD"))
        || (name == "clone" && c.name == "clone3");
    if !same_name {
        return false;
    }
    if c.name.ends_with("at") && name != c.name {
        sargs.remove(0);
    }
    if name == "symlink" && c.name == "symlinkat" {
        // symlinkat(target, AT_FDCWD, link)
        sargs = c
            .args
            .iter()
            .filter(|a| *a != "AT_FDCWD" && !a.starts_with("AT_FDCWD<"))
            .cloned()
            .collect();
    }
    // Result.
    if let Some(errno) = ev["errno"].as_str() {
        if !c.result.starts_with(&format!("-1 {errno}")) {
            return false;
        }
    } else if let Some(r) = ev["result"].as_i64() {
        // strace -y decorates a returned descriptor (`3</path>`); umask's result is octal.
        let seen = c.result.split_whitespace().next().unwrap_or("");
        let seen = seen.split_once('<').map_or(seen, |(n, _)| n);
        let same = if c.name == "umask" {
            i64::from_str_radix(seen, 8).ok() == Some(r)
        } else {
            seen == r.to_string()
        };
        if !same {
            return false;
        }
    }
    if nargs.len() > sargs.len() {
        return false;
    }
    for (n, s) in nargs.iter_mut().zip(&sargs) {
        if !arg_matches(n, s) {
            return false;
        }
    }
    true
}

fn arg_matches(narrated: &str, seen: &str) -> bool {
    if narrated == seen {
        return true;
    }
    // A structure cut short (`[{nlmsg_len=40, nlmsg_type=RTM_NEWADDR, ...}, ...]`): what is
    // shown before the first `, ...` must be what strace printed first.
    if narrated.starts_with("[{") {
        if let Some((head, _)) = narrated.split_once(", ...") {
            return seen.starts_with(head);
        }
    }
    // `...` stands for any text: `{len=190, filter=...}` matches `{len=190, filter=0x55e9…}`.
    if narrated.contains("...") {
        return glob(narrated, seen);
    }
    // strace -y decorates a descriptor with its path (`4</dev/null>`); a narrated plain
    // number matches the number.
    if !narrated.contains('<') {
        if let Some((fd, _)) = seen.split_once('<') {
            if fd == narrated && seen.ends_with('>') {
                return true;
            }
        }
    }
    // A descriptor inside a structure, decorated too: `[{fd=5<anon_inode:[pidfd]>, …}]`.
    if !narrated.contains('<') && seen.contains('<') && undecorated(seen) == narrated {
        return true;
    }
    // strace -y decorates AT_FDCWD with the working directory: `AT_FDCWD</tmp>`.
    if narrated == "AT_FDCWD" && seen.starts_with("AT_FDCWD<") {
        return true;
    }
    // Flags compare as sets.
    if narrated.contains('|') || seen.contains('|') {
        let set = |s: &str| {
            let mut v: Vec<String> = s
                .trim_start_matches("flags=")
                .split('|')
                .map(|x| x.trim().to_string())
                .collect();
            v.sort();
            v
        };
        let prefix = |s: &str| s.starts_with("flags=");
        return prefix(narrated) == prefix(seen) && set(narrated) == set(seen);
    }
    // A descriptor shown as N</path>: /proc/self/… is /proc/PID/… to strace -y.
    if let (Some((nfd, npath)), Some((sfd, spath))) =
        (narrated.split_once('<'), seen.split_once('<'))
    {
        if nfd != sfd && nfd != "?" {
            return false;
        }
        if let Some(rest) = npath.strip_prefix("/proc/self/") {
            return spath.starts_with("/proc/") && spath.ends_with(rest);
        }
        return npath == spath;
    }
    false
}

/// `seen` without strace -y's `<…>` decorations of descriptors.
fn undecorated(seen: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for ch in seen.chars() {
        match ch {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(ch),
            _ => {}
        }
    }
    out
}

fn glob(pattern: &str, text: &str) -> bool {
    glassbox::lesson::parse::wildcard_match(pattern, text, "...")
}

/// Parse `strace -f -o FILE` output, joining unfinished/resumed pairs and marking which
/// process was glassbox (it is glassbox until it execs something else; a new process is
/// what its parent was).
pub fn parse(text: &str, glassbox: &Path) -> Vec<Syscall> {
    let gb_name = glassbox.file_name().unwrap().to_string_lossy().to_string();
    let mut pending: HashMap<u32, String> = HashMap::new();
    let mut is_gb: HashMap<u32, bool> = HashMap::new();
    let mut out = Vec::new();
    let mut first = true;
    for raw in text.lines() {
        let Some((pid_s, rest)) = raw.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid_s.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if first {
            // strace's own child execs glassbox first.
            is_gb.insert(pid, false);
            first = false;
        }
        let line = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid, head.to_string());
            continue;
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let after = tail.split_once(" resumed>").map(|x| x.1).unwrap_or("");
            // A call whose arguments were all shown resumes with `)   = 1` (padded).
            let head = pending.remove(&pid).unwrap_or_default();
            match after.strip_prefix(')') {
                Some(r) if r.trim_start().starts_with('=') => {
                    format!("{}) {}", head.trim_end(), r.trim_start())
                }
                _ => format!("{head}{after}"),
            }
        } else {
            rest.to_string()
        };
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        let Some((name, after_name)) = line.split_once('(') else {
            continue;
        };
        // The `)` before ` = RESULT`, which strace may pad with spaces (a short resumed line).
        let closing = after_name
            .match_indices(')')
            .rev()
            .find(|(i, _)| after_name[i + 1..].trim_start().starts_with("= "))
            .map(|(i, _)| i);
        let Some(eq) = closing.or_else(|| after_name.rfind(")")) else {
            continue;
        };
        let arg_text = &after_name[..eq];
        let result = after_name[eq..]
            .trim_start_matches(')')
            .trim()
            .trim_start_matches('=')
            .trim()
            .to_string();
        let args: Vec<String> = split_args(arg_text)
            .into_iter()
            .map(|a| name_netlink_type(&a))
            .collect();
        let was_gb = *is_gb.entry(pid).or_insert(true);
        if name == "execve" && !result.starts_with("-1") {
            let path = args.first().cloned().unwrap_or_default();
            let now_gb = path.trim_matches('"').ends_with(&format!("/{gb_name}"));
            is_gb.insert(pid, now_gb);
        }
        if (name == "clone" || name == "clone3" || name == "fork" || name == "vfork")
            && !result.starts_with("-1")
        {
            if let Ok(child) = result
                .split_whitespace()
                .next()
                .unwrap_or("")
                .parse::<u32>()
            {
                is_gb.entry(child).or_insert(was_gb);
            }
        }
        out.push(Syscall {
            pid,
            name: name.to_string(),
            args,
            result,
            by_glassbox: was_gb,
        });
    }
    out
}

/// strace sometimes cannot tell which netlink family a socket is (it then prints
/// `nlmsg_type=0x10 /* NLMSG_??? */` and the body in hex): name the rtnetlink types glassbox
/// sends, so such a line compares like a decoded one.
fn name_netlink_type(arg: &str) -> String {
    let mut a = arg.to_string();
    for (num, name) in [
        ("0x10", "RTM_NEWLINK"),
        ("0x11", "RTM_DELLINK"),
        ("0x13", "RTM_SETLINK"),
        ("0x14", "RTM_NEWADDR"),
        ("0x15", "RTM_DELADDR"),
        ("0x18", "RTM_NEWROUTE"),
        ("0x19", "RTM_DELROUTE"),
    ] {
        a = a.replace(
            &format!("nlmsg_type={num} /* NLMSG_??? */"),
            &format!("nlmsg_type={name}"),
        );
    }
    a
}

/// Split strace's argument text at top-level commas (not inside quotes, [], {} or ()).
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    let mut cur = String::new();
    for ch in s.chars() {
        if in_str {
            cur.push(ch);
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                cur.push(ch);
            }
            '[' | '{' | '(' => {
                depth += 1;
                cur.push(ch);
            }
            ']' | '}' | ')' => {
                depth -= 1;
                cur.push(ch);
            }
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
            }
            _ => cur.push(ch),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    // strace may end a string with ... when it truncates it.
    out
}

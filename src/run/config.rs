//! `glassbox run`'s flags checked and turned into one settled configuration, before the first
//! syscall: a bad flag changes nothing.

use crate::cli::RunArgs;
use crate::error::{Error, Result};

/// The stages `run` composes, in order; each can be skipped to see what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Rootfs,
    Namespaces,
    Cgroup,
    Network,
    Mounts,
    Security,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Rootfs,
        Stage::Namespaces,
        Stage::Cgroup,
        Stage::Network,
        Stage::Mounts,
        Stage::Security,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Rootfs => "rootfs",
            Stage::Namespaces => "namespaces",
            Stage::Cgroup => "cgroup",
            Stage::Network => "network",
            Stage::Mounts => "mounts",
            Stage::Security => "security",
        }
    }

    /// The catalog's stage entry that explains it.
    pub fn catalog_name(self) -> &'static str {
        match self {
            Stage::Network => "net",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Result<Stage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                Error::usage(
                    format!("there is no stage called {s:?}"),
                    format!("use one of: {}", Stage::ALL.map(|s| s.name()).join(", ")),
                )
            })
    }
}

/// Which stages are on, from --skip and --only.
pub fn stages(skip: &[String], only: &[String]) -> Result<Vec<Stage>> {
    if !skip.is_empty() && !only.is_empty() {
        return Err(Error::usage(
            "--skip and --only cannot be used together",
            "use one of them",
        ));
    }
    let skip: Vec<Stage> = skip
        .iter()
        .map(|s| Stage::parse(s))
        .collect::<Result<_>>()?;
    let only: Vec<Stage> = only
        .iter()
        .map(|s| Stage::parse(s))
        .collect::<Result<_>>()?;
    Ok(Stage::ALL
        .into_iter()
        .filter(|s| !skip.contains(s) && (only.is_empty() || only.contains(s)))
        .collect())
}

/// A hostname as sethostname(2) and RFC 1123 take it.
pub fn check_hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{h:?} is not a valid hostname"),
            "use letters, digits and '-', at most 64 characters",
        ))
    }
}

/// The environment for the command: the image's, then --env-file, then -e, as docker does.
pub fn environment(image_env: &[String], hostname: &str, a: &RunArgs) -> Result<Vec<String>> {
    let mut env: Vec<String> = vec![
        format!("PATH={}", crate::sys::process::DEFAULT_PATH),
        format!("HOSTNAME={hostname}"),
    ];
    let set = |kv: String, env: &mut Vec<String>| set_env(env, kv);
    for e in image_env {
        set(e.clone(), &mut env);
    }
    if a.tty {
        set("TERM=xterm".into(), &mut env);
    }
    for file in &a.env_file {
        for kv in env_file(file)? {
            set(kv, &mut env);
        }
    }
    for e in &a.env {
        set(env_entry(e)?, &mut env);
    }
    Ok(env)
}

/// The NAME=VALUE entries of an --env-file (docker's syntax: a line each, `#` comments and
/// blank lines skipped, NAME alone takes the host's value). For run and exec.
pub fn env_file(file: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::io(
            format!("cannot read the env file {}", file.display()),
            &e,
            "check the path given to --env-file",
        )
    })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(env_entry)
        .collect()
}

/// Set NAME=VALUE in `env`, in place of an earlier NAME.
pub fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv.split('=').next().unwrap_or("").to_string();
    env.retain(|e| e.split('=').next() != Some(&key));
    env.push(kv);
}

/// NAME=VALUE as it is, or NAME alone taking the host's value (dropped if unset).
pub fn env_entry(e: &str) -> Result<String> {
    let name = e.split('=').next().unwrap_or("");
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(Error::usage(
            format!("{e:?} is not NAME=VALUE"),
            "give environment variables as NAME=VALUE (or NAME to pass the host's value)",
        ));
    }
    if e.contains('=') {
        Ok(e.to_string())
    } else {
        Ok(format!(
            "{name}={}",
            std::env::var(name).unwrap_or_default()
        ))
    }
}

/// `--user UID[:GID]` or names, resolved against the image's /etc/passwd and /etc/group.
pub fn resolve_user(spec: &str, layers: &[&std::path::Path]) -> Result<(u32, u32)> {
    let (u, g) = spec
        .split_once(':')
        .map_or((spec, None), |(u, g)| (u, Some(g)));
    // The file as the container sees it: from the topmost layer that has it.
    let read = |file: &str| {
        layers
            .iter()
            .find_map(|l| std::fs::read_to_string(l.join(file)).ok())
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
        read(file)?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name))
                .then(|| f.get(field)?.parse().ok())
                .flatten()
        })
    };
    let uid = u
        .parse()
        .ok()
        .or_else(|| lookup("etc/passwd", u, 2))
        .ok_or_else(|| {
            Error::usage(
                format!("the user {u:?} is not in the image's /etc/passwd"),
                "give a numeric uid, or a user the image has",
            )
        })?;
    let gid = match g {
        Some(g) => g
            .parse()
            .ok()
            .or_else(|| lookup("etc/group", g, 2))
            .ok_or_else(|| {
                Error::usage(
                    format!("the group {g:?} is not in the image's /etc/group"),
                    "give a numeric gid, or a group the image has",
                )
            })?,
        // Without a group: the user's primary group from /etc/passwd, else the same number.
        None => lookup("etc/passwd", u, 3)
            .or_else(|| {
                read("etc/passwd")?.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.get(2)?.parse::<u32>().ok()? == uid)
                        .then(|| f.get(3)?.parse().ok())
                        .flatten()
                })
            })
            .unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// The user's home as docker sets HOME: the image's /etc/passwd entry for the name or uid
/// (kept as it is, `/nonexistent` too), else `/root` for root and `/` for anyone else.
pub fn home_of(name: &str, uid: u32, layers: &[&std::path::Path]) -> String {
    let passwd = layers
        .iter()
        .find_map(|l| std::fs::read_to_string(l.join("etc/passwd")).ok())
        .unwrap_or_default();
    let by = |f: &[&str]| f.first() == Some(&name) || f.get(2) == Some(&uid.to_string().as_str());
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 5 && by(f))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| if uid == 0 { "/root" } else { "/" }.into())
}

/// A new container id: 12 hex digits from the kernel's random pool.
pub fn new_id() -> String {
    crate::store::random_hex(6)
}

/// `--add-host NAME:IP` and `--dns IP`, checked (IPv4 only).
pub fn hosts_and_dns(a: &RunArgs) -> Result<HostsAndDns> {
    let mut hosts = Vec::new();
    for h in &a.add_host {
        let parsed = h
            .split_once(':')
            .and_then(|(n, ip)| Some((n, ip.parse::<std::net::Ipv4Addr>().ok()?)));
        match parsed {
            Some((name, ip)) if check_hostname(name).is_ok() => hosts.push((name.to_string(), ip)),
            _ => {
                return Err(Error::usage(
                    format!("--add-host {h:?} is not NAME:IP"),
                    "give a host name and an IPv4 address, as --add-host db:10.0.0.5",
                ))
            }
        }
    }
    let dns = a
        .dns
        .iter()
        .map(|d| {
            d.parse().map_err(|_| {
                Error::usage(
                    format!("--dns {d:?} is not an IPv4 address"),
                    "give a name server's address, as --dns 9.9.9.9",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((hosts, dns))
}

type HostsAndDns = (Vec<(String, std::net::Ipv4Addr)>, Vec<std::net::Ipv4Addr>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_and_only_choose_stages() {
        assert_eq!(stages(&[], &[]).unwrap(), Stage::ALL.to_vec());
        assert_eq!(
            stages(&["network".into(), "cgroup".into()], &[]).unwrap(),
            vec![
                Stage::Rootfs,
                Stage::Namespaces,
                Stage::Mounts,
                Stage::Security
            ]
        );
        assert_eq!(
            stages(&[], &["rootfs".into()]).unwrap(),
            vec![Stage::Rootfs]
        );
        assert!(stages(&["nope".into()], &[]).is_err());
        assert!(stages(&["rootfs".into()], &["rootfs".into()]).is_err());
    }

    #[test]
    fn users_resolve_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(resolve_user("web", &[d.path()]).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("1000", &[d.path()]).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("web:staff", &[d.path()]).unwrap(), (1000, 50));
        assert_eq!(resolve_user("4242:7", &[d.path()]).unwrap(), (4242, 7));
        assert_eq!(resolve_user("4242", &[d.path()]).unwrap(), (4242, 4242));
        assert!(resolve_user("nobody-here", &[d.path()]).is_err());
    }

    #[test]
    fn hostnames_follow_the_rules() {
        check_hostname("box").unwrap();
        check_hostname("a-b.example").unwrap();
        assert!(check_hostname("-x").is_err());
        assert!(check_hostname("a b").is_err());
    }
}

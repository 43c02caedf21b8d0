//! Registry credentials: `glassbox login` / `logout`, and where pull finds them.
//!
//! glassbox keeps them as docker does, in a config.json of the same shape
//! (`{"auths": {"127.0.0.1:5000": {"auth": "BASE64(user:password)"}}}`), at
//! `DATA/auth.json`, mode 0600 (root's, like the rest of the data directory). Base64 is
//! not encryption: the file's mode is what keeps the password. Pull reads glassbox's file
//! first, then docker's own ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), so a
//! `docker login` made before works too.

use super::http;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// glassbox's own credentials file.
pub fn file() -> PathBuf {
    crate::store::data_dir().join("auth.json")
}

/// docker's config.json.
fn docker_file() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
        .map(|d| d.join("config.json"))
}

/// The keys a registry may be listed under.
fn keys(domain: &str) -> Vec<String> {
    let mut k = vec![
        domain.to_string(),
        format!("https://{domain}"),
        format!("http://{domain}"),
    ];
    if domain == super::reference::DOCKER_HUB {
        k.push("https://index.docker.io/v1/".into());
    }
    k
}

fn from_file(path: &Path, domain: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let auths = v.get("auths")?;
    let entry = keys(domain).iter().find_map(|k| auths.get(k).cloned())?;
    if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
        let s = String::from_utf8(http::unbase64(a)?).ok()?;
        let (u, p) = s.split_once(':')?;
        return Some((u.to_string(), p.to_string()));
    }
    let u = entry.get("username")?.as_str()?;
    let p = entry.get("password")?.as_str()?;
    Some((u.to_string(), p.to_string()))
}

/// The credentials known for a registry: glassbox's login, else docker's.
pub fn credentials(domain: &str) -> Option<(String, String)> {
    from_file(&file(), domain).or_else(|| from_file(&docker_file()?, domain))
}

fn read_all() -> Result<serde_json::Value> {
    match std::fs::read(file()) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::new(
                format!("{} is not valid JSON: {e}", file().display()),
                "remove it and log in again",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({"auths": {}})),
        Err(e) => Err(Error::io(
            format!("cannot read {}", file().display()),
            &e,
            "run as root",
        )),
    }
}

/// Write the credentials file whole, readable by its owner only.
fn write_all(v: &serde_json::Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = file();
    crate::store::make_dirs(path.parent().expect("in the data directory"))?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&serde_json::to_vec_pretty(v).expect("json")))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            Error::io(
                format!("cannot write {}", path.display()),
                &e,
                "check that the data directory is writable",
            )
        })
}

/// `glassbox login [-u USER] [--password-stdin] [REGISTRY]`: the credentials are tried on
/// the registry (`GET /v2/`) and kept only when it takes them.
pub fn login_main(a: &crate::cli::LoginArgs, sys: &crate::sys::Sys) -> Result<i32> {
    crate::store::need_root("login")?;
    let domain = a
        .server
        .clone()
        .unwrap_or_else(|| super::reference::DOCKER_HUB.to_string());
    let user = match &a.username {
        Some(u) => u.clone(),
        None => {
            return Err(Error::usage(
                "login needs a user name",
                "give it with -u USER (and the password on stdin with --password-stdin)",
            ))
        }
    };
    let mut password = String::new();
    if a.password_stdin {
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut password).map_err(|e| {
            Error::io(
                "cannot read the password from stdin",
                &e,
                "pipe it in: echo … | glassbox login --password-stdin -u USER",
            )
        })?;
    } else {
        return Err(Error::usage(
            "login reads the password from stdin only (a password on the command line is seen by every user in ps)",
            "pipe it in: echo PASSWORD | glassbox login --password-stdin -u USER REGISTRY",
        ));
    }
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    let remote = super::reference::parse(&format!("{domain}/x"))?;
    sys.narrator.stage(
        "login",
        &format!("try the credentials of {user} on {domain}, and keep them if it takes them"),
    );
    let base = super::base_url(&remote, &super::PullOpts::default());
    let mut c = http::Client::new(
        sys,
        base,
        "x".into(),
        Some((user.clone(), password.clone())),
    );
    c.login_check()?;
    let mut all = read_all()?;
    let auth = http::base64(format!("{user}:{password}").as_bytes());
    all["auths"][&domain] = serde_json::json!({ "auth": auth });
    write_all(&all)?;
    sys.narrator.note(&format!(
        "credentials kept in {} (mode 0600: base64 is no encryption, the file's mode keeps them)",
        file().display()
    ));
    crate::outln!("Login Succeeded");
    Ok(0)
}

/// `glassbox logout [REGISTRY]`.
pub fn logout_main(a: &crate::cli::LogoutArgs) -> Result<i32> {
    crate::store::need_root("logout")?;
    let domain = a
        .server
        .clone()
        .unwrap_or_else(|| super::reference::DOCKER_HUB.to_string());
    let mut all = read_all()?;
    let removed = all
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .is_some_and(|m| keys(&domain).iter().any(|k| m.remove(k).is_some()));
    if !removed {
        return Err(Error::usage(
            format!("not logged in to {domain}"),
            "glassbox logout forgets only what glassbox login kept (docker's own logins are docker logout's)",
        )
        .with_code(1));
    }
    write_all(&all)?;
    crate::outln!("Removing login credentials for {domain}");
    Ok(0)
}

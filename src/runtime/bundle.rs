//! An OCI bundle as an engine hands it over: config.json read and checked before anything
//! is made, each refusal one sentence.

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Component, Path, PathBuf};

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// root.path, absolute.
    pub rootfs: PathBuf,
}

pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        Error::io(
            format!("the bundle {} cannot be opened", dir.display()),
            &e,
            "give --bundle the directory that holds config.json",
        )
    })?;
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::usage(
            format!("the bundle {} has no config.json", dir.display()),
            "an OCI bundle is a directory with config.json and its root filesystem: check --bundle",
        ));
    }
    let text = std::fs::read(&config).map_err(|e| {
        Error::io(
            format!("cannot read {}", config.display()),
            &e,
            "check its permissions",
        )
    })?;
    // The version first: a spec of another major version may not even parse.
    let version = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["ociVersion"].as_str().map(String::from))
        .unwrap_or_default();
    if !version.starts_with("1.") {
        return Err(Error::usage(
            format!(
                "{} asks for OCI runtime spec version {version:?}, and glassbox runs 1.x",
                config.display()
            ),
            "give a bundle written for the OCI runtime spec 1.x",
        ));
    }
    let spec: Spec = serde_json::from_slice(&text).map_err(|e| {
        Error::usage(
            format!("{} is not a valid OCI runtime spec: {e}", config.display()),
            "fix the field named, or have the engine write it again",
        )
    })?;
    let root = spec.root().as_ref().ok_or_else(|| {
        Error::usage(
            format!("{} has no root", config.display()),
            "give root.path, the container's root filesystem",
        )
    })?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(Error::usage(
            format!(
                "the root filesystem {} is not a directory",
                rootfs.display()
            ),
            "make root.path in config.json name the bundle's root filesystem",
        ));
    }
    if spec.process().is_none() {
        return Err(Error::usage(
            format!("{} has no process to run", config.display()),
            "give process.args in config.json",
        ));
    }
    for m in spec.mounts().iter().flatten() {
        if let Some(link) = climbs_out(&rootfs, m.destination()) {
            return Err(Error::usage(
                format!(
                    "the mount destination {} climbs out of the root filesystem through the symlink {}",
                    m.destination().display(),
                    link.display()
                ),
                "make that path a real directory in the root filesystem, or mount somewhere else",
            ));
        }
    }
    Ok(Bundle { dir, spec, rootfs })
}

/// The symlink on the way to `dest` (inside `root`) that leads out of `root`, if any: each
/// link is followed as the kernel would, and where it leads is compared with the root.
pub fn climbs_out(root: &Path, dest: &Path) -> Option<PathBuf> {
    let mut at = PathBuf::new(); // relative to root, no `..` left
    let mut todo: Vec<PathBuf> = dest
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.components().next() {
            Some(Component::RootDir) | Some(Component::CurDir) | None => continue,
            Some(Component::ParentDir) => {
                if !at.pop() {
                    return Some(root.join(&at));
                }
                continue;
            }
            _ => {}
        }
        let next = at.join(&part);
        let host = root.join(&next);
        match std::fs::read_link(&host) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return Some(host);
                }
                if target.is_absolute() {
                    // Absolute: outside the root, unless it is read inside it (runc scopes
                    // it); glassbox refuses what would leave the root if read on the host.
                    if !target.starts_with(root) {
                        return Some(host);
                    }
                    at = PathBuf::new();
                    let inside = target.strip_prefix(root).unwrap_or(&target).to_path_buf();
                    todo.extend(
                        inside
                            .components()
                            .rev()
                            .map(|c| PathBuf::from(c.as_os_str())),
                    );
                } else {
                    for c in target.components().rev() {
                        todo.push(PathBuf::from(c.as_os_str()));
                    }
                    // Relative to the link's directory: `at` stays.
                    let mut depth = at.components().count() as i64;
                    for c in target.components() {
                        match c {
                            Component::ParentDir => depth -= 1,
                            Component::Normal(_) => depth += 1,
                            _ => {}
                        }
                        if depth < 0 {
                            return Some(host);
                        }
                    }
                }
            }
            Err(_) => at = next,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_through_a_link_out_of_the_root_is_found() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("out")).unwrap();
        std::os::unix::fs::symlink("../../..", r.join("etc/up")).unwrap();
        std::os::unix::fs::symlink("etc", r.join("in")).unwrap();
        assert_eq!(climbs_out(r, Path::new("/out/x")), Some(r.join("out")));
        assert_eq!(
            climbs_out(r, Path::new("/etc/up/x")),
            Some(r.join("etc/up"))
        );
        assert_eq!(climbs_out(r, Path::new("/in/x")), None);
        assert_eq!(climbs_out(r, Path::new("/etc/hosts")), None);
    }
}

//! The image's run configuration (what `docker inspect` shows under `Config`), kept beside
//! the root filesystem so that `run` can start the container as Docker would.
//!
//! Where: `DIR.config.json`, next to DIR (for `./rootfs`, `./rootfs.config.json`). Not inside
//! DIR, so the container never sees it and a rootfs stays exactly what the image holds.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts and Volumes, spelled as the
/// `config` object of a docker or OCI image config (the same bytes glassbox writes into the
/// blobs it makes).
/// Docker writes `null` for what is empty; that reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(
        rename = "User",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// "80/tcp" and the like, sorted; a map to `{}` in the JSON, as the image spec has it.
    #[serde(
        rename = "ExposedPorts",
        default,
        with = "port_map",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub exposed_ports: Vec<String>,
    /// "/data" and the like: where each container gets an anonymous volume (VOLUME).
    #[serde(
        rename = "Volumes",
        default,
        with = "port_map",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<String>,
    /// LABEL key=value pairs.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub labels: std::collections::BTreeMap<String, String>,
    /// STOPSIGNAL: the signal `stop` sends first.
    #[serde(
        rename = "StopSignal",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// SHELL: the shell form's shell for builds FROM this image (docker's `Config.Shell`).
    #[serde(
        rename = "Shell",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// ExposedPorts (and Volumes): `{"80/tcp": {}}` in the JSON, a sorted list of keys here. A
/// list is read too (the config files of glassbox's first version held one).
mod port_map {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(ports: &[String], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(ports.len()))?;
        for p in ports {
            m.serialize_entry(p, &BTreeMap::<String, ()>::new())?;
        }
        m.end()
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ports {
        Map(BTreeMap<String, serde_json::Value>),
        List(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let mut v = match Option::<Ports>::deserialize(d)? {
            Some(Ports::Map(m)) => m.into_keys().collect(),
            Some(Ports::List(l)) => l,
            None => Vec::new(),
        };
        v.sort();
        Ok(v)
    }
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(default)]
    config: Option<ImageConfig>,
    #[serde(default)]
    rootfs: Option<RawRootfs>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// What an image config blob says: the run config, the layers' diff_ids and the platform.
pub struct Parsed {
    pub config: ImageConfig,
    pub diff_ids: Vec<String>,
    pub platform: String,
}

/// Parse an image config blob (docker-save `<id>.json` or an OCI config).
pub fn parse(bytes: &[u8], what: &str) -> Result<Parsed> {
    let raw: RawImage = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            format!("the image config {what} is not valid JSON: {e}"),
            "the image is damaged; export or save it again",
        )
    })?;
    Ok(Parsed {
        config: raw.config.unwrap_or_default(),
        diff_ids: raw.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
        platform: format!(
            "{}/{}",
            raw.os.unwrap_or_else(|| "?".into()),
            raw.architecture.unwrap_or_else(|| "?".into())
        ),
    })
}

/// Where the config of the rootfs in `dir` is kept: `DIR.config.json` beside it.
pub fn config_path(dir: &Path) -> PathBuf {
    let dir = dir.components().as_path();
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "rootfs".into());
    name.push(".config.json");
    dir.with_file_name(name)
}

/// The config saved by `glassbox unpack` for the rootfs in `dir`; `None` when there is none
/// (a rootfs made by hand, or a plain tar that carries no config).
pub fn load_config(dir: &Path) -> Result<Option<ImageConfig>> {
    let path = config_path(dir);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::new(
                format!("the image config {} is not valid JSON: {e}", path.display()),
                "remove it, or export the image again",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(
            format!("cannot read the image config {}", path.display()),
            &e,
            "check its permissions",
        )),
    }
}

impl ImageConfig {
    /// As `docker inspect` would summarise it, one field a line.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| {
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        out += &format!("  Env:          [{}]\n", list(&self.env));
        out += &format!(
            "  Entrypoint:   {}\n",
            self.entrypoint
                .as_deref()
                .map(|v| format!("[{}]", list(v)))
                .unwrap_or("none".into())
        );
        out += &format!(
            "  Cmd:          {}\n",
            self.cmd
                .as_deref()
                .map(|v| format!("[{}]", list(v)))
                .unwrap_or("none".into())
        );
        out += &format!(
            "  WorkingDir:   {}\n",
            if self.working_dir.is_empty() {
                "/"
            } else {
                &self.working_dir
            }
        );
        out += &format!(
            "  User:         {}\n",
            if self.user.is_empty() {
                "root (default)"
            } else {
                &self.user
            }
        );
        out += &format!("  ExposedPorts: [{}]\n", self.exposed_ports.join(", "));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sits_beside_the_dir() {
        assert_eq!(
            config_path(Path::new("/x/rootfs")),
            PathBuf::from("/x/rootfs.config.json")
        );
        assert_eq!(
            config_path(Path::new("/x/rootfs/")),
            PathBuf::from("/x/rootfs.config.json")
        );
        assert_eq!(
            config_path(Path::new("rootfs")),
            PathBuf::from("rootfs.config.json")
        );
    }

    #[test]
    fn docker_nulls_and_port_maps_parse() {
        let p = parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":null,"Entrypoint":["/init"],"ExposedPorts":{"80/tcp":{}},"WorkingDir":"/srv"},"rootfs":{"type":"layers","diff_ids":["sha256:ab"]}}"#,
            "test",
        )
        .unwrap();
        assert_eq!(p.config.env, vec!["PATH=/bin"]);
        assert_eq!(p.config.cmd, None);
        assert_eq!(p.config.entrypoint, Some(vec!["/init".to_string()]));
        assert_eq!(p.config.exposed_ports, vec!["80/tcp"]);
        assert_eq!(p.config.working_dir, "/srv");
        assert_eq!(p.diff_ids, vec!["sha256:ab"]);
        assert_eq!(p.platform, "linux/amd64");
    }
}

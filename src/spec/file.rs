//! `config.json` on disk and on screen: the same text in both places, in a stable order.

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::collections::HashMap;
use std::path::Path;

/// The file a bundle's spec is in: a container directory's OCI runtime spec, which makes
/// it an OCI bundle.
pub const CONFIG: &str = "config.json";

/// The spec as pretty JSON. The crate keeps capability sets and annotations in hash sets
/// and maps; they are sorted here so two runs of the same plan print the same text.
pub fn to_json(spec: &Spec) -> String {
    let mut v = serde_json::to_value(spec).expect("a spec is serialisable");
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for set in caps.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by_key(|c| c.as_str().unwrap_or("").to_string());
            }
        }
    }
    // serde_json's maps are sorted by key (no preserve_order feature): annotations too.
    let mut text = serde_json::to_string_pretty(&v).expect("a value is serialisable");
    text.push('\n');
    text
}

/// Write `DIR/config.json` whole: the container directory becomes an OCI bundle.
pub fn write(dir: &Path, spec: &Spec) -> Result<()> {
    crate::store::write_whole(&dir.join(CONFIG), to_json(spec).as_bytes())
}

/// Read `DIR/config.json`.
pub fn read(dir: &Path) -> Result<Spec> {
    let (path, bytes) = read_bytes(dir)?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e))
}

/// Only the annotations of `DIR/config.json`: all stop and rm -f need of it (the stop
/// signal and timeout, the network), without building the whole spec from its ~11 KB.
pub fn read_annotations(dir: &Path) -> Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        annotations: Option<HashMap<String, String>>,
    }
    let (path, bytes) = read_bytes(dir)?;
    let only: Only = serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e))?;
    Ok(only.annotations.unwrap_or_default())
}

fn read_bytes(dir: &Path) -> Result<(std::path::PathBuf, Vec<u8>)> {
    let path = dir.join(CONFIG);
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) => Err(Error::io(
            format!("cannot read {}", path.display()),
            &e,
            "check that the container's directory is there (glassbox ps -a)",
        )),
    }
}

fn invalid(path: &Path, e: serde_json::Error) -> Error {
    Error::new(
        format!("{} is not a valid OCI runtime spec: {e}", path.display()),
        "remove the container (glassbox rm) and run it again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotations_alone_read_back_as_the_whole_spec_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = Spec::default();
        let mut a = HashMap::new();
        a.insert(
            "org.glassbox.stop-signal".to_string(),
            "SIGUSR1".to_string(),
        );
        spec.set_annotations(Some(a.clone()));
        write(dir.path(), &spec).unwrap();
        assert_eq!(read_annotations(dir.path()).unwrap(), a);
        spec.set_annotations(None);
        write(dir.path(), &spec).unwrap();
        assert!(read_annotations(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_broken_config_json_is_refused_with_the_same_words_either_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG), "{ not json").unwrap();
        let whole = read(dir.path()).unwrap_err().to_string();
        let annotations = read_annotations(dir.path()).unwrap_err().to_string();
        assert!(
            annotations.contains("is not a valid OCI runtime spec"),
            "{annotations}"
        );
        assert_eq!(whole, annotations);
    }
}

//! Image sources spelled as skopeo spells them: `oci:DIR[:TAG]` (an OCI image layout, and
//! which of its images) and `docker-archive:FILE[:NAME[:TAG]|:@N]` (a docker save archive,
//! and which of its images). What follows the path picks one image of several; without it,
//! an archive of one image gives that one, and one of several is refused with the names to
//! choose from (never the first taken silently).

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Every image (load), or the only one (run).
    Any,
    /// An OCI layout's `org.opencontainers.image.ref.name`, or a docker save `RepoTags` entry.
    Name(String),
    /// docker-archive's `@N`: the Nth image of manifest.json, from 0.
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub path: PathBuf,
    pub pick: Pick,
}

/// `oci:…` or `docker-archive:…`; None for anything else (a path, a name).
pub fn parse(s: &str) -> Option<Transport> {
    let (rest, oci) = if let Some(r) = s.strip_prefix("oci:") {
        (r, true)
    } else if let Some(r) = s.strip_prefix("docker-archive:") {
        (r, false)
    } else {
        return None;
    };
    // As skopeo: the path ends at the first colon.
    let (path, what) = match rest.split_once(':') {
        Some((p, w)) => (p, Some(w)),
        None => (rest, None),
    };
    let pick = match what {
        None | Some("") => Pick::Any,
        Some(w) if !oci && w.starts_with('@') => match w[1..].parse() {
            Ok(n) => Pick::Index(n),
            Err(_) => Pick::Name(w.to_string()),
        },
        // docker-archive names are whole references: a bare name means its :latest.
        Some(w) if !oci && !w.rsplit('/').next().unwrap_or(w).contains(':') => {
            Pick::Name(format!("{w}:latest"))
        }
        Some(w) => Pick::Name(w.to_string()),
    };
    Some(Transport {
        path: PathBuf::from(path),
        pick,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skopeo_spellings() {
        let t = |s: &str| parse(s).unwrap();
        assert_eq!(t("oci:/l:v2").path, PathBuf::from("/l"));
        assert_eq!(t("oci:/l:v2").pick, Pick::Name("v2".into()));
        assert_eq!(t("oci:/l").pick, Pick::Any);
        assert_eq!(t("docker-archive:a.tar").pick, Pick::Any);
        assert_eq!(
            t("docker-archive:a.tar:web:v1").pick,
            Pick::Name("web:v1".into())
        );
        assert_eq!(
            t("docker-archive:a.tar:web").pick,
            Pick::Name("web:latest".into())
        );
        assert_eq!(t("docker-archive:a.tar:@1").pick, Pick::Index(1));
        assert_eq!(parse("alpine:3"), None);
        assert_eq!(parse("./oci"), None);
    }
}

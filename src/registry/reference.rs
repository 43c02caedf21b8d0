//! Image references as docker reads them, registry included:
//!
//! ```text
//! alpine                       → docker.io/library/alpine:latest
//! team/web:v1                  → docker.io/team/web:v1
//! 127.0.0.1:5000/x:1           → the registry 127.0.0.1:5000, repository x, tag 1
//! alpine@sha256:…              → a manifest by its digest (no tag)
//! ```
//!
//! The first part is a registry when it has a `.` or a `:`, or is `localhost` (docker's
//! rule); otherwise the image is on Docker Hub, whose one-part names live under `library/`.

use crate::error::{Error, Result};
use crate::store::reference as names;

/// Docker Hub as references name it, and where its API answers.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The registry as written (`docker.io`, `127.0.0.1:5000`).
    pub domain: String,
    /// The repository on it (`library/alpine`).
    pub repository: String,
    /// The tag, when no digest was given (`latest` by default).
    pub tag: Option<String>,
    /// `sha256:…`, when the manifest was named by digest.
    pub digest: Option<String>,
}

impl Remote {
    /// The host (and port) the API is reached at.
    pub fn host(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.domain
        }
    }

    /// The tag or digest the manifest is asked for by.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The name as docker shows it: Docker Hub's without `docker.io/` and `library/`.
    pub fn familiar(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.repository)
        }
    }

    /// The name the image gets in the store (`alpine:latest`, `127.0.0.1:5000/x:1`); none
    /// for a pull by digest.
    pub fn local_name(&self) -> Option<names::Reference> {
        let tag = self.tag.as_ref()?;
        names::parse(&format!("{}:{tag}", self.familiar())).ok()
    }

    /// Whether the registry is on this machine (plain HTTP is allowed there, as docker does).
    pub fn is_loopback(&self) -> bool {
        let host = match self.domain.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.domain,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)?;
        match (&self.tag, &self.digest) {
            (_, Some(d)) => write!(f, "@{d}"),
            (Some(t), None) => write!(f, ":{t}"),
            (None, None) => Ok(()),
        }
    }
}

fn invalid(r: &str, why: &str) -> Error {
    Error::usage(
        format!("\"{}\" is not a valid image reference: {why}", r.escape_default()),
        "name an image as docker does: NAME[:TAG] or NAME@sha256:DIGEST, with an optional registry first (alpine, 127.0.0.1:5000/team/web:v1)",
    )
}

/// Whether the first part of a name is a registry (docker's rule).
fn is_domain(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Parse `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
pub fn parse(r: &str) -> Result<Remote> {
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => {
            crate::store::blobs::hex_of(d)
                .map_err(|_| invalid(r, "a digest is sha256: and 64 lowercase hex digits"))?;
            (n, Some(d.to_string()))
        }
        None => (r, None),
    };
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest)) if is_domain(first) => (first.to_string(), rest),
        _ => (DOCKER_HUB.to_string(), name),
    };
    if !domain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err(invalid(
            r,
            "the registry is a host name or address, with an optional :PORT",
        ));
    }
    // The tag and repository are checked by the store's own name rules.
    let checked =
        names::parse(rest).map_err(|e| invalid(r, e.what.rsplit(": ").next().unwrap_or("")))?;
    let explicit_tag = rest.rsplit_once(':').is_some();
    let mut repository = checked.repository;
    if domain == DOCKER_HUB && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    let tag = match (&digest, explicit_tag) {
        (Some(_), false) => None,
        _ => Some(checked.tag),
    };
    Ok(Remote {
        domain,
        repository,
        tag,
        digest,
    })
}

/// Whether the name starts with a registry (`127.0.0.1:5000/x`, `docker.io/alpine`).
pub fn names_registry(r: &str) -> bool {
    r.split_once('/').is_some_and(|(first, _)| is_domain(first))
}

/// Whether `r` names a registry image rather than a file or directory: it parses as a
/// reference and no such path exists.
pub fn looks_remote(r: &str) -> bool {
    !std::path::Path::new(r).exists() && parse(r).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_reference_rules() {
        let a = parse("alpine").unwrap();
        assert_eq!(a.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(a.host(), "registry-1.docker.io");
        assert_eq!(a.local_name().unwrap().to_string(), "alpine:latest");
        let t = parse("team/web:v1").unwrap();
        assert_eq!(t.to_string(), "docker.io/team/web:v1");
        let l = parse("127.0.0.1:5000/x:1").unwrap();
        assert_eq!(
            (l.domain.as_str(), l.repository.as_str()),
            ("127.0.0.1:5000", "x")
        );
        assert_eq!(l.local_name().unwrap().to_string(), "127.0.0.1:5000/x:1");
        assert!(l.is_loopback());
        let h = parse("localhost:5000/a/b").unwrap();
        assert_eq!(h.reference(), "latest");
        assert!(h.is_loopback());
        assert!(!parse("quay.io/x/y").unwrap().is_loopback());
        let d = format!("sha256:{}", "a".repeat(64));
        let p = parse(&format!("127.0.0.1:5000/x@{d}")).unwrap();
        assert_eq!((p.tag.clone(), p.reference()), (None, d.as_str()));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in ["x@sha256:../../x", "UPPER", "a//b", "x:", "ho$t:1/x", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

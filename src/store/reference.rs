//! Image names as docker spells them: `REPOSITORY[:TAG]`, checked by docker's own rules
//! before a name is used for anything. A name is never part of a path in the store (images
//! are kept by id), but a name that docker would refuse is refused here too, so that what a
//! learner types transfers to docker.
//!
//! - a repository is one or more components joined by `/`; each component is lowercase
//!   letters and digits, with single `.` or `_`, a double `__`, or runs of `-` between them
//!   (so no `..`, no leading or trailing separator, no empty component, no leading `/`);
//!   at most 255 characters in all;
//! - the first component may be a registry (`127.0.0.1:5000/x`, `quay.io/x`): a host name
//!   or address with an optional port, as docker reads it (one with a `.` or `:`, or
//!   `localhost`), so a pulled image keeps the name it was pulled by;
//! - a tag is 1 to 128 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`; `latest` when
//!   none is given.

use crate::error::{Error, Result};

/// A checked `repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub repository: String,
    pub tag: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

fn invalid(r: &str, why: &str) -> Error {
    let shown: String = r.escape_default().collect();
    Error::usage(
        format!("\"{shown}\" is not a valid image name: {why}"),
        "name images as docker does, REPOSITORY[:TAG]: lowercase letters, digits and single . _ - between them, / between parts (myimage, team/web:v1.2)",
    )
    .with_code(1)
}

/// One path component of a repository: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or any number of `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry as the first component: `host[:port]`, where the host has a `.` or is
/// `localhost`, or a port is given (docker's rule).
fn is_registry(c: &str) -> bool {
    let (host, port) = match c.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (c, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    port_ok && host_ok && (host.contains('.') || host == "localhost" || port.is_some())
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// Parse and check `REPOSITORY[:TAG]`.
pub fn parse(r: &str) -> Result<Reference> {
    if r.contains('@') {
        return Err(invalid(
            r,
            "glassbox keeps no registry digests (NAME@sha256:…); give NAME[:TAG] or an image id",
        ));
    }
    // The tag is after the last `:`, unless a `/` follows it (docker's registry:port/name).
    let (repo, tag) = match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (r, None),
    };
    if repo.is_empty() {
        return Err(invalid(r, "the repository name is empty"));
    }
    if repo.len() > 255 {
        return Err(invalid(
            r,
            "the repository name is longer than 255 characters",
        ));
    }
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(invalid(r, "the repository name must be lowercase"));
    }
    if repo.starts_with('/') || repo.ends_with('/') || repo.contains("//") {
        return Err(invalid(
            r,
            "a repository name has no leading, trailing or doubled /",
        ));
    }
    let path = match repo.split_once('/') {
        Some((first, rest)) if is_registry(first) => rest,
        _ => repo,
    };
    if !path.split('/').all(component_ok) {
        return Err(invalid(
            r,
            "each part of the repository name must be lowercase letters and digits, with single . _ or - between them",
        ));
    }
    let tag = match tag {
        Some(t) if !tag_ok(t) => {
            return Err(invalid(
                r,
                "a tag is 1 to 128 letters, digits, _ . or -, and does not start with . or -",
            ))
        }
        Some(t) => t.to_string(),
        None => "latest".to_string(),
    };
    Ok(Reference {
        repository: repo.to_string(),
        tag,
    })
}

/// A full or partial image id: hex digits, with or without `sha256:`.
pub fn id_prefix(r: &str) -> Option<&str> {
    let h = r.strip_prefix("sha256:").unwrap_or(r);
    (!h.is_empty() && h.len() <= 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(h)
}

/// A name for an image exported from a file: the file's name, lowercased, if docker would
/// take it as a repository name (`alpine.tar` → `alpine.tar:latest`); `busybox` as it is.
pub fn from_source(source: &str) -> Option<Reference> {
    let base = std::path::Path::new(source)
        .file_name()?
        .to_str()?
        .to_ascii_lowercase();
    parse(&base).ok().filter(|r| r.tag == "latest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_parse() {
        assert_eq!(parse("busybox").unwrap().to_string(), "busybox:latest");
        assert_eq!(parse("myimg:v1").unwrap().to_string(), "myimg:v1");
        assert_eq!(
            parse("team/web-app_2:V1.2-rc").unwrap().to_string(),
            "team/web-app_2:V1.2-rc"
        );
        assert_eq!(parse("a__b/c---d").unwrap().tag, "latest");
        assert_eq!(parse("alpine.tar").unwrap().repository, "alpine.tar");
        // A registry first, as a pulled image is named.
        assert_eq!(
            parse("127.0.0.1:5000/x:1").unwrap().to_string(),
            "127.0.0.1:5000/x:1"
        );
        assert_eq!(
            parse("localhost:5000/a/b").unwrap().to_string(),
            "localhost:5000/a/b:latest"
        );
        assert_eq!(parse("quay.io/x/y").unwrap().repository, "quay.io/x/y");
    }

    #[test]
    fn hostile_and_malformed_names_are_refused() {
        for bad in [
            "../x",
            "/x",
            "x/",
            "a//b",
            "a/../b",
            "..",
            "Bad:Tag!",
            "UPPER",
            "x:",
            ":tag",
            "x:.hidden",
            "x:-dash",
            "a..b",
            "a.-b",
            "-a",
            "a_",
            "x\n",
            "x y",
            "x@sha256:00",
            "localhost:/x",
            "../x:1/y",
            "host:port/x",
            "",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.what.contains("is not a valid image name"), "{bad:?}");
            assert_eq!(e.code, 1);
        }
        assert!(parse(&format!("x:{}", "t".repeat(129))).is_err());
        assert!(parse(&format!("x:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn ids_and_file_names() {
        assert_eq!(id_prefix("sha256:ab12"), Some("ab12"));
        assert_eq!(id_prefix("AB12"), None);
        assert_eq!(id_prefix("../x"), None);
        assert_eq!(
            from_source("/tmp/x/Alpine.tar").unwrap().to_string(),
            "alpine.tar:latest"
        );
        assert_eq!(
            from_source("busybox").unwrap().to_string(),
            "busybox:latest"
        );
        assert_eq!(from_source("/tmp/weird name.tar"), None);
    }
}

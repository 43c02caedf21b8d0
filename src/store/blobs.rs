//! The content store: blobs (manifests, configs, compressed layers) kept by their digest, as
//! containerd's content store and an OCI layout keep them.
//!
//! ```text
//! DATA/blobs/sha256/HEX       a blob whose sha256 is HEX, checked before it got this name
//! DATA/blobs/sha256/.tmp-…    a blob being written (a temporary name: never used as a blob)
//! ```
//!
//! A blob is written to a temporary file while it is hashed, and renamed to its digest only
//! when every byte is there and the hash matches: a truncated or altered blob is refused and
//! removed, so whatever has a digest's name is that digest's content. A pull killed half-way
//! leaves only finished blobs (reused by the next pull) and temporary files (removed then).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::PathBuf;

/// Where blobs live.
pub fn dir() -> PathBuf {
    super::data_dir().join("blobs").join("sha256")
}

/// The hex of a `sha256:HEX` digest, checked: 64 lowercase hex digits and nothing else, so a
/// digest from a registry (`sha256:../../x`) can never name a path outside the store.
pub fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(h)
        }
        _ => Err(Error::new(
            format!(
                "refusing the digest {:?}: a digest is sha256: and 64 lowercase hex digits",
                digest.escape_default().to_string()
            ),
            "the registry or the image is damaged or hostile; nothing was written",
        )),
    }
}

/// The path of a blob, when the store has it.
pub fn path(digest: &str) -> Result<Option<PathBuf>> {
    let p = dir().join(hex_of(digest)?);
    Ok(p.is_file().then_some(p))
}

/// A blob's bytes (small ones: manifests, configs).
pub fn read(digest: &str) -> Result<Option<Vec<u8>>> {
    match path(digest)? {
        Some(p) => std::fs::read(&p).map(Some).map_err(|e| {
            Error::io(
                format!("cannot read the blob {}", p.display()),
                &e,
                "check the data directory",
            )
        }),
        None => Ok(None),
    }
}

/// Removes a temporary blob unless it was put in place.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Write the blob `digest` of `size` bytes from `from` (at most `size + 1` bytes are read),
/// checking its length and sha256 before it gets its name. `what` names it in errors
/// ("the layer sha256:ab12…"). Returns its path.
pub fn write(digest: &str, size: u64, from: &mut dyn Read, what: &str) -> Result<PathBuf> {
    let hex = hex_of(digest)?;
    let dir = dir();
    super::images::make_dirs(&dir)?;
    let final_path = dir.join(hex);
    let tmp = dir.join(format!(".tmp-{hex}-{}", std::process::id()));
    let werr = |e: std::io::Error| {
        Error::io(
            format!("cannot write {what} into {}", dir.display()),
            &e,
            "check that the data directory is writable and has room (df -h)",
        )
    };
    let mut guard = Temp(Some(tmp.clone()));
    let mut f = std::fs::File::create(&tmp).map_err(werr)?;
    let mut hash = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut limited = from.take(size + 1);
    loop {
        let k = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::io(
                    format!("cannot download {what}: the connection failed after {n} bytes"),
                    &e,
                    "pull again: the blobs already finished are kept",
                ))
            }
        };
        hash.update(&buf[..k]);
        f.write_all(&buf[..k]).map_err(werr)?;
        n += k as u64;
        crate::stages::export::check_interrupted()?;
    }
    if n != size {
        return Err(Error::new(
            format!("{what} is {n} bytes where its manifest says {size}: refused"),
            if n < size {
                "the download was cut short (truncated); pull again"
            } else {
                "the registry sent more than the manifest names; it is damaged or hostile"
            },
        ));
    }
    let got = format!(
        "sha256:{}",
        crate::stages::export::stream::hex(&hash.finalize())
    );
    if got != digest {
        return Err(crate::stages::export::stream::mismatch(what, digest, &got));
    }
    f.sync_all().map_err(werr)?;
    std::fs::rename(&tmp, &final_path).map_err(werr)?;
    guard.0 = None;
    Ok(final_path)
}

/// Remove temporary blobs that no process is writing any more (a pull killed half-way).
pub fn remove_stale_temps() {
    for e in std::fs::read_dir(dir()).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(".tmp-")
            .and_then(|r| r.rsplit_once('-'))
            .and_then(|(_, p)| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Remove a blob (rmi, when no image names it any more).
pub fn remove(digest: &str) -> Result<bool> {
    match path(digest)? {
        Some(p) => std::fs::remove_file(&p).map(|()| true).map_err(|e| {
            Error::io(
                format!("cannot remove the blob {}", p.display()),
                &e,
                "remove it by hand",
            )
        }),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_hex_digests_name_blobs() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert!(hex_of(&ok).is_ok());
        for bad in [
            "sha256:../../x",
            "sha256:",
            "sha512:aa",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}/", "a".repeat(63)),
        ] {
            assert!(hex_of(bad).is_err(), "{bad}");
        }
    }
}

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
use std::os::unix::fs::OpenOptionsExt;
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

/// A blob being written: its bytes go to a temporary file and into its sha256 as they
/// come (a layer is unpacked from the same bytes meanwhile), and it gets its digest's name
/// in [`Writer::commit`] only when its length and hash match.
pub struct Writer {
    digest: String,
    size: u64,
    what: String,
    dir: PathBuf,
    tmp: Temp,
    file: std::fs::File,
    hash: Sha256,
    n: u64,
}

impl Writer {
    /// Start the blob `digest` of `size` bytes; `what` names it in errors ("the layer
    /// sha256:ab12…").
    pub fn new(digest: &str, size: u64, what: &str) -> Result<Writer> {
        let hex = hex_of(digest)?;
        let dir = dir();
        super::make_dirs(&dir)?;
        let tmp = dir.join(format!(".tmp-{hex}-{}", std::process::id()));
        // Its own mode, not the umask's: layers may be unpacked meanwhile under umask 0.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| write_error(what, &dir, &e))?;
        Ok(Writer {
            digest: digest.to_string(),
            size,
            what: what.to_string(),
            dir,
            tmp: Temp(Some(tmp)),
            file,
            hash: Sha256::new(),
            n: 0,
        })
    }

    /// The next bytes: refused as soon as they pass the size the manifest names.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.n += bytes.len() as u64;
        if self.n > self.size {
            return Err(self.wrong_size());
        }
        self.hash.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| write_error(&self.what, &self.dir, &e))
    }

    fn wrong_size(&self) -> Error {
        let (n, size) = (self.n, self.size);
        Error::new(
            format!(
                "{} is {n} bytes where its manifest says {size}: refused",
                self.what
            ),
            if n < size {
                "the download was cut short (truncated); pull again"
            } else {
                "the registry sent more than the manifest names; it is damaged or hostile"
            },
        )
    }

    /// Check the length and the sha256, then give the blob its name. Returns its path.
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.n != self.size {
            return Err(self.wrong_size());
        }
        let got = format!(
            "sha256:{}",
            crate::stages::export::stream::hex(&self.hash.clone().finalize())
        );
        if got != self.digest {
            return Err(crate::stages::export::stream::mismatch(
                &self.what,
                &self.digest,
                &got,
            ));
        }
        let werr = |e: std::io::Error| write_error(&self.what, &self.dir, &e);
        self.file.sync_all().map_err(werr)?;
        let tmp = self.tmp.0.take().expect("a temporary blob");
        let final_path = self.dir.join(hex_of(&self.digest)?);
        if let Err(e) = std::fs::rename(&tmp, &final_path) {
            self.tmp.0 = Some(tmp);
            return Err(werr(e));
        }
        Ok(final_path)
    }
}

fn write_error(what: &str, dir: &std::path::Path, e: &std::io::Error) -> Error {
    Error::io(
        format!("cannot write {what} into {}", dir.display()),
        e,
        "check that the data directory is writable and has room (df -h)",
    )
}

/// Write the blob `digest` of `size` bytes from `from` (at most `size + 1` bytes are read),
/// checking its length and sha256 before it gets its name. `what` names it in errors
/// ("the layer sha256:ab12…"). Returns its path.
pub fn write(digest: &str, size: u64, from: &mut dyn Read, what: &str) -> Result<PathBuf> {
    let mut w = Writer::new(digest, size, what)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut limited = from.take(size + 1);
    loop {
        let k = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cut(what, w.n, &e)),
        };
        w.push(&buf[..k])?;
        crate::stages::export::check_interrupted()?;
    }
    w.commit()
}

/// A download that failed after `n` bytes.
pub fn cut(what: &str, n: u64, e: &std::io::Error) -> Error {
    Error::io(
        format!("cannot download {what}: the connection failed after {n} bytes"),
        e,
        "pull again: the blobs already finished are kept",
    )
}

/// A blob streamed to its temporary file by whoever reads through it (the layer's unpacker),
/// and finished by [`Tee::commit`], which first reads what the reader left (the end of the
/// body, or all of it after an unpacking error) so the digest is checked over every byte.
#[derive(Clone)]
pub struct Tee(std::sync::Arc<std::sync::Mutex<TeeState>>);

struct TeeState {
    body: Box<dyn Read + Send>,
    blob: Writer,
    eof: bool,
    failed: Option<Error>,
}

impl Tee {
    /// `body` is read at most to `size + 1` bytes.
    pub fn new(body: Box<dyn Read + Send>, digest: &str, size: u64, what: &str) -> Result<Tee> {
        Ok(Tee(std::sync::Arc::new(std::sync::Mutex::new(TeeState {
            body: Box::new(body.take(size + 1)),
            blob: Writer::new(digest, size, what)?,
            eof: false,
            failed: None,
        }))))
    }

    /// Read the rest of the body, then check and name the blob.
    pub fn commit(self) -> Result<PathBuf> {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match (&self).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => crate::stages::export::check_interrupted()?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
                    return Err(s
                        .failed
                        .take()
                        .unwrap_or_else(|| cut(&s.blob.what, s.blob.n, &e)));
                }
            }
        }
        let state = match std::sync::Arc::try_unwrap(self.0) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(_) => {
                return Err(Error::new(
                    "a layer's download is still being read",
                    "pull again",
                ))
            }
        };
        state.blob.commit()
    }
}

impl Read for &Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &s.failed {
            return Err(std::io::Error::other(e.to_string()));
        }
        if s.eof {
            return Ok(0);
        }
        let k = match s.body.read(buf) {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                // Kept: what the connection said is the error to report, not what follows.
                s.failed = Some(cut(&s.blob.what, s.blob.n, &e));
                return Err(e);
            }
        };
        if k == 0 {
            s.eof = true;
        } else if let Err(e) = s.blob.push(&buf[..k]) {
            let text = e.to_string();
            s.failed = Some(e);
            return Err(std::io::Error::other(text));
        }
        Ok(k)
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self).read(buf)
    }
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

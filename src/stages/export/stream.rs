//! Layer streams: decompression (gzip, zstd or none, told by the first bytes) on a thread of
//! its own, so that inflating and writing files use both cores as `tar xzf` does with its
//! gzip child; and the sha256 of what was read, checked against the digest at the end.
//! Each byte is hashed at most once, and only for a digest the caller will check: an
//! uncompressed layer's blob digest and diff id are one hash of the same bytes.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// How a stream is compressed, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip-compressed tar",
            Compression::Zstd => "zstd-compressed tar",
        }
    }
}

/// Which digests the caller will check; the others are not computed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// The sha256 of the bytes as stored (a layer's blob digest).
    pub blob: bool,
    /// The sha256 of the uncompressed tar (a layer's diff id).
    pub tar: bool,
}

/// A running sha256, shared with the thread that feeds it; `None`: not wanted. Counts the
/// bytes it hashed, so a test can see that no byte is hashed twice.
#[derive(Clone, Default)]
struct Hash(Option<Arc<Mutex<(Sha256, u64)>>>);

impl Hash {
    fn new(wanted: bool) -> Hash {
        Hash(wanted.then(|| Arc::new(Mutex::new((Sha256::new(), 0)))))
    }
    fn update(&self, bytes: &[u8]) {
        if let Some(h) = &self.0 {
            let mut h = h.lock().unwrap();
            h.0.update(bytes);
            h.1 += bytes.len() as u64;
        }
    }
    #[cfg(test)]
    fn hashed(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.lock().unwrap().1)
    }
    fn digest(&self) -> Option<String> {
        let h = self.0.as_ref()?;
        Some(format!(
            "sha256:{}",
            hex(&h.lock().unwrap().0.clone().finalize())
        ))
    }
}

/// Hashes (and counts, for the progress bar) every byte read through it.
struct Hashing<R> {
    inner: R,
    hash: Hash,
    progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// A tar stream being decompressed on another thread.
pub struct LayerStream {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    /// Chunks read, handed back to be filled again (no fresh 256 KiB allocation a chunk).
    back: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    raw_hash: Hash,
    tar_hash: Hash,
    thread: Option<std::thread::JoinHandle<()>>,
    pub compression: Compression,
}

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl LayerStream {
    pub fn new(
        raw: Box<dyn Read + Send>,
        progress: Option<indicatif::ProgressBar>,
        want: Want,
    ) -> std::io::Result<LayerStream> {
        // Sniff before hashing: how the stream is compressed decides which hashes to make.
        let mut buffered = BufReader::with_capacity(
            256 * 1024,
            Hashing {
                inner: raw,
                hash: Hash::default(),
                progress,
            },
        );
        let head = buffered.fill_buf()?.to_vec();
        let compression = Compression::sniff(&head);
        let (raw_hash, tar_hash) = if compression == Compression::None {
            // The same bytes: one hash serves as both digests.
            let h = Hash::new(want.blob || want.tar);
            (h.clone(), h)
        } else {
            (Hash::new(want.blob), Hash::new(want.tar))
        };
        // What the BufReader already holds was read before the hash was set: hash it now.
        raw_hash.update(&head);
        buffered.get_mut().hash = raw_hash.clone();
        let same = compression == Compression::None;
        let (tx, rx) = sync_channel::<std::io::Result<Vec<u8>>>(8);
        let (back, used) = channel::<Vec<u8>>();
        let th = tar_hash.clone();
        let thread = std::thread::spawn(move || {
            let mut dec: Box<dyn Read> = match compression {
                Compression::None => Box::new(buffered),
                Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
                Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(buffered) {
                    Ok(d) => Box::new(d),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                },
            };
            loop {
                let mut buf = used.try_recv().unwrap_or_default();
                buf.resize(256 * 1024, 0);
                let mut filled = 0;
                // Fill whole chunks: fewer hand-overs between the threads.
                while filled < buf.len() {
                    match dec.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if filled == 0 {
                    return;
                }
                buf.truncate(filled);
                if !same {
                    th.update(&buf);
                }
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
        });
        Ok(LayerStream {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            done: false,
            raw_hash,
            tar_hash,
            thread: Some(thread),
            compression,
        })
    }

    /// Read the stream to its end (the tar reader stops at the end-of-archive blocks) and
    /// return the sha256 of the raw bytes and of the decompressed tar, those that were wanted.
    pub fn finish(mut self, what: &str) -> Result<(Option<String>, Option<String>)> {
        std::io::copy(&mut self, &mut std::io::sink())
            .map_err(|e| super::extract::read_error(what, &e))?;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Ok((self.raw_hash.digest(), self.tar_hash.digest()))
    }

    /// How many bytes were hashed, over both hashes (a byte hashed twice counts twice).
    #[cfg(test)]
    fn hashed(&self) -> u64 {
        let raw = self.raw_hash.hashed();
        let same =
            matches!((&self.raw_hash.0, &self.tar_hash.0), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
        if same {
            raw
        } else {
            raw + self.tar_hash.hashed()
        }
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The chunks as they come from the decompressing thread: the extractor writes files
/// straight from them.
impl BufRead for LayerStream {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(&[]);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let _ = self.back.send(std::mem::replace(&mut self.cur, chunk));
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(&[]);
                }
            }
        }
        Ok(&self.cur[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

impl Drop for LayerStream {
    fn drop(&mut self) {
        // Unblock the thread (it stops when its receiver is gone) and wait for it.
        let (_tx, rx) = sync_channel(1);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A digest mismatch, in one sentence.
pub fn mismatch(what: &str, expected: &str, got: &str) -> Error {
    Error::new(
        format!(
            "{what} does not match its digest: the image says {expected}, its bytes hash to {got}"
        ),
        "the image is damaged or was changed after it was made; save or download it again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stream(bytes: Vec<u8>, want: Want) -> (LayerStream, u64) {
        let mut s = LayerStream::new(Box::new(std::io::Cursor::new(bytes)), None, want).unwrap();
        std::io::copy(&mut s, &mut std::io::sink()).unwrap();
        let hashed = s.hashed();
        (s, hashed)
    }

    fn sha(b: &[u8]) -> Option<String> {
        Some(format!("sha256:{}", hex(&Sha256::digest(b))))
    }

    #[test]
    fn an_uncompressed_layer_is_hashed_once_for_both_digests() {
        let tar = vec![7u8; 600 * 1024];
        let both = Want {
            blob: true,
            tar: true,
        };
        let (s, hashed) = stream(tar.clone(), both);
        assert_eq!(hashed, tar.len() as u64, "each byte hashed once");
        assert_eq!(s.finish("t").unwrap(), (sha(&tar), sha(&tar)));
    }

    #[test]
    fn nothing_is_hashed_when_no_digest_is_checked() {
        let (s, hashed) = stream(vec![1u8; 300 * 1024], Want::default());
        assert_eq!(hashed, 0);
        assert_eq!(s.finish("t").unwrap(), (None, None));
    }

    #[test]
    fn a_gzip_layer_hashes_what_is_stored_and_what_it_inflates_to() {
        let tar = vec![3u8; 400 * 1024];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let (s, hashed) = stream(
            gz.clone(),
            Want {
                blob: true,
                tar: true,
            },
        );
        assert_eq!(hashed, (gz.len() + tar.len()) as u64);
        assert_eq!(s.finish("t").unwrap(), (sha(&gz), sha(&tar)));
        let (s, _) = stream(
            gz.clone(),
            Want {
                blob: false,
                tar: true,
            },
        );
        assert_eq!(s.finish("t").unwrap(), (None, sha(&tar)));
    }
}

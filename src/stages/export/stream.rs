//! Layer streams: decompression (gzip, zstd or none, told by the first bytes) on a thread of
//! its own, so that inflating and writing files use both cores as `tar xzf` does with its
//! gzip child; and the sha256 of what was read, checked against the digest at the end.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver};
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

/// Hashes (and counts, for the progress bar) every byte read through it.
struct Hashing<R> {
    inner: R,
    hash: Arc<Mutex<Sha256>>,
    progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.lock().unwrap().update(&buf[..n]);
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// Counts what is read, for the progress bar.
pub struct Counting<R> {
    pub inner: R,
    pub progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// A tar stream being decompressed on another thread.
pub struct LayerStream {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    raw_hash: Arc<Mutex<Sha256>>,
    tar_hash: Arc<Mutex<Sha256>>,
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
    ) -> std::io::Result<LayerStream> {
        let raw_hash = Arc::new(Mutex::new(Sha256::new()));
        let tar_hash = Arc::new(Mutex::new(Sha256::new()));
        let mut buffered = BufReader::with_capacity(
            256 * 1024,
            Hashing {
                inner: raw,
                hash: raw_hash.clone(),
                progress,
            },
        );
        let compression = Compression::sniff(buffered.fill_buf()?);
        let (tx, rx) = sync_channel::<std::io::Result<Vec<u8>>>(8);
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
                let mut buf = vec![0u8; 256 * 1024];
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
                th.lock().unwrap().update(&buf);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
        });
        Ok(LayerStream {
            rx,
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
    /// return the sha256 of the raw bytes and of the decompressed tar.
    pub fn finish(mut self, what: &str) -> Result<(String, String)> {
        std::io::copy(&mut self, &mut std::io::sink())
            .map_err(|e| super::extract::read_error(what, &e))?;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let raw = hex(&self.raw_hash.lock().unwrap().clone().finalize());
        let tar = hex(&self.tar_hash.lock().unwrap().clone().finalize());
        Ok((format!("sha256:{raw}"), format!("sha256:{tar}")))
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
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

//! A tar stream shared by the tar parser and the extractor, so that a file's bytes are
//! written straight from the read buffer they arrived in (the parser's reader would copy
//! them into another buffer first), and what the parser skips — the data it was not asked
//! for, each entry's padding — is stepped over in that buffer. The tar crate's own skip,
//! without Seek, zeroes a 32 KiB array for every entry and copies the padding into it.
//!
//! The parser reads headers through [`Shared`] (Read + Seek); the extractor takes an entry's
//! data through [`Shared::direct`]. The parser does not see those bytes go: it seeks over
//! them afterwards, and the seek only moves on from where the extractor stopped.

use std::cell::{RefCell, RefMut};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::rc::Rc;

struct Inner<R> {
    r: R,
    /// Bytes taken from `r` so far.
    pos: u64,
    /// Where the parser believes it is (it has not seen what `direct` took).
    parser: u64,
}

/// One handle for the parser; [`Shared::direct`] for the extractor.
pub struct Shared<R>(Rc<RefCell<Inner<R>>>);

impl<R> Clone for Shared<R> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<R: BufRead> Shared<R> {
    pub fn new(r: R) -> Self {
        Shared(Rc::new(RefCell::new(Inner {
            r,
            pos: 0,
            parser: 0,
        })))
    }

    /// The stream as a BufRead, for the current entry's data; the parser must not read
    /// while it is held.
    pub fn direct(&self) -> Direct<'_, R> {
        Direct(self.0.borrow_mut())
    }
}

impl<R: BufRead> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut i = self.0.borrow_mut();
        if i.pos != i.parser {
            // Only after data the parser would also have read: it seeks over it first.
            return Err(std::io::Error::other(
                "tar parser read from the middle of an entry",
            ));
        }
        let n = i.r.read(buf)?;
        i.pos += n as u64;
        i.parser = i.pos;
        Ok(n)
    }
}

impl<R: BufRead> Seek for Shared<R> {
    /// Only forward from where the parser is (how the tar crate skips); bytes the extractor
    /// already took count as skipped.
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let mut i = self.0.borrow_mut();
        let target = match to {
            SeekFrom::Current(d) if d >= 0 => i.parser + d as u64,
            _ => {
                return Err(std::io::Error::other(
                    "a tar stream can only be skipped forward",
                ))
            }
        };
        if target < i.pos {
            return Err(std::io::Error::other(
                "the extractor read past the entry the tar parser is at",
            ));
        }
        let mut left = target - i.pos;
        while left > 0 {
            let n = (i.r.fill_buf()?.len() as u64).min(left);
            if n == 0 {
                // As the tar crate says it when it skips by reading.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "unexpected EOF during skip",
                ));
            }
            i.r.consume(n as usize);
            left -= n;
        }
        i.pos = target;
        i.parser = target;
        Ok(target)
    }
}

/// The stream borrowed by the extractor: what it consumes the parser later seeks over.
pub struct Direct<'a, R>(RefMut<'a, Inner<R>>);

impl<R: BufRead> Read for Direct<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.r.read(buf)?;
        self.0.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Direct<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.0.r.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.0.r.consume(n);
        self.0.pos += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_extractor_takes_counts_as_skipped_by_the_parser() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut p = Shared::new(std::io::BufReader::with_capacity(64, &bytes[..]));
        let mut head = [0u8; 512];
        p.read_exact(&mut head).unwrap();
        // The extractor takes 100 bytes of data, the parser then skips data and padding.
        let mut data = Vec::new();
        p.direct().take(100).read_to_end(&mut data).unwrap();
        assert_eq!(data, bytes[512..612]);
        assert!(
            p.read(&mut head).is_err(),
            "the parser may not read mid-entry"
        );
        assert_eq!(p.seek(SeekFrom::Current(512)).unwrap(), 1024);
        p.read_exact(&mut head).unwrap();
        assert_eq!(head[..], bytes[1024..1536]);
        let e = p.seek(SeekFrom::Current(2000)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}

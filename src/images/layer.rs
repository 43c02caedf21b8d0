//! A layer in its two forms, and the way between them.
//!
//! **On disk (overlay form)**: a directory overlayfs can stack as a lowerdir as it is. A
//! deleted file is a whiteout — a character device 0/0 of the same name — and a directory
//! that hides everything the layers below have in it carries the xattr
//! `trusted.overlay.opaque="y"`. That is exactly what overlayfs itself writes into a
//! container's upper directory, so `commit` copies the upper directory as it is (nothing to
//! convert), and a committed image runs by adding the copy to the lowerdir list; a deleted
//! file stays deleted because the layer keeps its whiteout. glassbox stores layers this way,
//! as docker's overlay2 driver does (`/var/lib/docker/overlay2/ID/diff`), rather than as
//! tars: a layer used by a container must be a directory anyway, and one copy is enough.
//!
//! **In an image archive (tar form)**: `docker save` and OCI layouts carry each layer as a
//! tar, and a tar cannot hold a 0/0 device or an overlay xattr portably. There a whiteout is
//! an empty file `.wh.NAME` and an opaque directory holds an empty `.wh..wh..opq`.
//! [`write_tar`] turns a layer directory into that tar — always the same bytes for the same
//! tree (names in byte order, no user or group names, no access times) — so the sha256 of
//! the tar (the layer's *diff_id*) is computed once at commit and `save` writes a tar that
//! hashes to it again.

use super::walk::{self, Entry, Kind, Visit};
use crate::error::{Error, Result};
use crate::stages::export::extract::{Data, Extractor, Meta, Shift};
use crate::store::overlay::{METACOPY_XATTR, REDIRECT_XATTR};
use crate::sys::Sys;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The xattr a tar carries for a file: its capabilities (`ping` without setuid). Docker's
/// archives carry this one only.
const CAPABILITY_XATTR: &str = "security.capability";

/// What a layer tar came to.
#[derive(Debug, Clone)]
pub struct Sums {
    /// `sha256:` of the tar.
    pub diff_id: String,
    pub tar_size: u64,
    /// Bytes of regular files.
    pub size: u64,
}

/// Counts and hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `left` bytes, or fails: a file that shrank while it was read must not leave
/// a tar whose header promised more.
struct Exact<R: Read> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// `dir/` + `name`, as bytes turned back into a path.
fn sibling(rel: &Path, name: &[u8]) -> PathBuf {
    let mut b = match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            let mut v = path_bytes(p).to_vec();
            v.push(b'/');
            v
        }
        _ => Vec::new(),
    };
    b.extend_from_slice(name);
    PathBuf::from(std::ffi::OsStr::from_bytes(&b))
}

fn header(e: &Entry, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(e.mode());
    h.set_uid(e.st.st_uid.into());
    h.set_gid(e.st.st_gid.into());
    h.set_mtime(e.st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// A PAX extended header with the given records (`SCHILY.xattr.NAME=VALUE`).
fn pax<W: Write>(b: &mut tar::Builder<W>, records: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    let mut data = Vec::new();
    for (k, v) in records {
        // "LEN KEY=VALUE\n", where LEN counts its own digits too.
        let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while rest + len.to_string().len() != len {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("././@PaxHeader")?;
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..])
}

/// Write the layer directory `dir` (overlay form) as a layer tar (whiteouts as `.wh.`
/// files) to `out`; return its digest and sizes. The same tree always gives the same bytes.
pub fn write_tar<W: Write>(dir: &Path, out: W) -> Result<Sums> {
    let mut b = tar::Builder::new(Hashing {
        inner: out,
        hash: Sha256::new(),
        n: 0,
    });
    let mut size = 0u64;
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let werr = |e: std::io::Error, rel: &Path| {
        Error::io(
            format!(
                "cannot write {} of the layer {} into the tar",
                rel.display(),
                dir.display()
            ),
            &e,
            "check that the output's filesystem has room (df -h)",
        )
    };
    walk::walk(dir, &mut |e| {
        let rel = e.rel;
        match e.kind {
            Kind::Dir => {
                if let Some(fd) = e.dir_fd {
                    check_no_redirect(fd, dir, rel)?;
                }
                let mut h = header(e, tar::EntryType::Directory);
                let mut p = path_bytes(rel).to_vec();
                p.push(b'/');
                b.append_data(&mut h, std::ffi::OsStr::from_bytes(&p), std::io::empty())
                    .map_err(|x| werr(x, rel))?;
                let opaque = e
                    .dir_fd
                    .and_then(|fd| {
                        crate::sys::quiet::get_xattr(
                            fd,
                            crate::store::overlay::store_opaque_xattr(),
                        )
                    })
                    .as_deref()
                    == Some(b"y");
                if opaque {
                    let mut h = header(e, tar::EntryType::Regular);
                    h.set_mode(0o644);
                    b.append_data(&mut h, rel.join(".wh..wh..opq"), std::io::empty())
                        .map_err(|x| werr(x, rel))?;
                }
                Ok(Visit::Descend)
            }
            Kind::Char if e.is_whiteout() => {
                let mut name = b".wh.".to_vec();
                name.extend_from_slice(e.name.to_bytes());
                let mut h = header(e, tar::EntryType::Regular);
                b.append_data(&mut h, sibling(rel, &name), std::io::empty())
                    .map_err(|x| werr(x, rel))?;
                Ok(Visit::Skip)
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let kind = match e.kind {
                    Kind::Char => tar::EntryType::Char,
                    Kind::Block => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header(e, kind);
                if e.kind != Kind::Fifo {
                    h.set_device_major(libc::major(e.st.st_rdev))
                        .and_then(|()| h.set_device_minor(libc::minor(e.st.st_rdev)))
                        .map_err(|x| werr(x, rel))?;
                }
                b.append_data(&mut h, rel, std::io::empty())
                    .map_err(|x| werr(x, rel))?;
                Ok(Visit::Skip)
            }
            Kind::Symlink => {
                let target =
                    crate::sys::quiet::read_link_at(e.parent, e.name).map_err(|errno| {
                        Error::sys(
                            format!("cannot read the symlink {}", dir.join(rel).display()),
                            errno,
                            "check the layer directory",
                        )
                    })?;
                let mut h = header(e, tar::EntryType::Symlink);
                b.append_link(&mut h, rel, &target)
                    .map_err(|x| werr(x, rel))?;
                Ok(Visit::Skip)
            }
            Kind::Socket => Ok(Visit::Skip), // a socket is no file content: tar skips it too
            Kind::File => {
                let key = (e.st.st_dev, e.st.st_ino);
                if e.st.st_nlink > 1 {
                    if let Some(first) = links.get(&key) {
                        let mut h = header(e, tar::EntryType::Link);
                        b.append_link(&mut h, rel, first)
                            .map_err(|x| werr(x, rel))?;
                        return Ok(Visit::Skip);
                    }
                    links.insert(key, rel.to_path_buf());
                }
                let f = crate::sys::quiet::open_at(e.parent, e.name, false).map_err(|errno| {
                    Error::sys(
                        format!("cannot open {}", dir.join(rel).display()),
                        errno,
                        "check the layer directory",
                    )
                })?;
                if crate::sys::quiet::get_xattr(f.as_raw_fd(), METACOPY_XATTR).is_some() {
                    return Err(metacopy(dir, rel));
                }
                if let Some(cap) = crate::sys::quiet::get_xattr(f.as_raw_fd(), CAPABILITY_XATTR) {
                    pax(&mut b, &[(format!("SCHILY.xattr.{CAPABILITY_XATTR}"), cap)])
                        .map_err(|x| werr(x, rel))?;
                }
                let len = e.st.st_size as u64;
                let mut h = header(e, tar::EntryType::Regular);
                h.set_size(len);
                let data = Exact {
                    inner: std::fs::File::from(f),
                    left: len,
                };
                b.append_data(&mut h, rel, data).map_err(|x| werr(x, rel))?;
                size += len;
                Ok(Visit::Skip)
            }
        }
    })?;
    let h = b.into_inner().map_err(|e| werr(e, Path::new("the end")))?;
    Ok(Sums {
        diff_id: format!(
            "sha256:{}",
            crate::stages::export::stream::hex(&h.hash.finalize())
        ),
        tar_size: h.n,
        size,
    })
}

fn check_no_redirect(fd: i32, dir: &Path, rel: &Path) -> Result<()> {
    if crate::sys::quiet::get_xattr(fd, REDIRECT_XATTR).is_some() {
        return Err(Error::new(
            format!(
                "{} is a renamed directory that overlayfs recorded as a redirect to its old name (redirect_dir=on), which a layer cannot carry",
                dir.join(rel).display()
            ),
            "turn redirect_dir off (echo N > /sys/module/overlay/parameters/redirect_dir) and make the change in a new container",
        ));
    }
    Ok(())
}

fn metacopy(dir: &Path, rel: &Path) -> Error {
    Error::new(
        format!(
            "{} holds only the metadata of a changed file; its data is still in a lower layer (overlayfs metacopy=on)",
            dir.join(rel).display()
        ),
        "turn metacopy off (echo N > /sys/module/overlay/parameters/metacopy) and make the change in a new container",
    )
}

/// What a copy of an upper directory held.
#[derive(Debug, Default)]
pub struct Copied {
    pub whiteouts: u64,
    pub opaque: u64,
    pub sockets: u64,
    pub summary: String,
}

/// How a layer is copied: as it is, or for (or from) a user namespace.
#[derive(Debug, Clone, Copy)]
pub struct CopyAs {
    /// Owners moved by an offset (see `run/userns.rs`).
    pub shift: Option<Shift>,
    /// The xattr that marks an opaque directory in the source, and in the copy:
    /// `trusted.overlay.opaque` as root's overlayfs writes it, `user.overlay.opaque` as an
    /// overlay mounted inside a user namespace (option `userxattr`) reads and writes it.
    pub opaque_in: &'static str,
    pub opaque_out: &'static str,
}

impl CopyAs {
    /// The layer as it is, with the store's opaque marker.
    pub fn plain() -> CopyAs {
        let opaque = crate::store::overlay::store_opaque_xattr();
        CopyAs {
            shift: None,
            opaque_in: opaque,
            opaque_out: opaque,
        }
    }
}

/// Copy a container's upper directory into `staging` (a new, empty directory), keeping it
/// in overlay form: whiteouts stay 0/0 devices and opaque directories keep their xattr.
/// Each entry is made through the export stage's root-scoped extractor (narrated at -vv);
/// the upper directory is read without following any link (see [`walk`]).
pub fn copy_upper(sys: &Sys, upper: &Path, staging: &Path) -> Result<Copied> {
    copy_layer(sys, upper, staging, CopyAs::plain())
}

/// As [`copy_upper`], for any directory in overlay form (an image's layer, a container's
/// upper directory), with its owners shifted and its opaque marker renamed as `how` says.
pub fn copy_layer(sys: &Sys, upper: &Path, staging: &Path, how: CopyAs) -> Result<Copied> {
    let root = sys.open_tree_root(
        staging,
        "the new layer's directory: every entry of the copy is made beneath it",
    )?;
    let umask = sys.umask_if_made(
        0,
        "make each entry with the container's permission bits, not masked by ours",
    )?;
    let mut ex = Extractor::new(sys, root);
    ex.umask0 = umask.is_some();
    ex.shift = how.shift;
    let mut copied = Copied::default();
    let mut opaque: Vec<String> = Vec::new();
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk::walk(upper, &mut |e| {
        let Some(rel) = e.rel.to_str() else {
            return Err(Error::new(
                format!(
                    "the container made a file whose name is not UTF-8: {}",
                    e.rel.display()
                ),
                "rename or remove it in the container, then commit again",
            ));
        };
        let meta = Meta {
            mode: e.mode(),
            uid: e.st.st_uid,
            gid: e.st.st_gid,
            mtime: e.st.st_mtime,
            xattrs: Vec::new(),
        };
        let dev = (libc::major(e.st.st_rdev), libc::minor(e.st.st_rdev));
        match e.kind {
            Kind::Dir => {
                if let Some(fd) = e.dir_fd {
                    check_no_redirect(fd, upper, e.rel)?;
                    if crate::sys::quiet::get_xattr(fd, how.opaque_in).as_deref() == Some(b"y") {
                        opaque.push(rel.to_string());
                    }
                }
                ex.entry(rel, '5', &meta, None, (0, 0), None, false)?;
                return Ok(Visit::Descend);
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                if e.is_whiteout() {
                    copied.whiteouts += 1;
                }
                let k = match e.kind {
                    Kind::Char => '3',
                    Kind::Block => '4',
                    _ => '6',
                };
                ex.entry(rel, k, &meta, None, dev, None, false)?;
            }
            Kind::Symlink => {
                let t = crate::sys::quiet::read_link_at(e.parent, e.name).map_err(|errno| {
                    Error::sys(
                        format!("cannot read the symlink {}", upper.join(rel).display()),
                        errno,
                        "try again once the container has stopped",
                    )
                })?;
                let Some(t) = t.to_str() else {
                    return Err(Error::new(
                        format!(
                            "the symlink {} points at a name that is not UTF-8",
                            e.rel.display()
                        ),
                        "remove it in the container, then commit again",
                    ));
                };
                ex.entry(rel, '2', &meta, Some(t), (0, 0), None, false)?;
            }
            Kind::Socket => copied.sockets += 1,
            Kind::File => {
                let key = (e.st.st_dev, e.st.st_ino);
                if e.st.st_nlink > 1 {
                    if let Some(first) = links.get(&key) {
                        ex.entry(rel, '1', &meta, Some(&first.clone()), (0, 0), None, false)?;
                        return Ok(Visit::Skip);
                    }
                    links.insert(key, rel.to_string());
                }
                let f = crate::sys::quiet::open_at(e.parent, e.name, false).map_err(|errno| {
                    Error::sys(
                        format!("cannot open {}", upper.join(rel).display()),
                        errno,
                        "try again once the container has stopped",
                    )
                })?;
                if crate::sys::quiet::get_xattr(f.as_raw_fd(), METACOPY_XATTR).is_some() {
                    return Err(metacopy(upper, e.rel));
                }
                let mut meta = meta;
                if let Some(cap) = crate::sys::quiet::get_xattr(f.as_raw_fd(), CAPABILITY_XATTR) {
                    meta.xattrs.push((CAPABILITY_XATTR.to_string(), cap));
                }
                let data = Data::Range {
                    fd: f.as_raw_fd(),
                    offset: 0,
                    len: e.st.st_size as u64,
                };
                ex.entry(rel, '0', &meta, None, (0, 0), Some(data), false)?;
            }
        }
        Ok(Visit::Skip)
    })?;
    ex.finish_dirs()?;
    if let Some(umask) = umask {
        sys.umask(
            umask,
            "the copy is made: what glassbox writes next gets the usual permissions again",
        )?;
    }
    copied.summary = ex.stats.summary();
    if !opaque.is_empty() {
        let root = sys.open_tree_root(
            staging,
            "the new layer again: its opaque directories get overlayfs's marker",
        )?;
        for rel in &opaque {
            let d = sys.open_dir_beneath(&root, rel).map_err(|(errno, call)| {
                Error::sys(
                    format!("cannot open the new layer's {rel}: {call} failed"),
                    errno,
                    "check the image store's directory",
                )
            })?;
            sys.fsetxattr(d.raw(), &d.shown, how.opaque_out, b"y")
                .map_err(|(errno, call)| {
                    Error::sys(
                        format!("cannot mark the new layer's {rel} opaque: {call} failed"),
                        errno,
                        "the image store must be on a filesystem with trusted.* xattrs (ext4, xfs, tmpfs) and glassbox must run as root",
                    )
                })?;
        }
        copied.opaque = opaque.len() as u64;
    }
    Ok(copied)
}

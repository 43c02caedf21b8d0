//! Safe extraction: tar entries (or a directory's files) made inside the target directory
//! through root-scoped descriptors, never by joining strings onto a host path.
//!
//! Every name is checked first (no `..`; a leading `/` means the image's root; nothing that names the root
//! itself), then its parent is reached with openat2(2) `RESOLVE_BENEATH`, so a symlink that
//! leads out of the tree makes the kernel refuse instead of writing outside. Within one
//! layer, a name that comes back as another kind of entry (a symlink, then a file or a
//! directory through it) is refused: it is how hostile archives write through links.

use super::shared::Shared;
use crate::error::{Error, Result};
use crate::sys::tree::{list_dir, stat_at, DirFd, RESOLVE_SCOPED};
use crate::sys::Sys;
use nix::errno::Errno;
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;

/// What one layer (or one archive) did, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub devices: u64,
    pub bytes: u64,
    pub whiteouts: u64,
    pub opaque: u64,
    pub skipped: u64,
    pub setuid: u64,
}

impl Stats {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} files ({}), {} dirs, {} symlinks, {} hardlinks",
            self.files,
            human_bytes(self.bytes),
            self.dirs,
            self.symlinks,
            self.hardlinks
        );
        if self.devices > 0 {
            s += &format!(", {} device nodes/FIFOs", self.devices);
        }
        if self.whiteouts + self.opaque > 0 {
            s += &format!(
                ", {} whiteouts and {} opaque directories applied",
                self.whiteouts, self.opaque
            );
        }
        if self.skipped > 0 {
            s += &format!(", {} entries skipped", self.skipped);
        }
        s
    }
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64)
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// The kind of an entry, as far as the "same name, other kind" rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Symlink,
    File,
}

/// One entry to make, whatever it came from (a tar header, a directory walk).
#[derive(Default, Clone)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// Extended attributes of a regular file (PAX `SCHILY.xattr.NAME`), e.g. the file
    /// capabilities in `security.capability` that let `ping` work without setuid.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Where a regular file's bytes come from.
pub enum Data<'a> {
    Reader(&'a mut dyn Read),
    /// The next `len` bytes of a buffered stream, written from its buffer where they lie.
    Buffered(&'a mut dyn BufRead, u64),
    /// A byte range of an open file (copied in the kernel with copy_file_range(2)).
    Range {
        fd: i32,
        offset: u64,
        len: u64,
    },
}

/// One range of ids moved by an offset: ids `from..from+count` become `to..to+count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdShift {
    pub from: u32,
    pub to: u32,
    pub count: u32,
}

impl IdShift {
    /// Where `id` goes, or None when it lies outside the range.
    pub fn map(&self, id: u32) -> Option<u32> {
        id.checked_sub(self.from)
            .filter(|off| *off < self.count)
            .map(|off| self.to + off)
    }
}

/// Owners moved while copying, as Docker's userns-remap stores an image for a user
/// namespace: uid 0 of the image becomes the first host uid of the range, and so on (see
/// run/userns.rs). The reverse shift turns a container's files back into the image's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub uids: IdShift,
    pub gids: IdShift,
}

pub struct Extractor<'s, 'n> {
    sys: &'s Sys<'n>,
    root: DirFd,
    is_root: bool,
    pub stats: Stats,
    /// Names made by the current layer and their kind.
    names: HashMap<String, Kind>,
    /// The last parent directory reached, kept while nothing could have changed the way to it.
    cache: Option<(String, DirFd)>,
    /// Directories whose mode and mtime are set at the end (a read-only directory must
    /// still take its children first).
    dirs: Vec<(String, u32, i64)>,
    warned_devices: bool,
    buf: Vec<u8>,
    /// Bytes written for the last regular file (to catch an archive that ends inside one).
    last_written: u64,
    /// The process umask is 0 (files are created with their final mode).
    pub umask0: bool,
    /// Our effective uid and gid: the owner every new file gets without a chown.
    ids: (u32, u32),
    /// Owners moved by an offset on the way (a copy for a user namespace).
    pub shift: Option<Shift>,
    /// Keep a layer's whiteouts in overlay form instead of applying them (a layer stored
    /// on its own, stacked later by overlayfs): `.wh.NAME` becomes a 0/0 character device,
    /// and the directories of `.wh..wh..opq` are listed in `opaque` for the caller to mark.
    pub overlay_form: bool,
    pub opaque: Vec<String>,
    /// In overlay form, the layers below this one (topmost first): a directory the tar does
    /// not list but needs as a parent gets its owner and mode from there, as it would have
    /// if the layer were applied onto the stack (a new 0755 root directory would hide them).
    pub lower: Vec<std::path::PathBuf>,
    /// In overlay form with the layers below still being unpacked (side by side): the
    /// parent directories made without an entry of their own are listed here instead, for
    /// [`Extractor::like_below_later`] once the layers below are whole.
    pub implicit: Option<Vec<String>>,
}

/// An error for an archive entry: one sentence naming the entry.
pub fn hostile(name: &str, what: &str) -> Error {
    Error::new(
        format!("refusing the archive entry {name:?}: {what}"),
        "this archive tries to reach outside the target directory or is damaged; nothing was written outside it — use an image you trust",
    )
}

fn syserr(name: &str, (errno, call): (Errno, String)) -> Error {
    if errno == Errno::EXDEV {
        return hostile(
            name,
            "its path goes through a symlink that leads outside the target directory (openat2 RESOLVE_BENEATH refused it with EXDEV)",
        );
    }
    let todo = match errno {
        Errno::ENOSPC | Errno::EDQUOT => "free space on the target filesystem, or export somewhere with more room",
        Errno::EACCES | Errno::EPERM => "run glassbox as root (sudo) to keep owners and device nodes, or export into a directory you own",
        Errno::ENOTDIR => "the archive puts an entry under something that is not a directory; it is damaged",
        _ => "check the archive and the target directory",
    };
    Error::sys(
        format!("cannot extract {name:?}: {call} failed"),
        errno,
        todo,
    )
}

/// `meta` with its owner moved by `s`; an owner outside the shifted range is refused (it
/// would have no id on the other side).
fn shift_owner(name: &str, meta: &Meta, s: &Shift) -> Result<Meta> {
    let outside = |what: &str, id: u32, r: &IdShift| {
        Error::new(
            format!(
                "{name:?} belongs to {what} {id}, outside the {} ids from {} that the user namespace maps",
                r.count, r.from
            ),
            "give the user namespace a larger range (the root line of /etc/subuid and /etc/subgid), or run without --userns private",
        )
    };
    let uid = s
        .uids
        .map(meta.uid)
        .ok_or_else(|| outside("uid", meta.uid, &s.uids))?;
    let gid = s
        .gids
        .map(meta.gid)
        .ok_or_else(|| outside("gid", meta.gid, &s.gids))?;
    Ok(Meta {
        uid,
        gid,
        ..meta.clone()
    })
}

/// Split an archive name into checked components inside the root: no `..`.
pub fn components(name: &str) -> Result<Vec<&str>> {
    // A leading `/` names the image's root, as Docker and GNU tar read it (umoci writes "/").
    let mut out = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(hostile(name, "it climbs out with `..`")),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl<'s, 'n> Extractor<'s, 'n> {
    pub fn new(sys: &'s Sys<'n>, root: DirFd) -> Self {
        Extractor {
            sys,
            root,
            is_root: crate::sys::quiet::is_root(),
            stats: Stats::default(),
            names: HashMap::new(),
            cache: None,
            dirs: Vec::new(),
            warned_devices: false,
            buf: vec![0; 256 * 1024],
            last_written: 0,
            umask0: false,
            ids: (crate::sys::quiet::euid(), crate::sys::quiet::egid()),
            shift: None,
            overlay_form: false,
            opaque: Vec::new(),
            lower: Vec::new(),
            implicit: None,
        }
    }

    /// Start a new layer: its names are tracked afresh; returns the last layer's stats.
    pub fn next_layer(&mut self) -> Stats {
        self.names.clear();
        self.cache = None;
        std::mem::take(&mut self.stats)
    }

    /// Reach the directory `comps` (relative to the root), creating missing ones (0755).
    fn parent(&mut self, full: &str, comps: &[&str]) -> Result<&DirFd> {
        if self
            .cache
            .as_ref()
            .is_some_and(|(k, _)| is_joined(k, comps))
        {
            return Ok(&self.cache.as_ref().unwrap().1);
        }
        let key = comps.join("/");
        let fd = if key.is_empty() {
            dup(&self.root)?
        } else {
            match self.sys.openat2_dir(&self.root, &key, RESOLVE_SCOPED) {
                Ok(fd) => fd,
                Err((Errno::ENOENT, _)) => self.make_parents(full, comps)?,
                Err(e) => return Err(syserr(full, e)),
            }
        };
        self.cache = Some((key, fd));
        Ok(&self.cache.as_ref().unwrap().1)
    }

    /// mkdir -p inside the root, one component at a time, each reached beneath the root.
    fn make_parents(&mut self, full: &str, comps: &[&str]) -> Result<DirFd> {
        let mut at = dup(&self.root)?;
        for i in 0..comps.len() {
            let prefix = comps[..=i].join("/");
            match self.sys.openat2_dir(&self.root, &prefix, RESOLVE_SCOPED) {
                Ok(fd) => at = fd,
                Err((Errno::ENOENT, _)) => {
                    match self.sys.mkdirat(&at, comps[i], 0o755) {
                        Ok(()) if self.implicit.is_some() => {
                            self.implicit.as_mut().unwrap().push(prefix.clone())
                        }
                        Ok(()) => self.like_below(full, &at, comps[i], &prefix)?,
                        Err((Errno::EEXIST, _)) => {}
                        Err(e) => return Err(syserr(full, e)),
                    }
                    at = self
                        .sys
                        .openat2_dir(&self.root, &prefix, RESOLVE_SCOPED)
                        .map_err(|e| syserr(full, e))?;
                }
                Err(e) => return Err(syserr(full, e)),
            }
        }
        Ok(at)
    }

    /// A parent directory just made for a layer in overlay form: the owner, mode and time
    /// of the same directory in the topmost lower layer that has it.
    fn like_below(&mut self, full: &str, at: &DirFd, base: &str, rel: &str) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let found = self.lower.iter().find_map(|l| {
            // Each step a real directory: a symlink in a layer is never followed here.
            let mut p = l.clone();
            for c in rel.split('/') {
                p.push(c);
                if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_dir()) {
                    return None;
                }
            }
            std::fs::symlink_metadata(&p).ok()
        });
        let Some(m) = found else { return Ok(()) };
        if self.is_root {
            self.sys
                .fchownat(at.raw(), &at.shown, base, m.uid(), m.gid())
                .map_err(|e| syserr(full, e))?;
        }
        self.dirs
            .push((rel.to_string(), m.mode() & 0o7777, m.mtime()));
        Ok(())
    }

    /// The parent directories a layer unpacked beside its lower ones made (`implicit`):
    /// each gets its owner, mode and time from the layers below now that they are whole
    /// (`lower`), as it would have if the layer had been unpacked after them.
    pub fn like_below_later(&mut self, rels: &[String]) -> Result<()> {
        for rel in rels {
            let (parent, base) = rel.rsplit_once('/').unwrap_or(("", rel));
            let at = if parent.is_empty() {
                dup(&self.root)?
            } else {
                match self.sys.openat2_dir(&self.root, parent, RESOLVE_SCOPED) {
                    Ok(fd) => fd,
                    Err((Errno::ENOENT, _)) => continue, // removed by a later whiteout
                    Err(e) => return Err(syserr(rel, e)),
                }
            };
            if stat_at(&at, base).is_some_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR) {
                self.like_below(rel, &at, base, rel)?;
            }
        }
        self.finish_dirs()
    }

    /// Record `name` as made by this layer with `kind`; refuse it as another kind.
    fn claim(&mut self, name: &str, key: &str, kind: Kind) -> Result<()> {
        match self.names.insert(key.to_string(), kind) {
            Some(prev) if prev != kind => Err(hostile(
                name,
                &format!("the same archive made this name a {prev:?} before and now a {kind:?} (a way to write through a link)"),
            )),
            _ => Ok(()),
        }
    }

    /// Remove whatever is at `name` in `dir` (a whole tree if a directory).
    fn remove_at(&self, dir: &DirFd, name: &str) -> std::result::Result<(), (Errno, String)> {
        self.sys.remove_at(dir, name)
    }

    /// Make one entry. `kind_char` is the tar type: '0' file, '5' dir, '2' symlink,
    /// '1' hardlink, '3' char, '4' block, '6' fifo. `link` is the symlink or hardlink target.
    #[allow(clippy::too_many_arguments)]
    pub fn entry(
        &mut self,
        name: &str,
        kind_char: char,
        meta: &Meta,
        link: Option<&str>,
        dev: (u32, u32),
        data: Option<Data>,
        layered: bool,
    ) -> Result<()> {
        let sys = self.sys;
        let comps = components(name)?;
        let Some((base, dirs)) = comps.split_last() else {
            if kind_char == '5' {
                return Ok(()); // "./": the root itself; its mode stays the staging dir's.
            }
            return Err(hostile(
                name,
                "it names the root directory itself as something other than a directory",
            ));
        };
        let key = comps.join("/");
        if layered && base.starts_with(".wh.") && self.overlay_form {
            return self.overlay_whiteout(name, dirs, base, meta);
        }
        if layered && base.starts_with(".wh.") {
            return self.whiteout(name, dirs, base);
        }
        let shifted;
        let meta = match &self.shift {
            Some(s) => {
                shifted = shift_owner(name, meta, s)?;
                &shifted
            }
            None => meta,
        };
        let mode = meta.mode & 0o7777;
        if mode & 0o6000 != 0 {
            self.stats.setuid += 1;
        }
        match kind_char {
            '5' => {
                self.claim(name, &key, Kind::Dir)?;
                let parent = self.parent(name, dirs)?;
                match sys.mkdirat(parent, base, 0o700) {
                    Ok(()) => {}
                    Err((Errno::EEXIST, _)) => {
                        let is_dir = stat_at(parent, base)
                            .is_some_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
                        if !is_dir {
                            // A lower layer's file or symlink: replaced, as Docker does.
                            self.replace(name, dirs, base)?;
                            let parent = self.parent(name, dirs)?;
                            sys.mkdirat(parent, base, 0o700)
                                .map_err(|e| syserr(name, e))?;
                        }
                    }
                    Err(e) => return Err(syserr(name, e)),
                }
                self.chown_at(name, dirs, base, meta)?;
                self.dirs.push((key, mode, meta.mtime));
                self.stats.dirs += 1;
            }
            '2' => {
                let target = link.unwrap_or("");
                if target.is_empty() {
                    return Err(hostile(name, "it is a symlink with an empty target"));
                }
                self.claim(name, &key, Kind::Symlink)?;
                let parent = self.parent(name, dirs)?;
                let made = sys.symlinkat(target, parent, base);
                if let Err((Errno::EEXIST, _)) = made {
                    self.replace(name, dirs, base)?;
                    let parent = self.parent(name, dirs)?;
                    sys.symlinkat(target, parent, base)
                        .map_err(|e| syserr(name, e))?;
                } else {
                    made.map_err(|e| syserr(name, e))?;
                }
                // A new symlink may change where later names lead.
                self.cache = None;
                self.chown_at(name, dirs, base, meta)?;
                let parent = self.parent(name, dirs)?;
                let (fd, shown) = (parent.raw(), parent.shown.clone());
                self.sys
                    .utimensat(fd, &shown, base, meta.mtime)
                    .map_err(|e| syserr(name, e))?;
                self.stats.symlinks += 1;
            }
            '1' => {
                let target = link.unwrap_or("");
                let tcomps = components(target).map_err(|_| {
                    hostile(
                        name,
                        &format!("it is a hard link to {target:?}, outside the archive's tree"),
                    )
                })?;
                let Some((tbase, tdirs)) = tcomps.split_last() else {
                    return Err(hostile(name, "it is a hard link to the root directory"));
                };
                self.claim(name, &key, Kind::File)?;
                let tparent = self.parent(target, tdirs)?;
                let tparent = dup(tparent)?;
                let parent = self.parent(name, dirs)?;
                let made = sys.linkat(&tparent, tbase, parent, base);
                if let Err((Errno::EEXIST, _)) = made {
                    self.replace(name, dirs, base)?;
                    let parent = self.parent(name, dirs)?;
                    sys.linkat(&tparent, tbase, parent, base)
                        .map_err(|e| syserr(name, e))?;
                } else {
                    made.map_err(|e| syserr(name, e))?;
                }
                self.stats.hardlinks += 1;
            }
            '3' | '4' | '6' => {
                let kind = match kind_char {
                    '3' => libc::S_IFCHR,
                    '4' => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if kind != libc::S_IFIFO && !self.is_root {
                    if !self.warned_devices {
                        sys.narrator.warn("device nodes in the image are skipped: only root may make them (mknod needs CAP_MKNOD)");
                        self.warned_devices = true;
                    }
                    self.stats.skipped += 1;
                    return Ok(());
                }
                self.claim(name, &key, Kind::File)?;
                let parent = self.parent(name, dirs)?;
                let made = sys.mknodat(parent, base, kind, mode & 0o777, dev.0, dev.1);
                if let Err((Errno::EEXIST, _)) = made {
                    self.replace(name, dirs, base)?;
                    let parent = self.parent(name, dirs)?;
                    sys.mknodat(parent, base, kind, mode & 0o777, dev.0, dev.1)
                        .map_err(|e| syserr(name, e))?;
                } else {
                    made.map_err(|e| syserr(name, e))?;
                }
                self.chown_at(name, dirs, base, meta)?;
                let parent = self.parent(name, dirs)?;
                let parent = dup(parent)?;
                sys.fchmodat(&parent, base, mode)
                    .map_err(|e| syserr(name, e))?;
                self.stats.devices += 1;
            }
            _ => {
                // '0' and anything else carrying data as a regular file.
                self.claim(name, &key, Kind::File)?;
                // With umask 0 the file is made with its final permission bits at once.
                let first = if self.umask0 { mode & 0o777 } else { 0o600 };
                let parent = self.parent(name, dirs)?;
                let made = sys.create_file_at(parent, base, first);
                let file = match made {
                    Err((Errno::EEXIST, _)) => {
                        self.replace(name, dirs, base)?;
                        let parent = self.parent(name, dirs)?;
                        sys.create_file_at(parent, base, first)
                            .map_err(|e| syserr(name, e))?
                    }
                    other => other.map_err(|e| syserr(name, e))?,
                };
                let shown = format!("{}/{}", self.root.shown, key);
                let n = self.write_data(name, &file, data)?;
                let fd = file.as_raw_fd();
                // A new file already belongs to us: chown only to someone else.
                if self.is_root && (meta.uid, meta.gid) != self.ids {
                    sys.fchownat(fd, &shown, "", meta.uid, meta.gid)
                        .map_err(|e| syserr(name, e))?;
                }
                // After chown, which clears file capabilities.
                for (xname, value) in &meta.xattrs {
                    if self.is_root || xname.starts_with("user.") {
                        sys.fsetxattr(fd, &shown, xname, value)
                            .map_err(|e| syserr(name, e))?;
                    }
                }
                // After chown: chown clears setuid/setgid, and the image's bits are kept.
                if !self.umask0 || mode & 0o7000 != 0 {
                    sys.fchmod(fd, &shown, mode).map_err(|e| syserr(name, e))?;
                }
                sys.utimensat(fd, &shown, "", meta.mtime)
                    .map_err(|e| syserr(name, e))?;
                self.stats.files += 1;
                self.stats.bytes += n;
            }
        }
        Ok(())
    }

    /// Remove what an entry replaces (from a lower layer, or an earlier same-kind entry).
    fn replace(&mut self, name: &str, dirs: &[&str], base: &str) -> Result<()> {
        let parent = self.parent(name, dirs)?;
        let parent = dup(parent)?;
        self.remove_at(&parent, base).map_err(|e| syserr(name, e))
    }

    fn chown_at(&mut self, name: &str, dirs: &[&str], base: &str, meta: &Meta) -> Result<()> {
        if !self.is_root {
            return Ok(());
        }
        let parent = self.parent(name, dirs)?;
        let (fd, shown) = (parent.raw(), parent.shown.clone());
        self.sys
            .fchownat(fd, &shown, base, meta.uid, meta.gid)
            .map_err(|e| syserr(name, e))
    }

    fn write_data(&mut self, name: &str, file: &std::fs::File, data: Option<Data>) -> Result<u64> {
        let werr = |e: std::io::Error| {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            syserr(name, (errno, format!("write to {name:?}")))
        };
        let mut total = 0u64;
        match data {
            None => {}
            Some(Data::Range { fd, offset, len }) => {
                let mut off = offset as i64;
                let mut left = len;
                while left > 0 {
                    let n = self
                        .sys
                        .copy_file_range(fd, &mut off, file.as_raw_fd(), name, left)
                        .map_err(|e| syserr(name, e))?;
                    if n == 0 {
                        return Err(Error::new(
                            format!("the archive ends inside {name:?}: it is truncated"),
                            "download or copy the archive again",
                        ));
                    }
                    left -= n;
                    total += n;
                }
            }
            Some(Data::Buffered(r, len)) => {
                let mut f = file;
                while total < len {
                    let chunk = match r.fill_buf() {
                        Ok([]) => break,
                        Ok(b) => {
                            &b[..usize::try_from(len - total)
                                .map_or(b.len(), |left| b.len().min(left))]
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(read_error(name, &e)),
                    };
                    let n = chunk.len();
                    f.write_all(chunk).map_err(werr)?;
                    r.consume(n);
                    total += n as u64;
                }
            }
            Some(Data::Reader(r)) => {
                let mut f = file;
                loop {
                    let n = match r.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(read_error(name, &e)),
                    };
                    f.write_all(&self.buf[..n]).map_err(werr)?;
                    total += n as u64;
                }
            }
        }
        self.last_written = total;
        Ok(total)
    }

    /// A whiteout: `.wh.NAME` deletes NAME from the layers below; `.wh..wh..opq` empties
    /// its directory of what lower layers put there.
    fn whiteout(&mut self, name: &str, dirs: &[&str], base: &str) -> Result<()> {
        let parent = if dirs.is_empty() {
            dup(&self.root)?
        } else {
            match self
                .sys
                .openat2_dir(&self.root, &dirs.join("/"), RESOLVE_SCOPED)
            {
                Ok(p) => p,
                Err((Errno::ENOENT, _)) => return Ok(()), // nothing below to hide
                Err(e) => return Err(syserr(name, e)),
            }
        };
        self.cache = None;
        if base == ".wh..wh..opq" {
            let dirkey = dirs.join("/");
            for child in list_dir(&parent) {
                let ck = if dirkey.is_empty() {
                    child.clone()
                } else {
                    format!("{dirkey}/{child}")
                };
                if !self.names.contains_key(&ck) {
                    self.remove_at(&parent, &child)
                        .map_err(|e| syserr(name, e))?;
                }
            }
            self.sys.narrator.detail(&format!("opaque {dirkey}/"));
            self.stats.opaque += 1;
            return Ok(());
        }
        let victim = &base[4..];
        if victim.is_empty() || victim == "." || victim == ".." || victim.starts_with(".wh.") {
            return Err(hostile(
                name,
                "it is a whiteout for a name that cannot be deleted",
            ));
        }
        self.sys.narrator.detail(&format!(
            "whiteout {}",
            [dirs.join("/"), victim.to_string()].join("/")
        ));
        self.remove_at(&parent, victim)
            .map_err(|e| syserr(name, e))?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// A whiteout kept as overlayfs keeps it: a 0/0 character device for `.wh.NAME`; the
    /// directory of `.wh..wh..opq` is remembered, to be marked opaque once it is made.
    fn overlay_whiteout(
        &mut self,
        name: &str,
        dirs: &[&str],
        base: &str,
        meta: &Meta,
    ) -> Result<()> {
        if base == ".wh..wh..opq" {
            self.opaque.push(dirs.join("/"));
            self.stats.opaque += 1;
            return Ok(());
        }
        let victim = &base[4..];
        if victim.is_empty() || victim == "." || victim == ".." || victim.starts_with(".wh.") {
            return Err(hostile(
                name,
                "it is a whiteout for a name that cannot be deleted",
            ));
        }
        let mut path = dirs.to_vec();
        path.push(victim);
        let meta = Meta {
            mode: 0,
            xattrs: Vec::new(),
            ..meta.clone()
        };
        let before = self.stats.devices;
        self.entry(&path.join("/"), '3', &meta, None, (0, 0), None, false)?;
        if self.stats.devices > before {
            self.stats.devices = before;
            self.stats.whiteouts += 1;
        }
        Ok(())
    }

    /// Set the directories' modes and times last (children first, so a read-only directory
    /// can still be filled and its mtime is not bumped by its children).
    pub fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by(|a, b| b.0.cmp(&a.0));
        dirs.dedup_by(|a, b| a.0 == b.0);
        self.cache = None;
        for (key, mode, mtime) in dirs {
            let comps: Vec<String> = key.split('/').map(String::from).collect();
            let (base, parent_comps) = comps.split_last().unwrap();
            let parent = if parent_comps.is_empty() {
                dup(&self.root)?
            } else {
                match self
                    .sys
                    .openat2_dir(&self.root, &parent_comps.join("/"), RESOLVE_SCOPED)
                {
                    Ok(p) => p,
                    Err((Errno::ENOENT, _)) => continue, // deleted by a later whiteout
                    Err(e) => return Err(syserr(&key, e)),
                }
            };
            match stat_at(&parent, base) {
                Some(s) if s.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                _ => continue,
            }
            self.sys
                .fchmodat(&parent, base, mode)
                .map_err(|e| syserr(&key, e))?;
            self.sys
                .utimensat(parent.raw(), &parent.shown, base, mtime)
                .map_err(|e| syserr(&key, e))?;
        }
        Ok(())
    }

    /// Apply one tar stream (a layer or a whole export). `layered` turns whiteouts on.
    /// A regular file's bytes are written straight from the stream's buffer (see [`Shared`]).
    pub fn apply_tar(&mut self, reader: impl BufRead, layered: bool) -> Result<()> {
        let shared = Shared::new(reader);
        let mut ar = tar::Archive::new(shared.clone());
        let entries = ar
            .entries_with_seek()
            .map_err(|e| read_error("the archive", &e))?;
        let mut any = false;
        for entry in entries {
            super::check_interrupted()?;
            let mut entry = match entry {
                Ok(e) => e,
                // Some tools (umoci 0.4) end a layer right after the last file's data, with
                // no padding or end-of-archive blocks. Every entry so far was whole, and the
                // layer's digest is checked at its end, so this is the end of the layer.
                Err(e) if layered && any && is_eof(&e) => {
                    self.sys.narrator.detail(
                        "the layer ends without end-of-archive blocks (every entry was whole)",
                    );
                    break;
                }
                Err(e) => return Err(read_error("the archive", &e)),
            };
            any = true;
            let (name, kind, meta, link, dev) = header_of(&mut entry)?;
            let expect = entry.size();
            if kind != '0' && expect != 0 {
                // Readers disagree on what follows: the tar crate skips `size` bytes, GNU
                // tar and Python read the next header there for some kinds. An archive that
                // means one thing to a scanner and another to glassbox is refused.
                return Err(hostile(
                    &name,
                    &format!("it is not a file but its header says {expect} bytes of data follow it, which tar tools read differently"),
                ));
            }
            let sparse = entry.header().entry_type().is_gnu_sparse();
            self.last_written = 0;
            // A sparse file's data is not its bytes in a row: only the tar crate reads it.
            let mut direct = (!sparse).then(|| shared.direct());
            let data = match &mut direct {
                Some(d) => Data::Buffered(d, expect),
                None => Data::Reader(&mut entry),
            };
            self.entry(
                &name,
                kind,
                &meta,
                link.as_deref(),
                dev,
                Some(data),
                layered,
            )?;
            drop(direct);
            if kind == '0' && !sparse && self.last_written < expect && !name.contains(".wh.") {
                return Err(Error::new(
                    format!("the archive ends inside {name:?}: it is truncated"),
                    "download or copy the archive again",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `key` is `comps` joined by `/`, found without joining them: most entries share
/// their parent with the one before.
fn is_joined(key: &str, comps: &[&str]) -> bool {
    let mut rest = key;
    for (i, c) in comps.iter().enumerate() {
        let after = if i == 0 {
            Some(rest)
        } else {
            rest.strip_prefix('/')
        };
        match after.and_then(|r| r.strip_prefix(c)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Another descriptor for the same directory.
fn dup(d: &DirFd) -> Result<DirFd> {
    Ok(DirFd {
        fd: d.fd.try_clone().map_err(|e| {
            Error::io(
                "cannot duplicate a directory descriptor",
                &e,
                "raise the open-files limit (ulimit -n)",
            )
        })?,
        shown: d.shown.clone(),
    })
}

type Header = (String, char, Meta, Option<String>, (u32, u32));

fn header_of<R: Read>(entry: &mut tar::Entry<R>) -> Result<Header> {
    let raw = entry.path_bytes();
    let name = String::from_utf8(raw.to_vec()).map_err(|_| {
        Error::new(
            format!(
                "the archive holds a name that is not UTF-8: {:?}",
                String::from_utf8_lossy(&raw)
            ),
            "glassbox extracts UTF-8 names only; repack the image",
        )
    })?;
    let h = entry.header();
    use tar::EntryType as T;
    let kind = match h.entry_type() {
        T::Regular | T::Continuous | T::GNUSparse => '0',
        T::Directory => '5',
        T::Symlink => '2',
        T::Link => '1',
        T::Char => '3',
        T::Block => '4',
        T::Fifo => '6',
        other => {
            return Err(Error::new(
                format!(
                    "the archive entry {name:?} has a type glassbox does not know ({:?})",
                    other.as_byte() as char
                ),
                "repack the image with GNU tar",
            ))
        }
    };
    let link = match entry.link_name_bytes() {
        Some(l) => Some(String::from_utf8(l.to_vec()).map_err(|_| {
            Error::new(
                format!("the link target of {name:?} is not UTF-8"),
                "repack the image",
            )
        })?),
        None => None,
    };
    let mut xattrs = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let (Ok(k), v) = (ext.key(), ext.value_bytes()) {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), v.to_vec()));
                }
                // GNU tar's PAX sparse formats keep a map of holes in the data (1.0) or in
                // these keys (0.x): unpacked as it stands the file would hold the map.
                if k.starts_with("GNU.sparse.") {
                    return Err(Error::new(
                        format!("the archive entry {name:?} is a sparse file in GNU tar's PAX format, which glassbox does not unpack"),
                        "repack it with GNU tar's --format=gnu (its own sparse entries are read), or without --sparse",
                    ));
                }
            }
        }
    }
    let h = entry.header();
    let num = |r: std::io::Result<u64>| r.unwrap_or(0);
    let meta = Meta {
        mode: h.mode().unwrap_or(0o644),
        uid: num(h.uid()) as u32,
        gid: num(h.gid()) as u32,
        mtime: num(h.mtime()) as i64,
        xattrs,
    };
    // Only a device has numbers: for the others the tar crate would build (and format)
    // an error from the empty fields, at every entry.
    let dev = if matches!(kind, '3' | '4') {
        (
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    Ok((name, kind, meta, link, dev))
}

fn is_eof(e: &std::io::Error) -> bool {
    let msg = e.to_string();
    e.kind() == std::io::ErrorKind::UnexpectedEof
        || msg.contains("unexpected EOF")
        || msg.contains("failed to fill whole buffer")
}

/// A read error while decoding an archive, in plain words.
pub fn read_error(what: &str, e: &std::io::Error) -> Error {
    let msg = e.to_string();
    if is_eof(e) {
        return Error::new(
            format!("{what} ends too early: the archive is truncated"),
            "download or copy the archive again",
        );
    }
    if msg.contains("corrupt deflate")
        || msg.contains("invalid gzip")
        || msg.contains("Unknown frame")
        || msg.contains("checksum")
    {
        return Error::new(
            format!("{what} is damaged: {msg}"),
            "download or copy the archive again",
        );
    }
    Error::new(
        format!("cannot read {what}: {msg}"),
        "check that the source is a tar archive (plain, gzip or zstd) or an image",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;
    use std::cell::Cell;

    /// Archive bytes that count what is copied out of them by `read` (a `fill_buf` and
    /// `consume` copies nothing).
    struct Counted<'a> {
        rest: &'a [u8],
        copied: &'a Cell<usize>,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.rest.read(buf)?;
            self.copied.set(self.copied.get() + n);
            Ok(n)
        }
    }

    impl BufRead for Counted<'_> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            Ok(self.rest)
        }
        fn consume(&mut self, n: usize) {
            self.rest = &self.rest[n..];
        }
    }

    #[test]
    fn a_cached_parent_is_matched_component_by_component() {
        assert!(is_joined("", &[]));
        assert!(is_joined("usr/lib", &["usr", "lib"]));
        assert!(!is_joined("usr/lib", &["usr"]));
        assert!(!is_joined("usr", &["usr", "lib"]));
        assert!(!is_joined("usr/lib", &["usr/lib"][..0]));
        assert!(!is_joined("usrlib", &["usr", "lib"]));
        assert!(!is_joined("usr/lib64", &["usr", "lib"]));
    }

    #[test]
    fn a_files_bytes_are_written_from_the_buffer_they_were_read_into() {
        let data = vec![b'x'; 100 * 1024];
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "dir/f", &data[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let narrator = Narrator::silent();
        let sys = Sys::new(&narrator);
        let root = sys.open_tree_root(dir.path(), "a test").unwrap();
        let mut ex = Extractor::new(&sys, root);
        let copied = Cell::new(0);
        let archive = Counted {
            rest: &tar,
            copied: &copied,
        };
        ex.apply_tar(archive, false).unwrap();
        assert_eq!(std::fs::read(dir.path().join("dir/f")).unwrap(), data);
        // The headers are read (copied) by the tar parser; the file's bytes are not.
        assert!(
            copied.get() < 4096,
            "{} bytes copied out of the archive for a 100 KiB file",
            copied.get()
        );
    }
}

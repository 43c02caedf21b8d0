//! COPY and ADD: files of the build context (or of an earlier stage's image) written into one
//! layer tar, as docker's builder sends them. Nothing is ever followed out of the context: a
//! source path or a symlink that leads outside it is refused, and so is a device, FIFO or
//! socket. The tar is later applied through the root-scoped extractor like any layer.

use crate::error::{Error, Result};
use crate::stages::export::stream::Compression;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};

/// `.dockerignore`'s patterns, in order; `!` takes a path back.
pub struct Ignore(pub Vec<(bool, String)>);

impl Ignore {
    pub fn load(context: &Path) -> Ignore {
        let text = std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
        let pats = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.strip_prefix('!') {
                Some(p) => (false, clean(p)),
                None => (true, clean(l)),
            })
            .collect();
        Ignore(pats)
    }
    /// Whether `rel` (a path inside the context) is left out: the last pattern that
    /// matches it or a directory above it decides.
    pub fn excludes(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut out = false;
        for (exclude, pat) in &self.0 {
            if (1..=parts.len()).any(|n| glob(pat, &parts[..n].join("/"))) {
                out = *exclude;
            }
        }
        out
    }
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// `*` and `?` within one path component, `**` across components.
fn glob(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => {
                let rest = p[2..].strip_prefix(&['/']).unwrap_or(&p[2..]);
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|c| *c != '/') && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// A path inside `root` without leaving it lexically: `a/../b` is `b`, `../x` is refused.
pub fn inside(rel: &str, what: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir => {
                return Err(Error::usage(
                    format!("{what} {rel:?} is outside the build context"),
                    "copy only files under the context directory (move the file into it, or build from a directory above)",
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Where files come from: a directory tree (the context, or a stage's merged layers).
pub struct Tree {
    /// The roots, lowest first; a later one's files win (a stage's layers).
    pub roots: Vec<PathBuf>,
    /// The build context: .dockerignore applies, symlinks must stay inside.
    pub context: bool,
    pub ignore: Ignore,
}

/// One file to put in the layer.
struct Entry {
    src: PathBuf,
    dest: String,
    meta: std::fs::Metadata,
}

/// What COPY writes: the tar at `out`, and a checksum of the copied files' names, modes,
/// owners and contents (docker's cache key for COPY; times are left out).
pub struct Written {
    pub checksum: String,
    pub files: usize,
}

/// Write the tar of `sources` (paths in the tree) copied to `dest` (absolute), owned by
/// `chown` (root when None). `lower` are the image's layers, bottom first: a parent of the
/// destination they already have keeps its owner and mode there, and a destination that is
/// a directory there is copied into, as if it ended with / (as docker does).
pub fn write_tar(
    tree: &Tree,
    sources: &[String],
    dest: &str,
    chown: Option<(u32, u32)>,
    lower: &[PathBuf],
    out: &Path,
) -> Result<Written> {
    let mut rels = Vec::new();
    for s in sources {
        let rel = inside(s, "the source")?;
        if !s.contains(['*', '?']) {
            rels.push((s.clone(), rel));
            continue;
        }
        let matched = matches(tree, &rel);
        if matched.is_empty() {
            return Err(Error::usage(
                format!("COPY failed: no file in the build context matches {s}"),
                "check the pattern, relative to the context directory (and .dockerignore)",
            ));
        }
        rels.extend(matched.into_iter().map(|m| (s.clone(), m)));
    }
    let dir_dest = dest.ends_with('/') || lower_dir(lower, dest.trim_start_matches('/')).is_some();
    if rels.len() > 1 && !dir_dest {
        return Err(Error::usage(
            format!("COPY of several files ({}) into {dest}, which does not end with /", sources.join(" ")),
            format!("when COPY has more than one source file, the destination must be a directory and end with a /: write {dest}/"),
        ));
    }
    let dest = inside(dest, "the destination")?;
    let mut entries = Vec::new();
    for (s, rel) in rels {
        let found = find(tree, &rel).ok_or_else(|| {
            Error::usage(
                format!(
                    "COPY failed: {s} is not in the build context{}",
                    if tree.context && tree.ignore.excludes(&rel.to_string_lossy()) {
                        " (.dockerignore leaves it out)"
                    } else {
                        ""
                    }
                ),
                "check the path, relative to the context directory",
            )
        })?;
        let meta = std::fs::symlink_metadata(&found).map_err(|e| io(&found, e))?;
        if meta.is_dir() {
            walk(tree, &rel, &dest, &mut entries)?;
        } else {
            let to = if dir_dest {
                dest.join(rel.file_name().unwrap_or_default())
            } else {
                dest.clone()
            };
            check(tree, &found, &rel, &meta)?;
            entries.push(Entry {
                src: found,
                dest: to.to_string_lossy().into_owned(),
                meta,
            });
        }
    }
    let f = std::fs::File::create(out).map_err(|e| io(out, e))?;
    let mut tar = tar::Builder::new(f);
    let mut sum = Sha256::new();
    let (uid, gid) = chown.unwrap_or((0, 0));
    let dests: Vec<&str> = entries.iter().map(|e| e.dest.as_str()).collect();
    append_parents(&mut tar, &dests, lower).map_err(|e| io(out, e))?;
    for e in &entries {
        use std::os::unix::fs::MetadataExt;
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.meta.mode() & 0o7777);
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(e.meta.mtime().max(0) as u64);
        sum.update(format!("{} {:o} {uid}:{gid}\n", e.dest, e.meta.mode()).as_bytes());
        let ft = e.meta.file_type();
        let r = if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{}/", e.dest), std::io::empty())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&e.src).map_err(|x| io(&e.src, x))?;
            sum.update(target.to_string_lossy().as_bytes());
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &e.dest, &target)
        } else {
            let f = std::fs::File::open(&e.src).map_err(|x| io(&e.src, x))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(e.meta.len());
            // The checksum is taken from the bytes the tar reads: each file is read once.
            let f = Hashing {
                inner: f,
                sum: &mut sum,
            };
            tar.append_data(&mut h, &e.dest, f.take(e.meta.len()))
        };
        r.map_err(|x| io(out, x))?;
    }
    tar.into_inner()
        .and_then(|mut f| std::io::Write::flush(&mut f))
        .map_err(|e| io(out, e))?;
    let checksum = crate::stages::export::stream::hex(&sum.finalize());
    Ok(Written {
        checksum,
        files: entries.len(),
    })
}

/// The destinations' parents, so the extractor has them: as the image has them, else root's
/// and 0755, as docker makes them (the layer's copy hides the lower one's).
fn append_parents<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    dests: &[&str],
    lower: &[PathBuf],
) -> std::io::Result<()> {
    let mut parents = std::collections::BTreeSet::new();
    for d in dests {
        for p in Path::new(d).ancestors().skip(1) {
            if !p.as_os_str().is_empty() {
                parents.insert(p.to_string_lossy().into_owned());
            }
        }
    }
    for d in parents.iter().filter(|d| !dests.contains(&d.as_str())) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        if let Some(m) = lower_dir(lower, d) {
            use std::os::unix::fs::MetadataExt;
            h.set_mode(m.mode() & 0o7777);
            h.set_uid(m.uid().into());
            h.set_gid(m.gid().into());
            h.set_mtime(m.mtime().max(0) as u64);
        }
        h.set_size(0);
        tar.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    Ok(())
}

/// COPY of here-documents: each (name, text) written as a file 0644 under `dest` (a
/// directory when it ends with / or is one in `lower`, else the file itself), owned by `chown` (root when None).
pub fn write_heredocs(
    docs: &[(String, String)],
    dest: &str,
    chown: Option<(u32, u32)>,
    lower: &[PathBuf],
    out: &Path,
) -> Result<Written> {
    let dir_dest = dest.ends_with('/') || lower_dir(lower, dest.trim_start_matches('/')).is_some();
    if docs.len() > 1 && !dir_dest {
        return Err(Error::usage(
            format!("COPY of several here-documents into {dest}, which does not end with /"),
            format!("the destination must be a directory and end with a /: write {dest}/"),
        ));
    }
    let base = inside(dest, "the destination")?;
    let files: Vec<(String, &str)> = docs
        .iter()
        .map(|(name, text)| {
            let to = if dir_dest {
                base.join(name)
            } else {
                base.clone()
            };
            (to.to_string_lossy().into_owned(), text.as_str())
        })
        .collect();
    let f = std::fs::File::create(out).map_err(|e| io(out, e))?;
    let mut tar = tar::Builder::new(f);
    let dests: Vec<&str> = files.iter().map(|(d, _)| d.as_str()).collect();
    append_parents(&mut tar, &dests, lower).map_err(|e| io(out, e))?;
    let (uid, gid) = chown.unwrap_or((0, 0));
    let mut sum = Sha256::new();
    for (to, text) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_size(text.len() as u64);
        sum.update(format!("{to} 644 {uid}:{gid}\n{text}").as_bytes());
        tar.append_data(&mut h, to, text.as_bytes())
            .map_err(|e| io(out, e))?;
    }
    tar.into_inner()
        .and_then(|mut f| std::io::Write::flush(&mut f))
        .map_err(|e| io(out, e))?;
    let checksum = crate::stages::export::stream::hex(&sum.finalize());
    Ok(Written {
        checksum,
        files: files.len(),
    })
}

/// The paths a source with `*` or `?` in its components names, in name order: each such
/// component matched against the names in the directories found so far (as Go's
/// filepath.Match, which docker uses; .dockerignore's exclusions left out).
fn matches(tree: &Tree, pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for c in pattern.components() {
        let c = c.as_os_str().to_string_lossy();
        if !c.contains(['*', '?']) {
            found.iter_mut().for_each(|p| p.push(&*c));
            continue;
        }
        let mut next = std::collections::BTreeSet::new();
        for dir in &found {
            for r in &tree.roots {
                for e in std::fs::read_dir(r.join(dir))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if glob(&c, &name) {
                        next.insert(dir.join(name));
                    }
                }
            }
        }
        found = next.into_iter().collect();
    }
    found.retain(|p| find(tree, p).is_some());
    found
}

/// The directory `rel` as the topmost of `layers` that has it shows it (None: not a
/// directory there, or deleted by a whiteout).
/// A symlink on the way ends the search: it is never followed out of the layer.
fn lower_dir(layers: &[PathBuf], rel: &str) -> Option<std::fs::Metadata> {
    let m = layers.iter().rev().find_map(|l| {
        let mut p = l.clone();
        let mut m = None;
        for c in Path::new(rel).components() {
            p.push(c);
            m = Some(std::fs::symlink_metadata(&p).ok()?);
            if m.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
                return None;
            }
        }
        m
    })?;
    m.is_dir().then_some(m)
}

/// The path in the topmost root that has it (never following a symlink on the way: a
/// symlinked directory in the middle of a source path is refused by `check`).
fn find(tree: &Tree, rel: &Path) -> Option<PathBuf> {
    if tree.context && !rel.as_os_str().is_empty() && tree.ignore.excludes(&rel.to_string_lossy()) {
        return None;
    }
    tree.roots
        .iter()
        .rev()
        .map(|r| r.join(rel))
        .find(|p| std::fs::symlink_metadata(p).is_ok())
}

/// Every entry below the directory `rel`, copied under `dest`.
fn walk(tree: &Tree, rel: &Path, dest: &Path, out: &mut Vec<Entry>) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for r in &tree.roots {
        if let Ok(rd) = std::fs::read_dir(r.join(rel)) {
            for e in rd.flatten() {
                names.insert(e.file_name());
            }
        }
    }
    for name in names {
        let r = rel.join(&name);
        if tree.context && tree.ignore.excludes(&r.to_string_lossy()) {
            continue;
        }
        let Some(src) = find(tree, &r) else { continue };
        let meta = std::fs::symlink_metadata(&src).map_err(|e| io(&src, e))?;
        // A 0/0 character device is a whiteout in a stage's layer: the file is gone.
        if whiteout(&meta) {
            continue;
        }
        check(tree, &src, &r, &meta)?;
        let d = dest.join(&name);
        out.push(Entry {
            src: src.clone(),
            dest: d.to_string_lossy().into_owned(),
            meta: meta.clone(),
        });
        if meta.is_dir() {
            walk(tree, &r, &d, out)?;
        }
    }
    Ok(())
}

fn whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Refuse what cannot be copied safely: special files, and symlinks leading out.
fn check(tree: &Tree, src: &Path, rel: &Path, m: &std::fs::Metadata) -> Result<()> {
    let ft = m.file_type();
    if !(ft.is_file() || ft.is_dir() || ft.is_symlink()) {
        return Err(Error::usage(
            format!(
                "{} is a device, FIFO or socket: COPY takes only files, directories and symlinks",
                rel.display()
            ),
            "leave it out of the context, or name it in .dockerignore",
        ));
    }
    if ft.is_symlink() && tree.context {
        let target = std::fs::read_link(src).map_err(|e| io(src, e))?;
        let joined = rel.parent().unwrap_or(Path::new("")).join(&target);
        if target.is_absolute() || inside(&joined.to_string_lossy(), "x").is_err() {
            return Err(Error::usage(
                format!(
                    "{} is a symlink to {}, outside the build context",
                    rel.display(),
                    target.display()
                ),
                "copy the file it points to into the context instead of linking to it",
            ));
        }
    }
    Ok(())
}

fn io(p: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!("cannot copy {}", p.display()),
        &e,
        "check that the build context is readable and that the data directory has room",
    )
}

/// ADD of a local tar (plain or gzip): its entries re-written under `dest` into the layer
/// tar. Only names are changed here; the root-scoped extractor that applies the layer
/// refuses or contains whatever the archive holds (`..`, links out, devices).
pub fn retar_archive(src: &Path, dest: &str, out: &Path) -> Result<Written> {
    let mut f = std::fs::File::open(src).map_err(|e| io(src, e))?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(|e| io(src, e))?;
    f.rewind().map_err(|e| io(src, e))?;
    let reader: Box<dyn Read> = match Compression::sniff(&head[..n]) {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(f)),
        _ => Box::new(f),
    };
    let dest = inside(dest, "the destination")?;
    let mut input = tar::Archive::new(reader);
    let o = std::fs::File::create(out).map_err(|e| io(out, e))?;
    let mut tar = tar::Builder::new(o);
    let mut sum = Sha256::new();
    let mut files = 0;
    for entry in input.entries().map_err(|e| io(src, e))? {
        let mut entry = entry.map_err(|e| io(src, e))?;
        let name = entry
            .path()
            .map_err(|e| io(src, e))?
            .to_string_lossy()
            .into_owned();
        let to = dest.join(inside(&name, "an entry of the archive")?);
        let mut h = entry.header().clone();
        if let Ok(Some(link)) = entry.link_name() {
            if h.entry_type() == tar::EntryType::Link {
                let l = dest.join(inside(
                    &link.to_string_lossy(),
                    "a hard link in the archive",
                )?);
                h.set_link_name(&l).map_err(|e| io(src, e))?;
            }
        }
        sum.update(format!("{} {:?}\n", to.display(), h.as_bytes()).as_bytes());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| io(src, e))?;
        sum.update(&data);
        tar.append_data(&mut h, &to, data.as_slice())
            .map_err(|e| io(out, e))?;
        files += 1;
    }
    tar.into_inner()
        .and_then(|mut f| std::io::Write::flush(&mut f))
        .map_err(|e| io(out, e))?;
    let checksum = crate::stages::export::stream::hex(&sum.finalize());
    Ok(Written { checksum, files })
}

/// A reader that adds what it reads to a checksum.
struct Hashing<'a, R> {
    inner: R,
    sum: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }
}

/// Whether ADD unpacks this source: a tar or gzip archive by its name.
pub fn is_archive(name: &str) -> bool {
    [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let i = Ignore(vec![
            (true, "*.log".into()),
            (true, "secret".into()),
            (true, "**/tmp".into()),
            (false, "keep.log".into()),
        ]);
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("keep.log"));
        assert!(!i.excludes("d/a.log"));
        assert!(i.excludes("secret/inner"));
        assert!(i.excludes("x/y/tmp/z"));
        assert!(!i.excludes("app.txt"));
    }

    #[test]
    fn paths_out_of_the_context_are_refused() {
        assert!(inside("../x", "s").is_err());
        assert!(inside("a/../../x", "s").is_err());
        assert_eq!(inside("/a/./b/../c", "s").unwrap(), PathBuf::from("a/c"));
    }
}

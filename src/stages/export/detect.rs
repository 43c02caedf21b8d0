//! What a source is, told by its content, not its name: a plain, gzip or zstd tar (a
//! `docker export`), a `docker save` archive (manifest.json), an OCI image layout (a
//! directory or a tar with oci-layout and index.json), a directory to copy, or the word
//! `busybox`. Only reads: nothing is written here.

use super::stream::Compression;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where an image's files (manifest, configs, layer blobs) are read from.
pub enum Store {
    Dir(PathBuf),
    /// An uncompressed tar: each member's data offset and size.
    Tar {
        path: PathBuf,
        index: HashMap<String, (u64, u64)>,
    },
}

pub enum Source {
    Busybox,
    Directory(PathBuf),
    /// A root filesystem as one tar (what `docker export` writes).
    Tar {
        path: PathBuf,
        compression: Compression,
        size: u64,
    },
    DockerSave(Store),
    Oci(Store),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Busybox => {
                "the host's static busybox (a minimal root filesystem, no network needed)".into()
            }
            Source::Directory(p) => format!("the directory {} (copied)", p.display()),
            Source::Tar {
                path, compression, ..
            } => {
                format!(
                    "{} ({}), one root filesystem",
                    path.display(),
                    compression.name()
                )
            }
            Source::DockerSave(s) => format!(
                "{} (a docker save archive: manifest.json and layer tars)",
                s.shown()
            ),
            Source::Oci(s) => format!(
                "{} (an OCI image layout: index.json, manifests, blobs)",
                s.shown()
            ),
        }
    }
}

fn norm(name: &str) -> String {
    name.trim_start_matches("./")
        .trim_end_matches('/')
        .to_string()
}

impl Store {
    pub fn shown(&self) -> String {
        match self {
            Store::Dir(p) => p.display().to_string(),
            Store::Tar { path, .. } => path.display().to_string(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        match self {
            Store::Dir(p) => p.join(norm(name)).is_file(),
            Store::Tar { index, .. } => index.contains_key(&norm(name)),
        }
    }

    /// Open a member. Names with `..` or absolute names are refused (a manifest names
    /// members of the archive, nothing else).
    pub fn open(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64)> {
        let n = norm(name);
        if n.starts_with('/') || n.split('/').any(|c| c == "..") || n.is_empty() {
            return Err(Error::new(
                format!("the image names {name:?} as one of its files, which is outside the image"),
                "this image is damaged or hostile; use one you trust",
            ));
        }
        let missing = || {
            Error::new(
                format!(
                    "the image lists {name:?} but {} does not hold it: a layer or blob is missing",
                    self.shown()
                ),
                "the image is incomplete; save or copy it again",
            )
        };
        match self {
            Store::Dir(p) => {
                let path = p.join(&n);
                let f = std::fs::File::open(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        missing()
                    } else {
                        Error::io(
                            format!("cannot open {}", path.display()),
                            &e,
                            "check its permissions",
                        )
                    }
                })?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                Ok((Box::new(f), len))
            }
            Store::Tar { path, index } => {
                let &(off, len) = index.get(&n).ok_or_else(missing)?;
                let mut f = std::fs::File::open(path).map_err(|e| {
                    Error::io(
                        format!("cannot open {}", path.display()),
                        &e,
                        "check its permissions",
                    )
                })?;
                f.seek(SeekFrom::Start(off)).map_err(|e| {
                    Error::io(
                        format!("cannot read {}", path.display()),
                        &e,
                        "check the file",
                    )
                })?;
                Ok((Box::new(f.take(len)), len))
            }
        }
    }

    /// A small member (a manifest, a config) read whole.
    pub fn read_all(&self, name: &str) -> Result<Vec<u8>> {
        let (mut r, len) = self.open(name)?;
        if len > 64 << 20 {
            return Err(Error::new(
                format!("the image's {name} is larger than 64 MiB"),
                "this is not an image manifest or config",
            ));
        }
        let mut v = Vec::with_capacity(len as usize);
        r.read_to_end(&mut v)
            .map_err(|e| super::extract::read_error(name, &e))?;
        if (v.len() as u64) < len {
            return Err(Error::new(
                format!("{name} ends too early: the archive is truncated"),
                "copy the image again",
            ));
        }
        Ok(v)
    }
}

/// Whether a member name marks an image archive rather than a root filesystem.
fn image_marker(name: &str) -> bool {
    let n = norm(name);
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(
        n.as_str(),
        "manifest.json" | "index.json" | "oci-layout" | "repositories"
    ) || n.starts_with("blobs/")
        || n == "blobs"
        || hex64(n.split('/').next().unwrap_or(""))
        || n.strip_suffix(".json").is_some_and(hex64)
        || n.strip_suffix(".tar").is_some_and(hex64)
}

fn not_archive(path: &Path) -> Error {
    Error::new(
        format!("{} is not an archive glassbox knows: not a tar (plain, gzip or zstd), a docker save archive or an OCI image layout", path.display()),
        "give a tarball from `docker export` or `docker save`, an OCI layout, a directory, or the word busybox",
    )
}

/// Tell what `source` is.
pub fn detect(source: &str) -> Result<Source> {
    let path = PathBuf::from(source);
    if source == "busybox" && !path.exists() {
        return Ok(Source::Busybox);
    }
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::io(
            format!("cannot read the source {source}"),
            &e,
            "give an existing tarball, image layout or directory, or the word busybox",
        )
    })?;
    if meta.is_dir() {
        if path.join("oci-layout").is_file() && path.join("index.json").is_file() {
            return Ok(Source::Oci(Store::Dir(path)));
        }
        return Ok(Source::Directory(path));
    }
    let mut f = std::fs::File::open(&path)
        .map_err(|e| Error::io(format!("cannot open {source}"), &e, "check its permissions"))?;
    let mut head = vec![0u8; 512];
    let n = read_up_to(&mut f, &mut head)
        .map_err(|e| Error::io(format!("cannot read {source}"), &e, "check the file"))?;
    head.truncate(n);
    let compression = Compression::sniff(&head);
    if compression != Compression::None {
        // Peek into the decompressed stream: a tar header, and not an image archive.
        let f = std::fs::File::open(&path)
            .map_err(|e| Error::io(format!("cannot open {source}"), &e, "check its permissions"))?;
        let dec: Box<dyn Read> =
            match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
                _ => Box::new(zstd::stream::read::Decoder::new(f).map_err(|e| {
                    Error::io(format!("cannot read {source}"), &e, "check the file")
                })?),
            };
        let mut ar = tar::Archive::new(dec);
        let mut entries = ar.entries().map_err(|_| not_archive(&path))?;
        match entries.next() {
            Some(Ok(e)) => {
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                if image_marker(&name) {
                    return Err(Error::new(
                        format!("{source} is a compressed image archive (docker save or OCI) and glassbox reads those uncompressed"),
                        format!("decompress it first (gunzip -k {source} / zstd -d {source}) and export the .tar"),
                    ));
                }
            }
            Some(Err(e)) => return Err(super::extract::read_error(source, &e)),
            None => {}
        }
        return Ok(Source::Tar {
            path,
            compression,
            size: meta.len(),
        });
    }
    if n < 512 || !valid_tar_header(&head) {
        return Err(not_archive(&path));
    }
    // A plain tar: an image archive if its first members say so.
    f.seek(SeekFrom::Start(0)).ok();
    let mut ar = tar::Archive::new(&f);
    let mut looks_like_image = false;
    for e in ar
        .entries_with_seek()
        .map_err(|_| not_archive(&path))?
        .take(8)
    {
        let e = e.map_err(|e| super::extract::read_error(source, &e))?;
        if image_marker(&String::from_utf8_lossy(&e.path_bytes())) {
            looks_like_image = true;
            break;
        }
    }
    if !looks_like_image {
        return Ok(Source::Tar {
            path,
            compression,
            size: meta.len(),
        });
    }
    let store = index_tar(&path)?;
    if store.has("oci-layout") && store.has("index.json") && !store.has("manifest.json") {
        Ok(Source::Oci(store))
    } else if store.has("manifest.json") {
        Ok(Source::DockerSave(store))
    } else if store.has("index.json") {
        Ok(Source::Oci(store))
    } else {
        Ok(Source::Tar {
            path,
            compression,
            size: meta.len(),
        })
    }
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A tar header: "ustar" magic, or a v7 header whose checksum adds up.
fn valid_tar_header(h: &[u8]) -> bool {
    if &h[257..262] == b"ustar" {
        return true;
    }
    let field = std::str::from_utf8(&h[148..156]).unwrap_or("");
    let Ok(sum) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let computed: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                b as u32
            }
        })
        .sum();
    sum == computed && h[0] != 0
}

/// Index every member of an uncompressed tar (headers only: data is skipped by seeking).
fn index_tar(path: &Path) -> Result<Store> {
    let f = std::fs::File::open(path).map_err(|e| {
        Error::io(
            format!("cannot open {}", path.display()),
            &e,
            "check its permissions",
        )
    })?;
    let mut ar = tar::Archive::new(&f);
    let mut index = HashMap::new();
    for e in ar
        .entries_with_seek()
        .map_err(|e| super::extract::read_error(&path.display().to_string(), &e))?
    {
        let e = e.map_err(|e| super::extract::read_error(&path.display().to_string(), &e))?;
        let name = norm(&String::from_utf8_lossy(&e.path_bytes()));
        index.insert(name, (e.raw_file_position(), e.size()));
    }
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    for (name, &(off, len)) in &index {
        if off + len > total {
            return Err(Error::new(
                format!(
                    "{} ends inside its member {name}: the archive is truncated",
                    path.display()
                ),
                "save or copy the image again",
            ));
        }
    }
    Ok(Store::Tar {
        path: path.to_path_buf(),
        index,
    })
}

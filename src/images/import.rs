//! `glassbox import FILE|- NAME[:TAG]`: a root filesystem tar (plain, gzip or zstd — what
//! `docker export` or `tar c` makes) becomes a one-layer image, as docker import does.
//!
//! The file is read once to learn its two digests (of the bytes as given: the blob; of the
//! tar once decompressed: the layer's diff id), copied into the content store under the
//! first (checked again on the way), and unpacked like a pulled layer. stdin is first kept in
//! a temporary file of the store, since it can be read only once.

use crate::error::{Error, Result};
use crate::stages::export::config::ImageConfig;
use crate::stages::export::stream;
use crate::store::images::{self as store, History, ImageRecord};
use crate::store::{blobs, reference};
use crate::sys::Sys;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A copy of stdin, removed when done.
struct Spool(Option<PathBuf>);

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn ioerr(what: String) -> impl Fn(std::io::Error) -> Error {
    move |e| {
        Error::io(
            what.clone(),
            &e,
            "check the file and that the data directory has room",
        )
    }
}

pub fn main(a: &crate::cli::ImportArgs, sys: &Sys) -> Result<i32> {
    super::need_root("import")?;
    let name = reference::parse(&a.name)?;
    let mut spool = Spool(None);
    let file: PathBuf = if a.file == "-" {
        let dir = blobs::dir();
        store::make_dirs(&dir)?;
        let p = dir.join(format!(".tmp-import-{}", std::process::id()));
        spool.0 = Some(p.clone());
        let mut f =
            std::fs::File::create(&p).map_err(ioerr(format!("cannot write {}", p.display())))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut f)
            .map_err(ioerr("cannot read the tar from stdin".into()))?;
        p
    } else {
        PathBuf::from(&a.file)
    };
    sys.narrator.stage(
        "import",
        &format!(
            "{}: one tar of a whole root filesystem becomes a one-layer image named {name}",
            a.file
        ),
    );
    let (digest, diff_id, size) = digests(&file)?;
    sys.narrator.note(&format!(
        "the tar's blob is {digest} ({size} bytes); uncompressed, its diff id is {diff_id}"
    ));
    let mut f =
        std::fs::File::open(&file).map_err(ioerr(format!("cannot read {}", file.display())))?;
    if blobs::path(&digest)?.is_none() {
        blobs::write(&digest, size, &mut f, "the imported tar")?;
    }
    let (layer, _) = super::unpack::unpack(sys, &digest, std::slice::from_ref(&diff_id))?;
    let now = crate::store::now();
    let blob = store::config_blob(
        &ImageConfig::default(),
        vec![diff_id],
        vec![History {
            created: store::rfc3339(now),
            created_by: format!("glassbox import {}", a.file),
            comment: Some("a whole root filesystem, as one layer".into()),
            empty_layer: false,
        }],
        now,
        None,
    );
    let bytes = blob.to_bytes();
    let id = store::sha256_hex(&bytes);
    let _lock = store::lock()?;
    if store::list().iter().all(|i| i.id != id) {
        let rec = ImageRecord {
            id: id.clone(),
            names: Vec::new(),
            layers: vec![layer],
            created: now,
            parent: None,
            blobs: vec![format!("sha256:{id}")],
        };
        store::write(&rec, &bytes)?;
    }
    if let Some(from) = store::tag(&id, &name)? {
        sys.narrator.note(&format!(
            "the name {name} moved here from image {}",
            from.short_id()
        ));
    }
    crate::outln!("sha256:{id}");
    Ok(0)
}

/// The sha256 of the file and of its tar once decompressed, and the file's size.
fn digests(file: &Path) -> Result<(String, String, u64)> {
    let what = file.display().to_string();
    let f = std::fs::File::open(file).map_err(ioerr(format!("cannot read {what}")))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let want = stream::Want {
        blob: true,
        tar: true,
    };
    let mut s = stream::LayerStream::new(Box::new(f), None, want)
        .map_err(|e| crate::stages::export::extract::read_error(&what, &e))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(crate::stages::export::extract::read_error(&what, &e)),
        }
    }
    let (blob, tar) = s.finish(&what)?;
    Ok((blob.unwrap_or_default(), tar.unwrap_or_default(), size))
}

//! A directory as the source: its tree copied through the same root-scoped calls as an
//! archive (owners, modes, times, symlinks, hardlinks kept; sockets skipped).

use super::extract::{Data, Extractor, Meta};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

pub fn copy(ex: &mut Extractor, src: &Path) -> Result<()> {
    let mut seen: HashMap<(u64, u64), String> = HashMap::new();
    walk(ex, src, "", &mut seen)?;
    ex.finish_dirs()
}

fn walk(
    ex: &mut Extractor,
    dir: &Path,
    rel: &str,
    seen: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::io(
            format!("cannot list {}", dir.display()),
            &e,
            "check its permissions",
        )
    })?;
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for os in names {
        super::check_interrupted()?;
        let Some(n) = os.to_str() else {
            return Err(Error::new(
                format!("{} holds a name that is not UTF-8", dir.display()),
                "rename it",
            ));
        };
        let path = dir.join(n);
        let name = if rel.is_empty() {
            n.to_string()
        } else {
            format!("{rel}/{n}")
        };
        let m = std::fs::symlink_metadata(&path).map_err(|e| {
            Error::io(
                format!("cannot read {}", path.display()),
                &e,
                "check its permissions",
            )
        })?;
        let meta = Meta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime(),
            xattrs: Vec::new(),
        };
        let ft = m.file_type();
        if ft.is_dir() {
            ex.entry(&name, '5', &meta, None, (0, 0), None, false)?;
            walk(ex, &path, &name, seen)?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&path).map_err(|e| {
                Error::io(format!("cannot read {}", path.display()), &e, "check it")
            })?;
            ex.entry(
                &name,
                '2',
                &meta,
                Some(&t.to_string_lossy()),
                (0, 0),
                None,
                false,
            )?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = seen.get(&(m.dev(), m.ino())) {
                    ex.entry(&name, '1', &meta, Some(&first.clone()), (0, 0), None, false)?;
                    continue;
                }
                seen.insert((m.dev(), m.ino()), name.clone());
            }
            let f = std::fs::File::open(&path).map_err(|e| {
                Error::io(
                    format!("cannot open {}", path.display()),
                    &e,
                    "check its permissions",
                )
            })?;
            let data = Data::Range {
                fd: f.as_raw_fd(),
                offset: 0,
                len: m.len(),
            };
            ex.entry(&name, '0', &meta, None, (0, 0), Some(data), false)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let k = if ft.is_char_device() {
                '3'
            } else if ft.is_block_device() {
                '4'
            } else {
                '6'
            };
            let rdev = m.rdev();
            ex.entry(
                &name,
                k,
                &meta,
                None,
                (libc::major(rdev), libc::minor(rdev)),
                None,
                false,
            )?;
        }
    }
    Ok(())
}

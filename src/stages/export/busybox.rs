//! The offline default rootfs: the host's static busybox, its applets linked, the few files
//! a shell expects in /etc, and empty mount points — made through the same root-scoped calls
//! as an extracted image. The same tree as rootfs-scripts/busybox.sh.

use super::extract::{Data, Extractor, Meta};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The host's busybox, checked to be statically linked (a dynamic one would not run inside
/// a rootfs without its libraries).
pub fn find() -> Result<PathBuf> {
    let path = ["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                "busybox is not installed on this host",
                "install a static busybox (Debian: apt-get install busybox-static), or give an image tarball",
            )
        })?;
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::io(
            format!("cannot read {}", path.display()),
            &e,
            "check its permissions",
        )
    })?;
    if !is_static_elf(&bytes) {
        return Err(Error::new(
            format!(
                "{} is dynamically linked: it would not run in a rootfs without its libraries",
                path.display()
            ),
            "install the static build (Debian: apt-get install busybox-static)",
        ));
    }
    Ok(path)
}

/// An ELF with no PT_INTERP program header (no dynamic loader) is static.
fn is_static_elf(b: &[u8]) -> bool {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16at(0x36), u16at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= b.len() && u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) != 3
    })
}

/// The applets busybox offers (`busybox --list`).
pub fn applets(bb: &PathBuf) -> Result<Vec<String>> {
    let out = std::process::Command::new(bb)
        .arg("--list")
        .output()
        .map_err(|e| {
            Error::io(
                format!("cannot run {} --list", bb.display()),
                &e,
                "check the busybox install",
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/') && *a != "." && *a != "..")
        .map(String::from)
        .collect())
}

pub fn make(ex: &mut Extractor) -> Result<()> {
    let bb = find()?;
    let names = applets(&bb)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let meta = |mode| Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime: now,
        ..Default::default()
    };
    for d in [
        "bin", "etc", "proc", "sys", "dev", "root", "usr", "usr/bin", "sbin",
    ] {
        ex.entry(d, '5', &meta(0o755), None, (0, 0), None, false)?;
    }
    ex.entry("tmp", '5', &meta(0o1777), None, (0, 0), None, false)?;
    let mut f = std::fs::File::open(&bb).map_err(|e| {
        Error::io(
            format!("cannot open {}", bb.display()),
            &e,
            "check its permissions",
        )
    })?;
    ex.entry(
        "bin/busybox",
        '0',
        &meta(0o755),
        None,
        (0, 0),
        Some(Data::Reader(&mut f)),
        false,
    )?;
    for a in &names {
        ex.entry(
            &format!("bin/{a}"),
            '2',
            &meta(0o777),
            Some("busybox"),
            (0, 0),
            None,
            false,
        )?;
    }
    for (name, text) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/hostname", "glassbox\n"),
    ] {
        let mut r = text.as_bytes();
        ex.entry(
            name,
            '0',
            &meta(0o644),
            None,
            (0, 0),
            Some(Data::Reader(&mut r)),
            false,
        )?;
    }
    ex.finish_dirs()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_script_is_not_a_static_elf() {
        assert!(!super::is_static_elf(b"#!/bin/sh\necho hi\n"));
    }
}

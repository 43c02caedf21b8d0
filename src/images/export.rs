//! `glassbox export CONTAINER -o FILE`: a container's filesystem as one tar (as docker export).
//!
//! What the container sees as `/` is an overlay: its own changes (the upper directory) over
//! its init layer and its image's layers. The tar must hold that merged view — a file the
//! container deleted left out, one it changed in its new form — and not any layer alone. So
//! glassbox mounts the same layers once more, read-only (every one of them a lower layer,
//! the container's changes topmost), in a mount namespace of its own, where the mount ends
//! with the process and the host never sees it; then it writes that tree as a tar. The
//! overlay itself applies the whiteouts and opaque directories, as in the container.
//!
//! `glassbox export IMAGE DIR` meant the reverse (an image unpacked into a directory); that
//! is `glassbox unpack` now, and the old spelling, told apart by its DIR, still works.

use super::layer;
use crate::cli::ExportArgs;
use crate::error::{Error, Result};
use crate::store::containers::{self, Container};
use crate::sys::mount::MountArgs;
use crate::sys::Sys;
use std::path::{Path, PathBuf};

pub fn main(a: &ExportArgs, sys: &Sys) -> Result<i32> {
    if a.dir.is_some() || a.inspect {
        sys.narrator.note(
            "`glassbox export IMAGE DIR` is now `glassbox unpack IMAGE DIR` (the old spelling works for a while)",
        );
        return crate::stages::export::main(&a.unpack_spec(), sys);
    }
    super::need_root("export")?;
    let c = containers::find(&a.source).map_err(|mut e| {
        e.todo = format!(
            "give a container (glassbox ps -a lists them); to unpack an image into a directory: glassbox unpack {} DIR",
            a.source
        );
        e
    })?;
    let target = match &a.output {
        Some(p) => Some(super::save::check_output(p)?),
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                return Err(Error::usage(
                    "refusing to write a container's filesystem to a terminal",
                    "give -o FILE, or redirect stdout: glassbox export CONTAINER > FILE",
                )
                .with_code(1));
            }
            None
        }
    };
    let n = sys.narrator;
    n.stage(
        "export",
        &format!(
            "container {}'s filesystem as a tar: its image's layers and its own changes, seen as one tree",
            c.name()
        ),
    );
    let root = merged_view(sys, &c)?;
    sys.compound(
        "",
        || {
            let mut write = |w: &mut dyn std::io::Write| layer::write_tar(&root, w).map(drop);
            match target {
                Some(file) => super::save::to_file(sys, &file, &mut write)?,
                None => {
                    let mut out =
                        std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                    write(&mut out)?;
                    std::io::Write::flush(&mut out).map_err(|e| {
                        Error::io(
                            "cannot write the tar to stdout",
                            &e,
                            "check the pipe's reader",
                        )
                    })?;
                }
            }
            Ok(0)
        },
        || {
            n.note("dry run: nothing written");
            0
        },
    )
}

/// The directory that shows the container's files as it sees them.
fn merged_view(sys: &Sys, c: &Container) -> Result<PathBuf> {
    // --no-overlay: the container's private copy is that view already.
    let copy = c.dir.join("rootfs");
    if copy.is_dir() {
        return Ok(copy);
    }
    sys.unshare(
        libc::CLONE_NEWNS,
        "a mount namespace of glassbox's own: the view mounted next ends with this process, and the host never sees it",
    )?;
    crate::stages::unshare::make_mounts_private(sys)?;
    let target = c.dir.join("merged");
    let data = options(c);
    sys.mount(
        &MountArgs {
            source: Some("overlay"),
            target: &target,
            fstype: Some("overlay"),
            flags: libc::MS_RDONLY,
            data: Some(&data),
        },
        "the container's layers once more, all read-only (its changes topmost): the overlay hides what it deleted, as the container sees it",
        &format!("mount -t overlay overlay -o ro,{data} {}", target.display()),
    )?;
    Ok(target)
}

/// Every layer a lower one, the container's changes first: an overlay with no upper
/// directory is read-only, and may share its layers with the running container's.
fn options(c: &Container) -> String {
    let mut lowers: Vec<PathBuf> = vec![c.upper()];
    lowers.extend(c.lowers());
    let list: Vec<String> = lowers.iter().map(|p: &PathBuf| show(p)).collect();
    let userxattr = if c.opaque_xattr().starts_with("user.") {
        "userxattr,"
    } else {
        ""
    };
    format!("{userxattr}lowerdir={}", list.join(":"))
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

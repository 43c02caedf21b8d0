//! `glassbox rename OLD NEW`: another name for a container, running or not (as docker
//! rename). Only glassbox's index of names and the container's record change; the kernel
//! knows the container by its id (its cgroups are gb-ID), so nothing of it is touched.

use crate::cli::RenameArgs;
use crate::error::{Error, Result};
use crate::store::containers::{find, Container};
use crate::sys::Sys;

pub fn main(a: &RenameArgs, sys: &Sys) -> Result<i32> {
    crate::store::need_root("rename")?;
    let c = find(&a.old).map_err(|e| e.with_code(1))?;
    if c.name() == a.new {
        return Err(Error::usage(
            format!("container {} already has that name", c.name()),
            "give a new name",
        )
        .with_code(1));
    }
    sys.narrator
        .stage("rename", &format!("container {} to {}", c.name(), a.new));
    let _lock = c.lock()?;
    let (old, linked) = crate::store::containers::rename(&c, &a.new)?;
    rename_in_bundle(&c, &a.new)?;
    let old = match (linked, crate::store::containers::generated_id(&old)) {
        (true, _) => format!("names/{old} removed"),
        (false, Some(id)) if id == c.id() => {
            format!("{old} was made from its id and had no link")
        }
        (false, _) => format!("{old} had no link to remove"),
    };
    sys.narrator
        .note(&format!("names/{} -> {} made, {old}", a.new, c.id()));
    Ok(0)
}

/// The name in the container's config.json too (its org.glassbox.name annotation), so the
/// bundle says what ps says. A container from before bundles has none to change.
fn rename_in_bundle(c: &Container, new: &str) -> Result<()> {
    if c.bundle_config().is_err() {
        return Ok(());
    }
    let mut spec = crate::spec::file::read(&c.dir)?;
    let mut notes = spec.annotations().clone().unwrap_or_default();
    notes.insert(crate::spec::annotation::NAME.into(), new.into());
    spec.set_annotations(Some(notes));
    crate::spec::file::write(&c.dir, &spec)
}

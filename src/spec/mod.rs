//! A container as an OCI runtime spec: the `config.json` that docker writes for runc.
//!
//! `run` settles a [`Plan`](crate::run::Plan); this module says the same plan in the
//! runtime spec's words (the oci-spec crate's types), so the boundary docker and runc draw
//! between an engine and a runtime is visible: `glassbox run --dry-run` prints it, and each
//! container's directory is an OCI bundle (`config.json` beside its root filesystem) that
//! real `runc run --bundle DIR` can run. [`build`] says a plan as a spec, [`read`] says a spec
//! as a plan again: `run`, `start` and `exec` execute the plan read back from config.json, so
//! the file is what runs.
//!
//! What the spec cannot say goes under `annotations` as `org.glassbox.*`: the network
//! glassbox wires (runc gets an empty network namespace, loopback down), published ports, the
//! stages that are on, and the overlay a container's root is: glassbox mounts it only while
//! it runs the container, so `root.path` is the empty mount point `merged` and the overlay's
//! options are recorded for whoever runs the bundle (mount them there first, as containerd's
//! snapshotter does for runc). A `--no-overlay` container's root is its `rootfs` copy, usable
//! as it is.

pub mod annotation;
pub mod build;
pub mod file;
pub mod read;

pub use build::build;
pub use file::CONFIG;
pub use read::plan as from_spec;

#[cfg(test)]
mod tests;

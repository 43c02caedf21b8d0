//! A pulled image's layers are unpacked on first use, not by `pull` (as containerd's content
//! store and snapshotter are separate): `pull` fetches and checks the blobs and records the
//! image; whatever stacks the image (run, create, build FROM) comes here first, and each
//! layer the store lacks is unpacked from its blob, once, by its chain id.

use super::unpack::{self, Job, Source};
use crate::error::{Error, Result};
use crate::store::blobs;
use crate::store::images::{self as store, ImageRecord};
use crate::sys::Sys;

/// Make sure every layer of `rec` is unpacked; returns the record with the sizes the
/// unpacking measured (saved to the store too).
pub fn ensure(sys: &Sys, rec: ImageRecord) -> Result<ImageRecord> {
    let lacking: Vec<usize> = (0..rec.layers.len())
        .filter(|&i| !rec.layers[i].dir.is_dir() || rec.layers[i].tar_size == 0)
        .collect();
    if lacking.is_empty() {
        return Ok(rec);
    }
    let shown = rec.clone();
    sys.compound_or(
        "",
        || unpack_now(sys, rec, &lacking),
        || {
            sys.narrator.note(&format!(
                "dry run: {} layer(s) of {} would be unpacked now, on first use",
                lacking.len(),
                shown.shown()
            ));
            Ok(shown.clone())
        },
    )
}

/// The layers `lacking` (positions in `rec`) unpacked, and the record saved.
fn unpack_now(sys: &Sys, rec: ImageRecord, lacking: &[usize]) -> Result<ImageRecord> {
    let ids =
        |i: usize| -> Vec<String> { rec.layers[..=i].iter().map(|l| l.diff_id.clone()).collect() };
    let mut jobs = Vec::new();
    let mut fresh = Vec::new();
    for &i in lacking {
        let l = &rec.layers[i];
        if let Some(shared) = unpack::stored(&ids(i))? {
            fresh.push((i, shared)); // another image's use unpacked it already
            continue;
        }
        let Some(path) = l.blob.as_deref().map(blobs::path).transpose()?.flatten() else {
            return Err(Error::new(
                format!(
                    "image {} is damaged: its layer {} is missing",
                    rec.shown(),
                    l.dir.display()
                ),
                format!(
                    "remove it (glassbox rmi -f {}) and make it again",
                    rec.short_id()
                ),
            ));
        };
        let blob = l.blob.clone().expect("checked");
        sys.narrator.note(&format!(
            "layer {}: unpacked on first use, from {}",
            unpack::short(&blob),
            path.display()
        ));
        jobs.push((
            i,
            Job {
                size: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                blob,
                diff_ids: ids(i),
                source: Source::Store,
            },
        ));
    }
    let (at, jobs): (Vec<usize>, Vec<Job>) = jobs.into_iter().unzip();
    if !jobs.is_empty() {
        fresh.extend(at.into_iter().zip(unpack::unpack_all(sys, jobs)?));
    }
    // The record again, under the lock: another use may have saved it meanwhile.
    let _lock = store::lock()?;
    let mut now = store::find(&rec.id)?.unwrap_or(rec);
    for (i, mut layer) in fresh {
        if layer.blob.is_none() {
            layer.blob = now.layers[i].blob.clone();
        }
        now.layers[i] = layer;
    }
    store::save(&now)?;
    Ok(now)
}

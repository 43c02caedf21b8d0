//! Who waits for the end of a container whose record goes with it (`--rm`).
//!
//! `glassbox wait` reads the exit code from the container's state.json once its supervisor
//! has recorded the end; a `--rm` container's supervisor removes that record a moment
//! later. So a wait first leaves word: a directory `$STATE/waiting/ID/PID`, journaled as
//! any temporary directory is (`cleanup` removes it if the wait is killed). Before it
//! removes the container, the supervisor writes the exit code into `code` in each such
//! directory, whole (a rename); the wait reads it there, then removes its directory.
//! A supervisor with no waiter pays one failed open.

use crate::error::{Error, Result};
use crate::journal::{state_dir, Journal, Resource};
use std::path::{Path, PathBuf};

fn waiting_dir() -> PathBuf {
    state_dir().join("waiting")
}

/// One wait's word, removed (and its journal entry struck) when dropped.
pub struct Waiting {
    path: PathBuf,
    journal: Journal,
    entry: String,
}

/// Leave word that this process waits for container `id`'s exit code.
pub fn register(id: &str) -> Result<Waiting> {
    register_in(&waiting_dir(), Journal::open()?, id)
}

fn register_in(waiting: &Path, journal: Journal, id: &str) -> Result<Waiting> {
    let path = waiting.join(id).join(crate::sys::quiet::pid().to_string());
    let entry = journal.record(Resource::Dir { path: path.clone() })?;
    // The last wait out removes the container's directory (below): made again if that
    // happened between the two mkdirs.
    let made = std::fs::create_dir_all(&path).or_else(|_| std::fs::create_dir_all(&path));
    if let Err(e) = made {
        journal.strike(&entry);
        return Err(Error::io(
            format!("cannot create {}", path.display()),
            &e,
            "check that glassbox's state directory is writable and not full",
        ));
    }
    Ok(Waiting {
        path,
        journal,
        entry,
    })
}

impl Waiting {
    /// The exit code the supervisor left here, if it has.
    pub fn code(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.path.join("code")).ok()?;
        text.trim().parse().ok()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.path).is_ok() {
            self.journal.strike(&self.entry);
        }
        // The last wait out takes the container's directory with it (ENOTEMPTY otherwise).
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// In the supervisor of container `id`, its end recorded and its removal next: the exit
/// code for every wait that left word.
pub fn tell(id: &str, code: i32) {
    tell_in(&waiting_dir(), id, code)
}

fn tell_in(waiting: &Path, id: &str, code: i32) {
    let Ok(waits) = std::fs::read_dir(waiting.join(id)) else {
        return;
    };
    for w in waits.flatten() {
        let _ = super::rewrite_whole(&w.path().join("code"), format!("{code}\n").as_bytes());
    }
}

/// For `cleanup`: the containers' directories of waits that are gone (their own entries
/// removed what was in them). Returns the directories removed.
pub fn remove_empty() -> Vec<PathBuf> {
    remove_empty_in(&waiting_dir())
}

fn remove_empty_in(waiting: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(waiting)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| std::fs::remove_dir(d).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_reads_the_code_its_container_left_and_leaves_nothing() {
        let state = tempfile::tempdir().unwrap();
        let waiting = state.path().join("waiting");
        let journal = || Journal::at(&state.path().join("journal")).unwrap();
        let w = register_in(&waiting, journal(), "c1").unwrap();
        assert_eq!(w.code(), None, "nothing told yet");
        assert_eq!(journal().entries().len(), 1, "the word is journaled");
        tell_in(&waiting, "c1", 42);
        tell_in(&waiting, "c2", 1);
        assert_eq!(w.code(), Some(42));
        assert!(
            !waiting.join("c2").exists(),
            "nobody waits for c2: nothing written"
        );
        drop(w);
        assert!(journal().entries().is_empty(), "its entry struck");
        assert!(!waiting.join("c1").exists(), "gone with the last wait");
        // A wait killed before it removed its word: cleanup removes the directory (the
        // journal entry), then the container's, empty by then.
        let killed = register_in(&waiting, journal(), "c3").unwrap();
        let path = killed.path().to_path_buf();
        std::mem::forget(killed);
        std::fs::remove_dir_all(&path).unwrap();
        assert_eq!(remove_empty_in(&waiting), vec![waiting.join("c3")]);
    }
}

//! What the processes of one run share about their narration, in a shared anonymous
//! mapping: it survives fork and clone (without CLONE_VM) as the *same* memory, so the
//! container's child and the parent that waits for it see one copy.
//!
//! - which catalog entries were explained already, so `-v` explains each one once a run;
//! - which process is writing a line the others must not cut into (the parent narrating the
//!   call that let a child go, while the child already runs).

use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

pub struct Shared {
    base: *mut libc::c_void,
    size: usize,
    entries: usize,
}

/// Room for this many catalog entries' flags: the rest of one page. A fixed size, so that
/// making the mapping does not parse the catalog (a third of a millisecond in every glassbox
/// process, -q ones included); a unit test checks the catalog fits.
const FLAGS: usize = 4096 - 4;

impl Shared {
    /// None when the mapping cannot be made: then each process explains on its own, and
    /// lines are kept whole as before.
    pub fn new() -> Option<Self> {
        let entries = FLAGS;
        let size = 4 + entries;
        // The narrator's own bookkeeping, like its writes to stderr: not a call of a stage.
        crate::sys::own::map_shared(size).map(|base| Shared {
            base,
            size,
            entries,
        })
    }

    /// The pid of the process whose line must not be cut into, or 0.
    fn holder(&self) -> &AtomicI32 {
        // SAFETY: the mapping is page-aligned and at least 4 bytes long, for the process's life.
        unsafe { &*self.base.cast::<AtomicI32>() }
    }

    /// True for the first caller (in any process of the run) that asks about entry `i`.
    pub fn first_time(&self, i: usize) -> bool {
        if i >= self.entries {
            return true;
        }
        // SAFETY: bytes 4.. are the `entries` flags, inside the mapping.
        let b = unsafe { &*self.base.cast::<u8>().add(4 + i).cast::<AtomicU8>() };
        b.swap(1, Ordering::Relaxed) == 0
    }

    /// Run `f` (which narrates) while the other processes of the run wait to narrate.
    pub fn holding<T>(&self, f: impl FnOnce() -> T) -> T {
        self.holder()
            .store(crate::sys::quiet::pid() as i32, Ordering::SeqCst);
        let out = f();
        self.holder().store(0, Ordering::SeqCst);
        out
    }

    /// Before writing: wait while another process holds the narration (a line at most; a
    /// second at worst, should that process die holding it).
    pub fn wait_turn(&self) {
        let start = Instant::now();
        loop {
            let h = self.holder().load(Ordering::SeqCst);
            if h == 0
                || h == crate::sys::quiet::pid() as i32
                || start.elapsed() > Duration::from_secs(1)
            {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, dropped with its last user.
        unsafe { crate::sys::own::unmap(self.base, self.size) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_fits_in_the_shared_flags() {
        assert!(super::super::catalog::entries().len() <= super::FLAGS);
    }
}

//! Which catalog entries a run has explained already, so `-v` explains each one once.
//!
//! The set lives in a shared anonymous mapping: it survives fork and clone (without
//! CLONE_VM) as the *same* memory, so the container's child and the parent that waits for
//! it share one set, and an entry the child explained is not explained again by the parent.

use std::sync::atomic::{AtomicU8, Ordering};

/// One byte per catalog entry: 1 once explained.
pub struct Explained {
    bytes: *const AtomicU8,
    len: usize,
}

impl Explained {
    pub fn new() -> Self {
        let len = super::catalog::entries().len().max(1);
        // The narrator's own bookkeeping, like its writes to stderr: not a call of a stage.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            // Without the mapping each process keeps a set of its own: still explained once
            // a process, never lost.
            let own: Box<[AtomicU8]> = (0..len).map(|_| AtomicU8::new(0)).collect();
            return Explained {
                bytes: Box::leak(own).as_ptr(),
                len,
            };
        }
        Explained {
            bytes: p.cast(),
            len,
        }
    }

    /// True for the first caller (in any process of the run) that asks about entry `i`.
    pub fn first_time(&self, i: usize) -> bool {
        if i >= self.len {
            return true;
        }
        // SAFETY: `bytes` points at `len` bytes that live as long as the process.
        let b = unsafe { &*self.bytes.add(i) };
        b.swap(1, Ordering::Relaxed) == 0
    }
}

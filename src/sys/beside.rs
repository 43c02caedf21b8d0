//! Work that nobody watches, done on a thread beside the caller's own: under `-q` without
//! `--trace` no line can show it out of order, so a slow kernel call (making a network
//! namespace) need not hold up the rest. Watched, the caller takes its one-thing-at-a-time
//! way, whose calls show in order (for the namespace: the child is cloned into a new one).

use super::Sys;
use crate::error::Result;
use crate::narrate::Narrator;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads working beside the caller now. A fork by raw clone(2) copies only the calling
/// thread: a lock another thread holds (malloc's) would stay held in the child for good.
static WORKING: AtomicUsize = AtomicUsize::new(0);

/// Before a fork: no thread may be working beside (a bug in the caller if one is).
pub(super) fn before_fork() {
    debug_assert_eq!(
        WORKING.load(Ordering::SeqCst),
        0,
        "a fork while a thread works beside: wait for its result first"
    );
}

/// A result a thread is making beside the caller. It counts as working until joined: a
/// thread's own end (glibc's teardown takes malloc's lock) comes after its work returns.
/// Dropped unread (an error on the caller's way), it is joined then.
pub struct Beside<T> {
    thread: Option<std::thread::JoinHandle<Result<T>>>,
}

impl<T> Beside<T> {
    /// Wait for the thread's result.
    pub fn ready(mut self) -> Result<T> {
        self.join().unwrap_or_else(|| {
            Err(crate::error::Error::new(
                "a thread working beside the container's start stopped unexpectedly",
                "run the command again; if it happens again, report it",
            ))
        })
    }

    /// Join the thread (once): its result, or None if it panicked or was joined already.
    fn join(&mut self) -> Option<Result<T>> {
        let thread = self.thread.take()?;
        let result = thread.join().ok();
        WORKING.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl<T> Drop for Beside<T> {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

impl Sys<'_> {
    /// Start `work` on a thread of its own with a narrator that says nothing, when this
    /// one neither shows nor traces calls and calls are really made; `None` otherwise (the
    /// caller then takes its watched way).
    pub fn beside<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Sys) -> Result<T> + Send + 'static,
    ) -> Option<Beside<T>> {
        if self.narrator.tells_calls() || !self.kernel.makes_calls() {
            return None;
        }
        WORKING.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("beside".into())
            .spawn(move || {
                let quiet = Narrator::silent();
                work(&Sys::new(&quiet))
            });
        match spawned {
            Ok(handle) => {
                elsewhere(&handle);
                Some(Beside {
                    thread: Some(handle),
                })
            }
            Err(_) => {
                // Not started: the caller does the work in line.
                WORKING.fetch_sub(1, Ordering::SeqCst);
                None
            }
        }
    }
}

/// Keep a new thread off the caller's CPU: the scheduler tends to queue it behind the
/// caller, which then runs until it waits for the result — and nothing went beside it.
fn elsewhere<T>(thread: &std::thread::JoinHandle<T>) {
    use std::os::unix::thread::JoinHandleExt;
    unsafe {
        let here = libc::sched_getcpu();
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if here < 0 || libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        libc::CPU_CLR(here as usize, &mut allowed);
        if libc::CPU_COUNT(&allowed) > 0 {
            libc::pthread_setaffinity_np(thread.as_pthread_t(), size, &allowed);
        }
    }
}

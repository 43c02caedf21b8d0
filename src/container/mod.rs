//! The commands of containers that live on after `run` (ps, logs, exec, stop, start, rm,
//! kill, wait, rename, pause, unpause, restart, inspect, update, top, stats).
//! Their records and states are the store's (`crate::store::containers`); these commands
//! sit above `run`, whose composition `start` and `exec` reuse.

pub mod attach;
pub mod cgroup;
pub mod cp;
mod each;
pub mod exec;
pub mod inspect;
pub mod kill;
pub mod lifecycle;
pub mod logs;
pub mod pause;
pub mod port;
pub mod ps;
pub mod rename;
pub mod stats;
pub mod system;
pub mod template;
pub mod top;
pub mod update;
pub mod wait;

//! The commands of containers that live on after `run` (ps, logs, exec, stop, start, rm).
//! Their records and states are the store's (`crate::store::containers`); these commands
//! sit above `run`, whose composition `start` and `exec` reuse.

pub mod exec;
pub mod lifecycle;
pub mod logs;
pub mod ps;

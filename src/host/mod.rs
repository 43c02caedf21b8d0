//! Reading the host: mount table, cgroup layout, kernel settings. Read-only, never narrated
//! (it changes nothing); used by doctor, by the diagnoses and by the stages' plans.

pub mod cgroups;
pub mod mountinfo;

/// The first line of a small kernel file, trimmed; None when it cannot be read.
pub fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
}

/// Whether this process has an effective uid of 0.
pub fn is_root() -> bool {
    crate::sys::quiet::is_root()
}

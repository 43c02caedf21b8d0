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

/// Whether glassbox runs as an ordinary user (rootless: its own data and state directories,
/// containers in a user namespace it makes). Settled at the first call, which `dispatch`
/// makes: a forked child that becomes root of a user namespace still counts as rootless.
pub fn rootless() -> bool {
    static ROOTLESS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOTLESS.get_or_init(|| !is_root())
}

/// An environment variable that names an absolute directory (XDG's rule: a relative one is
/// ignored).
pub fn env_dir(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os(name)
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
}

//! Reading the host: mount table, cgroup layout, kernel settings. Read-only, never narrated
//! (it changes nothing); used by doctor, by the diagnoses and by the stages' plans.

pub mod cgroups;
pub mod mountinfo;

/// A small kernel file (/proc, /sys, cgroupfs) whole, as text: open, one read, one more for
/// the end, close. Such files say their size is 0, so `fs::read_to_string` first asks
/// (statx, lseek) and then probes with 32-byte reads that double (8 reads for a 900-byte
/// mountinfo). Read through `take`, which gives no size hint, into an 8 KiB buffer.
pub fn read_small(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(8192);
    std::fs::File::open(path)?
        .take(u64::MAX)
        .read_to_end(&mut bytes)?;
    // Not always UTF-8: a process name in /proc/PID/stat is cut at 15 bytes, maybe inside a
    // character, and a mount point may be any bytes. Those bytes read as U+FFFD; the rest
    // of the file as it is.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The first line of a small kernel file, trimmed; None when it cannot be read.
pub fn read_trimmed(path: &str) -> Option<String> {
    read_small(path)
        .ok()
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
}

/// A capability set of this process (`CapEff`, `CapPrm`, `CapBnd`) from /proc/self/status;
/// None when it cannot be read.
pub fn own_caps(set: &str) -> Option<u64> {
    own_status(|s| caps_in(s, set))?
}

/// `f` of this process's /proc/self/status, read once while the process stays what it is
/// (see `sys::quiet::self_epoch`: a fork, or new credentials, capabilities or namespaces,
/// have it read again). None when it cannot be read.
pub fn own_status<T>(f: impl FnOnce(&str) -> T) -> Option<T> {
    let epoch = crate::sys::quiet::self_epoch();
    let mut own = own_facts();
    if own.status.as_ref().is_none_or(|(e, _)| *e != epoch) {
        own.status = Some((epoch, read_small("/proc/self/status").ok()));
    }
    own.status.as_ref()?.1.as_deref().map(f)
}

/// The inode of this process's namespace `kind` (`pid`, `net`, `user`, `mnt`: the file in
/// /proc/self/ns), looked at once while the process stays in the same namespace of that
/// kind (see `sys::quiet::ns_epoch`): a fork's child shares what its parent looked at of
/// the kinds it was not cloned into anew.
pub fn own_ns_inode(kind: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let epoch = crate::sys::quiet::ns_epoch(kind);
    let mut own = own_facts();
    if let Some(&(_, at, ino)) = own.ns.iter().find(|(k, _, _)| k == kind) {
        if at == epoch {
            return ino;
        }
    }
    let ino = std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .ok()
        .map(|m| m.ino());
    own.ns.retain(|(k, _, _)| k != kind);
    own.ns.push((kind.to_string(), epoch, ino));
    ino
}

/// What this process has read about itself, and when (its self epoch).
struct OwnFacts {
    status: Option<(u64, Option<String>)>,
    /// Each namespace kind looked at, in the epoch of that kind, and its inode.
    ns: Vec<(String, u64, Option<u64>)>,
}

fn own_facts() -> std::sync::MutexGuard<'static, OwnFacts> {
    static OWN: std::sync::Mutex<OwnFacts> = std::sync::Mutex::new(OwnFacts {
        status: None,
        ns: Vec::new(),
    });
    OWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The capability set `set` in the text of a /proc/PID/status: a hex mask, bit N for
/// capability N (capabilities(7)).
pub fn caps_in(status: &str, set: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(set)?.strip_prefix(':'))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
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

/// glassbox itself, to run as a child (bisect's tries, build's RUN steps).
pub fn glassbox_command() -> crate::error::Result<std::process::Command> {
    let exe = std::env::current_exe().map_err(|e| {
        crate::error::Error::io(
            "cannot find the glassbox binary",
            &e,
            "run glassbox by its full path",
        )
    })?;
    Ok(std::process::Command::new(exe))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_capability_set_is_read_from_its_own_line() {
        let status = "Name:\tsh\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
                      CapEff:\t0000000000200000\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(super::caps_in(status, "CapEff"), Some(1 << 21));
        assert_eq!(super::caps_in(status, "CapPrm"), Some(0xa80425fb));
        assert_eq!(super::caps_in(status, "CapBnd"), Some(0x1ff_ffff_ffff));
        assert_eq!(super::caps_in(status, "CapAmb"), None);
        assert_eq!(super::caps_in("CapEffX:\t1\n", "CapEff"), None);
    }

    #[test]
    fn a_kernel_file_that_is_not_utf8_is_still_read() {
        // As /proc/PID/stat shows a name cut inside a character, longer than one buffer.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        let mut text = b"42 (aaaaaaaaaaaaaa\xc3) S 1 ".to_vec();
        text.extend(std::iter::repeat_n(b'7', 9000));
        std::fs::write(&path, &text).unwrap();
        let read = super::read_small(&path).unwrap();
        assert!(
            read.starts_with("42 (aaaaaaaaaaaaaa\u{fffd}) S 1 7"),
            "{read:.40}"
        );
        assert_eq!(
            read.len(),
            text.len() + 2,
            "all of it, the bad byte as U+FFFD"
        );
    }
}

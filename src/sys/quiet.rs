//! The quiet part of the syscall layer: reads that change nothing on the host, so they are
//! not narrated — looking at files (fstatat, lstat, readlinkat, xattrs, a directory's
//! names) without ever following a link out of the tree, and asking the process and the
//! host what they are (euid, online CPUs, a filesystem's flags).

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::ffi::{CString, OsStr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn fail(what: String, errno: Errno) -> Error {
    Error::sys(
        what,
        errno,
        "check that the directory is there and readable (run as root)",
    )
}

/// Open a directory (a top-level one, by path) for reading, refusing a symlink.
pub fn open_dir_path(path: &Path) -> Result<OwnedFd> {
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(format!("{} holds a NUL byte", path.display()), "rename it"))?;
    let fd = unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(fail(
            format!("cannot open {}", path.display()),
            Errno::last(),
        ));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open `name` in `dir`: a directory with `O_DIRECTORY`, a file read-only; never a symlink.
pub fn open_at(dir: RawFd, name: &CString, directory: bool) -> std::result::Result<OwnedFd, Errno> {
    let flags = libc::O_RDONLY
        | libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | if directory {
            libc::O_DIRECTORY
        } else {
            libc::O_NONBLOCK
        };
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An xattr of `path` itself (not followed if it is a symlink); `None` when it has none
/// of that name (values up to 16 bytes: overlayfs's markers).
pub fn lget_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

/// An xattr of an open file or directory; `None` when it has none of that name.
pub fn get_xattr(fd: RawFd, name: &str) -> Option<Vec<u8>> {
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    loop {
        let r = unsafe { libc::fgetxattr(fd, n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Some(buf);
        }
        if Errno::last() == Errno::ERANGE && buf.len() < 1 << 16 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return None;
    }
}

/// The target of the symlink `name` in `dir`.
pub fn read_link_at(dir: RawFd, name: &CString) -> std::result::Result<PathBuf, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    let r = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return Err(Errno::last());
    }
    buf.truncate(r as usize);
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}

/// The names in an open directory, in byte order, without `.` and `..`.
pub fn names(dir: RawFd) -> std::result::Result<Vec<CString>, Errno> {
    // Dir takes the descriptor it is given: hand it a duplicate.
    let dup = unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(Errno::last());
    }
    let mut d = nix::dir::Dir::from_fd(unsafe { OwnedFd::from_raw_fd(dup) })?;
    let mut v: Vec<CString> = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            v.push(n.to_owned());
        }
    }
    v.sort();
    Ok(v)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, never what a link points to.
pub fn fstatat_nofollow(dir: RawFd, name: &CString) -> std::result::Result<libc::stat, Errno> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 {
        Ok(st)
    } else {
        Err(Errno::last())
    }
}

/// `lstat(2)`: `None` when there is nothing at `p`.
pub fn lstat(p: &Path) -> Option<libc::stat> {
    let c = CString::new(p.as_os_str().as_bytes()).ok()?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::lstat(c.as_ptr(), &mut st) } == 0).then_some(st)
}

/// fstat(2) of an open descriptor (an O_PATH one too).
pub fn fstat(fd: RawFd) -> Option<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
}

/// This process's permitted capabilities (capget(2): one call, where /proc/self/status
/// is an open, several reads and a close).
pub fn permitted_caps() -> Option<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit halves of each set.
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    (r == 0).then(|| data[0].permitted as u64 | (data[1].permitted as u64) << 32)
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The effective gid of this process.
pub fn egid() -> u32 {
    nix::unistd::getegid().as_raw()
}

/// The name of user `uid` in the user database (getpwuid_r), if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Whether this process may write to `p` (access(2) `W_OK`, with its real ids).
pub fn may_write(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    euid() == 0
}

/// Fill `buf` (at most 256 bytes) from the kernel's random pool with getrandom(2). Once the
/// pool is ready such a read is never cut short; a signal during the wait for it at boot
/// asks again.
pub fn random_bytes(buf: &mut [u8]) {
    while unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) } < 0
        && Errno::last() == Errno::EINTR
    {}
}

/// How many CPUs are online (at least 1).
pub fn online_cpus() -> u64 {
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

/// The `f_flag` bits (ST_NOSUID, ST_RDONLY, …) of the filesystem mounted at `path`.
pub fn statvfs_flags(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_flag)
}

/// The running kernel's release (`uname -r`), or "" when it cannot be read.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// This process's pid (getpid(2)), asked once: every fork goes through `Sys::gated`,
/// whose child calls [`forked`] and so asks again.
pub fn pid() -> u32 {
    use std::sync::atomic::Ordering;
    match PID.load(Ordering::Relaxed) {
        0 => {
            let p = std::process::id();
            PID.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static SELF_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The kinds of namespace, as /proc/self/ns names them, with the clone(2) flag that makes
/// a new one; each has an epoch of its own ([`NS_EPOCHS`]).
const NS_KINDS: [(&str, libc::c_int); 8] = [
    ("mnt", libc::CLONE_NEWNS),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("user", libc::CLONE_NEWUSER),
    ("pid", libc::CLONE_NEWPID),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
];
/// One epoch a kind, and one (the last) for a name not in [`NS_KINDS`].
static NS_EPOCHS: [std::sync::atomic::AtomicU64; NS_KINDS.len() + 1] =
    [const { std::sync::atomic::AtomicU64::new(0) }; NS_KINDS.len() + 1];

/// Changes whenever this process may have become someone else (a fork's child, new
/// credentials or capabilities): what was read of /proc/self/status holds while this
/// stays the same.
pub fn self_epoch() -> u64 {
    SELF_EPOCH.load(std::sync::atomic::Ordering::SeqCst)
}

/// Changes whenever this process may have moved to another namespace of `kind` (`pid`,
/// `net`… as /proc/self/ns names them): what was looked at in /proc/self/ns/KIND holds
/// while this stays the same.
pub fn ns_epoch(kind: &str) -> u64 {
    let at = NS_KINDS
        .iter()
        .position(|(k, _)| *k == kind)
        .unwrap_or(NS_KINDS.len());
    NS_EPOCHS[at].load(std::sync::atomic::Ordering::SeqCst)
}

/// This process changed its credentials or capabilities: read them again.
pub fn self_changed() {
    SELF_EPOCH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// This process joined or made namespaces of the kinds in `flags` (CLONE_NEW*; 0: of any
/// kind, as a setns(2) of a descriptor may be). A new user namespace also brings new
/// capabilities: `self_changed` too.
pub fn ns_changed(flags: libc::c_int) {
    for (i, (_, flag)) in NS_KINDS.iter().enumerate() {
        if flags == 0 || flags & flag != 0 {
            NS_EPOCHS[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    NS_EPOCHS[NS_KINDS.len()].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// In a fork's child, first thing: it has a pid of its own, and new namespaces of the
/// kinds in `ns_flags` (those it shares with its parent are what the parent looked at).
pub fn forked(ns_flags: libc::c_int) {
    PID.store(0, std::sync::atomic::Ordering::Relaxed);
    self_changed();
    if ns_flags != 0 {
        ns_changed(ns_flags);
    }
}

//! Privilege calls: prctl(PR_CAPBSET_DROP), capset(2), prctl(PR_CAP_AMBIENT),
//! prctl(PR_SET_KEEPCAPS), seccomp(2), close_range(2), and the id changes (setgroups(2),
//! setresgid(2), setresuid(2)).

use super::{check, render_flags, Sys};
use crate::error::Result;
use crate::narrate::Call;

/// Capability names by number, as strace and capabilities(7) name them.
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The name of capability `n`.
pub fn cap_name(n: u32) -> String {
    CAPS.get(n as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| n.to_string())
}

/// The number of a capability from its name, with or without `CAP_`, any case.
pub fn cap_number(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    CAPS.iter().position(|c| *c == full).map(|n| n as u32)
}

/// A capability set as strace shows it: `1<<CAP_CHOWN|1<<CAP_KILL`, or `0`.
pub fn render_caps(set: u64) -> String {
    let table: Vec<(u64, String)> = (0..64u32)
        .filter(|n| set & (1u64 << n) != 0)
        .map(|n| (1u64 << n, format!("1<<{}", cap_name(n))))
        .collect();
    let refs: Vec<(u64, &str)> = table.iter().map(|(b, s)| (*b, s.as_str())).collect();
    render_flags(set, &refs)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

impl Sys<'_> {
    /// prctl(PR_CAPBSET_DROP, cap): remove a capability from the bounding set for good.
    pub fn capbset_drop(&self, cap: u32, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "prctl",
                vec!["PR_CAPBSET_DROP".into(), cap_name(cap)],
                "prctl(2)",
                why,
            )
            .by_hand(format!(
                "capsh --drop={}",
                cap_name(cap).to_ascii_lowercase()
            ))
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) }
                    as libc::c_long,
            )
        })?;
        super::quiet::self_changed();
        Ok(())
    }

    /// capset(2): set this thread's effective, permitted and inheritable sets.
    pub fn capset(
        &self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
        why: &str,
    ) -> Result<()> {
        let call = || {
            Call::new(
                "capset",
                vec![
                    "{version=_LINUX_CAPABILITY_VERSION_3, pid=0}".into(),
                    format!(
                        "{{effective={}, permitted={}, inheritable={}}}",
                        render_caps(effective),
                        render_caps(permitted),
                        render_caps(inheritable)
                    ),
                ],
                "capset(2)",
                why,
            )
        };
        let mut hdr = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let split = |v: u64| [(v & 0xffff_ffff) as u32, (v >> 32) as u32];
        let (e, p, i) = (split(effective), split(permitted), split(inheritable));
        let data = [
            CapData {
                effective: e[0],
                permitted: p[0],
                inheritable: i[0],
            },
            CapData {
                effective: e[1],
                permitted: p[1],
                inheritable: i[1],
            },
        ];
        self.call_plain(call, || {
            check(unsafe {
                libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr())
            })
        })?;
        super::quiet::self_changed();
        Ok(())
    }

    /// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL): no capability survives execve by ambient.
    pub fn clear_ambient_caps(&self, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "prctl",
                vec![
                    "PR_CAP_AMBIENT".into(),
                    "PR_CAP_AMBIENT_CLEAR_ALL".into(),
                    "0".into(),
                    "0".into(),
                    "0".into(),
                ],
                "prctl(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL,
                    0,
                    0,
                    0,
                )
            } as libc::c_long)
        })?;
        super::quiet::self_changed();
        Ok(())
    }

    /// seccomp(SECCOMP_SET_MODE_FILTER): install a BPF filter that every later syscall passes.
    pub fn seccomp_filter(&self, program: &[libc::sock_filter], why: &str) -> Result<()> {
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        let call = || {
            Call::new(
                "seccomp",
                vec![
                    "SECCOMP_SET_MODE_FILTER".into(),
                    "0".into(),
                    format!("{{len={}, filter=...}}", program.len()),
                ],
                "seccomp(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                )
            })
        })?;
        Ok(())
    }

    /// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): every descriptor from `first` on closes at execve.
    pub fn cloexec_from(&self, first: u32, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "close_range",
                vec![
                    first.to_string(),
                    "4294967295".into(),
                    "CLOSE_RANGE_CLOEXEC".into(),
                ],
                "close_range(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    first,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            })
        })?;
        Ok(())
    }
}

/// The descriptors above stderr this process holds, but those in `keep`. Only looks
/// (/proc/self/fd), so it is not narrated.
fn open_fds_above_stderr(keep: &[i32]) -> Vec<i32> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is closed by now: F_GETFD tells which are still open.
    fds.into_iter()
        .filter(|&fd| fd > 2 && !keep.contains(&fd))
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .collect()
}

impl Sys<'_> {
    /// close_range(fd, fd, 0) for every descriptor inherited from whoever started glassbox
    /// (a shell's `exec 7</` leaves one open): closed before any step into a container, so
    /// that none can lead back to the host, through /proc/self/fd or from a process inside
    /// that looks at ours (runc's CVE-2024-21626).
    ///
    /// When nobody sees the calls (no lines shown, no trace file: the narrator holds no
    /// descriptor of its own), it is one close_range(3, ~0, 0) over every descriptor above
    /// stderr: listing /proc/self/fd first, only to name each one closed, costs more than
    /// the closing (~40 µs of a quiet run's start).
    pub fn close_inherited(&self, why: &str) -> Result<()> {
        let keep = self.narrator.own_fds();
        if !self.narrator.shows_lines() && keep.is_empty() {
            return self.close_from(3, None, why);
        }
        for fd in open_fds_above_stderr(&keep) {
            self.close_range(fd as u32, fd as u32, why)?;
        }
        Ok(())
    }

    /// close_range(first, last, 0): the descriptors numbered first to last closed.
    pub(super) fn close_range(&self, first: u32, last: u32, why: &str) -> Result<()> {
        let call = || {
            let call = Call::new(
                "close_range",
                vec![first.to_string(), last.to_string(), "0".into()],
                "close_range(2)",
                why,
            );
            match first == last {
                true => call.by_hand(format!("exec {first}<&-")),
                false => call,
            }
        };
        self.call_plain(call, || {
            check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) })
        })?;
        Ok(())
    }

    /// setgroups(2): the supplementary groups (none, for a container user).
    pub fn setgroups(&self, groups: &[u32], why: &str) -> Result<()> {
        let shown = format!(
            "[{}]",
            groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let call = || {
            Call::new(
                "setgroups",
                vec![groups.len().to_string(), shown],
                "setgroups(2)",
                why,
            )
        };
        let list: Vec<libc::gid_t> = groups.to_vec();
        self.call_plain(call, || {
            check(unsafe { libc::setgroups(list.len(), list.as_ptr()) } as libc::c_long)
        })?;
        super::quiet::self_changed();
        Ok(())
    }

    /// setresgid(2): real, effective and saved group id at once.
    pub fn setresgid(&self, gid: u32, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "setresgid",
                vec![gid.to_string(), gid.to_string(), gid.to_string()],
                "setresgid(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::setresgid(gid, gid, gid) } as libc::c_long)
        })?;
        super::quiet::self_changed();
        Ok(())
    }

    /// setresuid(2): real, effective and saved user id at once (capabilities go with uid 0).
    pub fn setresuid(&self, uid: u32, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "setresuid",
                vec![uid.to_string(), uid.to_string(), uid.to_string()],
                "setresuid(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::setresuid(uid, uid, uid) } as libc::c_long)
        })?;
        super::quiet::self_changed();
        Ok(())
    }
}

impl Sys<'_> {
    /// prctl(PR_SET_KEEPCAPS, on): whether the permitted capabilities survive a change of uid
    /// from 0 to another (the kernel clears the flag again at execve).
    pub fn set_keepcaps(&self, on: bool, why: &str) -> Result<()> {
        let v = u64::from(on);
        let call = || {
            Call::new(
                "prctl",
                vec!["PR_SET_KEEPCAPS".into(), v.to_string()],
                "prctl(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, v as libc::c_ulong, 0, 0, 0) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }
}

//! doctor's probes and verdicts, kept apart from the printing so they can be tested.
//!
//! [`Facts::gather`] reads the host (files under /proc and /sys, the mount table, PATH) and,
//! as root, tries an overlay mount in a throwaway mount namespace. [`evaluate`] turns those
//! facts into checks — pure, so tests can feed it mountinfo samples of v1, v2 and hybrid hosts.

pub use super::check::{Check, Status};
use crate::host::cgroups::{CgroupHost, Layout, CONTROLLERS};
use crate::host::mountinfo::{self, Mount};
use crate::sys::mount::MountArgs;
use crate::sys::process::{find_command, Forked};
use crate::sys::Sys;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Exit code of `glassbox doctor` when a requirement of `glassbox run` is missing.
pub const MISSING_REQUIREMENT: i32 = 1;

/// The namespace kinds as /proc/self/ns names them, whether `run` needs each, and the kernel
/// option behind it.
pub const NAMESPACES: &[(&str, bool, &str, &str)] = &[
    ("mnt", true, "CONFIG_NAMESPACES", "its own mount table"),
    ("uts", true, "CONFIG_UTS_NS", "its own hostname"),
    (
        "ipc",
        true,
        "CONFIG_IPC_NS",
        "its own System V IPC and POSIX queues",
    ),
    (
        "net",
        true,
        "CONFIG_NET_NS",
        "its own network devices, routes and ports",
    ),
    (
        "pid",
        true,
        "CONFIG_PID_NS",
        "its own process numbers, the command as PID 1",
    ),
    (
        "user",
        false,
        "CONFIG_USER_NS",
        "its own uids and gids (unshare --user)",
    ),
    (
        "cgroup",
        false,
        "CONFIG_CGROUPS",
        "its own view of the cgroup tree (unshare --cgroup)",
    ),
    (
        "time",
        false,
        "CONFIG_TIME_NS",
        "its own monotonic and boot clocks (unshare --time)",
    ),
];

/// How one probe mount went: `Ok`, or the errno name (or a reason it was not tried).
pub type Probe = std::result::Result<(), String>;

/// The overlay probe: a plain overlay, and an overlay whose lower layer is itself an overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayProbe {
    pub single: Probe,
    pub stacked: Probe,
}

/// The busybox found on PATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Busybox {
    pub path: PathBuf,
    /// Whether it is statically linked (no PT_INTERP); None when it is not a readable ELF.
    pub is_static: Option<bool>,
}

/// Everything doctor read from the host.
#[derive(Debug, Clone)]
pub struct Facts {
    pub euid: u32,
    /// The kernel release (uname -r).
    pub kernel: String,
    /// The entries of /proc/self/ns.
    pub namespaces: Vec<String>,
    pub max_user_namespaces: Option<u64>,
    /// Debian's kernel.unprivileged_userns_clone, when the kernel has it.
    pub unprivileged_userns_clone: Option<String>,
    /// Ubuntu's kernel.apparmor_restrict_unprivileged_userns, when the kernel has it.
    pub apparmor_restrict_userns: Option<String>,
    pub mounts: Vec<Mount>,
    pub cgroups: CgroupHost,
    /// Running under WSL2 (its kernel release or /proc/version says Microsoft).
    pub wsl: bool,
    /// The filesystem types in /proc/filesystems.
    pub filesystems: Vec<String>,
    /// The overlay mount probe; None when it was not tried (not root, or --dry-run).
    pub overlay: Option<OverlayProbe>,
    pub ip_forward: Option<String>,
    pub iptables: Option<PathBuf>,
    pub nft: Option<PathBuf>,
    pub busybox: Option<Busybox>,
    /// What an ordinary user needs to run containers (None as root).
    pub rootless: Option<super::rootless::Facts>,
}

/// The names in /proc/filesystems (`nodev\toverlay` → `overlay`).
pub fn parse_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(String::from)
        .collect()
}

/// Whether an ELF image asks for a program interpreter (PT_INTERP), i.e. is dynamically
/// linked — what `ldd` reports. None when the bytes are not an ELF file doctor can read.
/// A static-pie binary has no PT_INTERP and counts as static: it needs no loader or libc.
pub fn elf_is_dynamic(b: &[u8]) -> Option<bool> {
    if b.len() < 52 || &b[..4] != b"\x7fELF" {
        return None;
    }
    let le = match b[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u64> {
        let s: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        } as u64)
    };
    let u32_at = |o: usize| -> Option<u64> {
        let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        } as u64)
    };
    let u64_at = |o: usize| -> Option<u64> {
        let s: [u8; 8] = b.get(o..o + 8)?.try_into().ok()?;
        Some(if le {
            u64::from_le_bytes(s)
        } else {
            u64::from_be_bytes(s)
        })
    };
    // ELF header offsets of e_phoff, e_phentsize and e_phnum (elf(5)).
    let (phoff, entsize, num) = match b[4] {
        1 => (u32_at(0x1c)?, u16_at(0x2a)?, u16_at(0x2c)?),
        2 => (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?),
        _ => return None,
    };
    const PT_INTERP: u64 = 3;
    for i in 0..num {
        let at = usize::try_from(phoff + i * entsize).ok()?;
        if u32_at(at)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

fn read_u64(path: &str) -> Option<u64> {
    crate::host::read_trimmed(path)?.parse().ok()
}

impl Facts {
    /// Read this host. With `probe_sys`, also try overlay mounts (root only): in a forked
    /// child with its own mount namespace, made private, on a tmpfs that dies with it.
    pub fn gather(probe_sys: Option<&Sys>) -> Facts {
        let euid = crate::sys::quiet::euid();
        let kernel = crate::sys::quiet::kernel_release();
        let mut namespaces: Vec<String> = std::fs::read_dir("/proc/self/ns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        namespaces.sort();
        let version = std::fs::read_to_string("/proc/version").unwrap_or_default();
        let wsl = [&kernel, &version]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains("microsoft"));
        let filesystems =
            parse_filesystems(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default());
        let path_var = std::env::var("PATH").ok();
        let on_path = |tool: &str| {
            find_command(tool, Some(path_var.as_deref().unwrap_or(""))).filter(|p| p.is_file())
        };
        let busybox = on_path("busybox").map(|path| {
            let is_static = std::fs::read(&path)
                .ok()
                .and_then(|b| elf_is_dynamic(&b))
                .map(|dynamic| !dynamic);
            Busybox { path, is_static }
        });
        let cgroups = CgroupHost::current();
        let overlay = match probe_sys {
            Some(sys) if euid == 0 => sys.probe(|| probe_overlay(sys)),
            _ => None,
        };
        Facts {
            euid,
            kernel,
            namespaces,
            max_user_namespaces: read_u64("/proc/sys/user/max_user_namespaces"),
            unprivileged_userns_clone: crate::host::read_trimmed(
                "/proc/sys/kernel/unprivileged_userns_clone",
            ),
            apparmor_restrict_userns: crate::host::read_trimmed(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            ),
            mounts: mountinfo::current(),
            wsl,
            filesystems,
            overlay,
            ip_forward: crate::host::read_trimmed("/proc/sys/net/ipv4/ip_forward"),
            iptables: on_path("iptables"),
            nft: on_path("nft"),
            rootless: (euid != 0).then(|| super::rootless::Facts::gather(&cgroups)),
            cgroups,
            busybox,
        }
    }
}

/// Where the probe works: a tmpfs mounted on /tmp inside the child's private namespace.
const PROBE_DIR: &str = "/tmp";

/// Try an overlay mount, then an overlay stacked on it, in a forked child that has its own
/// mount namespace. Everything it mounts or makes is on a tmpfs seen only by that namespace,
/// which the kernel tears down when the child exits: nothing is left on the host.
fn probe_overlay(sys: &Sys) -> OverlayProbe {
    let not_tried = |why: &str| OverlayProbe {
        single: Err(why.to_string()),
        stacked: Err(why.to_string()),
    };
    let forked = sys.fork_gated(
        libc::CLONE_NEWNS,
        "try overlayfs in a child with its own mount namespace, which ends with it",
    );
    match forked {
        Ok((Forked::Child, gate)) => {
            let report = probe_in_child(sys);
            sys.report_to_parent(gate.as_ref(), report, "the probe's findings, to the parent");
            crate::sys::signals::exit_now(0)
        }
        Ok((Forked::Parent(pid), gate)) => {
            let report = sys.collect_report(
                pid,
                gate.as_ref(),
                "collect the probe child",
                "the probe's findings",
            );
            parse_probe_report(&report)
        }
        Err(e) => not_tried(&format!(
            "could not start the probe: {}",
            e.errno.map(|e| format!("{e:?}")).unwrap_or(e.what)
        )),
    }
}

/// `single=ok stacked=EINVAL`, or `setup=ENOENT`.
fn parse_probe_report(s: &str) -> OverlayProbe {
    let mut single = Err("the probe said nothing".to_string());
    let mut stacked = Err("the probe said nothing".to_string());
    for (k, v) in s.split_whitespace().filter_map(|kv| kv.split_once('=')) {
        let res = if v == "ok" {
            Ok(())
        } else {
            Err(v.replace('_', " "))
        };
        match k {
            "single" => single = res,
            "stacked" => stacked = res,
            "setup" => {
                single = Err(format!("not tried: {}", v.replace('_', " ")));
                stacked = single.clone();
            }
            _ => {}
        }
    }
    OverlayProbe { single, stacked }
}

fn errno_of(e: &crate::error::Error) -> String {
    e.errno
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| e.what.replace(' ', "_"))
}

/// In the probe child: make the tree private, put a tmpfs on /tmp, then the overlays.
fn probe_in_child(sys: &Sys) -> String {
    let setup = || -> crate::error::Result<()> {
        crate::stages::unshare::make_mounts_private(sys)?;
        sys.mount(
            &MountArgs {
                source: Some("tmpfs"),
                target: Path::new(PROBE_DIR),
                fstype: Some("tmpfs"),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
                data: Some("size=1m"),
            },
            "a scratch tmpfs for the probe's layers, seen only in this namespace",
            "mount -t tmpfs -o size=1m tmpfs /tmp",
        )?;
        for d in ["l1", "u1", "w1", "m1", "u2", "w2", "m2"] {
            sys.mkdir(
                &Path::new(PROBE_DIR).join(d),
                0o755,
                "a directory for an overlay layer",
            )?;
        }
        Ok(())
    };
    if let Err(e) = setup() {
        return format!("setup={}", errno_of(&e));
    }
    let overlay = |lower: &str, upper: &str, work: &str, target: &str, why: &str| {
        let data = format!(
            "lowerdir={PROBE_DIR}/{lower},upperdir={PROBE_DIR}/{upper},workdir={PROBE_DIR}/{work}"
        );
        let target = Path::new(PROBE_DIR).join(target);
        sys.mount(
            &MountArgs {
                source: Some("overlay"),
                target: &target,
                fstype: Some("overlay"),
                flags: 0,
                data: Some(&data),
            },
            why,
            &format!("mount -t overlay overlay -o {data} {}", target.display()),
        )
    };
    let single = overlay(
        "l1",
        "u1",
        "w1",
        "m1",
        "can this kernel mount overlayfs (image layers on a shared base)?",
    );
    let single_s = match &single {
        Ok(()) => "ok".to_string(),
        Err(e) => errno_of(e),
    };
    let stacked_s = if single.is_ok() {
        match overlay(
            "m1",
            "u2",
            "w2",
            "m2",
            "can an overlay use another overlay as its lower layer (glassbox inside a container)?",
        ) {
            Ok(()) => "ok".to_string(),
            Err(e) => errno_of(&e),
        }
    } else {
        "not_tried:_the_first_overlay_failed".to_string()
    };
    format!("single={single_s} stacked={stacked_s}")
}

/// The kernel's major and minor version from a release string (`6.8.0-45-generic`).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Turn the facts into the report's checks, in the order they are printed.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    use Status::*;
    let mut out = Vec::new();

    out.push(if f.euid == 0 {
        Check::new("root", Ok, true, "running as root (euid 0)")
    } else {
        Check::new(
            "root",
            Warn,
            false,
            format!(
                "not root (euid {}): glassbox runs rootless, in a user namespace it makes",
                f.euid
            ),
        )
        .todo(
            "bridges, published ports and cgroup limits need root on the host: sudo glassbox … \
             for those",
        )
    });

    out.push(match kernel_version(&f.kernel) {
        Some((maj, min)) if (maj, min) < (5, 3) => Check::new(
            "kernel",
            Warn,
            false,
            format!("kernel {} is older than 5.3", f.kernel),
        )
        .todo("clone3, pidfd_open and some cgroup files need 5.3 or newer: upgrade the kernel"),
        Some(_) => Check::new("kernel", Ok, false, format!("kernel {}", f.kernel)),
        None => Check::new(
            "kernel",
            Warn,
            false,
            format!("kernel release {:?} not understood", f.kernel),
        ),
    });

    for (ns, required, config, gives) in NAMESPACES {
        let id = format!("ns.{ns}");
        out.push(if f.namespaces.iter().any(|n| n == ns) {
            Check::new(&id, Ok, *required, format!("{ns} namespace: {gives}"))
        } else {
            let status = if *required { Fail } else { Warn };
            Check::new(
                &id,
                status,
                *required,
                format!("{ns} namespace: not in /proc/self/ns"),
            )
            .todo(format!(
                "the kernel was built without {config}: use a kernel that has it"
            ))
        });
    }

    out.push(userns_check(f));
    if let Some(r) = &f.rootless {
        out.extend(super::rootless::checks(r));
    }
    out.extend(cgroup_checks(f));
    out.extend(overlay_checks(f));
    out.push(propagation_check(f));

    out.push(match f.ip_forward.as_deref() {
        Some("1") => Check::new("ip_forward", Ok, false, "net.ipv4.ip_forward = 1"),
        Some(v) => Check::new(
            "ip_forward",
            Warn,
            false,
            format!("net.ipv4.ip_forward = {v}: the host does not route packets"),
        )
        .todo(
            "containers on a bridge reach the host but nothing beyond it until \
             `sysctl -w net.ipv4.ip_forward=1`",
        ),
        None => Check::new(
            "ip_forward",
            Warn,
            false,
            "no /proc/sys/net/ipv4/ip_forward (no IPv4?)",
        ),
    });

    let fw: Vec<String> = [("iptables", &f.iptables), ("nft", &f.nft)]
        .iter()
        .filter_map(|(n, p)| p.as_ref().map(|p| format!("{n} ({})", p.display())))
        .collect();
    out.push(if fw.is_empty() {
        Check::new(
            "firewall",
            Warn,
            false,
            "neither iptables nor nft is on PATH",
        )
        .todo("apt-get install iptables (or nftables): `--publish` and NAT need one")
    } else {
        Check::new(
            "firewall",
            Ok,
            false,
            format!("firewall tools: {}", fw.join(", ")),
        )
    });

    out.push(match &f.busybox {
        None => Check::new(
            "busybox",
            Fail,
            true,
            "no busybox on PATH for the default rootfs",
        )
        .todo("apt-get install busybox-static (the default rootfs is made from it)"),
        Some(b) => match b.is_static {
            Some(true) => Check::new(
                "busybox",
                Ok,
                true,
                format!(
                    "static busybox at {} for the default rootfs",
                    b.path.display()
                ),
            ),
            Some(false) => Check::new(
                "busybox",
                Fail,
                true,
                format!(
                    "{} is dynamically linked (it has an ELF interpreter)",
                    b.path.display()
                ),
            )
            .todo(
                "a dynamic busybox needs a loader and libc the rootfs does not have: \
                 apt-get install busybox-static",
            ),
            None => Check::new(
                "busybox",
                Fail,
                true,
                format!("{} is not an ELF program doctor can read", b.path.display()),
            )
            .todo("apt-get install busybox-static"),
        },
    });
    out
}

fn userns_check(f: &Facts) -> Check {
    use Status::*;
    if !f.namespaces.iter().any(|n| n == "user") {
        return Check::new("userns", Warn, false, "user namespaces: not in this kernel");
    }
    let mut off = Vec::new();
    if f.max_user_namespaces == Some(0) {
        off.push((
            "user.max_user_namespaces = 0: nobody, not even root, may make one",
            "sysctl -w user.max_user_namespaces=15000",
        ));
    }
    if f.unprivileged_userns_clone.as_deref() == Some("0") {
        off.push((
            "kernel.unprivileged_userns_clone = 0 (Debian): only root may make one",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        ));
    }
    if f.apparmor_restrict_userns.as_deref() == Some("1") {
        off.push((
            "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu): unprivileged ones get no capabilities",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns",
        ));
    }
    if off.is_empty() {
        let max = f
            .max_user_namespaces
            .map(|m| format!(" (user.max_user_namespaces = {m})"))
            .unwrap_or_default();
        Check::new("userns", Ok, false, format!("user namespaces allowed{max}"))
    } else {
        // Without root, every container needs one.
        let rootless = f.euid != 0;
        Check::new(
            "userns",
            if rootless { Fail } else { Warn },
            rootless,
            format!(
                "user namespaces limited: {}",
                off.iter().map(|o| o.0).collect::<Vec<_>>().join("; ")
            ),
        )
        .todo(format!(
            "`unshare --user`, `run --userns private` and glassbox without root need them; to allow them: {}",
            off.iter().map(|o| o.1).collect::<Vec<_>>().join("; ")
        ))
    }
}

fn cgroup_checks(f: &Facts) -> Vec<Check> {
    use Status::*;
    let c = &f.cgroups;
    let mut out = Vec::new();
    let v2 = c
        .v2_mount
        .as_ref()
        .map(|m| m.display().to_string())
        .unwrap_or_default();
    let layout_line = match c.layout {
        Layout::Hybrid => {
            let v2_has = if c.v2_controllers.is_empty() {
                "no controllers".to_string()
            } else {
                c.v2_controllers.join(" ")
            };
            format!(
                "cgroup layout: {}; v2 at {v2} with {v2_has}",
                c.layout.describe()
            )
        }
        Layout::V2 => format!("cgroup layout: {} at {v2}", c.layout.describe()),
        _ => format!("cgroup layout: {}", c.layout.describe()),
    };
    out.push(match c.layout {
        Layout::None => Check::new("cgroup.layout", Fail, true, layout_line)
            .todo("mount the cgroup filesystem: mount -t cgroup2 none /sys/fs/cgroup"),
        Layout::Hybrid if f.wsl => Check::new("cgroup.layout", Warn, false, layout_line).todo(
            "this is WSL2's layout: glassbox uses the v1 controllers; for pure v2 put \
             `kernelCommandLine = cgroup_no_v1=all` under [wsl2] in .wslconfig and `wsl --shutdown`",
        ),
        Layout::Hybrid => Check::new("cgroup.layout", Ok, false, layout_line).todo(
            "a controller lives in one hierarchy only: glassbox puts each limit where its \
             controller is (the v1 ones here), not in the v2 tree",
        ),
        _ => Check::new("cgroup.layout", Ok, false, layout_line),
    });
    for ctrl in CONTROLLERS {
        let id = format!("cgroup.{ctrl}");
        out.push(match c.place(ctrl) {
            Some(p) => Check::new(
                &id,
                Ok,
                true,
                format!("{ctrl} controller: cgroup v{} at {}", p.version, p.mount.display()),
            ),
            None => {
                let todo = match c.layout {
                    Layout::None => "mount the cgroup filesystem first".to_string(),
                    Layout::V2 | Layout::Hybrid if c.v2_mount.is_some() => format!(
                        "it is not in {v2}/cgroup.controllers: it may be switched off on the kernel \
                         command line (cgroup_disable={ctrl}) or bound to a v1 hierarchy that is \
                         not mounted (look in /proc/cgroups)"
                    ),
                    _ => format!("mount it: mkdir /sys/fs/cgroup/{ctrl} && mount -t cgroup -o {ctrl} cgroup /sys/fs/cgroup/{ctrl}"),
                };
                Check::new(&id, Fail, true, format!("{ctrl} controller: not found")).todo(todo)
            }
        });
    }
    out
}

fn overlay_checks(f: &Facts) -> Vec<Check> {
    use Status::*;
    let listed = f.filesystems.iter().any(|x| x == "overlay");
    let mut out = Vec::new();
    match &f.overlay {
        None => out.push(if listed {
            Check::new(
                "overlay",
                Ok,
                false,
                "overlayfs is in /proc/filesystems (mount not tried: that needs root)",
            )
        } else {
            Check::new(
                "overlay",
                Warn,
                false,
                "overlayfs is not in /proc/filesystems",
            )
            .todo("modprobe overlay (image layers are unpacked into one directory without it)")
        }),
        Some(p) => {
            out.push(match &p.single {
                std::result::Result::Ok(()) => Check::new(
                    "overlay",
                    Ok,
                    false,
                    "overlayfs mounts (tried in a private mount namespace)",
                ),
                Err(e) => Check::new(
                    "overlay",
                    Warn,
                    false,
                    if e.starts_with("not tried") || e.starts_with("could not") {
                        format!("overlayfs: the probe could not run ({e})")
                    } else {
                        format!("an overlay mount failed: {e}")
                    },
                )
                .todo(if listed {
                    "image layers are unpacked into one directory instead; see dmesg for why"
                } else {
                    "modprobe overlay"
                }),
            });
            out.push(match &p.stacked {
                std::result::Result::Ok(()) => Check::new(
                    "overlay.stacked",
                    Ok,
                    false,
                    "overlay on overlay mounts (an overlay as another's lower layer)",
                ),
                Err(e) => Check::new(
                    "overlay.stacked",
                    Warn,
                    false,
                    format!("overlay on overlay failed: {e}"),
                )
                .todo(
                    "inside a container whose root is overlayfs, put glassbox's layers on a tmpfs",
                ),
            });
        }
    }
    if let Some(root) = f
        .mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))
    {
        if root.fstype == "overlay" {
            out.push(
                Check::new(
                    "overlay.root",
                    Warn,
                    false,
                    "/ is itself on overlayfs (inside a container?)",
                )
                .todo(
                    "an overlay upper dir cannot be on overlayfs: keep glassbox's state on a tmpfs",
                ),
            );
        }
    }
    out
}

fn propagation_check(f: &Facts) -> Check {
    let Some(root) = f
        .mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))
    else {
        return Check::new(
            "propagation",
            Status::Warn,
            false,
            "/ not found in mountinfo",
        );
    };
    let prop = root.propagation();
    let why = "a mount made in a new mount namespace would otherwise propagate back to the \
               host, and pivot_root refuses a shared root: `glassbox unshare --mount` makes the \
               tree private first (mount --make-rprivate /), as unshare(1) does";
    Check::new(
        "propagation",
        Status::Ok,
        false,
        format!("/ has {prop} propagation"),
    )
    .todo(if prop == "shared" {
        why.to_string()
    } else {
        format!("on hosts where / is shared (systemd makes it so), {why}")
    })
}

/// The exit code for a set of checks: 1 when a requirement of `run` is missing, else 0.
pub fn exit_code(checks: &[Check]) -> i32 {
    if checks
        .iter()
        .any(|c| c.required && c.status == Status::Fail)
    {
        MISSING_REQUIREMENT
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mountinfo::parse;

    const ROOT: &str = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
    const HYBRID: &str = "\
31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2: &str =
        "30 27 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    const V1: &str = "\
25 27 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw shared:8 - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw shared:10 - cgroup cgroup rw,pids
";

    /// A host that has everything, with the given extra mountinfo and v2 controllers.
    fn facts(mounts: &str, v2_controllers: &str) -> Facts {
        let mounts = parse(&format!("{ROOT}{mounts}"));
        let cgroups = CgroupHost::detect(&mounts, |_| Some(v2_controllers.to_string()));
        Facts {
            euid: 0,
            kernel: "6.1.0-18-amd64".into(),
            namespaces: ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
                .map(String::from)
                .to_vec(),
            max_user_namespaces: Some(1000),
            unprivileged_userns_clone: None,
            apparmor_restrict_userns: None,
            mounts,
            cgroups,
            wsl: false,
            filesystems: parse_filesystems("nodev\ttmpfs\nnodev\toverlay\n\text4\n"),
            overlay: None,
            ip_forward: Some("1".into()),
            iptables: Some("/usr/sbin/iptables".into()),
            nft: None,
            busybox: Some(Busybox {
                path: "/usr/bin/busybox".into(),
                is_static: Some(true),
            }),
            rootless: None,
        }
    }

    fn get<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    #[test]
    fn hybrid_host_uses_the_v1_controllers() {
        let c = evaluate(&facts(HYBRID, ""));
        assert!(get(&c, "cgroup.layout").what.contains("hybrid"));
        assert!(get(&c, "cgroup.layout")
            .what
            .contains("/sys/fs/cgroup/unified with no controllers"));
        let mem = get(&c, "cgroup.memory");
        assert_eq!(mem.status, Status::Ok);
        assert_eq!(
            mem.what,
            "memory controller: cgroup v1 at /sys/fs/cgroup/memory"
        );
        assert_eq!(
            get(&c, "cgroup.cpu").what,
            "cpu controller: cgroup v1 at /sys/fs/cgroup/cpu"
        );
        assert_eq!(
            get(&c, "cgroup.pids").what,
            "pids controller: cgroup v1 at /sys/fs/cgroup/pids"
        );
        assert_eq!(exit_code(&c), 0);
    }

    #[test]
    fn wsl2_hybrid_layout_is_a_warning_with_the_wslconfig_fix() {
        let mut f = facts(HYBRID, "");
        f.wsl = true;
        let c = evaluate(&f);
        let l = get(&c, "cgroup.layout");
        assert_eq!(l.status, Status::Warn);
        assert!(l.todo.as_deref().unwrap().contains("cgroup_no_v1=all"));
        assert_eq!(exit_code(&c), 0);
    }

    #[test]
    fn v2_host_uses_the_unified_tree() {
        let c = evaluate(&facts(V2, "cpuset cpu io memory pids\n"));
        assert!(get(&c, "cgroup.layout").what.contains("unified"));
        for ctrl in ["memory", "cpu", "pids"] {
            assert_eq!(
                get(&c, &format!("cgroup.{ctrl}")).what,
                format!("{ctrl} controller: cgroup v2 at /sys/fs/cgroup")
            );
        }
        assert_eq!(exit_code(&c), 0);
    }

    #[test]
    fn v2_host_without_the_memory_controller_is_missing_a_requirement() {
        let c = evaluate(&facts(V2, "cpu pids\n"));
        let mem = get(&c, "cgroup.memory");
        assert_eq!(mem.status, Status::Fail);
        assert!(mem
            .todo
            .as_deref()
            .unwrap()
            .contains("cgroup_disable=memory"));
        assert_eq!(exit_code(&c), MISSING_REQUIREMENT);
    }

    #[test]
    fn v1_host_with_comounted_cpu() {
        let c = evaluate(&facts(V1, ""));
        assert!(get(&c, "cgroup.layout").what.contains("cgroup v1"));
        assert_eq!(
            get(&c, "cgroup.cpu").what,
            "cpu controller: cgroup v1 at /sys/fs/cgroup/cpu,cpuacct"
        );
        assert_eq!(exit_code(&c), 0);
    }

    #[test]
    fn no_cgroups_not_root_no_busybox_each_fail_the_run_requirements() {
        let mut f = facts("", "");
        f.euid = 1000;
        f.busybox = None;
        let c = evaluate(&f);
        assert_eq!(get(&c, "cgroup.layout").status, Status::Fail);
        assert_eq!(get(&c, "root").status, Status::Warn);
        assert_eq!(get(&c, "busybox").status, Status::Fail);
        assert_eq!(exit_code(&c), MISSING_REQUIREMENT);
    }

    #[test]
    fn a_missing_pid_namespace_fails_but_a_missing_time_namespace_warns() {
        let mut f = facts(HYBRID, "");
        f.namespaces.retain(|n| n != "pid" && n != "time");
        let c = evaluate(&f);
        assert_eq!(get(&c, "ns.pid").status, Status::Fail);
        assert!(get(&c, "ns.pid")
            .todo
            .as_deref()
            .unwrap()
            .contains("CONFIG_PID_NS"));
        assert_eq!(get(&c, "ns.time").status, Status::Warn);
        assert_eq!(exit_code(&c), MISSING_REQUIREMENT);
    }

    #[test]
    fn userns_sysctls_are_named() {
        let mut f = facts(HYBRID, "");
        f.unprivileged_userns_clone = Some("0".into());
        f.apparmor_restrict_userns = Some("1".into());
        let u = evaluate(&f).into_iter().find(|c| c.id == "userns").unwrap();
        assert_eq!(u.status, Status::Warn);
        assert!(u.what.contains("kernel.unprivileged_userns_clone = 0"));
        assert!(u.what.contains("apparmor_restrict_unprivileged_userns = 1"));
    }

    #[test]
    fn shared_root_propagation_is_explained() {
        let c = evaluate(&facts(HYBRID, ""));
        let p = get(&c, "propagation");
        assert_eq!(p.what, "/ has shared propagation");
        assert!(p.todo.as_deref().unwrap().contains("make-rprivate"));
    }

    #[test]
    fn a_dynamic_busybox_is_refused() {
        let mut f = facts(HYBRID, "");
        f.busybox.as_mut().unwrap().is_static = Some(false);
        let c = evaluate(&f);
        assert_eq!(get(&c, "busybox").status, Status::Fail);
        assert_eq!(exit_code(&c), MISSING_REQUIREMENT);
    }

    /// A minimal 64-bit little-endian ELF header with one program header of type `pt`.
    fn elf64(pt: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&pt.to_le_bytes());
        b
    }

    #[test]
    fn elf_interpreter_means_dynamic() {
        assert_eq!(elf_is_dynamic(&elf64(3)), Some(true));
        assert_eq!(elf_is_dynamic(&elf64(1)), Some(false));
        assert_eq!(elf_is_dynamic(b"#!/bin/sh\necho not elf\n"), None);
        let mut truncated = elf64(3);
        truncated.truncate(66);
        assert_eq!(elf_is_dynamic(&truncated), None);
    }

    #[test]
    fn probe_reports_parse() {
        assert_eq!(
            parse_probe_report("single=ok stacked=EINVAL"),
            OverlayProbe {
                single: Ok(()),
                stacked: Err("EINVAL".into())
            }
        );
        assert!(parse_probe_report("setup=ENOENT")
            .single
            .unwrap_err()
            .contains("ENOENT"));
        assert!(parse_probe_report("").single.is_err());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(
            kernel_version("5.15.153.1-microsoft-standard-WSL2"),
            Some((5, 15))
        );
        assert_eq!(kernel_version("x"), None);
    }
}

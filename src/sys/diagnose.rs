//! Diagnoses: after a failed call, find which of the man page's documented causes applies
//! on this host, and say that one in plain words with what to do.

use super::mount::MountArgs;
use super::Diagnosis;
use crate::host::{is_root, mountinfo, read_trimmed};
use nix::errno::Errno;
use std::path::Path;

fn d(why: impl Into<String>, todo: impl Into<String>) -> Diagnosis {
    Diagnosis {
        why: Some(why.into()),
        todo: todo.into(),
    }
}

/// The fallback for any call: what the errno usually means.
pub fn generic(call: &str, errno: Errno) -> Diagnosis {
    match errno {
        Errno::EPERM | Errno::EACCES if !is_root() => d(
            format!("{call} needs privileges this process does not have (it is not root)"),
            "run glassbox as root (sudo), or add --user --map-root-user to work in a user namespace",
        ),
        Errno::EPERM | Errno::EACCES => d(
            format!("the kernel refused {call} although glassbox runs as root: a security module, a read-only filesystem or a locked mount may forbid it"),
            "run `glassbox doctor` to see what this host allows",
        ),
        Errno::ENOENT => d("a path in the call does not exist", "create the missing file or directory, or check the path for a typo"),
        Errno::EEXIST => d("the thing to create is already there", "remove it first, or run `glassbox cleanup` if a previous run left it"),
        Errno::EBUSY => d("the target is in use", "stop what uses it (a process inside, a mount on top), or run `glassbox cleanup`"),
        Errno::ENOSPC => d("a kernel limit or the disk is full", "free space, or raise the limit named in `glassbox doctor`"),
        Errno::EROFS => d("the filesystem is read-only", "use a writable directory"),
        _ => Diagnosis { why: None, todo: "run `glassbox doctor` to check what this host supports".into() },
    }
}

/// unshare(2): EPERM (privileges, sysctls), EINVAL (kernel lacks a namespace), ENOSPC (limits).
pub fn unshare(flags: libc::c_int, errno: Errno) -> Diagnosis {
    let wants_user = flags & libc::CLONE_NEWUSER != 0;
    match errno {
        Errno::EPERM if wants_user => {
            if read_trimmed("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") && !is_root() {
                return d(
                    "unprivileged user namespaces are switched off on this host (kernel.unprivileged_userns_clone = 0)",
                    "as root: sysctl -w kernel.unprivileged_userns_clone=1, or run glassbox with sudo",
                );
            }
            if read_trimmed("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") && !is_root() {
                return d(
                    "AppArmor forbids unprivileged user namespaces here (kernel.apparmor_restrict_unprivileged_userns = 1)",
                    "as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or run glassbox with sudo",
                );
            }
            if in_chroot() {
                return d(
                    "a process inside a chroot may not create a user namespace (unshare(2): EPERM)",
                    "run glassbox outside the chroot, or use pivot-root instead of chroot",
                );
            }
            d("the kernel refused a new user namespace", "run `glassbox doctor` to see which namespaces are allowed")
        }
        Errno::EPERM if !is_root() => d(
            "only root (CAP_SYS_ADMIN) may create these namespaces; without root, a user namespace must come first",
            "run glassbox as root (sudo), or add --user --map-root-user",
        ),
        Errno::EPERM => generic("unshare", errno),
        Errno::EINVAL => {
            let missing: Vec<&str> = super::ns::NAMESPACES
                .iter()
                .filter(|(bit, _, _)| flags & bit != 0)
                .map(|(_, name, _)| *name)
                .filter(|name| !ns_supported(name))
                .collect();
            if !missing.is_empty() {
                d(
                    format!("this kernel has no {} namespace (no /proc/self/ns entry for it)", missing.join(", ")),
                    "leave that namespace out, or use a kernel built with it",
                )
            } else if wants_user {
                d(
                    "a multithreaded process cannot enter a new user namespace",
                    "this is a glassbox bug if it happens: please report it",
                )
            } else {
                generic("unshare", errno)
            }
        }
        Errno::ENOSPC | Errno::EUSERS => {
            let full: Vec<String> = super::ns::NAMESPACES
                .iter()
                .filter(|(bit, _, _)| flags & bit != 0)
                .filter_map(|(_, name, _)| {
                    let file = format!("/proc/sys/user/max_{}_namespaces", sysctl_ns_name(name));
                    let v = read_trimmed(&file)?;
                    (v == "0").then(|| format!("{file} is 0"))
                })
                .collect();
            if full.is_empty() {
                d(
                    "the per-user limit on namespaces is reached (/proc/sys/user/max_*_namespaces)",
                    "end old containers (`glassbox cleanup`), or raise the limit with sysctl user.max_<kind>_namespaces",
                )
            } else {
                d(
                    format!("namespaces of this kind are switched off: {}", full.join(", ")),
                    "raise the limit, for example sysctl -w user.max_user_namespaces=15000",
                )
            }
        }
        _ => generic("unshare", errno),
    }
}

/// clone(2) with namespace flags fails for the same reasons unshare does.
pub fn clone(flags: libc::c_int, errno: Errno) -> Diagnosis {
    if flags != 0 {
        return unshare(flags, errno);
    }
    match errno {
        Errno::EAGAIN => d(
            "the limit on processes is reached (ulimit -u, or a pids cgroup limit)",
            "end some processes, or raise the limit",
        ),
        _ => generic("clone", errno),
    }
}

fn sysctl_ns_name(name: &str) -> &str {
    match name {
        "mount" => "mnt",
        other => other,
    }
}

fn ns_supported(name: &str) -> bool {
    let file = match name {
        "mount" => "mnt",
        other => other,
    };
    Path::new("/proc/self/ns").join(file).exists()
}

/// Whether this process's root is not the root of its mount namespace (a chroot).
fn in_chroot() -> bool {
    match (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/")) {
        (Ok(a), Ok(b)) => {
            use std::os::unix::fs::MetadataExt;
            (a.dev(), a.ino()) != (b.dev(), b.ino())
        }
        _ => false,
    }
}

/// pivot_root(2): the documented causes of EINVAL, EBUSY and EPERM, checked on this host.
pub fn pivot_root(new_root: &Path, put_old: &Path, errno: Errno) -> Diagnosis {
    let mounts = mountinfo::current();
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (new_abs, old_abs) = (abs(new_root), abs(put_old));
    match errno {
        Errno::EINVAL => {
            if !mountinfo::is_mount_point(&mounts, &new_abs) {
                return d(
                    format!("{} is not a mount point: pivot_root needs the new root to be one", new_abs.display()),
                    format!("bind-mount it onto itself first: mount --bind {0} {0} (glassbox pivot-root does this for you)", new_abs.display()),
                );
            }
            if !old_abs.starts_with(&new_abs) {
                return d(
                    format!(
                        "the place for the old root ({}) is not under the new root ({})",
                        old_abs.display(),
                        new_abs.display()
                    ),
                    "give a put_old directory inside the new root",
                );
            }
            if let Some(m) = mountinfo::mount_of(&mounts, &new_abs).filter(|m| m.is_shared()) {
                return d(
                    format!("the new root's mount ({}) has shared propagation, so the change would leak to other namespaces", m.mount_point.display()),
                    "make the tree private first: mount --make-rprivate / (inside a new mount namespace: glassbox unshare --mount)",
                );
            }
            if let Some(parent) = mountinfo::mount_of(&mounts, Path::new("/")) {
                if parent.is_shared() {
                    return d(
                        "the current root's mount has shared propagation, so pivot_root is refused",
                        "run inside a new mount namespace made private: glassbox unshare --mount -- …",
                    );
                }
            }
            if in_chroot() || !mountinfo::is_mount_point(&mounts, Path::new("/")) {
                return d(
                    "the current root is not a mount point (this process is in a chroot or an initramfs)",
                    "run pivot-root outside a chroot; in an initramfs use switch_root instead",
                );
            }
            d(
                "the kernel found the arguments invalid",
                "check that both paths are directories and the new root is a mount point",
            )
        }
        Errno::EBUSY => {
            let root_mount = mountinfo::mount_of(&mounts, Path::new("/")).map(|m| m.id);
            let on_root = |p: &Path| mountinfo::mount_of(&mounts, p).map(|m| m.id) == root_mount;
            if on_root(&new_abs) || on_root(&old_abs) {
                let which = if on_root(&new_abs) {
                    &new_abs
                } else {
                    &old_abs
                };
                d(
                    format!("{} is on the same mount as the current root: pivot_root needs the new root to be a mount point of its own", which.display()),
                    format!("bind-mount the new root onto itself first: mount --bind {0} {0} (glassbox pivot-root does this for you)", new_abs.display()),
                )
            } else {
                d(
                    "something is mounted on the put_old directory",
                    "pick an empty, unmounted directory inside the new root for the old root",
                )
            }
        }
        Errno::EPERM if !is_root() => d(
            "pivot_root needs CAP_SYS_ADMIN in the mount namespace's owning user namespace",
            "run as root, or inside glassbox unshare --user --map-root-user --mount",
        ),
        Errno::ENOTDIR => d(
            "the new root or the put_old path is not a directory",
            "give directories for both",
        ),
        _ => generic("pivot_root", errno),
    }
}

/// mount(2): EPERM, EBUSY, ENODEV, ENOENT and EINVAL explained for this host.
pub fn mount(m: &MountArgs, errno: Errno) -> Diagnosis {
    match errno {
        Errno::EPERM if !is_root() => d(
            "mounting needs CAP_SYS_ADMIN: this process is not root",
            "run glassbox as root, or inside glassbox unshare --user --map-root-user --mount",
        ),
        Errno::EPERM => d(
            "the kernel refused the mount although glassbox is root: in a user namespace some mounts are locked (proc and sysfs need a new pid/net namespace of your own), or a security module forbids it",
            "mount proc only after unshare --pid --fork, and sysfs only after unshare --net",
        ),
        Errno::EBUSY => d(
            format!("{} is busy: something is already mounted there in a way this mount cannot replace", m.target.display()),
            "unmount it first, or mount in a fresh mount namespace",
        ),
        Errno::ENODEV => d(
            format!("this kernel does not know the filesystem type {}", m.fstype.unwrap_or("(none)")),
            "check /proc/filesystems, or load its module (modprobe)",
        ),
        Errno::ENOENT => d(
            format!("the mount point {} (or the source) does not exist", m.target.display()),
            "create the directory first",
        ),
        Errno::EINVAL if m.flags & (libc::MS_PRIVATE | libc::MS_SHARED | libc::MS_SLAVE) != 0 => d(
            format!("{} is not a mount point, so its propagation cannot be changed", m.target.display()),
            "bind-mount it onto itself first",
        ),
        Errno::EINVAL if m.flags & libc::MS_REMOUNT != 0 => d(
            format!("{} is not a mount point, so it cannot be remounted", m.target.display()),
            "mount it first",
        ),
        _ => generic("mount", errno),
    }
}

/// execve(2): why a command that was found cannot be run.
pub fn execve(path: &Path, errno: Errno) -> Diagnosis {
    match errno {
        Errno::ENOENT => {
            if path.exists() {
                d(
                    format!("{} exists but its interpreter or dynamic loader is missing in this root", path.display()),
                    "use a static program (busybox) or copy its libraries into the root (ldd shows them)",
                )
            } else {
                d(
                    format!("{} does not exist in this root", path.display()),
                    "check the path inside the root",
                )
            }
        }
        Errno::EACCES => d(
            format!(
                "{} is not executable, or its filesystem is mounted noexec",
                path.display()
            ),
            format!("chmod +x {}, or check the mount options", path.display()),
        ),
        Errno::ENOEXEC => d(
            format!("{} is not a program this kernel can run", path.display()),
            "check that it is a binary for this architecture or a script with #!",
        ),
        _ => generic("execve", errno),
    }
}

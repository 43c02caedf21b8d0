//! Diagnoses: after a failed call, find which of the man page's documented causes applies
//! on this host, and say that one in plain words with what to do.

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
            let missing: Vec<&str> = super::flags::NAMESPACES
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
            let full: Vec<String> = super::flags::NAMESPACES
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

/// The container's working directory (openat2 without magic links, see `chdir_no_magiclinks`).
pub fn workdir(dir: &Path, errno: Errno) -> Diagnosis {
    match errno {
        Errno::ELOOP => d(
            format!("the working directory {} leads through a /proc magic link (a descriptor such as /proc/self/fd/N, or a process's root or cwd) or a loop of symlinks; a magic link can lead out of the container to the host, so glassbox refuses it, as runc does since CVE-2024-21626", dir.display()),
            "give -w a directory of the container's own filesystem",
        ),
        Errno::ENOENT => d(
            format!("the working directory {} does not exist in the container", dir.display()),
            "give -w a directory that exists in the image, or create it in the image first",
        ),
        Errno::ENOTDIR => d(
            format!("the working directory {} is not a directory in the container", dir.display()),
            "give -w a directory",
        ),
        Errno::EACCES => d(
            format!("the container's user may not enter the working directory {}", dir.display()),
            "give -w a directory the user may search (x permission), or run as another user (-u)",
        ),
        _ => generic("openat2", errno),
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
pub fn mount(target: &Path, fstype: Option<&str>, flags: libc::c_ulong, errno: Errno) -> Diagnosis {
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
            format!("{} is busy: something is already mounted there in a way this mount cannot replace", target.display()),
            "unmount it first, or mount in a fresh mount namespace",
        ),
        Errno::ENODEV => d(
            format!("this kernel does not know the filesystem type {}", fstype.unwrap_or("(none)")),
            "check /proc/filesystems, or load its module (modprobe)",
        ),
        Errno::ENOENT => d(
            format!("the mount point {} (or the source) does not exist", target.display()),
            "create the directory first",
        ),
        Errno::EINVAL if flags & (libc::MS_PRIVATE | libc::MS_SHARED | libc::MS_SLAVE) != 0 => d(
            format!("{} is not a mount point, so its propagation cannot be changed", target.display()),
            "bind-mount it onto itself first",
        ),
        Errno::EINVAL if flags & libc::MS_REMOUNT != 0 => d(
            format!("{} is not a mount point, so it cannot be remounted", target.display()),
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
        // A directory is EACCES too, but no chmod makes it a program.
        Errno::EACCES if path.is_dir() => d(
            format!("{} is a directory, not a program", path.display()),
            format!(
                "give a program to run; to see what the directory holds, run ls {}",
                path.display()
            ),
        ),
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

/// A write to a cgroup file refused: EINVAL (a value the kernel does not take), EBUSY and
/// EOPNOTSUPP (= ENOTSUP on Linux: controller delegation rules of v2), ENOENT (no such
/// controller file).
pub fn cgroup_write(path: &Path, value: &str, errno: Errno) -> Diagnosis {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("/"));
    let controller = file.split('.').next().unwrap_or("").to_string();
    match errno {
        Errno::EINVAL if file == "cpu.max" || file == "cpu.cfs_quota_us" || file == "cpu.cfs_period_us" => d(
            format!("the kernel does not take {value:?} for {file}: a CPU quota and period must each be at least 1000 µs (1 ms), and the period at most 1 s"),
            "give --cpus 0.01 or more",
        ),
        Errno::EINVAL if file == "cpu.weight" => d(
            format!("cpu.weight takes 1 to 10000, not {value:?}"),
            "give --cpu-shares between 2 and 262144",
        ),
        Errno::EINVAL if file == "memory.memsw.limit_in_bytes" => d(
            "the memory+swap limit cannot be below the memory limit (memory.limit_in_bytes)",
            "give --memory-swap at least as large as --memory",
        ),
        Errno::EINVAL if file == "cgroup.subtree_control" => d(
            format!("the kernel knows no controller named in {value:?}"),
            format!("see which controllers are offered: cat {}", dir.join("cgroup.controllers").display()),
        ),
        Errno::EINVAL => d(
            format!("the kernel does not accept {value:?} for {file}: it is below the kernel's minimum or not a value this file takes"),
            format!("check the value against the cgroup documentation for {file} (`glassbox explain {file}`)"),
        ),
        Errno::ENOSPC if matches!(file.as_str(), "cgroup.procs" | "tasks") => d(
            format!("{} has no CPUs or memory nodes to run a process on (an empty cpuset.cpus or cpuset.mems)", dir.display()),
            format!("give it its parent's: cat {0}/../cpuset.cpus > {0}/cpuset.cpus, the same for cpuset.mems", dir.display()),
        ),
        Errno::EBUSY if file == "cgroup.subtree_control" => d(
            format!("{} holds processes of its own; cgroup v2's \"no internal processes\" rule forbids enabling controllers for children of a cgroup with processes in it", dir.display()),
            "move those processes into a child cgroup first (their pids are in cgroup.procs)",
        ),
        Errno::EBUSY if file == "memory.limit_in_bytes" || file == "memory.max" => d(
            "the cgroup already uses more memory than the new limit, and the kernel could not reclaim enough",
            "give a larger --memory",
        ),
        Errno::EBUSY => d(
            format!("{file} cannot be changed while the cgroup is in this state (in use)"),
            "run `glassbox cleanup`, then try again",
        ),
        Errno::EOPNOTSUPP if file == "cgroup.subtree_control" => d(
            format!("a controller in {value:?} cannot be enabled here: the parent does not enable it for this cgroup (its cgroup.subtree_control), or it is bound to a cgroup v1 hierarchy"),
            format!("enable it in every ancestor first (echo +{} > …/cgroup.subtree_control from the root down), or see `glassbox doctor`", value.trim_start_matches('+').split_whitespace().next().unwrap_or("")),
        ),
        Errno::EOPNOTSUPP => d(
            format!("{} does not allow this for {file} (a threaded cgroup, or a controller not delegated here)", dir.display()),
            "see `glassbox doctor` for this host's cgroup layout",
        ),
        Errno::ENOENT if file == "cgroup.subtree_control" => d(
            format!("{value:?} names a controller that {} cannot hand to its children: it is not in its cgroup.controllers (the controller is bound to a cgroup v1 hierarchy, or the parent has not enabled it)", dir.display()),
            format!("cat {} shows what can be enabled; on a hybrid host, leave the controller to its v1 hierarchy (see `glassbox doctor`)", dir.join("cgroup.controllers").display()),
        ),
        Errno::ENOENT => d(
            format!("{file} does not exist in {}: the {controller} controller is not enabled for this cgroup, or this kernel lacks that feature", dir.display()),
            format!("on cgroup v2, enable it in the parent: echo +{controller} > {}; see `glassbox doctor`", dir.parent().unwrap_or(Path::new("/")).join("cgroup.subtree_control").display()),
        ),
        Errno::ESRCH if file == "cgroup.procs" => d(
            format!("the process {value} is gone: it ended before it could be moved"),
            "nothing to do: the command had already ended",
        ),
        _ => generic("write", errno),
    }
}

/// mount_setattr(2): ENOSYS (a kernel older than 5.12), EINVAL (not a mount point).
pub fn mount_setattr(path: &Path, errno: Errno) -> Diagnosis {
    match errno {
        Errno::ENOSYS => d(
            "this kernel has no mount_setattr (Linux 5.12 and newer have it), so it cannot make a volume and every mount under it read-only at once; a plain read-only remount would leave the mounts under the volume writable, so glassbox refuses",
            "run on Linux 5.12 or newer, or drop :ro from the volume",
        ),
        Errno::EINVAL => d(
            format!("{} is not a mount point, so its mount attributes cannot be changed", path.display()),
            "bind-mount it first",
        ),
        _ => generic("mount_setattr", errno),
    }
}

#[cfg(test)]
mod cgroup_tests {
    use super::*;

    #[test]
    fn cgroup_write_diagnoses_name_the_cause() {
        let q = cgroup_write(
            Path::new("/sys/fs/cgroup/cpu/g/x/cpu.cfs_quota_us"),
            "500",
            Errno::EINVAL,
        );
        assert!(q.why.unwrap().contains("at least 1000"));
        let b = cgroup_write(
            Path::new("/sys/fs/cgroup/glassbox/cgroup.subtree_control"),
            "+memory",
            Errno::EBUSY,
        );
        assert!(b.why.unwrap().contains("no internal processes"));
        let n = cgroup_write(
            Path::new("/sys/fs/cgroup/glassbox/x/memory.max"),
            "1",
            Errno::ENOENT,
        );
        assert!(n.why.unwrap().contains("memory controller is not enabled"));
        assert!(n
            .todo
            .contains("/sys/fs/cgroup/glassbox/cgroup.subtree_control"));
        let s = cgroup_write(
            Path::new("/sys/fs/cgroup/glassbox/cgroup.subtree_control"),
            "+cpu",
            Errno::EOPNOTSUPP,
        );
        assert!(s.todo.contains("echo +cpu"));
        let e = cgroup_write(
            Path::new("/sys/fs/cgroup/unified/glassbox/cgroup.subtree_control"),
            "+memory",
            Errno::ENOENT,
        );
        assert!(e.why.unwrap().contains("not in its cgroup.controllers"));
        let c = cgroup_write(
            Path::new("/sys/fs/cgroup/cpuset/p/c/cgroup.procs"),
            "42",
            Errno::ENOSPC,
        );
        assert!(c.why.unwrap().contains("empty cpuset.cpus"));
    }
}

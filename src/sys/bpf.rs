//! bpf(2): load an eBPF program into the kernel and attach it to a cgroup. glassbox uses it
//! for one thing, the device rule of a cgroup v2 (BPF_PROG_TYPE_CGROUP_DEVICE), which has
//! no devices.allow file: the rule is a small program the kernel runs on every open and mknod
//! of a device node. https://docs.kernel.org/bpf/prog_cgroup_sysctl.html is its sibling;
//! the device context is `struct bpf_cgroup_dev_ctx` in linux/bpf.h.

use super::{check, cstring, diagnose, qpath, Diagnosis, Sys};
use crate::error::Result;
use crate::narrate::Call;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction, as `struct bpf_insn` lays it out (little-endian register nibbles).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low four bits, src_reg in the high four.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs of the parent cgroups run too: every one must allow the access.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The part of `union bpf_attr` that BPF_PROG_LOAD reads (the rest is zero to the kernel).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The part of `union bpf_attr` that BPF_PROG_ATTACH reads.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Why bpf() refused the device program, in words, and what to do.
fn diagnosis(errno: nix::errno::Errno) -> Diagnosis {
    use nix::errno::Errno;
    let (why, todo) = match errno {
        Errno::EPERM | Errno::EACCES if crate::host::is_root() => (
            "the kernel refused the device program although glassbox runs as root: kernel lockdown, a BPF security module or the verifier refused it",
            "check `cat /sys/kernel/security/lockdown` and dmesg; run with --privileged only if every host device may be opened",
        ),
        Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOSYS => (
            "this kernel has no cgroup device programs (CONFIG_CGROUP_BPF), or the directory is not a cgroup v2",
            "use a kernel built with CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF, or mount the v1 devices controller (see `glassbox doctor`)",
        ),
        _ => return diagnose::generic("bpf", errno),
    };
    Diagnosis {
        why: Some(why.into()),
        todo: todo.into(),
    }
}

/// The program's name, as bpftool and /proc/PID/fdinfo show it.
const PROG_NAME: &str = "glassbox_dev";

/// How often a load the verifier gave up on for a pending signal is tried (as libbpf does).
const LOAD_TRIES: u32 = 5;

/// `load` again while it fails with EAGAIN, up to [`LOAD_TRIES`] times in all: the verifier
/// stops and answers EAGAIN whenever a signal is pending, which under a tracer (strace -f, a
/// learner watching glassbox's calls) happens at every stop of a traced process. The same
/// attributes are simply loaded again; any other answer, or the last EAGAIN, is the result.
fn again_while_interrupted(
    mut load: impl FnMut() -> std::result::Result<i64, nix::errno::Errno>,
) -> std::result::Result<i64, nix::errno::Errno> {
    let mut tries = 1;
    loop {
        match load() {
            Err(nix::errno::Errno::EAGAIN) if tries < LOAD_TRIES => tries += 1,
            done => return done,
        }
    }
}

impl Sys<'_> {
    /// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program: the kernel's verifier
    /// checks it and answers with a descriptor for it (None in a dry run).
    pub fn bpf_load_device_program(&self, insns: &[Insn], why: &str) -> Result<Option<OwnedFd>> {
        let license = cstring("GPL")?;
        let mut name = [0u8; 16];
        name[..PROG_NAME.len()].copy_from_slice(PROG_NAME.as_bytes());
        let attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        let size = std::mem::size_of::<ProgLoad>();
        let call = || {
            Call::new(
            "bpf",
            vec![
                "BPF_PROG_LOAD".into(),
                format!(
                    "{{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt={}, insns=..., license=\"GPL\", ...}}",
                    insns.len()
                ),
                size.to_string(),
            ],
            "bpf(2)",
            why,
        )
        .by_hand("bpftool prog load PROG.o /sys/fs/bpf/dev type cgroup/dev")
        };
        let fd = self.call(
            call,
            || {
                again_while_interrupted(|| {
                    check(unsafe {
                        libc::syscall(
                            libc::SYS_bpf,
                            BPF_PROG_LOAD,
                            &attr as *const ProgLoad,
                            size as libc::c_uint,
                        )
                    })
                })
            },
            diagnosis,
        )?;
        Ok((!self.dry_run()).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE): run `prog` on every device access of the
    /// processes in the cgroup v2 `cgroup` (and in the cgroups below it). The attachment
    /// keeps the program alive after its descriptor closes; removing the cgroup detaches it.
    pub fn bpf_attach_device_program(
        &self,
        prog: Option<&OwnedFd>,
        cgroup: &Path,
        why: &str,
    ) -> Result<()> {
        let c_dir = cstring(&cgroup.to_string_lossy())?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let open = Call::new(
            "openat",
            vec![
                "AT_FDCWD".into(),
                qpath(cgroup),
                "O_RDONLY|O_DIRECTORY|O_CLOEXEC".into(),
            ],
            "openat(2)",
            "the cgroup to attach the program to: bpf() takes it as a descriptor",
        );
        let dir = self.call_plain(open, || {
            check(unsafe { libc::openat(libc::AT_FDCWD, c_dir.as_ptr(), flags) } as libc::c_long)
        })?;
        // Closed when this function returns, on every path.
        let dir = (!self.dry_run()).then(|| unsafe { OwnedFd::from_raw_fd(dir as i32) });
        let target = dir.as_ref().map_or(-1, |d| d.as_raw_fd());
        let prog_fd = prog.map_or(-1, |p| p.as_raw_fd());
        let attr = ProgAttach {
            target_fd: target as u32,
            attach_bpf_fd: prog_fd as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: BPF_F_ALLOW_MULTI,
            ..Default::default()
        };
        let size = std::mem::size_of::<ProgAttach>();
        let call = || {
            Call::new(
            "bpf",
            vec![
                "BPF_PROG_ATTACH".into(),
                format!(
                    "{{target_fd={target}..., attach_bpf_fd={prog_fd}..., attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI...}}"
                ),
                size.to_string(),
            ],
            "bpf(2)",
            why,
        )
        .by_hand(format!(
            "bpftool cgroup attach {} device pinned /sys/fs/bpf/dev multi",
            cgroup.display()
        ))
        };
        self.call(
            call,
            || {
                check(unsafe {
                    libc::syscall(
                        libc::SYS_bpf,
                        BPF_PROG_ATTACH,
                        &attr as *const ProgAttach,
                        size as libc::c_uint,
                    )
                })
            },
            diagnosis,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn a_load_interrupted_by_a_signal_is_tried_again() {
        let mut answers = vec![Err(Errno::EAGAIN), Err(Errno::EAGAIN), Ok(7)].into_iter();
        let mut calls = 0;
        let got = again_while_interrupted(|| {
            calls += 1;
            answers.next().unwrap()
        });
        assert_eq!((got, calls), (Ok(7), 3));
    }

    #[test]
    fn a_load_still_interrupted_after_the_last_try_fails_with_eagain() {
        let mut calls = 0;
        let got = again_while_interrupted(|| {
            calls += 1;
            Err(Errno::EAGAIN)
        });
        assert_eq!((got, calls), (Err(Errno::EAGAIN), LOAD_TRIES));
    }

    #[test]
    fn another_refusal_is_not_tried_again() {
        let mut calls = 0;
        let got = again_while_interrupted(|| {
            calls += 1;
            Err(Errno::EPERM)
        });
        assert_eq!((got, calls), (Err(Errno::EPERM), 1));
    }
}

//! The devices rule: which device nodes a container may open or make.
//!
//! A container keeps CAP_MKNOD (Docker's default set has it), so it can make a node for any
//! major:minor, and without a rule it could then read the host's disks through it. Docker
//! (runc) confines devices in the container's cgroup: everything denied, then an allowlist
//! — mknod of any node (making one is harmless), and read/write/mknod of the few devices a
//! program expects (/dev/null, zero, full, random, urandom, tty, the pseudo-terminals,
//! /dev/net/tun). On cgroup v1 the rule is written into `devices.deny` and `devices.allow`;
//! cgroup v2 has no such files, and the rule is an eBPF program attached to the cgroup
//! (runc's libcontainer/cgroups/devices does the same). Both come from [`DEFAULT`].

use super::LimitWrite;
use crate::error::Result;
use crate::sys::bpf::Insn;
use crate::sys::Sys;
use std::path::Path;

/// Block or character device (`b`, `c`), as `ls -l` and devices.allow spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block,
    Char,
}

/// One allow rule: a kind, a major and a minor (None: any), and the accesses allowed
/// (`r` read, `w` write, `m` mknod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: &'static str,
}

const fn c(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        kind: Kind::Char,
        major: Some(major),
        minor,
        access: "rwm",
    }
}

/// runc's default allowlist, which Docker uses for every container that is not --privileged.
pub const DEFAULT: &[Rule] = &[
    Rule {
        kind: Kind::Char,
        major: None,
        minor: None,
        access: "m",
    },
    Rule {
        kind: Kind::Block,
        major: None,
        minor: None,
        access: "m",
    },
    c(1, Some(3)),    // /dev/null
    c(1, Some(8)),    // /dev/random
    c(1, Some(7)),    // /dev/full
    c(5, Some(0)),    // /dev/tty
    c(1, Some(5)),    // /dev/zero
    c(1, Some(9)),    // /dev/urandom
    c(136, None),     // /dev/pts/*: the container's own pseudo-terminals
    c(5, Some(2)),    // /dev/ptmx
    c(10, Some(200)), // /dev/net/tun
];

impl Rule {
    /// As devices.allow reads it: `c 1:3 rwm`, `b *:* m`.
    pub fn v1(&self) -> String {
        let n = |x: Option<u32>| x.map_or("*".to_string(), |v| v.to_string());
        let k = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        format!("{k} {}:{} {}", n(self.major), n(self.minor), self.access)
    }
}

/// cgroup v1: deny everything, then allow the rules one write each (the kernel reads one
/// rule per write).
pub fn v1_writes(rules: &[Rule]) -> Vec<LimitWrite> {
    let mut w = vec![LimitWrite::new(
        "devices.deny",
        "a".into(),
        "deny every device (a: all kinds, all numbers, all accesses); the allowlist follows",
    )];
    w.extend(
        rules
            .iter()
            .map(|r| LimitWrite::new("devices.allow", r.v1(), format!("allow {}", describe(r)))),
    );
    w
}

/// A rule in words, for the narration.
fn describe(r: &Rule) -> String {
    match (r.major, r.minor, r.access) {
        (None, _, "m") => format!(
            "making any {} node (mknod): opening one is still refused",
            if r.kind == Kind::Block {
                "block"
            } else {
                "character"
            }
        ),
        (Some(136), None, _) => "the container's pseudo-terminals (/dev/pts/*)".into(),
        (Some(ma), Some(mi), _) => match crate::stages::mounts::DEVICES
            .iter()
            .find(|d| (d.1, d.2) == (ma, mi))
        {
            Some(d) => format!("/dev/{}", d.0),
            None if (ma, mi) == (5, 2) => "/dev/ptmx".into(),
            None if (ma, mi) == (10, 200) => "/dev/net/tun".into(),
            None => format!("device {ma}:{mi}"),
        },
        _ => r.v1(),
    }
}

// eBPF opcodes (linux/bpf_common.h and linux/bpf.h).
const LDXW: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The bits of `struct bpf_cgroup_dev_ctx`'s access_type (BPF_DEVCG_ACC_*, BPF_DEVCG_DEV_*).
fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, ch| {
        a | match ch {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// cgroup v2: the rules as a BPF_PROG_TYPE_CGROUP_DEVICE program. The kernel calls it with
/// r1 pointing at `{u32 access_type; u32 major; u32 minor}` (access_type: the device kind
/// in the low 16 bits, the accesses asked for in the high 16); it returns 1 to allow, 0 to
/// refuse with EPERM. One block per rule: each test that fails jumps to the next block;
/// a block whose tests all pass returns 1. After the last block: 0.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDXW, 2, 1, 0, 0),         // r2 = ctx->access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = the kind (1 block, 2 char)
        insn(LDXW, 3, 1, 0, 0),         // r3 = ctx->access_type
        insn(RSH32_K, 3, 0, 0, 16),     // r3 = the accesses asked for
        insn(LDXW, 4, 1, 4, 0),         // r4 = ctx->major
        insn(LDXW, 5, 1, 8, 0),         // r5 = ctx->minor
    ];
    for r in rules {
        // The tests, each with its jump offset left for when the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        block.push(insn(
            JNE_K,
            2,
            0,
            0,
            if r.kind == Kind::Block { 1 } else { 2 },
        ));
        let allowed = access_bits(r.access);
        if allowed != 7 {
            // Every access asked for must be allowed: (asked & allowed) == asked.
            block.push(insn(MOV32_X, 1, 3, 0, 0));
            block.push(insn(AND32_K, 1, 0, 0, allowed));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(major) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        let tests = block.len();
        block.push(insn(MOV32_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate().take(tests) {
            if ins.code == JNE_K || ins.code == JNE_X {
                // To the first instruction after this block.
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV32_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// cgroup v2: load the rules' program and attach it to the cgroup `dir`. Its descriptor is
/// closed here: the attachment keeps the program, and the cgroup's removal ends both.
pub fn attach(sys: &Sys, dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = program(rules);
    let fd = sys.bpf_load_device_program(
        &prog,
        &format!(
            "load the device rule as an eBPF program ({} instructions): cgroup v2 has no devices.allow file, the kernel runs this on every open or mknod of a device node",
            prog.len()
        ),
    )?;
    sys.bpf_attach_device_program(
        fd.as_ref(),
        dir,
        "run it for every process of the container's cgroup: a device it does not allow is refused with EPERM",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_rules_are_docker_s() {
        let w = v1_writes(DEFAULT);
        let got: Vec<String> = w
            .iter()
            .map(|w| format!("{} {}", w.file, w.value))
            .collect();
        assert_eq!(
            got,
            vec![
                "devices.deny a",
                "devices.allow c *:* m",
                "devices.allow b *:* m",
                "devices.allow c 1:3 rwm",
                "devices.allow c 1:8 rwm",
                "devices.allow c 1:7 rwm",
                "devices.allow c 5:0 rwm",
                "devices.allow c 1:5 rwm",
                "devices.allow c 1:9 rwm",
                "devices.allow c 136:* rwm",
                "devices.allow c 5:2 rwm",
                "devices.allow c 10:200 rwm",
            ]
        );
        assert!(w[3].why.contains("/dev/null"), "{}", w[3].why);
    }

    /// A small interpreter for the instructions the program uses, to check what it decides.
    fn run(p: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [kind | (access << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDXW => r[dst] = ctx[i.off as usize / 4] as u64,
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                MOV32_K => r[dst] = i.imm as u32 as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
                JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JNE_K | JNE_X => {}
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_program_allows_what_the_v1_rules_allow() {
        let p = program(DEFAULT);
        let (b, c) = (1, 2);
        let (m, r, w) = (1, 2, 4);
        assert_eq!(run(&p, c, r | w, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, c, r, 1, 9), 1, "/dev/urandom");
        assert_eq!(run(&p, c, r | w, 136, 7), 1, "/dev/pts/7");
        assert_eq!(run(&p, c, r | w, 5, 2), 1, "/dev/ptmx");
        assert_eq!(run(&p, b, m, 7, 0), 1, "mknod of a loop device");
        assert_eq!(run(&p, b, r, 7, 0), 0, "reading a loop device");
        assert_eq!(run(&p, c, r | w, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, c, r, 10, 232), 0, "/dev/kvm");
        assert_eq!(run(&p, c, r | w, 5, 1), 0, "the host's console");
        assert_eq!(
            run(&p, c, r | m, 10, 229),
            0,
            "fuse: mknod alone would be allowed"
        );
    }

    #[test]
    fn the_program_bytes_are_as_the_kernel_reads_them() {
        let p = program(&DEFAULT[2..3]);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let bytes: Vec<u8> = p
            .iter()
            .flat_map(|i| {
                let mut b = vec![i.code, i.regs];
                b.extend(i.off.to_le_bytes());
                b.extend(i.imm.to_le_bytes());
                b
            })
            .collect();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0x61, 0x12, 0, 0, 0, 0, 0, 0,          // r2 = *(u32 *)(r1 + 0)
            0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0,    // w2 &= 0xffff
            0x61, 0x13, 0, 0, 0, 0, 0, 0,          // r3 = *(u32 *)(r1 + 0)
            0x74, 0x03, 0, 0, 16, 0, 0, 0,         // w3 >>= 16
            0x61, 0x14, 4, 0, 0, 0, 0, 0,          // r4 = *(u32 *)(r1 + 4)
            0x61, 0x15, 8, 0, 0, 0, 0, 0,          // r5 = *(u32 *)(r1 + 8)
            0x55, 0x02, 4, 0, 2, 0, 0, 0,          // if r2 != 2 goto +4
            0x55, 0x04, 3, 0, 1, 0, 0, 0,          // if r4 != 1 goto +3
            0x55, 0x05, 2, 0, 3, 0, 0, 0,          // if r5 != 3 goto +2
            0xb4, 0x00, 0, 0, 1, 0, 0, 0,          // w0 = 1
            0x95, 0x00, 0, 0, 0, 0, 0, 0,          // exit
            0xb4, 0x00, 0, 0, 0, 0, 0, 0,          // w0 = 0
            0x95, 0x00, 0, 0, 0, 0, 0, 0,          // exit
        ];
        assert_eq!(bytes, want);
    }
}

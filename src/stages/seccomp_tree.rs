//! The default seccomp filter as a BPF program, assembled here: a binary search over syscall
//! numbers.
//!
//! The program reads `seccomp_data` (the architecture at offset 4, the syscall number at 0,
//! the low half of the first argument at 16) and answers:
//!
//! ```text
//!   arch != this machine's          -> kill the process (a 32-bit call would mean other numbers)
//!   nr >= 0x40000000 (x32 numbers)  -> EPERM (the same calls under other numbers)
//!   nr in the denied list           -> EPERM
//!   clone3, when clone is checked   -> ENOSYS (its flags are out of reach: the C library
//!                                      falls back to clone)
//!   clone with a CLONE_NEW* flag    -> EPERM
//!   anything else                   -> allow
//! ```
//!
//! Why by hand, when an engine's profile is compiled by seccompiler (`runtime/seccomp.rs`):
//! seccompiler tests one denied call after another (280 instructions for this list), and when
//! a filter is loaded the kernel runs it once for every syscall number, to learn which ones it
//! always allows. A search tree is ~85 instructions and any number is settled in ~8: loading
//! it took ~30 µs against ~160 on the machine bench/README.md describes, on the path of every
//! container's start, and every later syscall runs a few instructions instead of ~100.

/// The instruction codes used (linux/bpf_common.h).
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

/// Syscall numbers with this bit set are the x32 ABI's.
const X32_BIT: u32 = 0x4000_0000;

/// The audit architecture of this machine's syscalls (linux/audit.h); None where glassbox
/// has no filter (the syscall numbers below would be another ABI's).
pub const AUDIT_ARCH: Option<u32> = if cfg!(target_pointer_width = "32") {
    None
} else if cfg!(target_arch = "x86_64") {
    Some(0xC000_003E)
} else if cfg!(target_arch = "aarch64") {
    Some(0xC000_00B7)
} else if cfg!(target_arch = "riscv64") {
    Some(0xC000_00F3)
} else {
    None
};

/// Where an instruction jumps: to one of the program's answers, or past some instructions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum To {
    Next,
    Skip(usize),
    Answer(Answer),
}

/// The program's answers (and the clone check), placed after the search.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    Allow,
    Errno,
    Enosys,
    Kill,
    CheckClone,
}

/// Where each answer sits in the tail after the search (see [`assemble`]): the clone check
/// is two instructions, its load and its test; each other answer is one return.
fn tail_at(answer: Answer) -> usize {
    match answer {
        Answer::CheckClone => 0,
        Answer::Allow => 2,
        Answer::Errno => 3,
        Answer::Enosys => 4,
        Answer::Kill => 5,
    }
}

#[derive(Clone, Copy, Debug)]
struct Insn {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

fn insn(code: u16, k: u32, jt: To, jf: To) -> Insn {
    Insn { code, k, jt, jf }
}

/// What the filter does with the syscalls it singles out.
pub struct Rules<'a> {
    /// Answer EPERM to these numbers.
    pub denied: &'a [i64],
    /// The CLONE_NEW* flags clone may not carry (EPERM), and clone3 answers ENOSYS; empty:
    /// both are allowed (the container keeps CAP_SYS_ADMIN).
    pub clone_flags: u32,
}

/// The filter's program, ready for seccomp(2); None on an architecture glassbox has no
/// filter for.
pub fn program(rules: &Rules) -> Option<Vec<libc::sock_filter>> {
    let arch = AUDIT_ARCH?;
    let mut keys: Vec<(u32, Answer)> = rules
        .denied
        .iter()
        .map(|nr| (*nr as u32, Answer::Errno))
        .collect();
    if rules.clone_flags != 0 {
        keys.push((libc::SYS_clone as u32, Answer::CheckClone));
        keys.push((libc::SYS_clone3 as u32, Answer::Enosys));
    }
    // A number listed twice keeps clone's and clone3's own answers over the denial.
    keys.sort_by_key(|(nr, answer)| (*nr, *answer == Answer::Errno));
    keys.dedup_by_key(|(nr, _)| *nr);

    let mut body = vec![
        insn(LD_W_ABS, ARCH, To::Next, To::Next),
        insn(JEQ, arch, To::Next, To::Answer(Answer::Kill)),
        insn(LD_W_ABS, NR, To::Next, To::Next),
        insn(JGE, X32_BIT, To::Answer(Answer::Errno), To::Next),
    ];
    search(&keys, &mut body);
    Some(assemble(body, rules))
}

/// A search over `keys` (sorted): a number at or above the middle key goes right, past the
/// left half; three keys or fewer are compared one by one; a number not found is allowed.
fn search(keys: &[(u32, Answer)], out: &mut Vec<Insn>) {
    if keys.len() <= 3 {
        for (nr, answer) in keys {
            out.push(insn(JEQ, *nr, To::Answer(*answer), To::Next));
        }
        out.push(insn(
            JA,
            0,
            To::Answer(Answer::Allow),
            To::Answer(Answer::Allow),
        ));
        return;
    }
    let (left, right) = keys.split_at(keys.len() / 2);
    let mut left_code = Vec::new();
    search(left, &mut left_code);
    out.push(insn(JGE, right[0].0, To::Skip(left_code.len()), To::Next));
    out.extend(left_code);
    search(right, out);
}

/// The answers after `body`, and every jump made relative.
fn assemble(body: Vec<Insn>, rules: &Rules) -> Vec<libc::sock_filter> {
    let tail = [
        insn(LD_W_ABS, ARG0_LOW, To::Next, To::Next),
        insn(
            JSET,
            rules.clone_flags,
            To::Answer(Answer::Errno),
            To::Answer(Answer::Allow),
        ),
        ret(libc::SECCOMP_RET_ALLOW),
        ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
    ];
    let tail_start = body.len();
    let all: Vec<Insn> = body.into_iter().chain(tail).collect();
    // Jumps go forward only, jt and jf at most 255 ahead: a program this size always fits.
    assert!(
        all.len() < 256,
        "the seccomp program grew past 255 instructions"
    );
    let offset = |from: usize, to: To| -> u32 {
        match to {
            To::Next => 0,
            To::Skip(n) => n as u32,
            To::Answer(a) => (tail_start + tail_at(a) - from - 1) as u32,
        }
    };
    all.iter()
        .enumerate()
        .map(|(i, x)| {
            let (k, jt, jf) = if x.code == JA {
                (offset(i, x.jt), 0, 0)
            } else {
                (x.k, offset(i, x.jt) as u8, offset(i, x.jf) as u8)
            };
            libc::sock_filter {
                code: x.code,
                jt,
                jf,
                k,
            }
        })
        .collect()
}

fn ret(k: u32) -> Insn {
    insn(RET, k, To::Next, To::Next)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Run `program` as the kernel would on one syscall: its answer.
    pub(crate) fn run(program: &[libc::sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let data = |off: u32| match off {
            NR => nr,
            ARCH => arch,
            ARG0_LOW => arg0 as u32,
            20 => (arg0 >> 32) as u32,
            _ => panic!("reads seccomp_data at {off}"),
        };
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let f = program[pc];
            pc += 1;
            match f.code {
                LD_W_ABS => acc = data(f.k),
                JA => pc += f.k as usize,
                RET => return f.k,
                code => {
                    let taken = match code {
                        JEQ => acc == f.k,
                        JGE => acc >= f.k,
                        JSET => acc & f.k != 0,
                        _ => panic!("unknown instruction {code:#x}"),
                    };
                    pc += if taken { f.jt } else { f.jf } as usize;
                }
            }
        }
    }

    pub(crate) const ARCH_HERE: u32 = AUDIT_ARCH.unwrap();
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    #[test]
    fn every_number_gets_the_answer_of_the_list() {
        let denied = [155, 159, 163, 164, 250, 272, 321, 425, 442];
        let rules = Rules {
            denied: &denied,
            clone_flags: (libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u32,
        };
        let p = program(&rules).unwrap();
        assert!(p.len() < 40, "{}", p.len());
        for nr in 0..600u32 {
            let want = if denied.contains(&(nr as i64)) {
                EPERM
            } else if nr == libc::SYS_clone3 as u32 {
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
            } else {
                ALLOW
            };
            assert_eq!(run(&p, ARCH_HERE, nr, 0), want, "syscall {nr}");
        }
        let clone = libc::SYS_clone as u32;
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(run(&p, ARCH_HERE, clone, newns | 17), EPERM);
        assert_eq!(run(&p, ARCH_HERE, clone, 17), ALLOW);
        assert_eq!(run(&p, ARCH_HERE, X32_BIT | 39, 0), EPERM, "x32 getpid");
        assert_eq!(
            run(&p, 0x4000_0003, 39, 0),
            libc::SECCOMP_RET_KILL_PROCESS,
            "i386"
        );
    }

    #[test]
    fn clone_keeps_its_check_when_it_is_also_denied() {
        let clone = libc::SYS_clone;
        let rules = Rules {
            denied: &[clone, 7],
            clone_flags: libc::CLONE_NEWNS as u32,
        };
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, ARCH_HERE, clone as u32, 17), ALLOW);
        assert_eq!(run(&p, ARCH_HERE, 7, 0), EPERM);
    }

    #[test]
    fn without_clone_flags_clone_and_clone3_are_allowed() {
        let rules = Rules {
            denied: &[1, 2, 3, 4, 5],
            clone_flags: 0,
        };
        let p = program(&rules).unwrap();
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(run(&p, ARCH_HERE, libc::SYS_clone as u32, newns), ALLOW);
        assert_eq!(run(&p, ARCH_HERE, libc::SYS_clone3 as u32, 0), ALLOW);
        assert_eq!(run(&p, ARCH_HERE, 3, 0), EPERM);
        assert_eq!(run(&p, ARCH_HERE, 6, 0), ALLOW);
    }
}

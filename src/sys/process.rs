//! Process calls: clone(2) as fork, execve(2), wait4(2), kill(2), prctl(2).

use super::channel::{Channel, Message};
use super::flags::CLONE_INTO_CGROUP;
use super::{check, cstring, diagnose, quote, Sys};
use crate::error::{exit, Error, Result};
use crate::narrate::Call;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// Where a gated child waits for its parent's first Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstWait {
    /// At once: the clone returns to it only when the parent lets it go.
    AtBirth,
    /// Where it calls [`Sys::wait_at_last_gate`]: it first does what needs nothing more of
    /// the parent (but what the parent hands it on the way, such as its network namespace),
    /// while the parent works too.
    Later,
}

/// Which side of a fork this process is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Parent(i32),
    Child,
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

impl Ended {
    /// The exit code `docker run` would give: the status, or 128+N for signal N.
    pub fn code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Signaled(s) => 128 + s,
        }
    }

    /// In plain words: `exited with status 0`, `killed by signal 9 (SIGKILL)`.
    pub fn describe(self) -> String {
        match self {
            Ended::Exited(c) => format!("exited with status {c}"),
            Ended::Signaled(s) => {
                let name = nix::sys::signal::Signal::try_from(s)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| format!("signal {s}"));
                format!("killed by signal {s} ({name})")
            }
        }
    }
}

/// clone3(2)'s argument, `struct clone_args` up to its `cgroup` field (88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3 refusals after which a plain clone may still work: no clone3 at all (ENOSYS, or a
/// seccomp filter that says so; older Docker profiles said EPERM), a struct this kernel is
/// too old to know (E2BIG), a flag it does not know (EINVAL), a directory that is not a v2
/// cgroup (EBADF, EOPNOTSUPP). The plain clone then works or fails with its own diagnosis.
const CLONE3_FALLBACK: &[nix::errno::Errno] = &[
    nix::errno::Errno::ENOSYS,
    nix::errno::Errno::EPERM,
    nix::errno::Errno::E2BIG,
    nix::errno::Errno::EINVAL,
    nix::errno::Errno::EBADF,
    nix::errno::Errno::EOPNOTSUPP,
];

/// The PATH used when the process has none (as Docker sets it).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The pid that SIGINT/SIGTERM/SIGHUP/SIGQUIT to glassbox are passed on to (0: none).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Seconds after a forwarded signal before the child is killed (0: never).
static GRACE: AtomicI32 = AtomicI32::new(0);
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn forward_and_arm(sig: libc::c_int) {
    forward_signal(sig);
    let grace = GRACE.load(Ordering::SeqCst);
    if grace > 0 && !ARMED.swap(true, Ordering::SeqCst) {
        // alarm(2) is async-signal-safe; SIGALRM then sends the SIGKILL.
        unsafe { libc::alarm(grace as libc::c_uint) };
    }
}

extern "C" fn kill_after_grace(_: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// As [`forward_signals_to`], and if `pid` has not ended `grace` seconds after the first
/// forwarded signal, SIGKILL it — as `docker stop` does. A container's PID 1 ignores every
/// signal it installed no handler for, so a plain SIGTERM may never end it.
pub fn forward_signals_with_grace(pid: i32, grace: u32) {
    forward_signals_to(pid);
    GRACE.store(grace as i32, Ordering::SeqCst);
    for (sig, handler) in [
        (libc::SIGINT, forward_and_arm as *const () as usize),
        (libc::SIGTERM, forward_and_arm as *const () as usize),
        (libc::SIGHUP, forward_and_arm as *const () as usize),
        (libc::SIGQUIT, forward_and_arm as *const () as usize),
        (libc::SIGALRM, kill_after_grace as *const () as usize),
    ] {
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// From now on, pass SIGINT, SIGTERM, SIGHUP and SIGQUIT on to `pid` instead of dying,
/// so that glassbox stays to clean up after the command ends.
pub fn forward_signals_to(pid: i32) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Undo [`forward_signals_to`]: SIGINT, SIGTERM, SIGHUP and SIGQUIT end this process again
/// (a process forked to outlive glassbox must not pass them to a pid that may be reused).
pub fn forward_no_more() {
    FORWARD_TO.store(0, Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Find `cmd` on PATH the way execvp(3) does; a name with a `/` is taken as it is.
pub fn find_command(cmd: &str, path_var: Option<&str>) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd));
    }
    let path = path_var.unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

impl Sys<'_> {
    /// clone(2) used as fork(2), optionally with CLONE_NEW* flags for the child.
    /// The child waits until the parent has narrated the result, so lines never interleave.
    pub fn fork(&self, ns_flags: libc::c_int, why: &str) -> Result<Forked> {
        let (forked, gate) = self.fork_gated(ns_flags, why)?;
        if let (Forked::Parent(_), Some(gate)) = (forked, &gate) {
            // A child that already died is EPIPE here: its wait says how it ended.
            let _ = self.let_go(gate);
        }
        Ok(forked)
    }

    /// clone(2) as fork(2), with no gate: for a child that narrates nothing with this
    /// process's narrator (it makes its own, silent), so no line of its can interleave.
    /// A dry run makes no child: it goes on as the parent of pid 0.
    pub fn fork_ungated(&self, why: &str) -> Result<Forked> {
        let call = Call::new(
            "clone",
            vec!["child_stack=NULL".into(), "flags=SIGCHLD".into()],
            "clone(2)",
            why,
        );
        if self.dry_run() {
            self.narrator.before(&call);
            let _ = self.perform(&call, || Ok(0));
            return Ok(Forked::Parent(0));
        }
        self.narrator.before(&call);
        let ret =
            unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
        if ret == 0 {
            self.narrator.forget_pending();
            return Ok(Forked::Child);
        }
        let result = check(ret);
        self.narrator.after(&call, result);
        result
            .map(|pid| Forked::Parent(pid as i32))
            .map_err(|errno| {
                let d = diagnose::clone(0, errno);
                let mut e = Error::sys(format!("{} failed", call.render_short()), errno, d.todo);
                e.why = d.why;
                e
            })
    }

    /// As [`Sys::fork`], but the child stays blocked at its gate until the parent sends
    /// [`Message::Go`] on the returned channel ([`Sys::let_go`]): the parent can first
    /// prepare what the child needs (uid maps, a cgroup, a network device) and narrate it.
    /// The child gets the other end of the channel, to tell the parent why it failed.
    /// A child whose parent closes its end without Go (it died, or gave up) exits with 125.
    pub fn fork_gated(
        &self,
        ns_flags: libc::c_int,
        why: &str,
    ) -> Result<(Forked, Option<Channel>)> {
        self.fork_gated_at(ns_flags, why, FirstWait::AtBirth)
    }

    /// [`Sys::fork_gated`], with the child's first wait where `first` says.
    pub fn fork_gated_at(
        &self,
        ns_flags: libc::c_int,
        why: &str,
        first: FirstWait,
    ) -> Result<(Forked, Option<Channel>)> {
        let flags = ns_flags | libc::SIGCHLD;
        let mut shown = super::flags::clone_flags(ns_flags);
        shown = if shown == "0" {
            "SIGCHLD".into()
        } else {
            format!("{shown}|SIGCHLD")
        };
        let call = Call::new(
            "clone",
            vec!["child_stack=NULL".into(), format!("flags={shown}")],
            "clone(2)",
            why,
        );
        let made = self.gated(&call, first, ns_flags, || unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        })?;
        made.map_err(|errno| {
            let d = diagnose::clone(ns_flags, errno);
            let mut e = Error::sys(format!("{} failed", call.render_short()), errno, d.todo);
            e.why = d.why;
            e
        })
    }

    /// As [`Sys::fork_gated`], with the child born in the cgroup v2 directory `cgroup`:
    /// clone3(2) with CLONE_INTO_CGROUP. Moving a running process between cgroups by pid
    /// takes a kernel-wide lock that may wait for every CPU to pass a quiet point (an RCU
    /// grace period: milliseconds); a child born in its cgroup needs no move at all.
    ///
    /// Returns whether the child was born there. When the kernel refuses (older than 5.7,
    /// a seccomp filter that hides clone3, a directory that is not a v2 cgroup), the refusal
    /// is narrated and the child is cloned as [`Sys::fork_gated`] clones it: the caller must
    /// then move it in, by writing its pid into cgroup.procs. `first` says where the child
    /// waits for its first Go.
    pub fn fork_gated_into(
        &self,
        ns_flags: libc::c_int,
        cgroup: &Path,
        why: &str,
        first: FirstWait,
    ) -> Result<(Forked, Option<Channel>, bool)> {
        use std::os::fd::{FromRawFd, OwnedFd};
        let c_dir = cstring(&cgroup.to_string_lossy())?;
        let open_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let open = Call::new(
            "openat",
            vec![
                "AT_FDCWD".into(),
                super::qpath(cgroup),
                "O_RDONLY|O_DIRECTORY|O_CLOEXEC".into(),
            ],
            "openat(2)",
            "the cgroup v2 the child is to be born in: clone3 takes it as a descriptor",
        );
        let opened = self.call_plain(open, || {
            check(
                unsafe { libc::openat(libc::AT_FDCWD, c_dir.as_ptr(), open_flags) } as libc::c_long,
            )
        });
        // Closed in the parent once the child is cloned, and in the child at once: no
        // descriptor but stdio crosses into the container.
        let (dir, fd): (Option<OwnedFd>, Option<i32>) = match opened {
            Ok(_) if self.dry_run() => (None, None),
            Ok(fd) => (
                Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
                Some(fd as i32),
            ),
            Err(_) => {
                self.narrator.note(
                    "without the directory the child is cloned in glassbox's own cgroup and moved in afterwards",
                );
                let (forked, gate) = self.fork_gated_at(ns_flags, why, first)?;
                return Ok((forked, gate, false));
            }
        };
        let flags = ns_flags as u32 as u64 | CLONE_INTO_CGROUP;
        let args = CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: fd.unwrap_or(-1) as u64,
            ..Default::default()
        };
        let size = std::mem::size_of::<CloneArgs>();
        let call = Call::new(
            "clone3",
            vec![
                // strace -y does not decorate the descriptor inside the struct: the openat
                // above says which directory it is.
                format!(
                    "{{flags={}, exit_signal=SIGCHLD, stack=NULL, stack_size=0, cgroup={}}}",
                    super::render_flags(flags, super::flags::CLONE_FLAGS),
                    fd.map_or("?".to_string(), |f| f.to_string()),
                ),
                size.to_string(),
            ],
            "clone(2)",
            format!(
                "{why}, born in its cgroup v2 (CLONE_INTO_CGROUP): it never has to be moved there"
            ),
        );
        let made = self.gated(&call, first, ns_flags, || unsafe {
            libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, size)
        })?;
        drop(dir);
        match made {
            Ok((forked, gate)) => Ok((forked, gate, true)),
            Err(errno) if CLONE3_FALLBACK.contains(&errno) => {
                self.narrator.note(&format!(
                    "this kernel cannot start the child in its cgroup ({}): clone it as before, and the parent moves it in",
                    errno.desc()
                ));
                let (forked, gate) = self.fork_gated_at(ns_flags, why, first)?;
                Ok((forked, gate, false))
            }
            Err(errno) => {
                let d = diagnose::clone(ns_flags, errno);
                let mut e = Error::sys(format!("{} failed", call.render_short()), errno, d.todo);
                e.why = d.why;
                Err(e)
            }
        }
    }

    /// The gate around a clone: a channel whose child end waits for [`Message::Go`].
    /// `clone` makes the call and returns what the syscall returned (0 in the child), which
    /// is born in new namespaces of the kinds in `ns_flags`.
    /// The outer error is a failure to make the channel; the inner one the clone's errno,
    /// already narrated.
    fn gated(
        &self,
        call: &Call,
        first: FirstWait,
        ns_flags: libc::c_int,
        clone: impl FnOnce() -> libc::c_long,
    ) -> Result<std::result::Result<(Forked, Option<Channel>), nix::errno::Errno>> {
        if self.dry_run() {
            self.narrator.before(call);
            let _ = self.perform(call, || Ok(0));
            self.narrator
                .note("(dry run: the plan goes on as the child would)");
            return Ok(Ok((Forked::Child, None)));
        }
        // The socket pair is the fork's own plumbing, made quietly as the clone's part.
        let (parent_end, child_end) = super::channel::pair()?;
        self.narrator.before(call);
        super::own::settle_heap();
        let ret = clone();
        if ret == 0 {
            super::quiet::forked(ns_flags);
            self.narrator.forget_pending();
            drop(parent_end);
            if first == FirstWait::AtBirth {
                let why = "wait at the gate until the parent has prepared what this child needs";
                if !self.wait_for_go(&child_end, why) {
                    unsafe { libc::_exit(crate::error::exit::GLASSBOX) };
                }
            }
            return Ok(Ok((Forked::Child, Some(child_end))));
        }
        let result = check(ret);
        self.narrator.after(call, result);
        drop(child_end);
        Ok(result.map(|pid| (Forked::Parent(pid as i32), Some(parent_end))))
    }

    /// Send [`Message::Go`]: the child leaves its gate.
    pub fn let_go(&self, gate: &Channel) -> Result<()> {
        self.send_go(
            gate,
            "let the child leave its gate: what it needs from outside is ready",
        )
    }

    /// In a child about to start its command: wait for the [`Message::Go`] the parent sends
    /// once it has recorded it as running (it let the child build the container first: the
    /// second Go, or the only one for a child cloned with [`FirstWait::Later`]). A parent
    /// that gave up instead (its end closed) ends the child here, unstarted.
    pub fn wait_at_last_gate(&self, gate: &Channel) {
        let why = "wait at the last gate until the parent has recorded the container as running";
        if !self.wait_for_go(gate, why) {
            crate::sys::signals::exit_now(crate::error::exit::GLASSBOX);
        }
    }

    /// In the parent: let a child waiting at its last gate ([`Sys::wait_at_last_gate`])
    /// start its command. A child that already ended is EPIPE here: its wait says how.
    pub fn open_last_gate(&self, gate: &Channel) {
        let _ = self.send_go(
            gate,
            "the record says the container runs: its command may start now",
        );
    }

    /// In a child that failed before its command started: tell the parent why, then exit
    /// with the error's code. The parent reports it, once ([`Sys::child_failure`]).
    pub fn fail_to_parent(&self, ch: Option<&Channel>, err: &crate::error::Error) -> ! {
        let told = ch.is_some_and(|ch| {
            self.send_message(
                ch,
                &Message::Failed(err.into()),
                "tell the parent why this child failed: the parent reports it",
            )
            .is_ok()
        });
        if !told {
            // No parent to tell (a dry run): say it here.
            crate::narrate::report_error(err);
        }
        self.narrator.close_span();
        std::process::exit(err.code)
    }

    /// In the parent: the failure the child sent, if it sent one (it ended, or is ending).
    pub fn child_failure(&self, gate: Option<&Channel>) -> Option<crate::error::Error> {
        match self.recv_message_now(gate?, "did the child fail before its command started?") {
            Ok(Some(Message::Failed(f))) => Some(f.into_error()),
            _ => None,
        }
    }

    /// Let a gated child go inside the narrated wait for it (as [`Sys::wait_releasing`]),
    /// then print its own failure — the command not found, say — once, here in the parent.
    pub fn wait_child(&self, pid: i32, gate: Option<&Channel>, why: &str) -> Result<Ended> {
        let ended = self.wait_releasing(pid, gate, why);
        if let Some(e) = self.child_failure(gate) {
            crate::narrate::report_error(&e);
        }
        ended
    }

    /// In a forked helper: hand its findings to the parent as one `Report` message, its
    /// last act (its span on a Chrome trace's timeline ends here).
    pub fn report_to_parent(&self, gate: Option<&Channel>, text: String, why: &str) {
        if let Some(g) = gate {
            let _ = self.send_message(g, &Message::Report(text), why);
        }
        self.narrator.close_span();
    }

    /// In the parent: collect a helper, then read the `Report` it sent ("" if none came).
    pub fn collect_report(
        &self,
        pid: i32,
        gate: Option<&Channel>,
        wait_why: &str,
        read_why: &str,
    ) -> String {
        let _ = self.wait_releasing(pid, gate, wait_why);
        match gate.map(|g| self.recv_message_now(g, read_why)) {
            Some(Ok(Some(Message::Report(text)))) => text,
            _ => String::new(),
        }
    }

    /// wait4(pid, NULL, WNOHANG, NULL): collect `pid` if it has ended, without waiting.
    /// True once it is collected (or is no child of ours to collect).
    pub fn reap_if_ended(&self, pid: i32, why: &str) -> bool {
        let call = || {
            Call::new(
                "wait4",
                vec![
                    pid.to_string(),
                    "NULL".into(),
                    "WNOHANG".into(),
                    "NULL".into(),
                ],
                "wait4(2)",
                why,
            )
        };
        let ret = self.call_plain(call, || {
            check(unsafe {
                libc::wait4(
                    pid,
                    std::ptr::null_mut(),
                    libc::WNOHANG,
                    std::ptr::null_mut(),
                )
            } as libc::c_long)
        });
        !matches!(ret, Ok(0))
    }

    /// wait4(2): wait for `pid` to end; returns how it ended.
    pub fn wait(&self, pid: i32, why: &str) -> Result<Ended> {
        self.wait_releasing(pid, None, why)
    }

    /// wait4(2), opening `gate` only once the wait is narrated, so the child's output
    /// never lands in the middle of glassbox's lines.
    pub fn wait_releasing(&self, pid: i32, gate: Option<&Channel>, why: &str) -> Result<Ended> {
        let mut gate = gate;
        let mut status: libc::c_int = 0;
        let call = || {
            Call::new(
                "wait4",
                vec![pid.to_string(), "...".into(), "0".into(), "NULL".into()],
                "wait4(2)",
                why,
            )
            .blocking()
        };
        if self.dry_run() {
            self.call_plain(call, || Ok(0))?;
            return Ok(Ended::Exited(0));
        }
        loop {
            let ret = self.call_plain(call, || {
                if let Some(gate) = gate.take() {
                    // A child that already died is EPIPE here: the wait says how it ended.
                    let _ = self.let_go(gate);
                }
                check(
                    unsafe { libc::wait4(pid, &mut status, 0, std::ptr::null_mut()) }
                        as libc::c_long,
                )
            });
            match ret {
                Err(e) if e.errno == Some(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        Ok(if libc::WIFSIGNALED(status) {
            Ended::Signaled(libc::WTERMSIG(status))
        } else {
            Ended::Exited(libc::WEXITSTATUS(status))
        })
    }

    /// kill(2).
    pub fn kill(&self, pid: i32, sig: libc::c_int, why: &str) -> Result<()> {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| sig.to_string());
        let call = || {
            Call::new("kill", vec![pid.to_string(), name.clone()], "kill(2)", why)
                .by_hand(format!("kill -{} {pid}", name.trim_start_matches("SIG")))
        };
        self.call_plain(call, || {
            check(unsafe { libc::kill(pid, sig) } as libc::c_long)
        })?;
        Ok(())
    }

    /// setsid(2): a session of its own, with no controlling terminal.
    pub fn setsid(&self, why: &str) -> Result<()> {
        let call = || Call::new("setsid", vec![], "setsid(2)", why);
        self.call_plain(call, || check(unsafe { libc::setsid() } as libc::c_long))?;
        Ok(())
    }

    /// prctl(PR_SET_PDEATHSIG, sig): get `sig` when the parent dies.
    pub fn set_parent_death_signal(&self, sig: libc::c_int, why: &str) -> Result<()> {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| sig.to_string());
        let call = || {
            Call::new(
                "prctl",
                vec!["PR_SET_PDEATHSIG".into(), name],
                "prctl(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }

    /// prctl(PR_SET_NO_NEW_PRIVS, 1): no setuid bit or file capability can raise privileges.
    pub fn set_no_new_privs(&self, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "prctl",
                vec![
                    "PR_SET_NO_NEW_PRIVS".into(),
                    "1".into(),
                    "0".into(),
                    "0".into(),
                    "0".into(),
                ],
                "prctl(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long)
        })?;
        Ok(())
    }

    /// execve(2): replace this process with `argv[0]`, looked up on PATH as execvp(3) does.
    /// Returns only on failure: 127 when the command is not found, 126 when it cannot run.
    pub fn exec(&self, argv: &[String], why: &str) -> Result<std::convert::Infallible> {
        self.exec_env(argv, None, why)
    }

    /// execve(2) with an environment of its own (`None`: this process's); PATH is looked
    /// up in that environment, as the command would see it.
    pub fn exec_env(
        &self,
        argv: &[String],
        env: Option<&[String]>,
        why: &str,
    ) -> Result<std::convert::Infallible> {
        let Some(cmd) = argv.first() else {
            return Err(Error::usage(
                "no command was given to run",
                "put the command after `--`, for example `-- /bin/sh`",
            ));
        };
        let path_var = match env {
            Some(env) => env
                .iter()
                .find_map(|e| e.strip_prefix("PATH=").map(String::from)),
            None => std::env::var("PATH").ok(),
        };
        let found = find_command(cmd, path_var.as_deref());
        let Some(path) = found else {
            return Err(Error::new(
                format!(
                    "the command {cmd:?} was not found on PATH ({})",
                    path_var.as_deref().unwrap_or(DEFAULT_PATH)
                ),
                "check the name, or give the full path of the program inside this root",
            )
            .with_code(exit::NOT_FOUND));
        };
        self.exec_at(&path, argv, env, why)
    }

    /// execve(2) of the program at `path`, no PATH lookup, with `argv[0]` as given (a
    /// hook's, say) and an environment of its own (`None`: this process's).
    pub fn exec_at(
        &self,
        path: &Path,
        argv: &[String],
        env: Option<&[String]>,
        why: &str,
    ) -> Result<std::convert::Infallible> {
        let c_path = cstring(&path.to_string_lossy())?;
        let c_argv: Vec<std::ffi::CString> =
            argv.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
        let mut ptrs: Vec<*const libc::c_char> = c_argv.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let c_env: Option<Vec<std::ffi::CString>> = env
            .map(|e| e.iter().map(|v| cstring(v)).collect::<Result<_>>())
            .transpose()?;
        let mut env_ptrs: Vec<*const libc::c_char> =
            c_env.iter().flatten().map(|c| c.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        let env_count = env.map_or_else(|| std::env::vars_os().count(), |e| e.len());
        let shown_argv = format!(
            "[{}]",
            argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(", ")
        );
        let call = Call::new(
            "execve",
            vec![
                quote(&path.to_string_lossy()),
                shown_argv,
                format!("... /* {env_count} vars */"),
            ],
            "execve(2)",
            why,
        );
        self.narrator.before_no_return(&call, !self.dry_run());
        if self.dry_run() {
            if self.kernel.records() {
                // The recording double logs the call; a unit test goes on after it.
                let _ = self.kernel.perform(&call, &mut || Ok(0));
                return Err(Error::new(
                    "execve was recorded, not made",
                    "nothing: this is a unit test's recording double",
                ));
            }
            self.narrator.close_span();
            std::process::exit(0);
        }
        extern "C" {
            static environ: *const *const libc::c_char;
        }
        let envp = if c_env.is_some() {
            env_ptrs.as_ptr()
        } else {
            unsafe { environ }
        };
        // glassbox ignores SIGPIPE (so losing its narration's reader cannot kill it); the
        // command must start with the default every program expects, or `yes | head -1`
        // would never end. A disposition of SIG_IGN, unlike a handler, survives execve.
        let before = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        unsafe { libc::execve(c_path.as_ptr(), ptrs.as_ptr(), envp) };
        let errno = nix::errno::Errno::last();
        unsafe { libc::signal(libc::SIGPIPE, before) };
        self.narrator.after(&call, Err(errno));
        let code = if errno == nix::errno::Errno::ENOENT {
            exit::NOT_FOUND
        } else {
            exit::CANNOT_INVOKE
        };
        let d = diagnose::execve(path, errno);
        let mut e =
            Error::sys(format!("{} failed", call.render_short()), errno, d.todo).with_code(code);
        e.why = d.why;
        Err(e)
    }
}

impl Sys<'_> {
    /// dup2(2): make descriptor `to` a copy of `from` (stdin from /dev/null, say).
    pub fn dup2(&self, from: i32, to: i32, why: &str) -> Result<()> {
        let call = || {
            Call::new(
                "dup2",
                vec![from.to_string(), to.to_string()],
                "dup2(2)",
                why,
            )
        };
        self.call_plain(call, || {
            check(unsafe { libc::dup2(from, to) } as libc::c_long)
        })?;
        Ok(())
    }
}

impl Sys<'_> {
    /// prlimit64(2) on this process: set a resource limit (an OCI spec's process.rlimits).
    pub fn setrlimit(
        &self,
        resource: u32,
        name: &str,
        soft: u64,
        hard: u64,
        why: &str,
    ) -> Result<()> {
        let call = || {
            Call::new(
                "prlimit64",
                vec![
                    "0".into(),
                    name.to_string(),
                    format!("{{rlim_cur={soft}, rlim_max={hard}}}"),
                    "NULL".into(),
                ],
                "prlimit(2)",
                why,
            )
            .by_hand(format!(
                "prlimit --pid $$ --{}={soft}:{hard}",
                name.trim_start_matches("RLIMIT_").to_lowercase()
            ))
        };
        let limit = libc::rlimit64 {
            rlim_cur: soft,
            rlim_max: hard,
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::prlimit64(0, resource as _, &limit, std::ptr::null_mut()) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }

    /// mknodat(2) with S_IFIFO: a named pipe (a runtime's exec.fifo).
    pub fn mkfifo(&self, path: &Path, why: &str) -> Result<()> {
        let c = super::cstring(&path.to_string_lossy())?;
        let call = || {
            Call::new(
                "mknodat",
                vec!["AT_FDCWD".into(), super::qpath(path), "S_IFIFO|0600".into()],
                "mknod(2)",
                why,
            )
            .by_hand(format!("mkfifo -m 600 {}", path.display()))
        };
        self.call_plain(call, || {
            check(
                unsafe { libc::mknodat(libc::AT_FDCWD, c.as_ptr(), libc::S_IFIFO | 0o600, 0) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }
}

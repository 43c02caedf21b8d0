//! The cgroup stage: put a command in a new cgroup with memory, CPU and pids limits, wait,
//! say how it ended, and remove the cgroup.
//!
//! One driver for the three layouts people meet — pure v2, pure v1 and hybrid. It asks the
//! host where each controller lives (`CgroupHost::place`), makes one cgroup under a
//! `glassbox` parent in every hierarchy that holds a requested controller, and on a host with
//! a v2 tree also one there (even with no controllers it gives `cgroup.kill`, `cpu.stat`
//! usage and one place that holds every process). Only the file names and units differ
//! between v1 and v2 (`v1.rs`, `v2.rs`).
//!
//! The steps are separate so `run` can use them: [`plan`] (pure: validate and decide),
//! [`apply`] (mkdir and limit writes, journaled), [`enter`] (the child writes its own pid into
//! every cgroup before it execs), [`report`], and [`undo`]. `run` enters differently, to
//! avoid the costly move by pid: its child is born in the v2 cgroup ([`v2_dir`]) and moves
//! itself into the v1 ones ([`enter_self_v1`]); [`attach_v2`] is the parent's fallback.

pub mod devices;
pub mod engine;
pub mod freezer;
pub mod limits;
pub mod report;
pub mod v1;
pub mod v2;

use crate::error::{Error, Result};
use crate::host::cgroups::{CgroupHost, Layout};
use crate::journal::{Journal, Resource};
use crate::sys::process::{forward_signals_to, Ended, Forked};
use crate::sys::{diagnose, Sys};
use limits::Limits;
use nix::errno::Errno;
use std::path::{Path, PathBuf};

/// The directory glassbox's cgroups live under, in each hierarchy.
pub const PARENT: &str = "glassbox";

/// One limit file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWrite {
    pub file: &'static str,
    pub value: String,
    pub why: String,
}

impl LimitWrite {
    pub fn new(file: &'static str, value: String, why: impl Into<String>) -> Self {
        LimitWrite {
            file,
            value,
            why: why.into(),
        }
    }
}

/// pids.max: the same file and units on cgroup v1 and v2.
pub fn pids_write(limits: &Limits) -> Option<LimitWrite> {
    limits.pids.map(|p| {
        LimitWrite::new(
            "pids.max",
            p.map(|n| n.to_string()).unwrap_or_else(|| "max".into()),
            "the most processes and threads the cgroup may hold: past it fork() and clone() fail with EAGAIN",
        )
    })
}

/// The cgroup to make in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub version: u8,
    /// The hierarchy's mount point.
    pub mount: PathBuf,
    /// The requested controllers that live in this hierarchy (none: the v2 group on a hybrid
    /// host, made for cgroup.kill and accounting).
    pub controllers: Vec<&'static str>,
    pub writes: Vec<LimitWrite>,
    /// cgroup v2 with no devices controller on v1: the device rule is an eBPF program
    /// attached to this cgroup ([`devices::attach`]).
    pub device_program: bool,
    /// The directory its cgroup goes in: glassbox's shared parent, or the one an engine's
    /// cgroupsPath names ([`engine`]).
    pub parent: PathBuf,
    /// Every controller of the v1 hierarchy, as the host mounts it (`cpu,cpuacct`; none on
    /// v2): known from the host's layout, so nothing needs probing for them later.
    pub hierarchy: Vec<String>,
}

impl Group {
    fn new(version: u8, mount: PathBuf, controllers: Vec<&'static str>) -> Group {
        Group {
            version,
            parent: mount.join(PARENT),
            mount,
            controllers,
            writes: Vec::new(),
            device_program: false,
            hierarchy: Vec::new(),
        }
    }
    /// The same group, told which controllers its v1 hierarchy has on `host`.
    fn on(mut self, host: &CgroupHost) -> Group {
        if self.version == 1 {
            self.hierarchy = host
                .v1_hierarchies
                .iter()
                .find(|(_, m)| *m == self.mount)
                .map(|(c, _)| c.clone())
                .unwrap_or_else(|| self.controllers.iter().map(|c| c.to_string()).collect());
        }
        self
    }
    /// A v1 cpuset hierarchy, whose new cgroups start with no CPUs ([`engine::copy_cpuset`]).
    fn has_cpuset(&self) -> bool {
        self.version == 1 && self.hierarchy.iter().any(|c| c == "cpuset")
    }
    pub fn parent(&self) -> PathBuf {
        self.parent.clone()
    }
    pub fn dir(&self, name: &str) -> PathBuf {
        self.parent.join(name)
    }
    /// Under glassbox's own parent (made and removed by glassbox), not an engine's.
    fn in_shared_parent(&self) -> bool {
        self.parent == self.mount.join(PARENT)
    }
}

/// Everything the stage will do, decided before the first syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub limits: Limits,
    pub layout: Layout,
    /// v2 last, so it is made last and removed first: its cgroup.kill ends every process.
    pub groups: Vec<Group>,
}

impl Plan {
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|g| g.dir(&self.name)).collect()
    }
}

/// What [`apply`] made, in order, with its journal entries.
#[derive(Debug, Default)]
pub struct Made {
    /// (directory, journal entry id) for every cgroup directory created. Not the shared
    /// `glassbox` parent: the entry of a cgroup in it stands for it (its removal removes the
    /// parent once empty), which saves a journal file a hierarchy a run.
    pub dirs: Vec<(PathBuf, Option<String>)>,
}

/// A cgroup name: one path component of letters, digits, `-`, `_` and `.`.
pub fn check_name(name: &str) -> Result<()> {
    // "glassbox" is the parent's name: a cgroup glassbox/glassbox would be taken for it.
    let ok = !name.is_empty()
        && name != PARENT
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("--name {name:?} is not a usable cgroup name"),
            "use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.' (and not \"glassbox\", the parent's name)",
        ))
    }
}

/// Decide where each requested controller lives and what to write there. Pure: reads the
/// host description only; a missing controller is an error naming where it would be.
pub fn plan(host: &CgroupHost, limits: &Limits, name: &str) -> Result<Plan> {
    plan_devices(host, limits, name, false)
}

/// A container's cgroups (`run`): the limits asked for, and the devices rule always, as
/// Docker confines every container that is not --privileged. On cgroup v1 and hybrid hosts
/// it is the devices controller's allowlist; on a pure v2 host, an eBPF program.
pub fn plan_container(host: &CgroupHost, limits: &Limits, name: &str) -> Result<Plan> {
    plan_devices(host, limits, name, true)
}

fn plan_devices(host: &CgroupHost, limits: &Limits, name: &str, devices: bool) -> Result<Plan> {
    check_name(name)?;
    plan_groups(host, limits, name, devices)
}

/// The groups for the limits (and the device rule), each under glassbox's parent.
fn plan_groups(host: &CgroupHost, limits: &Limits, name: &str, devices: bool) -> Result<Plan> {
    let mut groups: Vec<Group> = Vec::new();
    let mut wanted = limits.controllers();
    let v1_devices = devices && host.place("devices").is_some_and(|p| p.version == 1);
    if v1_devices {
        wanted.push("devices");
    } else if devices && host.v2_mount.is_none() {
        return Err(missing_controller(host, "devices"));
    }
    for ctrl in wanted {
        let Some(place) = host.place(ctrl) else {
            return Err(missing_controller(host, ctrl));
        };
        match groups
            .iter_mut()
            .find(|g| g.mount == place.mount && g.version == place.version)
        {
            Some(g) => g.controllers.push(ctrl),
            None => groups.push(Group::new(place.version, place.mount, vec![ctrl]).on(host)),
        }
    }
    if let Some(v2) = &host.v2_mount {
        if !groups.iter().any(|g| g.version == 2) {
            groups.push(Group::new(2, v2.clone(), Vec::new()));
        }
    } else if let Some(f) = host.place("freezer").filter(|_| !groups.is_empty()) {
        // Pure v1 has no cgroup.kill: a freezer cgroup lets glassbox stop every process
        // before killing them, so none can fork meanwhile. Made last, removed first.
        match groups.iter_mut().find(|g| g.mount == f.mount) {
            Some(g) => g.controllers.push("freezer"),
            None => groups.push(Group::new(1, f.mount, vec!["freezer"]).on(host)),
        }
    }
    groups.sort_by_key(|g| g.version == 2);
    for g in &mut groups {
        g.writes = if g.version == 2 {
            v2::writes(limits, &g.controllers)
        } else {
            v1::writes(limits, &g.controllers)
        };
        if g.controllers.contains(&"devices") {
            g.writes.extend(devices::v1_writes(devices::DEFAULT));
        }
        g.device_program = devices && !v1_devices && g.version == 2;
        if g.version == 1
            && limits.memory_swap.is_some()
            && g.controllers.contains(&"memory")
            && !g.mount.join("memory.memsw.limit_in_bytes").exists()
        {
            return Err(Error::usage(
                format!(
                    "--memory-swap cannot be applied: this kernel does not account swap in cgroup v1 (there is no {})",
                    g.mount.join("memory.memsw.limit_in_bytes").display()
                ),
                "boot with swapaccount=1 on the kernel command line, or leave out --memory-swap",
            ));
        }
    }
    Ok(Plan {
        name: name.to_string(),
        limits: limits.clone(),
        layout: host.layout,
        groups,
    })
}

/// The error for a requested controller this host does not offer.
fn missing_controller(host: &CgroupHost, ctrl: &str) -> Error {
    let flag = match ctrl {
        "memory" => "--memory/--memory-swap",
        "cpu" => "--cpus/--cpu-shares",
        "devices" => "the container's device rule",
        _ => "--pids",
    };
    let where_ = match (&host.v2_mount, host.layout) {
        (_, Layout::None) => "no cgroup filesystem is mounted at all".to_string(),
        (Some(v2), _) => format!(
            "no cgroup v1 hierarchy has it, and the cgroup v2 root {} does not list it in cgroup.controllers",
            v2.display()
        ),
        (None, _) => format!("no cgroup v1 hierarchy has it (it would be mounted at /sys/fs/cgroup/{ctrl})"),
    };
    let todo = match host.layout {
        Layout::V2 => format!("check that the kernel has the {ctrl} controller (cat /sys/fs/cgroup/cgroup.controllers), or leave out {flag}"),
        Layout::None => "mount cgroup2: mount -t cgroup2 none /sys/fs/cgroup (see `glassbox doctor`)".to_string(),
        // Without it a container could open every host device: only --skip cgroup goes on.
        _ if ctrl == "devices" => "mount it: mkdir -p /sys/fs/cgroup/devices && mount -t cgroup -o devices none /sys/fs/cgroup/devices (or run with --skip cgroup, and the container can open every host device)".to_string(),
        _ => format!("mount it: mkdir -p /sys/fs/cgroup/{ctrl} && mount -t cgroup -o {ctrl} none /sys/fs/cgroup/{ctrl}; or leave out {flag}"),
    };
    Error::new(
        format!("the {ctrl} controller that {flag} needs is not available on this host: {where_}"),
        todo,
    )
}

/// The diagnosis for a refused write to a cgroup file.
/// Write one limit file in cgroup `dir` (narrated, explained with -v): `run` when it makes
/// the cgroup, `update` on a running container's.
pub fn write_limit(sys: &Sys, dir: &Path, w: &LimitWrite) -> Result<()> {
    write_limits(sys, dir, std::slice::from_ref(w))
}

/// Writes in a row to one file of cgroup `dir` (all of `ws` name the same file), through one
/// open: devices.allow takes one rule a write, and eleven opens and closes cost more than
/// the writes.
fn write_limits(sys: &Sys, dir: &Path, ws: &[LimitWrite]) -> Result<()> {
    let Some(first) = ws.first() else {
        return Ok(());
    };
    let path = dir.join(first.file);
    let values: Vec<(&str, &str)> = ws.iter().map(|w| (&*w.value, &*w.why)).collect();
    sys.write_file_each(&path, &values, |value, e| {
        diagnose::cgroup_write(&path, value, e)
    })?;
    explain_file(sys, first.file);
    Ok(())
}

fn write_diagnosis(
    path: &Path,
    value: &str,
) -> impl FnOnce(nix::errno::Errno) -> crate::sys::Diagnosis {
    let path = path.to_path_buf();
    let value = value.to_string();
    move |errno| diagnose::cgroup_write(&path, &value, errno)
}

/// Create the cgroups and write the limits. On failure, what was made is removed again.
pub fn apply(sys: &Sys, journal: Option<&Journal>, plan: &Plan) -> Result<Made> {
    apply_ops_undoing(sys, journal, &ops(plan))
}

/// [`apply_ops`] into a new [`Made`]; on failure, what was made is removed again.
pub fn apply_ops_undoing(sys: &Sys, journal: Option<&Journal>, ops: &[Op]) -> Result<Made> {
    let mut made = Made::default();
    match apply_ops(sys, journal, ops, &mut made) {
        Ok(()) => Ok(made),
        Err(e) => {
            undo(sys, journal, &mut made);
            Err(e)
        }
    }
}

/// One step of making a container's cgroups, planned from the [`Plan`] before the first
/// call (as the mount, root and security stages' `ops`): `apply` performs them in order, a
/// dry run performs them on a kernel that makes no call, a unit test on the recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Which hierarchy comes next, and what it is for.
    Note(String),
    /// The parent (glassbox's shared one, or the engine's cgroupsPath parents) made if
    /// missing, then the group's own cgroup in it,
    /// both under the hierarchy's lock.
    MakeCgroup { group: Group, dir: PathBuf },
    /// One limit file written.
    Write { dir: PathBuf, write: LimitWrite },
    /// The device rule as an eBPF program attached to the cgroup (v2).
    DeviceProgram { dir: PathBuf },
}

/// The plan as the ordered list of what [`apply`] does.
pub fn ops(plan: &Plan) -> Vec<Op> {
    let mut ops = Vec::new();
    for g in &plan.groups {
        let dir = g.dir(&plan.name);
        ops.push(Op::Note(format!(
            "cgroup v{} hierarchy at {}{}",
            g.version,
            g.mount.display(),
            if g.controllers.is_empty() {
                format!(
                    " (no controller of ours here: used to hold, count and kill the processes{})",
                    if g.device_program {
                        ", and for the device rule"
                    } else {
                        ""
                    }
                )
            } else {
                format!(": {}", g.controllers.join(", "))
            }
        )));
        ops.push(Op::MakeCgroup {
            group: g.clone(),
            dir: dir.clone(),
        });
        for w in &g.writes {
            ops.push(Op::Write {
                dir: dir.clone(),
                write: w.clone(),
            });
        }
        if g.device_program {
            ops.push(Op::DeviceProgram { dir });
        }
    }
    ops
}

/// The plan's ops in two parts: its cgroup v2 directory (with the note that introduces it),
/// which a child must find to be cloned into it, then everything else in order. A child
/// cloned between the two enters its cgroups v1 once the second part is done.
pub fn ops_v2_dir_first(plan: &Plan) -> (Vec<Op>, Vec<Op>) {
    let mut rest = ops(plan);
    let v2_dir = |o: &Op| matches!(o, Op::MakeCgroup { group, .. } if group.version == 2);
    let Some(at) = rest.iter().position(v2_dir) else {
        return (Vec::new(), rest);
    };
    let from = match at.checked_sub(1).map(|i| &rest[i]) {
        Some(Op::Note(_)) => at - 1,
        _ => at,
    };
    let first = rest.drain(from..=at).collect();
    (first, rest)
}

/// Perform `ops` in order (see [`ops`]); what they make goes into `made`, which the caller
/// undoes if they fail.
pub fn apply_ops(sys: &Sys, journal: Option<&Journal>, ops: &[Op], made: &mut Made) -> Result<()> {
    let mut rest = ops;
    while let Some((op, tail)) = rest.split_first() {
        let Op::Write { dir, write } = op else {
            perform(sys, journal, op, made)?;
            rest = tail;
            continue;
        };
        // The writes in a row to this one file go through one open.
        let same: Vec<LimitWrite> = rest
            .iter()
            .map_while(|o| match o {
                Op::Write { dir: d, write: w } if d == dir && w.file == write.file => {
                    Some(w.clone())
                }
                _ => None,
            })
            .collect();
        write_limits(sys, dir, &same)?;
        rest = &rest[same.len()..];
    }
    Ok(())
}

/// Perform one op through `sys`; what it made goes into `made` (for [`undo`]).
fn perform(sys: &Sys, journal: Option<&Journal>, op: &Op, made: &mut Made) -> Result<()> {
    match op {
        Op::Note(text) => sys.narrator.note(text),
        Op::MakeCgroup { group, dir } => make_cgroup(sys, journal, group, dir, made)?,
        Op::Write { dir, write } => write_limit(sys, dir, write)?,
        Op::DeviceProgram { dir } => devices::attach(sys, dir, devices::DEFAULT)?,
    }
    Ok(())
}

/// The parent (if missing) and cgroup `dir` of group `g`. One journal entry, written before
/// either mkdir, stands for both: undoing a cgroup removes the shared parent once empty.
fn make_cgroup(
    sys: &Sys,
    journal: Option<&Journal>,
    g: &Group,
    dir: &Path,
    made: &mut Made,
) -> Result<()> {
    // Held from the parent's mkdir to ours, so no cleanup or other run removes the parent
    // in between; a glassbox from before the lock still might: try again then.
    let mut tries = 0;
    let _parent = sys.lock_dir(&g.mount, PARENT_LOCK)?;
    loop {
        tries += 1;
        let id = record(journal, dir)?;
        let mut parent_made = false;
        let ready = match g.in_shared_parent() {
            true => ensure_parent(sys, g).and_then(|made| {
                parent_made = made;
                set_up_parent(sys, g, made)
            }),
            false => engine::ensure_parents(sys, g),
        };
        let mkdir = ready.and_then(|()| {
            sys.mkdir(
                dir,
                0o755,
                "a new cgroup: the kernel fills the directory with its control files",
            )
        });
        match mkdir {
            Ok(()) => {
                made.dirs.push((dir.to_path_buf(), id));
                if g.has_cpuset() {
                    engine::copy_cpuset(sys, dir)?;
                }
                return Ok(());
            }
            Err(e) => {
                if e.errno == Some(nix::errno::Errno::ENOENT) && tries < 3 {
                    strike(journal, id.as_deref());
                    continue;
                }
                // Its parent, made for it, goes with it (unless another run is in it by now);
                // if it cannot, the entry stays for cleanup, which removes an empty parent.
                if !parent_made || remove_empty_parent(sys, &g.parent).is_ok() {
                    strike(journal, id.as_deref());
                }
                return Err(e);
            }
        }
    }
}

fn strike(journal: Option<&Journal>, id: Option<&str>) {
    if let (Some(j), Some(id)) = (journal, id) {
        j.strike(id);
    }
}

fn record(journal: Option<&Journal>, dir: &Path) -> Result<Option<String>> {
    journal
        .map(|j| {
            j.record(Resource::Cgroup {
                path: dir.to_path_buf(),
            })
        })
        .transpose()
}

/// The shared `glassbox` parent, made if missing: true if this call made it. (No journal
/// entry of its own: the entry of the cgroup about to be made in it stands for it.)
fn ensure_parent(sys: &Sys, g: &Group) -> Result<bool> {
    let parent = g.parent();
    if g.version == 2 && !g.controllers.is_empty() {
        enable_controllers(sys, &g.mount, &g.controllers, "the v2 root")?;
    }
    let mut made = false;
    if !parent.exists() {
        match sys.mkdir(
            &parent,
            0o755,
            "the parent all glassbox cgroups go under, so they are easy to find",
        ) {
            Ok(()) => made = true,
            // Another run made it at the same moment: fine.
            Err(e) if e.errno == Some(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

/// The shared parent readied for a cgroup: its cpuset copied when just `made`, and on v2
/// our controllers enabled for its children.
fn set_up_parent(sys: &Sys, g: &Group, made: bool) -> Result<()> {
    let parent = g.parent();
    if made && g.has_cpuset() {
        engine::copy_cpuset(sys, &parent)?;
    }
    if g.version == 2 && !g.controllers.is_empty() {
        enable_controllers(sys, &parent, &g.controllers, "the glassbox parent")?;
    }
    Ok(())
}

/// On v2, a controller's files appear in a cgroup only when its parent lists the controller
/// in cgroup.subtree_control. Enable the ones not yet enabled there.
pub(crate) fn enable_controllers(
    sys: &Sys,
    cgroup: &Path,
    ctrls: &[&str],
    what: &str,
) -> Result<()> {
    let file = cgroup.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&file).unwrap_or_default();
    let missing: Vec<String> = ctrls
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let value = missing.join(" ");
    sys.write_file(
        &file,
        &value,
        &format!("enable {} for the cgroups under {what}", ctrls.join(", ")),
        write_diagnosis(&file, &value),
    )?;
    explain_file(sys, "cgroup.subtree_control");
    if !cgroup.ends_with(PARENT) {
        // Not undone: other cgroups may come to rely on it (systemd and docker do the same).
        sys.narrator.warn(&format!(
            "{} now hands {value} to its children; glassbox leaves that as it is",
            cgroup.display()
        ));
    }
    Ok(())
}

/// At -v, the catalog's explanation of a cgroup file after its write. Below -v the catalog
/// is not even looked at: parsing it costs a third of a millisecond on every run.
fn explain_file(sys: &Sys, file: &str) {
    if sys.narrator.level < crate::narrate::Level::Verbose {
        return;
    }
    if let Some(e) = crate::narrate::catalog::lookup_kind(file, "file") {
        if !sys.narrator.first_time(&e) {
            sys.narrator
                .verbose(&format!("({} explained above)", e.name));
            return;
        }
        sys.narrator
            .verbose(&format!("{}: {}", e.name, e.summary.trim()));
        for line in e.explain.trim().lines() {
            sys.narrator.verbose(line);
        }
    }
}

/// In the child, before exec: move this process into every cgroup of the plan.
pub fn enter(sys: &Sys, plan: &Plan) -> Result<()> {
    attach(sys, plan, std::process::id() as i32)
}

/// Move process `pid` into every cgroup of the plan (from the parent, as `run` does while
/// the child waits at its gate: inside its own pid namespace the child is PID 1, a number
/// that means another process out here).
pub fn attach(sys: &Sys, plan: &Plan, pid: i32) -> Result<()> {
    let pid = pid.to_string();
    for dir in plan.dirs() {
        let procs = dir.join("cgroup.procs");
        sys.write_file(
            &procs,
            &pid,
            "move this process into the cgroup: from now on its children are born there too",
            write_diagnosis(&procs, &pid),
        )?;
        explain_file(sys, "cgroup.procs");
    }
    Ok(())
}

/// The plan's cgroup v2 directory, if it has one: `run` starts the container's first process
/// straight in it (clone3 with CLONE_INTO_CGROUP), so nobody has to move it there.
pub fn v2_dir(plan: &Plan) -> Option<PathBuf> {
    plan.groups
        .iter()
        .find(|g| g.version == 2)
        .map(|g| g.dir(&plan.name))
}

/// In `run`'s child, right after its gate opens and before it mounts anything (a child
/// cloned ahead: after its last gate, once its cgroups v1 exist): move itself
/// into every cgroup v1 of the plan by writing "0" into each one's `tasks` file. "0" means
/// the writer; `tasks` moves one thread, and a single thread moving itself is the one move
/// the kernel makes without its global threadgroup lock (a pid written into cgroup.procs
/// takes it, and may wait for an RCU grace period: milliseconds). The child is one thread,
/// so the whole process moves, and so does everything it forks or execs later.
pub fn enter_self_v1(sys: &Sys, plan: &Plan) -> Result<()> {
    for g in plan.groups.iter().filter(|g| g.version == 1) {
        let tasks = g.dir(&plan.name).join("tasks");
        sys.write_file(
            &tasks,
            "0",
            "the child moves itself (0: the writer, one thread) into its cgroup v1, before the container's first instruction",
            write_diagnosis(&tasks, "0"),
        )?;
        explain_file(sys, "tasks");
    }
    Ok(())
}

/// From `run`'s parent, for a child in a user namespace (`--userns private`), which may not
/// write the host's `tasks` files itself: move it into the plan's cgroups v1 by pid.
pub fn attach_v1(sys: &Sys, plan: &Plan, pid: i32) -> Result<()> {
    let pid = pid.to_string();
    for g in plan.groups.iter().filter(|g| g.version == 1) {
        let procs = g.dir(&plan.name).join("cgroup.procs");
        sys.write_file(
            &procs,
            &pid,
            "move the child into its cgroup v1 from outside: in its user namespace it may not write the host's cgroup files",
            write_diagnosis(&procs, &pid),
        )?;
        explain_file(sys, "cgroup.procs");
    }
    Ok(())
}

/// From `run`'s parent, when the child could not be born in the plan's cgroup v2 (a kernel
/// without clone3's CLONE_INTO_CGROUP): move it there by pid, as [`attach`] does.
pub fn attach_v2(sys: &Sys, plan: &Plan, pid: i32) -> Result<()> {
    let pid = pid.to_string();
    for g in plan.groups.iter().filter(|g| g.version == 2) {
        let procs = g.dir(&plan.name).join("cgroup.procs");
        sys.write_file(
            &procs,
            &pid,
            "move the child into the cgroup v2 (this kernel could not start it there)",
            write_diagnosis(&procs, &pid),
        )?;
        explain_file(sys, "cgroup.procs");
    }
    Ok(())
}

/// Remove what [`apply`] made, newest first, striking each journal entry once it is gone.
/// Errors are shown as warnings: the journal keeps what could not be removed for cleanup.
pub fn undo(sys: &Sys, journal: Option<&Journal>, made: &mut Made) {
    while let Some((dir, id)) = made.dirs.pop() {
        // The shared parent goes with the last cgroup in it (remove_cgroup).
        match remove_cgroup(sys, &dir) {
            Ok(()) => strike(journal, id.as_deref()),
            Err(e) => sys.narrator.warn(&format!(
                "{} is left behind: {}; `glassbox cleanup` will try again",
                dir.display(),
                e.what
            )),
        }
    }
}

fn is_shared_parent(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == PARENT)
}

/// What the lock on a hierarchy's root guards: its `glassbox` parent. A glassbox holds it
/// (flock(2) on the hierarchy's root directory, which every glassbox shares whatever its
/// state directory) while it makes the parent and its cgroup in it, and while it removes
/// the parent: so the parent is never removed between another run's mkdir of it and of
/// its child.
const PARENT_LOCK: &str = "the cgroup hierarchy's glassbox parent";

/// Remove the shared `glassbox` parent if no other run uses it (the last run out removes it).
/// The kernel refuses to remove a cgroup that holds cgroups (EBUSY): then another run is
/// using it and removes it when it ends, so that counts as done, as does already gone.
fn remove_parent_if_empty(sys: &Sys, parent: &Path) -> Result<()> {
    let Some(mount) = parent.parent() else {
        return Ok(());
    };
    let _lock = match sys.lock_dir(mount, PARENT_LOCK) {
        Err(_) if !parent.exists() => return Ok(()),
        lock => lock?,
    };
    remove_empty_parent(sys, parent)
}

/// [`remove_parent_if_empty`] by a caller that holds the lock already.
fn remove_empty_parent(sys: &Sys, parent: &Path) -> Result<()> {
    let in_use = |e: nix::errno::Errno| matches!(e, Errno::EBUSY | Errno::ENOTEMPTY);
    let res = sys.rmdir_diagnosed(
        parent,
        "remove the glassbox parent if no run's cgroup is left in it (EBUSY: another run still has one, and the last run out removes it)",
        |e| match e {
            // Expected: not a failure to explain.
            e if in_use(e) || e == Errno::ENOENT => crate::sys::Diagnosis::expected(),
            e => diagnose::generic("rmdir", e),
        },
    );
    match res {
        Err(e) if e.errno.is_some_and(in_use) => {
            sys.narrator.note(&format!(
                "{} holds the cgroups of another glassbox run: the last run out removes it",
                parent.display()
            ));
            Ok(())
        }
        Err(e) if e.errno == Some(Errno::ENOENT) => Ok(()),
        other => other,
    }
}

/// Remove a cgroup, ending first what is left in it. Already gone counts as removed. The
/// shared parent is left while another run has a cgroup in it (the last run out removes
/// it).
pub fn remove_cgroup(sys: &Sys, path: &Path) -> Result<()> {
    if is_shared_parent(path) {
        // An entry of the shared parent itself, as an older glassbox wrote them: while
        // another run has a cgroup in it, that run removes it when it ends (the last one
        // out does), so it counts as done here.
        return remove_parent_if_empty(sys, path);
    }
    let procs = |p: &Path| -> std::io::Result<Vec<i32>> {
        let text = crate::host::read_small(p.join("cgroup.procs"))?;
        Ok(text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    };
    // The usual end: the container's init has been waited for, the cgroup is empty and
    // goes at once. Only one that still holds processes (EBUSY) has them ended first; one
    // already gone (a glassbox killed between the two mkdirs) counts as removed. Its entry
    // also stands for the shared parent it is in: the last cgroup out removes it.
    let parent_too = || {
        path.parent()
            .filter(|p| is_shared_parent(p) && p.exists())
            .map_or(Ok(()), |parent| remove_parent_if_empty(sys, parent))
    };
    let why = "remove the cgroup directory: the kernel frees the cgroup (EBUSY: processes are left in it, and are ended first)";
    let expected = |e: Errno| e == Errno::EBUSY || e == Errno::ENOENT;
    let first = sys.rmdir_diagnosed(path, why, |e| match e {
        e if expected(e) => crate::sys::Diagnosis::expected(),
        e => diagnose::generic("rmdir", e),
    });
    match first {
        Err(e) if e.errno == Some(Errno::EBUSY) => {
            kill_all(sys, path, |p| procs(p).unwrap_or_default())?;
            sys.rmdir(path, "remove the cgroup directory, empty now")?;
        }
        Err(e) if e.errno == Some(Errno::ENOENT) => {}
        other => other?,
    }
    parent_too()
}

/// End every process left in cgroup `path` (`procs` lists them), and wait until the kernel
/// has let go of the last one: by cgroup.kill (v2), by the freezer (v1), else one by one.
fn kill_all(sys: &Sys, path: &Path, procs: impl Fn(&Path) -> Vec<i32>) -> Result<()> {
    let kill = path.join("cgroup.kill");
    if kill.exists() {
        sys.write_file(
            &kill,
            "1",
            "kill every process left in the cgroup, even ones forked meanwhile (cgroup v2)",
            write_diagnosis(&kill, "1"),
        )?;
        explain_file(sys, "cgroup.kill");
    } else if path.join("freezer.state").exists() {
        freeze_and_kill(sys, path)?;
    } else {
        // cgroup v1 without a freezer: kill what is listed until nothing is left (the pids
        // limit, if any, bounds how many new ones can appear meanwhile).
        for _ in 0..50 {
            let left = procs(path);
            if left.is_empty() {
                break;
            }
            for pid in left {
                let _ = sys.kill(
                    pid,
                    libc::SIGKILL,
                    "a process left in the cgroup must end before the cgroup can go",
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // The kernel removes a cgroup only once its last process has fully exited.
    for _ in 0..300 {
        if procs(path).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// cgroup v1: freeze the cgroup so no process in it can run (or fork), send each one
/// SIGKILL, then thaw it so the kills take effect.
fn freeze_and_kill(sys: &Sys, path: &Path) -> Result<()> {
    let freezer = freezer::Freezer {
        file: path.join("freezer.state"),
        v2: false,
    };
    freezer.freeze(
        sys,
        "stop every process in the cgroup, so none can fork while they are killed",
    )?;
    let pids: Vec<i32> = std::fs::read_to_string(path.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for pid in pids {
        let _ = sys.kill(
            pid,
            libc::SIGKILL,
            "a process left in the frozen cgroup: it dies as soon as it is thawed",
        );
    }
    freezer.thaw(
        sys,
        "let the processes run again, so the pending SIGKILLs end them",
    )
}

/// `glassbox cgroup`: a cgroup of its own name (default gb-PID) with these limits.
#[derive(Debug, Clone, Default)]
pub struct CgroupSpec {
    pub name: Option<String>,
    pub limits: limits::LimitSpec,
}

/// `glassbox cgroup`: plan, apply, fork, enter, exec `command`; wait, report, undo.
pub fn main(spec: &CgroupSpec, command: &[String], sys: &Sys) -> Result<i32> {
    let limits = Limits::parse(&spec.limits)?;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("gb-{}", std::process::id()));
    // Without root, the subtree delegated to the user stands in for the host's tree.
    let host = CgroupHost::current();
    let subtree = crate::host::cgroups::delegated(&host, &limits.controllers());
    let host = subtree.clone().unwrap_or(host);
    let plan = plan(&host, &limits, &name)?;
    if plan.groups.is_empty() {
        return Err(Error::new(
            "there is no cgroup hierarchy to put the command in: no limit was asked for and this host has no cgroup v2 tree",
            "give a limit (--memory, --cpus, --cpu-shares, --pids)",
        ));
    }
    if let Some(d) = plan.dirs().into_iter().find(|d| d.exists()) {
        return Err(Error::usage(
            format!("a cgroup named {name:?} already exists ({})", d.display()),
            "pick another --name, or run `glassbox cleanup` if a killed glassbox left it",
        ));
    }
    // A command that cannot be found is known now: say so before anything is created.
    if let Some(cmd) = command.first() {
        let path_var = std::env::var("PATH").ok();
        if crate::sys::process::find_command(cmd, path_var.as_deref()).is_none() {
            return Err(Error::new(
                format!("the command {cmd:?} was not found on PATH, so no cgroup was made for it"),
                "check the name, or give the full path of the program",
            )
            .with_code(crate::error::exit::NOT_FOUND));
        }
    }
    sys.require(|| match crate::host::is_root() || subtree.is_some() {
        true => Ok(()),
        false => Err(Error::new(
            "glassbox cgroup needs root here: only root may create cgroups under /sys/fs/cgroup, and no cgroup v2 subtree with the controllers asked for is delegated to you",
            "run it with sudo, or on a cgroup v2 host in a delegated subtree (systemd-run --user --scope -p Delegate=yes glassbox cgroup …); --dry-run shows the plan",
        )),
    })?;
    let n = sys.narrator;
    n.stage("cgroup", "limit memory, CPU and processes for the command");
    n.note(&format!("this host: {}", plan.layout.describe()));
    let journal = sys.journal()?;
    let mut made = apply(sys, journal.as_ref(), &plan)?;
    let started = std::time::Instant::now();
    let (forked, gate) = match sys.fork_gated(
        0,
        "a child for the command; it joins the cgroups before it execs",
    ) {
        Ok(f) => f,
        Err(e) => {
            undo(sys, journal.as_ref(), &mut made);
            return Err(e);
        }
    };
    let pid = match forked {
        Forked::Child => {
            let err = match enter(sys, &plan) {
                Ok(()) => {
                    sys.note_if_not_made(|| {
                        let mut dirs = plan.dirs();
                        dirs.reverse();
                        format!(
                            "(dry run) the command would run now; when it ends glassbox reports what the kernel counted, kills what is left, and removes {}",
                            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                        )
                    });
                    match sys.exec(command, "the child becomes the command") {
                        Err(e) => e,
                        Ok(never) => match never {},
                    }
                }
                Err(e) => e,
            };
            sys.fail_to_parent(gate.as_ref(), &err)
        }
        Forked::Parent(pid) => pid,
    };
    forward_signals_to(pid);
    let waited = sys.wait_child(
        pid,
        gate.as_ref(),
        "wait for the command to end, then report and clean up",
    );
    let wall = started.elapsed();
    let usage = report::read(&plan.groups, &plan.name);
    let code = match waited {
        Ok(ended) => {
            for line in report::lines(&usage, &plan.limits, ended, wall) {
                n.note(&line);
            }
            Ok(exit_code(ended, &usage))
        }
        Err(e) => Err(e),
    };
    undo(sys, journal.as_ref(), &mut made);
    code
}

/// The command's exit code as docker gives it; an OOM kill is 137 (128 + SIGKILL).
pub fn exit_code(ended: Ended, usage: &report::Usage) -> i32 {
    match ended {
        Ended::Signaled(libc::SIGKILL) if usage.oom_kills.unwrap_or(0) > 0 => 137,
        e => e.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mountinfo::parse;

    use crate::host::cgroups::tests::HYBRID;

    fn limits() -> Limits {
        Limits {
            memory: Some(32 << 20),
            pids: Some(Some(20)),
            cpus: Some(limits::Cpus {
                quota_us: 20_000,
                period_us: 100_000,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn hybrid_plan_has_one_cgroup_per_hierarchy_and_v2_last() {
        let host = CgroupHost::detect(&parse(HYBRID), |_| Some(String::new()));
        let p = plan(&host, &limits(), "t1").unwrap();
        let dirs: Vec<String> = p.dirs().iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            dirs,
            vec![
                "/sys/fs/cgroup/memory/glassbox/t1",
                "/sys/fs/cgroup/cpu/glassbox/t1",
                "/sys/fs/cgroup/pids/glassbox/t1",
                "/sys/fs/cgroup/unified/glassbox/t1",
            ]
        );
        assert_eq!(p.groups[0].writes[0].file, "memory.limit_in_bytes");
        assert!(p.groups[3].writes.is_empty());
    }

    #[test]
    fn apply_performs_its_ops_in_order_through_the_recorder() {
        let root = Path::new("/nonexistent/glassbox-cgroup-test");
        let plan = Plan {
            name: "t9".into(),
            limits: limits(),
            layout: Layout::Hybrid,
            groups: vec![
                Group {
                    version: 1,
                    mount: root.join("memory"),
                    controllers: vec!["memory"],
                    writes: v1::writes(&limits(), &["memory"]),
                    device_program: false,
                    parent: root.join("memory").join(PARENT),
                    hierarchy: vec!["memory".into()],
                },
                Group {
                    version: 2,
                    mount: root.join("unified"),
                    controllers: vec![],
                    writes: vec![],
                    device_program: true,
                    parent: root.join("unified").join(PARENT),
                    hierarchy: vec![],
                },
            ],
        };
        let narrator = crate::narrate::Narrator::silent();
        let recorder = crate::sys::Recorder::new();
        let sys = Sys::with_kernel(&narrator, &recorder);
        let made = apply(&sys, None, &plan).unwrap();
        let base = root.display();
        assert_eq!(
            recorder.lines()[..5],
            [
                format!("mkdir(\"{base}/memory/glassbox\", 0755)"),
                format!("mkdir(\"{base}/memory/glassbox/t9\", 0755)"),
                format!(
                    "write(?<{base}/memory/glassbox/t9/memory.limit_in_bytes>, \"33554432\", 8)"
                ),
                format!("mkdir(\"{base}/unified/glassbox\", 0755)"),
                format!("mkdir(\"{base}/unified/glassbox/t9\", 0755)"),
            ]
        );
        // The device rule last: the program loaded, then attached through the cgroup's fd.
        assert_eq!(recorder.names()[5..], ["bpf", "openat", "bpf"]);
        // One entry a cgroup: each stands for its shared parent too.
        assert_eq!(made.dirs.len(), 2, "{:?}", made.dirs);
    }

    #[test]
    fn a_missing_controller_is_an_error_that_says_where() {
        let host = CgroupHost::detect(
            &parse("41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"),
            |_| Some("hugetlb\n".into()),
        );
        let e = plan(&host, &limits(), "t2").unwrap_err();
        assert!(e.what.contains("memory controller"), "{}", e.what);
        assert!(e.what.contains("/sys/fs/cgroup/unified"), "{}", e.what);
    }

    #[test]
    fn v1_plan_with_comounted_cpu_and_a_freezer_to_kill_with() {
        let v1 = "\
25 18 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
29 25 0:26 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
";
        let host = CgroupHost::detect(&parse(v1), |_| None);
        let p = plan(&host, &limits(), "t4").unwrap();
        let dirs: Vec<String> = p.dirs().iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            dirs,
            vec![
                "/sys/fs/cgroup/memory/glassbox/t4",
                "/sys/fs/cgroup/cpu,cpuacct/glassbox/t4",
                "/sys/fs/cgroup/pids/glassbox/t4",
                "/sys/fs/cgroup/freezer/glassbox/t4",
            ]
        );
        assert_eq!(p.groups[1].writes[1].file, "cpu.cfs_quota_us");
        assert_eq!(p.groups[1].writes[1].value, "20000");
        assert!(p.groups[3].writes.is_empty());
    }

    #[test]
    fn v2_plan_is_one_cgroup_with_every_controller() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let host = CgroupHost::detect(&parse(v2), |_| Some("cpuset cpu io memory pids\n".into()));
        let p = plan(&host, &limits(), "t5").unwrap();
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.dirs()[0], PathBuf::from("/sys/fs/cgroup/glassbox/t5"));
        assert_eq!(p.groups[0].controllers, vec!["memory", "cpu", "pids"]);
        let files: Vec<&str> = p.groups[0].writes.iter().map(|w| w.file).collect();
        assert_eq!(files, vec!["memory.max", "cpu.max", "pids.max"]);
    }

    #[test]
    fn a_container_gets_the_device_rule_on_v1_and_a_program_on_v2() {
        let hybrid =
            format!("{HYBRID}36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n");
        let host = CgroupHost::detect(&parse(&hybrid), |_| Some(String::new()));
        let p = plan_container(&host, &Limits::default(), "d1").unwrap();
        let dirs: Vec<String> = p.dirs().iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            dirs,
            vec![
                "/sys/fs/cgroup/devices/glassbox/d1",
                "/sys/fs/cgroup/unified/glassbox/d1",
            ]
        );
        assert_eq!(p.groups[0].writes[0].file, "devices.deny");
        assert_eq!(p.groups[0].writes.len(), 1 + devices::DEFAULT.len());
        assert!(
            !p.groups[1].device_program,
            "v1 holds the rule on a hybrid host"
        );

        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let host = CgroupHost::detect(&parse(v2), |_| Some("cpu memory pids\n".into()));
        let p = plan_container(&host, &Limits::default(), "d2").unwrap();
        assert_eq!(p.groups.len(), 1);
        assert!(p.groups[0].device_program);
        assert!(p.groups[0].writes.is_empty());
        // `glassbox cgroup` has no device rule.
        assert!(!plan(&host, &limits(), "d3").unwrap().groups[0].device_program);

        let v1 = "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let host = CgroupHost::detect(&parse(v1), |_| None);
        let e = plan_container(&host, &Limits::default(), "d4").unwrap_err();
        assert!(e.what.contains("devices controller"), "{}", e.what);
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "..", "a/b", ".x", "x y", "glassbox"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        check_name("gb-12.test_x").unwrap();
    }

    /// The v2 driver on a directory standing in for a v2 root (regular files, not the kernel):
    /// checks which files are written with what, and that undo removes everything.
    #[test]
    fn v2_driver_writes_into_a_stand_in_tree() {
        let root = tempfile::tempdir().unwrap();
        let mount = root.path().to_path_buf();
        std::fs::write(mount.join("cgroup.subtree_control"), "").unwrap();
        let host = CgroupHost {
            layout: Layout::V2,
            v2_mount: Some(mount.clone()),
            v2_controllers: vec!["memory".into(), "cpu".into(), "pids".into()],
            v1_hierarchies: Vec::new(),
        };
        let p = plan(&host, &limits(), "t3").unwrap();
        assert_eq!(p.groups.len(), 1);
        // The kernel would create these files on mkdir; the stand-in makes them first.
        let narrator = crate::narrate::Narrator::silent();
        let sys = Sys::new(&narrator);
        let parent = mount.join("glassbox");
        std::fs::create_dir(&parent).unwrap();
        std::fs::write(parent.join("cgroup.subtree_control"), "").unwrap();
        let dir = parent.join("t3");
        std::fs::create_dir(&dir).unwrap();
        for f in ["memory.max", "cpu.max", "pids.max"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        for w in &p.groups[0].writes {
            sys.write_file_plain(&dir.join(w.file), &w.value, &w.why)
                .unwrap();
        }
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "33554432");
        assert_eq!(read("cpu.max"), "20000 100000");
        assert_eq!(read("pids.max"), "20");
        enable_controllers(&sys, &mount, &p.groups[0].controllers, "the root").unwrap();
        assert_eq!(
            std::fs::read_to_string(mount.join("cgroup.subtree_control")).unwrap(),
            "+memory +cpu +pids"
        );
    }
}

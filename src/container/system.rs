//! The housekeeping commands docker has around its containers and images: `container prune`,
//! `image prune [-a]`, `system df`, `system prune`, `info` and `version`. They read the
//! store and the host; prune removes through the same code as rm and rmi (each removal
//! narrated there).

use crate::error::Result;
use crate::store::containers::{list, Container, Status};
use crate::store::images::ImageRecord;
use crate::sys::Sys;

/// The bytes of the files under `dir` (symlinks not followed).
fn du(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn stopped(c: &Container) -> bool {
    c.state().effective() != Status::Running
}

/// `container prune`: remove every container that is not running. Prints what went.
pub fn container_prune(sys: &Sys) -> Result<i32> {
    crate::store::need_root("container prune")?;
    sys.narrator
        .stage("prune", "remove every container that is not running");
    let mut freed = 0;
    let mut code = 0;
    crate::outln!("Deleted Containers:");
    for c in list().into_iter().filter(stopped) {
        let size = du(&c.upper());
        match super::lifecycle::rm(sys, &c, false) {
            Ok(()) => {
                crate::outln!("{}", c.id());
                freed += size;
            }
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    crate::outln!(
        "\nTotal reclaimed space: {}",
        crate::out::docker_size(freed)
    );
    Ok(code)
}

/// The images no container uses; without `all`, only those without a name (dangling).
fn unused(all: bool) -> Vec<ImageRecord> {
    crate::store::images::list()
        .into_iter()
        .filter(|r| all || r.names.is_empty())
        .filter(|r| crate::images::users(r).is_empty())
        .collect()
}

/// `image prune [-a]`.
pub fn image_prune(sys: &Sys, all: bool) -> Result<i32> {
    crate::store::need_root("image prune")?;
    sys.narrator.stage(
        "prune",
        if all {
            "remove every image no container uses"
        } else {
            "remove the images without a name (dangling) that no container uses"
        },
    );
    let mut freed = 0;
    let mut code = 0;
    crate::outln!("Deleted Images:");
    for rec in unused(all) {
        match crate::images::rmi(sys, &rec.id, true) {
            Ok(lines) => {
                lines.iter().for_each(|l| crate::outln!("{l}"));
                freed += rec.size();
            }
            Err(e) => {
                crate::narrate::report_error(&e);
                code = 1;
            }
        }
    }
    crate::outln!(
        "\nTotal reclaimed space: {}",
        crate::out::docker_size(freed)
    );
    Ok(code)
}

/// `system prune [-a]`: stopped containers, then unused images.
pub fn system_prune(sys: &Sys, all: bool) -> Result<i32> {
    let a = container_prune(sys)?;
    let b = image_prune(sys, all)?;
    Ok(a.max(b))
}

/// `system df`: what the store holds and what of it prune could free.
pub fn df() -> Result<i32> {
    let images = crate::store::images::list();
    let containers = list();
    let used_images = images
        .iter()
        .filter(|r| !crate::images::users(r).is_empty())
        .count();
    let image_size: u64 = images.iter().map(|r| r.size()).sum();
    let unused_size: u64 = images
        .iter()
        .filter(|r| crate::images::users(r).is_empty())
        .map(|r| r.size())
        .sum();
    let running = containers.iter().filter(|c| !stopped(c)).count();
    let sizes: Vec<(bool, u64)> = containers
        .iter()
        .map(|c| (stopped(c), du(&c.upper())))
        .collect();
    let ctr_size: u64 = sizes.iter().map(|(_, s)| s).sum();
    let ctr_free: u64 = sizes.iter().filter(|(s, _)| *s).map(|(_, n)| n).sum();
    let pct = |part: u64, whole: u64| match (part * 100).checked_div(whole) {
        Some(p) => format!("{} ({p}%)", crate::out::docker_size(part)),
        None => "0B".to_string(),
    };
    let size = crate::out::docker_size;
    super::ps::print_table(&[
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec(),
        vec![
            "Images".into(),
            images.len().to_string(),
            used_images.to_string(),
            size(image_size),
            pct(unused_size, image_size),
        ],
        vec![
            "Containers".into(),
            containers.len().to_string(),
            running.to_string(),
            size(ctr_size),
            pct(ctr_free, ctr_size),
        ],
    ]);
    Ok(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// `info`: the facts docker info gives, from this host and glassbox's store.
pub fn info() -> Result<i32> {
    use crate::host::cgroups::{CgroupHost, Layout};
    let containers = list();
    let count = |s: Status| {
        containers
            .iter()
            .filter(|c| c.state().effective() == s)
            .count()
    };
    let host = CgroupHost::current();
    let paused = containers
        .iter()
        .filter(|c| super::pause::is_paused(&host, c))
        .count();
    let running = count(Status::Running);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    let cgroup_version = match host.layout {
        Layout::V2 => "2",
        Layout::V1 => "1",
        Layout::Hybrid => "1 (hybrid: controllers on v1, a v2 hierarchy beside them)",
        Layout::None => "none mounted",
    };
    let lines = [
        format!("Containers: {}", containers.len()),
        format!(" Running: {}", running - paused),
        format!(" Paused: {paused}"),
        format!(" Stopped: {}", containers.len() - running),
        format!("Images: {}", crate::store::images::list().len()),
        format!("Server Version: glassbox {}", env!("CARGO_PKG_VERSION")),
        "Storage Driver: overlay (overlayfs, one lower directory per layer)".into(),
        "Logging Driver: CRI log format (containers/ID/log)".into(),
        "Cgroup Driver: cgroupfs".into(),
        format!("Cgroup Version: {cgroup_version}"),
        format!(
            "Default Runtime: glassbox (OCI runtime spec {})",
            crate::spec::build::OCI_VERSION
        ),
        format!("Kernel Version: {}", crate::sys::quiet::kernel_release()),
        format!("Operating System: {}", os_name()),
        format!("Architecture: {}", std::env::consts::ARCH),
        format!("CPUs: {}", crate::sys::quiet::online_cpus()),
        format!(
            "Total Memory: {}",
            crate::stages::cgroups::limits::human_bytes(memory * 1024)
        ),
        format!("Docker Root Dir: {}", crate::store::data_dir().display()),
        "(glassbox doctor checks each namespace, cgroup controller, overlayfs and netfilter)"
            .into(),
    ];
    super::ps::print_lines(lines);
    Ok(0)
}

/// `version`.
pub fn version() -> Result<i32> {
    super::ps::print_lines([
        format!("glassbox {}", env!("CARGO_PKG_VERSION")),
        format!(" OCI runtime spec: {}", crate::spec::build::OCI_VERSION),
        format!(" Kernel: {}", crate::sys::quiet::kernel_release()),
        format!(" OS/Arch: linux/{}", std::env::consts::ARCH),
    ]);
    Ok(0)
}

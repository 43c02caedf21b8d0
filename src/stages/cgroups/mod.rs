//! The cgroup stage. (Being built: see issue 6.)

use crate::cli::CgroupArgs;
use crate::error::{Error, Result};
use crate::sys::Sys;
use std::path::Path;

pub fn main(_a: &CgroupArgs, _sys: &Sys) -> Result<i32> {
    Err(Error::new(
        "glassbox cgroup is not built yet",
        "follow issue 6",
    ))
}

/// Kill what is left in a cgroup and remove it. Already gone counts as removed.
pub fn remove_cgroup(sys: &Sys, path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let kill = path.join("cgroup.kill");
    if kill.exists() {
        sys.write_file_plain(
            &kill,
            "1",
            "kill every process left in the cgroup (cgroup v2)",
        )?;
    } else if let Ok(procs) = std::fs::read_to_string(path.join("cgroup.procs")) {
        for pid in procs
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = sys.kill(
                pid,
                libc::SIGKILL,
                "a process left in the cgroup must end before the cgroup can go",
            );
        }
    }
    // The kernel removes a cgroup only once its last process has fully exited.
    for _ in 0..200 {
        let empty = std::fs::read_to_string(path.join("cgroup.procs"))
            .map(|s| s.trim().is_empty())
            .unwrap_or(true);
        if empty {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sys.rmdir(
        path,
        "remove the cgroup directory: the kernel frees the cgroup",
    )
}

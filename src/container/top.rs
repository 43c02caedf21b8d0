//! `glassbox top C [ps options]`: the processes of a container, as docker top shows them.
//! The kernel knows which processes are the container's: those in its cgroup (its
//! cgroup.procs). top runs the host's ps (with the options given, `-ef` by default) and
//! keeps the lines of those pids: the pids and users as the host sees them.

use crate::cli::TopArgs;
use crate::error::{Error, Result};
use crate::store::containers::find;

/// The pids in the container's cgroup.
fn pids(id: &str) -> Vec<String> {
    let dirs = super::cgroup::dirs(id);
    // Every process of the container is in each of its cgroups: one is enough.
    let Some(d) = dirs.iter().find(|d| d.path.join("cgroup.procs").exists()) else {
        return Vec::new();
    };
    std::fs::read_to_string(d.path.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The header and the lines of `ps` whose PID column is one of `pids`.
pub fn filter(ps: &str, pids: &[String]) -> Option<Vec<String>> {
    let mut lines = ps.lines();
    let header = lines.next()?;
    let col = header.split_whitespace().position(|h| h == "PID")?;
    let mut out = vec![header.to_string()];
    out.extend(
        lines
            .filter(|l| {
                l.split_whitespace()
                    .nth(col)
                    .is_some_and(|p| pids.iter().any(|x| x == p))
            })
            .map(String::from),
    );
    Some(out)
}

pub fn main(a: &TopArgs) -> Result<i32> {
    let c = find(&a.container).map_err(|e| e.with_code(1))?;
    if c.state().running_pid().is_none() {
        return Err(Error::usage(
            format!("container {} is not running: it has no processes", c.name()),
            format!("start it first: glassbox start {}", c.name()),
        )
        .with_code(1));
    }
    let pids = pids(c.id());
    if pids.is_empty() {
        return Err(Error::new(
            format!(
                "container {} has no cgroup to list its processes from (it was run with --skip cgroup)",
                c.name()
            ),
            "glassbox inspect --process shows its PID 1",
        )
        .with_code(1));
    }
    let options: Vec<String> = if a.ps_options.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_options.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&options)
        .output()
        .map_err(|e| {
            Error::io(
                "cannot run ps",
                &e,
                "install procps (apt-get install procps)",
            )
        })?;
    if !out.status.success() {
        return Err(Error::usage(
            format!(
                "ps {} failed: {}",
                options.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "give options ps understands, such as -ef, aux or -o pid,comm",
        )
        .with_code(1));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = filter(&text, &pids).ok_or_else(|| {
        Error::usage(
            format!(
                "ps {} shows no PID column to pick the container's processes by",
                options.join(" ")
            ),
            "ask for one, for example: glassbox top C -o pid,comm",
        )
        .with_code(1)
    })?;
    super::ps::print_lines(lines);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_containers_pids_are_kept() {
        let ps = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep 9\nroot 420 1 sh\n";
        assert_eq!(
            filter(ps, &["42".into()]).unwrap(),
            ["UID PID PPID CMD", "root 42 1 sleep 9"]
        );
        assert!(filter("USER COMMAND\nroot x\n", &["1".into()]).is_none());
    }
}

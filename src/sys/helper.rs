//! A helper program that runs beside a container for as long as it lives (slirp4netns),
//! shown as the command line a person would type (`$ slirp4netns … &`), as `run_tool` shows
//! the short-lived ones.

use super::Sys;
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;

impl Sys<'_> {
    /// Start `argv` in the background, in a process group of its own (a Ctrl-C meant for the
    /// container does not end it first), its output to `log`, keeping `fds` open under
    /// their own numbers (the numbers `argv` names: `--exit-fd=5`). None when calls are not
    /// made: the program is not started either.
    pub fn spawn_helper(
        &self,
        argv: &[String],
        fds: Vec<OwnedFd>,
        log: &std::path::Path,
        todo: &str,
    ) -> Result<Option<std::process::Child>> {
        self.narrator.note(&format!("$ {} &", argv.join(" ")));
        if !self.kernel.makes_calls() {
            return Ok(None);
        }
        let log = std::fs::File::create(log).map_err(|e| {
            Error::io(
                format!("cannot create {}", log.display()),
                &e,
                "check that the directory is yours and writable",
            )
        })?;
        let fail = |e: std::io::Error| Error::io(format!("cannot run {}", argv[0]), &e, todo);
        let err = log.try_clone().map_err(fail)?;
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        // SAFETY: only fcntl (async-signal-safe) between fork and exec: these descriptors
        // lose close-on-exec, so the program keeps exactly them.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &raw {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(fail)?;
        drop(fds);
        Ok(Some(child))
    }
}

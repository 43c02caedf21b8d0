//! A rootless container's network: without root, `--network bridge` is a user-mode network,
//! as rootless podman's. slirp4netns (Debian's `slirp4netns`) joins the container's user and
//! network namespaces, makes a tap device `eth0` there and carries its packets through
//! ordinary sockets of the user's: the container reaches what the user can reach, nothing on
//! the host changes, and a published port is a socket slirp4netns listens on for the user.
//!
//! slirp's network is fixed: the container is 10.0.2.100/24, 10.0.2.2 its gateway, 10.0.2.3
//! a name server that forwards to the host's. glassbox addresses eth0 itself in the child
//! (the narrated netlink calls a bridge's veth gets), so slirp4netns runs without --configure.
//!
//! slirp4netns ends when the descriptor its --exit-fd names reaches end of file: glassbox
//! holds the only write end, so however glassbox ends (kill -9 too) the kernel closes it and
//! slirp4netns goes. Its journal entry is the second guard: `rm` and `cleanup` end it if it
//! lingers (bookworm's pasta, for one, outlives the namespace it served).

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::stages::network::{ports, Inside, Publish};
use crate::sys::Sys;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The container's side of slirp's network.
pub const INSIDE: Inside = Inside {
    addr: Ipv4Addr::new(10, 0, 2, 100),
    prefix: 24,
    gateway: Ipv4Addr::new(10, 0, 2, 2),
};

/// slirp's name server, which forwards to the host's.
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

const PROGRAM: &str = "slirp4netns";

/// A running slirp4netns, ended by [`UserNet::stop`].
pub struct UserNet {
    child: Option<std::process::Child>,
    /// The write end of its --exit-fd: closing it ends slirp4netns.
    exit: Option<OwnedFd>,
    entry: Option<String>,
    api: PathBuf,
}

/// The host ports of `publish`: each given one checked free, a free one chosen for `-p CTR`.
pub fn host_ports(publish: &[Publish]) -> Result<Vec<Publish>> {
    let mut out: Vec<Publish> = Vec::new();
    for p in publish {
        let mut p = p.clone();
        if p.host == 0 {
            let taken: Vec<(u16, String)> =
                out.iter().map(|q| (q.host, q.proto.to_string())).collect();
            p.host = ports::choose(p.host_ip(), p.proto, &taken)?;
        } else {
            ports::check_free(&p)?;
        }
        out.push(p);
    }
    Ok(out)
}

/// Start slirp4netns for the container whose PID 1 is `pid` (waiting at its gate, its ids
/// mapped; None: a dry run) and publish `publish` through it; its output goes to `log`.
pub fn start(
    sys: &Sys,
    journal: Option<&Journal>,
    pid: Option<i32>,
    publish: &[Publish],
    log: &Path,
) -> Result<UserNet> {
    let pid = pid.map_or("PID".to_string(), |p| p.to_string());
    let n = sys.narrator;
    n.stage(
        "network",
        "a user-mode network: slirp4netns gives the container eth0 and carries its packets through your own sockets (no bridge, no firewall rule: those need root)",
    );
    let (exit_r, exit_w) = sys.pipe(
        "slirp4netns ends when this pipe's write end, glassbox's, is closed: however glassbox ends",
    )?;
    let (ready_r, ready_w) = sys.pipe("slirp4netns writes 1 here once eth0 is made")?;
    let api = crate::journal::state_dir().join(format!("slirp-{pid}.sock"));
    let argv: Vec<String> = vec![
        PROGRAM.into(),
        "--disable-host-loopback".into(),
        format!("--exit-fd={}", exit_r.as_raw_fd()),
        format!("--ready-fd={}", ready_w.as_raw_fd()),
        format!("--api-socket={}", api.display()),
        pid,
        "eth0".into(),
    ];
    // One left by a killed glassbox whose container had this pid.
    let stale = || {
        let _ = std::fs::remove_file(&api);
        Ok(())
    };
    sys.compound("", stale, || ())?;
    let todo = "install it (apt-get install slirp4netns), or use --network none or host";
    let Some(child) = sys.spawn_helper(&argv, vec![exit_r, ready_w], log, todo)? else {
        for p in publish {
            n.note(&format!(
                "publish {}: {}",
                p.mapping().ps_form(),
                api_request(p)
            ));
        }
        return Ok(UserNet {
            child: None,
            exit: Some(exit_w),
            entry: None,
            api,
        });
    };
    // Recorded once its pid is known; until then the exit pipe alone guards it.
    let entry = match (journal, crate::journal::start_time(child.id())) {
        (Some(j), Some(start_time)) => j
            .record(Resource::Helper {
                pid: child.id(),
                start_time,
                program: PROGRAM.into(),
            })
            .ok(),
        _ => None,
    };
    let mut net = UserNet {
        child: None,
        exit: Some(exit_w),
        entry,
        api,
    };
    let mut ready = [0u8; 1];
    let mut ready_r = std::fs::File::from(ready_r);
    let said = loop {
        match ready_r.read(&mut ready) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.unwrap_or(0),
        }
    };
    if said != 1 {
        // Ended by closing its exit pipe (SIGKILL after 1 s), never waited on while it lives.
        net.child = Some(child);
        net.stop(sys, journal);
        let why = std::fs::read_to_string(log).unwrap_or_default();
        return Err(Error::new(
            format!(
                "slirp4netns could not give the container its network: {}",
                last_error(&why)
            ),
            tun_todo(),
        ));
    }
    net.child = Some(child);
    n.note(&format!(
        "slirp4netns (pid {}) made eth0 in the container's network namespace; what it says goes to {}",
        net.child.as_ref().map_or(0, |c| c.id()),
        log.display()
    ));
    for p in publish {
        if let Err(e) = net.publish(sys, p) {
            net.stop(sys, journal);
            return Err(e);
        }
    }
    Ok(net)
}

impl UserNet {
    /// Ask slirp4netns, on its API socket, to listen on the host port and forward to the
    /// container's.
    fn publish(&self, sys: &Sys, p: &Publish) -> Result<()> {
        let request = api_request(p);
        sys.narrator.note(&format!(
            "publish {}: {request} to {}",
            p.mapping().ps_form(),
            self.api.display()
        ));
        let what = format!("slirp4netns could not publish {}", p.mapping().ps_form());
        let todo = "choose another host port (ss -lntup shows what listens), or leave out -p";
        let mut s = std::os::unix::net::UnixStream::connect(&self.api)
            .and_then(|mut s| {
                s.write_all(request.as_bytes())?;
                s.shutdown(std::net::Shutdown::Write)?;
                Ok(s)
            })
            .map_err(|e| Error::io(&what, &e, todo))?;
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        match reply.contains("\"return\"") {
            true => Ok(()),
            false => Err(Error::new(format!("{what}: {}", reply.trim()), todo)),
        }
    }

    /// End slirp4netns: close its exit pipe, wait for it (SIGKILL after a second), strike
    /// its journal entry.
    pub fn stop(&mut self, sys: &Sys, journal: Option<&Journal>) {
        drop(self.exit.take());
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            let start = std::time::Instant::now();
            while matches!(child.try_wait(), Ok(None)) {
                if start.elapsed() > std::time::Duration::from_secs(1) {
                    let _ = sys.kill(
                        pid,
                        libc::SIGKILL,
                        "slirp4netns did not end when its exit pipe closed: end it",
                    );
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if let (Some(j), Some(id)) = (journal, self.entry.take()) {
            j.strike(&id);
        }
        let _ = std::fs::remove_file(&self.api);
    }
}

/// slirp4netns's API request for one published port.
fn api_request(p: &Publish) -> String {
    serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": p.proto,
            "host_addr": p.host_ip().to_string(),
            "host_port": p.host,
            "guest_port": p.ctr,
        }
    })
    .to_string()
}

/// The line of slirp4netns's output that says what went wrong: the first with an errno's
/// words (`open("/dev/net/tun"): Permission denied`), else its last.
fn last_error(log: &str) -> String {
    let words = ["denied", "No such", "not permitted", "rror"];
    log.lines()
        .find(|l| words.iter().any(|w| l.contains(w)))
        .or_else(|| log.lines().last())
        .unwrap_or("it ended without saying why")
        .trim()
        .to_string()
}

/// What to do when slirp4netns fails: most often /dev/net/tun is not open to the user.
pub fn tun_todo() -> String {
    match tun_usable() {
        false => "/dev/net/tun must be readable and writable by you (Debian's udev makes it 0666; here: as root, chmod 0666 /dev/net/tun), or use --network none or host".into(),
        true => "read slirp4netns's log for the whole story, or use --network none or host".into(),
    }
}

/// Whether the user can open /dev/net/tun, which slirp4netns needs to make eth0.
pub fn tun_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok()
}

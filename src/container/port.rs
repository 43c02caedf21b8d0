//! `glassbox port CONTAINER [PORT[/PROTO]]`: the host ports a running container's ports are
//! published on, as docker port prints them (`80/tcp -> 0.0.0.0:32768`).

use crate::cli::PortArgs;
use crate::error::{Error, Result};
use crate::stages::network::ports;
use crate::store::containers::Status;

pub fn main(a: &PortArgs) -> Result<i32> {
    let c = crate::store::containers::find(&a.container)?;
    if c.state().effective() != Status::Running {
        return Err(Error::usage(
            format!(
                "container {} is not running: its ports are not published",
                a.container
            ),
            format!("start it first (glassbox start {})", a.container),
        ));
    }
    let maps = ports::load(&c.dir);
    let Some(want) = &a.port else {
        for m in &maps {
            println!("{}", m.port_form());
        }
        return Ok(0);
    };
    // PORT or PORT/PROTO (tcp when none is given), as docker port takes it.
    let (port, proto) = want.split_once('/').unwrap_or((want, "tcp"));
    let found: Vec<_> = maps
        .iter()
        .filter(|m| m.ctr.to_string() == port && m.proto == proto)
        .collect();
    if found.is_empty() {
        return Err(Error::usage(
            format!(
                "no public port '{port}/{proto}' is published for {}",
                a.container
            ),
            format!("`glassbox port {}` lists what is published", a.container),
        ));
    }
    for m in found {
        println!("{}:{}", m.ip, m.host);
    }
    Ok(0)
}

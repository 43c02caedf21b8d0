//! Firewall rules through the `iptables` command, narrated as the command they are.
//!
//! Each rule carries a comment `glassbox:<tag>` so a person (and `iptables -S`) can see whose
//! it is, and is journalled with the exact command that deletes it *before* it is added.

use crate::error::{Error, Result};
use crate::journal::{Journal, Resource};
use crate::sys::Sys;

/// One rule: table, chain, insert at the top (`-I`) or append (`-A`), the match and target.
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub insert: bool,
    pub spec: Vec<String>,
    pub tag: String,
}

impl Rule {
    fn body(&self) -> Vec<String> {
        let mut v = self.spec.clone();
        v.extend([
            "-m".into(),
            "comment".into(),
            "--comment".into(),
            format!("glassbox:{}", self.tag),
        ]);
        v
    }

    fn command(&self, op: &str) -> Vec<String> {
        let mut v: Vec<String> = ["iptables", "-w", "-t", self.table, op, self.chain]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(self.body());
        v
    }
}

/// Add `rule` (journalled first); returns the journal id.
pub fn add(sys: &Sys, journal: &Journal, rule: &Rule) -> Result<String> {
    let add = rule.command(if rule.insert { "-I" } else { "-A" });
    let delete = rule.command("-D");
    let id = journal.record(Resource::FirewallRule { delete })?;
    if let Err(e) = run(sys, &add, false) {
        journal.strike(&id);
        return Err(e);
    }
    Ok(id)
}

/// Run an iptables command, narrated. With `gone_ok`, "no such rule" counts as done.
pub fn run(sys: &Sys, argv: &[String], gone_ok: bool) -> Result<()> {
    let Some(out) = sys.run_tool(argv, "install iptables (apt-get install iptables)")? else {
        return Ok(());
    };
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if gone_ok
        && (err.contains("does a matching rule exist")
            || err.contains("No chain/target/match")
            || err.contains("Bad rule"))
    {
        sys.narrator.note("(the rule was already gone)");
        return Ok(());
    }
    Err(Error::new(
        format!("`{}` failed: {err}", argv.join(" ")),
        "check that the kernel has netfilter (iptables -t nat -L works) and that you are root",
    ))
}

//! The explanation catalog: every text that explains a syscall, a flag or a stage.
//!
//! The texts are data (`catalog/*.toml`, embedded in the binary), so a teacher can read and
//! improve them in one place without touching code.

use serde::Deserialize;
use std::sync::OnceLock;

/// The catalog files, one per family of calls.
const SOURCES: &[(&str, &str)] = &[
    ("process", include_str!("../../catalog/process.toml")),
    ("ns", include_str!("../../catalog/ns.toml")),
    ("mount", include_str!("../../catalog/mount.toml")),
    ("fs", include_str!("../../catalog/fs.toml")),
    ("cgroup", include_str!("../../catalog/cgroup.toml")),
    ("net", include_str!("../../catalog/net.toml")),
    ("security", include_str!("../../catalog/security.toml")),
    ("image", include_str!("../../catalog/image.toml")),
    ("run", include_str!("../../catalog/run.toml")),
    ("registry", include_str!("../../catalog/registry.toml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What `glassbox explain` is asked for: `unshare`, `CLONE_NEWPID`, `pivot-root`.
    pub name: String,
    /// `syscall`, `flag`, `file`, `stage` or `request` (an HTTP request to a registry).
    pub kind: String,
    /// The man page (`unshare(2)`), or empty.
    #[serde(default)]
    pub man: String,
    /// One line: what it does.
    pub summary: String,
    /// A few paragraphs: how it works and why a container needs it.
    pub explain: String,
    /// The shell command that does the same by hand.
    #[serde(default)]
    pub by_hand: Option<String>,
    /// Other names that find this entry (`clone3` for `clone`).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub see_also: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    entry: Vec<Entry>,
}

/// Every entry of every catalog file, in file order.
pub fn entries() -> &'static [Entry] {
    static ALL: OnceLock<Vec<Entry>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for (family, text) in SOURCES {
            match toml::from_str::<File>(text) {
                Ok(f) => all.extend(f.entry),
                // A broken catalog is a build defect; the catalog test catches it.
                Err(e) => eprintln!("glassbox: catalog/{family}.toml does not parse: {e}"),
            }
        }
        all
    })
}

/// Every entry (of any kind) for a name or alias, ignoring case and `-`/`_` differences:
/// a stage and a syscall may share a name (`unshare`, `pivot-root`/`pivot_root`).
pub fn lookup_all(name: &str) -> Vec<&'static Entry> {
    let key = normalize(name);
    entries()
        .iter()
        .filter(|e| normalize(&e.name) == key || e.aliases.iter().any(|a| normalize(a) == key))
        .collect()
}

/// The entry for a name: a syscall or flag first, then anything else.
pub fn lookup(name: &str) -> Option<Entry> {
    let all = lookup_all(name);
    all.iter()
        .find(|e| e.kind != "stage")
        .or(all.first())
        .map(|e| (*e).clone())
}

/// The entry of one kind for a name (`stage` for a stage header, `syscall` for a call).
pub fn lookup_kind(name: &str, kind: &str) -> Option<Entry> {
    lookup_all(name)
        .into_iter()
        .find(|e| e.kind == kind)
        .cloned()
}

/// The position of an entry among `entries()`: its key in the run's set of explained entries.
pub fn index_of(entry: &Entry) -> usize {
    entries()
        .iter()
        .position(|e| e.kind == entry.kind && e.name == entry.name)
        .unwrap_or(usize::MAX)
}

fn normalize(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_file_parses() {
        for (family, text) in SOURCES {
            toml::from_str::<File>(text)
                .unwrap_or_else(|e| panic!("catalog/{family}.toml does not parse: {e}"));
        }
    }

    #[test]
    fn names_are_unique_within_a_kind() {
        let mut seen = std::collections::HashSet::new();
        for e in entries() {
            for n in std::iter::once(&e.name).chain(&e.aliases) {
                assert!(
                    seen.insert((e.kind.clone(), normalize(n))),
                    "{} {n} is in the catalog twice",
                    e.kind
                );
            }
        }
    }

    #[test]
    fn every_entry_has_a_known_kind_and_text() {
        for e in entries() {
            assert!(
                ["syscall", "flag", "stage", "file", "request"].contains(&e.kind.as_str()),
                "{}: kind {}",
                e.name,
                e.kind
            );
            assert!(
                !e.summary.trim().is_empty() && !e.explain.trim().is_empty(),
                "{} has no text",
                e.name
            );
        }
    }
}

//! /proc/self/mountinfo parsed: see proc_pid_mountinfo(5).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// The path inside the filesystem that is mounted here (`/` for a whole filesystem).
    pub root: String,
    pub mount_point: PathBuf,
    pub options: String,
    /// Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

impl Mount {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }

    /// The propagation type as mount(8) says it: shared, slave, private or unbindable.
    pub fn propagation(&self) -> &'static str {
        if self.is_shared() {
            "shared"
        } else if self.optional.iter().any(|o| o.starts_with("master:")) {
            "slave"
        } else if self.optional.iter().any(|o| o == "unbindable") {
            "unbindable"
        } else {
            "private"
        }
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("x"), 8)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse the text of a mountinfo file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let _dev = l.next()?;
    let root = unescape(l.next()?);
    let mount_point = PathBuf::from(unescape(l.next()?));
    let options = l.next()?.to_string();
    let optional = l.filter(|s| !s.is_empty()).map(String::from).collect();
    let mut r = right.split(' ');
    let fstype = r.next()?.to_string();
    let source = unescape(r.next().unwrap_or(""));
    let super_options = r.next().unwrap_or("").to_string();
    Some(Mount {
        id,
        parent,
        root,
        mount_point,
        options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// This process's mount table.
pub fn current() -> Vec<Mount> {
    super::read_small("/proc/self/mountinfo")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// The mount that `path` is on (the last mount whose mount point is a prefix of it).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .rev()
        .find(|m| path.starts_with(&m.mount_point))
}

/// Whether `path` is itself a mount point.
pub fn is_mount_point(mounts: &[Mount], path: &Path) -> bool {
    mounts.iter().any(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line_with_optional_fields_and_escapes() {
        let m = parse("36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt two"));
        assert_eq!(m[0].optional, vec!["master:1", "shared:7"]);
        assert_eq!(m[0].propagation(), "shared");
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].super_options, "rw,errors=continue");
    }

    #[test]
    fn finds_the_mount_a_path_is_on() {
        let m = parse(
            "1 0 0:1 / / rw shared:1 - ext4 /dev/vda rw\n2 1 0:2 / /proc rw - proc proc rw\n",
        );
        assert_eq!(
            mount_of(&m, Path::new("/proc/self")).unwrap().fstype,
            "proc"
        );
        assert_eq!(mount_of(&m, Path::new("/usr")).unwrap().fstype, "ext4");
        assert!(is_mount_point(&m, Path::new("/proc")));
        assert!(!is_mount_point(&m, Path::new("/usr")));
    }
}

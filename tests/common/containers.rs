//! A state directory of a test's own for tests of containers that live on: glassbox run in
//! it, its containers listed, and the host compared before and after. Tests of one binary
//! take turns on the host; whatever a test leaves, dropping the Env removes.

use super::{glassbox, host_state, stderr, stdout};
use std::path::PathBuf;
use std::process::{Command, Output};

static HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Env {
    pub state: tempfile::TempDir,
    before: (super::Mounts, Vec<String>),
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    pub fn new() -> Env {
        let turn = HOST.lock().unwrap_or_else(|e| e.into_inner());
        Env {
            state: tempfile::tempdir().unwrap(),
            before: host_state(),
            _turn: turn,
        }
    }

    /// With the state directory searchable by everyone (0711): a mapped root (--userns)
    /// looks the container's files up as an unprivileged host uid.
    pub fn searchable() -> Env {
        use std::os::unix::fs::PermissionsExt;
        let env = Env::new();
        std::fs::set_permissions(env.state.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        env
    }

    pub fn cmd(&self) -> Command {
        let mut c = glassbox();
        c.env("GLASSBOX_STATE_DIR", self.state.path())
            .env("NO_COLOR", "1");
        c
    }

    /// `glassbox -q ARGS…` (quiet: no narration), but `ps` as given: for ps, -q means ids
    /// only, as with docker ps -q.
    pub fn gb(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        if args.first() != Some(&"ps") {
            c.arg("-q");
        }
        c.args(args).output().unwrap()
    }

    /// As `gb`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.gb(args);
        assert!(o.status.success(), "glassbox {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    pub fn data(&self) -> PathBuf {
        self.state.path().join("data")
    }

    /// The ids of the containers there are.
    pub fn containers(&self) -> Vec<String> {
        std::fs::read_dir(self.data().join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    pub fn state_json(&self, id: &str) -> serde_json::Value {
        let p = self.data().join(format!("containers/{id}/state.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    /// The `ps -a` row of a container, by name.
    pub fn ps_row(&self, name: &str) -> Option<String> {
        self.ok(&["ps", "-a"])
            .lines()
            .find(|l| l.trim_end().ends_with(name))
            .map(String::from)
    }

    /// After the test: the host as before, nothing journaled, no container.
    pub fn assert_clean(&self) {
        assert_eq!(host_state(), self.before, "the host changed");
        let journal: Vec<_> = std::fs::read_dir(self.state.path().join("journal"))
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        assert!(journal.is_empty(), "journal entries left: {journal:?}");
        assert!(self.containers().is_empty(), "containers left");
    }
}

impl Drop for Env {
    /// Whatever happened, end and remove every container of the test.
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = self.gb(&["rm", "-f", &id]);
        }
        let _ = self.gb(&["cleanup"]);
    }
}

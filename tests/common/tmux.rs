//! A real terminal for the tests that need one: a tmux session, keys typed into it, its
//! screen read back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A detached 160x50 tmux session, thrown away when dropped.
pub struct Tmux {
    pub name: String,
}

impl Tmux {
    /// A session named after `test` running bash without its start-up files.
    pub fn new(test: &str) -> Tmux {
        Tmux::running(test, "bash --norc --noprofile")
    }

    /// A session named after `test` running `shell`.
    pub fn running(test: &str, shell: &str) -> Tmux {
        let name = format!("gb-{test}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "160",
                "-y",
                "50",
                shell,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux could not start");
        std::thread::sleep(Duration::from_millis(300));
        Tmux { name }
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys failed");
    }

    pub fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Wait until the screen shows `text` (a terminal has no other way to say it is ready).
    pub fn wait_for(&self, text: &str) -> String {
        for _ in 0..300 {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the terminal never showed {text:?}:\n{}", self.screen());
    }

    /// The shell's terminal is as it was: line editing and echo on (not left in raw mode).
    pub fn assert_terminal_restored(&self) {
        self.keys(&[
            "stty -a | grep -o -w -e -icanon -e icanon -e -echo -e echo | tr '\\n' ,; echo",
            "Enter",
        ]);
        self.wait_for("icanon,echo,");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// The shell line that runs glassbox ARGS on the state directory `state`, then shows its
/// exit status as `exited=N`.
pub fn glassbox_line(state: &Path, args: &str) -> String {
    format!(
        "NO_COLOR=1 GLASSBOX_STATE_DIR={} {} {args}; echo exited=$?",
        state.display(),
        super::bin().display()
    )
}

//! Runs the real `shipctl` binary in a clean environment: no inherited variables, a temporary
//! working directory and home, no colours, a fixed terminal width. Output is then stable enough
//! for snapshots.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct CliEnv {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl CliEnv {
    pub fn new() -> CliEnv {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = std::env::var("PATH").unwrap_or_default();
        let home = dir.path().display().to_string();
        CliEnv {
            dir,
            vars: vec![
                ("PATH".into(), path),
                ("HOME".into(), home),
                ("NO_COLOR".into(), "1".into()),
                ("COLUMNS".into(), "100".into()),
                ("TERM".into(), "dumb".into()),
            ],
        }
    }

    /// The working directory of every command.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sets an environment variable for every later command.
    pub fn set(&mut self, key: &str, value: &str) -> &mut CliEnv {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Passes the Docker engine address through (live-cluster tests).
    pub fn with_docker_host(&mut self) -> &mut CliEnv {
        if let Ok(host) = std::env::var("DOCKER_HOST") {
            self.set("DOCKER_HOST", &host);
        }
        self
    }

    /// Writes a file into the working directory.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// Copies a file from `fixtures/` into the working directory under the same name.
    pub fn copy_fixture(&self, fixture: &str, name: &str) -> PathBuf {
        let source = fixtures().join(fixture);
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("read fixture {}: {e}", source.display()));
        self.write(name, &text)
    }

    /// A `shipctl` command with exactly this environment.
    pub fn shipctl(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("shipctl"));
        cmd.env_clear().current_dir(self.dir.path());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// `shipctl` with this environment as a plain process, for tests that read its output
    /// while it runs.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("shipctl"));
        cmd.env_clear().current_dir(self.dir.path());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `shipctl ARGS` to the end with this environment.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.shipctl().args(args).output().expect("run shipctl")
    }
}

/// The repository's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr of a finished command as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

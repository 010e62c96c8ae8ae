//! Everything a command reads from its flags and the environment, resolved once. Later code
//! reads these settings, never the raw flags or the environment.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// The resolved global settings of one command.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The working directory the command started in.
    pub cwd: PathBuf,
    /// `-f` files; empty means `COMPOSE_FILE` or the default names.
    pub compose_files: Vec<PathBuf>,
    /// `-p`.
    pub project: Option<String>,
    /// `--spec`.
    pub spec: Option<PathBuf>,
    /// `--env-file`.
    pub env_file: Option<PathBuf>,
    /// `-H`, else `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `--kv`; the spec's `kv.url` applies when unset.
    pub kv_url: Option<String>,
    /// `--yes`.
    pub yes: bool,
    /// The environment, for interpolation, credentials, CI detection and hooks.
    pub env: HashMap<String, String>,
}

/// What the user asked of a run that changes the cluster, for the lock and the history.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `-m`: why, shown to whoever finds the lock taken.
    pub message: Option<String>,
    /// `--lock-wait`: how long to wait for a lock another deploy holds.
    pub lock_wait: Option<Duration>,
    /// `--parallel`: services of a release gated at once (the spec's `release.parallel`
    /// otherwise).
    pub parallel: Option<usize>,
}

impl Settings {
    /// The environment variable `name`, when set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

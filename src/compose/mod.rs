//! Loading compose files: YAML -> model, with interpolation, `.env`, `extends` and `-f` merging.
//!
//! The pipeline, per file: parse (spanned YAML) -> interpolate every string value -> resolve
//! relative paths against the file's directory -> normalise list/map forms -> resolve `extends`
//! -> add `include:`d files (which may not override anything). Then the files are merged in
//! order (as `docker compose -f a -f b` does), converted into the typed [`model`], validated
//! (all errors collected, with spans) and checked for fields that Swarm ignores (warnings).

use std::collections::HashMap;
use std::path::PathBuf;

mod convert;
pub mod dependencies;
mod deploy;
pub mod dotenv;
mod extends;
mod files;
pub mod interpolate;
mod load;
mod merge;
pub mod model;
mod normalize;
mod paths;
mod ports;
mod service;
mod shell;
mod toplevel;
mod units;
mod volumes;
mod warnings;

pub use load::{discover, load, project_env};
pub use model::ComposeProject;

/// What to load and with which variables.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The `-f` files, in order; later files override earlier ones.
    pub files: Vec<PathBuf>,
    /// `--env-file`: replaces `.env` next to the first file.
    pub env_file: Option<PathBuf>,
    /// A snapshot of the process environment (passed in, so tests never touch the real one).
    pub environment: HashMap<String, String>,
    /// Variables set by shipctl itself (e.g. `IMAGE_VERSION` from `--version`); they win over
    /// the environment and `.env`.
    pub overrides: HashMap<String, String>,
    /// `--project-directory`: where `.env` is looked for (default: the first file's directory).
    pub project_dir: Option<PathBuf>,
}

//! Loading compose files: YAML -> model, with interpolation, `.env`, `extends` and `-f` merging.
//!
//! The pipeline, per file: parse (spanned YAML) -> interpolate every string value -> resolve
//! relative paths against the file's directory -> normalise list/map forms -> resolve `extends`.
//! Then the files are merged in order (as `docker compose -f a -f b` does), converted into the
//! typed [`model`], validated (all errors collected, with spans) and checked for fields that
//! Swarm ignores (warnings).

pub mod dotenv;
pub mod interpolate;
pub mod model;

pub use model::ComposeProject;

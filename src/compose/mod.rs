//! Loading compose files: YAML -> model, with interpolation, `.env`, `extends` and `-f` merging.

pub mod model;

pub use model::ComposeProject;

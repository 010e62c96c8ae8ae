//! The only place that writes to the terminal: progress, prompts, text and JSON output.

pub mod event_render;
pub mod progress;
pub mod prompt;

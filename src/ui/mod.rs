//! The only place that writes to the terminal: progress, prompts, text and JSON output.

pub mod plan_text;

//! The only place that writes to the terminal: progress, prompts, text and JSON output.

pub mod event_render;
pub mod plan_text;
pub mod progress;
pub mod prompt;
mod report;
pub mod route_lines;
pub mod status_text;
pub mod summary;
mod terminal;

pub use report::{render_plain, report_error};
pub use terminal::Terminal;

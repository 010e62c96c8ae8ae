//! The only place that writes to the terminal: progress, prompts, text and JSON output.

pub mod ci;
pub mod event_render;
pub mod history_text;
pub mod plan_text;
mod printer;
pub mod progress;
pub mod prompt;
mod report;
pub mod route_lines;
pub mod status_text;
pub mod summary;
mod terminal;
pub mod timeline;

pub use printer::Printer;
pub use report::report_error;
pub use terminal::{OutputFormat, Terminal};

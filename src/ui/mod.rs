//! The only place that writes to the terminal: progress, prompts, text and JSON output.

mod report;
mod terminal;

pub use report::{render_plain, report_error};
pub use terminal::Terminal;
pub mod plan_text;

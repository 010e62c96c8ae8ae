//! How an error reaches the user: a miette report on stderr, plus a JSON object on stdout with
//! `--output json` so that CI can parse the outcome.

use std::io::Write;

use miette::{GraphicalReportHandler, GraphicalTheme};

use super::Terminal;
use crate::cli::OutputFormat;
use crate::error::Error;

/// Renders an error as the user sees it (no colours: used for snapshots and non-TTY output).
pub fn render_plain(error: &Error) -> String {
    render(error, false, 100)
}

fn render(error: &Error, color: bool, width: usize) -> String {
    render_with(error, color, width, true)
}

fn render_with(error: &Error, color: bool, width: usize, wrap: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_wrap_lines(wrap)
        .with_break_words(false);
    if handler.render_report(&mut out, error).is_err() {
        out = format!("error: {error}\n");
    }
    out
}

/// Writes the error for the user; never fails (there is nowhere left to report to).
pub fn report_error(error: &Error, terminal: &Terminal) {
    // Logs and pipes keep each message on one line, so that it can be searched for whole
    // (a name or version split over two lines is not found by grep).
    let text = render_with(error, terminal.color, 100, terminal.progress);
    let _ = std::io::stderr().write_all(text.as_bytes());
    if terminal.format == OutputFormat::Json {
        let summary = serde_json::json!({
            "event": "error",
            "exit_code": error.exit_code(),
            "kind": miette::Diagnostic::code(error).map(|c| c.to_string()),
            "message": error.to_string(),
            "help": miette::Diagnostic::help(error).map(|h| h.to_string()),
        });
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{summary}");
    }
}

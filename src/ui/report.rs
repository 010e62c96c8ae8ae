//! How an error reaches the user: a miette report on stderr, plus a JSON object on stdout with
//! `--output json` so that CI can parse the outcome.

use miette::{GraphicalReportHandler, GraphicalTheme};

use super::{OutputFormat, Printer};
use crate::error::Error;

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
///
/// On GitHub Actions the error also becomes an `::error` annotation on stdout (GitHub reads
/// workflow commands from stdout only, which JSON mode keeps NDJSON).
pub fn report_error(error: &Error, printer: &Printer, github_actions: bool) {
    let terminal = &printer.terminal;
    // Logs and pipes keep each message on one line, so that it can be searched for whole
    // (a name or version split over two lines is not found by grep).
    printer.err(&render_with(error, terminal.color, 100, terminal.progress));
    if github_actions && terminal.format == OutputFormat::Text {
        printer.out(&format!(
            "{}\n",
            super::ci::error_annotation(&error.to_string())
        ));
    }
    if terminal.format == OutputFormat::Json {
        let summary = serde_json::json!({
            "event": "error",
            "exit_code": error.exit_code(),
            "kind": miette::Diagnostic::code(error).map(|c| c.to_string()),
            "message": error.to_string(),
            "help": miette::Diagnostic::help(error).map(|h| h.to_string()),
        });
        printer.out(&format!("{summary}\n"));
    }
}

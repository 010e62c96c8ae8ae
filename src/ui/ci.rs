//! CI integration: a Markdown summary for GitHub Actions' job page (`GITHUB_STEP_SUMMARY`) and
//! `::error` annotations on failure (`GITHUB_ACTIONS=true`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::exec::{Event, EventSink};
use crate::plan::Plan;
use crate::ports::{Action, RunResult};

/// One finished (or failed) step, as the summary lists it.
#[derive(Debug, Clone)]
pub struct StepLine {
    pub service: String,
    pub text: String,
}

/// Passes events on and keeps the finished steps and failures for the summary.
pub struct Recorder<'a> {
    inner: &'a dyn EventSink,
    lines: Mutex<Vec<StepLine>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Recorder<'a> {
        Recorder {
            inner,
            lines: Mutex::new(Vec::new()),
        }
    }

    pub fn lines(&self) -> Vec<StepLine> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl EventSink for Recorder<'_> {
    fn emit(&self, event: &Event) {
        let line = match event {
            Event::StepFinished {
                service,
                index,
                total,
                summary,
                elapsed_ms,
                ..
            } => Some(StepLine {
                service: service.clone(),
                text: format!(
                    "{index}/{total} {summary} ({})",
                    crate::ui::event_render::format_ms(*elapsed_ms)
                ),
            }),
            Event::Failure {
                service, message, ..
            } => Some(StepLine {
                service: service.clone(),
                text: format!("failed: {message}"),
            }),
            Event::RollbackFinished {
                service,
                ok,
                message,
            } => Some(StepLine {
                service: service.clone(),
                text: format!(
                    "rollback {}: {message}",
                    if *ok { "done" } else { "incomplete" }
                ),
            }),
            _ => None,
        };
        if let (Some(line), Ok(mut lines)) = (line, self.lines.lock()) {
            lines.push(line);
        }
        self.inner.emit(event);
    }
}

/// Appends the run's summary to `$GITHUB_STEP_SUMMARY`, when set. Errors only warn: the
/// deploy's own result matters more than its report.
pub fn write_step_summary(
    env: &HashMap<String, String>,
    action: Action,
    release: Option<&str>,
    plan: &Plan,
    result: RunResult,
    elapsed: Duration,
    steps: &[StepLine],
) -> Result<(), String> {
    let Some(path) = env.get("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let text = step_summary(
        action.as_str(),
        release,
        plan,
        result.word(),
        elapsed,
        steps,
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("could not write the job summary to {path}: {e}"))
}

/// The Markdown itself.
pub fn step_summary(
    action: &str,
    release: Option<&str>,
    plan: &Plan,
    result: &str,
    elapsed: Duration,
    steps: &[StepLine],
) -> String {
    let took = format!("{:.1}s", elapsed.as_secs_f64());
    let mut out = format!("### shipctl {action}: {result}\n\n");
    if let Some(id) = release {
        out.push_str(&format!("Release `{id}` (`shipctl history` lists it)\n\n"));
    }
    out.push_str("| service | from | to | result | duration |\n|---|---|---|---|---|\n");
    for s in plan.services.iter().filter(|s| !s.up_to_date) {
        let from = s
            .from
            .as_ref()
            .map_or_else(|| "-".to_string(), |z| format!("{}@{}", z.zone, z.version));
        out.push_str(&format!(
            "| {} | {from} | {}@{} | {result} | {took} |\n",
            s.service, s.to.zone, s.to.version
        ));
    }
    for s in plan.services.iter().filter(|s| !s.up_to_date) {
        let mine: Vec<&StepLine> = steps.iter().filter(|l| l.service == s.service).collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n<details><summary>Steps of {}</summary>\n\n",
            s.service
        ));
        for l in mine {
            out.push_str(&format!("- {}\n", l.text));
        }
        out.push_str("\n</details>\n");
    }
    out.push('\n');
    out
}

/// `::error title=shipctl::MESSAGE` with GitHub's escaping of the message (`%`, CR, LF).
pub fn error_annotation(message: &str) -> String {
    let escaped = message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    format!("::error title=shipctl::{escaped}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_what_github_reads_as_syntax() {
        assert_eq!(
            error_annotation("web: 50% failed\nrolled back"),
            "::error title=shipctl::web: 50%25 failed%0Arolled back"
        );
    }
}

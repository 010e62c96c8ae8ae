//! CI integration: a Markdown summary for GitHub Actions' job page (`GITHUB_STEP_SUMMARY`) and
//! `::error` annotations on failure (`GITHUB_ACTIONS=true`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::exec::{Event, EventSink};
use crate::plan::{Action as StepAction, Plan, ServicePlan};
use crate::ports::{
    Action, AnalysisMark, RunResult, StepOutcome, TimedStep, Timeline, TrafficMark,
};

/// One finished (or failed) step, as the summary lists it, with when it ran.
#[derive(Debug, Clone)]
pub struct StepLine {
    pub service: String,
    /// As the list of steps shows it, with its duration.
    pub text: String,
    /// As the chart names it (the chart adds the duration).
    pub label: String,
    /// The plan step's number (from 1) for a step of the plan.
    pub index: Option<usize>,
    /// Milliseconds from the start of the run.
    pub start_ms: u64,
    pub ms: u64,
    pub outcome: StepOutcome,
}

type Open = ((String, usize), u64, String);

/// Passes events on and keeps the finished steps and failures, with their times, for the
/// summary and the history.
pub struct Recorder<'a> {
    inner: &'a dyn EventSink,
    started: Instant,
    lines: Mutex<Vec<StepLine>>,
    /// Steps and rollbacks begun and not finished yet: (service, step index or 0), start,
    /// label.
    open: Mutex<Vec<Open>>,
    /// Each analysis measurement, with its service.
    measured: Mutex<Vec<(String, AnalysisMark)>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Recorder<'a> {
        Recorder {
            inner,
            started: Instant::now(),
            lines: Mutex::new(Vec::new()),
            open: Mutex::new(Vec::new()),
            measured: Mutex::new(Vec::new()),
        }
    }

    /// The analysis measurements so far, with their services.
    pub fn measured(&self) -> Vec<(String, AnalysisMark)> {
        self.measured.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn lines(&self) -> Vec<StepLine> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn begin(&self, service: &str, index: usize, label: String) {
        let now = self.now_ms();
        if let Ok(mut open) = self.open.lock() {
            open.push(((service.to_string(), index), now, label));
        }
    }

    /// When the step (or rollback, index 0) began and its label; `None` if it was never seen
    /// starting.
    fn end(&self, service: &str, index: Option<usize>) -> Option<(u64, String)> {
        let mut open = self.open.lock().ok()?;
        let at = open
            .iter()
            .rposition(|((s, i), _, _)| s == service && index.is_none_or(|x| x == *i))?;
        let (_, start, label) = open.remove(at);
        Some((start, label))
    }
}

impl EventSink for Recorder<'_> {
    fn emit(&self, event: &Event) {
        let now = self.now_ms();
        let line = match event {
            Event::StepStarted {
                service,
                index,
                total,
                summary,
                ..
            } => {
                self.begin(service, *index, format!("{index}/{total} {summary}"));
                None
            }
            Event::StepFinished {
                service,
                index,
                total,
                summary,
                elapsed_ms,
                ..
            } => {
                let start = self
                    .end(service, Some(*index))
                    .map_or_else(|| now.saturating_sub(*elapsed_ms), |(start, _)| start);
                Some(StepLine {
                    service: service.clone(),
                    text: format!(
                        "{index}/{total} {summary} ({})",
                        crate::ui::event_render::format_ms(*elapsed_ms)
                    ),
                    label: format!("{index}/{total} {summary}"),
                    index: Some(*index),
                    start_ms: start,
                    ms: *elapsed_ms,
                    outcome: StepOutcome::Done,
                })
            }
            Event::Failure {
                service, message, ..
            } => {
                // The step that was running failed: it ends now.
                let (start, step) = self
                    .end(service, None)
                    .unwrap_or_else(|| (now, String::new()));
                Some(StepLine {
                    service: service.clone(),
                    text: format!("failed: {message}"),
                    label: if step.is_empty() {
                        "failed".to_string()
                    } else {
                        format!("{step}, failed")
                    },
                    index: None,
                    start_ms: start,
                    ms: now - start.min(now),
                    outcome: StepOutcome::Failed,
                })
            }
            Event::RollbackStarted { service, .. } => {
                self.begin(service, 0, "rollback".into());
                None
            }
            Event::AnalysisMeasured {
                service,
                zone,
                metric,
                result,
                value,
                ..
            } => {
                if let Ok(mut measured) = self.measured.lock() {
                    measured.push((
                        service.clone(),
                        AnalysisMark {
                            at_ms: now,
                            zone: zone.clone(),
                            metric: metric.clone(),
                            result: result.clone(),
                            value: value.clone(),
                        },
                    ));
                }
                None
            }
            Event::RollbackFinished {
                service,
                ok,
                message,
            } => {
                let start = self.end(service, Some(0)).map_or(now, |(start, _)| start);
                Some(StepLine {
                    service: service.clone(),
                    text: format!(
                        "rollback {}: {message}",
                        if *ok { "done" } else { "incomplete" }
                    ),
                    label: format!("rollback {}", if *ok { "done" } else { "incomplete" }),
                    index: None,
                    start_ms: start,
                    ms: now - start.min(now),
                    outcome: if *ok {
                        StepOutcome::RolledBack
                    } else {
                        StepOutcome::RollbackIncomplete
                    },
                })
            }
            Event::Paused { service, message } => Some(StepLine {
                service: service.clone(),
                text: format!("waits: {message}"),
                label: if message.contains("shipctl promote") {
                    "waits for shipctl promote or abort".to_string()
                } else {
                    "paused".to_string()
                },
                index: None,
                start_ms: now,
                ms: 0,
                outcome: StepOutcome::Waiting,
            }),
            _ => None,
        };
        if let (Some(line), Ok(mut lines)) = (line, self.lines.lock()) {
            lines.push(line);
        }
        self.inner.emit(event);
    }
}

/// One service's run as a [`Timeline`]: its recorded steps, and the traffic split from the
/// value read before the run through each traffic write of the plan that finished. A rollback
/// that restored everything puts the split read before the run back.
pub fn timeline(
    plan: &Plan,
    service: &ServicePlan,
    lines: &[StepLine],
    measured: &[(String, AnalysisMark)],
    ms: u64,
) -> Timeline {
    let mine: Vec<&StepLine> = lines
        .iter()
        .filter(|l| l.service == service.service)
        .collect();
    let before = plan.observed.services.get(&service.service).and_then(|s| {
        s.keys.traffic.clone().or_else(|| {
            s.keys
                .active_zone
                .as_ref()
                .map(|zone| format!("{zone}=100"))
        })
    });
    let mut traffic: Vec<TrafficMark> = before
        .iter()
        .map(|split| TrafficMark {
            at_ms: 0,
            split: split.clone(),
        })
        .collect();
    for line in &mine {
        let end = line.start_ms + line.ms;
        match (line.outcome, line.index) {
            (StepOutcome::Done, Some(index)) => {
                let written = service
                    .steps
                    .get(index.wrapping_sub(1))
                    .and_then(|step| match &step.action {
                        StepAction::WriteKeys { writes } => writes
                            .iter()
                            .find(|w| w.key == service.keys.traffic)
                            .map(|w| w.value.clone()),
                        _ => None,
                    });
                if let Some(split) = written {
                    traffic.push(TrafficMark { at_ms: end, split });
                }
            }
            (StepOutcome::RolledBack, _) => {
                let moved = traffic.last().map(|m| &m.split) != before.as_ref();
                if let (Some(split), true) = (&before, moved) {
                    traffic.push(TrafficMark {
                        at_ms: end,
                        split: split.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    let end = mine
        .iter()
        .map(|l| l.start_ms + l.ms)
        .max()
        .unwrap_or(0)
        .max(ms);
    Timeline {
        ms: end,
        steps: mine
            .iter()
            .map(|l| TimedStep {
                text: l.label.clone(),
                start_ms: l.start_ms,
                ms: l.ms,
                outcome: l.outcome,
            })
            .collect(),
        traffic,
        analysis: measured
            .iter()
            .filter(|(s, _)| *s == service.service)
            .map(|(_, m)| m.clone())
            .collect(),
    }
}

/// Appends the run's summary to `$GITHUB_STEP_SUMMARY` (GitHub's job page) and to
/// `$SHIPCTL_STEP_SUMMARY` (a file for other CI systems to keep), when set, and its result to
/// `$GITHUB_OUTPUT` (the step's `result` output). Errors only warn: the deploy's own result
/// matters more than its report.
pub fn write_step_summary(
    env: &HashMap<String, String>,
    action: Action,
    release: Option<&str>,
    plan: &Plan,
    result: RunResult,
    elapsed: Duration,
    recorded: &Recorder<'_>,
) -> Result<(), String> {
    let get = |k: &str| env.get(k).filter(|p| !p.is_empty());
    let mut paths: Vec<&String> = ["GITHUB_STEP_SUMMARY", "SHIPCTL_STEP_SUMMARY"]
        .into_iter()
        .filter_map(get)
        .collect();
    paths.dedup();
    let mut errors = Vec::new();
    if !paths.is_empty() {
        let text = step_summary(
            action.as_str(),
            release,
            plan,
            result.word(),
            elapsed,
            &recorded.lines(),
            &recorded.measured(),
        );
        for path in paths {
            if let Err(e) = append(path, &text) {
                errors.push(format!("could not write the job summary to {path}: {e}"));
            }
        }
    }
    if let Some(path) = get("GITHUB_OUTPUT") {
        let text = format!("result={}\naction={}\n", result.word(), action.as_str());
        if let Err(e) = append(path, &text) {
            errors.push(format!("could not write the step outputs to {path}: {e}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn append(path: &str, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
}

/// The Markdown itself: a table of the services, then per service the timeline (a Mermaid
/// gantt of the steps and the traffic) and the list of steps.
pub fn step_summary(
    action: &str,
    release: Option<&str>,
    plan: &Plan,
    result: &str,
    elapsed: Duration,
    steps: &[StepLine],
    measured: &[(String, AnalysisMark)],
) -> String {
    let took = format!("{:.1}s", elapsed.as_secs_f64());
    let mut out = format!("### shipctl {action}: {result}\n\n");
    if let Some(id) = release {
        out.push_str(&format!("Release `{id}` (`shipctl history` lists it)\n\n"));
    }
    out.push_str("| service | from | to | result | duration |\n|---|---|---|---|---|\n");
    for s in plan.services.iter().filter(|s| !s.up_to_date) {
        out.push_str(&format!(
            "| {} | {} | {}@{} | {result} | {took} |\n",
            s.service,
            from_text(s),
            s.to.zone,
            s.to.version
        ));
    }
    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    for s in plan.services.iter().filter(|s| !s.up_to_date) {
        let mine: Vec<&StepLine> = steps.iter().filter(|l| l.service == s.service).collect();
        if mine.is_empty() {
            continue;
        }
        let title = format!(
            "{} {action}, {}, {} → {}@{}, {result} in {took}",
            s.service,
            s.strategy,
            from_text(s),
            s.to.zone,
            s.to.version
        );
        out.push('\n');
        out.push_str(&super::timeline::markdown(
            &title,
            &timeline(plan, s, steps, measured, ms),
        ));
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

fn from_text(s: &ServicePlan) -> String {
    s.from
        .as_ref()
        .map_or_else(|| "-".to_string(), |z| format!("{}@{}", z.zone, z.version))
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

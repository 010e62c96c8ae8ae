//! Renders executor events: progress bars on a terminal, plain lines in CI logs, NDJSON for
//! programs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::event_render::render_line;
use super::prompt::PromptDecider;
use super::{Printer, Terminal};
use crate::exec::{Event, EventSink, FailureDecider, NonInteractive};
use crate::ui::OutputFormat;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not silence the progress output.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Live bars (stderr is a terminal).
    Tty,
    /// One line per event on stderr, no ANSI codes.
    Plain,
    /// One JSON object per event on stdout.
    Json,
}

impl ProgressMode {
    /// `--output json` wins; else bars where the terminal can draw them, plain lines elsewhere.
    fn for_terminal(terminal: &Terminal) -> ProgressMode {
        match terminal.format {
            OutputFormat::Json => ProgressMode::Json,
            OutputFormat::Text if terminal.progress => ProgressMode::Tty,
            OutputFormat::Text => ProgressMode::Plain,
        }
    }
}

/// The event sink and the failure decider for a run; the one place that decides whether a
/// failure may be asked about. Bars and a prompt on a terminal (the prompt hides the bars while
/// it asks), plain lines elsewhere, NDJSON for `--output json`. Only someone at an interactive
/// terminal is asked: never with `--output json` (a program reads stdout), in CI or with
/// `--non-interactive`.
pub fn sink_and_decider(printer: &Printer) -> (Box<dyn EventSink>, Box<dyn FailureDecider>) {
    let (sink, decider) = shown_sink_and_decider(printer);
    match printer.events_writer() {
        Some(file) => (
            Box::new(Tee {
                first: sink,
                second: JsonSink::new(file),
            }),
            decider,
        ),
        None => (sink, decider),
    }
}

/// Events go to both: what the user sees, and the `--events` file.
struct Tee<W: Write + Send> {
    first: Box<dyn EventSink>,
    second: JsonSink<W>,
}

impl<W: Write + Send> EventSink for Tee<W> {
    fn emit(&self, event: &Event) {
        self.first.emit(event);
        self.second.emit(event);
    }
}

fn shown_sink_and_decider(printer: &Printer) -> (Box<dyn EventSink>, Box<dyn FailureDecider>) {
    let terminal = &printer.terminal;
    let mode = ProgressMode::for_terminal(terminal);
    let ask = terminal.interactive && mode != ProgressMode::Json;
    match mode {
        ProgressMode::Tty => {
            let sink = TtySink::new(terminal.color);
            let decider: Box<dyn FailureDecider> = if ask {
                Box::new(PromptDecider::with_progress(sink.multi()))
            } else {
                Box::new(NonInteractive)
            };
            (Box::new(sink), decider)
        }
        ProgressMode::Plain => {
            let decider: Box<dyn FailureDecider> = if ask {
                Box::new(PromptDecider::new())
            } else {
                Box::new(NonInteractive)
            };
            (Box::new(PlainSink::new(printer.stderr_writer())), decider)
        }
        ProgressMode::Json => (
            Box::new(JsonSink::new(printer.stdout_writer())),
            Box::new(NonInteractive),
        ),
    }
}

/// One line of text per event.
pub struct PlainSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> PlainSink<W> {
    pub fn new(out: W) -> Self {
        PlainSink {
            out: Mutex::new(out),
        }
    }

    /// What was written (tests read it back).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<W: Write + Send> EventSink for PlainSink<W> {
    fn emit(&self, event: &Event) {
        let mut out = lock(&self.out);
        // A closed log pipe must not stop a deploy halfway.
        let _ = writeln!(out, "{}", render_line(event));
        let _ = out.flush();
    }
}

/// One NDJSON object per event, flushed per line so consumers see it at once.
pub struct JsonSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink {
            out: Mutex::new(out),
        }
    }

    /// What was written (tests read it back).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<W: Write + Send> EventSink for JsonSink<W> {
    fn emit(&self, event: &Event) {
        let Ok(line) = serde_json::to_string(event) else {
            return;
        };
        let mut out = lock(&self.out);
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// What one service's line shows.
struct Line {
    bar: ProgressBar,
    step: String,
    health: String,
    /// `green 1.4.2`, for the final line.
    target: String,
}

impl Line {
    fn refresh(&self) {
        let msg = match (self.health.is_empty(), self.step.is_empty()) {
            (true, _) => self.step.clone(),
            (false, true) => self.health.clone(),
            (false, false) => format!("{}  {}", self.health, self.step),
        };
        self.bar.set_message(msg);
    }
}

/// Live view on a terminal: one line per service (zone, healthy/desired, current step,
/// elapsed); warnings and failures printed above the lines.
pub struct TtySink {
    multi: MultiProgress,
    lines: Mutex<HashMap<String, Line>>,
    color: bool,
}

impl TtySink {
    pub fn new(color: bool) -> TtySink {
        TtySink::with_target(ProgressDrawTarget::stderr(), color)
    }

    pub fn with_target(target: ProgressDrawTarget, color: bool) -> TtySink {
        TtySink {
            multi: MultiProgress::with_draw_target(target),
            lines: Mutex::new(HashMap::new()),
            color,
        }
    }

    /// For prompts, which must hide the bars while they ask.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    fn template(color: bool) -> &'static str {
        if color {
            "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:.dim}"
        } else {
            "{spinner} {prefix} {wide_msg} {elapsed}"
        }
    }

    fn style(&self) -> ProgressStyle {
        ProgressStyle::with_template(Self::template(self.color))
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    fn with_line(&self, service: &str, f: impl FnOnce(&mut Line)) {
        let mut lines = lock(&self.lines);
        let line = lines.entry(service.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(self.style());
            bar.set_prefix(service.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Line {
                bar,
                step: String::new(),
                health: String::new(),
                target: String::new(),
            }
        });
        f(line);
        line.refresh();
    }

    fn finish(&self, service: &str, text: String) {
        if let Some(line) = lock(&self.lines).get(service) {
            line.bar.finish_with_message(text);
        }
    }
}

impl EventSink for TtySink {
    fn emit(&self, event: &Event) {
        match event {
            Event::PlanStarted { service, to, .. } => {
                self.with_line(service, |l| {
                    l.target = format!("{} {}", to.zone, to.version)
                });
                self.println(&render_line(event));
            }
            Event::StepStarted {
                service,
                index,
                total,
                summary,
                ..
            } => self.with_line(service, |l| l.step = format!("[{index}/{total}] {summary}")),
            Event::StepFinished { .. } => {}
            Event::HealthProgress {
                service,
                zone,
                healthy,
                desired,
                cause,
                ..
            } => self.with_line(service, |l| {
                l.health = format!("{zone} {healthy}/{desired}");
                if let Some(cause) = cause {
                    l.health.push_str(&format!(" ({cause})"));
                }
            }),
            Event::AnalysisMeasured { result, .. } if result == "failed" => {
                self.println(&self.paint(&render_line(event), "31"));
            }
            Event::RouterConfirmed { .. }
            | Event::AnalysisMeasured { .. }
            | Event::ReleasePlanned { .. }
            | Event::ReleaseSwitched { .. }
            | Event::ReleaseStarted { .. } => self.println(&render_line(event)),
            Event::ReleaseFinished { result, .. } => {
                let code = match result {
                    crate::ports::RunResult::Done => "32",
                    crate::ports::RunResult::AwaitingPromotion => "33",
                    _ => "31",
                };
                self.println(&self.paint(&render_line(event), code));
            }
            Event::Warning { .. } | Event::RouterGone { .. } => {
                self.println(&self.paint(&render_line(event), "33"));
            }
            Event::Failure { .. } | Event::Interrupted { .. } => {
                self.println(&self.paint(&render_line(event), "31"));
            }
            Event::RollbackStarted { .. } => {
                self.println(&self.paint(&render_line(event), "33"));
            }
            Event::RollbackFinished {
                service,
                ok,
                message,
            } => {
                let code = if *ok { "33" } else { "31" };
                self.finish(service, self.paint(message, code));
            }
            Event::Paused { service, message } => {
                let message = super::event_render::without_service(service, message);
                self.finish(service, self.paint(&format!("paused: {message}"), "33"));
            }
            Event::DeployFinished { result, .. } => {
                let code = match result {
                    crate::ports::RunResult::Done => "32",
                    crate::ports::RunResult::AwaitingPromotion => "33",
                    _ => "31",
                };
                for line in lock(&self.lines).values() {
                    if line.bar.is_finished() {
                        continue;
                    }
                    if *result == crate::ports::RunResult::Done {
                        line.bar.finish_with_message(
                            self.paint(&format!("{} serves", line.target), "32"),
                        );
                    } else {
                        line.bar.abandon();
                    }
                }
                self.println(&self.paint(&render_line(event), code));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FailureCause;
    use crate::plan::ZoneVersion;
    use crate::ports::RunResult;
    use crate::spec::model::Strategy;

    fn events() -> Vec<Event> {
        vec![
            Event::PlanStarted {
                service: "web".into(),
                strategy: Strategy::BlueGreen,
                from: Some(ZoneVersion {
                    zone: "blue".into(),
                    version: "1.4.1".into(),
                }),
                to: ZoneVersion {
                    zone: "green".into(),
                    version: "1.4.2".into(),
                },
                steps: 5,
            },
            Event::StepStarted {
                service: "web".into(),
                index: 2,
                total: 5,
                action: "wait_healthy".into(),
                summary: "wait for 3 healthy green tasks of 1.4.2".into(),
                reason: "traffic moves only to a healthy zone".into(),
            },
            Event::HealthProgress {
                service: "web".into(),
                zone: "green".into(),
                version: "1.4.2".into(),
                healthy: 2,
                desired: 3,
                running: 2,
                starting: 1,
                failing: 0,
                cause: None,
            },
            Event::StepFinished {
                service: "web".into(),
                index: 2,
                total: 5,
                action: "wait_healthy".into(),
                summary: "wait for 3 healthy green tasks of 1.4.2".into(),
                elapsed_ms: 5140,
            },
            Event::Failure {
                service: "web".into(),
                cause: FailureCause::ImageNotFound {
                    detail: "No such image: example/web:1.4.2".into(),
                },
                message: "green did not become healthy: image not found: No such image: example/web:1.4.2".into(),
                task_errors: vec!["task abc rejected: No such image: example/web:1.4.2".into()],
            },
            Event::Warning {
                service: None,
                message: "ports of web are ignored".into(),
            },
            Event::DeployFinished {
                result: RunResult::RolledBack,
                duration_ms: 61_234,
            },
        ]
    }

    #[test]
    fn plain_lines_are_one_per_event_without_colour() {
        let sink = PlainSink::new(Vec::new());
        for e in events() {
            sink.emit(&e);
        }
        let text = String::from_utf8(sink.into_inner()).unwrap_or_default();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![
                "web: blue-green blue 1.4.1 -> green 1.4.2 (5 steps)",
                "web: [2/5] wait for 3 healthy green tasks of 1.4.2 (traffic moves only to a healthy zone)",
                "web: green 1.4.2 2/3 healthy (running 2, starting 1, failing 0)",
                "web: [2/5] done in 5.1s",
                "web: failed: green did not become healthy: image not found: No such image: example/web:1.4.2 [task abc rejected: No such image: example/web:1.4.2]",
                "warning: ports of web are ignored",
                "deploy failed and was rolled back after 1m1.2s",
            ]
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn json_lines_are_one_object_per_event() {
        let sink = JsonSink::new(Vec::new());
        let all = events();
        sink.emit(&all[0]);
        sink.emit(&all[2]);
        sink.emit(&all[4]);
        sink.emit(&all[6]);
        let text = String::from_utf8(sink.into_inner()).unwrap_or_default();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![
                r#"{"event":"plan_started","service":"web","strategy":"blue-green","from":{"zone":"blue","version":"1.4.1"},"to":{"zone":"green","version":"1.4.2"},"steps":5}"#,
                r#"{"event":"health_progress","service":"web","zone":"green","version":"1.4.2","healthy":2,"desired":3,"running":2,"starting":1,"failing":0,"cause":null}"#,
                r#"{"event":"failure","service":"web","cause":{"kind":"image_not_found","detail":"No such image: example/web:1.4.2"},"message":"green did not become healthy: image not found: No such image: example/web:1.4.2","task_errors":["task abc rejected: No such image: example/web:1.4.2"]}"#,
                r#"{"event":"deploy_finished","result":"rolled_back","duration_ms":61234}"#,
            ]
        );
        for line in text.lines() {
            let back: Event = serde_json::from_str(line).expect("round trip");
            assert!(all.contains(&back));
        }
    }

    #[test]
    fn the_terminal_view_accepts_every_event_without_colour() {
        let sink = TtySink::with_target(ProgressDrawTarget::hidden(), false);
        for e in events() {
            sink.emit(&e);
        }
        let lines = lock(&sink.lines);
        let line = lines.get("web").expect("a line for web");
        assert!(line.bar.is_finished());
        assert_eq!(line.health, "green 2/3");
        assert!(!sink.paint("x", "31").contains('\x1b'));
    }

    #[test]
    fn both_bar_templates_are_valid() {
        for color in [true, false] {
            assert!(ProgressStyle::with_template(TtySink::template(color)).is_ok());
        }
    }
}

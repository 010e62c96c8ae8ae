//! A run as pictures GitHub and GitLab render in Markdown: a Mermaid `gantt` of its steps with
//! their durations and of the traffic split over time, and the split as a table beside it.

use std::fmt::Write;

use crate::ports::{StepOutcome, Timeline};

/// Longest step label in the chart; the full text is in the list of steps.
const LABEL_CHARS: usize = 64;

/// The ```` ```mermaid ```` block of one service's run, then the traffic table (when the run
/// wrote traffic).
pub fn markdown(title: &str, timeline: &Timeline) -> String {
    let mut out = String::from("```mermaid\ngantt\n");
    let _ = writeln!(out, "    title {}", label(title, 120));
    // Offsets from the start of the run as a time of day: the axis then reads minutes and
    // seconds into the run, in any viewer's time zone.
    out.push_str("    dateFormat HH:mm:ss.SSS\n    axisFormat %M:%S\n");
    out.push_str("    section steps\n");
    for step in &timeline.steps {
        let start = clock(step.start_ms);
        let end = clock(step.start_ms + step.ms);
        let tags = match step.outcome {
            StepOutcome::Done => "done, ",
            StepOutcome::Failed | StepOutcome::RollbackIncomplete => "crit, ",
            StepOutcome::RolledBack => "active, ",
            StepOutcome::Waiting => "milestone, ",
        };
        let took = match step.outcome {
            StepOutcome::Waiting => String::new(),
            _ => format!(" ({})", crate::ui::event_render::format_ms(step.ms)),
        };
        let text = format!("{}{took}", label(&step.text, LABEL_CHARS));
        let _ = writeln!(out, "    {text} :{tags}{start}, {end}");
    }
    let eras = eras(timeline);
    if !eras.is_empty() {
        out.push_str("    section traffic\n");
        for (split, from, to) in &eras {
            let _ = writeln!(
                out,
                "    {} :{}, {}",
                label(&shares(split), LABEL_CHARS),
                clock(*from),
                clock(*to)
            );
        }
    }
    out.push_str("```\n");
    if !eras.is_empty() {
        out.push_str("\n| from | traffic |\n|--:|---|\n");
        for (split, from, _) in &eras {
            let _ = writeln!(out, "| {} | {} |", seconds(*from), cell(&shares(split)));
        }
    }
    if !timeline.analysis.is_empty() {
        out.push_str("\n| at | zone | metric | result | value |\n|--:|---|---|---|---|\n");
        for m in &timeline.analysis {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                seconds(m.at_ms),
                cell(&m.zone),
                cell(&m.metric),
                cell(&m.result),
                cell(&m.value)
            );
        }
    }
    out
}

/// Each traffic split with the time it held: from its write to the next one, or the run's end.
fn eras(timeline: &Timeline) -> Vec<(String, u64, u64)> {
    let marks = &timeline.traffic;
    marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let end = marks
                .get(i + 1)
                .map_or(timeline.ms, |next| next.at_ms)
                .max(mark.at_ms);
            (mark.split.clone(), mark.at_ms, end)
        })
        .collect()
}

/// `blue=75,green=25` as people read it: `blue 75%, green 25%`.
fn shares(split: &str) -> String {
    split
        .split(',')
        .map(|part| match part.split_once('=') {
            Some((zone, share)) => format!("{zone} {share}%"),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `HH:mm:ss.SSS` for an offset (a run longer than a day wraps, as the format can only say).
fn clock(ms: u64) -> String {
    let (h, rest) = ((ms / 3_600_000) % 24, ms % 3_600_000);
    format!(
        "{h:02}:{:02}:{:02}.{:03}",
        rest / 60_000,
        (rest % 60_000) / 1000,
        rest % 1000
    )
}

/// `2.1s`, `0.0s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Text Mermaid takes as a task name or title: none of `:` `;` `#` (its separators and
/// entities), no line breaks, no `%%` (a comment), and not too long.
fn label(text: &str, max: usize) -> String {
    let cleaned: String = text
        .replace(": ", ", ")
        .chars()
        .map(|c| match c {
            ':' | ';' | '#' | '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect();
    let cleaned = cleaned.replace("%%", "%");
    if cleaned.chars().count() <= max {
        return cleaned.trim().to_string();
    }
    let cut: String = cleaned.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// A Markdown table cell: no `|`, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{TimedStep, TrafficMark};

    #[test]
    fn labels_keep_mermaid_syntax_out() {
        assert_eq!(
            label("failed: image app:1.2; #x\n%%c", 64),
            "failed, image app 1.2   x %c".to_string()
        );
        assert_eq!(label("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn clock_reads_minutes_and_seconds_into_the_run() {
        assert_eq!(clock(0), "00:00:00.000");
        assert_eq!(clock(61_250), "00:01:01.250");
        assert_eq!(clock(3_600_000 + 5), "01:00:00.005");
    }

    #[test]
    fn each_split_holds_until_the_next_write() {
        let timeline = Timeline {
            ms: 9000,
            steps: vec![TimedStep {
                text: "1/1 scale".into(),
                start_ms: 0,
                ms: 9000,
                outcome: StepOutcome::Done,
            }],
            traffic: vec![
                TrafficMark {
                    at_ms: 0,
                    split: "blue=100,green=0".into(),
                },
                TrafficMark {
                    at_ms: 4000,
                    split: "blue=0,green=100".into(),
                },
            ],
            analysis: vec![crate::ports::AnalysisMark {
                at_ms: 7000,
                zone: "green".into(),
                metric: "errors".into(),
                result: "failed".into(),
                value: "error_rate 5% is not < 1% (10 of 200 requests answered 5xx)".into(),
            }],
        };
        let text = markdown("web", &timeline);
        assert!(
            text.contains(
                "| 7.0s | green | errors | failed | error_rate 5% is not < 1% (10 of 200 requests answered 5xx) |"
            ),
            "{text}"
        );
        assert_eq!(
            eras(&timeline),
            vec![
                ("blue=100,green=0".to_string(), 0, 4000),
                ("blue=0,green=100".to_string(), 4000, 9000)
            ]
        );
    }
}

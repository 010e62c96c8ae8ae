//! The closing lines of a run and the printed plan.

use std::fmt::Write;

use super::{OutputFormat, Printer};
use crate::exec::{Outcome, ServiceResult};
use crate::plan::Plan;
use crate::plan::redact::fresh_salt;
use crate::ports::RunResult;
use crate::spec::model::NotifyTarget;

/// Prints a plan: text for people, one JSON document with `--output json`.
pub fn print_plan(plan: &Plan, printer: &Printer) {
    print_plan_with(plan, &[], printer);
}

/// Prints a plan and the webhooks its run will notify (`notify:` in the spec), their URLs shown
/// as `scheme://host/…` only: the rest may be a token.
pub fn print_plan_with(plan: &Plan, notify: &[NotifyTarget], printer: &Printer) {
    let text = match printer.format() {
        OutputFormat::Text => {
            super::plan_text::write_plan(plan, |piece| printer.out(piece));
            let mut text = String::new();
            if !notify.is_empty() {
                text.push_str("\nNotifications (spec `notify`):\n");
                for target in notify {
                    let _ = writeln!(text, "  {}", target.describe());
                }
            }
            text
        }
        // Programs and CI logs get no secret values: environment values are fingerprints.
        OutputFormat::Json => {
            let copy;
            let shown = if plan.is_redacted() {
                plan
            } else {
                copy = plan.redacted(&fresh_salt());
                &copy
            };
            let mut value = serde_json::to_value(shown).unwrap_or_default();
            if !notify.is_empty()
                && let serde_json::Value::Object(map) = &mut value
            {
                // Serialised with their URLs shown, not whole.
                map.insert("notify".into(), serde_json::json!(notify));
            }
            match serde_json::to_string_pretty(&value) {
                Ok(json) => json + "\n",
                Err(e) => format!("{{\"error\": \"cannot encode the plan: {e}\"}}\n"),
            }
        }
    };
    printer.out(&text);
}

/// Prints how a run ended: one line per service, or a summary object in JSON; both name the
/// release the run made, if it changed anything.
pub fn print_outcome(outcome: &Outcome, release: Option<&str>, printer: &Printer) {
    let result = if outcome.awaiting_promotion() {
        RunResult::AwaitingPromotion
    } else {
        RunResult::Done
    };
    let mut out = String::new();
    if printer.is_json() {
        let mut summary = serde_json::json!({
            "event": "summary",
            "result": result,
            "services": outcome.services,
            "duration": crate::spec::duration::format(outcome.duration),
        });
        if let Some(id) = release {
            summary["release"] = serde_json::Value::from(id);
        }
        let _ = writeln!(out, "{summary}");
        printer.out(&out);
        return;
    }
    for service in &outcome.services {
        let line = match &service.result {
            ServiceResult::Done { to } => {
                format!("{}: {}@{} is live", service.service, to.zone, to.version)
            }
            ServiceResult::UpToDate => format!("{}: up to date, nothing to do", service.service),
            ServiceResult::AwaitingPromotion { to, message, .. } => format!(
                "{}: canary {}@{} is running; {message}",
                service.service, to.zone, to.version
            ),
        };
        let _ = writeln!(out, "{line}");
    }
    let took = crate::spec::duration::format(round_tenths(outcome.duration));
    let _ = match release {
        Some(id) => writeln!(out, "release {id} done in {took}"),
        None => writeln!(out, "done in {took}"),
    };
    printer.out(&out);
}

fn round_tenths(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis((d.as_millis() as u64 / 100) * 100)
}

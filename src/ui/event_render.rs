//! Events as one line of plain text each: for CI logs, and for the messages printed above
//! the progress bars on a terminal.

use std::time::Duration;

use crate::exec::Event;
use crate::ports::RunResult;

/// A duration in ms as `1.2s`, `250ms` or `2m5s` (tenths of a second above one second).
pub fn format_ms(ms: u64) -> String {
    let d = if ms >= 1000 {
        Duration::from_millis(ms / 100 * 100)
    } else {
        Duration::from_millis(ms)
    };
    crate::spec::duration::format(d)
}

/// One line, no colour, no trailing newline.
pub fn render_line(event: &Event) -> String {
    match event {
        Event::ReleaseStarted { id, services } => {
            format!("release {id}: {}", services.join(", "))
        }
        Event::ReleaseFinished {
            id,
            result,
            changes,
            failed_service,
        } => {
            let failed = failed_service
                .as_ref()
                .map(|s| format!(", {s} failed"))
                .unwrap_or_default();
            format!("release {id} {}{failed}: {changes}", result.word())
        }
        Event::PlanStarted {
            service,
            strategy,
            from,
            to,
            steps,
        } => {
            let from = from.as_ref().map_or_else(
                || "first deploy".to_string(),
                |f| format!("{} {}", f.zone, f.version),
            );
            format!(
                "{service}: {} {from} -> {} {} ({steps} steps)",
                strategy.as_str(),
                to.zone,
                to.version
            )
        }
        Event::StepStarted {
            service,
            index,
            total,
            summary,
            reason,
            ..
        } => {
            if reason.is_empty() {
                format!("{service}: [{index}/{total}] {summary}")
            } else {
                format!("{service}: [{index}/{total}] {summary} ({reason})")
            }
        }
        Event::StepFinished {
            service,
            index,
            total,
            elapsed_ms,
            ..
        } => format!(
            "{service}: [{index}/{total}] done in {}",
            format_ms(*elapsed_ms)
        ),
        Event::HealthProgress {
            service,
            zone,
            version,
            healthy,
            desired,
            running,
            starting,
            failing,
            cause,
        } => {
            let mut line = format!(
                "{service}: {zone} {version} {healthy}/{desired} healthy \
                 (running {running}, starting {starting}, failing {failing})"
            );
            if let Some(cause) = cause {
                line.push_str(": ");
                line.push_str(cause);
            }
            line
        }
        Event::RouterConfirmed {
            service,
            router,
            waited_ms,
        } => format!(
            "{service}: router {router} serves the new keys (after {})",
            format_ms(*waited_ms)
        ),
        Event::RouterGone {
            service,
            router,
            key,
            silent_ms,
            heartbeat_ms,
        } => format!(
            "warning: {service}: not waiting for router {router}: it is not live ({key} did not \
             change for {}, {} of its heartbeats of {}) and does not serve the new keys",
            format_ms(*silent_ms),
            silent_ms / (*heartbeat_ms).max(1),
            format_ms(*heartbeat_ms)
        ),
        Event::AnalysisMeasured {
            service,
            zone,
            metric,
            result,
            value,
            passed,
            failed,
            inconclusive,
            count,
        } => {
            let progress = match count {
                Some(c) => format!("{}/{c}", passed + failed + inconclusive),
                None => format!("{}", passed + failed + inconclusive),
            };
            format!(
                "{service}: analysis of {zone}: {metric} {result}: {value} \
                 [{progress}; {passed} passed, {failed} failed, {inconclusive} inconclusive]"
            )
        }
        Event::Warning { service, message } => match service {
            Some(s) => format!("warning: {s}: {message}"),
            None => format!("warning: {message}"),
        },
        Event::Failure {
            service,
            message,
            task_errors,
            ..
        } => {
            let mut line = format!("{service}: failed: {message}");
            if !task_errors.is_empty() {
                line.push_str(" [");
                line.push_str(&task_errors.join("; "));
                line.push(']');
            }
            line
        }
        Event::RollbackStarted { service, reason } => {
            format!("{service}: rolling back ({reason})")
        }
        Event::RollbackFinished {
            service, message, ..
        } => format!("{service}: {message}"),
        Event::Paused { service, message } => {
            format!("{service}: paused: {}", without_service(service, message))
        }
        // The message already names the service.
        Event::Interrupted { message, .. } => format!("interrupted: {message}"),
        Event::ReleasePlanned {
            together,
            in_place,
            after,
            parallel,
        } => {
            let mut parts = Vec::new();
            if !in_place.is_empty() {
                parts.push(format!(
                    "{} in place, in dependency order",
                    in_place.join(", ")
                ));
            }
            if !together.is_empty() {
                parts.push(format!(
                    "{} gated (up to {parallel} at once) and switched together",
                    together.join(", ")
                ));
            }
            if !after.is_empty() {
                parts.push(format!("then {} one by one", after.join(", ")));
            }
            format!("release: {}", parts.join("; "))
        }
        Event::ReleaseSwitched {
            services,
            writes,
            window_ms,
        } => {
            if *writes <= 1 {
                format!(
                    "release: switched {} in one atomic write",
                    services.join(", ")
                )
            } else {
                format!(
                    "release: switched {} in {writes} atomic writes within {window_ms} ms (the store limits a transaction's size)",
                    services.join(", ")
                )
            }
        }
        Event::DeployFinished {
            result,
            duration_ms,
        } => {
            let what = match result {
                RunResult::Done => "deploy done",
                RunResult::AwaitingPromotion => "deploy paused until promoted",
                RunResult::RolledBack => "deploy failed and was rolled back",
                RunResult::NeedsAttention => "deploy failed and needs attention",
                RunResult::Interrupted => "deploy interrupted",
                RunResult::NotStarted => "deploy refused, nothing changed",
            };
            format!("{what} after {}", format_ms(*duration_ms))
        }
    }
}

/// `message` without a leading `{service}: `: stop messages name the service for the final
/// error, and the line already starts with it.
pub(crate) fn without_service<'m>(service: &str, message: &'m str) -> &'m str {
    message
        .strip_prefix(service)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lines_name_the_release_and_what_it_changed() {
        let started = Event::ReleaseStarted {
            id: "20261130-084512-3f2a".into(),
            services: vec!["api".into(), "web".into()],
        };
        assert_eq!(
            render_line(&started),
            "release 20261130-084512-3f2a: api, web"
        );
        let finished = Event::ReleaseFinished {
            id: "20261130-084512-3f2a".into(),
            result: RunResult::RolledBack,
            changes: "api 1.0.0 -> 1.1.0, web 1.0.0 -> 1.1.0".into(),
            failed_service: Some("web".into()),
        };
        assert_eq!(
            render_line(&finished),
            "release 20261130-084512-3f2a rolled_back, web failed: api 1.0.0 -> 1.1.0, web 1.0.0 -> 1.1.0"
        );
    }

    #[test]
    fn router_lines_name_the_router_and_why_it_is_not_waited_for() {
        let confirmed = Event::RouterConfirmed {
            service: "web".into(),
            router: "lb1".into(),
            waited_ms: 1234,
        };
        assert_eq!(
            render_line(&confirmed),
            "web: router lb1 serves the new keys (after 1.2s)"
        );
        let gone = Event::RouterGone {
            service: "web".into(),
            router: "lb2".into(),
            key: "shop/web-router/lb2".into(),
            silent_ms: 15_200,
            heartbeat_ms: 5000,
        };
        assert_eq!(
            render_line(&gone),
            "warning: web: not waiting for router lb2: it is not live (shop/web-router/lb2 did not \
             change for 15.2s, 3 of its heartbeats of 5s) and does not serve the new keys"
        );
    }
}

//! The JSON body of one notification: the facts of the run for programs, and a one-line `text`
//! that a Slack incoming webhook shows as it is.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::plan::ZoneVersion;
use crate::ports::{Action, RunResult};
use crate::spec::model::{NotifyEvent, Strategy};

/// What every notification about one service's run says.
#[derive(Debug, Clone)]
pub struct Subject {
    pub project: String,
    pub service: String,
    pub action: Action,
    pub strategy: Strategy,
    pub from: Option<ZoneVersion>,
    pub to: ZoneVersion,
    /// The release the run makes, once it is named.
    pub release: Option<String>,
}

/// The phase being notified, with what it adds to the body.
#[derive(Debug, Clone)]
pub enum Phase<'a> {
    Started,
    Step {
        index: usize,
        total: usize,
        action: &'a str,
        summary: &'a str,
        elapsed_ms: u64,
    },
    /// `cause` as the failure names it (`analysis failed: errors: error_rate 5.2% is not < 1%`).
    AnalysisFailed {
        cause: &'a str,
    },
    Switched,
    /// `message` as the rollback ends (`rolled back: blue 1.0.0 serves`).
    RolledBack {
        ok: bool,
        cause: Option<&'a str>,
        message: &'a str,
    },
    Paused {
        message: &'a str,
    },
    /// The run ended (not waiting for `promote`: that is a pause).
    Ended {
        result: RunResult,
        duration_ms: u64,
        cause: Option<&'a str>,
    },
}

impl Phase<'_> {
    pub fn event(&self) -> NotifyEvent {
        match self {
            Phase::Started => NotifyEvent::Started,
            Phase::Step { .. } => NotifyEvent::Step,
            Phase::AnalysisFailed { .. } => NotifyEvent::AnalysisFailed,
            Phase::Switched => NotifyEvent::Switched,
            Phase::RolledBack { .. } => NotifyEvent::RolledBack,
            Phase::Paused { .. } => NotifyEvent::Paused,
            Phase::Ended {
                result: RunResult::Done,
                ..
            } => NotifyEvent::Done,
            Phase::Ended { .. } => NotifyEvent::Failed,
        }
    }
}

/// One notification, ready to send.
#[derive(Debug, Clone)]
pub struct Notice {
    pub event: NotifyEvent,
    pub body: Value,
}

/// The body for `phase` of `subject`'s run, at `time`.
pub fn notice(subject: &Subject, phase: &Phase<'_>, time: SystemTime) -> Notice {
    let event = phase.event();
    let mut extra = Map::new();
    let message = match phase {
        Phase::Started => {
            let from = match &subject.from {
                Some(f) => format!("from {} on {}", f.version, f.zone),
                None => "nothing deployed before".to_string(),
            };
            format!(
                "{} started ({}, {from}) to {} on {}",
                subject.action,
                subject.strategy.as_str(),
                subject.to.version,
                subject.to.zone
            )
        }
        Phase::Step {
            index,
            total,
            action,
            summary,
            elapsed_ms,
        } => {
            extra.insert(
                "step".into(),
                json!({"index": index, "total": total, "action": action, "summary": summary,
                       "elapsed_ms": elapsed_ms}),
            );
            format!(
                "step {index}/{total} done: {summary} ({})",
                took(*elapsed_ms)
            )
        }
        Phase::AnalysisFailed { cause } => {
            extra.insert("cause".into(), Value::from(*cause));
            (*cause).to_string()
        }
        Phase::Switched => match &subject.from {
            Some(f) => format!(
                "switched: traffic goes to {}, {} on {} drains",
                subject.to.zone, f.version, f.zone
            ),
            None => format!("switched: traffic goes to {}", subject.to.zone),
        },
        Phase::RolledBack { ok, cause, message } => {
            extra.insert("ok".into(), Value::from(*ok));
            if let Some(cause) = cause {
                extra.insert("cause".into(), Value::from(*cause));
            }
            let serving = message.strip_prefix("rolled back: ").unwrap_or(message);
            match cause {
                Some(cause) if *ok => format!("rolled back: {cause} ({serving})"),
                _ => (*message).to_string(),
            }
        }
        Phase::Paused { message } => format!("paused: {message}"),
        Phase::Ended {
            result,
            duration_ms,
            cause,
        } => {
            extra.insert("result".into(), json!(result));
            extra.insert("duration_ms".into(), Value::from(*duration_ms));
            if let Some(cause) = cause {
                extra.insert("cause".into(), Value::from(*cause));
            }
            match (result, cause) {
                (RunResult::Done, _) => format!(
                    "done: live on {} after {}",
                    subject.to.zone,
                    took(*duration_ms)
                ),
                (other, Some(cause)) => format!("failed ({}): {cause}", words(*other)),
                (other, None) => format!("failed ({})", words(*other)),
            }
        }
    };
    let text = format!(
        "shipctl: {}/{} {} {}",
        subject.project, subject.service, subject.to.version, message
    );
    let mut body = json!({
        "event": event,
        "project": subject.project,
        "service": subject.service,
        "action": subject.action.as_str(),
        "strategy": subject.strategy,
        "release": subject.release,
        "from_zone": subject.from.as_ref().map(|f| &f.zone),
        "from_version": subject.from.as_ref().map(|f| &f.version),
        "zone": subject.to.zone,
        "to_version": subject.to.version,
        "message": message,
        "time": humantime::format_rfc3339_millis(time).to_string(),
    });
    if let Value::Object(map) = &mut body {
        map.extend(extra);
        map.insert("text".into(), Value::from(slack_escaped(&text)));
    }
    Notice { event, body }
}

/// A duration as people read it in a chat line: whole seconds from one second on.
fn took(ms: u64) -> String {
    let d = if ms >= 1000 {
        Duration::from_secs((ms + 500) / 1000)
    } else {
        Duration::from_millis(ms)
    };
    crate::spec::duration::format(d)
}

fn words(result: RunResult) -> &'static str {
    match result {
        RunResult::Done => "done",
        RunResult::AwaitingPromotion => "awaiting promotion",
        RunResult::RolledBack => "rolled back",
        RunResult::NeedsAttention => "needs attention",
        RunResult::Interrupted => "interrupted",
        RunResult::NotStarted => "not started",
    }
}

/// Slack reads `<...>` as a link or a mention and `&` as an entity: its documentation asks for
/// these three escaped, and other readers get `message` unescaped.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop_web(from: Option<(&str, &str)>) -> Subject {
        Subject {
            project: "shop".into(),
            service: "web".into(),
            action: Action::Deploy,
            strategy: Strategy::BlueGreen,
            from: from.map(|(zone, version)| ZoneVersion {
                zone: zone.into(),
                version: version.into(),
            }),
            to: ZoneVersion {
                zone: "green".into(),
                version: "1.1.0".into(),
            },
            release: Some("20261130-101500-ab12".into()),
        }
    }

    fn at() -> SystemTime {
        humantime::parse_rfc3339("2026-11-30T10:15:00Z").unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn text(phase: Phase<'_>) -> String {
        let n = notice(&shop_web(Some(("blue", "1.0.0"))), &phase, at());
        n.body["text"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn every_body_carries_the_facts_of_the_run() {
        let n = notice(&shop_web(Some(("blue", "1.0.0"))), &Phase::Started, at());
        assert_eq!(n.event, NotifyEvent::Started);
        assert_eq!(
            n.body,
            json!({
                "event": "started",
                "project": "shop",
                "service": "web",
                "action": "deploy",
                "strategy": "blue-green",
                "release": "20261130-101500-ab12",
                "from_zone": "blue",
                "from_version": "1.0.0",
                "zone": "green",
                "to_version": "1.1.0",
                "message": "deploy started (blue-green, from 1.0.0 on blue) to 1.1.0 on green",
                "time": "2026-11-30T10:15:00.000Z",
                "text": "shipctl: shop/web 1.1.0 deploy started (blue-green, from 1.0.0 on blue) to 1.1.0 on green",
            })
        );
        let first = notice(&shop_web(None), &Phase::Switched, at());
        assert_eq!(first.body["from_version"], Value::Null);
        assert_eq!(
            first.body["text"],
            "shipctl: shop/web 1.1.0 switched: traffic goes to green"
        );
    }

    #[test]
    fn each_phase_reads_as_one_line() {
        assert_eq!(
            text(Phase::Step {
                index: 3,
                total: 6,
                action: "wait_healthy",
                summary: "wait for 2 healthy green tasks of 1.1.0",
                elapsed_ms: 4_400,
            }),
            "shipctl: shop/web 1.1.0 step 3/6 done: wait for 2 healthy green tasks of 1.1.0 (4s)"
        );
        assert_eq!(
            text(Phase::Switched),
            "shipctl: shop/web 1.1.0 switched: traffic goes to green, 1.0.0 on blue drains"
        );
        assert_eq!(
            text(Phase::Paused {
                message: "green 1.1.0 runs as a canary and waits"
            }),
            "shipctl: shop/web 1.1.0 paused: green 1.1.0 runs as a canary and waits"
        );
        assert_eq!(
            text(Phase::Ended {
                result: RunResult::Done,
                duration_ms: 41_600,
                cause: None
            }),
            "shipctl: shop/web 1.1.0 done: live on green after 42s"
        );
        assert_eq!(
            text(Phase::Ended {
                result: RunResult::NeedsAttention,
                duration_ms: 1,
                cause: None
            }),
            "shipctl: shop/web 1.1.0 failed (needs attention)"
        );
    }

    #[test]
    fn a_rollback_names_its_cause_and_what_serves() {
        let cause = "analysis failed: errors: error_rate 5.2% is not < 1%";
        let n = notice(
            &shop_web(Some(("blue", "1.0.0"))),
            &Phase::RolledBack {
                ok: true,
                cause: Some(cause),
                message: "rolled back: blue 1.0.0 serves",
            },
            at(),
        );
        assert_eq!(n.event, NotifyEvent::RolledBack);
        assert_eq!(n.body["ok"], true);
        assert_eq!(n.body["cause"], cause);
        assert_eq!(
            n.body["message"],
            "rolled back: analysis failed: errors: error_rate 5.2% is not < 1% (blue 1.0.0 serves)"
        );
        // Slack would read `<` as the start of a link.
        assert_eq!(
            n.body["text"],
            "shipctl: shop/web 1.1.0 rolled back: analysis failed: errors: error_rate 5.2% is not &lt; 1% (blue 1.0.0 serves)"
        );
        assert_eq!(
            text(Phase::RolledBack {
                ok: false,
                cause: Some(cause),
                message: "rollback incomplete: could not scale green to 0"
            }),
            "shipctl: shop/web 1.1.0 rollback incomplete: could not scale green to 0"
        );
        let failed = notice(
            &shop_web(Some(("blue", "1.0.0"))),
            &Phase::Ended {
                result: RunResult::RolledBack,
                duration_ms: 9_000,
                cause: Some("healthcheck failing: container unhealthy"),
            },
            at(),
        );
        assert_eq!(failed.event, NotifyEvent::Failed);
        assert_eq!(failed.body["result"], "rolled_back");
        assert_eq!(
            failed.body["text"],
            "shipctl: shop/web 1.1.0 failed (rolled back): healthcheck failing: container unhealthy"
        );
        let analysis = notice(
            &shop_web(Some(("blue", "1.0.0"))),
            &Phase::AnalysisFailed { cause },
            at(),
        );
        assert_eq!(analysis.event, NotifyEvent::AnalysisFailed);
        assert_eq!(analysis.body["message"], cause);
    }
}

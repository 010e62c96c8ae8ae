//! The release of a run: the services one run changes switch together, so they are recorded
//! together, under one id, in the project's release records (`kv.keys.releases`), besides each
//! service's own history.

use std::time::{Duration, SystemTime};

use super::{Job, Session};
use crate::error::Error;
use crate::exec::{Event, EventSink, Outcome};
use crate::kv;
use crate::plan::{Plan, ServicePlan};
use crate::ports::{ReleaseChange, ReleaseFailure, ReleaseRecord, RunResult};

/// Names the release of `job` when `plan` changes something, and says so before the executor
/// starts. Returns the id (`None`: nothing to change, no release).
pub(super) fn start(job: &Job<'_>, plan: &Plan, sink: &dyn EventSink) -> Option<String> {
    let services: Vec<String> = changing(plan).map(|s| s.service.clone()).collect();
    if services.is_empty() {
        return None;
    }
    let id = job
        .release
        .get_or_init(|| kv::new_release_id(SystemTime::now()))
        .clone();
    sink.emit(&Event::ReleaseStarted {
        id: id.clone(),
        services,
    });
    Some(id)
}

/// The record of a run that changed services (`None` when it changed none).
pub(super) fn record_of(
    session: &Session<'_>,
    plan: &Plan,
    job: &Job<'_>,
    result: &Result<Outcome, Error>,
    ended: RunResult,
    elapsed: Duration,
) -> Option<ReleaseRecord> {
    let id = job.release.get()?;
    let mut record = ReleaseRecord::now(&session.settings.env, id, job.action, ended);
    fill(&mut record, plan, result, elapsed);
    (!record.services.is_empty()).then_some(record)
}

/// What `plan` changed, how long it took and, for a failed run, where it failed.
fn fill(
    record: &mut ReleaseRecord,
    plan: &Plan,
    result: &Result<Outcome, Error>,
    elapsed: Duration,
) {
    record.duration_secs = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
    record.services = changing(plan)
        .map(|s| ReleaseChange {
            service: s.service.clone(),
            strategy: s.strategy,
            from_zone: s.from.as_ref().map(|z| z.zone.clone()),
            from_version: s.from.as_ref().map(|z| z.version.clone()),
            to_zone: s.to.zone.clone(),
            to_version: s.to.version.clone(),
        })
        .collect();
    if let Err(e) = result {
        let message = e.to_string();
        let names: Vec<&str> = record.services.iter().map(|c| c.service.as_str()).collect();
        record.failure = Some(ReleaseFailure {
            service: failed_service(&names, &message).map(str::to_string),
            message,
        });
    }
}

/// Appends `record` to the project's releases; the error is a warning to show.
pub(super) async fn save(
    session: &Session<'_>,
    job: &Job<'_>,
    record: &ReleaseRecord,
) -> Result<(), String> {
    let key = job.spec.releases_key(job.project);
    kv::add_release(session.kv.as_ref(), &key, record, job.spec.kv.history_limit)
        .await
        .map_err(|e| format!("could not record release {} ({key}): {e}", record.id))
}

/// Says how the release ended, as the run's last event, after the warning of a failed
/// [`save`]: the deploy's own result matters more than its record.
pub(super) fn report(record: &ReleaseRecord, saved: Result<(), String>, sink: &dyn EventSink) {
    if let Err(message) = saved {
        sink.emit(&Event::Warning {
            service: None,
            message,
        });
    }
    sink.emit(&Event::ReleaseFinished {
        id: record.id.clone(),
        result: record.result,
        changes: record.changes_line(),
        failed_service: record.failure.as_ref().and_then(|f| f.service.clone()),
    });
}

fn changing(plan: &Plan) -> impl Iterator<Item = &ServicePlan> {
    plan.services.iter().filter(|s| !s.up_to_date)
}

/// The service a run's error names: the first changed service named in it as a whole word
/// (`deploy of api 2.0.0 failed: …`, `web: …`); the longest name wins a tie (`api-admin` over
/// `api`). Services named later (`already deployed: web`) are not the one that failed.
pub fn failed_service<'n>(services: &[&'n str], message: &str) -> Option<&'n str> {
    let in_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let first_word = |name: &str| {
        message.match_indices(name).map(|(i, _)| i).find(|&i| {
            let before = message[..i].chars().next_back();
            let after = message[i + name.len()..].chars().next();
            // A trailing `.` ends a sentence, not a name.
            let after_ok = match after {
                None => true,
                Some('.') => message[i + name.len() + 1..]
                    .chars()
                    .next()
                    .is_none_or(|c| !in_name(c)),
                Some(c) => !in_name(c),
            };
            before.is_none_or(|c| !in_name(c)) && after_ok
        })
    };
    services
        .iter()
        .filter_map(|s| first_word(s).map(|at| (at, std::cmp::Reverse(s.len()), *s)))
        .min()
        .map(|(_, _, s)| s)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ports::Action;

    /// A plan of `(service, from version, to version, up to date)`.
    pub(crate) fn plan_of(services: &[(&str, Option<&str>, &str, bool)]) -> Plan {
        let services = services
            .iter()
            .map(|(name, from, to, up_to_date)| {
                serde_json::from_value(serde_json::json!({
                    "service": name,
                    "strategy": "blue-green",
                    "from": from.map(|v| serde_json::json!({"zone": "blue", "version": v})),
                    "to": {"zone": "green", "version": to},
                    "keys": crate::spec::model::KeyTemplates::default().for_service("shop", name),
                    "policy": crate::spec::model::Policy::default(),
                    "definition": {"name": name, "image": format!("{name}:{to}")},
                    "steps": [],
                    "warnings": [],
                    "up_to_date": up_to_date
                }))
                .expect("a service plan")
            })
            .collect();
        serde_json::from_value::<Plan>(serde_json::json!({
            "project": "shop",
            "services": [],
            "observed": crate::plan::ObservedState::default(),
        }))
        .map(|mut p| {
            p.services = services;
            p
        })
        .expect("a plan")
    }

    #[test]
    fn the_failed_service_is_the_first_one_the_error_names() {
        let names = ["api", "api-admin", "web"];
        assert_eq!(
            failed_service(
                &names,
                "api-admin: green did not become healthy; rolled back"
            ),
            Some("api-admin")
        );
        assert_eq!(
            failed_service(&names, "web: health gate timed out"),
            Some("web")
        );
        assert_eq!(
            failed_service(
                &names,
                "deploy of web 9.9.9 failed: crash loop; rolled back (already deployed: api)"
            ),
            Some("web")
        );
        assert_eq!(failed_service(&names, "the cluster is unreachable"), None);
        assert_eq!(failed_service(&names, "webshop: failed"), None);
    }

    #[test]
    fn a_failed_release_records_every_change_and_where_it_failed() {
        let plan = plan_of(&[
            ("api", Some("1.0.0"), "1.1.0", false),
            ("db", Some("5.0"), "5.0", true),
            ("web", None, "1.1.0", false),
        ]);
        let mut record = ReleaseRecord::now(
            &HashMap::new(),
            "20261130-084512-3f2a",
            Action::Deploy,
            RunResult::RolledBack,
        );
        let result: Result<Outcome, Error> = Err(Error::RolledBack {
            message:
                "web: green did not become healthy: crash loop; rolled back (already deployed: api)"
                    .into(),
            help: None,
        });
        fill(&mut record, &plan, &result, Duration::from_millis(12_345));
        assert_eq!(record.duration_secs, 12.3);
        assert_eq!(
            record.changes_line(),
            "api 1.0.0 -> 1.1.0, web (new) -> 1.1.0"
        );
        let failure = record.failure.as_ref().expect("a failure");
        assert_eq!(failure.service.as_deref(), Some("web"));
        assert!(
            failure.message.contains("crash loop"),
            "{}",
            failure.message
        );
        // Stored with the history's words, read back the same.
        let json = serde_json::to_value(&record).expect("encode");
        assert_eq!(json["result"], "rolled_back");
        assert_eq!(json["services"][1].get("from_version"), None);
        let back: ReleaseRecord = serde_json::from_value(json).expect("decode");
        assert_eq!(back, record);
    }
}

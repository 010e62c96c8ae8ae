//! What `shipctl status` knows about one service, computed from the observed state, the lock
//! and the progress record. Pure: the command gathers the inputs, the UI renders the result.

use std::time::SystemTime;

use serde::Serialize;

use super::ProgressRecord;
use crate::plan::ServiceState;
use crate::ports::LockInfo;
use crate::ports::traffic;
use crate::spec::defaults::IN_PLACE;

/// One service as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub active_zone: Option<String>,
    pub active_version: Option<String>,
    pub traffic: Option<String>,
    /// Replicas a zone has when it serves alone.
    pub full_replicas: u64,
    pub zones: Vec<ZoneStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployInProgress>,
    /// One zone serves at full replicas, all healthy, the other runs nothing, no deploy is
    /// in progress and the keys point at the serving zone.
    pub settled: bool,
    /// Why it is not settled, in words (empty when settled).
    pub problems: Vec<String>,
    /// The analysis of the service's latest run that had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<LastAnalysis>,
}

/// What the latest analysed run of a service measured: its last measurement of each metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastAnalysis {
    /// When the run started (RFC 3339), the version it judged and how it ended.
    pub time: String,
    pub version: Option<String>,
    pub result: String,
    pub measurements: usize,
    pub metrics: Vec<crate::ports::AnalysisMark>,
}

/// The latest record of `history` (oldest first) that measured anything.
pub fn last_analysis(history: &[crate::ports::HistoryRecord]) -> Option<LastAnalysis> {
    let record = history
        .iter()
        .rev()
        .find(|r| r.timeline.as_ref().is_some_and(|t| !t.analysis.is_empty()))?;
    let marks = &record.timeline.as_ref()?.analysis;
    let mut metrics: Vec<crate::ports::AnalysisMark> = Vec::new();
    for m in marks {
        match metrics.iter_mut().find(|x| x.metric == m.metric) {
            Some(slot) => *slot = m.clone(),
            None => metrics.push(m.clone()),
        }
    }
    Some(LastAnalysis {
        time: record.time.clone(),
        version: record.to_version.clone(),
        result: record.result.word().to_string(),
        measurements: marks.len(),
        metrics,
    })
}

/// One zone's Swarm service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneStatus {
    pub zone: String,
    /// Whether the Swarm service exists.
    pub exists: bool,
    pub service_name: String,
    pub desired: u64,
    pub running: u64,
    pub healthy: u64,
    pub image: Option<String>,
    pub version: Option<String>,
    /// When the service last changed (RFC 3339).
    pub updated_at: Option<String>,
    /// Seconds since `updated_at`.
    pub age_secs: Option<u64>,
}

/// A deploy that has not finished: from the progress record, or both zones running replicas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployInProgress {
    /// `running`, `awaiting_promotion`, `interrupted`, `needs_attention`, or `split` (both
    /// zones run replicas and no record says why).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_done: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Builds the status of `service` from what was read.
pub fn service_status(
    service: &str,
    zones: &[String; 2],
    full: u64,
    state: &ServiceState,
    lock: Option<LockInfo>,
    now: SystemTime,
) -> ServiceStatus {
    // A service deployed in place shows its one service, as a zone named `in-place`.
    let in_place = state.zones.contains_key(IN_PLACE);
    let names: Vec<String> = if in_place {
        vec![IN_PLACE.to_string()]
    } else {
        zones.to_vec()
    };
    let zone_list: Vec<ZoneStatus> = names
        .iter()
        .map(|zone| match state.zones.get(zone) {
            Some(z) => ZoneStatus {
                zone: zone.clone(),
                exists: true,
                service_name: z.service_name.clone(),
                desired: z.desired,
                running: z.running,
                healthy: z.healthy,
                image: z.image.clone(),
                version: z.version.clone(),
                updated_at: z.updated_at.clone(),
                age_secs: age(z.updated_at.as_deref(), now),
            },
            None => ZoneStatus {
                zone: zone.clone(),
                exists: false,
                service_name: String::new(),
                desired: 0,
                running: 0,
                healthy: 0,
                image: None,
                version: None,
                updated_at: None,
                age_secs: None,
            },
        })
        .collect();
    let progress: Option<ProgressRecord> = state
        .progress
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let mut deploy = deploy_in_progress(progress.as_ref(), &zone_list);
    // A deploy holds its lock until it has recorded how it ended: a record still saying
    // `running` with no holder is one that could not record its end (the store was
    // unreachable, or the process was killed).
    if let Some(d) = deploy.as_mut()
        && d.state == "running"
        && lock.is_none()
    {
        d.state = "stopped".into();
    }
    let mut status = ServiceStatus {
        service: service.to_string(),
        active_zone: state.keys.active_zone.clone(),
        active_version: state.keys.active_version.clone(),
        traffic: state.keys.traffic.clone(),
        full_replicas: full,
        zones: zone_list,
        lock,
        deploy,
        settled: false,
        problems: Vec::new(),
        analysis: None,
    };
    status.problems = problems(&status);
    status.settled = status.problems.is_empty();
    status
}

fn deploy_in_progress(
    progress: Option<&ProgressRecord>,
    zones: &[ZoneStatus],
) -> Option<DeployInProgress> {
    if let Some(p) = progress {
        let state = serde_json::to_value(p.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "running".into());
        return Some(DeployInProgress {
            state,
            from: p.from.as_ref().map(|z| format!("{}@{}", z.zone, z.version)),
            to: Some(format!("{}@{}", p.to.zone, p.to.version)),
            steps_done: Some(p.steps_done),
            total_steps: Some(p.total_steps),
            next_step: p.next_step.clone(),
            message: p.message.clone(),
        });
    }
    // Both zones running with no record: a canary or a deploy whose record was lost.
    if zones.iter().all(|z| z.desired > 0) {
        return Some(DeployInProgress {
            state: "split".into(),
            from: None,
            to: None,
            steps_done: None,
            total_steps: None,
            next_step: None,
            message: "both zones run replicas".into(),
        });
    }
    None
}

fn problems(s: &ServiceStatus) -> Vec<String> {
    let mut out = Vec::new();
    let serving: Vec<&ZoneStatus> = s.zones.iter().filter(|z| z.desired > 0).collect();
    match serving.as_slice() {
        [] => out.push("no zone runs replicas".to_string()),
        [z] => {
            // A service in place is named by its one Swarm service; it has no active zone and
            // no traffic split to check. `full_replicas` 0: a global service, a task per node.
            let in_place = z.zone == IN_PLACE;
            let name = if in_place { &z.service_name } else { &z.zone };
            if s.full_replicas > 0 && z.desired != s.full_replicas {
                out.push(format!(
                    "{name} runs {} replicas, not the full {}",
                    z.desired, s.full_replicas
                ));
            }
            if z.healthy < z.desired {
                out.push(format!(
                    "{name} has {}/{} replicas healthy",
                    z.healthy, z.desired
                ));
            }
            if !in_place && s.active_zone.as_deref() != Some(z.zone.as_str()) {
                out.push(format!(
                    "the active-zone key is {} but {} serves",
                    s.active_zone.as_deref().unwrap_or("missing"),
                    z.zone
                ));
            }
            if let Some(v) = &z.version
                && s.active_version.as_deref() != Some(v.as_str())
            {
                out.push(format!(
                    "the active-version key is {} but {name} runs {v}",
                    s.active_version.as_deref().unwrap_or("missing"),
                ));
            }
            if !in_place
                && let Some(t) = &s.traffic
                && traffic::share_of(t, &z.zone) != Some(100)
            {
                out.push(format!("traffic is split ({t})"));
            }
        }
        _ => out.push("both zones run replicas".to_string()),
    }
    match &s.deploy {
        Some(d) if d.state == "stopped" => out.push("a deploy stopped before it finished".into()),
        Some(d) if d.state != "split" => {
            out.push(format!("a deploy is in progress ({})", d.state));
        }
        _ => {}
    }
    if let Some(lock) = &s.lock {
        out.push(format!("locked by {}@{}", lock.owner, lock.host));
    }
    out
}

/// Whole seconds from an RFC 3339 time to `now`.
fn age(updated_at: Option<&str>, now: SystemTime) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(updated_at?).ok()?;
    Some(now.duration_since(t).map_or(0, |d| d.as_secs()))
}

/// `RunState` in the words `status` uses.
pub fn run_state_words(state: &str) -> &'static str {
    match state {
        "running" => "deploy running",
        "stopped" => "deploy stopped before it finished (run it again to resume, or abort)",
        "awaiting_promotion" => "canary waiting for `shipctl promote`",
        "interrupted" => "deploy interrupted (run it again to resume)",
        "needs_attention" => "deploy failed and needs attention",
        "split" => "both zones run replicas",
        _ => "deploy in progress",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RoutingKeys;
    use crate::ports::ZoneState;

    fn zones() -> [String; 2] {
        ["blue".into(), "green".into()]
    }

    fn state(blue: u64, green: u64, healthy_green: u64) -> ServiceState {
        let mut s = ServiceState {
            keys: RoutingKeys {
                active_zone: Some("green".into()),
                active_version: Some("1.1.0".into()),
                traffic: Some("blue=0,green=100".into()),
            },
            ..ServiceState::default()
        };
        for (zone, n, h, v) in [
            ("blue", blue, blue, "1.0.0"),
            ("green", green, healthy_green, "1.1.0"),
        ] {
            s.zones.insert(
                zone.into(),
                ZoneState {
                    service_name: format!("demo_web-{zone}"),
                    desired: n,
                    running: h,
                    healthy: h,
                    version: Some(v.into()),
                    ..ZoneState::default()
                },
            );
        }
        s
    }

    #[test]
    fn one_full_healthy_zone_where_the_keys_point_is_settled() {
        let s = service_status("web", &zones(), 2, &state(0, 2, 2), None, SystemTime::now());
        assert!(s.settled, "{:?}", s.problems);
    }

    #[test]
    fn unhealthy_split_or_locked_is_not_settled() {
        let now = SystemTime::now();
        let s = service_status("web", &zones(), 2, &state(0, 2, 1), None, now);
        assert_eq!(s.problems, ["green has 1/2 replicas healthy"]);
        let s = service_status("web", &zones(), 2, &state(1, 1, 1), None, now);
        assert!(!s.settled);
        assert_eq!(s.deploy.map(|d| d.state), Some("split".to_string()));
        let lock = LockInfo {
            owner: "ci".into(),
            host: "runner".into(),
            pid: 7,
            since: "2026-11-21T22:00:00Z".into(),
            message: None,
        };
        let s = service_status("web", &zones(), 2, &state(0, 2, 2), Some(lock), now);
        assert_eq!(s.problems, ["locked by ci@runner"]);
    }

    #[test]
    fn a_running_record_without_a_lock_holder_is_a_stopped_deploy() {
        let now = SystemTime::now();
        let mut st = state(3, 3, 3);
        let record = ProgressRecord {
            service: "web".into(),
            strategy: crate::spec::model::Strategy::BlueGreen,
            from: None,
            to: crate::plan::ZoneVersion {
                zone: "green".into(),
                version: "1.1.0".into(),
            },
            state: crate::exec::RunState::Running,
            steps_done: 0,
            total_steps: 6,
            next_step: None,
            message: String::new(),
            updated_at: 0,
        };
        st.progress = serde_json::to_value(record).ok();
        let s = service_status("web", &zones(), 3, &st, None, now);
        assert!(
            s.problems
                .contains(&"a deploy stopped before it finished".to_string()),
            "{:?}",
            s.problems
        );
        assert_eq!(s.deploy.map(|d| d.state), Some("stopped".to_string()));
        let lock = LockInfo {
            owner: "ci".into(),
            host: "runner".into(),
            pid: 7,
            since: "2026-11-21T22:00:00Z".into(),
            message: None,
        };
        let s = service_status("web", &zones(), 3, &st, Some(lock), now);
        assert_eq!(s.deploy.map(|d| d.state), Some("running".to_string()));
    }

    #[test]
    fn the_last_analysed_run_shows_its_last_measurement_of_each_metric() {
        use crate::ports::{AnalysisMark, HistoryRecord, Timeline};
        let mark = |metric: &str, result: &str, value: &str| AnalysisMark {
            at_ms: 0,
            zone: "green".into(),
            metric: metric.into(),
            result: result.into(),
            value: value.into(),
        };
        let record = |version: &str, marks: Vec<AnalysisMark>| {
            let mut r: HistoryRecord = serde_json::from_value(serde_json::json!({
                "time": "2026-12-01T03:00:00Z", "user": "u", "host": "h", "service": "web",
                "strategy": "canary", "action": "deploy", "result": "rolled_back",
                "duration_secs": 1.0, "to_version": version,
            }))
            .unwrap();
            r.timeline = Some(Timeline {
                analysis: marks,
                ..Timeline::default()
            });
            r
        };
        let history = vec![
            record(
                "2.0.0",
                vec![
                    mark("errors", "passed", "error_rate 0%"),
                    mark("errors", "failed", "error_rate 5% is not < 1%"),
                    mark("latency", "passed", "p99 20ms"),
                ],
            ),
            record("2.0.1", Vec::new()),
        ];
        let last = last_analysis(&history).unwrap();
        assert_eq!(last.version.as_deref(), Some("2.0.0"));
        assert_eq!(
            (last.result.as_str(), last.measurements),
            ("rolled_back", 3)
        );
        let shown: Vec<(&str, &str)> = last
            .metrics
            .iter()
            .map(|m| (m.metric.as_str(), m.result.as_str()))
            .collect();
        assert_eq!(shown, [("errors", "failed"), ("latency", "passed")]);
        assert_eq!(last_analysis(&history[1..]), None);
    }

    #[test]
    fn ages_come_from_rfc3339_times() {
        let now = humantime::parse_rfc3339("2026-11-21T22:10:00Z").unwrap();
        assert_eq!(age(Some("2026-11-21T22:00:00.123456Z"), now), Some(599));
        assert_eq!(age(Some("garbage"), now), None);
    }
}

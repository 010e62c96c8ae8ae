//! Judging a zone by its traffic: a canary step's analysis, and the bake after a switch.
//!
//! Every interval each metric is read once and the reading becomes a measurement: passed,
//! failed, inconclusive (too little traffic, a provider that did not answer) or, for a webhook
//! that has not decided, a wait that does not count. A metric fails the run once it has more
//! failed measurements than `failure_limit`, or more inconclusive ones than
//! `inconclusive_limit`; a step's run passes once every metric has `count` measurements, a bake
//! once its time is up. [`AnalysisRun`] decides; [`Context::analyze`] reads and waits.

use std::time::Duration;

use super::context::Context;
use super::step_error::{StepError, StepFailure};
use super::track::ServiceRun;
use super::{Event, FailureCause, HealthStatus};
use crate::ports::{AnalysisTarget, Reading, ZoneCounters};
use crate::spec::model::{Analysis, Condition, Metric, Provider, RouterQuery, Unit};

/// One measurement of one metric.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Measurement {
    Passed {
        value: String,
    },
    Failed {
        value: String,
    },
    Inconclusive {
        why: String,
    },
    /// A webhook that has not decided yet: asked again next interval, not counted.
    Waiting {
        why: String,
    },
}

impl Measurement {
    fn result(&self) -> &'static str {
        match self {
            Measurement::Passed { .. } => "passed",
            Measurement::Failed { .. } => "failed",
            Measurement::Inconclusive { .. } => "inconclusive",
            Measurement::Waiting { .. } => "waiting",
        }
    }

    fn text(&self) -> &str {
        match self {
            Measurement::Passed { value } | Measurement::Failed { value } => value,
            Measurement::Inconclusive { why } | Measurement::Waiting { why } => why,
        }
    }
}

/// Turns a reading into a measurement; `last` is the metric's previous counters (the router
/// provider measures the traffic in between), updated here.
pub(super) fn measure(
    metric: &Metric,
    reading: Result<Reading, String>,
    last: &mut Option<ZoneCounters>,
    interval: Duration,
) -> Measurement {
    let reading = match reading {
        Ok(r) => r,
        Err(why) => return Measurement::Inconclusive { why },
    };
    match (&metric.provider, reading) {
        (
            Provider::Router {
                query,
                condition,
                min_requests,
            },
            Reading::Counters(now),
        ) => {
            let Some(before) = last.replace(now.clone()) else {
                return Measurement::Waiting {
                    why: "first reading of the router counters".into(),
                };
            };
            judge_window(
                *query,
                condition,
                *min_requests,
                &now.since(&before),
                interval,
            )
        }
        (Provider::Prometheus { condition, .. }, Reading::Value(v)) => {
            judge_value(v, condition, Unit::Number)
        }
        (Provider::Http { .. }, Reading::Verdict { pass, reason }) => {
            let why = reason.unwrap_or_default();
            match pass {
                Some(true) if why.is_empty() => Measurement::Passed {
                    value: "pass".into(),
                },
                Some(true) => Measurement::Passed {
                    value: format!("pass ({why})"),
                },
                Some(false) if why.is_empty() => Measurement::Failed {
                    value: "fail".into(),
                },
                Some(false) => Measurement::Failed {
                    value: format!("fail ({why})"),
                },
                None if why.is_empty() => Measurement::Waiting {
                    why: "the webhook has not decided yet".into(),
                },
                None => Measurement::Waiting { why },
            }
        }
        (_, other) => Measurement::Inconclusive {
            why: format!("unexpected reading for this provider: {other:?}"),
        },
    }
}

fn judge_value(value: f64, condition: &Condition, unit: Unit) -> Measurement {
    let shown = unit.show(value);
    if condition.holds(value) {
        Measurement::Passed {
            value: format!("{shown} ({})", condition.text),
        }
    } else {
        Measurement::Failed {
            value: format!("{shown} is not {}", condition.text),
        }
    }
}

/// Judges one interval of a zone's traffic.
fn judge_window(
    query: RouterQuery,
    condition: &Condition,
    min_requests: u64,
    window: &ZoneCounters,
    interval: Duration,
) -> Measurement {
    let n = window.requests;
    if n < min_requests && !query.counts_traffic() {
        return Measurement::Inconclusive {
            why: format!(
                "{n} request(s) in {}, fewer than {min_requests}",
                fmt(interval)
            ),
        };
    }
    let (value, detail) = match query {
        RouterQuery::ErrorRate => (
            ratio(window.errors, n),
            format!("{} of {n} requests answered 5xx", window.errors),
        ),
        RouterQuery::SuccessRate => (
            1.0 - ratio(window.errors, n),
            format!("{} of {n} requests answered 5xx", window.errors),
        ),
        RouterQuery::Requests => (n as f64, format!("in {}", fmt(interval))),
        RouterQuery::RequestRate => (
            n as f64 / interval.as_secs_f64().max(0.001),
            format!("{n} requests in {}", fmt(interval)),
        ),
        RouterQuery::Latency { quantile } => match window.quantile(quantile) {
            Some(v) => (v, format!("over {n} requests")),
            None => {
                return Measurement::Inconclusive {
                    why: "the routers report no latencies".into(),
                };
            }
        },
    };
    let shown = format!("{query} {}", query.unit().show(value));
    if condition.holds(value) {
        Measurement::Passed {
            value: format!("{shown} ({detail})"),
        }
    } else {
        Measurement::Failed {
            value: format!("{shown} is not {} ({detail})", condition.text),
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn fmt(d: Duration) -> String {
    crate::spec::duration::format(d)
}

/// The counts of one metric in a run.
#[derive(Debug, Clone, Default)]
struct Tally {
    passed: u32,
    failed: u32,
    inconclusive: u32,
    last: Option<ZoneCounters>,
}

impl Tally {
    fn measured(&self) -> u32 {
        self.passed + self.failed + self.inconclusive
    }
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RunVerdict {
    Going,
    Passed,
    /// The metric and why, in words with the measured values.
    Failed(String),
}

/// The decisions of one analysis run. Pure: readings come in, verdicts go out.
pub(super) struct AnalysisRun<'a> {
    analysis: &'a Analysis,
    tallies: Vec<Tally>,
    /// A bake runs for its time, whatever the count.
    bake: bool,
}

impl<'a> AnalysisRun<'a> {
    pub fn new(analysis: &'a Analysis, bake: bool) -> AnalysisRun<'a> {
        AnalysisRun {
            analysis,
            tallies: vec![Tally::default(); analysis.metrics.len()],
            bake,
        }
    }

    /// Counts one measurement of metric `i`; returns it and the run's verdict after it.
    pub fn record(
        &mut self,
        i: usize,
        reading: Result<Reading, String>,
    ) -> (Measurement, RunVerdict) {
        let metric = &self.analysis.metrics[i];
        let tally = &mut self.tallies[i];
        let m = measure(metric, reading, &mut tally.last, self.analysis.interval);
        match &m {
            Measurement::Passed { .. } => tally.passed += 1,
            Measurement::Failed { .. } => tally.failed += 1,
            Measurement::Inconclusive { .. } => tally.inconclusive += 1,
            Measurement::Waiting { .. } => {}
        }
        if tally.failed > self.analysis.failure_limit {
            let verdict = RunVerdict::Failed(format!(
                "{}: {} ({} failed measurement(s), {} allowed)",
                metric.name,
                m.text(),
                tally.failed,
                self.analysis.failure_limit
            ));
            return (m, verdict);
        }
        if tally.inconclusive > self.analysis.inconclusive_limit {
            let verdict = RunVerdict::Failed(format!(
                "{}: no conclusive measurement: {} ({} inconclusive, {} allowed)",
                metric.name,
                m.text(),
                tally.inconclusive,
                self.analysis.inconclusive_limit
            ));
            return (m, verdict);
        }
        (m, self.verdict())
    }

    fn verdict(&self) -> RunVerdict {
        let count = self.analysis.count;
        if !self.bake && self.tallies.iter().all(|t| t.measured() >= count) {
            RunVerdict::Passed
        } else {
            RunVerdict::Going
        }
    }

    /// `passed/failed/inconclusive` of metric `i`.
    fn counts(&self, i: usize) -> (u32, u32, u32) {
        let t = &self.tallies[i];
        (t.passed, t.failed, t.inconclusive)
    }

    /// Metrics that still need a measurement in a step's run.
    fn wanted(&self, i: usize) -> bool {
        self.bake || self.tallies[i].measured() < self.analysis.count
    }
}

impl Context<'_> {
    /// Runs an `analyze` step: the analysis of `zone` every interval (and its health every
    /// check), for `count` measurements or the whole `bake`. A failure names the metric and
    /// its value; the executor then goes back as after any failed step.
    pub async fn analyze(
        &self,
        run: &ServiceRun<'_>,
        zone: &str,
        version: &str,
        analysis: Option<&Analysis>,
        bake: Option<Duration>,
        phase: &str,
    ) -> Result<(), StepError> {
        let service = &run.service.service;
        let start = self.clock.now();
        let end = bake.map(|b| start + b);
        let empty = Analysis::default();
        let analysis = analysis.unwrap_or(&empty);
        let target = AnalysisTarget {
            project: run.plan.project.clone(),
            service: service.clone(),
            zone: zone.to_string(),
            version: version.to_string(),
            router_key: run.service.keys.router.clone(),
            phase: phase.to_string(),
            interval: fmt(analysis.interval),
        };
        let mut state = AnalysisRun::new(analysis, bake.is_some());
        // Router counters are read once at the start: the first interval is then judged too.
        for (i, metric) in analysis.metrics.iter().enumerate() {
            if matches!(metric.provider, Provider::Router { .. }) {
                let reading = self.metrics.read(metric, &target).await;
                if let Ok(r @ Reading::Counters(_)) = reading {
                    state.record(i, Ok(r));
                }
            }
        }
        let mut next = start + analysis.interval;
        loop {
            let now = self.clock.now();
            if let Some(end) = end
                && now >= end
            {
                return Ok(());
            }
            let wake = end.map_or(next, |e| e.min(next));
            // Health is still watched between measurements, as in a pause.
            self.sleep(
                wake.saturating_duration_since(now)
                    .min(self.options.pause_check),
            )
            .await?;
            self.check_health(run, zone).await?;
            if self.clock.now() < next || analysis.metrics.is_empty() {
                if analysis.metrics.is_empty() && end.is_none() {
                    return Ok(());
                }
                continue;
            }
            next += analysis.interval;
            for (i, metric) in analysis.metrics.iter().enumerate() {
                if !state.wanted(i) {
                    continue;
                }
                let reading = self.metrics.read(metric, &target).await;
                let (m, verdict) = state.record(i, reading);
                let (passed, failed, inconclusive) = state.counts(i);
                self.sink.emit(&Event::AnalysisMeasured {
                    service: service.clone(),
                    zone: zone.to_string(),
                    metric: metric.name.clone(),
                    result: m.result().to_string(),
                    value: m.text().to_string(),
                    passed,
                    failed,
                    inconclusive,
                    count: if bake.is_some() {
                        None
                    } else {
                        Some(analysis.count)
                    },
                });
                match verdict {
                    RunVerdict::Going => {}
                    RunVerdict::Passed => return Ok(()),
                    RunVerdict::Failed(detail) => {
                        return Err(StepFailure {
                            context: format!("the analysis of {zone} ({version}) failed"),
                            cause: FailureCause::Analysis { detail },
                            task_errors: Vec::new(),
                        }
                        .into());
                    }
                }
            }
        }
    }

    /// Fails when the zone's tasks fail (an unreachable manager is not a failure here).
    async fn check_health(&self, run: &ServiceRun<'_>, zone: &str) -> Result<(), StepError> {
        let Some(track) = run.zones.get(zone).filter(|t| t.desired > 0) else {
            return Ok(());
        };
        if let Ok(report) = self.check_zone(run, track).await
            && let HealthStatus::Failing(cause) = report.status
        {
            return Err(StepError::Failed(StepFailure {
                context: format!("{zone} became unhealthy while it was analysed"),
                cause,
                task_errors: report.task_errors,
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::Condition;

    fn router_metric(query: &str, condition: &str) -> Metric {
        Metric {
            name: "errors".into(),
            provider: Provider::Router {
                query: RouterQuery::parse(query).unwrap(),
                condition: Condition::parse(condition).unwrap(),
                min_requests: 10,
            },
        }
    }

    fn counters(requests: u64, errors: u64) -> Reading {
        Reading::Counters(ZoneCounters {
            requests,
            errors,
            buckets: vec![(0.1, requests), (f64::INFINITY, requests)],
            routers: 1,
        })
    }

    fn analysis(metrics: Vec<Metric>, count: u32, failure_limit: u32) -> Analysis {
        Analysis {
            interval: Duration::from_secs(10),
            count,
            failure_limit,
            inconclusive_limit: 1,
            metrics,
        }
    }

    #[test]
    fn a_five_percent_error_rate_fails_at_the_first_bad_window() {
        let a = analysis(vec![router_metric("error_rate", "< 1%")], 3, 0);
        let mut run = AnalysisRun::new(&a, false);
        assert!(matches!(
            run.record(0, Ok(counters(0, 0))).0,
            Measurement::Waiting { .. }
        ));
        let (m, v) = run.record(0, Ok(counters(200, 1)));
        assert!(matches!(m, Measurement::Passed { .. }), "{m:?}");
        assert_eq!(v, RunVerdict::Going);
        let (m, v) = run.record(0, Ok(counters(400, 11)));
        assert_eq!(
            m,
            Measurement::Failed {
                value: "error_rate 5% is not < 1% (10 of 200 requests answered 5xx)".into()
            }
        );
        let RunVerdict::Failed(why) = v else {
            panic!("{v:?}")
        };
        assert!(
            why.starts_with("errors: error_rate 5% is not < 1%"),
            "{why}"
        );
    }

    #[test]
    fn a_run_passes_after_count_measurements_within_the_limits() {
        let a = analysis(vec![router_metric("error_rate", "< 1%")], 2, 1);
        let mut run = AnalysisRun::new(&a, false);
        run.record(0, Ok(counters(0, 0)));
        assert_eq!(run.record(0, Ok(counters(100, 5))).1, RunVerdict::Going);
        assert_eq!(run.record(0, Ok(counters(200, 5))).1, RunVerdict::Passed);
    }

    #[test]
    fn too_little_traffic_is_inconclusive_and_fails_beyond_its_limit() {
        let a = analysis(vec![router_metric("p99", "< 500ms")], 5, 0);
        let mut run = AnalysisRun::new(&a, false);
        run.record(0, Ok(counters(0, 0)));
        let (m, v) = run.record(0, Ok(counters(3, 0)));
        assert!(matches!(m, Measurement::Inconclusive { .. }), "{m:?}");
        assert_eq!(v, RunVerdict::Going);
        let (_, v) = run.record(0, Err("Prometheus at http://x: refused".into()));
        let RunVerdict::Failed(why) = v else {
            panic!("{v:?}")
        };
        assert!(why.contains("no conclusive measurement"), "{why}");
    }

    #[test]
    fn a_bake_goes_on_until_its_time_is_up() {
        let a = analysis(vec![router_metric("error_rate", "< 1%")], 1, 0);
        let mut run = AnalysisRun::new(&a, true);
        run.record(0, Ok(counters(0, 0)));
        assert_eq!(run.record(0, Ok(counters(100, 0))).1, RunVerdict::Going);
        assert_eq!(run.record(0, Ok(counters(200, 0))).1, RunVerdict::Going);
        assert!(run.wanted(0));
    }

    #[test]
    fn a_webhook_that_has_not_decided_is_not_counted() {
        let hook = Metric {
            name: "approval".into(),
            provider: Provider::Http {
                url: "http://ci/approve".into(),
                timeout: Duration::from_secs(5),
            },
        };
        let a = analysis(vec![hook], 1, 0);
        let mut run = AnalysisRun::new(&a, false);
        let wait = Reading::Verdict {
            pass: None,
            reason: Some("waiting for a human".into()),
        };
        assert_eq!(run.record(0, Ok(wait.clone())).1, RunVerdict::Going);
        assert_eq!(run.record(0, Ok(wait)).1, RunVerdict::Going);
        let pass = Reading::Verdict {
            pass: Some(true),
            reason: Some("approved by ops".into()),
        };
        let (m, v) = run.record(0, Ok(pass));
        assert_eq!(
            m,
            Measurement::Passed {
                value: "pass (approved by ops)".into()
            }
        );
        assert_eq!(v, RunVerdict::Passed);
    }
}

//! The waits of a plan: a zone becoming healthy, the router catching up.

use std::time::{Duration, Instant};

use super::context::{Context, millis};
use super::health::{HealthReport, HealthStatus, TaskCounts, evaluate};
use super::step_error::{StepError, StepFailure};
use super::track::ServiceRun;
use super::{Event, FailureCause};
use crate::ports::{RouterReport, TaskInfo, router_key};

/// What a health gate waits for.
pub(super) struct Gate<'g> {
    pub zone: &'g str,
    /// The zone's Swarm service.
    pub service_name: &'g str,
    /// `None` = any version (a zone whose version label is unknown).
    pub version: Option<&'g str>,
    pub replicas: u64,
    pub timeout: Duration,
    /// How long the zone must stay healthy before the gate passes.
    pub min_healthy: Duration,
    /// False during a rollback, which must finish.
    pub cancellable: bool,
}

/// The last health progress reported, and when.
struct Shown {
    state: (TaskCounts, Option<String>),
    at: Instant,
}

impl Context<'_> {
    /// Polls the zone until `replicas` tasks of `version` run healthy (and pass the probe)
    /// for `min_healthy`; fails on a fatal cause, on `timeout`, or when nothing progresses for
    /// the policy's `progress_deadline`.
    pub(super) async fn wait_healthy(
        &self,
        run: &ServiceRun<'_>,
        gate: &Gate<'_>,
    ) -> Result<(), StepError> {
        let Gate {
            zone,
            service_name,
            version,
            replicas,
            timeout,
            min_healthy,
            cancellable,
        } = *gate;
        let health = &run.service.policy.health;
        let context = format!("{zone} did not become healthy");
        let start = self.clock.now();
        let mut last_progress = start;
        let mut best = (0u64, 0u64);
        let mut healthy_since: Option<(Instant, Vec<String>)> = None;
        let mut last_probe: Option<(Instant, Vec<String>, Result<(), String>)> = None;
        let mut shown: Option<Shown> = None;
        let mut cause: Option<FailureCause>;
        let mut errors: Vec<String> = Vec::new();
        let mut warned_cluster = false;

        loop {
            if cancellable && self.cancel.is_cancelled() {
                return Err(StepError::Interrupted);
            }
            let now = self.clock.now();
            match self.cluster.tasks(service_name).await {
                Err(e) => {
                    // A manager hiccup is not a deploy failure; it becomes one at the deadline.
                    if !warned_cluster {
                        warned_cluster = true;
                        self.sink.emit(&Event::Warning {
                            service: Some(run.service.service.clone()),
                            message: format!("cannot list the tasks of {service_name}: {e}"),
                        });
                    }
                    cause = Some(FailureCause::Cluster {
                        detail: e.to_string(),
                    });
                    healthy_since = None;
                }
                Ok(tasks) => {
                    warned_cluster = false;
                    let report = evaluate(&tasks, version, replicas, self.clock.wall(), &run.rules);
                    errors = report.task_errors.clone();
                    cause = report.cause.clone();
                    match &report.status {
                        HealthStatus::Failing(c) => {
                            self.show(run, zone, version, &report, &mut shown);
                            return Err(StepError::Failed(StepFailure {
                                context,
                                cause: c.clone(),
                                task_errors: report.task_errors,
                            }));
                        }
                        HealthStatus::Healthy => {
                            let probed = match &health.probe {
                                None => Ok(()),
                                Some(probe) => {
                                    let due = match &last_probe {
                                        None => true,
                                        Some((at, ids, _)) => {
                                            *ids != report.running_ids
                                                || now.saturating_duration_since(*at)
                                                    >= probe.interval
                                        }
                                    };
                                    if due {
                                        let result = self
                                            .probe_all(&tasks, &report.running_ids, probe)
                                            .await;
                                        last_probe =
                                            Some((now, report.running_ids.clone(), result));
                                    }
                                    last_probe.as_ref().map_or(Ok(()), |(_, _, r)| r.clone())
                                }
                            };
                            match probed {
                                Ok(()) => {
                                    let same = healthy_since
                                        .as_ref()
                                        .is_some_and(|(_, ids)| *ids == report.running_ids);
                                    if !same {
                                        healthy_since = Some((now, report.running_ids.clone()));
                                    }
                                    let since = healthy_since.as_ref().map_or(now, |(at, _)| *at);
                                    if now.saturating_duration_since(since) >= min_healthy {
                                        self.show(run, zone, version, &report, &mut shown);
                                        return Ok(());
                                    }
                                }
                                Err(detail) => {
                                    healthy_since = None;
                                    cause = Some(FailureCause::ProbeFailing { detail });
                                }
                            }
                        }
                        HealthStatus::Progressing => healthy_since = None,
                    }
                    let mut shown_report = report.clone();
                    shown_report.cause = cause.clone();
                    self.show(run, zone, version, &shown_report, &mut shown);
                    let c = &report.counts;
                    let score = (c.running, c.running + c.starting);
                    if score.0 > best.0 || score.1 > best.1 {
                        best = (best.0.max(score.0), best.1.max(score.1));
                        last_progress = now;
                    }
                }
            }

            let waited = now.saturating_duration_since(start);
            if waited >= timeout {
                let context = match cause {
                    Some(_) => format!(
                        "{zone} not healthy within {}",
                        crate::spec::duration::format(timeout)
                    ),
                    None => context,
                };
                return Err(StepError::Failed(StepFailure {
                    context,
                    cause: cause.unwrap_or(FailureCause::Timeout {
                        waited_ms: millis(waited),
                    }),
                    task_errors: errors,
                }));
            }
            let idle = now.saturating_duration_since(last_progress);
            if !health.progress_deadline.is_zero() && idle >= health.progress_deadline {
                let context = match cause {
                    Some(_) => format!(
                        "{zone} made no progress for {}",
                        crate::spec::duration::format(health.progress_deadline)
                    ),
                    None => context,
                };
                return Err(StepError::Failed(StepFailure {
                    context,
                    cause: cause.unwrap_or(FailureCause::Stalled {
                        idle_ms: millis(idle),
                    }),
                    task_errors: errors,
                }));
            }
            if cancellable {
                self.sleep(self.options.poll_interval).await?;
            } else {
                self.clock.sleep(self.options.poll_interval).await;
            }
        }
    }

    /// Probes every running task of the wanted version; the first error wins.
    async fn probe_all(
        &self,
        tasks: &[TaskInfo],
        running_ids: &[String],
        probe: &crate::spec::model::HttpProbe,
    ) -> Result<(), String> {
        for task in tasks.iter().filter(|t| running_ids.contains(&t.id)) {
            self.prober.probe(task, probe).await?;
        }
        Ok(())
    }

    /// Emits a health progress event when the counts or the cause changed.
    fn show(
        &self,
        run: &ServiceRun<'_>,
        zone: &str,
        version: Option<&str>,
        report: &HealthReport,
        shown: &mut Option<Shown>,
    ) {
        let cause = report.cause.as_ref().map(ToString::to_string);
        let now = self.clock.now();
        let state = (report.counts, cause.clone());
        // Unchanged: repeat only now and then, so logs show the wait is alive.
        if let Some(last) = shown.as_ref()
            && last.state == state
            && now.saturating_duration_since(last.at) < self.options.heartbeat
        {
            return;
        }
        *shown = Some(Shown { state, at: now });
        let c = &report.counts;
        self.sink.emit(&Event::HealthProgress {
            service: run.service.service.clone(),
            zone: zone.to_string(),
            version: version.unwrap_or("").to_string(),
            healthy: c.running.min(c.desired),
            desired: c.desired,
            running: c.running,
            starting: c.starting,
            failing: c.failing,
            cause,
        });
    }

    /// Waits until the router reports serving every key this run wrote.
    pub(super) async fn wait_router(
        &self,
        run: &ServiceRun<'_>,
        timeout: Duration,
    ) -> Result<(), StepError> {
        if run.written.is_empty() {
            return Ok(());
        }
        let key = router_key(&run.service.service);
        let start = self.clock.now();
        let mut last_problem: String;
        loop {
            match self.kv.get(&key).await {
                Ok(Some(entry)) => match serde_json::from_str::<RouterReport>(&entry.value) {
                    Ok(report) => {
                        if report.serves(run.written.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        {
                            return Ok(());
                        }
                        last_problem = "still serving the previous keys".into();
                    }
                    Err(e) => last_problem = format!("unreadable report in {key}: {e}"),
                },
                Ok(None) => last_problem = format!("no report in {key}"),
                Err(e) => last_problem = e.to_string(),
            }
            let waited = self.clock.now().saturating_duration_since(start);
            if waited >= timeout {
                return Err(StepError::Failed(StepFailure {
                    context: "the router did not confirm the new keys".into(),
                    cause: FailureCause::Router {
                        detail: format!(
                            "not serving the new keys after {} ({last_problem}); is `shipctl route` running?",
                            crate::spec::duration::format(timeout)
                        ),
                    },
                    task_errors: Vec::new(),
                }));
            }
            self.sleep(self.options.router_poll.min(timeout - waited))
                .await?;
        }
    }
}

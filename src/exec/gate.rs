//! The waits of a plan: a zone becoming healthy, the routers catching up.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::context::{Context, millis};
use super::health::{HealthReport, HealthRules, HealthStatus, TaskCounts, evaluate};
use super::router_wait::{Look, Progress, RouterWatch};
use super::step_error::{StepError, StepFailure};
use super::track::ServiceRun;
use super::{Event, FailureCause};
use crate::ports::{TaskInfo, registrations_prefix};

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

/// How many tasks a global service runs: those Swarm wants running, on distinct nodes.
fn wanted_tasks(tasks: &[TaskInfo]) -> u64 {
    let nodes: std::collections::HashSet<&str> = tasks
        .iter()
        .filter(|t| t.desired_state == crate::ports::TaskState::Running)
        .filter_map(|t| t.node_id.as_deref())
        .collect();
    u64::try_from(nodes.len()).unwrap_or(u64::MAX).max(1)
}

/// The rules for judging tasks `now`, when this gate has seen the cluster without a break
/// since `view_since` (its start, or the end of the last outage). The manager's record of a
/// task can be stale: while the manager is down, or restarting before this run began, workers
/// cannot report, and a task it still lists as `starting` may have been healthy for a while.
/// So a task counts as stuck in `starting` only after a full healthcheck period of this view.
fn rules_for_view(rules: &HealthRules, view_since: Instant, now: Instant) -> Cow<'_, HealthRules> {
    match rules.healthcheck_period {
        Some(period) if now.saturating_duration_since(view_since) <= period => {
            Cow::Owned(HealthRules {
                healthcheck_period: None,
                ..rules.clone()
            })
        }
        _ => Cow::Borrowed(rules),
    }
}

/// One look at the zone, as the gate's loop made it.
pub(super) enum Observation {
    /// The tasks could not be listed (a manager hiccup is not a failure until a deadline).
    Unreachable(String),
    /// The tasks, judged; `probe` is the HTTP probe's answer when one was made this time.
    Tasks {
        report: HealthReport,
        probe: Option<Result<(), String>>,
    },
}

/// What the gate makes of an observation.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Keep watching.
    Waiting,
    /// Healthy (and probed) for `min_healthy`.
    Passed,
    Failed(StepFailure),
}

/// The health gate's decisions, one observation at a time: when a zone has been healthy
/// long enough, and when waiting has become a failure (a fatal cause, the timeout, or no
/// progress for `progress_deadline`). Pure: time comes in with each observation.
pub(super) struct GateMachine {
    zone: String,
    timeout: Duration,
    min_healthy: Duration,
    progress_deadline: Duration,
    probe_interval: Option<Duration>,
    start: Instant,
    last_progress: Instant,
    /// The most tasks seen (running, running + starting): more of either is progress.
    best: (u64, u64),
    /// Since when the same running tasks have been healthy.
    healthy_since: Option<(Instant, Vec<String>)>,
    /// The last probe: when, of which tasks, and its answer.
    last_probe: Option<(Instant, Vec<String>, Result<(), String>)>,
    /// What holds the zone back now, and the task errors seen last.
    pub cause: Option<FailureCause>,
    errors: Vec<String>,
}

impl GateMachine {
    pub fn new(
        zone: &str,
        timeout: Duration,
        min_healthy: Duration,
        progress_deadline: Duration,
        probe_interval: Option<Duration>,
        now: Instant,
    ) -> GateMachine {
        GateMachine {
            zone: zone.to_string(),
            timeout,
            min_healthy,
            progress_deadline,
            probe_interval,
            start: now,
            last_progress: now,
            best: (0, 0),
            healthy_since: None,
            last_probe: None,
            cause: None,
            errors: Vec::new(),
        }
    }

    /// True when the running tasks of `report` should be probed now: a probe is configured,
    /// the zone looks healthy, and the tasks changed or the last probe is `interval` old.
    pub fn probe_due(&self, now: Instant, report: &HealthReport) -> bool {
        let Some(interval) = self.probe_interval else {
            return false;
        };
        report.is_healthy()
            && match &self.last_probe {
                None => true,
                Some((at, ids, _)) => {
                    *ids != report.running_ids || now.saturating_duration_since(*at) >= interval
                }
            }
    }

    pub fn observe(&mut self, now: Instant, observation: Observation) -> Verdict {
        match observation {
            Observation::Unreachable(detail) => {
                self.cause = Some(FailureCause::Cluster { detail });
                self.healthy_since = None;
            }
            Observation::Tasks { report, probe } => {
                if let Some(result) = probe {
                    self.last_probe = Some((now, report.running_ids.clone(), result));
                }
                self.errors = report.task_errors.clone();
                self.cause = report.cause.clone();
                match &report.status {
                    HealthStatus::Failing(cause) => {
                        return Verdict::Failed(StepFailure {
                            context: format!("{} did not become healthy", self.zone),
                            cause: cause.clone(),
                            task_errors: report.task_errors,
                        });
                    }
                    HealthStatus::Healthy => {
                        let probed = match (&self.probe_interval, &self.last_probe) {
                            (Some(_), Some((_, _, result))) => result.clone(),
                            _ => Ok(()),
                        };
                        match probed {
                            Ok(()) => {
                                let same = self
                                    .healthy_since
                                    .as_ref()
                                    .is_some_and(|(_, ids)| *ids == report.running_ids);
                                if !same {
                                    self.healthy_since = Some((now, report.running_ids.clone()));
                                }
                                let since = self.healthy_since.as_ref().map_or(now, |(at, _)| *at);
                                if now.saturating_duration_since(since) >= self.min_healthy {
                                    return Verdict::Passed;
                                }
                            }
                            Err(detail) => {
                                self.healthy_since = None;
                                self.cause = Some(FailureCause::ProbeFailing { detail });
                            }
                        }
                    }
                    HealthStatus::Progressing => self.healthy_since = None,
                }
                let c = &report.counts;
                let score = (c.running, c.running + c.starting);
                if score.0 > self.best.0 || score.1 > self.best.1 {
                    self.best = (self.best.0.max(score.0), self.best.1.max(score.1));
                    self.last_progress = now;
                }
            }
        }
        self.deadline(now)
    }

    /// Waiting turns into a failure at the timeout, or after `progress_deadline` without
    /// progress; the cause seen last names it.
    fn deadline(&self, now: Instant) -> Verdict {
        let zone = &self.zone;
        let waited = now.saturating_duration_since(self.start);
        if waited >= self.timeout {
            let context = match self.cause {
                Some(_) => format!(
                    "{zone} not healthy within {}",
                    crate::spec::duration::format(self.timeout)
                ),
                None => format!("{zone} did not become healthy"),
            };
            return Verdict::Failed(StepFailure {
                context,
                cause: self.cause.clone().unwrap_or(FailureCause::Timeout {
                    waited_ms: millis(waited),
                }),
                task_errors: self.errors.clone(),
            });
        }
        let idle = now.saturating_duration_since(self.last_progress);
        if !self.progress_deadline.is_zero() && idle >= self.progress_deadline {
            let context = match self.cause {
                Some(_) => format!(
                    "{zone} made no progress for {}",
                    crate::spec::duration::format(self.progress_deadline)
                ),
                None => format!("{zone} did not become healthy"),
            };
            return Verdict::Failed(StepFailure {
                context,
                cause: self.cause.clone().unwrap_or(FailureCause::Stalled {
                    idle_ms: millis(idle),
                }),
                task_errors: self.errors.clone(),
            });
        }
        Verdict::Waiting
    }
}

impl Context<'_> {
    /// Polls the zone until `replicas` tasks of `version` run healthy (and pass the probe)
    /// for `min_healthy`; the [`GateMachine`] decides, this loop only looks and reports.
    pub(super) async fn wait_healthy(
        &self,
        run: &ServiceRun<'_>,
        gate: &Gate<'_>,
    ) -> Result<(), StepError> {
        let health = &run.service.policy.health;
        let mut machine = GateMachine::new(
            gate.zone,
            gate.timeout,
            gate.min_healthy,
            health.progress_deadline,
            health.probe.as_ref().map(|p| p.interval),
            self.clock.now(),
        );
        let mut shown: Option<Shown> = None;
        let mut warned_cluster = false;
        // Since when the gate has seen the cluster without a break.
        let mut view_since = self.clock.now();
        loop {
            if gate.cancellable && self.cancel.is_cancelled() {
                return Err(StepError::Interrupted);
            }
            let now = self.clock.now();
            let (observation, report) = match self.cluster.tasks(gate.service_name).await {
                Err(e) => {
                    if !warned_cluster {
                        warned_cluster = true;
                        self.sink.emit(&Event::Warning {
                            service: Some(run.service.service.clone()),
                            message: format!("cannot list the tasks of {}: {e}", gate.service_name),
                        });
                    }
                    (Observation::Unreachable(e.to_string()), None)
                }
                Ok(tasks) => {
                    if warned_cluster {
                        view_since = now;
                    }
                    warned_cluster = false;
                    let replicas = match gate.replicas {
                        // A global service: every task Swarm wants running, one per node.
                        0 => wanted_tasks(&tasks),
                        n => n,
                    };
                    let report = evaluate(
                        &tasks,
                        gate.version,
                        replicas,
                        self.clock.wall(),
                        &rules_for_view(&run.rules, view_since, now),
                    );
                    let probe = match &health.probe {
                        Some(probe) if machine.probe_due(now, &report) => {
                            Some(self.probe_all(&tasks, &report.running_ids, probe).await)
                        }
                        _ => None,
                    };
                    let shown_report = report.clone();
                    (Observation::Tasks { report, probe }, Some(shown_report))
                }
            };
            let verdict = machine.observe(now, observation);
            if let Some(mut report) = report {
                report.cause = machine.cause.clone();
                self.show(run, gate.zone, gate.version, &report, &mut shown);
            }
            match verdict {
                Verdict::Passed => return Ok(()),
                Verdict::Failed(failure) => return Err(StepError::Failed(failure)),
                Verdict::Waiting => {}
            }
            // Counted from the start of this look, not its end: gates that share the
            // cluster's list of a tick (see `swarm::coalesce`) then ask again by the next one.
            let looked = self.clock.now().saturating_duration_since(now);
            let pause = self.options.poll_interval.saturating_sub(looked);
            if gate.cancellable {
                self.sleep(pause).await?;
            } else {
                self.clock.sleep(pause).await;
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

    /// Waits until every live router serves every key this run wrote (see `router_wait`
    /// for what "live" is); without registrations, until the single router key does.
    pub(super) async fn wait_router(
        &self,
        run: &ServiceRun<'_>,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let expected = run
            .written
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.wait_router_for(run, expected, timeout, true).await
    }

    /// Waits until the routers serve `expected`; a rollback's wait is not `cancellable`.
    pub(super) async fn wait_router_for(
        &self,
        run: &ServiceRun<'_>,
        expected: Vec<(String, String)>,
        timeout: Duration,
        cancellable: bool,
    ) -> Result<(), StepError> {
        if expected.is_empty() {
            return Ok(());
        }
        let service = &run.service.service;
        let key = run.service.keys.router.clone();
        let prefix = registrations_prefix(&key);
        let mut watch = RouterWatch::new(&key, expected);
        let start = self.clock.now();
        let mut last_problem: String;
        loop {
            let look = match self.kv.list(&prefix).await {
                Ok(entries) if !entries.is_empty() => Ok(Look::Registered(entries)),
                Ok(_) => self.kv.get(&key).await.map(Look::Single),
                Err(e) => Err(e),
            };
            let now = self.clock.now();
            let waited = now.saturating_duration_since(start);
            match look {
                Ok(look) => {
                    let silent = lock(&run.silent_routers).clone();
                    let progress = watch.observe(now, look, &silent);
                    self.show_routers(service, &progress, waited);
                    *lock(&run.silent_routers) = watch.silent(now);
                    if progress.done {
                        return Ok(());
                    }
                    last_problem = watch.pending(now);
                }
                Err(e) => last_problem = e.to_string(),
            }
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
            let pause = self.options.router_poll.min(timeout - waited);
            if cancellable {
                self.sleep(pause).await?;
            } else {
                self.clock.sleep(pause).await;
            }
        }
    }

    /// Tells the user which routers confirmed, which are dead and which came back.
    fn show_routers(&self, service: &str, progress: &Progress, waited: Duration) {
        for router in &progress.confirmed {
            self.sink.emit(&Event::RouterConfirmed {
                service: service.to_string(),
                router: router.clone(),
                waited_ms: millis(waited),
            });
        }
        for gone in &progress.gone {
            self.sink.emit(&Event::RouterGone {
                service: service.to_string(),
                router: gone.id.clone(),
                key: gone.key.clone(),
                silent_ms: millis(gone.silent),
                heartbeat_ms: millis(gone.heartbeat),
            });
        }
        for router in &progress.back {
            self.sink.emit(&Event::Warning {
                service: Some(service.to_string()),
                message: format!(
                    "router {router} writes its registration again: waiting for it again"
                ),
            });
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: HealthStatus, running: u64, ids: &[&str]) -> HealthReport {
        HealthReport {
            status,
            counts: TaskCounts {
                desired: 2,
                running,
                ..TaskCounts::default()
            },
            cause: None,
            task_errors: Vec::new(),
            running_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tasks(report: HealthReport) -> Observation {
        Observation::Tasks {
            report,
            probe: None,
        }
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn starting_tasks_count_as_stuck_only_after_a_full_period_of_unbroken_view() {
        let t0 = Instant::now();
        let rules = HealthRules {
            healthcheck_period: Some(12 * SEC),
            ..HealthRules::default()
        };
        // Seen for less than a period (the gate just began, or the manager just came back):
        // nothing is stuck in `starting` yet, however old Swarm's record of the task.
        assert_eq!(
            rules_for_view(&rules, t0, t0 + 5 * SEC).healthcheck_period,
            None
        );
        // A full period of view: a task still starting is stuck.
        assert_eq!(
            rules_for_view(&rules, t0, t0 + 13 * SEC).healthcheck_period,
            Some(12 * SEC)
        );
        // Without a healthcheck there is nothing to relax.
        let none = HealthRules::default();
        assert_eq!(rules_for_view(&none, t0, t0).healthcheck_period, None);
    }

    #[test]
    fn passes_once_the_same_tasks_stayed_healthy_for_min_healthy() {
        let t0 = Instant::now();
        let mut gate = GateMachine::new("green", 60 * SEC, 2 * SEC, 30 * SEC, None, t0);
        let healthy = || report(HealthStatus::Healthy, 2, &["a", "b"]);
        assert!(matches!(
            gate.observe(t0, tasks(healthy())),
            Verdict::Waiting
        ));
        // Other tasks: stability starts again.
        let other = report(HealthStatus::Healthy, 2, &["a", "c"]);
        assert!(matches!(
            gate.observe(t0 + SEC, tasks(other)),
            Verdict::Waiting
        ));
        let again = report(HealthStatus::Healthy, 2, &["a", "c"]);
        assert!(matches!(
            gate.observe(t0 + 2 * SEC, tasks(again)),
            Verdict::Waiting
        ));
        let last = report(HealthStatus::Healthy, 2, &["a", "c"]);
        assert!(matches!(
            gate.observe(t0 + 3 * SEC, tasks(last)),
            Verdict::Passed
        ));
    }

    #[test]
    fn a_fatal_cause_fails_at_once() {
        let t0 = Instant::now();
        let mut gate = GateMachine::new("green", 60 * SEC, SEC, 30 * SEC, None, t0);
        let cause = FailureCause::Timeout { waited_ms: 1 };
        let verdict = gate.observe(t0, tasks(report(HealthStatus::Failing(cause), 0, &[])));
        assert!(
            matches!(verdict, Verdict::Failed(f) if f.context == "green did not become healthy")
        );
    }

    #[test]
    fn no_progress_for_the_deadline_fails_with_the_last_cause() {
        let t0 = Instant::now();
        let mut gate = GateMachine::new("green", 600 * SEC, SEC, 5 * SEC, None, t0);
        let starting = || report(HealthStatus::Progressing, 1, &["a"]);
        assert!(matches!(
            gate.observe(t0, tasks(starting())),
            Verdict::Waiting
        ));
        assert!(matches!(
            gate.observe(t0 + 4 * SEC, tasks(starting())),
            Verdict::Waiting
        ));
        let unreachable = Observation::Unreachable("connection refused".into());
        match gate.observe(t0 + 6 * SEC, unreachable) {
            Verdict::Failed(f) => {
                assert_eq!(f.context, "green made no progress for 5s");
                assert!(matches!(f.cause, FailureCause::Cluster { .. }));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_failing_probe_holds_the_gate_and_is_asked_again_after_its_interval() {
        let t0 = Instant::now();
        let mut gate = GateMachine::new(
            "green",
            60 * SEC,
            Duration::ZERO,
            Duration::ZERO,
            Some(SEC),
            t0,
        );
        let healthy = || report(HealthStatus::Healthy, 2, &["a", "b"]);
        assert!(gate.probe_due(t0, &healthy()));
        let probed = Observation::Tasks {
            report: healthy(),
            probe: Some(Err("HTTP 500".into())),
        };
        assert!(matches!(gate.observe(t0, probed), Verdict::Waiting));
        assert!(matches!(
            gate.cause,
            Some(FailureCause::ProbeFailing { .. })
        ));
        assert!(!gate.probe_due(t0 + SEC / 2, &healthy()));
        assert!(matches!(
            gate.observe(t0 + SEC / 2, tasks(healthy())),
            Verdict::Waiting
        ));
        assert!(gate.probe_due(t0 + SEC, &healthy()));
        let ok = Observation::Tasks {
            report: healthy(),
            probe: Some(Ok(())),
        };
        assert!(matches!(gate.observe(t0 + SEC, ok), Verdict::Passed));
    }

    #[test]
    fn the_timeout_names_what_held_the_zone_back() {
        let t0 = Instant::now();
        let mut gate = GateMachine::new("blue", 10 * SEC, SEC, Duration::ZERO, None, t0);
        let mut slow = report(HealthStatus::Progressing, 1, &["a"]);
        slow.cause = Some(FailureCause::Timeout { waited_ms: 5 });
        match gate.observe(t0 + 10 * SEC, tasks(slow)) {
            Verdict::Failed(f) => assert_eq!(f.context, "blue not healthy within 10s"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

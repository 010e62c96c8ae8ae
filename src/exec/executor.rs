//! Runs a [`Plan`] step by step, health-gated, cancellable, rolling back on failure.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::failure::{StepError, StepFailure};
use super::gate::Gate;
use super::health::HealthRules;
use super::on_switch::OnSwitch;
use super::summary::{action_kind, summarize};
use super::track::{ServiceRun, ZoneTrack};
use super::{
    Clock, Event, EventSink, FailureCause, FailureDecider, Outcome, Prober, ProgressRecord,
    RunState, ServiceOutcome, ServiceResult, run_result,
};
use crate::error::Error;
use crate::plan::{Action, Plan, ServicePlan, Step};
use crate::ports::{Cluster, ClusterError, TaskState, ZoneTarget};
use crate::ports::{Kv, LockGuard};

/// Tuning of the executor; the defaults are what the CLI uses.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How often a zone's tasks are polled while waiting (a healthy zone is noticed within
    /// 2.5 polls).
    pub poll_interval: Duration,
    /// How often the router's report is read while waiting for it.
    pub router_poll: Duration,
    /// How often health is checked during a timed pause.
    pub pause_check: Duration,
    /// How often an unchanged health progress is reported again while waiting.
    pub heartbeat: Duration,
    pub health_rules: HealthRules,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            poll_interval: Duration::from_millis(100),
            router_poll: Duration::from_millis(500),
            pause_check: Duration::from_secs(1),
            heartbeat: Duration::from_secs(10),
            health_rules: HealthRules::default(),
        }
    }
}

/// What a step left to do next.
pub(super) enum StepDone {
    Continue,
    /// `pause: {}`: stop here until `shipctl promote`.
    AwaitPromotion,
}

/// Everything outside the process the executor talks to.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub cluster: &'a dyn Cluster,
    pub kv: &'a dyn Kv,
    pub prober: &'a dyn Prober,
    pub clock: &'a dyn Clock,
    pub sink: &'a dyn EventSink,
    /// Asked what to do when a gate fails and the policy says "prompt".
    pub decider: &'a dyn FailureDecider,
}

/// Runs plans. Talks to the world only through the traits it is given.
pub struct Executor<'a> {
    pub(super) cluster: &'a dyn Cluster,
    pub(super) kv: &'a dyn Kv,
    pub(super) prober: &'a dyn Prober,
    pub(super) clock: &'a dyn Clock,
    pub(super) sink: &'a dyn EventSink,
    pub(super) cancel: CancellationToken,
    pub(super) decider: &'a dyn FailureDecider,
    pub(super) options: ExecOptions,
    /// Each service's deploy lock, checked before every step of that service that changes
    /// something.
    pub(super) locks: Vec<(String, &'a dyn LockGuard)>,
    /// Told when a service's keys switch to its new zone.
    pub(super) on_switch: Option<&'a dyn OnSwitch>,
}

impl<'a> Executor<'a> {
    pub fn new(ports: Ports<'a>, cancel: CancellationToken) -> Self {
        let Ports {
            cluster,
            kv,
            prober,
            clock,
            sink,
            decider,
        } = ports;
        Executor {
            cluster,
            kv,
            prober,
            clock,
            sink,
            cancel,
            decider,
            options: ExecOptions::default(),
            locks: Vec::new(),
            on_switch: None,
        }
    }

    /// Stops before any further change to `service` once `lock` is no longer ours (its renewal
    /// failed: another deploy of it may be running). Once per service of the plan.
    pub fn with_lock(mut self, service: &str, lock: &'a dyn LockGuard) -> Self {
        self.locks.push((service.to_string(), lock));
        self
    }

    /// Calls `on_switch` right after each service's keys point at its new zone, before the
    /// old zone drains.
    pub fn with_on_switch(mut self, on_switch: &'a dyn OnSwitch) -> Self {
        self.on_switch = Some(on_switch);
        self
    }

    fn lock_lost_for(&self, service: &str) -> bool {
        self.locks
            .iter()
            .any(|(s, lock)| s == service && !lock.is_held())
    }

    /// Runs every service plan in order. Stops at the first service that fails (after its
    /// failure handling); services already done stay done.
    pub async fn run(&self, plan: &Plan) -> Result<Outcome, Error> {
        let start = self.clock.now();
        for warning in &plan.warnings {
            self.sink.emit(&Event::Warning {
                service: None,
                message: warning.clone(),
            });
        }
        let mut services = Vec::new();
        let mut failed = None;
        for sp in &plan.services {
            match self.run_service(plan, sp).await {
                Ok(result) => services.push(ServiceOutcome {
                    service: sp.service.clone(),
                    result,
                }),
                Err(e) => {
                    failed = Some(with_done_services(e, &services));
                    break;
                }
            }
        }
        let duration = self.clock.now().saturating_duration_since(start);
        let result = match failed {
            Some(e) => Err(e),
            None => Ok(Outcome { services, duration }),
        };
        self.sink.emit(&Event::DeployFinished {
            result: run_result(&result),
            duration_ms: millis(duration),
        });
        result
    }

    async fn run_service(&self, plan: &Plan, sp: &ServicePlan) -> Result<ServiceResult, Error> {
        self.sink.emit(&Event::PlanStarted {
            service: sp.service.clone(),
            strategy: sp.strategy,
            from: sp.from.clone(),
            to: sp.to.clone(),
            steps: sp.steps.len(),
        });
        for warning in &sp.warnings {
            self.sink.emit(&Event::Warning {
                service: Some(sp.service.clone()),
                message: warning.clone(),
            });
        }
        if sp.up_to_date || sp.steps.is_empty() {
            return Ok(ServiceResult::UpToDate);
        }
        let mut run = ServiceRun::new(plan, sp, &self.options.health_rules);
        self.snapshot(&mut run).await?;
        self.record(&run, RunState::Running, "").await;
        let result = self.run_steps(&mut run).await;
        match &result {
            Ok(ServiceResult::Done { .. }) | Err(Error::RolledBack { .. }) => {
                self.clear_record(&run).await;
            }
            Ok(ServiceResult::AwaitingPromotion { message, .. }) => {
                self.record(&run, RunState::AwaitingPromotion, message)
                    .await;
            }
            Err(Error::Interrupted { message, .. }) => {
                self.record(&run, RunState::Interrupted, message).await;
            }
            Err(Error::NeedsAttention { message, .. }) => {
                self.record(&run, RunState::NeedsAttention, message).await;
            }
            _ => {}
        }
        result
    }

    async fn run_steps(&self, run: &mut ServiceRun<'_>) -> Result<ServiceResult, Error> {
        let sp = run.sp;
        let total = sp.steps.len();
        let mut index = 0;
        while index < total {
            let step = &sp.steps[index];
            // A safe point: between steps nothing is half-done.
            if self.cancel.is_cancelled() {
                return Err(self.interrupted(run, index));
            }
            if changes_something(&step.action) && self.lock_lost_for(&sp.service) {
                return Err(self.lock_lost(run, index));
            }
            self.sink.emit(&Event::StepStarted {
                service: sp.service.clone(),
                index: index + 1,
                total,
                action: action_kind(&step.action).to_string(),
                summary: summarize(&step.action),
                reason: step.reason.clone(),
            });
            let started = self.clock.now();
            match self.step(run, step).await {
                Ok(done) => {
                    self.sink.emit(&Event::StepFinished {
                        service: sp.service.clone(),
                        index: index + 1,
                        total,
                        action: action_kind(&step.action).to_string(),
                        summary: summarize(&step.action),
                        elapsed_ms: millis(self.clock.now().saturating_duration_since(started)),
                    });
                    index += 1;
                    run.steps_done = index;
                    if let Some(on_switch) = self.on_switch
                        && switches_to_target(sp, &step.action)
                    {
                        on_switch.switched(sp).await;
                    }
                    if let StepDone::AwaitPromotion = done {
                        let message = format!(
                            "{} {} runs as a canary and waits: `shipctl promote {}` to go on, \
                             `shipctl abort {}` to go back",
                            sp.to.zone, sp.to.version, sp.service, sp.service
                        );
                        self.sink.emit(&Event::Paused {
                            service: sp.service.clone(),
                            message: message.clone(),
                        });
                        return Ok(ServiceResult::AwaitingPromotion {
                            to: sp.to.clone(),
                            steps_done: index,
                            message,
                        });
                    }
                }
                Err(StepError::Interrupted) => return Err(self.interrupted(run, index)),
                Err(StepError::Failed(failure)) if is_cleanup_after_flip(run, step) => {
                    return Err(self.cleanup_failed(run, step, failure));
                }
                Err(StepError::Failed(failure)) => {
                    // Ok = the user chose to retry the step.
                    self.handle_failure(run, index, step, failure).await?;
                }
            }
        }
        Ok(ServiceResult::Done { to: sp.to.clone() })
    }

    /// Records where this service's deploy stands (best effort: the deploy goes on without).
    async fn record(&self, run: &ServiceRun<'_>, state: RunState, message: &str) {
        let sp = run.sp;
        let record = ProgressRecord {
            service: sp.service.clone(),
            strategy: sp.strategy,
            from: sp.from.clone(),
            to: sp.to.clone(),
            state,
            steps_done: run.steps_done,
            total_steps: sp.steps.len(),
            next_step: sp.steps.get(run.steps_done).map(|s| summarize(&s.action)),
            message: message.to_string(),
            updated_at: super::record::unix_seconds(self.clock.wall()),
        };
        let Ok(value) = serde_json::to_string(&record) else {
            return;
        };
        if let Err(e) = self.kv.put(&sp.keys.progress, &value).await {
            self.sink.emit(&Event::Warning {
                service: Some(sp.service.clone()),
                message: format!("could not record the progress in {}: {e}", sp.keys.progress),
            });
        }
    }

    /// The deploy is over (done or rolled back): nothing is left to resume.
    async fn clear_record(&self, run: &ServiceRun<'_>) {
        let key = &run.sp.keys.progress;
        if let Err(e) = self.kv.delete(key).await {
            self.sink.emit(&Event::Warning {
                service: Some(run.sp.service.clone()),
                message: format!("could not clear the progress record {key}: {e}"),
            });
        }
    }

    /// Records the zones as they are before anything changes.
    async fn snapshot(&self, run: &mut ServiceRun<'_>) -> Result<(), Error> {
        let names = run.zone_names();
        let observed = self
            .cluster
            .observe_zones(&run.plan.project, &run.sp.service, &names)
            .await
            .map_err(|e| Error::Unavailable {
                message: format!(
                    "cannot read the zones of {} before deploying: {e}",
                    run.sp.service
                ),
                help: Some("nothing was changed; check the connection to the Swarm manager".into()),
            })?;
        self.refuse_if_moved(run, &names, &observed)?;
        // Tasks that already ended are history for the health gates of this run.
        let existing: Vec<String> = names
            .iter()
            .filter(|(zone, _)| observed.contains_key(zone))
            .map(|(_, name)| name.clone())
            .collect();
        self.forget_ended_tasks(run, &existing).await;
        for (zone, service_name) in names {
            let track = match observed.get(&zone) {
                Some(z) => ZoneTrack {
                    service_name,
                    exists: true,
                    desired: z.desired,
                    version: z.version.clone(),
                },
                None => ZoneTrack {
                    service_name,
                    exists: false,
                    desired: 0,
                    version: None,
                },
            };
            run.before.insert(zone.clone(), track.clone());
            run.zones.insert(zone, track);
        }
        Ok(())
    }

    /// Adds the tasks of `services` that have ended to the history the health gates ignore
    /// (best effort: without it, old failures may only end a gate sooner).
    pub(super) async fn forget_ended_tasks(&self, run: &mut ServiceRun<'_>, services: &[String]) {
        for name in services {
            if let Ok(tasks) = self.cluster.tasks(name).await {
                run.rules.history.extend(
                    tasks
                        .into_iter()
                        .filter(|t| is_ended(t.state))
                        .map(|t| t.id),
                );
            }
        }
    }

    /// A plan made from the live cluster is only valid while the zones are as it saw them
    /// (a saved plan applied later must not act on a different state).
    fn refuse_if_moved(
        &self,
        run: &ServiceRun<'_>,
        names: &[(String, String)],
        live: &indexmap::IndexMap<String, crate::ports::ZoneState>,
    ) -> Result<(), Error> {
        if run.plan.observed.source != crate::plan::StateSource::Cluster {
            return Ok(());
        }
        let seen = run.plan.observed.services.get(&run.sp.service);
        let show = |z: Option<(u64, Option<String>)>| match z {
            None => "no service".to_string(),
            Some((n, v)) => format!("{} x{n}", v.as_deref().unwrap_or("?")),
        };
        let moved: Vec<String> = names
            .iter()
            .filter_map(|(zone, _)| {
                let planned = seen
                    .and_then(|s| s.zones.get(zone))
                    .map(|z| (z.desired, z.version.clone()));
                let now = live.get(zone).map(|z| (z.desired, z.version.clone()));
                (planned != now)
                    .then(|| format!("{zone}: planned from {}, now {}", show(planned), show(now)))
            })
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        Err(Error::Usage {
            message: format!(
                "the cluster changed since this plan was made ({})",
                moved.join("; ")
            ),
            help: Some(
                "nothing was changed; make a new plan, or run `shipctl deploy` without a saved plan"
                    .into(),
            ),
        })
    }

    async fn step(&self, run: &mut ServiceRun<'_>, step: &Step) -> Result<StepDone, StepError> {
        match &step.action {
            Action::EnsureNetwork { name } => {
                let network = run
                    .plan
                    .networks
                    .iter()
                    .find(|(key, n)| {
                        n.name.as_deref() == Some(name.as_str())
                            || format!("{}_{key}", run.plan.project) == *name
                    })
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                self.cluster_call(&format!("creating network {name}"), || {
                    self.cluster.ensure_network(name, &network)
                })
                .await?;
            }
            Action::CreateZone {
                zone,
                service,
                image,
                version,
                replicas,
            }
            | Action::UpdateZone {
                zone,
                service,
                image,
                version,
                replicas,
            } => {
                // Tracked before the call: if it half-happened, rollback still undoes it.
                run.zones.insert(
                    zone.clone(),
                    ZoneTrack {
                        service_name: service.clone(),
                        exists: true,
                        desired: *replicas,
                        version: Some(version.clone()),
                    },
                );
                let target = ZoneTarget {
                    project: run.plan.project.clone(),
                    service: run.sp.service.clone(),
                    zone: zone.clone(),
                    service_name: service.clone(),
                    definition: run.sp.definition.clone(),
                    image: image.clone(),
                    version: version.clone(),
                    replicas: *replicas,
                    networks: run.plan.networks.clone(),
                    secrets: run.plan.secrets.clone(),
                    configs: run.plan.configs.clone(),
                };
                self.cluster_call(&format!("applying {service}"), || {
                    self.cluster.apply_zone(&target)
                })
                .await?;
            }
            Action::Scale {
                zone,
                service,
                replicas,
            } => {
                let track = run.zones.entry(zone.clone()).or_insert(ZoneTrack {
                    service_name: service.clone(),
                    exists: true,
                    desired: 0,
                    version: None,
                });
                track.desired = *replicas;
                self.cluster_call(&format!("scaling {service}"), || {
                    self.cluster.scale(service, *replicas)
                })
                .await?;
            }
            Action::WaitHealthy {
                zone,
                replicas,
                version,
                timeout,
                min_healthy,
                ..
            } => {
                let gate = Gate {
                    zone,
                    version: Some(version),
                    replicas: *replicas,
                    timeout: *timeout,
                    min_healthy: *min_healthy,
                    cancellable: true,
                };
                self.wait_healthy(run, &gate).await?;
            }
            Action::WriteKeys { writes } => self.write_keys(run, writes).await?,
            Action::WaitRouter { timeout } => self.wait_router(run, *timeout).await?,
            Action::WaitDrain { duration } => self.sleep(*duration).await?,
            Action::Pause {
                duration: Some(duration),
            } => self.pause(run, *duration).await?,
            Action::Pause { duration: None } => return Ok(StepDone::AwaitPromotion),
        }
        Ok(StepDone::Continue)
    }

    /// One cluster call, retried twice (after 1 s, then 2 s) while the manager is
    /// unreachable: a leader election or a restarting daemon should not fail a deploy.
    async fn cluster_call<'f, F>(&self, what: &str, mut call: F) -> Result<(), StepError>
    where
        F: FnMut() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), ClusterError>> + Send + 'f>,
        >,
    {
        let mut delay = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(()) => return Ok(()),
                Err(e @ ClusterError::Unavailable { .. }) if attempt < 3 => {
                    self.sink.emit(&Event::Warning {
                        service: None,
                        message: format!(
                            "{what}: {e}; retrying in {}",
                            crate::spec::duration::format(delay)
                        ),
                    });
                    self.sleep(delay).await?;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(StepFailure::cluster(what.to_string(), e).into()),
            }
        }
    }

    /// Sleeps unless cancelled first.
    pub(super) async fn sleep(&self, duration: Duration) -> Result<(), StepError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(StepError::Interrupted),
            () = self.clock.sleep(duration) => Ok(()),
        }
    }

    /// A timed pause (canary step): the new zone's health is still watched.
    async fn pause(&self, run: &ServiceRun<'_>, duration: Duration) -> Result<(), StepError> {
        let end = self.clock.now() + duration;
        loop {
            let now = self.clock.now();
            if now >= end {
                return Ok(());
            }
            self.sleep((end - now).min(self.options.pause_check))
                .await?;
            let zone = &run.sp.to.zone;
            if let Some(track) = run.zones.get(zone).filter(|t| t.desired > 0) {
                let report = self.check_zone(run, track).await;
                if let Ok(report) = report
                    && let super::HealthStatus::Failing(cause) = report.status
                {
                    return Err(StepError::Failed(StepFailure {
                        context: format!("{zone} became unhealthy during the pause"),
                        cause,
                        task_errors: report.task_errors,
                    }));
                }
            }
        }
    }

    /// One atomic write of the routing keys, after checking that every zone it sends traffic
    /// to is healthy right now.
    async fn write_keys(
        &self,
        run: &mut ServiceRun<'_>,
        writes: &[crate::ports::KeyWrite],
    ) -> Result<(), StepError> {
        if writes.is_empty() {
            return Ok(());
        }
        for zone in run.traffic_targets(writes) {
            let Some(track) = run.zones.get(&zone).cloned() else {
                return Err(StepError::Failed(StepFailure {
                    context: "checking the zones before writing the keys".into(),
                    cause: FailureCause::Refused {
                        detail: format!("refusing to send traffic to unknown zone {zone}"),
                    },
                    task_errors: Vec::new(),
                }));
            };
            let report = self
                .check_zone(run, &track)
                .await
                .map_err(|e| StepFailure::cluster(format!("checking {zone}"), e))?;
            if track.desired == 0 || !report.is_healthy() {
                return Err(StepError::Failed(StepFailure {
                    context: "checking the zones before writing the keys".into(),
                    cause: FailureCause::Refused {
                        detail: format!(
                            "refusing to send traffic to {zone}: {}/{} tasks healthy",
                            report.counts.running, track.desired
                        ),
                    },
                    task_errors: report.task_errors,
                }));
            }
        }
        if run.original_keys.is_none() {
            let mut originals = Vec::new();
            for key in run.planned_keys() {
                let entry = self.kv.get(&key).await.map_err(|e| StepFailure::kv(&e))?;
                originals.push((key, entry.map(|e| e.value)));
            }
            run.original_keys = Some(originals);
        }
        // The KV contract is all-or-nothing: an error means nothing was written.
        self.kv
            .write_atomic(writes)
            .await
            .map_err(|e| StepFailure::kv(&e))?;
        for w in writes {
            run.written.insert(w.key.clone(), w.value.clone());
        }
        Ok(())
    }
}

/// True for scaling down a zone that no longer gets traffic once the keys were flipped to
/// the new zone: failing there is no reason to undo a deploy that works.
fn is_cleanup_after_flip(run: &ServiceRun<'_>, step: &Step) -> bool {
    let Action::Scale { zone, replicas, .. } = &step.action else {
        return false;
    };
    let flipped = run.written.get(&run.sp.keys.active_zone) == Some(&run.sp.to.zone);
    let before = run.before.get(zone).map_or(0, |z| z.desired);
    flipped && *zone != run.sp.to.zone && *replicas < before
}

fn changes_something(action: &Action) -> bool {
    matches!(
        action,
        Action::EnsureNetwork { .. }
            | Action::CreateZone { .. }
            | Action::UpdateZone { .. }
            | Action::Scale { .. }
            | Action::WriteKeys { .. }
    )
}

fn is_ended(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Complete
            | TaskState::Shutdown
            | TaskState::Failed
            | TaskState::Rejected
            | TaskState::Remove
            | TaskState::Orphaned
    )
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Adds to a failure which services were deployed before it.
fn with_done_services(e: Error, done: &[ServiceOutcome]) -> Error {
    if done.is_empty() {
        return e;
    }
    let names: Vec<&str> = done.iter().map(|s| s.service.as_str()).collect();
    let note = format!(" (already deployed: {})", names.join(", "));
    match e {
        Error::RolledBack { message, help } => Error::RolledBack {
            message: message + &note,
            help,
        },
        Error::NeedsAttention { message, help } => Error::NeedsAttention {
            message: message + &note,
            help,
        },
        Error::Interrupted { message, help } => Error::Interrupted {
            message: message + &note,
            help,
        },
        other => other,
    }
}

/// True for the key write that makes the plan's target zone the active one.
fn switches_to_target(sp: &ServicePlan, action: &Action) -> bool {
    matches!(action, Action::WriteKeys { writes }
        if writes.iter().any(|w| w.key == sp.keys.active_zone && w.value == sp.to.zone))
}

//! Runs a [`Plan`] step by step, health-gated, cancellable, rolling back on failure.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::{Context, ExecOptions, millis};
use super::gate::Gate;
use super::on_switch::OnSwitch;
use super::step_error::{StepError, StepFailure};
use super::summary::{action_kind, summarize};
use super::track::{ServiceRun, ZoneTrack};
use super::{
    Clock, Event, EventSink, FailureCause, FailureDecider, Outcome, Prober, ProgressRecord,
    RunState, ServiceOutcome, ServiceResult, run_result,
};
use crate::error::Error;
use crate::plan::{Action, Plan, ServicePlan, Step};
use crate::ports::{Cluster, ClusterError, ZoneTarget};
use crate::ports::{KeyWrite, Kv, KvError, LockGuard};
use crate::spec::defaults::IN_PLACE;

/// How long a key write whose answer was lost is read back, and how often.
const READ_BACK: Duration = Duration::from_secs(10);
const READ_BACK_POLL: Duration = Duration::from_millis(500);

/// What reading the keys back after a lost answer found.
enum ReadBack {
    Written,
    NotWritten,
    Unknown(String),
}

/// Where a run of steps stopped.
pub(super) enum Reached {
    /// The last step asked for (the end of the plan, or a pause that waits for promote).
    End(ServiceResult),
    /// Stopped at a safe point because another service of the release failed.
    Halted,
}

/// Ends when `halt` fires; never without one.
async fn halted(halt: Option<&CancellationToken>) {
    match halt {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
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
    /// Reads the metrics of canary analysis and bakes.
    pub metrics: &'a dyn crate::ports::MetricReader,
    pub clock: &'a dyn Clock,
    pub sink: &'a dyn EventSink,
    /// Asked what to do when a gate fails and the policy says "prompt".
    pub decider: &'a dyn FailureDecider,
}

/// Runs plans. Talks to the world only through the traits it is given.
pub struct Executor<'a> {
    pub(super) ctx: Context<'a>,
    /// Each service's deploy lock, checked before every step of that service that changes
    /// something.
    locks: Vec<(String, &'a dyn LockGuard)>,
    /// Told when a service's keys switch to its new zone.
    on_switch: Option<&'a dyn OnSwitch>,
}

impl<'a> Executor<'a> {
    pub fn new(ports: Ports<'a>, cancel: CancellationToken) -> Self {
        let Ports {
            cluster,
            kv,
            prober,
            metrics,
            clock,
            sink,
            decider,
        } = ports;
        Executor {
            ctx: Context {
                cluster,
                kv,
                prober,
                metrics,
                clock,
                sink,
                cancel,
                decider,
                options: ExecOptions::default(),
            },
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

    /// At most `parallel` services of a release start and are gated at once.
    pub fn with_parallel(mut self, parallel: usize) -> Self {
        self.ctx.options.parallel = parallel.max(1);
        self
    }

    pub(super) fn parallel(&self) -> usize {
        self.ctx.options.parallel
    }

    pub(super) fn on_switch(&self) -> Option<&'a dyn OnSwitch> {
        self.on_switch
    }

    pub(super) async fn lock_lost_for(&self, service: &str) -> bool {
        let ours = self.locks_of(service);
        if ours.is_empty() {
            return false;
        }
        if ours.iter().any(|lock| !lock.is_held()) {
            return true;
        }
        // The renewal may not have noticed yet (a process paused past the TTL wakes up here):
        // the store decides. Other errors don't tell: the fenced key writes still guard.
        let fences: Vec<crate::ports::Fence> = ours.iter().map(|lock| lock.fence()).collect();
        matches!(
            self.ctx.kv.write_fenced(&[], &fences).await,
            Err(KvError::LockLost { .. })
        )
    }

    /// Ends once the renewals of a lock of `service` found it lost; never without locks.
    async fn lock_gone(&self, service: &str) {
        let ours = self.locks_of(service);
        if ours.is_empty() {
            return std::future::pending().await;
        }
        while ours.iter().all(|lock| lock.is_held()) {
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// The deploy locks of `service` this run holds (none in a run without locks).
    pub(super) fn locks_of(&self, service: &str) -> Vec<&'a dyn LockGuard> {
        self.locks
            .iter()
            .filter(|(s, _)| s == service)
            .map(|(_, lock)| *lock)
            .collect()
    }

    /// Runs every service plan in order. Stops at the first service that fails (after its
    /// failure handling); services already done stay done.
    pub async fn run(&self, plan: &Plan) -> Result<Outcome, Error> {
        let start = self.ctx.clock.now();
        for warning in &plan.warnings {
            self.ctx.sink.emit(&Event::Warning {
                service: None,
                message: warning.clone(),
            });
        }
        let changing = plan
            .services
            .iter()
            .filter(|s| !s.up_to_date && !s.steps.is_empty())
            .count();
        if changing > 1 {
            let result = self.run_release(plan).await;
            let duration = self.ctx.clock.now().saturating_duration_since(start);
            let result = result.map(|services| Outcome { services, duration });
            self.ctx.sink.emit(&Event::DeployFinished {
                result: run_result(&result),
                duration_ms: millis(duration),
            });
            return result;
        }
        let mut services = Vec::new();
        let mut failed = None;
        for service in &plan.services {
            match self.run_service(plan, service).await {
                Ok(result) => services.push(ServiceOutcome {
                    service: service.service.clone(),
                    result,
                }),
                Err(e) => {
                    failed = Some(with_done_services(e, &services));
                    break;
                }
            }
        }
        let duration = self.ctx.clock.now().saturating_duration_since(start);
        let result = match failed {
            Some(e) => Err(e),
            None => Ok(Outcome { services, duration }),
        };
        self.ctx.sink.emit(&Event::DeployFinished {
            result: run_result(&result),
            duration_ms: millis(duration),
        });
        result
    }

    async fn run_service(
        &self,
        plan: &Plan,
        service: &ServicePlan,
    ) -> Result<ServiceResult, Error> {
        self.announce(service);
        if service.up_to_date || service.steps.is_empty() {
            return Ok(ServiceResult::UpToDate);
        }
        let mut run = ServiceRun::new(plan, service, &self.ctx.options.health_rules);
        self.snapshot(&mut run).await?;
        self.record(&run, RunState::Running, "").await;
        let result = match self.run_steps(&mut run, service.steps.len(), None).await {
            Ok(Reached::End(r)) => Ok(r),
            // Without a halt signal a run only stops at its end.
            Ok(Reached::Halted) => Err(self.ctx.interrupted(&run, run.steps_done)),
            Err(e) => Err(e),
        };
        self.finish_record(&run, &result).await;
        result
    }

    /// Says what is about to happen to `service`: its plan and warnings.
    pub(super) fn announce(&self, service: &ServicePlan) {
        self.ctx.sink.emit(&Event::PlanStarted {
            service: service.service.clone(),
            strategy: service.strategy,
            from: service.from.clone(),
            to: service.to.clone(),
            steps: service.steps.len(),
        });
        for warning in &service.warnings {
            self.ctx.sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: warning.clone(),
            });
        }
    }

    /// Keeps the progress record in line with how the run of a service ended.
    pub(super) async fn finish_record(
        &self,
        run: &ServiceRun<'_>,
        result: &Result<ServiceResult, Error>,
    ) {
        match result {
            Ok(ServiceResult::Done { .. }) | Err(Error::RolledBack { .. }) => {
                self.clear_record(run).await;
            }
            Ok(ServiceResult::AwaitingPromotion { message, .. }) => {
                self.record(run, RunState::AwaitingPromotion, message).await;
            }
            Err(Error::Interrupted { message, .. }) => {
                self.record(run, RunState::Interrupted, message).await;
            }
            Err(Error::NeedsAttention { message, .. }) => {
                self.record(run, RunState::NeedsAttention, message).await;
            }
            _ => {}
        }
    }

    /// Runs the steps from where `run` stands up to (not including) `end`. With `halt`, stops
    /// at the next safe point once it fires (another service of the release failed).
    pub(super) async fn run_steps(
        &self,
        run: &mut ServiceRun<'_>,
        end: usize,
        halt: Option<&CancellationToken>,
    ) -> Result<Reached, Error> {
        let service = run.service;
        let total = service.steps.len();
        let mut index = run.steps_done;
        while index < end.min(total) {
            let step = &service.steps[index];
            // A safe point: between steps nothing is half-done.
            if self.ctx.cancel.is_cancelled() {
                return Err(self.ctx.interrupted(run, index));
            }
            if halt.is_some_and(CancellationToken::is_cancelled) {
                return Ok(Reached::Halted);
            }
            if changes_something(&step.action) && self.lock_lost_for(&service.service).await {
                return Err(self.ctx.lock_lost(run, index, None));
            }
            self.ctx.sink.emit(&Event::StepStarted {
                service: service.service.clone(),
                index: index + 1,
                total,
                action: action_kind(&step.action).to_string(),
                summary: summarize(&step.action),
                reason: step.reason.clone(),
            });
            let started = self.ctx.clock.now();
            let outcome = if changes_something(&step.action) {
                self.step(run, step).await
            } else {
                // A wait changes nothing: once the lock is someone else's there is nothing
                // left to wait for (a paused process wakes up here).
                tokio::select! {
                    r = self.step(run, step) => r,
                    () = self.lock_gone(&service.service) => Err(StepError::LockLost(
                        format!("while: {}", summarize(&step.action)),
                    )),
                    () = halted(halt) => return Ok(Reached::Halted),
                }
            };
            match outcome {
                Ok(done) => {
                    self.ctx.sink.emit(&Event::StepFinished {
                        service: service.service.clone(),
                        index: index + 1,
                        total,
                        action: action_kind(&step.action).to_string(),
                        summary: summarize(&step.action),
                        elapsed_ms: millis(self.ctx.clock.now().saturating_duration_since(started)),
                    });
                    index += 1;
                    run.steps_done = index;
                    if let Some(on_switch) = self.on_switch
                        && switches_to_target(service, &step.action)
                    {
                        on_switch.switched(service).await;
                    }
                    if let StepDone::AwaitPromotion = done {
                        let message = format!(
                            "{} {} runs as a canary and waits: `shipctl promote {}` to go on, \
                             `shipctl abort {}` to go back",
                            service.to.zone, service.to.version, service.service, service.service
                        );
                        self.ctx.sink.emit(&Event::Paused {
                            service: service.service.clone(),
                            message: message.clone(),
                        });
                        return Ok(Reached::End(ServiceResult::AwaitingPromotion {
                            to: service.to.clone(),
                            steps_done: index,
                            message,
                        }));
                    }
                }
                Err(StepError::Interrupted) => return Err(self.ctx.interrupted(run, index)),
                Err(StepError::OutcomeUnknown(why)) => {
                    return Err(self.ctx.outcome_unknown(run, &why));
                }
                Err(StepError::LockLost(why)) => {
                    return Err(self.ctx.lock_lost(run, index, Some(why)));
                }
                Err(StepError::Failed(failure)) if is_cleanup_after_flip(run, step) => {
                    return Err(self.ctx.cleanup_failed(run, step, failure));
                }
                Err(StepError::Failed(failure)) => {
                    // Undoing is changing too: once the lock is someone else's, the zones may
                    // be theirs.
                    if self.lock_lost_for(&service.service).await {
                        return Err(self.ctx.lock_lost(run, index, Some(failure.describe())));
                    }
                    // Ok = the user chose to retry the step.
                    self.ctx.handle_failure(run, index, step, failure).await?;
                }
            }
        }
        Ok(Reached::End(ServiceResult::Done {
            to: service.to.clone(),
        }))
    }

    /// Records where this service's deploy stands (best effort: the deploy goes on without).
    pub(super) async fn record(&self, run: &ServiceRun<'_>, state: RunState, message: &str) {
        let service = run.service;
        let record = ProgressRecord {
            service: service.service.clone(),
            strategy: service.strategy,
            from: service.from.clone(),
            to: service.to.clone(),
            state,
            steps_done: run.steps_done,
            total_steps: service.steps.len(),
            next_step: service
                .steps
                .get(run.steps_done)
                .map(|s| summarize(&s.action)),
            message: message.to_string(),
            updated_at: super::record::unix_seconds(self.ctx.clock.wall()),
        };
        let Ok(value) = serde_json::to_string(&record) else {
            return;
        };
        if let Err(e) = self.ctx.kv.put(&service.keys.progress, &value).await {
            self.ctx.sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: format!(
                    "could not record the progress in {}: {e}",
                    service.keys.progress
                ),
            });
        }
    }

    /// The deploy is over (done or rolled back): nothing is left to resume.
    pub(super) async fn clear_record(&self, run: &ServiceRun<'_>) {
        let key = &run.service.keys.progress;
        if let Err(e) = self.ctx.kv.delete(key).await {
            self.ctx.sink.emit(&Event::Warning {
                service: Some(run.service.service.clone()),
                message: format!("could not clear the progress record {key}: {e}"),
            });
        }
    }

    /// Records the zones as they are before anything changes.
    pub(super) async fn snapshot(&self, run: &mut ServiceRun<'_>) -> Result<(), Error> {
        let names = run.zone_names();
        let observed = self
            .ctx
            .cluster
            .observe_zones(&run.plan.project, &run.service.service, &names)
            .await
            .map_err(|e| Error::Unavailable {
                message: format!(
                    "cannot read the zones of {} before deploying: {e}",
                    run.service.service
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
        self.ctx.forget_ended_tasks(run, &existing).await;
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
        let seen = run.plan.observed.services.get(&run.service.service);
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
                    self.ctx.cluster.ensure_network(name, &network)
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
                    service: run.service.service.clone(),
                    zone: zone.clone(),
                    service_name: service.clone(),
                    definition: run.service.definition.clone(),
                    image: image.clone(),
                    version: version.clone(),
                    replicas: *replicas,
                    networks: run.plan.networks.clone(),
                    secrets: run.plan.secrets.clone(),
                    configs: run.plan.configs.clone(),
                };
                self.cluster_call(&format!("applying {service}"), || {
                    self.ctx.cluster.apply_zone(&target)
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
                    self.ctx.cluster.scale(service, *replicas)
                })
                .await?;
            }
            Action::WaitHealthy {
                zone,
                service,
                replicas,
                version,
                timeout,
                min_healthy,
            } => {
                let gate = Gate {
                    zone,
                    service_name: service,
                    version: Some(version),
                    replicas: *replicas,
                    timeout: *timeout,
                    min_healthy: *min_healthy,
                    cancellable: true,
                };
                self.ctx.wait_healthy(run, &gate).await?;
            }
            Action::WriteKeys { writes } => self.write_keys(run, writes).await?,
            Action::WaitRouter { timeout } => self.ctx.wait_router(run, *timeout).await?,
            Action::WaitDrain { duration } => self.ctx.sleep(*duration).await?,
            Action::WaitStopped {
                service,
                replicas,
                timeout,
                ..
            } => self.ctx.wait_stopped(service, *replicas, *timeout).await?,
            Action::Pause {
                duration: Some(duration),
            } => self.pause(run, *duration).await?,
            Action::Pause { duration: None } => return Ok(StepDone::AwaitPromotion),
            Action::Analyze {
                zone,
                version,
                analysis,
                bake,
            } => {
                let phase = if bake.is_some() { "bake" } else { "canary" };
                self.ctx
                    .analyze(run, zone, version, analysis.as_ref(), *bake, phase)
                    .await?;
            }
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
                    self.ctx.sink.emit(&Event::Warning {
                        service: None,
                        message: format!(
                            "{what}: {e}; retrying in {}",
                            crate::spec::duration::format(delay)
                        ),
                    });
                    self.ctx.sleep(delay).await?;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(StepFailure::cluster(what.to_string(), e).into()),
            }
        }
    }

    /// A timed pause (canary step): the new zone's health is still watched.
    async fn pause(&self, run: &ServiceRun<'_>, duration: Duration) -> Result<(), StepError> {
        let end = self.ctx.clock.now() + duration;
        loop {
            let now = self.ctx.clock.now();
            if now >= end {
                return Ok(());
            }
            self.ctx
                .sleep((end - now).min(self.ctx.options.pause_check))
                .await?;
            let zone = &run.service.to.zone;
            if let Some(track) = run.zones.get(zone).filter(|t| t.desired > 0) {
                let report = self.ctx.check_zone(run, track).await;
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
        self.check_targets(run, writes).await?;
        self.keep_originals(run).await?;
        let originals = run.original_keys.clone().unwrap_or_default();
        self.commit(writes, &originals, Some(&run.service.service))
            .await?;
        for w in writes {
            run.written.insert(w.key.clone(), w.value.clone());
        }
        Ok(())
    }

    /// Refuses a key write that sends traffic to a zone without healthy tasks right now, or
    /// one failing (a crash loop, an image missing). A zone with fewer healthy tasks than
    /// desired still serves: Swarm replaces a task at any time (a node lost, a probe that
    /// timed out), and refusing then would fail a release over the old zone's routine churn.
    pub(super) async fn check_targets(
        &self,
        run: &ServiceRun<'_>,
        writes: &[KeyWrite],
    ) -> Result<(), StepError> {
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
                .ctx
                .check_zone_now(run, &track)
                .await
                .map_err(|e| StepFailure::cluster(format!("checking {zone}"), e))?;
            let failing = matches!(report.status, super::health::HealthStatus::Failing(_));
            if track.desired == 0 || report.counts.running == 0 || failing {
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
        Ok(())
    }

    /// Reads, once, the values the plan's keys hold before its first write: what a rollback
    /// restores, and what a read-back after a lost answer compares with.
    pub(super) async fn keep_originals(&self, run: &mut ServiceRun<'_>) -> Result<(), StepError> {
        if run.original_keys.is_some() {
            return Ok(());
        }
        let mut originals = Vec::new();
        for key in run.planned_keys() {
            let entry = self
                .ctx
                .kv
                .get(&key)
                .await
                .map_err(|e| StepFailure::kv(&e))?;
            originals.push((key, entry.map(|e| e.value)));
        }
        run.original_keys = Some(originals);
        Ok(())
    }

    /// Writes `writes` all-or-nothing. A refusal (conflict, denied) means nothing was
    /// written; a lost answer (timeout, reset, store gone) may hide a write that happened, so
    /// the keys are read back (against `originals`) before anything is undone.
    pub(super) async fn commit(
        &self,
        writes: &[KeyWrite],
        originals: &[(String, Option<String>)],
        service: Option<&str>,
    ) -> Result<(), StepError> {
        let Err(e) = self.ctx.kv.write_atomic(writes).await else {
            return Ok(());
        };
        if let KvError::LockLost { .. } = e {
            return Err(StepError::LockLost(format!(
                "writing the routing keys: {e}"
            )));
        }
        if matches!(e, KvError::Conflict { .. } | KvError::Denied { .. }) {
            return Err(StepFailure::kv(&e).into());
        }
        match self.read_back(writes, originals).await {
            ReadBack::Written => {
                self.ctx.sink.emit(&Event::Warning {
                    service: service.map(str::to_string),
                    message: format!(
                        "the answer to the key write was lost ({e}); read back: the keys hold the new values, going on"
                    ),
                });
                Ok(())
            }
            ReadBack::NotWritten => Err(StepFailure::kv(&e).into()),
            ReadBack::Unknown(why) => Err(StepError::OutcomeUnknown(format!(
                "writing the routing keys: {e}; reading them back: {why}"
            ))),
        }
    }

    /// After a key write whose answer was lost: were the keys written? Asks until
    /// `READ_BACK` has passed (not cancellable: the answer decides what is safe to undo).
    async fn read_back(
        &self,
        writes: &[KeyWrite],
        originals: &[(String, Option<String>)],
    ) -> ReadBack {
        let deadline = self.ctx.clock.now() + READ_BACK;
        let original = |key: &str| {
            originals
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.clone())
        };
        loop {
            let mut values = Vec::with_capacity(writes.len());
            let mut why = None;
            for w in writes {
                // A store that hangs must not stretch the read-back past its deadline.
                let left = deadline.saturating_duration_since(self.ctx.clock.now());
                let read = tokio::time::timeout(left.max(READ_BACK_POLL), self.ctx.kv.get(&w.key));
                match read.await {
                    Ok(Ok(entry)) => values.push(entry.map(|e| e.value)),
                    Ok(Err(e)) => {
                        why = Some(e.to_string());
                        break;
                    }
                    Err(_) => {
                        why = Some(format!(
                            "no answer within {}",
                            crate::spec::duration::format(READ_BACK)
                        ));
                        break;
                    }
                }
            }
            if why.is_none() {
                let all = |f: &dyn Fn(&KeyWrite, &Option<String>) -> bool| {
                    writes.iter().zip(&values).all(|(w, v)| f(w, v))
                };
                if all(&|w, v| v.as_deref() == Some(w.value.as_str())) {
                    return ReadBack::Written;
                }
                if all(&|w, v| *v == original(&w.key)) {
                    return ReadBack::NotWritten;
                }
                why = Some("the keys hold neither the old nor the new values".into());
            }
            let why = why.unwrap_or_default();
            if self.ctx.clock.now() >= deadline {
                return ReadBack::Unknown(why);
            }
            self.ctx.clock.sleep(READ_BACK_POLL).await;
        }
    }
}

/// True for scaling down a zone that no longer gets traffic once the keys were flipped to
/// the new zone: failing there is no reason to undo a deploy that works.
pub(super) fn is_cleanup_after_flip(run: &ServiceRun<'_>, step: &Step) -> bool {
    let Action::Scale { zone, replicas, .. } = &step.action else {
        return false;
    };
    let flipped = run.written.get(&run.service.keys.active_zone) == Some(&run.service.to.zone);
    let before = run.before.get(zone).map_or(0, |z| z.desired);
    flipped && *zone != run.service.to.zone && *replicas < before
}

/// How often a wait looks at whether the lock is still held (a local flag, no request).
const LOCK_POLL: Duration = Duration::from_millis(250);

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

/// Adds to a failure which services were deployed before it.
pub(super) fn with_done_services(e: Error, done: &[ServiceOutcome]) -> Error {
    if done.is_empty() {
        return e;
    }
    let names: Vec<&str> = done.iter().map(|s| s.service.as_str()).collect();
    e.with_note(&format!(" (already deployed: {})", names.join(", ")))
}

/// True for the key write that makes the plan's target live: the active zone for zones, the
/// version key for a service in place (its new tasks already serve).
pub(super) fn switches_to_target(service: &ServicePlan, action: &Action) -> bool {
    let in_place = service.to.zone == IN_PLACE;
    matches!(action, Action::WriteKeys { writes }
    if writes.iter().any(|w| {
        (w.key == service.keys.active_zone && w.value == service.to.zone)
            || (in_place && w.key == service.keys.active_version)
    }))
}

#[cfg(test)]
impl Executor<'_> {
    /// The executor's cancellable sleep, for tests of cancellation.
    pub(super) async fn sleep(&self, duration: Duration) -> Result<(), StepError> {
        self.ctx.sleep(duration).await
    }
}

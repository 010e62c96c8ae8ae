//! Failure handling: the policy (rollback, pause, prompt), the rollback itself, and the
//! errors that tell the user where things stand.

use std::time::Duration;

use super::executor::Executor;
use super::gate::Gate;
use super::track::ServiceRun;
use super::{Decision, Event, FailureCause, FailureReport};
use crate::error::Error;
use crate::plan::Step;
use crate::ports::KvError;
use crate::ports::{ClusterError, KeyWrite};
use crate::spec::model::OnFailure;

/// Why a step did not complete.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StepFailure {
    /// What was being done (`green did not become healthy`).
    pub context: String,
    pub cause: FailureCause,
    pub task_errors: Vec<String>,
}

impl StepFailure {
    pub fn cluster(context: String, e: ClusterError) -> StepFailure {
        StepFailure {
            context,
            cause: FailureCause::Cluster {
                detail: e.to_string(),
            },
            task_errors: Vec::new(),
        }
    }

    pub fn kv(e: &KvError) -> StepFailure {
        StepFailure {
            context: "writing the routing keys".into(),
            cause: FailureCause::Kv {
                detail: e.to_string(),
            },
            task_errors: Vec::new(),
        }
    }

    fn describe(&self) -> String {
        format!("{}: {}", self.context, self.cause)
    }
}

pub(super) enum StepError {
    /// The cancellation token fired; the step stopped at a safe point.
    Interrupted,
    Failed(StepFailure),
}

impl From<StepFailure> for StepError {
    fn from(f: StepFailure) -> StepError {
        StepError::Failed(f)
    }
}

fn with_task_errors(mut message: String, errors: &[String]) -> String {
    for e in errors {
        message.push_str("\n  ");
        message.push_str(e);
    }
    message
}

impl Executor<'_> {
    /// Applies the failure policy. `Ok` = retry the step (the user chose to keep waiting).
    pub(super) async fn handle_failure(
        &self,
        run: &mut ServiceRun<'_>,
        index: usize,
        step: &Step,
        failure: StepFailure,
    ) -> Result<(), Error> {
        let service = run.sp.service.clone();
        self.sink.emit(&Event::Failure {
            service: service.clone(),
            cause: failure.cause.clone(),
            message: failure.describe(),
            task_errors: failure.task_errors.clone(),
        });
        let interactive = self.decider.interactive();
        let policy = match run.sp.policy.on_failure {
            // Nobody can answer a prompt without a terminal.
            Some(OnFailure::Prompt) | None if interactive => OnFailure::Prompt,
            Some(OnFailure::Prompt) | None => OnFailure::Rollback,
            Some(p) => p,
        };
        let decision = match policy {
            OnFailure::Rollback => Decision::Rollback,
            OnFailure::Pause => Decision::Leave,
            OnFailure::Prompt => {
                let report = FailureReport {
                    service: service.clone(),
                    step: super::summary::summarize(&step.action),
                    cause: failure.cause.clone(),
                    task_errors: failure.task_errors.clone(),
                    situation: format!("now: {}; {}", run.zones_state(), run.keys_state()),
                };
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => return Err(self.interrupted(run, index)),
                    d = self.decider.decide(&report) => d,
                }
            }
        };
        match decision {
            Decision::KeepWaiting => {
                self.sink.emit(&Event::Warning {
                    service: Some(service),
                    message: format!("retrying: {}", super::summary::summarize(&step.action)),
                });
                // The failures seen so far were answered; only new ones count from here.
                let services: Vec<String> = run
                    .zones
                    .values()
                    .filter(|z| z.exists)
                    .map(|z| z.service_name.clone())
                    .collect();
                self.forget_ended_tasks(run, &services).await;
                Ok(())
            }
            Decision::Leave => Err(self.left_as_is(run, &failure, policy)),
            Decision::Rollback => Err(self.rollback(run, &failure).await),
        }
    }

    /// The deploy worked but the old zone could not be scaled down.
    pub(super) fn cleanup_failed(
        &self,
        run: &ServiceRun<'_>,
        step: &Step,
        failure: StepFailure,
    ) -> Error {
        let service = &run.sp.service;
        self.sink.emit(&Event::Failure {
            service: service.clone(),
            cause: failure.cause.clone(),
            message: failure.describe(),
            task_errors: failure.task_errors.clone(),
        });
        let fix = match &step.action {
            crate::plan::Action::Scale {
                service: name,
                replicas,
                ..
            } => format!("`docker service scale {name}={replicas}` finishes it"),
            _ => "run the same `shipctl deploy` again to finish".to_string(),
        };
        Error::NeedsAttention {
            message: format!(
                "{service} {} {} is deployed and serves, but {}",
                run.sp.to.zone,
                run.sp.to.version,
                failure.describe()
            ),
            help: Some(format!("{fix}; nothing else is left to do")),
        }
    }

    fn headline(run: &ServiceRun<'_>, failure: &StepFailure) -> String {
        format!(
            "deploy of {} {} failed: {}",
            run.sp.service,
            run.sp.to.version,
            failure.describe()
        )
    }

    fn left_as_is(&self, run: &ServiceRun<'_>, failure: &StepFailure, policy: OnFailure) -> Error {
        let why = if policy == OnFailure::Pause {
            "on_failure: pause"
        } else {
            "as asked"
        };
        let service = &run.sp.service;
        let message = format!("{}; left as it is ({why})", Self::headline(run, failure));
        self.sink.emit(&Event::Paused {
            service: service.clone(),
            message: message.clone(),
        });
        Error::NeedsAttention {
            message: with_task_errors(message, &failure.task_errors),
            help: Some(format!(
                "now: {}; {}. Once fixed, run the same `shipctl deploy` again to resume, or \
                 `shipctl abort {service}` to go back",
                run.zones_state(),
                run.keys_state()
            )),
        }
    }

    /// The deploy lock was lost: stop without touching anything more.
    pub(super) fn lock_lost(&self, run: &ServiceRun<'_>, index: usize) -> Error {
        let service = &run.sp.service;
        let message = format!(
            "{service}: lost the deploy lock ({}) before step {}/{}; stopped without further changes",
            run.sp.keys.lock,
            index + 1,
            run.sp.steps.len()
        );
        self.sink.emit(&Event::Paused {
            service: service.clone(),
            message: message.clone(),
        });
        Error::NeedsAttention {
            message,
            help: Some(format!(
                "another deploy may be running (`shipctl status {service}` shows the lock holder); now: {}; {}",
                run.zones_state(),
                run.keys_state()
            )),
        }
    }

    /// The error for a cancelled run, saying where it stopped and how to go on or back.
    pub(super) fn interrupted(&self, run: &ServiceRun<'_>, index: usize) -> Error {
        let service = &run.sp.service;
        let total = run.sp.steps.len();
        let at = run.sp.steps.get(index).map_or_else(
            || "the end".to_string(),
            |s| {
                format!(
                    "step {}/{total} ({})",
                    index + 1,
                    super::summary::summarize(&s.action)
                )
            },
        );
        let message = format!("{service}: interrupted at {at}; {}", run.keys_state());
        self.sink.emit(&Event::Interrupted {
            service: Some(service.clone()),
            message: message.clone(),
        });
        Error::Interrupted {
            message,
            help: Some(format!(
                "stopped at a safe point: {}. Run the same `shipctl deploy` again to resume, or \
                 `shipctl abort {service}` to go back (`shipctl rollback {service}` once traffic \
                 has moved)",
                run.zones_state()
            )),
        }
    }

    /// Puts the zones and keys back as they were before the plan. Never points the keys at a
    /// zone without healthy tasks, and never scales down a zone the keys still point at.
    pub(super) async fn rollback(&self, run: &mut ServiceRun<'_>, failure: &StepFailure) -> Error {
        let service = run.sp.service.clone();
        self.sink.emit(&Event::RollbackStarted {
            service: service.clone(),
            reason: failure.describe(),
        });
        let mut problems: Vec<String> = Vec::new();
        let timeout = run.sp.policy.health.timeout;

        // 1. Give back the capacity the plan took from zones (the old zone in canary/rolling),
        //    before anything else, so the old version can carry all traffic again.
        let mut raised = Vec::new();
        for (zone, before) in run.before.clone() {
            let Some(now) = run.zones.get(&zone).cloned() else {
                continue;
            };
            if before.exists && now.desired < before.desired {
                match self
                    .cluster
                    .scale(&before.service_name, before.desired)
                    .await
                {
                    Ok(()) => {
                        if let Some(z) = run.zones.get_mut(&zone) {
                            z.desired = before.desired;
                        }
                        raised.push(zone);
                    }
                    Err(e) => problems.push(format!(
                        "could not scale {} back to {}: {e}",
                        before.service_name, before.desired
                    )),
                }
            }
        }
        for zone in &raised {
            let Some(before) = run.before.get(zone).cloned() else {
                continue;
            };
            // Not cancellable: a rollback that stops halfway helps nobody.
            let gate = Gate {
                zone,
                version: before.version.as_deref(),
                replicas: before.desired,
                timeout,
                min_healthy: Duration::ZERO,
                cancellable: false,
            };
            if let Err(StepError::Failed(f)) = self.wait_healthy(run, &gate).await {
                problems.push(format!("{zone} did not become healthy again: {}", f.cause));
            }
        }

        // 2. Routing keys back to their values before the plan, in one atomic write.
        let mut keys_restored = run.written.is_empty();
        if !keys_restored {
            let originals = run.original_keys.clone().unwrap_or_default();
            let restore: Vec<KeyWrite> = originals
                .iter()
                .filter(|(k, _)| run.written.contains_key(k))
                .filter_map(|(k, v)| {
                    v.as_ref().map(|v| KeyWrite {
                        key: k.clone(),
                        value: v.clone(),
                    })
                })
                .collect();
            let mut safe = true;
            for zone in run.traffic_targets(&restore) {
                let healthy = match run.zones.get(&zone).cloned() {
                    Some(track) if track.desired > 0 => self
                        .check_zone(run, &track)
                        .await
                        .is_ok_and(|r| r.is_healthy()),
                    _ => false,
                };
                if !healthy {
                    safe = false;
                    problems.push(format!(
                        "did not point the routing keys back at {zone}: it has no healthy tasks"
                    ));
                }
            }
            if safe {
                // Nothing to write back when every key is new (a first deploy).
                let written = if restore.is_empty() {
                    Ok(())
                } else {
                    self.kv.write_atomic(&restore).await
                };
                match written {
                    Ok(()) => {
                        keys_restored = true;
                        // Keys that did not exist before the plan are removed again.
                        for (key, _) in originals
                            .iter()
                            .filter(|(k, v)| v.is_none() && run.written.contains_key(k))
                        {
                            if let Err(e) = self.kv.delete(key).await {
                                problems.push(format!("could not delete key {key}: {e}"));
                            }
                        }
                        run.written.clear();
                    }
                    Err(e) => problems.push(format!("could not restore the routing keys: {e}")),
                }
            }
        }

        // 3. Take back what the plan added, once no traffic is sent there.
        if keys_restored {
            for (zone, before) in run.before.clone() {
                let Some(now) = run.zones.get(&zone).cloned() else {
                    continue;
                };
                if now.desired > before.desired {
                    match self.cluster.scale(&now.service_name, before.desired).await {
                        Ok(()) => {
                            if let Some(z) = run.zones.get_mut(&zone) {
                                z.desired = before.desired;
                            }
                        }
                        // The service never came to exist: nothing to take back.
                        Err(ClusterError::NotFound(_)) if !before.exists => {}
                        Err(e) => problems.push(format!(
                            "could not scale {} back to {}: {e}",
                            now.service_name, before.desired
                        )),
                    }
                }
                if before.exists && before.desired > 0 && now.version != before.version {
                    problems.push(format!(
                        "{zone} now runs {} instead of {}",
                        now.version.as_deref().unwrap_or("?"),
                        before.version.as_deref().unwrap_or("?")
                    ));
                }
            }
        } else {
            problems.push(format!(
                "left {} as it is because the routing keys still point at it",
                run.sp.to.zone
            ));
        }

        let ok = problems.is_empty();
        let serving = match &run.sp.from {
            Some(from) => format!("{} {} serves", from.zone, from.version),
            None => format!("nothing served {service} before this deploy"),
        };
        let summary = if ok {
            format!("rolled back: {serving}")
        } else {
            format!("rollback incomplete: {}", problems.join("; "))
        };
        self.sink.emit(&Event::RollbackFinished {
            service: service.clone(),
            ok,
            message: summary.clone(),
        });
        let headline = Self::headline(run, failure);
        if ok {
            let to = &run.sp.to.zone;
            let replicas = run.before.get(to).map_or(0, |z| z.desired);
            let mut help = format!("{serving}; {to} is back to {replicas} replicas");
            if let Some(hint) = failure.cause.hint() {
                help.push_str(". ");
                help.push_str(hint);
            }
            Error::RolledBack {
                message: with_task_errors(format!("{headline}; rolled back"), &failure.task_errors),
                help: Some(help),
            }
        } else {
            Error::NeedsAttention {
                message: with_task_errors(format!("{headline}; {summary}"), &failure.task_errors),
                help: Some(format!(
                    "now: {}; {}. `shipctl status {service}` shows the details; \
                     `shipctl rollback {service}` tries again",
                    run.zones_state(),
                    run.keys_state()
                )),
            }
        }
    }
}

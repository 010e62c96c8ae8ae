//! Failure handling: the policy (rollback, pause, prompt), the rollback itself, and the
//! errors that tell the user where things stand.

use super::context::Context;
use super::step_error::{StepFailure, with_task_errors};
use super::track::ServiceRun;
use super::{Decision, Event, FailureReport};
use crate::error::Error;
use crate::plan::Step;
use crate::spec::model::OnFailure;

impl Context<'_> {
    /// Applies the failure policy. `Ok` = retry the step (the user chose to keep waiting).
    pub(super) async fn handle_failure(
        &self,
        run: &mut ServiceRun<'_>,
        index: usize,
        step: &Step,
        failure: StepFailure,
    ) -> Result<(), Error> {
        let service = run.service.service.clone();
        self.sink.emit(&Event::Failure {
            service: service.clone(),
            cause: failure.cause.clone(),
            message: failure.describe(),
            task_errors: failure.task_errors.clone(),
        });
        let interactive = self.decider.interactive();
        let policy = match run.service.policy.on_failure {
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
        let service = &run.service.service;
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
                run.service.to.zone,
                run.service.to.version,
                failure.describe()
            ),
            help: Some(format!("{fix}; nothing else is left to do")),
        }
    }

    pub fn headline(run: &ServiceRun<'_>, failure: &StepFailure) -> String {
        format!(
            "deploy of {} {} failed: {}",
            run.service.service,
            run.service.to.version,
            failure.describe()
        )
    }

    fn left_as_is(&self, run: &ServiceRun<'_>, failure: &StepFailure, policy: OnFailure) -> Error {
        let why = if policy == OnFailure::Pause {
            "on_failure: pause"
        } else {
            "as asked"
        };
        let service = &run.service.service;
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

    /// A key write whose outcome stays unknown: the keys may point at either zone, so both
    /// keep running and the user is told what to check.
    pub fn outcome_unknown(&self, run: &ServiceRun<'_>, why: &str) -> Error {
        let service = &run.service.service;
        let message = format!(
            "{service}: could not tell whether the switch to {} {} was written ({why}); nothing was scaled down",
            run.service.to.zone, run.service.to.version
        );
        self.stopped(
            service,
            message,
            format!(
                "both zones keep their tasks; once the KV store answers, `shipctl status {service}` shows where the keys point: run the same `shipctl deploy` again to finish, or `shipctl abort {service}` to go back; now: {}",
                run.zones_state()
            ),
        )
    }

    /// The run stops on purpose and waits for the user: said as an event, returned as the
    /// error (exit 3) with what to do.
    fn stopped(&self, service: &str, message: String, help: String) -> Error {
        self.sink.emit(&Event::Paused {
            service: service.to_string(),
            message: message.clone(),
        });
        Error::NeedsAttention {
            message,
            help: Some(help),
        }
    }

    /// The deploy lock was lost: stop without touching anything more.
    pub(super) fn lock_lost(
        &self,
        run: &ServiceRun<'_>,
        index: usize,
        during: Option<String>,
    ) -> Error {
        let service = &run.service.service;
        let at = match during {
            Some(what) => format!("at step {}/{} ({what})", index + 1, run.service.steps.len()),
            None => format!("before step {}/{}", index + 1, run.service.steps.len()),
        };
        let message = format!(
            "{service}: lost the deploy lock ({}) {at}; stopped without further changes",
            run.service.keys.lock,
        );
        self.stopped(
            service,
            message,
            format!(
                "its renewals failed for a whole TTL (the KV store unreachable) or another deploy took it; `shipctl status {service}` shows the lock holder; now: {}; {}",
                run.zones_state(),
                run.keys_state()
            ),
        )
    }

    /// The error for a cancelled run, saying where it stopped and how to go on or back.
    pub(super) fn interrupted(&self, run: &ServiceRun<'_>, index: usize) -> Error {
        let service = &run.service.service;
        let total = run.service.steps.len();
        let at = run.service.steps.get(index).map_or_else(
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
}

//! The spec's `notify:` webhooks: an [`EventSink`] in front of the UI's that turns the run's
//! events into notifications (started, step, analysis failed, switched, rolled back, paused,
//! done or failed) and queues them for delivery in the background. Nothing here waits for a
//! receiver while the run goes on; [`Notifier::finish`] waits a bounded time at its end.

mod delivery;
mod message;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use delivery::Delivery;
pub use delivery::{Backoff, DRAIN_LIMIT};
use message::{Phase, Subject};

use crate::exec::{Event, EventSink, FailureCause, OnSwitch};
use crate::plan::{Plan, ServicePlan};
use crate::ports::{Action, RunResult};
use crate::spec::model::NotifyTarget;

/// What the notifier knows of the run so far.
#[derive(Default)]
struct State {
    /// The services the plan changes, by name.
    subjects: HashMap<String, Subject>,
    /// Those whose run began, in order: the end of the run is notified for each.
    started: Vec<String>,
    /// The latest failure cause of each service (`healthcheck failing: ...`).
    causes: HashMap<String, String>,
    /// The latest failure of the run and its service, for services undone because of another.
    last_failure: Option<(String, String)>,
}

/// Passes every event on to `inner`, and notifies the webhooks of the phases they want.
pub struct Notifier<'a> {
    inner: &'a dyn EventSink,
    state: Mutex<State>,
    delivery: Option<Delivery>,
}

impl<'a> Notifier<'a> {
    /// A notifier for the run of `plan` (`action` in `project`); without webhooks it only
    /// passes events on.
    /// `env` fills in the `${NAME}` of webhook URLs.
    pub fn start(
        targets: &[NotifyTarget],
        env: &HashMap<String, String>,
        action: Action,
        plan: &Plan,
        inner: &'a dyn EventSink,
    ) -> Notifier<'a> {
        Notifier::with_backoff(targets, env, action, plan, inner, Backoff::DEFAULT)
    }

    pub fn with_backoff(
        targets: &[NotifyTarget],
        env: &HashMap<String, String>,
        action: Action,
        plan: &Plan,
        inner: &'a dyn EventSink,
        backoff: Backoff,
    ) -> Notifier<'a> {
        let subjects = plan
            .services
            .iter()
            .filter(|s| !s.up_to_date && !s.steps.is_empty())
            .map(|s| {
                (
                    s.service.clone(),
                    Subject {
                        project: plan.project.clone(),
                        service: s.service.clone(),
                        action,
                        strategy: s.strategy,
                        from: s.from.clone(),
                        to: s.to.clone(),
                        release: None,
                    },
                )
            })
            .collect();
        let delivery = (!targets.is_empty()).then(|| Delivery::start(targets, env, backoff));
        // A webhook that gets nothing is said before the run, not after it.
        for message in delivery.iter().flat_map(Delivery::take_warnings) {
            inner.emit(&Event::Warning {
                service: None,
                message,
            });
        }
        Notifier {
            inner,
            state: Mutex::new(State {
                subjects,
                ..State::default()
            }),
            delivery,
        }
    }

    /// Waits at most [`DRAIN_LIMIT`] for what is queued, then reports what could not be sent
    /// as warnings: a failed notification never fails the run.
    pub async fn finish(self) {
        let Some(delivery) = self.delivery else {
            return;
        };
        for message in delivery.drain(DRAIN_LIMIT).await {
            self.inner.emit(&Event::Warning {
                service: None,
                message,
            });
        }
    }

    /// Queues the notification of `phase` for `service`, if a webhook wants it.
    fn send(&self, delivery: &Delivery, state: &State, service: &str, phase: Phase<'_>) {
        if !delivery.wants(phase.event()) {
            return;
        }
        if let Some(subject) = state.subjects.get(service) {
            delivery.enqueue(&message::notice(subject, &phase, SystemTime::now()));
        }
    }

    fn observe(&self, delivery: &Delivery, event: &Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            Event::ReleaseStarted { id, .. } => {
                for subject in state.subjects.values_mut() {
                    subject.release = Some(id.clone());
                }
            }
            Event::PlanStarted { service, .. }
                if state.subjects.contains_key(service) && !state.started.contains(service) =>
            {
                state.started.push(service.clone());
                self.send(delivery, &state, service, Phase::Started);
            }
            Event::StepFinished {
                service,
                index,
                total,
                action,
                summary,
                elapsed_ms,
            } => self.send(
                delivery,
                &state,
                service,
                Phase::Step {
                    index: *index,
                    total: *total,
                    action,
                    summary,
                    elapsed_ms: *elapsed_ms,
                },
            ),
            Event::Failure { service, cause, .. } => {
                let text = cause.to_string();
                if let FailureCause::Analysis { .. } = cause {
                    self.send(
                        delivery,
                        &state,
                        service,
                        Phase::AnalysisFailed { cause: &text },
                    );
                }
                state.causes.insert(service.clone(), text.clone());
                state.last_failure = Some((service.clone(), text));
            }
            // Undone because another service of the release failed: that is its cause.
            Event::RollbackStarted { service, reason } if !state.causes.contains_key(service) => {
                let cause = match &state.last_failure {
                    Some((other, cause)) => format!("{other} failed: {cause}"),
                    None => reason.clone(),
                };
                state.causes.insert(service.clone(), cause);
            }
            Event::RollbackFinished {
                service,
                ok,
                message,
            } => {
                let cause = state.causes.get(service).cloned();
                self.send(
                    delivery,
                    &state,
                    service,
                    Phase::RolledBack {
                        ok: *ok,
                        cause: cause.as_deref(),
                        message,
                    },
                );
            }
            Event::Paused { service, message } => {
                self.send(delivery, &state, service, Phase::Paused { message });
            }
            Event::DeployFinished {
                result,
                duration_ms,
            } if *result != RunResult::AwaitingPromotion => {
                for service in &state.started {
                    let cause = state.causes.get(service).cloned().or_else(|| {
                        state
                            .last_failure
                            .as_ref()
                            .map(|(other, cause)| format!("{other} failed: {cause}"))
                    });
                    let cause = cause.filter(|_| *result != RunResult::Done);
                    self.send(
                        delivery,
                        &state,
                        service,
                        Phase::Ended {
                            result: *result,
                            duration_ms: *duration_ms,
                            cause: cause.as_deref(),
                        },
                    );
                }
            }
            _ => {}
        }
    }
}

impl EventSink for Notifier<'_> {
    fn emit(&self, event: &Event) {
        // The user sees the event first; queueing its notification never waits.
        self.inner.emit(event);
        let Some(delivery) = &self.delivery else {
            return;
        };
        self.observe(delivery, event);
        for message in delivery.take_warnings() {
            self.inner.emit(&Event::Warning {
                service: None,
                message,
            });
        }
    }
}

#[async_trait]
impl OnSwitch for Notifier<'_> {
    async fn switched(&self, service: &ServicePlan) {
        let Some(delivery) = &self.delivery else {
            return;
        };
        if let Ok(state) = self.state.lock() {
            self.send(delivery, &state, &service.service, Phase::Switched);
        }
    }
}

/// Two callbacks at the switch, in order: the notification is queued before the `post_switch`
/// hooks run (which the deploy waits for).
pub struct BothOnSwitch<'a>(pub &'a dyn OnSwitch, pub &'a dyn OnSwitch);

#[async_trait]
impl OnSwitch for BothOnSwitch<'_> {
    async fn switched(&self, service: &ServicePlan) {
        self.0.switched(service).await;
        self.1.switched(service).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::NotifyEvent;

    /// The warnings that reach the UI, in order.
    #[derive(Default)]
    struct Warnings(Mutex<Vec<String>>);

    impl EventSink for Warnings {
        fn emit(&self, event: &Event) {
            if let Event::Warning { message, .. } = event
                && let Ok(mut seen) = self.0.lock()
            {
                seen.push(message.clone());
            }
        }
    }

    #[tokio::test]
    async fn a_webhook_whose_variable_is_not_set_is_said_before_the_run() {
        let plan = Plan {
            project: "shop".into(),
            services: Vec::new(),
            networks: Default::default(),
            secrets: Default::default(),
            configs: Default::default(),
            needs: Default::default(),
            observed: Default::default(),
            warnings: Vec::new(),
            fingerprint_salt: None,
        };
        let target = NotifyTarget {
            url: "${SHIPCTL_UNSET_HOOK_URL}".into(),
            events: vec![NotifyEvent::Done],
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
        };
        let ui = Warnings::default();
        let notifier = Notifier::start(&[target], &HashMap::new(), Action::Deploy, &plan, &ui);
        let before_any_event = ui.0.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(
            before_any_event,
            [
                "the webhook ${SHIPCTL_UNSET_HOOK_URL} gets no notifications: the environment \
              variable SHIPCTL_UNSET_HOOK_URL is not set: set it where shipctl runs"
            ]
        );
        notifier.finish().await;
        assert_eq!(ui.0.lock().map(|w| w.len()).unwrap_or(0), 1, "said once");
    }
}

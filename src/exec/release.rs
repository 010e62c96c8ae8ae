//! A release: the services of one run, gated in parallel in `depends_on` order and switched
//! together in one atomic key write once every gate passed: all or nothing.
//!
//! Phases:
//! 1. every zoned service starts its new zone and is gated healthy (up to `parallel` at once, a
//!    service only after the services it depends on); services deployed in place are updated
//!    in that order too;
//! 2. the keys of every zoned service switch in one atomic write (split only where the store
//!    limits a transaction's size);
//! 3. each service drains and scales its old zone down;
//! 4. canary and rolling services, whose traffic moves in several steps, run after, one by one.
//!
//! If a gate fails, nothing has switched: every service of the release goes back (new zones to
//! 0, services in place to their previous spec, in reverse order).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::context::millis;
use super::executor::{Reached, switches_to_target, with_done_services};
use super::step_error::{StepError, StepFailure};
use super::summary::{action_kind, summarize};
use super::track::ServiceRun;
use super::{Event, FailureCause, ServiceOutcome, ServiceResult};
use crate::error::Error;
use crate::plan::{Action, Plan, ServicePlan};
use crate::ports::KeyWrite;
use crate::spec::defaults::IN_PLACE;

/// How a service of a release moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its keys switch with the others': `switch` is the index of its switching key write.
    Together { switch: usize },
    /// One Swarm service updated in place (its tasks serve as soon as they run).
    InPlace,
    /// Traffic moves in several steps (canary, rolling): runs on its own after the switch.
    After,
}

fn kind_of(service: &ServicePlan) -> Kind {
    if service.to.zone == IN_PLACE {
        return Kind::InPlace;
    }
    let switch = service
        .steps
        .iter()
        .position(|s| switches_to_target(service, &s.action));
    let pauses = service
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Pause { .. }));
    match switch {
        Some(switch)
            if !pauses
                && !service.steps[..switch]
                    .iter()
                    .any(|s| matches!(s.action, Action::WriteKeys { .. })) =>
        {
            Kind::Together { switch }
        }
        _ => Kind::After,
    }
}

/// How the first phase of a service ended.
enum Gated {
    /// Reached its switch (or, in place, its end).
    Ready,
    /// Did not start or stopped at a safe point: another service failed.
    Stopped,
    Failed(Error),
}

impl super::Executor<'_> {
    /// Runs a plan of several changing services as one release.
    pub(super) async fn run_release(&self, plan: &Plan) -> Result<Vec<ServiceOutcome>, Error> {
        for service in &plan.services {
            self.announce(service);
        }
        let changing: Vec<&ServicePlan> = plan
            .services
            .iter()
            .filter(|s| !s.up_to_date && !s.steps.is_empty())
            .collect();
        let kinds: HashMap<&str, Kind> = changing
            .iter()
            .map(|s| (s.service.as_str(), kind_of(s)))
            .collect();
        let names_of = |wanted: fn(&Kind) -> bool| -> Vec<String> {
            changing
                .iter()
                .filter(|s| wanted(&kinds[s.service.as_str()]))
                .map(|s| s.service.clone())
                .collect()
        };
        let parallel = self.parallel().max(1);
        self.ctx.sink.emit(&Event::ReleasePlanned {
            together: names_of(|k| matches!(k, Kind::Together { .. })),
            in_place: names_of(|k| *k == Kind::InPlace),
            after: names_of(|k| *k == Kind::After),
            parallel,
        });

        // Every zone is read before anything changes: a cluster that moved since the plan
        // refuses the whole release, with nothing changed.
        let mut runs: Vec<ServiceRun<'_>> = Vec::new();
        for service in changing
            .iter()
            .filter(|s| kinds[s.service.as_str()] != Kind::After)
        {
            let mut run = ServiceRun::new(plan, service, &self.ctx.options.health_rules);
            self.snapshot(&mut run).await?;
            runs.push(run);
        }
        for run in &runs {
            self.record(run, super::RunState::Running, "").await;
        }

        // Phase 1: start and gate, in dependency order, `parallel` at once.
        let halt = CancellationToken::new();
        let permits = Semaphore::new(parallel);
        let mut ready_tx: HashMap<String, watch::Sender<Option<bool>>> = HashMap::new();
        let mut ready_rx: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
        for run in &runs {
            let (tx, rx) = watch::channel(None);
            ready_tx.insert(run.service.service.clone(), tx);
            ready_rx.insert(run.service.service.clone(), rx);
        }
        let first_failed: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let gates = runs.into_iter().map(|mut run| {
            let name = run.service.service.clone();
            let end = match kinds[name.as_str()] {
                Kind::Together { switch } => switch,
                _ => run.service.steps.len(),
            };
            let needs: Vec<watch::Receiver<Option<bool>>> = plan
                .needs
                .get(&name)
                .into_iter()
                .flatten()
                .filter_map(|n| ready_rx.get(n).cloned())
                .collect();
            let tx = ready_tx.remove(&name);
            let (halt, permits, first_failed) = (&halt, &permits, &first_failed);
            async move {
                let gated = self.gate_one(&mut run, end, needs, halt, permits).await;
                let ok = matches!(gated, Gated::Ready);
                if let Gated::Failed(_) = gated {
                    if let Ok(mut first) = first_failed.lock() {
                        first.get_or_insert_with(|| name.clone());
                    }
                    halt.cancel();
                }
                if let Some(tx) = tx {
                    let _ = tx.send(Some(ok));
                }
                (run, gated)
            }
        });
        let gated: Vec<(ServiceRun<'_>, Gated)> = join_all(gates).await;
        let first_failed = first_failed.lock().ok().and_then(|f| f.clone());

        if let Some(failed) = first_failed {
            return Err(self.undo_release(gated, &failed).await);
        }
        let mut runs: Vec<ServiceRun<'_>> = gated.into_iter().map(|(run, _)| run).collect();

        // Phase 2: one switch for every zoned service.
        let mut done: Vec<ServiceOutcome> = Vec::new();
        self.switch_together(&mut runs, &kinds).await?;

        // Phase 3: drain and scale down, `parallel` at once.
        let finishing = runs.iter_mut().map(|run| {
            let permits = &permits;
            async move {
                let result = if run.steps_done >= run.service.steps.len() {
                    Ok(ServiceResult::Done {
                        to: run.service.to.clone(),
                    })
                } else {
                    let _permit = permits.acquire().await;
                    match self.run_steps(run, run.service.steps.len(), None).await {
                        Ok(Reached::End(r)) => Ok(r),
                        Ok(Reached::Halted) => Err(self.ctx.interrupted(run, run.steps_done)),
                        Err(e) => Err(e),
                    }
                };
                self.finish_record(run, &result).await;
                (run.service.service.clone(), result)
            }
        });
        let mut failed: Option<Error> = None;
        for (service, result) in join_all(finishing).await {
            match result {
                Ok(result) => done.push(ServiceOutcome { service, result }),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(with_done_services(e, &done));
        }

        // Phase 4: canary and rolling services, one by one.
        for service in changing
            .iter()
            .filter(|s| kinds[s.service.as_str()] == Kind::After)
        {
            match self.run_changing_service(plan, service).await {
                Ok(result) => done.push(ServiceOutcome {
                    service: service.service.clone(),
                    result,
                }),
                Err(e) => return Err(with_done_services(e, &done)),
            }
        }
        // In the plan's order, with the services that had nothing to do.
        let mut outcomes = Vec::with_capacity(plan.services.len());
        for service in &plan.services {
            if let Some(i) = done.iter().position(|o| o.service == service.service) {
                outcomes.push(done.remove(i));
            } else {
                outcomes.push(ServiceOutcome {
                    service: service.service.clone(),
                    result: ServiceResult::UpToDate,
                });
            }
        }
        Ok(outcomes)
    }

    /// Phase 1 for one service: waits for the services it needs, then for a free slot, then
    /// runs its steps up to `end`.
    async fn gate_one(
        &self,
        run: &mut ServiceRun<'_>,
        end: usize,
        needs: Vec<watch::Receiver<Option<bool>>>,
        halt: &CancellationToken,
        permits: &Semaphore,
    ) -> Gated {
        for mut need in needs {
            let ready = tokio::select! {
                r = need.wait_for(Option::is_some) => r.ok().and_then(|v| *v),
                () = halt.cancelled() => return Gated::Stopped,
            };
            if ready != Some(true) {
                return Gated::Stopped;
            }
        }
        let _permit = tokio::select! {
            p = permits.acquire() => match p {
                Ok(p) => p,
                Err(_) => return Gated::Stopped,
            },
            () = halt.cancelled() => return Gated::Stopped,
        };
        match self.run_steps(run, end, Some(halt)).await {
            Ok(Reached::End(_)) => Gated::Ready,
            Ok(Reached::Halted) => Gated::Stopped,
            Err(e) => Gated::Failed(e),
        }
    }

    /// A gate failed: nothing switched. The failed service already went through its failure
    /// policy; every other service that changed something goes back, the services in place
    /// last and in reverse order (they were updated first).
    async fn undo_release(&self, gated: Vec<(ServiceRun<'_>, Gated)>, failed: &str) -> Error {
        let mut primary: Option<Error> = None;
        let mut others: Vec<Error> = Vec::new();
        // Services whose gate failed too, put back by their own failure policy: said, but
        // nothing about them needs attention.
        let mut failed_too: Vec<Error> = Vec::new();
        let mut back: Vec<String> = Vec::new();
        let mut left: Vec<String> = Vec::new();
        let mut to_undo: Vec<ServiceRun<'_>> = Vec::new();
        for (run, gated) in gated {
            match gated {
                Gated::Failed(e) => {
                    let result = Err(e);
                    self.finish_record(&run, &result).await;
                    let Err(e) = result else { continue };
                    if run.service.service == failed {
                        primary = Some(e);
                    } else if matches!(e, Error::Interrupted { .. }) {
                        left.push(run.service.service.clone());
                    } else if matches!(e, Error::RolledBack { .. }) {
                        failed_too.push(e);
                    } else {
                        others.push(e);
                    }
                }
                Gated::Ready | Gated::Stopped => to_undo.push(run),
            }
        }
        let interrupted = self.ctx.cancel.is_cancelled();
        // Zoned services first (their new zones take no traffic), then in place, newest first.
        to_undo.sort_by_key(|run| run.service.to.zone == IN_PLACE);
        let in_place_at = to_undo
            .iter()
            .position(|run| run.service.to.zone == IN_PLACE)
            .unwrap_or(to_undo.len());
        to_undo[in_place_at..].reverse();
        for mut run in to_undo {
            let name = run.service.service.clone();
            if run.steps_done == 0 {
                self.clear_record(&run).await;
                continue;
            }
            // An interrupted release is resumed, not undone; a service whose lock is gone is
            // someone else's now.
            if interrupted || self.lock_lost_for(&name).await {
                let e = self.ctx.interrupted(&run, run.steps_done);
                self.finish_record(&run, &Err(e)).await;
                left.push(name);
                continue;
            }
            let failure = StepFailure {
                context: format!("{failed} failed in the same release"),
                cause: FailureCause::Refused {
                    detail: "nothing was switched; going back".into(),
                },
                task_errors: Vec::new(),
            };
            let result = Err(self.ctx.rollback(&mut run, &failure).await);
            self.finish_record(&run, &result).await;
            match result {
                Err(Error::RolledBack { .. }) => back.push(name),
                Err(e) => others.push(e),
                Ok(_) => {}
            }
        }
        let primary = primary.unwrap_or_else(|| Error::NeedsAttention {
            message: format!("{failed} failed in the release"),
            help: None,
        });
        release_error(primary, &back, &left, &failed_too, &others)
    }

    /// Phase 2: checks every new zone once more, then writes the switching keys of every
    /// zoned service in one atomic write (several only where the store limits a
    /// transaction's size, each holding whole services).
    async fn switch_together(
        &self,
        runs: &mut [ServiceRun<'_>],
        kinds: &HashMap<&str, Kind>,
    ) -> Result<(), Error> {
        let switching: Vec<usize> = (0..runs.len())
            .filter(|&i| {
                matches!(
                    kinds[runs[i].service.service.as_str()],
                    Kind::Together { .. }
                )
            })
            .collect();
        if switching.is_empty() {
            return Ok(());
        }
        let mut checks: Vec<Result<(), StepError>> = Vec::new();
        for &i in &switching {
            let run = &mut runs[i];
            let index = run.steps_done;
            let step = &run.service.steps[index];
            let Action::WriteKeys { writes } = &step.action else {
                continue;
            };
            self.ctx.sink.emit(&Event::StepStarted {
                service: run.service.service.clone(),
                index: index + 1,
                total: run.service.steps.len(),
                action: action_kind(&step.action).to_string(),
                summary: summarize(&step.action),
                reason: step.reason.clone(),
            });
            let check = if self.ctx.cancel.is_cancelled() {
                Err(StepError::Interrupted)
            } else if self.lock_lost_for(&run.service.service).await {
                Err(StepError::LockLost("before the switch".into()))
            } else {
                match self.check_targets(run, writes).await {
                    Ok(()) => self.keep_originals(run).await,
                    Err(e) => Err(e),
                }
            };
            checks.push(check);
        }
        if let Some(pos) = checks.iter().position(Result::is_err) {
            let i = switching[pos];
            let Some(Err(e)) = checks.into_iter().nth(pos) else {
                return Ok(());
            };
            return Err(self.switch_failed(runs, i, e, &[]).await);
        }

        // Whole services per write, as many as the store takes in one transaction.
        let limit = self.ctx.kv.max_atomic_ops();
        let mut batches: Vec<Vec<usize>> = vec![Vec::new()];
        let mut used = 0;
        for &i in &switching {
            let ops = switch_writes(&runs[i]).len() + self.locks_of(&runs[i].service.service).len();
            if used + ops > limit
                && let Some(last) = batches.last()
                && !last.is_empty()
            {
                batches.push(Vec::new());
                used = 0;
            }
            used += ops;
            if let Some(last) = batches.last_mut() {
                last.push(i);
            }
        }
        let started = self.ctx.clock.now();
        let mut switched: Vec<usize> = Vec::new();
        for batch in &batches {
            let mut writes: Vec<KeyWrite> = Vec::new();
            let mut originals: Vec<(String, Option<String>)> = Vec::new();
            for &i in batch {
                writes.extend(switch_writes(&runs[i]));
                originals.extend(runs[i].original_keys.clone().unwrap_or_default());
            }
            if let Err(e) = self.commit(&writes, &originals, None).await {
                let i = batch[0];
                return Err(self.switch_failed(runs, i, e, &switched).await);
            }
            for &i in batch {
                let run = &mut runs[i];
                for w in switch_writes(run) {
                    run.written.insert(w.key, w.value);
                }
                switched.push(i);
            }
        }
        let window = self.ctx.clock.now().saturating_duration_since(started);
        for &i in &switching {
            let run = &mut runs[i];
            let index = run.steps_done;
            let step = &run.service.steps[index];
            self.ctx.sink.emit(&Event::StepFinished {
                service: run.service.service.clone(),
                index: index + 1,
                total: run.service.steps.len(),
                action: action_kind(&step.action).to_string(),
                summary: summarize(&step.action),
                elapsed_ms: millis(window),
            });
            run.steps_done = index + 1;
        }
        self.ctx.sink.emit(&Event::ReleaseSwitched {
            services: switching
                .iter()
                .map(|&i| runs[i].service.service.clone())
                .collect(),
            writes: batches.len(),
            window_ms: millis(if batches.len() > 1 {
                window
            } else {
                Duration::ZERO
            }),
        });
        if let Some(on_switch) = self.on_switch() {
            for &i in &switching {
                on_switch.switched(runs[i].service).await;
            }
        }
        Ok(())
    }

    /// The switch could not be made (a zone no longer healthy, the store refused): every
    /// service goes back, those already switched (an earlier write of a split switch) first.
    async fn switch_failed(
        &self,
        runs: &mut [ServiceRun<'_>],
        at: usize,
        error: StepError,
        switched: &[usize],
    ) -> Error {
        let failed = runs[at].service.service.clone();
        let failure = match error {
            StepError::Failed(f) => f,
            StepError::Interrupted => {
                let e = self.ctx.interrupted(&runs[at], runs[at].steps_done);
                for run in runs.iter() {
                    self.finish_record(run, &Err(self.ctx.interrupted(run, run.steps_done)))
                        .await;
                }
                return e;
            }
            StepError::LockLost(why) => {
                return self
                    .ctx
                    .lock_lost(&runs[at], runs[at].steps_done, Some(why));
            }
            StepError::OutcomeUnknown(why) => {
                let e = self.ctx.outcome_unknown(&runs[at], &why);
                for run in runs.iter() {
                    self.record(run, super::RunState::NeedsAttention, &e.to_string())
                        .await;
                }
                return e;
            }
        };
        self.ctx.sink.emit(&Event::Failure {
            service: failed.clone(),
            cause: failure.cause.clone(),
            message: failure.describe(),
            task_errors: failure.task_errors.clone(),
        });
        let mut order: Vec<usize> = switched.to_vec();
        order.extend((0..runs.len()).filter(|i| !switched.contains(i)));
        let mut back = Vec::new();
        let mut others = Vec::new();
        for i in order {
            let run = &mut runs[i];
            let why = if i == at {
                failure.clone()
            } else {
                StepFailure {
                    context: format!("the switch of the release failed at {failed}"),
                    cause: failure.cause.clone(),
                    task_errors: Vec::new(),
                }
            };
            let result = Err(self.ctx.rollback(run, &why).await);
            self.finish_record(run, &result).await;
            match result {
                Err(Error::RolledBack { .. }) => back.push(run.service.service.clone()),
                Err(e) => others.push(e),
                Ok(_) => {}
            }
        }
        let primary = Error::RolledBack {
            message: format!(
                "release failed at the switch: {failed}: {}",
                failure.describe()
            ),
            help: Some("the old versions serve; fix the cause and deploy again".into()),
        };
        release_error(primary, &back, &[], &[], &others)
    }

    /// A canary or rolling service of a release: the way a single service runs.
    async fn run_changing_service(
        &self,
        plan: &Plan,
        service: &ServicePlan,
    ) -> Result<ServiceResult, Error> {
        let mut run = ServiceRun::new(plan, service, &self.ctx.options.health_rules);
        self.snapshot(&mut run).await?;
        self.record(&run, super::RunState::Running, "").await;
        let result = match self.run_steps(&mut run, service.steps.len(), None).await {
            Ok(Reached::End(r)) => Ok(r),
            Ok(Reached::Halted) => Err(self.ctx.interrupted(&run, run.steps_done)),
            Err(e) => Err(e),
        };
        self.finish_record(&run, &result).await;
        result
    }
}

/// The switching key write of a service waiting at its switch.
fn switch_writes(run: &ServiceRun<'_>) -> Vec<KeyWrite> {
    match run.service.steps.get(run.steps_done).map(|s| &s.action) {
        Some(Action::WriteKeys { writes }) => writes.clone(),
        _ => Vec::new(),
    }
}

/// The error of a failed release: the first failure, then what became of the others.
fn release_error(
    primary: Error,
    back: &[String],
    left: &[String],
    failed_too: &[Error],
    others: &[Error],
) -> Error {
    // Every failure of a release comes before its switch took effect.
    let mut note = String::from("; nothing was switched");
    if !back.is_empty() {
        note.push_str(&format!(
            ", and {} went back to the previous version",
            back.join(", ")
        ));
    }
    if !left.is_empty() {
        note.push_str(&format!("; left as they are: {}", left.join(", ")));
    }
    for e in failed_too.iter().chain(others) {
        note.push_str(&format!("; also: {e}"));
    }
    // Anything that could not be put back needs attention, whatever the first failure was.
    let attention = !others.is_empty() || !left.is_empty();
    match primary {
        Error::RolledBack { message, help } if attention => Error::NeedsAttention {
            message: message + &note,
            help,
        },
        other => other.with_note(&note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolled_back(service: &str) -> Error {
        Error::RolledBack {
            message: format!("deploy of {service} 2.0.0 failed: green did not become healthy"),
            help: None,
        }
    }

    #[test]
    fn gates_failing_together_and_put_back_need_no_attention() {
        // orders failed first; api failed at the same moment and its own policy put it back;
        // web was undone.
        let err = release_error(
            rolled_back("orders"),
            &["web".to_string()],
            &[],
            &[rolled_back("api")],
            &[],
        );
        assert_eq!(err.exit_code(), 1, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("nothing was switched, and web went back"),
            "{message}"
        );
        assert!(message.contains("also: deploy of api"), "{message}");
    }

    #[test]
    fn gates_failing_together_with_nothing_else_started_still_say_nothing_was_switched() {
        // orders and api failed together, each put back by its own policy; web, which depends
        // on them, never started.
        let err = release_error(rolled_back("orders"), &[], &[], &[rolled_back("api")], &[]);
        assert_eq!(err.exit_code(), 1, "{err}");
        let message = err.to_string();
        assert!(message.contains("nothing was switched"), "{message}");
        assert!(!message.contains("went back"), "{message}");
        assert!(message.contains("also: deploy of api"), "{message}");
    }

    #[test]
    fn what_could_not_be_put_back_needs_attention() {
        let left_over = Error::NeedsAttention {
            message: "api: the new zone could not be scaled to 0".into(),
            help: None,
        };
        let err = release_error(rolled_back("orders"), &[], &[], &[], &[left_over]);
        assert_eq!(err.exit_code(), 3, "{err}");
        let err = release_error(rolled_back("orders"), &[], &["api".into()], &[], &[]);
        assert_eq!(err.exit_code(), 3, "{err}");
    }
}

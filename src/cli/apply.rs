//! Carrying out a plan: take the deploy locks, run the executor with progress for this
//! terminal, record the history, release the locks. Shared by deploy, promote and abort.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::world::World;
use super::{DeployArgs, GlobalArgs};
use super::{ci, hooks};
use crate::error::Error;
use crate::exec::{
    DeployResult, Event, EventSink, Executor, FailureDecider, HttpProber, NonInteractive, Outcome,
    TokioClock, kv_error,
};
use crate::kv::{self, HistoryRecord};
use crate::plan::Plan;
use crate::ports::{LockGuard, LockInfo, LockOutcome};
use crate::spec::Spec;
use crate::ui::Terminal;
use crate::ui::progress::{ProgressMode, sink_and_decider};
use crate::ui::prompt::PromptDecider;

/// What the user asked for, for the lock message and the history.
pub struct Request<'a> {
    /// `deploy`, `promote`, `abort` or `rollback`.
    pub action: &'a str,
    pub message: Option<String>,
    pub lock_wait: Option<Duration>,
}

impl<'a> Request<'a> {
    pub fn from_deploy(action: &'a str, args: &DeployArgs) -> Result<Request<'a>, Error> {
        let lock_wait = args
            .lock_wait
            .as_deref()
            .map(|text| {
                crate::spec::duration::parse(text).map_err(|e| {
                    Error::usage(
                        format!("invalid --lock-wait `{text}`: {e}"),
                        "write a duration like `30s` or `2m`",
                    )
                })
            })
            .transpose()?;
        Ok(Request {
            action,
            message: args.message.clone(),
            lock_wait,
        })
    }
}

/// Runs `plan` against the world. Returns the executor's outcome after writing history.
pub async fn apply(
    world: &World,
    plan: &Plan,
    spec: &Spec,
    request: &Request<'_>,
    global: &GlobalArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<Outcome, Error> {
    let cancel = super::runtime::cancel_on_signals();
    let locks = Locks::take(world, plan, spec, request, &cancel).await?;
    apply_locked(
        world, plan, spec, request, global, env, terminal, locks, cancel,
    )
    .await
}

/// As [`apply`], with the locks already taken (by [`Locks::take`] on this plan or an
/// earlier one of the same services) and the signals already caught by `cancel`; the locks
/// are released at the end.
#[allow(clippy::too_many_arguments)]
pub async fn apply_locked(
    world: &World,
    plan: &Plan,
    spec: &Spec,
    request: &Request<'_>,
    global: &GlobalArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
    locks: Locks,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let mode = ProgressMode::for_terminal(terminal);
    let (sink, tty_decider) = sink_and_decider(mode, terminal);
    // Prompts only where someone can answer: a terminal, not CI, not --non-interactive.
    let decider: Box<dyn FailureDecider> = if terminal.interactive && mode == ProgressMode::Tty {
        tty_decider
    } else if terminal.interactive {
        Box::new(PromptDecider::new())
    } else {
        Box::new(NonInteractive)
    };

    let hook_dir = super::inputs::spec_dir(global, env);
    let changing: Vec<&crate::plan::ServicePlan> =
        plan.services.iter().filter(|s| !s.up_to_date).collect();
    // Before any change: a failing pre_deploy hook stops here (exit 1, nothing changed).
    for service in &changing {
        let vars = hooks::variables(service, "pending");
        if let Err(e) = hooks::run("pre_deploy", &spec.hooks.pre_deploy, &hook_dir, &vars).await {
            let _ = locks.release().await;
            return Err(Error::HookFailed {
                message: format!("{}: {e}; nothing was changed", service.service),
                help: Some(
                    "fix the hook (spec `hooks.pre_deploy`) or what it checks, then deploy again"
                        .into(),
                ),
            });
        }
    }
    let recorder = ci::Recorder::new(sink.as_ref());
    let prober = HttpProber::new();
    let clock = TokioClock;
    let mut executor = Executor::new(
        &world.cluster,
        world.kv.as_ref(),
        &prober,
        &clock,
        &recorder,
        cancel,
        decider.as_ref(),
    );
    // Stop before the next change to a service whose lock is lost (its renewal failed).
    for (service, guard) in &locks.held {
        executor = executor.with_lock(service, guard.as_ref());
    }
    let post_switch = hooks::PostSwitch {
        commands: &spec.hooks.post_switch,
        dir: &hook_dir,
        sink: sink.as_ref(),
    };
    executor = executor.with_on_switch(&post_switch);
    let started = std::time::Instant::now();
    let result = executor.run(plan).await;
    run_after_hooks(spec, &changing, &result, &hook_dir, sink.as_ref()).await;
    if let Err(e) = ci::write_step_summary(
        env,
        request.action,
        plan,
        result_word(&result),
        started.elapsed(),
        &recorder.lines(),
    ) {
        sink.emit(&Event::Warning {
            service: None,
            message: e,
        });
    }
    record_history(
        world,
        plan,
        spec,
        request,
        env,
        &result,
        started.elapsed(),
        sink.as_ref(),
    )
    .await;
    for e in locks.release().await {
        sink.emit(&Event::Warning {
            service: None,
            message: format!("could not release the deploy lock ({e}); it expires by itself"),
        });
    }
    let _ = global;
    result
}

/// The deploy locks this run holds, one per service that changes.
pub struct Locks {
    held: Vec<(String, Box<dyn LockGuard>)>,
    /// True when some lock was held by another deploy and this run waited for it
    /// (`--lock-wait`): the state the plan was made from may have changed meanwhile.
    pub waited: bool,
}

impl Locks {
    /// One lock per service that will change; all or nothing.
    pub async fn take(
        world: &World,
        plan: &Plan,
        spec: &Spec,
        request: &Request<'_>,
        cancel: &CancellationToken,
    ) -> Result<Locks, Error> {
        let mut locks = Locks {
            held: Vec::new(),
            waited: false,
        };
        locks.cover(world, plan, spec, request, cancel).await?;
        Ok(locks)
    }

    /// Also takes the locks of services of `plan` that change and are not held yet (a plan
    /// made again after waiting may change a service the first one left alone). On failure,
    /// or a signal while waiting, every lock is released.
    pub async fn cover(
        &mut self,
        world: &World,
        plan: &Plan,
        spec: &Spec,
        request: &Request<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let info = LockInfo::current(
            request
                .message
                .clone()
                .or_else(|| Some(format!("shipctl {}", request.action))),
        );
        for service in plan.services.iter().filter(|s| !s.up_to_date) {
            let key = &service.keys.lock;
            if self.held.iter().any(|(k, _)| k == key) {
                continue;
            }
            let attempt = || world.kv.lock(key, &info, spec.kv.lock_ttl);
            let mut outcome = attempt().await;
            if let (Ok(LockOutcome::Held(_)), Some(wait)) = (&outcome, request.lock_wait) {
                self.waited = true;
                let deadline = Instant::now() + wait;
                loop {
                    let pause = deadline
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(500));
                    if pause.is_zero() {
                        break;
                    }
                    // Ctrl-C ends the wait: nothing has been changed yet.
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            let held = std::mem::take(&mut self.held);
                            let _ = Locks { held, waited: false }.release().await;
                            return Err(Error::Interrupted {
                                message: format!(
                                    "interrupted while waiting for the deploy lock of {}",
                                    service.service
                                ),
                                help: Some("nothing was changed".into()),
                            });
                        }
                        _ = tokio::time::sleep(pause) => {}
                    }
                    outcome = attempt().await;
                    if !matches!(outcome, Ok(LockOutcome::Held(_))) {
                        break;
                    }
                }
            }
            let failure = match outcome {
                Ok(LockOutcome::Acquired(guard)) => {
                    self.held.push((key.clone(), guard));
                    continue;
                }
                Ok(LockOutcome::Held(holder)) => {
                    locked(&service.service, &holder, request.lock_wait.is_some())
                }
                Err(e) => kv_error(e),
            };
            let held = std::mem::take(&mut self.held);
            let _ = Locks {
                held,
                waited: false,
            }
            .release()
            .await;
            return Err(failure);
        }
        Ok(())
    }

    /// Releases every lock; returns the errors (each lock then expires after its TTL).
    pub async fn release(self) -> Vec<crate::ports::KvError> {
        let mut errors = Vec::new();
        for (_, guard) in self.held {
            if let Err(e) = guard.release().await {
                errors.push(e);
            }
        }
        errors
    }
}

/// post_switch and post_deploy after a service went live; on_failure after a failed run.
/// Their failures are reported but change nothing: the deploy already happened.
async fn run_after_hooks(
    spec: &Spec,
    changing: &[&crate::plan::ServicePlan],
    result: &Result<Outcome, Error>,
    dir: &std::path::Path,
    sink: &dyn EventSink,
) {
    let word = result_word(result);
    for service in changing {
        let live = match result {
            Ok(outcome) => outcome.services.iter().any(|s| {
                s.service == service.service
                    && matches!(s.result, crate::exec::ServiceResult::Done { .. })
            }),
            Err(_) => false,
        };
        // post_switch hooks ran at the switch itself (hooks::PostSwitch).
        let (stage, commands) = if live {
            ("post_deploy", &spec.hooks.post_deploy)
        } else if result.is_err() {
            ("on_failure", &spec.hooks.on_failure)
        } else {
            continue;
        };
        let vars = hooks::variables(service, word);
        if let Err(e) = hooks::run(stage, commands, dir, &vars).await {
            sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: e,
            });
        }
    }
}

/// How a run ended, in the words of the history and the hooks' `SHIPCTL_RESULT`.
fn result_word(result: &Result<Outcome, Error>) -> &'static str {
    match result {
        Ok(o) if o.awaiting_promotion() => "awaiting_promotion",
        Ok(_) => "success",
        Err(Error::RolledBack { .. }) => "rolled_back",
        Err(Error::Interrupted { .. }) => "interrupted",
        Err(Error::NeedsAttention { .. }) => "needs_attention",
        Err(_) => "failed",
    }
}

fn locked(service: &str, holder: &LockInfo, waited: bool) -> Error {
    let note = holder
        .message
        .as_deref()
        .map(|m| format!(": \"{m}\""))
        .unwrap_or_default();
    Error::Locked {
        message: format!(
            "{service} is locked by {}@{} (pid {}) since {}{note}",
            holder.owner, holder.host, holder.pid, holder.since
        ),
        help: Some(if waited {
            format!(
                "the lock was still held when --lock-wait ran out; if its holder is gone, `shipctl unlock {service}`"
            )
        } else {
            format!(
                "wait for it with --lock-wait 2m; if its holder is gone, the lock expires by itself, or run `shipctl unlock {service}`"
            )
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn record_history(
    world: &World,
    plan: &Plan,
    spec: &Spec,
    request: &Request<'_>,
    env: &HashMap<String, String>,
    result: &Result<Outcome, Error>,
    elapsed: Duration,
    sink: &dyn EventSink,
) {
    let outcome = result_word(result);
    for service in plan.services.iter().filter(|s| !s.up_to_date) {
        let mut record = HistoryRecord::now(
            env,
            &service.service,
            &strategy_name(service.strategy),
            request.action,
            outcome,
        );
        record.from_zone = service.from.as_ref().map(|z| z.zone.clone());
        record.from_version = service.from.as_ref().map(|z| z.version.clone());
        record.to_zone = Some(service.to.zone.clone());
        record.to_version = Some(service.to.version.clone());
        record.duration_secs = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
        if let Err(e) = kv::append_history(
            world.kv.as_ref(),
            &service.keys.history,
            &record,
            spec.kv.history_limit,
        )
        .await
        {
            sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: format!("could not record the history: {e}"),
            });
        }
    }
}

pub fn strategy_name(strategy: crate::spec::Strategy) -> String {
    serde_json::to_value(strategy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The last line(s) of a successful run, for people; JSON mode prints the summary object.
pub fn print_outcome(outcome: &Outcome, terminal: &Terminal) {
    let result = if outcome.awaiting_promotion() {
        DeployResult::AwaitingPromotion
    } else {
        DeployResult::Done
    };
    crate::ui::summary::print_outcome(outcome, result, terminal);
}

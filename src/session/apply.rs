//! Carrying out a plan: plan from the live state, confirm, take the deploy locks, run the
//! hooks and the executor, record the history and the CI summary, release the locks. Deploy,
//! promote, abort, rollback and saved plans all come through here.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::locks::Locks;
use super::{Job, Session, hooks, notify, owner, runtime};
use crate::error::Error;
use crate::exec::{Event, EventSink, Executor, HttpProber, Outcome, Ports, TokioClock, run_result};
use crate::kv;
use crate::plan::redact::fresh_salt;
use crate::plan::{ObservedState, Plan, ServicePlan};
use crate::ports::{HistoryRecord, RunResult};
use crate::spec::Spec;
use crate::swarm::coalesce::Coalesced;
use crate::ui::{self, Printer};

impl Session<'_> {
    /// The one way a plan reaches the cluster: `make_plan` plans from the live state; the plan
    /// is printed (`dry_run`) or confirmed, the locks are taken (planning again if this run
    /// waited for another deploy), then it is applied and recorded.
    pub async fn carry_out<F>(
        &self,
        job: Job<'_>,
        printer: &Printer,
        make_plan: F,
    ) -> Result<(), Error>
    where
        F: Fn(&ObservedState) -> Result<Plan, Error>,
    {
        let session = self;
        let plan_now = || async {
            let observed = session.observe_for(&job).await?;
            let unclaimed = owner::check(
                session.kv.as_ref(),
                job.spec,
                job.project,
                &job.services,
                Some(&observed),
            )
            .await?;
            Ok::<_, Error>((make_plan(&observed)?, unclaimed))
        };
        let (plan, unclaimed) = plan_now().await?;
        if job.dry_run {
            // Shown and saved with the same fingerprints, so the two read the same.
            let plan = plan.into_redacted(&fresh_salt());
            ui::summary::print_plan_with(&plan, &job.spec.notify, printer);
            if let Some(path) = job.save_to {
                super::save_plan(&plan, path)?;
            }
            return Ok(());
        }
        if !confirm(&plan, job.spec, session.settings.yes, printer)? {
            return Err(Error::usage(
                format!("{} cancelled; nothing was changed", job.action),
                "run it again and answer yes, or add --yes",
            ));
        }
        let cancel = runtime::cancel_on_signals();
        let kv = session.kv.as_ref();
        let mut locks = Locks::none();
        locks
            .cover(kv, &plan, job.spec, job.action, &job.request, &cancel)
            .await?;
        // The deploy we waited for moved the zones and keys: a plan made before it finished would
        // be refused as stale, so plan again from what it left (the lock keeps others out).
        let (plan, unclaimed) = if locks.waited {
            let replanned = match plan_now().await {
                Ok(p) => p,
                Err(e) => {
                    locks.release().await;
                    return Err(e);
                }
            };
            locks
                .cover(
                    kv,
                    &replanned.0,
                    job.spec,
                    job.action,
                    &job.request,
                    &cancel,
                )
                .await?;
            replanned
        } else {
            (plan, unclaimed)
        };
        // With the locks held: from here on these keys are this project's.
        if let Err(e) = owner::claim(kv, job.project, &unclaimed).await {
            locks.release().await;
            return Err(e);
        }
        let outcome = apply(session, &plan, &job, printer, locks, cancel).await?;
        ui::summary::print_outcome(&outcome, job.release.get().map(String::as_str), printer);
        Ok(())
    }
}

/// Runs `plan` under `locks` (released at the end): pre_deploy hooks, the executor with its
/// post_switch hooks, then post_deploy or on_failure hooks, the CI summary and the history.
async fn apply(
    session: &Session<'_>,
    plan: &Plan,
    job: &Job<'_>,
    printer: &Printer,
    locks: Locks,
    cancel: CancellationToken,
) -> Result<Outcome, Error> {
    let (shown, decider) = ui::progress::sink_and_decider(printer);
    let spec = job.spec;
    // Every event reaches the webhooks of `notify:` through here, the session's own too.
    let notifier = notify::Notifier::start(
        &spec.notify,
        &session.settings.env,
        job.action,
        plan,
        shown.as_ref(),
    );
    let sink: &dyn EventSink = &notifier;
    let changing: Vec<&ServicePlan> = plan.services.iter().filter(|s| !s.up_to_date).collect();
    // Before any change: a failing pre_deploy hook stops here, nothing changed.
    for service in &changing {
        let vars = hooks::variables(service, "pending");
        if let Err(e) = hooks::run(
            "pre_deploy",
            &spec.hooks.pre_deploy,
            spec.hooks.timeout,
            job.spec_dir,
            &vars,
        )
        .await
        {
            locks.release().await;
            notifier.finish().await;
            return Err(Error::HookFailed {
                message: format!("{}: {e}; nothing was changed", service.service),
                help: Some(
                    "fix the hook (spec `hooks.pre_deploy`) or what it checks, then deploy again"
                        .into(),
                ),
            });
        }
    }
    let recorder = ui::ci::Recorder::new(sink);
    let post_switch = hooks::PostSwitch {
        commands: &spec.hooks.post_switch,
        timeout: spec.hooks.timeout,
        dir: job.spec_dir,
        sink,
    };
    let on_switch = notify::BothOnSwitch(&notifier, &post_switch);
    // Every key the executor writes is fenced by the locks: a run that lost one writes nothing.
    let fenced = kv::FencedKv::per_key(
        session.kv.as_ref(),
        locks
            .held
            .iter()
            .map(|h| {
                let keys = plan
                    .services
                    .iter()
                    .find(|s| s.service == h.service)
                    .map(|s| {
                        let k = &s.keys;
                        vec![
                            k.active_zone.clone(),
                            k.active_version.clone(),
                            k.traffic.clone(),
                            k.progress.clone(),
                        ]
                    })
                    .unwrap_or_default();
                (keys, h.guard.fence())
            })
            .collect(),
    );
    // The gates of a release share one task list per tick, whatever the number of services.
    let cluster = Coalesced::new(&session.cluster);
    let metrics = crate::metrics::Readers::new(&*session.kv);
    let ports = Ports {
        cluster: &cluster,
        kv: &fenced,
        prober: &HttpProber::new(),
        metrics: &metrics,
        clock: &TokioClock,
        sink: &recorder,
        decider: decider.as_ref(),
    };
    let parallel = job.request.parallel.unwrap_or(spec.release.parallel);
    let mut executor = Executor::new(ports, cancel)
        .with_on_switch(&on_switch)
        .with_parallel(parallel);
    // Stop before the next change to a service whose lock is lost (its renewal failed).
    for held in &locks.held {
        executor = executor.with_lock(&held.service, held.guard.as_ref());
    }
    let release = super::release::start(job, plan, sink);
    let started = Instant::now();
    let result = executor.run(plan).await;
    let ended = run_result(&result);
    let elapsed = started.elapsed();
    run_after_hooks(job, &changing, &result, ended, sink).await;
    let env = &session.settings.env;
    if let Err(e) = ui::ci::write_step_summary(
        env,
        job.action,
        release.as_deref(),
        plan,
        ended,
        elapsed,
        &recorder,
    ) {
        sink.emit(&Event::Warning {
            service: None,
            message: e,
        });
    }
    let lines = recorder.lines();
    let measured = recorder.measured();
    let run = RunEnd {
        result: &result,
        ended,
        elapsed,
        lines: &lines,
        measured: &measured,
    };
    record_history(session, plan, job, run, sink).await;
    for e in locks.release().await {
        sink.emit(&Event::Warning {
            service: None,
            message: format!("could not release the deploy lock ({e}); it expires by itself"),
        });
    }
    // After the locks: a slow webhook may delay the exit a little, never another deploy.
    notifier.finish().await;
    result
}

/// On a terminal, shows the plan and asks; `--yes` and non-interactive runs go ahead (the
/// command itself is the intent, as with `docker stack deploy`).
fn confirm(plan: &Plan, spec: &Spec, yes: bool, printer: &Printer) -> Result<bool, Error> {
    if yes || !printer.terminal.interactive || plan.services.iter().all(|s| s.up_to_date) {
        return Ok(true);
    }
    ui::summary::print_plan_with(plan, &spec.notify, printer);
    ui::prompt::confirm("Apply this plan?").map_err(|e| Error::Usage {
        message: format!("cannot ask for confirmation: {e}"),
        help: Some("add --yes to go ahead without asking".into()),
    })
}

/// post_deploy after a service went live; on_failure after a failed run. Their failures are
/// reported but change nothing: the deploy already happened. (post_switch hooks ran at the
/// switch itself.)
async fn run_after_hooks(
    job: &Job<'_>,
    changing: &[&ServicePlan],
    result: &Result<Outcome, Error>,
    ended: RunResult,
    sink: &dyn EventSink,
) {
    let hooks_of = &job.spec.hooks;
    for service in changing {
        let live = result
            .as_ref()
            .is_ok_and(|outcome| outcome.is_live(&service.service));
        let (stage, commands) = if live {
            ("post_deploy", &hooks_of.post_deploy)
        } else if result.is_err() {
            ("on_failure", &hooks_of.on_failure)
        } else {
            continue;
        };
        let vars = hooks::variables(service, ended.word());
        if let Err(e) = hooks::run(stage, commands, hooks_of.timeout, job.spec_dir, &vars).await {
            sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: e,
            });
        }
    }
}

/// How a run ended, for its records.
struct RunEnd<'a> {
    result: &'a Result<Outcome, Error>,
    ended: RunResult,
    elapsed: Duration,
    /// The steps as the run reported them (the timeline).
    lines: &'a [ui::ci::StepLine],
    /// The analysis measurements, with their services.
    measured: &'a [(String, crate::ports::AnalysisMark)],
}

/// Each changed service's history record, then the run's one release record (the run's last
/// event says how the release ended).
async fn record_history(
    session: &Session<'_>,
    plan: &Plan,
    job: &Job<'_>,
    run: RunEnd<'_>,
    sink: &dyn EventSink,
) {
    let RunEnd {
        result,
        ended,
        elapsed,
        lines,
        measured,
    } = run;
    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    // All at once, the release record too: a store that commits concurrent writes together
    // (swarm://) then records a release of many services in a few updates rather than one
    // after the other.
    let release = super::release::record_of(session, plan, job, result, ended, elapsed);
    let save_release = async {
        match &release {
            Some(record) => super::release::save(session, job, record).await,
            None => Ok(()),
        }
    };
    let appends = plan
        .services
        .iter()
        .filter(|s| !s.up_to_date)
        .map(|service| {
            let mut record = HistoryRecord::now(
                &session.settings.env,
                &service.service,
                service.strategy,
                job.action,
                ended,
            );
            record.from_zone = service.from.as_ref().map(|z| z.zone.clone());
            record.from_version = service.from.as_ref().map(|z| z.version.clone());
            record.to_zone = Some(service.to.zone.clone());
            record.to_version = Some(service.to.version.clone());
            record.duration_secs = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
            record.timeline = Some(ui::ci::timeline(plan, service, lines, measured, ms));
            async move {
                let appended = kv::append_history(
                    session.kv.as_ref(),
                    &service.keys.history,
                    &record,
                    job.spec.kv.history_limit,
                )
                .await;
                (service, appended)
            }
        });
    let (appended, saved) = futures_util::future::join(join_all(appends), save_release).await;
    for (service, appended) in appended {
        if let Err(e) = appended {
            sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message: format!("could not record the history: {e}"),
            });
        }
    }
    if let Some(release) = &release {
        super::release::report(release, saved, sink);
    }
}

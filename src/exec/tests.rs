//! The executor against the in-memory fakes.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use super::fake::{
    Behaviour, FakeCluster, FakeKv, FakeLock, FakeMetrics, FakeProber, Fate, Journal, ManualClock,
    RecordingSink, ScriptedDecider,
};
use super::*;
use crate::compose::model::Service;
use crate::error::Error;
use crate::plan::{Action, ObservedState, Plan, ServicePlan, ServiceState, Step, ZoneVersion};
use crate::ports::{KeyWrite, Kv, LockGuard, RouterReport, RunResult, ZoneState};
use crate::spec::defaults::IN_PLACE;
use crate::spec::model::{
    Canary, Drain, Health, KeyLayout, KeyTemplates, OnFailure, Policy, Rolling, Strategy,
};

/// The help line of an error, or nothing.
fn help_of(err: &Error) -> String {
    miette::Diagnostic::help(err)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

const BLUE: &str = "demo_web-blue";
const GREEN: &str = "demo_web-green";
const ZONE_KEY: &str = "web-active-zone";
const VERSION_KEY: &str = "web-active-version";
const TRAFFIC_KEY: &str = "web-traffic";

struct World {
    clock: Arc<ManualClock>,
    journal: Journal,
    cluster: FakeCluster,
    kv: FakeKv,
    prober: FakeProber,
    metrics: FakeMetrics,
    sink: RecordingSink,
    cancel: CancellationToken,
}

impl World {
    /// blue serves 1.4.1 with `replicas` tasks; green does not exist.
    fn new(replicas: u64) -> World {
        let clock = ManualClock::new();
        let journal = Journal::default();
        let cluster = FakeCluster::new(clock.clone(), journal.clone());
        cluster.existing(BLUE, "1.4.1", replicas);
        let kv = FakeKv::new(clock.clone(), journal.clone());
        kv.set(ZONE_KEY, "blue");
        kv.set(VERSION_KEY, "1.4.1");
        kv.set(TRAFFIC_KEY, "blue=100,green=0");
        World {
            clock,
            journal,
            cluster,
            kv,
            prober: FakeProber::default(),
            metrics: FakeMetrics::default(),
            sink: RecordingSink::default(),
            cancel: CancellationToken::new(),
        }
    }

    async fn run_with(&self, plan: &Plan, decider: &dyn FailureDecider) -> Result<Outcome, Error> {
        self.executor(decider).run(plan).await
    }

    /// An executor on this world's fakes and manual clock.
    fn executor<'a>(&'a self, decider: &'a dyn FailureDecider) -> Executor<'a> {
        self.executor_with(&self.kv, decider)
    }

    /// A non-interactive executor that writes its keys through `kv` (e.g. fenced).
    fn executor_on<'a>(&'a self, kv: &'a dyn Kv) -> Executor<'a> {
        self.executor_with(kv, &NonInteractive)
    }

    fn executor_with<'a>(
        &'a self,
        kv: &'a dyn Kv,
        decider: &'a dyn FailureDecider,
    ) -> Executor<'a> {
        Executor::new(
            Ports {
                cluster: &self.cluster,
                kv,
                prober: &self.prober,
                metrics: &self.metrics,
                clock: &*self.clock,
                sink: &self.sink,
                decider,
            },
            self.cancel.clone(),
        )
    }

    async fn run(&self, plan: &Plan) -> Result<Outcome, Error> {
        self.run_with(plan, &NonInteractive).await
    }

    /// Cluster and KV operations, without the progress record's bookkeeping.
    fn ops(&self) -> Vec<String> {
        self.journal
            .entries()
            .into_iter()
            .filter(|e| !e.contains("-progress"))
            .collect()
    }

    fn record(&self) -> Option<ProgressRecord> {
        self.kv
            .value("web-progress")
            .and_then(|v| serde_json::from_str(&v).ok())
    }

    fn keys(&self) -> (Option<String>, Option<String>, Option<String>) {
        (
            self.kv.value(ZONE_KEY),
            self.kv.value(VERSION_KEY),
            self.kv.value(TRAFFIC_KEY),
        )
    }

    fn original_keys() -> (Option<String>, Option<String>, Option<String>) {
        (
            Some("blue".into()),
            Some("1.4.1".into()),
            Some("blue=100,green=0".into()),
        )
    }

    /// The virtual time a journal entry happened, relative to the first `apply`.
    fn at(&self, prefix: &str) -> Duration {
        let start = self.journal.time_of("apply").unwrap_or_default();
        self.journal
            .time_of(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.journal.entries()))
            - start
    }

    fn step_elapsed(&self, kind: &str) -> Vec<u64> {
        self.sink
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished {
                    action, elapsed_ms, ..
                } if action == kind => Some(*elapsed_ms),
                _ => None,
            })
            .collect()
    }
}

fn policy(strategy: Strategy, on_failure: Option<OnFailure>) -> Policy {
    Policy {
        strategy,
        replicas: Some(3),
        canary: Canary {
            new: 1,
            old: None,
            steps: Vec::new(),
        },
        rolling: Rolling { step: 1 },
        task_batch: None,
        health: Health {
            timeout: Duration::from_secs(120),
            min_healthy: Duration::from_secs(2),
            progress_deadline: Duration::from_secs(60),
            probe: None,
        },
        drain: Drain {
            time: Duration::from_secs(5),
            wait_for_router: false,
            router_timeout: Duration::from_secs(10),
        },
        on_failure,
        promote: false,
        allow_zoned: false,
        analysis: None,
        bake: None,
    }
}

fn step(action: Action) -> Step {
    Step {
        action,
        reason: "because".into(),
    }
}

fn update(zone: &str, replicas: u64) -> Step {
    step(Action::UpdateZone {
        zone: zone.into(),
        service: format!("demo_web-{zone}"),
        image: "example/web:1.4.2".into(),
        version: "1.4.2".into(),
        replicas,
    })
}

fn scale(zone: &str, replicas: u64) -> Step {
    step(Action::Scale {
        zone: zone.into(),
        service: format!("demo_web-{zone}"),
        replicas,
    })
}

fn wait(zone: &str, replicas: u64, version: &str) -> Step {
    step(Action::WaitHealthy {
        zone: zone.into(),
        service: format!("demo_web-{zone}"),
        replicas,
        version: version.into(),
        timeout: Duration::from_secs(120),
        min_healthy: Duration::from_secs(2),
    })
}

fn keys(pairs: &[(&str, &str)]) -> Step {
    step(Action::WriteKeys {
        writes: pairs
            .iter()
            .map(|(k, v)| KeyWrite {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
    })
}

fn flip() -> Step {
    keys(&[
        (ZONE_KEY, "green"),
        (VERSION_KEY, "1.4.2"),
        (TRAFFIC_KEY, "blue=0,green=100"),
    ])
}

fn plan(strategy: Strategy, on_failure: Option<OnFailure>, steps: Vec<Step>) -> Plan {
    let mut zones = IndexMap::new();
    zones.insert(
        "blue".to_string(),
        ZoneState {
            service_name: BLUE.into(),
            desired: 3,
            running: 3,
            healthy: 3,
            version: Some("1.4.1".into()),
            image: Some("example/web:1.4.1".into()),
            spec_index: None,
            updated_at: None,
        },
    );
    let mut services = IndexMap::new();
    services.insert(
        "web".to_string(),
        ServiceState {
            zones,
            ..ServiceState::default()
        },
    );
    Plan {
        project: "demo".into(),
        services: vec![ServicePlan {
            service: "web".into(),
            strategy,
            from: Some(ZoneVersion {
                zone: "blue".into(),
                version: "1.4.1".into(),
            }),
            to: ZoneVersion {
                zone: "green".into(),
                version: "1.4.2".into(),
            },
            keys: KeyTemplates::for_layout(KeyLayout::Classic).for_service("demo", "web"),
            policy: policy(strategy, on_failure),
            definition: Service {
                name: "web".into(),
                image: "example/web:1.4.2".into(),
                ..Service::default()
            },
            steps,
            warnings: Vec::new(),
            up_to_date: false,
        }],
        needs: IndexMap::new(),
        networks: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
        observed: ObservedState {
            services,
            ..ObservedState::default()
        },
        warnings: Vec::new(),
        fingerprint_salt: None,
    }
}

fn blue_green(on_failure: Option<OnFailure>) -> Plan {
    plan(
        Strategy::BlueGreen,
        on_failure,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitDrain {
                duration: Duration::from_secs(5),
            }),
            scale("blue", 0),
        ],
    )
}

#[tokio::test]
async fn blue_green_flips_once_after_green_is_healthy_then_drains_blue() {
    let w = World::new(3);
    let outcome = w.run(&blue_green(None)).await.expect("deploy succeeds");

    assert_eq!(
        outcome.services[0].result,
        ServiceResult::Done {
            to: ZoneVersion {
                zone: "green".into(),
                version: "1.4.2".into()
            }
        }
    );
    assert_eq!(
        w.ops(),
        vec![
            "apply demo_web-green 1.4.2 x3".to_string(),
            "kv write web-active-zone=green web-active-version=1.4.2 web-traffic=blue=0,green=100"
                .to_string(),
            "scale demo_web-blue 0".to_string(),
        ]
    );
    assert_eq!(w.kv.atomic_writes(), 1);
    assert_eq!(
        w.keys(),
        (
            Some("green".into()),
            Some("1.4.2".into()),
            Some("blue=0,green=100".into())
        )
    );
    // Tasks run 3 s after the update; 2 s of stability; noticed within 250 ms.
    let flip_at = w.at("kv write");
    assert!(
        flip_at >= Duration::from_secs(5) && flip_at <= Duration::from_millis(5250),
        "{flip_at:?}"
    );
    assert!(w.at("scale demo_web-blue 0") - flip_at >= Duration::from_secs(5));
    assert_eq!(w.cluster.desired(BLUE), Some(0));
    assert_eq!(w.cluster.desired(GREEN), Some(3));

    let events = w.sink.events();
    assert!(matches!(
        events.first(),
        Some(Event::PlanStarted { steps: 5, .. })
    ));
    assert!(matches!(
        events.last(),
        Some(Event::DeployFinished {
            result: RunResult::Done,
            ..
        })
    ));
    let healthy = events.iter().any(|e| {
        matches!(e, Event::HealthProgress { zone, healthy: 3, desired: 3, .. } if zone == "green")
    });
    assert!(healthy, "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::StepFinished { .. }))
            .count(),
        5
    );
}

#[tokio::test]
async fn canary_runs_its_steps_and_stops_until_promoted() {
    let w = World::new(4);
    let p = plan(
        Strategy::Canary,
        None,
        vec![
            update("green", 1),
            wait("green", 1, "1.4.2"),
            scale("blue", 3),
            keys(&[(TRAFFIC_KEY, "blue=75,green=25")]),
            step(Action::Pause {
                duration: Some(Duration::from_secs(30)),
            }),
            scale("green", 2),
            wait("green", 2, "1.4.2"),
            scale("blue", 2),
            keys(&[(TRAFFIC_KEY, "blue=50,green=50")]),
            step(Action::Pause { duration: None }),
        ],
    );
    let outcome = w.run(&p).await.expect("canary runs");
    assert!(outcome.awaiting_promotion());
    match &outcome.services[0].result {
        ServiceResult::AwaitingPromotion {
            steps_done,
            message,
            ..
        } => {
            assert_eq!(*steps_done, 10);
            assert!(message.contains("shipctl promote web"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.cluster.desired(GREEN), Some(2));
    assert_eq!(w.cluster.desired(BLUE), Some(2));
    // Traffic follows the canary; the active zone stays blue until promotion.
    assert_eq!(
        w.keys(),
        (
            Some("blue".into()),
            Some("1.4.1".into()),
            Some("blue=50,green=50".into())
        )
    );
    let pause = w.at("scale demo_web-green 2") - w.at("kv write web-traffic=blue=75");
    assert!(pause >= Duration::from_secs(30), "{pause:?}");
    let events = w.sink.events();
    assert!(events.iter().any(|e| matches!(e, Event::Paused { .. })));
    assert!(matches!(
        events.last(),
        Some(Event::DeployFinished {
            result: RunResult::AwaitingPromotion,
            ..
        })
    ));
}

fn rolling_steps(fail_version: bool) -> Vec<Step> {
    let version = if fail_version { "1.4.3" } else { "1.4.2" };
    let mut steps = Vec::new();
    for i in 1..=3u64 {
        if i == 1 {
            steps.push(step(Action::UpdateZone {
                zone: "green".into(),
                service: GREEN.into(),
                image: format!("example/web:{version}"),
                version: version.into(),
                replicas: 1,
            }));
        } else {
            steps.push(scale("green", i));
        }
        steps.push(wait("green", i, version));
        let split = format!("blue={},green={}", (3 - i) * 100 / 3, i * 100 / 3);
        steps.push(step(Action::WriteKeys {
            writes: vec![KeyWrite {
                key: TRAFFIC_KEY.into(),
                value: split,
            }],
        }));
        steps.push(scale("blue", 3 - i));
    }
    steps.push(keys(&[(ZONE_KEY, "green"), (VERSION_KEY, version)]));
    steps
}

#[tokio::test]
async fn rolling_keeps_full_capacity_at_every_moment() {
    let w = World::new(3);
    w.run(&plan(Strategy::Rolling, None, rolling_steps(false)))
        .await
        .expect("rolling succeeds");
    let samples = w.cluster.samples();
    assert!(samples.len() > 50, "{}", samples.len());
    for (at, counts) in &samples {
        let total: u64 = counts.values().sum();
        assert!(total >= 3, "only {total} running at {at:?}: {counts:?}");
    }
    assert_eq!(w.cluster.desired(BLUE), Some(0));
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert_eq!(w.kv.atomic_writes(), 4);
}

#[tokio::test]
async fn rolling_failure_reverses_the_batches_done() {
    let w = World::new(3);
    // New tasks crash 4 s after starting: batch 1 passes its gate, batch 2 cannot.
    let p = plan(Strategy::Rolling, None, rolling_steps(true));
    w.cluster.behave(
        "1.4.3",
        Behaviour {
            fate: Fate::Crash {
                after: Duration::from_secs(4),
                code: 1,
            },
            ..Behaviour::default()
        },
    );
    let err = w.run(&p).await.expect_err("rolled back");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("crash loop"), "{err}");
    assert!(
        w.journal
            .entries()
            .contains(&"kv write web-traffic=blue=66,green=33".to_string()),
        "batch 1 was done: {:#?}",
        w.ops()
    );
    let entries = w.ops();
    // Old capacity back first, then keys, then the new zone down.
    let pos = |e: &str| {
        entries
            .iter()
            .rposition(|x| x == e)
            .unwrap_or_else(|| panic!("{e} not in {entries:#?}"))
    };
    let restore = pos("kv write web-traffic=blue=100,green=0");
    assert!(pos("scale demo_web-blue 3") < restore, "{entries:#?}");
    assert!(restore < pos("scale demo_web-green 0"), "{entries:#?}");
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
}

#[tokio::test]
async fn unhealthy_green_is_rolled_back_with_the_cause_named() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::Crash {
                after: Duration::from_secs(1),
                code: 1,
            },
            ..Behaviour::default()
        },
    );
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert_eq!(err.exit_code(), 1);
    assert!(matches!(err, Error::RolledBack { .. }));
    let text = err.to_string();
    assert!(text.contains("crash loop"), "{text}");
    assert!(text.contains("task: non-zero exit (1)"), "{text}");
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.kv.atomic_writes(), 0);
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    assert_eq!(
        w.ops().last().map(String::as_str),
        Some("scale demo_web-green 0")
    );
    let events = w.sink.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Failure {
            cause: FailureCause::CrashLoop { .. },
            ..
        }
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RollbackFinished { ok: true, .. }))
    );
}

#[tokio::test]
async fn a_failing_healthcheck_is_named() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            starting: Duration::from_secs(10),
            fate: Fate::Unhealthy,
            ..Behaviour::default()
        },
    );
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("healthcheck failing"), "{err}");
    assert!(err.to_string().contains("unhealthy container"), "{err}");
}

#[tokio::test]
async fn a_rollback_that_cannot_scale_the_new_zone_back_says_to_abort() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            starting: Duration::from_secs(10),
            fate: Fate::Unhealthy,
            ..Behaviour::default()
        },
    );
    w.cluster.break_scale_of(GREEN);
    let err = w.run(&blue_green(None)).await.expect_err("needs attention");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("rollback incomplete"), "{err}");
    let help = help_of(&err);
    // Both zones run replicas: `shipctl rollback` would refuse, `abort` ends it.
    assert!(
        help.contains("`shipctl abort web` keeps the zone"),
        "{help}"
    );
    assert!(!help.contains("shipctl rollback"), "{help}");
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("blue"));
}

#[tokio::test]
async fn a_missing_image_fails_fast_with_the_image_error() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert_eq!(err.exit_code(), 1);
    let text = err.to_string();
    assert!(text.contains("image not found"), "{text}");
    assert!(text.contains("No such image: example/web:1.4.2"), "{text}");
    // The timeout is 2 minutes; the rejection is seen right away.
    let waited = w.step_elapsed("wait_healthy");
    assert!(waited.is_empty(), "the wait never finished: {waited:?}");
    let failed_at = w.at("scale demo_web-green 0");
    assert!(failed_at < Duration::from_secs(3), "{failed_at:?}");
    assert_eq!(w.keys(), World::original_keys());
}

#[tokio::test]
async fn no_suitable_node_fails_after_a_grace_not_the_timeout() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::Unschedulable,
            ..Behaviour::default()
        },
    );
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert!(err.to_string().contains("no suitable node"), "{err}");
    assert!(w.at("scale demo_web-green 0") < Duration::from_secs(20));
}

#[tokio::test]
async fn kv_unavailable_before_the_flip_rolls_green_back() {
    let w = World::new(3);
    w.kv.set_unavailable(true);
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert_eq!(err.exit_code(), 1, "{err}");
    let text = err.to_string();
    assert!(text.contains("writing the routing keys"), "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    w.kv.set_unavailable(false);
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.kv.atomic_writes(), 0);
}

#[tokio::test]
async fn cancelling_while_waiting_stops_at_a_safe_point() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            pending: Duration::from_secs(30),
            ..Behaviour::default()
        },
    );
    w.clock
        .cancel_at(w.clock.elapsed() + Duration::from_secs(5), w.cancel.clone());
    let err = w.run(&blue_green(None)).await.expect_err("interrupted");
    assert_eq!(err.exit_code(), 130);
    assert!(matches!(err, Error::Interrupted { .. }));
    assert!(err.to_string().contains("step 2/5"), "{err}");
    let help = help_of(&err);
    assert!(help.contains("shipctl deploy"), "{help}");
    assert!(help.contains("shipctl abort web"), "{help}");
    // Green was created and is left warm; nothing else happened.
    assert_eq!(w.ops(), vec!["apply demo_web-green 1.4.2 x3"]);
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    assert!(w.clock.elapsed() - Duration::from_secs(3600) < Duration::from_secs(6));
    assert!(matches!(
        w.sink.events().last(),
        Some(Event::DeployFinished {
            result: RunResult::Interrupted,
            ..
        })
    ));
}

#[tokio::test]
async fn cancelling_during_the_drain_leaves_the_flip_done() {
    let w = World::new(3);
    w.clock
        .cancel_at(w.clock.elapsed() + Duration::from_secs(7), w.cancel.clone());
    let err = w.run(&blue_green(None)).await.expect_err("interrupted");
    assert_eq!(err.exit_code(), 130);
    assert!(err.to_string().contains("routing keys now"), "{err}");
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn pause_policy_leaves_everything_and_needs_attention() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let err = w
        .run(&blue_green(Some(OnFailure::Pause)))
        .await
        .expect_err("paused");
    assert_eq!(err.exit_code(), 3);
    let help = help_of(&err);
    assert!(help.contains("shipctl abort web"), "{help}");
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.keys(), World::original_keys());
}

#[tokio::test]
async fn a_prompt_can_keep_waiting_then_roll_back() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let decider = ScriptedDecider::new(true, &[Decision::KeepWaiting, Decision::Rollback]);
    let err = w
        .run_with(&blue_green(None), &decider)
        .await
        .expect_err("rolled back");
    assert_eq!(err.exit_code(), 1);
    let asked = decider.asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(asked.len(), 2);
    assert!(
        asked[0]
            .situation
            .contains("routing keys unchanged: blue 1.4.1 serves"),
        "{}",
        asked[0].situation
    );
    assert_eq!(w.cluster.desired(GREEN), Some(0));
}

#[tokio::test]
async fn without_a_terminal_the_default_is_rollback() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let decider = ScriptedDecider::new(false, &[Decision::Leave]);
    let err = w
        .run_with(&blue_green(Some(OnFailure::Prompt)), &decider)
        .await
        .expect_err("rolled back");
    assert_eq!(err.exit_code(), 1);
    assert!(decider.asked.lock().map(|a| a.is_empty()).unwrap_or(false));
}

#[tokio::test]
async fn keys_go_to_a_zone_that_serves_while_swarm_replaces_one_of_its_tasks() {
    let w = World::new(3);
    w.cluster.existing(GREEN, "1.4.2", 3);
    // Green serves with three tasks while a fourth is still pending, as when Swarm replaces
    // one: the write goes through (only a zone with no healthy task, or a failing one, is
    // refused).
    let p = plan(Strategy::BlueGreen, None, vec![scale("green", 4), flip()]);
    w.run(&p).await.expect("switched");
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert_eq!(w.kv.atomic_writes(), 1);
}

#[tokio::test]
async fn keys_are_never_written_to_an_unhealthy_zone() {
    let w = World::new(3);
    // A plan without a health gate before the flip.
    let p = plan(
        Strategy::BlueGreen,
        None,
        vec![update("green", 3), flip(), scale("blue", 0)],
    );
    let err = w.run(&p).await.expect_err("refused");
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string()
            .contains("refusing to send traffic to green"),
        "{err}"
    );
    assert_eq!(w.kv.atomic_writes(), 0);
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
}

#[tokio::test]
async fn a_router_that_never_confirms_rolls_the_flip_back() {
    let w = World::new(3);
    let p = plan(
        Strategy::BlueGreen,
        None,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitRouter {
                timeout: Duration::from_secs(10),
            }),
            scale("blue", 0),
        ],
    );
    let err = w.run(&p).await.expect_err("rolled back");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("shipctl route"), "{err}");
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.kv.atomic_writes(), 2);
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn a_router_that_confirms_lets_the_deploy_go_on() {
    let w = World::new(3);
    let served = RouterReport {
        keys: [
            (ZONE_KEY, "green"),
            (VERSION_KEY, "1.4.2"),
            (TRAFFIC_KEY, "blue=0,green=100"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..RouterReport::default()
    };
    w.kv.set(
        "web-router",
        &serde_json::to_string(&served).unwrap_or_default(),
    );
    let p = plan(
        Strategy::BlueGreen,
        None,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitRouter {
                timeout: Duration::from_secs(10),
            }),
            scale("blue", 0),
        ],
    );
    w.run(&p).await.expect("deploys");
    assert_eq!(w.cluster.desired(BLUE), Some(0));
}

/// The flip's keys, as a router serves them once it reloaded.
const NEW_KEYS: [(&str, &str); 3] = [
    (ZONE_KEY, "green"),
    (VERSION_KEY, "1.4.2"),
    (TRAFFIC_KEY, "blue=0,green=100"),
];
const OLD_KEYS: [(&str, &str); 3] = [
    (ZONE_KEY, "blue"),
    (VERSION_KEY, "1.4.1"),
    (TRAFFIC_KEY, "blue=100,green=0"),
];

/// One `shipctl route` as the deploy sees it in the store: registered as `web-router/{id}`,
/// rewriting its registration every `heartbeat` from now until `beats_until` (virtual time
/// from now), serving the old keys, then the new ones from `serves_new_at` on.
fn router(
    w: &World,
    id: &str,
    heartbeat: Duration,
    beats_until: Duration,
    serves_new_at: Option<Duration>,
) {
    let reloads: Vec<(Duration, [(&str, &str); 3])> =
        serves_new_at.map(|t| (t, NEW_KEYS)).into_iter().collect();
    router_reloading(w, id, heartbeat, beats_until, &reloads);
}

/// Like `router`, serving the old keys until the first of `reloads`, then the keys of the
/// latest reload whose time (virtual, from now) has come.
fn router_reloading(
    w: &World,
    id: &str,
    heartbeat: Duration,
    beats_until: Duration,
    reloads: &[(Duration, [(&str, &str); 3])],
) {
    let base = w.clock.elapsed();
    let key = format!("web-router/{id}");
    let mut at = Duration::ZERO;
    let mut beat = 0;
    while at <= beats_until {
        let serving = reloads
            .iter()
            .rev()
            .find(|(t, _)| at >= *t)
            .map_or(OLD_KEYS, |(_, keys)| *keys);
        beat += 1;
        let report = RouterReport {
            keys: serving
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            id: Some(id.into()),
            heartbeat_ms: Some(heartbeat.as_millis() as u64),
            beat: Some(beat),
            ..RouterReport::default()
        };
        let value = serde_json::to_string(&report).unwrap_or_default();
        w.kv.write_at(base + at, &key, Some(&value));
        // A reload is written at once, not at the next beat.
        let next = at + heartbeat;
        at = reloads
            .iter()
            .map(|(t, _)| *t)
            .find(|t| at < *t && *t < next)
            .unwrap_or(next);
    }
}

/// The flip, then a router wait of `timeout`, then blue goes.
fn flip_and_wait_for_routers(timeout: Duration) -> Plan {
    plan(
        Strategy::BlueGreen,
        None,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitRouter { timeout }),
            scale("blue", 0),
        ],
    )
}

fn router_events(w: &World) -> Vec<Event> {
    w.sink
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::RouterConfirmed { .. } | Event::RouterGone { .. }))
        .collect()
}

#[tokio::test]
async fn the_old_zone_goes_only_once_every_registered_router_serves_the_new_keys() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    let start = w.clock.elapsed();
    router(&w, "lb1", sec, 300 * sec, Some(20 * sec));
    // The slow one reloads 10s later.
    router(&w, "lb2", sec, 300 * sec, Some(30 * sec));
    // An older router's single key serves the new keys at once: registrations win over it.
    w.kv.set(
        "web-router",
        &serde_json::to_string(&RouterReport {
            keys: NEW_KEYS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..RouterReport::default()
        })
        .unwrap_or_default(),
    );
    w.run(&flip_and_wait_for_routers(Duration::from_secs(60)))
        .await
        .expect("deploys");
    let flipped = w.journal.time_of("kv write").expect("flipped") - start;
    let scaled = w
        .journal
        .time_of("scale demo_web-blue 0")
        .expect("blue scaled down")
        - start;
    assert!(flipped < 20 * sec, "the flip came first: {flipped:?}");
    assert!(
        scaled >= 30 * sec,
        "blue went at {scaled:?}, before lb2 served the new keys at 30s"
    );
    assert!(scaled < 31 * sec, "blue went soon after: {scaled:?}");
    let confirmed: Vec<String> = router_events(&w)
        .iter()
        .filter_map(|e| match e {
            Event::RouterConfirmed { router, .. } => Some(router.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(confirmed, vec!["lb1".to_string(), "lb2".to_string()]);
}

#[tokio::test]
async fn a_router_whose_registration_stopped_changing_is_not_waited_for() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    let start = w.clock.elapsed();
    router(&w, "lb1", sec, 300 * sec, Some(Duration::ZERO));
    // Killed: its last registration (old keys, 2s heartbeat) stays behind unchanged.
    router(&w, "lb2", 2 * sec, Duration::ZERO, None);
    w.run(&flip_and_wait_for_routers(Duration::from_secs(60)))
        .await
        .expect("deploys without lb2");
    let flipped = w.journal.time_of("kv write").expect("flipped") - start;
    let scaled = w.journal.time_of("scale demo_web-blue 0").expect("scaled") - start;
    let waited = scaled - flipped;
    // Three of lb2's heartbeats from the start of the wait, and no more than a poll later.
    assert!(
        waited >= 6 * sec && waited <= 7 * sec,
        "blue went {waited:?} after the flip"
    );
    match router_events(&w).as_slice() {
        [
            Event::RouterConfirmed { router: first, .. },
            Event::RouterGone {
                router,
                key,
                silent_ms,
                heartbeat_ms,
                ..
            },
        ] => {
            assert_eq!(first, "lb1");
            assert_eq!(router, "lb2");
            assert_eq!(key, "web-router/lb2");
            assert_eq!(*heartbeat_ms, 2000);
            assert!(*silent_ms >= 6000, "{silent_ms}");
        }
        other => panic!("expected lb1 confirmed, then lb2 gone: {other:?}"),
    }
}

#[tokio::test]
async fn a_dead_router_costs_one_liveness_window_per_run_not_per_wait() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    router(&w, "lb1", sec, 300 * sec, Some(Duration::ZERO));
    router(&w, "lb2", 2 * sec, Duration::ZERO, None);
    // Two switches, each followed by a router wait (as the batches of a rolling deploy).
    let p = plan(
        Strategy::BlueGreen,
        None,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            keys(&[(ZONE_KEY, "green")]),
            step(Action::WaitRouter {
                timeout: Duration::from_secs(60),
            }),
            flip(),
            step(Action::WaitRouter {
                timeout: Duration::from_secs(60),
            }),
            scale("blue", 0),
        ],
    );
    w.run(&p).await.expect("deploys");
    let waits = w.step_elapsed("wait_router");
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[0] >= 6000, "the first wait watches lb2: {waits:?}");
    assert!(waits[1] < 1000, "the second skips it at once: {waits:?}");
    let gone = router_events(&w)
        .iter()
        .filter(|e| matches!(e, Event::RouterGone { .. }))
        .count();
    assert_eq!(gone, 1, "reported once");
}

#[tokio::test]
async fn a_live_router_that_never_confirms_fails_the_wait_naming_it() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    router(&w, "lb1", sec, 300 * sec, Some(Duration::ZERO));
    // Alive (it beats) but stuck on the old keys, e.g. its reload fails.
    router(&w, "stuck", sec, 300 * sec, None);
    let err = w
        .run(&flip_and_wait_for_routers(Duration::from_secs(10)))
        .await
        .expect_err("rolled back");
    assert_eq!(err.exit_code(), 1, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("router stuck: still serving the previous keys"),
        "{text}"
    );
    assert!(!text.contains("lb1"), "lb1 confirmed: {text}");
    assert!(text.contains("shipctl route"), "{text}");
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn when_every_registered_router_is_dead_the_wait_fails() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    router(&w, "lb1", sec, Duration::ZERO, None);
    let err = w
        .run(&flip_and_wait_for_routers(Duration::from_secs(10)))
        .await
        .expect_err("nobody serves the new keys");
    assert_eq!(err.exit_code(), 1, "{err}");
    let text = err.to_string();
    assert!(text.contains("no live router serves them"), "{text}");
    assert!(text.contains("router lb1"), "{text}");
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn a_router_that_stops_cleanly_is_not_waited_for() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    let start = w.clock.elapsed();
    router(&w, "lb1", sec, 300 * sec, Some(Duration::ZERO));
    router(&w, "lb2", sec, 300 * sec, None);
    // lb2 is stopped with Ctrl-C 20s in: it deletes its registration (and beats no more).
    let mut scheduled_after = 20 * sec;
    while scheduled_after <= 301 * sec {
        w.kv.write_at(start + scheduled_after, "web-router/lb2", None);
        scheduled_after += sec;
    }
    w.run(&flip_and_wait_for_routers(Duration::from_secs(60)))
        .await
        .expect("deploys");
    let scaled = w.journal.time_of("scale demo_web-blue 0").expect("scaled") - start;
    assert!(
        scaled >= 20 * sec && scaled < 21 * sec,
        "blue went at {scaled:?}"
    );
    assert!(
        !router_events(&w)
            .iter()
            .any(|e| matches!(e, Event::RouterGone { .. })),
        "a router that deregistered is not reported dead"
    );
}

#[tokio::test]
async fn a_failing_probe_keeps_the_gate_closed() {
    let w = World::new(3);
    *w.prober.failure.lock().unwrap_or_else(|e| e.into_inner()) =
        Some("GET http://10.0.1.5:8080/up answered 503, expected 200".into());
    let mut p = blue_green(None);
    p.services[0].policy.health.timeout = Duration::from_secs(120);
    p.services[0].policy.health.probe = Some(crate::spec::model::HttpProbe {
        path: "/up".into(),
        port: 8080,
        expect_status: 200,
        expect_body: None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
    });
    let err = w.run(&p).await.expect_err("fails");
    assert!(err.to_string().contains("HTTP probe failing"), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(w.keys(), World::original_keys());
}

#[tokio::test]
async fn a_first_deploy_that_fails_leaves_nothing_running() {
    let w = World::new(0);
    w.kv.set_unavailable(false);
    let mut p = blue_green(None);
    let service = &mut p.services[0];
    service.from = None;
    service.steps = vec![
        step(Action::CreateZone {
            zone: "green".into(),
            service: GREEN.into(),
            image: "example/web:1.4.2".into(),
            version: "1.4.2".into(),
            replicas: 3,
        }),
        wait("green", 3, "1.4.2"),
        flip(),
    ];
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let err = w.run(&p).await.expect_err("fails");
    assert_eq!(err.exit_code(), 1);
    let help = help_of(&err);
    assert!(help.contains("nothing served web"), "{help}");
    assert_eq!(w.cluster.desired(GREEN), Some(0));
}

#[tokio::test]
async fn a_manager_hiccup_is_retried() {
    let w = World::new(3);
    w.cluster.fail_next_applies(2);
    w.run(&blue_green(None))
        .await
        .expect("deploys after retries");
    let warnings = w
        .sink
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Warning { message, .. } if message.contains("retrying")))
        .count();
    assert_eq!(warnings, 2);
    assert_eq!(w.cluster.desired(GREEN), Some(3));

    let w = World::new(3);
    w.cluster.fail_next_applies(3);
    let err = w.run(&blue_green(None)).await.expect_err("gives up");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("applying demo_web-green"), "{err}");
}

#[tokio::test]
async fn an_unreachable_cluster_at_the_start_changes_nothing() {
    let w = World::new(3);
    w.cluster.set_unavailable(true);
    let err = w.run(&blue_green(None)).await.expect_err("fails");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(w.ops().is_empty());
    assert!(matches!(
        w.sink.events().last(),
        Some(Event::DeployFinished {
            result: RunResult::NotStarted,
            ..
        })
    ));
}

#[tokio::test]
async fn failing_to_scale_the_old_zone_down_does_not_undo_the_deploy() {
    let w = World::new(3);
    w.cluster.break_scale_of(BLUE);
    let err = w.run(&blue_green(None)).await.expect_err("needs attention");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("is deployed and serves"), "{err}");
    let help = help_of(&err);
    assert!(
        help.contains("docker service scale demo_web-blue=0"),
        "{help}"
    );
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert_eq!(w.cluster.desired(GREEN), Some(3));
}

#[tokio::test]
async fn a_saved_plan_is_refused_when_the_cluster_moved() {
    let w = World::new(2);
    let mut p = blue_green(None);
    p.observed.source = crate::plan::StateSource::Cluster;
    let err = w.run(&p).await.expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string()
            .contains("blue: planned from 1.4.1 x3, now 1.4.1 x2"),
        "{err}"
    );
    assert!(w.ops().is_empty());

    // Unchanged: accepted.
    let w = World::new(3);
    w.run(&p).await.expect("deploys");
}

#[tokio::test]
async fn health_is_watched_during_a_timed_pause() {
    let w = World::new(4);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::Crash {
                after: Duration::from_secs(5),
                code: 2,
            },
            ..Behaviour::default()
        },
    );
    let p = plan(
        Strategy::Canary,
        None,
        vec![
            update("green", 1),
            wait("green", 1, "1.4.2"),
            scale("blue", 3),
            keys(&[(TRAFFIC_KEY, "blue=75,green=25")]),
            step(Action::Pause {
                duration: Some(Duration::from_secs(300)),
            }),
            scale("green", 4),
        ],
    );
    let err = w.run(&p).await.expect_err("rolled back");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("during the pause"), "{err}");
    assert!(err.to_string().contains("crash loop"), "{err}");
    assert!(w.clock.elapsed() < Duration::from_secs(3600 + 120));
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(BLUE), Some(4));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
}

/// Adds a second service, `api`, with these steps, after web.
fn add_api(p: &mut Plan, steps: Vec<Step>) {
    let mut api = p.services[0].clone();
    api.service = "api".into();
    api.keys = KeyTemplates::for_layout(KeyLayout::Classic).for_service("demo", "api");
    api.steps = steps;
    p.services.push(api);
}

/// api's first step: 1 replica of 2.1.0 in green.
fn update_api() -> Step {
    step(Action::UpdateZone {
        zone: "green".into(),
        service: "demo_api-green".into(),
        image: "example/api:2.1.0".into(),
        version: "2.1.0".into(),
        replicas: 1,
    })
}

#[tokio::test]
async fn a_second_service_failing_names_the_ones_already_deployed() {
    let w = World::new(3);
    w.cluster.existing("demo_api-blue", "2.0.0", 1);
    let mut p = blue_green(None);
    add_api(
        &mut p,
        vec![
            update_api(),
            step(Action::WaitHealthy {
                zone: "green".into(),
                service: "demo_api-green".into(),
                replicas: 1,
                version: "2.1.0".into(),
                timeout: Duration::from_secs(60),
                min_healthy: Duration::ZERO,
            }),
        ],
    );
    w.cluster.behave(
        "2.1.0",
        Behaviour {
            fate: Fate::MissingImage,
            ..Behaviour::default()
        },
    );
    let err = w.run(&p).await.expect_err("api fails");
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("already deployed: web"), "{err}");
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.cluster.desired("demo_api-green"), Some(0));
}

#[tokio::test]
async fn the_progress_record_follows_the_run() {
    // Done: no record left.
    let w = World::new(3);
    w.run(&blue_green(None)).await.expect("deploys");
    assert_eq!(w.record(), None);
    assert!(w.journal.entries()[0].starts_with("kv put web-progress="));

    // Interrupted: where it stopped and what comes next.
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            pending: Duration::from_secs(30),
            ..Behaviour::default()
        },
    );
    w.clock
        .cancel_at(w.clock.elapsed() + Duration::from_secs(5), w.cancel.clone());
    w.run(&blue_green(None)).await.expect_err("interrupted");
    let record = w.record().expect("a record");
    assert_eq!(record.state, RunState::Interrupted);
    assert_eq!(record.steps_done, 1);
    assert_eq!(
        record.next_step.as_deref(),
        Some("wait for 3 healthy green tasks of 1.4.2")
    );

    // A canary waiting for promotion.
    let w = World::new(3);
    let p = plan(
        Strategy::Canary,
        None,
        vec![
            update("green", 1),
            wait("green", 1, "1.4.2"),
            step(Action::Pause { duration: None }),
        ],
    );
    w.run(&p).await.expect("paused");
    let record = w.record().expect("a record");
    assert_eq!(record.state, RunState::AwaitingPromotion);
    assert_eq!((record.steps_done, record.total_steps), (3, 3));
}

#[tokio::test]
async fn a_rollback_that_cannot_restore_the_keys_needs_attention() {
    let w = World::new(3);
    // The flip goes through, the router never confirms, and the store is gone when the
    // rollback wants to write the old keys back.
    w.kv.go_down_after_writes(1);
    let p = plan(
        Strategy::BlueGreen,
        None,
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitRouter {
                timeout: Duration::from_secs(10),
            }),
            scale("blue", 0),
        ],
    );
    let err = w.run(&p).await.expect_err("needs attention");
    assert_eq!(err.exit_code(), 3, "{err}");
    let text = err.to_string();
    assert!(text.contains("rollback incomplete"), "{text}");
    assert!(
        text.contains("could not restore the routing keys"),
        "{text}"
    );
    let help = help_of(&err);
    assert!(
        help.contains("routing keys now: web-active-zone=green"),
        "{help}"
    );
    // Green still gets the traffic: it must keep running.
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
    w.kv.set_unavailable(false);
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert!(
        w.sink
            .events()
            .iter()
            .any(|e| matches!(e, Event::RollbackFinished { ok: false, .. }))
    );
}

#[tokio::test]
async fn a_long_wait_reports_its_progress_now_and_then() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            pending: Duration::from_secs(45),
            ..Behaviour::default()
        },
    );
    w.run(&blue_green(None)).await.expect("deploys");
    let pending_reports = w
        .sink
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::HealthProgress {
                    healthy: 0,
                    starting: 0,
                    ..
                }
            )
        })
        .count();
    // 45 s of pending tasks: reported at the start and about every 10 s.
    assert!((4..=6).contains(&pending_reports), "{pending_reports}");
}

#[tokio::test]
async fn a_stall_fails_at_the_progress_deadline_with_what_holds_it() {
    let w = World::new(3);
    // Tasks never leave pending and nothing says why.
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            pending: Duration::from_secs(100_000),
            ..Behaviour::default()
        },
    );
    let mut p = blue_green(None);
    p.services[0].policy.health.progress_deadline = Duration::from_secs(30);
    let err = w.run(&p).await.expect_err("stalls");
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string()
            .contains("green did not become healthy: no progress for 30s"),
        "{err}"
    );
    let failed_at = w.at("scale demo_web-green 0");
    assert!(failed_at >= Duration::from_secs(30) && failed_at < Duration::from_secs(31));

    // Without a deadline, the timeout ends it.
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            pending: Duration::from_secs(100_000),
            ..Behaviour::default()
        },
    );
    p.services[0].policy.health.progress_deadline = Duration::ZERO;
    let err = w.run(&p).await.expect_err("times out");
    assert!(
        err.to_string()
            .contains("green did not become healthy: timed out after 2m"),
        "{err}"
    );
}

#[tokio::test]
async fn a_gate_that_cannot_pass_in_time_times_out() {
    let w = World::new(3);
    let mut p = blue_green(None);
    p.services[0].steps[1] = step(Action::WaitHealthy {
        zone: "green".into(),
        service: GREEN.into(),
        replicas: 3,
        version: "1.4.2".into(),
        timeout: Duration::from_secs(20),
        // Longer than the timeout: the gate cannot pass.
        min_healthy: Duration::from_secs(60),
    });
    let err = w.run(&p).await.expect_err("times out");
    assert!(
        err.to_string()
            .contains("green did not become healthy: timed out after 20s"),
        "{err}"
    );
}

#[tokio::test]
async fn crashes_of_an_earlier_attempt_do_not_fail_a_retry() {
    let w = World::new(3);
    // The last attempt crashed in green a few seconds ago; the cause is fixed now.
    w.cluster.crashed_before(GREEN, "1.4.2", 3);
    w.run(&blue_green(None)).await.expect("the retry deploys");
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
}

#[tokio::test]
async fn losing_the_lock_stops_before_the_next_change() {
    let w = World::new(3);
    let lock = FakeLock::default();
    let p = blue_green(None);
    let executor = w.executor(&NonInteractive).with_lock("web", &lock);
    // Lost while green becomes healthy: the flip must not happen.
    w.clock.cancel_at(
        w.clock.elapsed() + Duration::from_secs(2),
        lock.lost.clone(),
    );
    let err = executor.run(&p).await.expect_err("stops");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("lost the deploy lock (web-lock) before step 3/5"),
        "{err}"
    );
    assert_eq!(w.ops(), vec!["apply demo_web-green 1.4.2 x3"]);
    assert_eq!(w.keys(), World::original_keys());
}

#[tokio::test]
async fn a_lock_taken_over_unnoticed_refuses_the_switch_and_nothing_is_undone() {
    let w = World::new(3);
    // The renewal never noticed (a process paused past the TTL): only the store knows.
    let lock = FakeLock::default();
    let fenced = crate::kv::FencedKv::new(&w.kv, vec![lock.fence()]);
    let p = blue_green(None);
    let executor = w.executor_on(&fenced).with_lock("web", &lock);
    w.kv.lose_lock("fake-lock");
    let err = executor.run(&p).await.expect_err("stops");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("lost the deploy lock (web-lock) before step 1/5"),
        "{err}"
    );
    assert!(w.ops().is_empty(), "{:?}", w.ops());
    assert_eq!(w.keys(), World::original_keys());
}

#[tokio::test]
async fn a_lock_lost_during_the_gate_refuses_the_switch_write_and_scales_nothing_down() {
    let w = World::new(3);
    let lock = FakeLock::default();
    let fenced = crate::kv::FencedKv::new(&w.kv, vec![lock.fence()]);
    let p = blue_green(None);
    // No lock check between steps here (as if the check raced the take-over): the fenced
    // write is what refuses.
    let executor = w.executor_on(&fenced);
    w.kv.lose_lock("fake-lock");
    let err = executor.run(&p).await.expect_err("stops");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string().contains("is no longer held by this deploy"),
        "{err}"
    );
    assert_eq!(
        w.ops(),
        vec![
            "apply demo_web-green 1.4.2 x3",
            "kv write refused (fake-lock lost): web-active-zone web-active-version web-traffic",
        ]
    );
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(GREEN), Some(3), "green is left as it is");
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn losing_the_lock_of_a_second_service_stops_before_its_next_change() {
    let w = World::new(3);
    w.cluster.existing("demo_api-blue", "2.0.0", 1);
    let mut p = blue_green(None);
    add_api(&mut p, vec![update_api()]);
    let (web_lock, api_lock) = (FakeLock::default(), FakeLock::default());
    api_lock.lost.cancel();
    let executor = w
        .executor(&NonInteractive)
        .with_lock("web", &web_lock)
        .with_lock("api", &api_lock);
    let err = executor.run(&p).await.expect_err("stops at api");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("lost the deploy lock (api-lock) before step 1/1"),
        "{err}"
    );
    // web, whose lock holds, went through; api was not touched.
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    assert_eq!(w.cluster.desired("demo_api-green"), None);
}

#[tokio::test]
async fn the_real_clock_abandons_a_wait_when_cancelled() {
    let w = World::new(1);
    let executor = Executor::new(
        Ports {
            cluster: &w.cluster,
            kv: &w.kv,
            prober: &w.prober,
            metrics: &w.metrics,
            clock: &TokioClock,
            sink: &w.sink,
            decider: &NonInteractive,
        },
        w.cancel.clone(),
    );
    let cancel = w.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let result = executor.sleep(Duration::from_secs(30)).await;
    assert!(matches!(
        result,
        Err(super::step_error::StepError::Interrupted)
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Not cancelled: it sleeps.
    let executor = Executor::new(
        Ports {
            cluster: &w.cluster,
            kv: &w.kv,
            prober: &w.prober,
            metrics: &w.metrics,
            clock: &TokioClock,
            sink: &w.sink,
            decider: &NonInteractive,
        },
        CancellationToken::new(),
    );
    let started = std::time::Instant::now();
    assert!(executor.sleep(Duration::from_millis(30)).await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn a_run_can_be_driven_from_any_runtime_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let w = World::new(1);
    let p = blue_green(None);
    let executor = Executor::new(
        Ports {
            cluster: &w.cluster,
            kv: &w.kv,
            prober: &w.prober,
            metrics: &w.metrics,
            clock: &TokioClock,
            sink: &w.sink,
            decider: &NonInteractive,
        },
        w.cancel.clone(),
    );
    assert_send(&executor.run(&p));
}

#[tokio::test]
async fn undoing_a_first_deploy_removes_the_keys_it_created() {
    let w = World::new(0);
    for key in [ZONE_KEY, VERSION_KEY, TRAFFIC_KEY] {
        w.kv.unset(key);
    }
    let mut p = blue_green(None);
    let service = &mut p.services[0];
    service.from = None;
    service.steps = vec![
        step(Action::CreateZone {
            zone: "green".into(),
            service: GREEN.into(),
            image: "example/web:1.4.2".into(),
            version: "1.4.2".into(),
            replicas: 2,
        }),
        wait("green", 2, "1.4.2"),
        flip(),
        step(Action::WaitRouter {
            timeout: Duration::from_secs(5),
        }),
    ];
    let err = w.run(&p).await.expect_err("the router never confirms");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert_eq!(w.keys(), (None, None, None));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(
        w.ops(),
        vec![
            "apply demo_web-green 1.4.2 x2",
            "kv write web-active-zone=green web-active-version=1.4.2 web-traffic=blue=0,green=100",
            "kv delete web-active-zone",
            "kv delete web-active-version",
            "kv delete web-traffic",
            "scale demo_web-green 0",
        ]
    );
}

/// Fixes the new version when asked, then says to keep waiting.
struct FixingDecider<'w> {
    cluster: &'w FakeCluster,
}

#[async_trait::async_trait]
impl FailureDecider for FixingDecider<'_> {
    fn interactive(&self) -> bool {
        true
    }

    async fn decide(&self, _failure: &FailureReport) -> Decision {
        self.cluster.behave("1.4.2", Behaviour::default());
        Decision::KeepWaiting
    }
}

#[tokio::test]
async fn keep_waiting_judges_only_what_happens_after_the_answer() {
    let w = World::new(3);
    w.cluster.behave(
        "1.4.2",
        Behaviour {
            fate: Fate::Crash {
                after: Duration::from_secs(1),
                code: 1,
            },
            ..Behaviour::default()
        },
    );
    let decider = FixingDecider {
        cluster: &w.cluster,
    };
    w.run_with(&blue_green(None), &decider)
        .await
        .expect("deploys once fixed");
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    let failures = w
        .sink
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Failure { .. }))
        .count();
    assert_eq!(failures, 1);
}

/// `redis` deployed in place on 7.0, planned to 7.2.
fn in_place_plan() -> Plan {
    let mut p = plan(
        Strategy::InPlace,
        None,
        vec![
            step(Action::UpdateZone {
                zone: IN_PLACE.into(),
                service: "demo_redis".into(),
                image: "example/web:7.2".into(),
                version: "7.2".into(),
                replicas: 1,
            }),
            step(Action::WaitHealthy {
                zone: IN_PLACE.into(),
                service: "demo_redis".into(),
                replicas: 1,
                version: "7.2".into(),
                timeout: Duration::from_secs(60),
                min_healthy: Duration::from_secs(2),
            }),
            keys(&[("redis-active-version", "7.2")]),
        ],
    );
    let service = &mut p.services[0];
    service.service = "redis".into();
    service.keys = KeyTemplates::for_layout(KeyLayout::Classic).for_service("demo", "redis");
    service.from = Some(ZoneVersion {
        zone: IN_PLACE.into(),
        version: "7.0".into(),
    });
    service.to = ZoneVersion {
        zone: IN_PLACE.into(),
        version: "7.2".into(),
    };
    let mut zones = IndexMap::new();
    zones.insert(
        IN_PLACE.to_string(),
        ZoneState {
            service_name: "demo_redis".into(),
            desired: 1,
            running: 1,
            healthy: 1,
            version: Some("7.0".into()),
            ..ZoneState::default()
        },
    );
    p.observed.services = IndexMap::from([(
        "redis".to_string(),
        ServiceState {
            zones,
            ..ServiceState::default()
        },
    )]);
    p
}

/// Remembers the services it was told switched.
#[derive(Default)]
struct Switched(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl OnSwitch for Switched {
    async fn switched(&self, service: &ServicePlan) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(service.service.clone());
        }
    }
}

#[tokio::test]
async fn an_in_place_update_goes_live_and_writes_the_version() {
    let w = World::new(0);
    w.cluster.existing("demo_redis", "7.0", 1);
    w.kv.set("redis-active-version", "7.0");
    let switched = Switched::default();
    w.executor(&NonInteractive)
        .with_on_switch(&switched)
        .run(&in_place_plan())
        .await
        .expect("deploy succeeds");
    // post_switch hooks run when its version key moves.
    assert_eq!(*switched.0.lock().unwrap(), ["redis"]);
    assert_eq!(w.cluster.version("demo_redis").as_deref(), Some("7.2"));
    assert_eq!(w.kv.value("redis-active-version").as_deref(), Some("7.2"));
    // No zone was touched.
    assert!(
        !w.ops().iter().any(|op| op.contains("demo_web")),
        "{:?}",
        w.ops()
    );
}

#[tokio::test]
async fn an_in_place_update_that_fails_its_gate_goes_back_to_the_previous_spec() {
    let w = World::new(0);
    w.cluster.existing("demo_redis", "7.0", 1);
    w.kv.set("redis-active-version", "7.0");
    w.cluster.behave(
        "7.2",
        Behaviour {
            fate: Fate::Crash {
                after: Duration::from_secs(1),
                code: 1,
            },
            ..Behaviour::default()
        },
    );
    let err = w.run(&in_place_plan()).await.expect_err("fails");
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert_eq!(w.cluster.version("demo_redis").as_deref(), Some("7.0"));
    assert_eq!(w.cluster.desired("demo_redis"), Some(1));
    assert!(
        w.ops().iter().any(|op| op == "revert demo_redis"),
        "{:?}",
        w.ops()
    );
    assert_eq!(w.kv.value("redis-active-version").as_deref(), Some("7.0"));
}

#[tokio::test]
async fn a_switch_whose_answer_is_lost_is_read_back_and_goes_on() {
    let w = World::new(3);
    w.kv.lose_answer_of_write(1);
    let outcome = w
        .run(&blue_green(None))
        .await
        .expect("the keys were written");
    assert!(
        outcome
            .services
            .iter()
            .all(|s| matches!(s.result, ServiceResult::Done { .. }))
    );
    assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("green"));
    // Green serves: only blue, which no key points at any more, was scaled down.
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.cluster.desired(BLUE), Some(0));
}

#[tokio::test]
async fn a_switch_whose_outcome_stays_unknown_scales_nothing_down() {
    let w = World::new(3);
    w.kv.lose_answer_of_write(1);
    // ... and the store is gone right after: the keys cannot be read back.
    w.kv.go_down_after_writes(1);
    let err = w.run(&blue_green(None)).await.expect_err("cannot tell");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("could not tell whether the switch"),
        "{err}"
    );
    // The keys may point at either zone: both keep their tasks.
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

/// Several services deployed by one run: gated in parallel in dependency order, switched in
/// one atomic write, all or nothing.
mod release {
    use super::*;

    /// `plan`'s web service again as `name`, deploying `version`; its blue zone serves 1.4.1.
    fn add_service(w: &World, plan: &mut Plan, name: &str, version: &str) {
        let json = serde_json::to_string(&plan.services[0]).expect("a plan serialises");
        let json = json
            .replace("demo_web-", &format!("demo_{name}-"))
            .replace("web-", &format!("{name}-"))
            .replace("\"web\"", &format!("\"{name}\""))
            .replace("1.4.2", version);
        let service: ServicePlan = serde_json::from_str(&json).expect("and reads back");
        let mut observed = plan.observed.services["web"].clone();
        for zone in observed.zones.values_mut() {
            zone.service_name = zone
                .service_name
                .replace("demo_web-", &format!("demo_{name}-"));
        }
        plan.observed.services.insert(name.to_string(), observed);
        plan.services.push(service);
        w.cluster.existing(&format!("demo_{name}-blue"), "1.4.1", 3);
        w.kv.set(&format!("{name}-active-zone"), "blue");
        w.kv.set(&format!("{name}-active-version"), "1.4.1");
        w.kv.set(&format!("{name}-traffic"), "blue=100,green=0");
    }

    fn position(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
        events
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("not found in {events:?}"))
    }

    fn kv_writes(w: &World) -> Vec<String> {
        w.ops()
            .into_iter()
            .filter(|op| op.starts_with("kv write"))
            .collect()
    }

    #[tokio::test]
    async fn every_service_switches_in_one_atomic_write_after_every_gate_passed() {
        let w = World::new(3);
        let mut plan = blue_green(None);
        add_service(&w, &mut plan, "api", "2.0.0");
        add_service(&w, &mut plan, "worker", "3.0.0");

        let outcome = w.run(&plan).await.expect("the release succeeds");

        assert!(
            outcome
                .services
                .iter()
                .all(|s| matches!(s.result, ServiceResult::Done { .. })),
            "{outcome:?}"
        );
        let writes = kv_writes(&w);
        assert_eq!(writes.len(), 1, "one switch for three services: {writes:?}");
        for key in [
            "web-active-zone=green",
            "api-active-zone=green",
            "worker-active-zone=green",
            "api-active-version=2.0.0",
        ] {
            assert!(writes[0].contains(key), "{key} in {}", writes[0]);
        }
        // Gated in parallel: every new zone was applied before the switch, and the switch
        // came before any old zone was scaled down.
        let ops = w.ops();
        let at = |prefix: &str| {
            ops.iter()
                .position(|op| op.starts_with(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` in {ops:?}"))
        };
        let switch = at("kv write");
        for name in ["web", "api", "worker"] {
            assert!(at(&format!("apply demo_{name}-green")) < switch);
            assert!(at(&format!("scale demo_{name}-blue 0")) > switch);
        }
        // Side by side: every new zone started before the first gate passed.
        let events = w.sink.events();
        let first_healthy = position(
            &events,
            |e| matches!(e, Event::StepFinished { action, .. } if action == "wait_healthy"),
        );
        let last_started = events
            .iter()
            .rposition(|e| matches!(e, Event::StepStarted { index: 1, .. }))
            .expect("zones started");
        assert!(last_started < first_healthy, "{events:?}");
        let events = w.sink.events();
        assert!(events.iter().any(|e| matches!(e,
            Event::ReleaseSwitched { services, writes: 1, .. } if services.len() == 3)));
    }

    #[tokio::test]
    async fn a_failed_gate_switches_nothing_and_every_new_zone_goes_back_to_zero() {
        let w = World::new(3);
        w.cluster.behave(
            "2.0.0",
            Behaviour {
                fate: Fate::Unhealthy,
                ..Behaviour::default()
            },
        );
        let mut plan = blue_green(Some(OnFailure::Rollback));
        add_service(&w, &mut plan, "api", "2.0.0");
        add_service(&w, &mut plan, "worker", "3.0.0");

        let err = w.run(&plan).await.expect_err("api never becomes healthy");

        assert_eq!(err.exit_code(), 1, "{err}");
        let message = err.to_string();
        assert!(message.contains("api"), "{message}");
        assert!(message.contains("nothing was switched"), "{message}");
        assert!(kv_writes(&w).is_empty(), "no key changed: {:?}", w.ops());
        for name in ["web", "api", "worker"] {
            assert_eq!(
                w.kv.value(&format!("{name}-active-zone")).as_deref(),
                Some("blue")
            );
            assert_eq!(
                w.cluster.desired(&format!("demo_{name}-green")),
                Some(0),
                "{name}"
            );
            assert_eq!(
                w.cluster.desired(&format!("demo_{name}-blue")),
                Some(3),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_service_is_gated_after_the_services_it_depends_on() {
        let w = World::new(3);
        let mut plan = blue_green(None);
        add_service(&w, &mut plan, "api", "2.0.0");
        // web needs api.
        plan.needs.insert("web".into(), vec!["api".into()]);

        w.run(&plan).await.expect("the release succeeds");

        let api_healthy = w
            .sink
            .events()
            .iter()
            .position(|e| {
                matches!(e, Event::StepFinished { service, action, .. }
                if service == "api" && action == "wait_healthy")
            })
            .expect("api was gated");
        let web_started = w
            .sink
            .events()
            .iter()
            .position(
                |e| matches!(e, Event::StepStarted { service, index: 1, .. } if service == "web"),
            )
            .expect("web started");
        assert!(api_healthy < web_started, "{:?}", w.sink.events());
        assert_eq!(kv_writes(&w).len(), 1);
    }

    #[tokio::test]
    async fn a_store_that_limits_a_transaction_gets_whole_services_per_write() {
        let w = World::new(3);
        w.kv.limit_atomic_ops(7);
        let mut plan = blue_green(None);
        add_service(&w, &mut plan, "api", "2.0.0");
        add_service(&w, &mut plan, "worker", "3.0.0");

        w.run(&plan).await.expect("the release succeeds");

        // Three keys per service, at most seven per write: two services, then one.
        let writes = kv_writes(&w);
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[0].matches("active-zone=green").count(), 2);
        assert_eq!(writes[1].matches("active-zone=green").count(), 1);
        assert!(
            w.sink
                .events()
                .iter()
                .any(|e| matches!(e, Event::ReleaseSwitched { writes: 2, .. }))
        );
    }

    #[tokio::test]
    async fn a_service_in_place_goes_first_and_back_to_its_previous_spec_when_a_gate_fails() {
        let w = World::new(3);
        w.cluster.existing("demo_redis", "7.0", 1);
        w.kv.set("redis-active-version", "7.0");
        w.cluster.behave(
            "1.4.2",
            Behaviour {
                fate: Fate::Unhealthy,
                ..Behaviour::default()
            },
        );
        let mut plan = in_place_plan();
        let web = blue_green(Some(OnFailure::Rollback));
        plan.services.push(web.services[0].clone());
        plan.observed
            .services
            .insert("web".into(), web.observed.services["web"].clone());
        plan.needs.insert("web".into(), vec!["redis".into()]);

        let err = w.run(&plan).await.expect_err("web never becomes healthy");

        assert_eq!(err.exit_code(), 1, "{err}");
        let ops = w.ops();
        let at = |prefix: &str| ops.iter().position(|op| op.starts_with(prefix));
        // redis was updated (and gated) before web started, and reverted after web failed.
        let updated = at("apply demo_redis 7.2").expect("redis updated");
        let web_started = at("apply demo_web-green").expect("web started");
        let reverted = at("revert demo_redis").expect("redis reverted");
        assert!(updated < web_started && web_started < reverted, "{ops:?}");
        assert_eq!(w.cluster.version("demo_redis").as_deref(), Some("7.0"));
        assert_eq!(w.kv.value("redis-active-version").as_deref(), Some("7.0"));
        assert_eq!(w.kv.value(ZONE_KEY).as_deref(), Some("blue"));
    }

    #[tokio::test]
    async fn at_most_parallel_services_are_gated_at_once() {
        let w = World::new(3);
        let mut plan = blue_green(None);
        add_service(&w, &mut plan, "api", "2.0.0");
        add_service(&w, &mut plan, "worker", "3.0.0");

        w.executor(&NonInteractive)
            .with_parallel(1)
            .run(&plan)
            .await
            .expect("the release succeeds");

        // One at a time: each service starts after the one before passed its gate.
        let events = w.sink.events();
        for (before, after) in [("web", "api"), ("api", "worker")] {
            let healthy = position(&events, |e| {
                matches!(e, Event::StepFinished { service, action, .. }
                    if service == before && action == "wait_healthy")
            });
            let started = position(
                &events,
                |e| matches!(e, Event::StepStarted { service, index: 1, .. } if service == after),
            );
            assert!(healthy < started, "{before} then {after}: {events:?}");
        }
        assert_eq!(kv_writes(&w).len(), 1);
    }
}

fn error_rate_analysis(count: u32) -> crate::spec::model::Analysis {
    crate::spec::model::Analysis {
        interval: Duration::from_secs(10),
        count,
        failure_limit: 0,
        inconclusive_limit: 1,
        metrics: vec![crate::spec::model::Metric {
            name: "errors".into(),
            provider: crate::spec::model::Provider::Router {
                query: crate::spec::model::RouterQuery::ErrorRate,
                condition: crate::spec::model::Condition::parse("< 1%").expect("condition"),
                min_requests: 10,
            },
        }],
    }
}

fn traffic(requests: u64, errors: u64) -> Result<crate::ports::Reading, String> {
    Ok(crate::ports::Reading::Counters(
        crate::ports::ZoneCounters {
            requests,
            errors,
            buckets: vec![(0.1, requests), (f64::INFINITY, requests)],
            routers: 1,
        },
    ))
}

fn analyze(analysis: crate::spec::model::Analysis, bake: Option<Duration>) -> Step {
    step(Action::Analyze {
        zone: "green".into(),
        version: "1.4.2".into(),
        analysis: Some(analysis),
        bake,
    })
}

#[tokio::test]
async fn a_canary_whose_traffic_fails_its_analysis_goes_back_with_the_measured_rate() {
    let w = World::new(4);
    // Baseline, one good window (0.5%), then one at 5%.
    w.metrics
        .answer(vec![traffic(0, 0), traffic(200, 1), traffic(400, 11)]);
    let p = plan(
        Strategy::Canary,
        Some(OnFailure::Rollback),
        vec![
            update("green", 1),
            wait("green", 1, "1.4.2"),
            scale("blue", 3),
            keys(&[(TRAFFIC_KEY, "blue=75,green=25")]),
            analyze(error_rate_analysis(3), None),
            scale("green", 4),
        ],
    );
    let err = w.run(&p).await.expect_err("the analysis fails");
    assert_eq!(err.exit_code(), 1, "{err}");
    let text = format!("{err} {}", help_of(&err));
    assert!(text.contains("error_rate 5% is not < 1%"), "{text}");
    assert!(text.contains("10 of 200 requests answered 5xx"), "{text}");
    // Caught at the second interval; the old zone is back to full, the keys as before.
    assert_eq!(w.cluster.desired(BLUE), Some(4));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(w.keys(), World::original_keys());
    let measured: Vec<String> = w
        .sink
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::AnalysisMeasured { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(measured, ["passed", "failed"]);
    assert!(!w.ops().iter().any(|o| o.contains("scale demo_web-green 4")));
}

#[tokio::test]
async fn a_good_canary_passes_its_analysis_after_count_measurements() {
    let w = World::new(4);
    w.metrics.answer(vec![
        traffic(0, 0),
        traffic(100, 0),
        traffic(250, 1),
        traffic(400, 1),
    ]);
    let p = plan(
        Strategy::Canary,
        Some(OnFailure::Rollback),
        vec![
            update("green", 1),
            wait("green", 1, "1.4.2"),
            keys(&[(TRAFFIC_KEY, "blue=75,green=25")]),
            analyze(error_rate_analysis(3), None),
            scale("green", 4),
        ],
    );
    w.run(&p).await.expect("the analysis passes");
    assert_eq!(w.cluster.desired(GREEN), Some(4));
    assert_eq!(*w.metrics.reads.lock().expect("reads"), 4);
    let elapsed = w.step_elapsed("analyze");
    assert!(
        elapsed[0] >= 30_000 && elapsed[0] < 32_000,
        "three 10 s intervals: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_failed_bake_switches_the_keys_back_before_the_new_zone_scales_down() {
    let w = World::new(3);
    w.metrics
        .answer(vec![traffic(0, 0), traffic(300, 0), traffic(600, 40)]);
    let p = baked_blue_green(Duration::from_secs(60));
    let err = w.run(&p).await.expect_err("the bake fails");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert_eq!(w.keys(), World::original_keys());
    let ops = w.ops();
    let back = ops
        .iter()
        .position(|o| o.contains("web-active-zone=blue"))
        .unwrap_or_else(|| panic!("{ops:?}"));
    let down = ops
        .iter()
        .position(|o| o == "scale demo_web-green 0")
        .unwrap_or_else(|| panic!("{ops:?}"));
    assert!(back < down, "{ops:?}");
    // blue was never scaled: it stayed warm the whole bake.
    assert!(
        !ops.iter().any(|o| o.starts_with("scale demo_web-blue")),
        "{ops:?}"
    );
    // The failure came at the second interval of the bake, not at its end.
    let failed_at = w.at("kv write web-active-zone=blue") - w.at("kv write web-active-zone=green");
    assert!(failed_at < Duration::from_secs(25), "{failed_at:?}");
}

/// Blue-green to green, then a `bake` judged by the error rate, then blue goes.
fn baked_blue_green(bake: Duration) -> Plan {
    plan(
        Strategy::BlueGreen,
        Some(OnFailure::Rollback),
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            analyze(error_rate_analysis(1), Some(bake)),
            scale("blue", 0),
        ],
    )
}

/// Blue-green to green with a 60 s bake that fails at its second interval, behind one router
/// `lb1` reloading as `reloads` says; the deploy waits up to `router_timeout` for it.
async fn bake_failing_behind_a_router(
    w: &World,
    reloads: &[(Duration, [(&str, &str); 3])],
    router_timeout: Duration,
) -> Error {
    w.metrics
        .answer(vec![traffic(0, 0), traffic(300, 0), traffic(600, 40)]);
    router_reloading(
        w,
        "lb1",
        Duration::from_secs(1),
        Duration::from_secs(300),
        reloads,
    );
    let mut p = baked_blue_green(Duration::from_secs(60));
    p.services[0].policy.drain.wait_for_router = true;
    p.services[0].policy.drain.router_timeout = router_timeout;
    w.run(&p).await.expect_err("the bake fails")
}

#[tokio::test]
async fn after_a_failed_bake_the_new_zone_goes_once_the_routers_serve_the_old_keys_and_drained() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    // The router serves the flip at once, and the keys written back only at 60 s.
    let err =
        bake_failing_behind_a_router(&w, &[(sec, NEW_KEYS), (60 * sec, OLD_KEYS)], 60 * sec).await;
    assert_eq!(err.exit_code(), 1, "{err}");
    assert_eq!(w.keys(), World::original_keys());
    let back = w.at("kv write web-active-zone=blue");
    let down = w.at("scale demo_web-green 0");
    // Green kept its tasks until the router served blue again (60 s), then for the drain (5 s).
    assert!(back < 40 * sec, "{back:?}");
    assert!(down >= 65 * sec && down < 67 * sec, "{down:?}");
}

#[tokio::test]
async fn a_rollback_leaves_the_new_zone_running_while_a_live_router_still_sends_to_it() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    // Alive, serving the flip, and never the keys written back.
    let err = bake_failing_behind_a_router(&w, &[(sec, NEW_KEYS)], 10 * sec).await;
    assert_eq!(err.exit_code(), 3, "needs attention: {err}");
    let text = format!("{err} {}", help_of(&err));
    assert!(
        text.contains("green as it is because a router may still send traffic to it"),
        "{text}"
    );
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(GREEN), Some(3));
    assert_eq!(w.cluster.desired(BLUE), Some(3));
}

#[tokio::test]
async fn a_router_wait_that_failed_is_not_waited_again_by_its_rollback() {
    let w = World::new(3);
    let sec = Duration::from_secs(1);
    // No router ever reports: the switch's wait fails after 10 s.
    let mut p = plan(
        Strategy::BlueGreen,
        Some(OnFailure::Rollback),
        vec![
            update("green", 3),
            wait("green", 3, "1.4.2"),
            flip(),
            step(Action::WaitRouter { timeout: 10 * sec }),
            scale("blue", 0),
        ],
    );
    p.services[0].policy.drain.wait_for_router = true;
    p.services[0].policy.drain.router_timeout = 10 * sec;
    let err = w.run(&p).await.expect_err("the router wait fails");
    assert_eq!(err.exit_code(), 1, "rolled back: {err}");
    assert_eq!(w.keys(), World::original_keys());
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    // Green went after the drain (5 s), not after a second router timeout (10 s).
    let gone = w.at("scale demo_web-green 0") - w.at("kv write web-active-zone=blue");
    assert!(gone >= 5 * sec && gone < 7 * sec, "{gone:?}");
}

#[tokio::test]
async fn a_bake_that_stays_good_runs_its_whole_time_then_retires_the_old_zone() {
    let w = World::new(3);
    w.metrics
        .answer((0..8).map(|i| traffic(i * 100, 0)).collect());
    let p = baked_blue_green(Duration::from_secs(45));
    w.run(&p).await.expect("the bake passes");
    let baked = w.at("scale demo_web-blue 0") - w.at("kv write web-active-zone=green");
    assert!(
        baked >= Duration::from_secs(45) && baked < Duration::from_secs(47),
        "{baked:?}"
    );
}

#[tokio::test]
async fn after_a_failed_bake_the_warm_zone_takes_the_traffic_back_before_it_grows() {
    let w = World::new(4);
    w.metrics.answer(vec![traffic(0, 0), traffic(300, 30)]);
    // A promoted canary: blue kept 2 of its 4 tasks through the switch.
    let p = plan(
        Strategy::Canary,
        Some(OnFailure::Rollback),
        vec![
            update("green", 2),
            wait("green", 2, "1.4.2"),
            scale("blue", 2),
            keys(&[(TRAFFIC_KEY, "blue=50,green=50")]),
            scale("green", 4),
            wait("green", 4, "1.4.2"),
            flip(),
            analyze(error_rate_analysis(1), Some(Duration::from_secs(60))),
            scale("blue", 0),
        ],
    );
    let err = w.run(&p).await.expect_err("the bake fails");
    assert_eq!(err.exit_code(), 1, "{err}");
    let ops = w.ops();
    let back = ops
        .iter()
        .position(|o| o.contains("web-active-zone=blue"))
        .unwrap_or_else(|| panic!("{ops:?}"));
    let grown = ops
        .iter()
        .position(|o| o == "scale demo_web-blue 4")
        .unwrap_or_else(|| panic!("{ops:?}"));
    assert!(back < grown, "{ops:?}");
    assert_eq!(w.cluster.desired(BLUE), Some(4));
    assert_eq!(w.cluster.desired(GREEN), Some(0));
    assert_eq!(w.keys(), World::original_keys());
}

fn wait_stopped(zone: &str, replicas: u64) -> Step {
    step(Action::WaitStopped {
        zone: zone.into(),
        service: format!("demo_web-{zone}"),
        replicas,
        timeout: Duration::from_secs(30),
    })
}

/// A batch of a scale-down goes on as soon as its tasks are gone; tasks that do not go only
/// hold the deploy up to the wait's timeout, and the deploy still succeeds.
#[tokio::test]
async fn a_stop_batch_waits_for_its_tasks_to_be_gone_but_never_fails() {
    let gone = |batches: Vec<Step>| {
        let mut steps = vec![update("green", 3), wait("green", 3, "1.4.2"), flip()];
        steps.extend(batches);
        plan(Strategy::BlueGreen, None, steps)
    };
    let w = World::new(3);
    w.run(&gone(vec![
        scale("blue", 2),
        wait_stopped("blue", 2),
        scale("blue", 1),
        wait_stopped("blue", 1),
        scale("blue", 0),
    ]))
    .await
    .expect("deploy succeeds");
    assert!(
        w.at("scale demo_web-blue 0") - w.at("scale demo_web-blue 2") < Duration::from_secs(1),
        "the stopped tasks were gone at once"
    );
    assert_eq!(w.cluster.desired(BLUE), Some(0));

    // Nothing scaled blue down: its 3 tasks never go, the wait gives up after 30 s.
    let w = World::new(3);
    w.run(&gone(vec![wait_stopped("blue", 1), scale("blue", 0)]))
        .await
        .expect("deploy succeeds");
    let waited = w.at("scale demo_web-blue 0") - w.at("kv write");
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    assert_eq!(w.cluster.desired(BLUE), Some(0));
}

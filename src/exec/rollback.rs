//! Undoing a failed plan, in three phases: give the old zones their capacity back, point the
//! keys back at them, then take back what the plan added (after a failed bake, the keys go
//! back first: the old zone stayed warm for that). Never points the keys at a zone
//! without healthy tasks, and never scales down a zone the keys still point at.

use std::time::Duration;

use super::Event;
use super::cause::FailureCause;
use super::context::Context;
use super::gate::Gate;
use super::step_error::{StepError, StepFailure, with_task_errors};
use super::track::ServiceRun;
use crate::error::Error;
use crate::plan::Action;
use crate::ports::{ClusterError, KeyWrite};
use crate::spec::defaults::IN_PLACE;

/// True when the step that failed is a bake: the keys point at the new zone, and the old one
/// kept its tasks to switch back to.
fn failed_baking(run: &ServiceRun<'_>) -> bool {
    matches!(
        run.service.steps.get(run.steps_done).map(|s| &s.action),
        Some(Action::Analyze { bake: Some(_), .. })
    )
}

impl Context<'_> {
    /// Puts the zones and keys back as they were before the plan; returns the error that
    /// says how the deploy ended (rolled back, or needs attention with what is left).
    pub async fn rollback(&self, run: &mut ServiceRun<'_>, failure: &StepFailure) -> Error {
        self.sink.emit(&Event::RollbackStarted {
            service: run.service.service.clone(),
            reason: failure.describe(),
        });
        let mut problems: Vec<String> = Vec::new();
        self.revert_in_place(run, &mut problems).await;
        // A bake kept the old zone warm for this: its tasks take the traffic back at once,
        // and it grows back to full size after (if a canary left it smaller).
        let restored = if failed_baking(run) {
            let restored = self.restore_keys(run, &mut problems).await;
            self.restore_capacity(run, &mut problems).await;
            restored
        } else {
            self.restore_capacity(run, &mut problems).await;
            self.restore_keys(run, &mut problems).await
        };
        match restored {
            Some(writes) => {
                if self
                    .settle_routers(run, failure, writes, &mut problems)
                    .await
                {
                    self.retract_additions(run, &mut problems).await;
                } else {
                    problems.push(format!(
                        "left {} as it is because a router may still send traffic to it",
                        run.service.to.zone
                    ));
                }
            }
            None => problems.push(format!(
                "left {} as it is because the routing keys still point at it",
                run.service.to.zone
            )),
        }
        self.rollback_result(run, failure, &problems)
    }

    /// First, the service deployed in place: one it created is scaled to 0 before any zone
    /// comes back (the data is never used by two), one it updated goes back to its previous
    /// spec (Swarm's rollback), gated on health like any zone.
    async fn revert_in_place(&self, run: &mut ServiceRun<'_>, problems: &mut Vec<String>) {
        let Some(before) = run.before.get(IN_PLACE).cloned() else {
            return;
        };
        let Some(now) = run.zones.get(IN_PLACE).cloned() else {
            return;
        };
        if !before.exists {
            if now.exists {
                match self.cluster.scale(&now.service_name, 0).await {
                    Ok(()) | Err(ClusterError::NotFound(_)) => {
                        if let Some(z) = run.zones.get_mut(IN_PLACE) {
                            z.desired = 0;
                        }
                    }
                    Err(e) => problems.push(format!(
                        "could not scale {} back to 0: {e}",
                        now.service_name
                    )),
                }
            }
            return;
        }
        if now.version == before.version {
            return;
        }
        if let Err(e) = self.cluster.revert(&before.service_name).await {
            problems.push(format!(
                "could not roll {} back to its previous spec: {e}",
                before.service_name
            ));
            return;
        }
        if let Some(z) = run.zones.get_mut(IN_PLACE) {
            z.version = before.version.clone();
            z.desired = before.desired;
        }
        let gate = Gate {
            zone: IN_PLACE,
            service_name: &before.service_name,
            version: before.version.as_deref(),
            replicas: before.desired,
            timeout: run.service.policy.health.timeout,
            min_healthy: Duration::ZERO,
            cancellable: false,
        };
        if let Err(StepError::Failed(f)) = self.wait_healthy(run, &gate).await {
            problems.push(format!(
                "{} did not become healthy again: {}",
                before.service_name, f.cause
            ));
        }
    }

    /// Phase 1: scale the zones the plan shrank (the old zone in canary and rolling) back up,
    /// before anything else, so the old version can carry all traffic again.
    async fn restore_capacity(&self, run: &mut ServiceRun<'_>, problems: &mut Vec<String>) {
        let mut raised = Vec::new();
        for (zone, before) in run.before.clone() {
            let Some(now) = run.zones.get(&zone).cloned() else {
                continue;
            };
            if zone == IN_PLACE {
                continue;
            }
            if !(before.exists && now.desired < before.desired) {
                continue;
            }
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
        let timeout = run.service.policy.health.timeout;
        for zone in &raised {
            let Some(before) = run.before.get(zone).cloned() else {
                continue;
            };
            // Not cancellable: a rollback that stops halfway helps nobody.
            let gate = Gate {
                zone,
                service_name: &before.service_name,
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
    }

    /// Phase 2: the routing keys back to their values before the plan, in one atomic write,
    /// only where every zone they send traffic to is healthy. The keys written back, once
    /// they are back; `None` when they still point where the plan put them.
    async fn restore_keys(
        &self,
        run: &mut ServiceRun<'_>,
        problems: &mut Vec<String>,
    ) -> Option<Vec<(String, String)>> {
        if run.written.is_empty() {
            return Some(Vec::new());
        }
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
                    .check_zone_now(run, &track)
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
        if !safe {
            return None;
        }
        // Nothing to write back when every key is new (a first deploy).
        if !restore.is_empty()
            && let Err(e) = self.kv.write_atomic(&restore).await
        {
            problems.push(format!("could not restore the routing keys: {e}"));
            return None;
        }
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
        Some(restore.into_iter().map(|w| (w.key, w.value)).collect())
    }

    /// Between phases 2 and 3, as between a switch and a scale-down: the routers confirm the
    /// keys written back (when the spec waits for them), then in-flight requests drain. A
    /// router still sending to the new zone would otherwise meet tasks that are gone. False
    /// when a live router did not confirm: the new zone then keeps its tasks. When the step
    /// that failed was the wait for the routers, they are not asked again: the ones that never
    /// served the new keys still send traffic where the old keys point.
    async fn settle_routers(
        &self,
        run: &ServiceRun<'_>,
        failure: &StepFailure,
        writes: Vec<(String, String)>,
        problems: &mut Vec<String>,
    ) -> bool {
        if writes.is_empty() {
            return true;
        }
        let drain = &run.service.policy.drain;
        let routers_failed = matches!(failure.cause, FailureCause::Router { .. });
        if drain.wait_for_router
            && !routers_failed
            && let Err(StepError::Failed(f)) = self
                .wait_router_for(run, writes, drain.router_timeout, false)
                .await
        {
            problems.push(f.cause.to_string());
            return false;
        }
        self.clock.sleep(drain.time).await;
        true
    }

    /// Phase 3: take back what the plan added, once no traffic is sent there.
    async fn retract_additions(&self, run: &mut ServiceRun<'_>, problems: &mut Vec<String>) {
        for (zone, before) in run.before.clone() {
            let Some(now) = run.zones.get(&zone).cloned() else {
                continue;
            };
            if zone == IN_PLACE {
                continue;
            }
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
    }

    /// How the rollback ended, reported as an event and returned as the run's error.
    fn rollback_result(
        &self,
        run: &ServiceRun<'_>,
        failure: &StepFailure,
        problems: &[String],
    ) -> Error {
        let service = &run.service.service;
        let ok = problems.is_empty();
        let serving = match &run.service.from {
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
            let to = &run.service.to.zone;
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
            // `shipctl rollback` refuses while both zones run replicas; `abort` is the command
            // that ends that state (it keeps the zone the keys point at).
            let both_run = run
                .zones
                .values()
                .filter(|z| z.exists && z.desired > 0)
                .count()
                > 1;
            let next = if both_run {
                format!(
                    "`shipctl abort {service}` keeps the zone the routing keys point at and \
                     scales the other to 0"
                )
            } else {
                format!("`shipctl rollback {service}` tries again")
            };
            Error::NeedsAttention {
                message: with_task_errors(format!("{headline}; {summary}"), &failure.task_errors),
                help: Some(format!(
                    "now: {}; {}. `shipctl status {service}` shows the details; {next}",
                    run.zones_state(),
                    run.keys_state()
                )),
            }
        }
    }
}

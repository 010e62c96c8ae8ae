//! Builds the steps of one service's plan, with a reason for each and the warnings they imply.

use crate::spec::duration::format as fmt_duration;
use crate::spec::model::{Policy, ServiceKeys};

use super::{Action, ServiceState, Step};
use crate::ports::KeyWrite;
use crate::ports::traffic;

/// How long a batch of a zone's scale-down waits for its tasks to be gone before the next
/// batch stops anyway (a task's `stop_grace_period` is 10s unless set).
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The steps and warnings of one service, and what it needs to name things.
pub(crate) struct Builder<'a> {
    pub service: &'a str,
    pub zones: &'a [String; 2],
    pub keys: &'a ServiceKeys,
    pub policy: &'a Policy,
    pub full: u64,
    pub state: &'a ServiceState,
    /// Swarm service names of the two zones, in zone order.
    pub names: [String; 2],
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
    /// Replica counts set by earlier steps of this plan, in zone order (`None` = as observed).
    pub replicas_now: [Option<u64>; 2],
}

impl Builder<'_> {
    pub fn push(&mut self, action: Action, reason: impl Into<String>) {
        self.steps.push(Step {
            action,
            reason: reason.into(),
        });
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        let w = warning.into();
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    pub fn name_of(&self, zone: &str) -> String {
        if self.zones[1] == zone {
            self.names[1].clone()
        } else {
            self.names[0].clone()
        }
    }

    pub fn exists(&self, zone: &str) -> bool {
        self.state.zones.contains_key(zone)
    }

    /// The zone's replica count at this point of the plan.
    pub fn desired(&self, zone: &str) -> u64 {
        let i = usize::from(self.zones[1] == zone);
        self.replicas_now[i].unwrap_or_else(|| self.state.zones.get(zone).map_or(0, |z| z.desired))
    }

    /// Records that an earlier step of the plan scaled `zone` to `replicas`.
    pub fn set_now(&mut self, zone: &str, replicas: u64) {
        let i = usize::from(self.zones[1] == zone);
        self.replicas_now[i] = Some(replicas);
    }

    /// Create the zone's service, or update it if it exists, to `image` at `replicas`.
    pub fn deploy_zone(
        &mut self,
        zone: &str,
        image: &str,
        version: &str,
        replicas: u64,
        reason: String,
    ) {
        let service = self.name_of(zone);
        let action = Action::deploy(
            self.exists(zone),
            zone.to_string(),
            service,
            image.to_string(),
            version.to_string(),
            replicas,
        );
        self.push(action, reason);
    }

    /// The replica counts a zone passes through from `from` to `to` tasks under the policy's
    /// `task_batch`, one per batch, up or down; the last is `to`. Without a batch size (or when
    /// the change fits in one batch) that is `[to]` alone.
    fn batches(&self, from: u64, to: u64) -> Vec<u64> {
        let Some(batch) = self.policy.task_batch.filter(|b| *b > 0) else {
            return vec![to];
        };
        let mut counts = Vec::new();
        let mut n = from;
        while n.abs_diff(to) > batch {
            n = if n < to { n + batch } else { n - batch };
            counts.push(n);
        }
        counts.push(to);
        counts
    }

    /// Grows `zone` to `to` tasks of `version`, at most `task_batch` at a time: with `deploy`
    /// (an image) the first batch creates or updates the zone, else it scales it; each batch but
    /// the last is gated healthy before the next starts. The last batch's gate is the caller's,
    /// which is the only gate when the whole growth is one batch.
    pub fn start(
        &mut self,
        zone: &str,
        version: &str,
        deploy: Option<&str>,
        to: u64,
        reason: String,
    ) {
        // A zone that already runs this version (a deploy resumed after an interruption)
        // keeps its tasks: the batches go on from there instead of starting over.
        let runs_it = self
            .state
            .zones
            .get(zone)
            .is_some_and(|z| z.version.as_deref() == Some(version));
        let from = if deploy.is_none() || runs_it {
            self.desired(zone).min(to)
        } else {
            0
        };
        let counts = self.batches(from, to);
        let batches = counts.len();
        let batch = self.policy.task_batch.unwrap_or(to);
        for (i, &count) in counts.iter().enumerate() {
            if i > 0 {
                let previous = counts[i - 1];
                let gate = self.gate_reason(
                    zone,
                    previous,
                    version,
                    &format!("start batch {i}/{batches}, before the next one starts"),
                );
                self.wait_healthy(zone, previous, version, gate);
            }
            let why = if batches == 1 {
                reason.clone()
            } else if i == 0 {
                format!(
                    "{reason}; `task_batch: {batch}`, so in {batches} batches, each gated healthy before the next starts: batch 1/{batches} starts {}",
                    count - from
                )
            } else {
                format!(
                    "start batch {}/{batches}: scale {zone} ({version}) up to {count} of {to}",
                    i + 1
                )
            };
            match deploy {
                Some(image) if i == 0 => self.deploy_zone(zone, image, version, count, why),
                _ => self.scale(zone, count, why),
            }
        }
    }

    pub fn scale(&mut self, zone: &str, replicas: u64, reason: String) {
        let service = self.name_of(zone);
        self.push(
            Action::Scale {
                zone: zone.to_string(),
                service,
                replicas,
            },
            reason,
        );
    }

    pub fn wait_healthy(&mut self, zone: &str, replicas: u64, version: &str, reason: String) {
        let service = self.name_of(zone);
        let health = &self.policy.health;
        let action = Action::WaitHealthy {
            zone: zone.to_string(),
            service,
            replicas,
            version: version.to_string(),
            timeout: health.timeout,
            min_healthy: health.min_healthy,
        };
        self.push(action, reason);
    }

    /// The standard reason of a health gate.
    pub fn gate_reason(&self, zone: &str, replicas: u64, version: &str, why: &str) -> String {
        let h = &self.policy.health;
        let probe = h
            .probe
            .as_ref()
            .map(|p| format!(", answering {} on :{}{}", p.expect_status, p.port, p.path))
            .unwrap_or_default();
        format!(
            "{why}: {replicas} task(s) of {version} in {zone} must run healthy{probe} for {} (timeout {})",
            fmt_duration(h.min_healthy),
            fmt_duration(h.timeout),
        )
    }

    /// Writes the traffic split for `new` replicas in `new_zone` and `old` in the other zone,
    /// and warns when a zone would take more traffic than its share of full capacity.
    pub fn write_traffic(&mut self, new_zone: &str, new: u64, old: u64, reason: String) {
        let (a, b) = if self.zones[0] == new_zone {
            (new, old)
        } else {
            (old, new)
        };
        let value = traffic::split(self.zones, a, b);
        for (zone, replicas) in [(&self.zones[0], a), (&self.zones[1], b)] {
            let share = traffic::share_of(&value, zone).unwrap_or(0);
            // share > replicas / full, in integers.
            // One warning per zone is enough: later splits only repeat the point.
            let already = self
                .warnings
                .iter()
                .any(|w| w.starts_with(&format!("{zone} takes ")));
            if !already && u128::from(share) * u128::from(self.full) > u128::from(replicas) * 100 {
                let capacity = u128::from(replicas) * 100 / u128::from(self.full.max(1));
                self.warn(format!(
                    "{zone} takes {share}% of the traffic with {replicas} of {} replicas ({capacity}% of full capacity): it may be overloaded",
                    self.full
                ));
            }
        }
        let writes = vec![KeyWrite {
            key: self.keys.traffic.clone(),
            value,
        }];
        self.push(Action::WriteKeys { writes }, reason);
    }

    /// Points the routing keys at `zone` running `version`, in one atomic write.
    pub fn flip(&mut self, zone: &str, version: &str, reason: String) {
        let writes = vec![
            KeyWrite {
                key: self.keys.active_zone.clone(),
                value: zone.to_string(),
            },
            KeyWrite {
                key: self.keys.active_version.clone(),
                value: version.to_string(),
            },
            KeyWrite {
                key: self.keys.traffic.clone(),
                value: traffic::all_to(self.zones, zone),
            },
        ];
        self.push(Action::WriteKeys { writes }, reason);
    }

    /// Before a batch takes tasks away from a zone that took traffic (a canary or rolling step
    /// after its traffic write): the router catches up where configured, requests in flight
    /// finish. The same waits as the final switch, for every batch.
    pub fn drain_batch(&mut self, zone: &str, what: &str) {
        self.wait_for_router(format!(
            "{what}: wait until `shipctl route` serves the new split before {zone} loses tasks"
        ));
        if !self.policy.drain.time.is_zero() {
            self.wait_drain(format!(
                "{what}: let requests in flight on {zone} finish before it loses tasks"
            ));
        }
    }

    /// The router wait of the spec's `drain.wait_for_router`, if set; `why` gets its timeout.
    fn wait_for_router(&mut self, why: String) {
        let drain = &self.policy.drain;
        if drain.wait_for_router {
            let timeout = drain.router_timeout;
            self.push(
                Action::WaitRouter { timeout },
                format!("{why} (timeout {})", fmt_duration(timeout)),
            );
        }
    }

    /// The spec's drain time; `why` gets its length.
    fn wait_drain(&mut self, why: String) {
        let duration = self.policy.drain.time;
        self.push(
            Action::WaitDrain { duration },
            format!("{why} ({})", fmt_duration(duration)),
        );
    }

    /// A canary step's analysis of `zone` (`overrides` over the service's own), when the
    /// service has one.
    pub fn analyze(
        &mut self,
        zone: &str,
        version: &str,
        overrides: &crate::spec::model::AnalysisOverrides,
        what: &str,
    ) {
        let Some(analysis) = self.policy.analysis.as_ref().map(|a| a.with(overrides)) else {
            return;
        };
        let names: Vec<&str> = analysis.metrics.iter().map(|m| m.name.as_str()).collect();
        let reason = format!(
            "{what}: judge {zone} ({version}) by its traffic: {} every {}, {} passing measurement(s) to go on; a failed analysis sends all traffic back",
            names.join(", "),
            fmt_duration(analysis.interval),
            analysis.count,
        );
        self.push(
            Action::Analyze {
                zone: zone.to_string(),
                version: version.to_string(),
                analysis: Some(analysis),
                bake: None,
            },
            reason,
        );
    }

    /// The spec's `bake:` after a switch to `zone`, while `old_zone` still runs `old` tasks:
    /// the new zone serves all traffic and is analysed; the old one stays warm, so a failure
    /// switches the keys back in one write. Nothing to bake without tasks to go back to.
    pub fn bake(&mut self, zone: &str, version: &str, old_zone: &str, old: u64) {
        let Some(bake) = self.policy.bake else {
            return;
        };
        if old == 0 {
            self.warn(format!(
                "no bake after the switch: {old_zone} runs no task to switch back to"
            ));
            return;
        }
        let analysis = self.policy.analysis.clone();
        let judged = match &analysis {
            Some(a) => {
                let names: Vec<&str> = a.metrics.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "{} measured every {}; a failed analysis switches the keys back to {old_zone} at once",
                    names.join(", "),
                    fmt_duration(a.interval)
                )
            }
            None => format!(
                "health watched; a failing zone switches the keys back to {old_zone} at once"
            ),
        };
        self.push(
            Action::Analyze {
                zone: zone.to_string(),
                version: version.to_string(),
                analysis,
                bake: Some(bake),
            },
            format!(
                "bake {}: {zone} ({version}) serves all traffic while {old_zone} stays warm with {old} task(s); {judged}",
                fmt_duration(bake)
            ),
        );
    }

    /// After a flip away from `old_zone` (running `old` replicas): wait for the router if
    /// configured, bake `baked` (the new zone and version) if the spec says so, let requests
    /// drain, and scale the old zone to 0, keeping it for rollback.
    pub fn retire(&mut self, old_zone: &str, old: u64, baked: Option<(&str, &str)>) {
        self.wait_for_router(format!(
            "wait until `shipctl route` serves the new keys before {old_zone} loses its tasks"
        ));
        let mut baked_long_enough = false;
        if let Some((zone, version)) = baked {
            let before = self.steps.len();
            self.bake(zone, version, old_zone, old);
            // A bake at least as long as the drain time already let the requests in flight on
            // the old zone finish.
            baked_long_enough = self.steps.len() > before
                && self
                    .policy
                    .bake
                    .is_some_and(|b| b >= self.policy.drain.time);
        }
        if old == 0 {
            return;
        }
        if baked_long_enough {
            // Nothing to wait for: see above.
        } else if self.policy.drain.time.is_zero() {
            self.warn(format!(
                "drain time is 0s: requests still in flight on {old_zone} when it scales down may fail"
            ));
        } else {
            self.wait_drain(format!(
                "let requests in flight on {old_zone} finish before its tasks stop"
            ));
        }
        self.stop(
            old_zone,
            old,
            format!(
                "scale {old_zone} down to 0; the service is kept, so a rollback is a key flip and a scale-up away"
            ),
        );
    }

    /// Scales `zone` from `from` tasks down to 0, at most `task_batch` at a time: after each
    /// batch but the last, the next waits until its tasks are gone.
    fn stop(&mut self, zone: &str, from: u64, reason: String) {
        let counts = self.batches(from, 0);
        let batches = counts.len();
        let service = self.name_of(zone);
        for (i, &count) in counts.iter().enumerate() {
            if batches == 1 {
                self.scale(zone, count, reason.clone());
                continue;
            }
            let n = i + 1;
            if n < batches {
                self.scale(
                    zone,
                    count,
                    format!("stop batch {n}/{batches}: scale {zone} down to {count}"),
                );
                self.push(
                    Action::WaitStopped {
                        zone: zone.to_string(),
                        service: service.clone(),
                        replicas: count,
                        timeout: STOP_WAIT,
                    },
                    format!(
                        "stop batch {n}/{batches}: its task(s) are gone before the next ones stop (`task_batch`)"
                    ),
                );
            } else {
                self.scale(zone, count, format!("stop batch {n}/{batches}: {reason}"));
            }
        }
    }
}

//! What the executor knows about one service while it runs its plan: the zones as they were
//! before (for rollback) and as the run has left them.

use indexmap::IndexMap;

use super::health::HealthRules;
use crate::plan::{Action, Plan, ServicePlan};
use crate::ports::KeyWrite;

/// One zone's service as the run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ZoneTrack {
    pub service_name: String,
    pub exists: bool,
    pub desired: u64,
    pub version: Option<String>,
}

/// The run of one [`ServicePlan`].
pub(super) struct ServiceRun<'p> {
    pub plan: &'p Plan,
    pub service: &'p ServicePlan,
    /// The zones before the first step, by zone name.
    pub before: IndexMap<String, ZoneTrack>,
    /// The zones as the steps done so far have set them.
    pub zones: IndexMap<String, ZoneTrack>,
    /// Values of every key the plan writes, read just before the first write (`None` = the
    /// key did not exist).
    pub original_keys: Option<Vec<(String, Option<String>)>>,
    /// Keys written so far, with their latest values.
    pub written: IndexMap<String, String>,
    pub rules: HealthRules,
    /// Steps completed so far.
    pub steps_done: usize,
    /// Router registrations judged dead by a wait of this run: unchanged, the next wait
    /// skips them at once instead of watching them for three more heartbeats.
    pub silent_routers: std::sync::Mutex<super::router_wait::Silent>,
}

impl<'p> ServiceRun<'p> {
    pub fn new(plan: &'p Plan, service: &'p ServicePlan, base_rules: &HealthRules) -> Self {
        let mut rules = base_rules.clone();
        rules.healthcheck_period = service
            .definition
            .healthcheck
            .as_ref()
            .and_then(HealthRules::healthcheck_period_of);
        ServiceRun {
            plan,
            service,
            before: IndexMap::new(),
            zones: IndexMap::new(),
            original_keys: None,
            written: IndexMap::new(),
            rules,
            steps_done: 0,
            silent_routers: std::sync::Mutex::default(),
        }
    }

    /// Every (zone, Swarm service name) the plan or the observed state mentions.
    pub fn zone_names(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |zone: &str, name: &str| {
            if !out.iter().any(|(z, _)| z == zone) {
                out.push((zone.to_string(), name.to_string()));
            }
        };
        for step in &self.service.steps {
            match &step.action {
                Action::CreateZone { zone, service, .. }
                | Action::UpdateZone { zone, service, .. }
                | Action::Scale { zone, service, .. }
                | Action::WaitHealthy { zone, service, .. } => add(zone, service),
                _ => {}
            }
        }
        if let Some(state) = self.plan.observed.services.get(&self.service.service) {
            for (zone, z) in &state.zones {
                add(zone, &z.service_name);
            }
        }
        out
    }

    /// Every key any `WriteKeys` step of the plan writes, in order.
    pub fn planned_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for step in &self.service.steps {
            if let Action::WriteKeys { writes } = &step.action {
                for w in writes {
                    if !keys.contains(&w.key) {
                        keys.push(w.key.clone());
                    }
                }
            }
        }
        keys
    }

    /// The zones a set of writes sends traffic to: the active zone, and every zone with a
    /// non-zero weight in the traffic split (`blue=75,green=25`).
    pub fn traffic_targets(&self, writes: &[KeyWrite]) -> Vec<String> {
        let mut zones: Vec<String> = Vec::new();
        for w in writes {
            if w.key == self.service.keys.active_zone {
                zones.push(w.value.trim().to_string());
            } else if w.key == self.service.keys.traffic {
                zones.extend(traffic_zones(&w.value));
            }
        }
        zones.dedup();
        zones
    }

    /// Where the routing keys point now, in words.
    pub fn keys_state(&self) -> String {
        if self.written.is_empty() {
            match &self.service.from {
                Some(from) => format!(
                    "routing keys unchanged: {} {} serves",
                    from.zone, from.version
                ),
                None => "routing keys not written yet".to_string(),
            }
        } else {
            let list: Vec<String> = self
                .written
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("routing keys now: {}", list.join(", "))
        }
    }

    /// The zones' replicas and versions now, in words.
    pub fn zones_state(&self) -> String {
        let list: Vec<String> = self
            .zones
            .iter()
            .filter(|(_, z)| z.exists)
            .map(|(zone, z)| {
                format!(
                    "{zone} ({}) {} x{}",
                    z.service_name,
                    z.version.as_deref().unwrap_or("?"),
                    z.desired
                )
            })
            .collect();
        list.join(", ")
    }
}

/// The zones with a non-zero weight in a traffic value (`blue=75,green=25`).
pub(super) fn traffic_zones(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|part| {
            let (zone, weight) = part.split_once('=')?;
            let weight: f64 = weight.trim().trim_end_matches('%').parse().ok()?;
            (weight > 0.0).then(|| zone.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::traffic_zones;

    #[test]
    fn traffic_targets_are_the_zones_with_weight() {
        assert_eq!(traffic_zones("blue=75,green=25"), vec!["blue", "green"]);
        assert_eq!(traffic_zones("blue=0,green=100"), vec!["green"]);
        assert_eq!(traffic_zones(" blue = 100% , green=0%"), vec!["blue"]);
        assert!(traffic_zones("").is_empty());
        assert!(traffic_zones("blue").is_empty());
    }
}

//! Which zones answer the service's compose name inside the stack, step by step.
//!
//! Every zone carries the compose name (and the compose aliases) on its networks, and Docker's
//! DNS answers it only with tasks that run healthy, so a zone answers east-west traffic from
//! the moment its health gate passes until it is scaled to 0. Pure: read from the plan.

use super::{Action, Plan, ServicePlan};
use crate::spec::defaults::IN_PLACE;

/// From `after_step` on (0 = before the first step), these (zone, version) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answering {
    pub after_step: usize,
    pub zones: Vec<(String, String)>,
}

/// The zones that answer the name, and how that changes along the plan's steps.
pub fn answering(plan: &Plan, service: &ServicePlan) -> Vec<Answering> {
    let observed = plan.observed.services.get(&service.service);
    // (zone, version, replicas, answers)
    let mut zones: Vec<(String, String, u64, bool)> = observed
        .map(|s| {
            s.zones
                .iter()
                .map(|(zone, z)| {
                    let version = z.version.clone().unwrap_or_else(|| "?".into());
                    (zone.clone(), version, z.desired, z.desired > 0)
                })
                .collect()
        })
        .unwrap_or_default();
    let stop_first = service
        .definition
        .deploy
        .update_config
        .as_ref()
        .and_then(|u| u.order.as_deref())
        == Some("stop-first");
    let mut pending: Option<(usize, String, u64)> = None;
    let mut out = vec![Answering {
        after_step: 0,
        zones: serving(&zones),
    }];
    for (i, step) in service.steps.iter().enumerate() {
        let zone_of = |zones: &mut Vec<(String, String, u64, bool)>, name: &str| {
            if let Some(at) = zones.iter().position(|z| z.0 == name) {
                at
            } else {
                zones.push((name.to_string(), String::new(), 0, false));
                zones.len() - 1
            }
        };
        match &step.action {
            Action::CreateZone {
                zone,
                version,
                replicas,
                ..
            }
            | Action::UpdateZone {
                zone,
                version,
                replicas,
                ..
            } => {
                let at = zone_of(&mut zones, zone);
                let (_, old_version, old_replicas, old_answers) = zones[at].clone();
                // A global service in place has no count: it answers on every node.
                let replicas = if zone == IN_PLACE && *replicas == 0 {
                    1
                } else {
                    *replicas
                };
                if zone == IN_PLACE && old_answers && !stop_first {
                    // Swarm starts each new task before it stops an old one: the old
                    // version answers until the gate below.
                    zones[at] = (zone.clone(), old_version, old_replicas, true);
                    pending = Some((at, version.clone(), replicas));
                } else {
                    // New tasks answer once healthy; the gate below says when.
                    zones[at] = (zone.clone(), version.clone(), replicas, false);
                }
            }
            Action::Scale { zone, replicas, .. } => {
                let at = zone_of(&mut zones, zone);
                zones[at].2 = *replicas;
                if *replicas == 0 {
                    zones[at].3 = false;
                }
            }
            Action::WaitHealthy { zone, .. } => {
                let at = zone_of(&mut zones, zone);
                if let Some((pending_at, version, replicas)) = pending.take()
                    && pending_at == at
                {
                    zones[at].1 = version;
                    zones[at].2 = replicas;
                }
                zones[at].3 = zones[at].2 > 0;
            }
            _ => {}
        }
        let now = serving(&zones);
        if out.last().is_some_and(|last| last.zones != now) {
            out.push(Answering {
                after_step: i + 1,
                zones: now,
            });
        }
    }
    out
}

fn serving(zones: &[(String, String, u64, bool)]) -> Vec<(String, String)> {
    zones
        .iter()
        .filter(|z| z.3 && z.2 > 0)
        .map(|z| (z.0.clone(), z.1.clone()))
        .collect()
}

/// The names the stack reaches the service by: its compose name, then its network aliases.
pub fn names(service: &ServicePlan) -> Vec<String> {
    let mut names = vec![service.service.clone()];
    for network in service.definition.networks.values() {
        for alias in &network.aliases {
            if !names.contains(alias) {
                names.push(alias.clone());
            }
        }
    }
    names
}

//! What the zoned planner and the in-place planner both need: the networks of a service, the
//! version a zone runs, the policy as a plan records it.

use crate::compose::model::Service;
use crate::spec::model::Policy;

use super::ServiceState;
use super::image::version_of;
use super::request::PlanRequest;

/// The version a zone runs: its label, else the active-version key, else its image tag.
pub fn zone_version(state: &ServiceState, zone: &str) -> String {
    let z = state.zones.get(zone);
    z.and_then(|z| z.version.clone())
        .or_else(|| {
            (state.keys.active_zone.as_deref() == Some(zone))
                .then(|| state.keys.active_version.clone())
                .flatten()
        })
        .or_else(|| z.and_then(|z| z.image.as_deref()).map(version_of))
        .unwrap_or_else(|| "unknown".to_string())
}

pub fn networks_of(def: &Service) -> Vec<String> {
    if def.networks.is_empty() {
        vec!["default".to_string()]
    } else {
        def.networks.keys().cloned().collect()
    }
}

pub fn network_name(req: &PlanRequest, key: &str) -> Option<String> {
    match req.compose.networks.get(key) {
        Some(n) if n.external => None,
        Some(n) => Some(
            n.name
                .clone()
                .unwrap_or_else(|| format!("{}_{key}", req.project)),
        ),
        None => Some(format!("{}_{key}", req.project)),
    }
}

/// The policy as the plan records it: with the replica count it was planned for, so that a
/// saved plan does not depend on the compose file any more.
pub fn resolved(policy: &Policy, full: u64) -> Policy {
    let mut p = policy.clone();
    p.replicas = Some(full);
    p
}

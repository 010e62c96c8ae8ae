//! Plans `shipctl rollback`: back to the warm zone when it still holds the wanted version (a
//! scale-up and a key flip), otherwise a normal health-gated deploy of that version.

use crate::error::Error;
use crate::plan::image::with_version;

use super::logical::logical_services;
use super::planner::{active_zone, assemble, new_builder, other_zone, plan, select};
use super::request::PlanRequest;
use super::shared::{resolved, zone_version};
use super::{Plan, ServicePlan, ZoneVersion};

/// Plans going back to `to` for the selected service(s).
///
/// When the inactive zone still runs (at 0 replicas) the version `to`, it is scaled up to
/// full, gated on health, the keys flip to it and the current zone drains and scales to 0:
/// nothing is recreated or pulled. Otherwise this is `plan` of version `to`: the caller must
/// have loaded the compose files with that version (`IMAGE_VERSION`).
pub fn rollback(req: &PlanRequest, to: &str) -> Result<Plan, Error> {
    let zones = &req.spec.zones;
    let logical = logical_services(req.compose, zones)?;
    let selected = select(req, &logical)?;
    let mut plans: Vec<ServicePlan> = Vec::with_capacity(selected.len());
    let mut all_warm = true;
    for logical_service in &selected {
        let name = logical_service.name.as_str();
        let state = req.observed.services.get(name).cloned().unwrap_or_default();
        let mut notes = Vec::new();
        let Some(active) = active_zone(zones, &state, &mut notes) else {
            return Err(Error::usage(
                format!("{name} was never deployed: there is nothing to roll back"),
                format!("deploy it first: `shipctl deploy {name} --version VERSION`"),
            ));
        };
        let warm = other_zone(zones, &active).to_string();
        let desired = |z: &str| state.zones.get(z).map_or(0, |s| s.desired);
        if desired(&warm) > 0 && desired(&active) > 0 {
            return Err(Error::usage(
                format!(
                    "{name} has a canary or an unfinished deploy in progress ({active} and {warm} both run replicas)"
                ),
                format!(
                    "finish it first: `shipctl abort {name}` goes back to {active}, `shipctl promote {name}` forward"
                ),
            ));
        }
        let current = zone_version(&state, &active);
        if current == to && desired(&active) > 0 {
            return Err(Error::usage(
                format!("{name} already serves {to} from {active}"),
                format!("`shipctl history {name}` lists earlier versions"),
            ));
        }
        let warm_version = state.zones.get(&warm).and_then(|z| z.version.clone());
        if warm_version.as_deref() != Some(to) {
            all_warm = false;
            continue;
        }
        let def = logical_service.definition(zones, &warm);
        let (policy, full) = req
            .spec
            .resolve_policy(name, req.overrides, def.deploy.replicas)?;
        let keys = req.spec.keys(&req.project, name);
        let mut builder = new_builder(req, name, &keys, &policy, full, &state);
        for n in notes {
            builder.warn(n);
        }
        builder.scale(
            &warm,
            full,
            format!(
                "rollback: scale the warm zone {warm} ({to}) up to {full} replica(s); its service still holds {to}, so nothing is recreated"
            ),
        );
        let gate = builder.gate_reason(&warm, full, to, "before it takes all traffic back");
        builder.wait_healthy(&warm, full, to, gate);
        builder.flip(
            &warm,
            to,
            format!(
                "rollback: switch active zone {warm}, version {to} and all traffic, in one atomic write"
            ),
        );
        let old = builder.desired(&active);
        builder.retire(&active, old);
        let image = state
            .zones
            .get(&warm)
            .and_then(|z| z.image.clone())
            .unwrap_or_else(|| with_version(&def.image, to));
        let mut definition = def.clone();
        definition.image = image;
        plans.push(ServicePlan {
            service: name.to_string(),
            strategy: policy.strategy,
            from: Some(ZoneVersion {
                zone: active.clone(),
                version: current,
            }),
            to: ZoneVersion {
                zone: warm,
                version: to.to_string(),
            },
            keys: keys.clone(),
            policy: resolved(&policy, full),
            definition,
            steps: builder.steps,
            warnings: builder.warnings,
            up_to_date: false,
        });
    }
    if all_warm {
        return Ok(assemble(req, plans));
    }
    // Some service has no warm zone with that version: a deploy of it, health-gated as usual.
    plan(&PlanRequest {
        version: Some(to.to_string()),
        ..req.clone()
    })
}

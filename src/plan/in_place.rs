//! Services that must not run twice side by side (a database on a named volume, a global
//! agent, a service holding a routing-mesh port) are deployed in place: one Swarm service,
//! updated by Swarm, gated on health by shipctl, rolled back to its previous spec on failure.

use crate::compose::model::{MountKind, PublishMode, Service, UpdateConfig};
use crate::error::Error;
use crate::ports::KeyWrite;
use crate::spec::defaults::IN_PLACE;
use crate::spec::model::{Policy, Strategy};

use super::image::{uses_version_variable, version_of, with_version};
use super::logical::LogicalService;
use super::planner::{network_name, networks_of, resolved, zone_version};
use super::request::PlanRequest;
use super::{Action, ServicePlan, ServiceState, Step, ZoneVersion};

/// Why `def` must run in place, in words the plan shows; empty when zones are fine.
pub fn reasons(def: &Service) -> Vec<String> {
    let mut out = Vec::new();
    for mount in def.volumes.iter().filter(|m| !m.read_only) {
        if let (MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) {
            out.push(format!(
                "it mounts the named volume `{volume}` read-write ({}): two zones would run two instances on the same data",
                mount.target
            ));
        }
    }
    if def.deploy.mode.as_deref() == Some("global") {
        out.push(
            "it runs one task per node (`deploy.mode: global`): a second zone would double it on every node"
                .into(),
        );
    }
    let ingress: Vec<String> = def
        .ports
        .iter()
        .filter(|p| p.mode == PublishMode::Ingress)
        .filter_map(|p| p.published.map(|p| p.to_string()))
        .collect();
    if !ingress.is_empty() {
        out.push(format!(
            "it publishes port {} on the routing mesh: only one Swarm service can hold it",
            ingress.join(", ")
        ));
    }
    out
}

/// True when the old task must stop before the new one starts: data on a read-write volume
/// or bind mount that two tasks of one node would share.
fn stop_first(def: &Service) -> bool {
    def.volumes.iter().any(|m| {
        !m.read_only
            && matches!(
                (m.kind, &m.source),
                (MountKind::Volume, Some(_)) | (MountKind::Bind, _)
            )
    })
}

/// The plan of a service deployed in place. `why` says why it is (empty: the spec chose
/// `in-place`); `asked` is a zoned strategy the flags or the spec asked for instead.
pub fn plan(
    req: &PlanRequest,
    logical_service: &LogicalService,
    state: &ServiceState,
    policy: &Policy,
    full: u64,
    why: &[String],
) -> Result<ServicePlan, Error> {
    let zones = &req.spec.zones;
    let name = logical_service.name.as_str();
    let def = logical_service.definition(zones, &zones[0]);
    let service_name = req.spec.in_place_service_name(&req.project, name);
    let version = req
        .version
        .clone()
        .unwrap_or_else(|| version_of(&def.image));
    let image = if req.version.is_some() && !uses_version_variable(def, &zones[0]) {
        with_version(&def.image, &version)
    } else {
        def.image.clone()
    };
    let global = def.deploy.mode.as_deref() == Some("global");
    // A global service has a task per eligible node; 0 tells the gate to wait for all of them.
    let replicas = if global { 0 } else { full };
    let order = if stop_first(def) {
        "stop-first"
    } else {
        "start-first"
    };
    let mut definition = def.clone();
    definition.image = image.clone();
    definition
        .deploy
        .update_config
        .get_or_insert_with(UpdateConfig::default)
        .order = Some(order.into());
    let keys = req.spec.keys(&req.project, name);
    let mut warnings: Vec<String> = logical_service.notes.clone();
    // Say so where a zoned strategy was asked for (a flag, or the spec), not for the default.
    let asked = req.overrides.strategy.is_some()
        || req.spec.defaults.strategy != Strategy::BlueGreen
        || req
            .spec
            .services
            .get(name)
            .is_some_and(|p| p.strategy != Strategy::BlueGreen);
    if policy.strategy != Strategy::InPlace && asked {
        warnings.push(format!(
            "{name} is deployed in place, not {}: {}; set `allow_zoned: true` under `services.{name}` in the spec to deploy it as two zones anyway",
            policy.strategy,
            why.join("; ")
        ));
    }
    let current = state.zones.get(IN_PLACE);
    let zoned: Vec<(&String, u64)> = zones
        .iter()
        .filter_map(|z| state.zones.get(z).map(|s| (z, s.desired)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let from = match (current, zoned.first()) {
        (Some(c), _) if c.desired > 0 || zoned.is_empty() => Some(ZoneVersion {
            zone: IN_PLACE.to_string(),
            version: zone_version(state, IN_PLACE),
        }),
        (_, Some((zone, _))) => Some(ZoneVersion {
            zone: (*zone).clone(),
            version: zone_version(state, zone),
        }),
        _ => None,
    };
    let to = ZoneVersion {
        zone: IN_PLACE.to_string(),
        version: version.clone(),
    };
    let plan_of = |steps: Vec<Step>, warnings: Vec<String>, up_to_date: bool| ServicePlan {
        service: name.to_string(),
        strategy: Strategy::InPlace,
        from: from.clone(),
        to: to.clone(),
        keys: keys.clone(),
        policy: resolved(policy, full),
        definition: definition.clone(),
        steps,
        warnings,
        up_to_date,
    };

    let serving_now = current.is_some_and(|c| {
        c.version.as_deref() == Some(version.as_str())
            && c.image
                .as_deref()
                .is_some_and(|i| i.split('@').next() == Some(image.as_str()))
            && (global || (c.desired == full && c.running == full))
    });
    if serving_now && zoned.is_empty() && state.keys.active_version.as_deref() == Some(&version) {
        return Ok(plan_of(Vec::new(), warnings, true));
    }

    let mut steps = Vec::new();
    let mut push = |action: Action, reason: String| steps.push(Step { action, reason });
    for key in networks_of(def) {
        if let Some(net) = network_name(req, &key) {
            push(
                Action::EnsureNetwork { name: net },
                format!(
                    "{name} is attached to the network `{key}`: created if missing, as `docker stack deploy` does"
                ),
            );
        }
    }
    // Zones of an earlier release stop first, so the data is never used by two services; they
    // are kept (at 0), so going back is a scale-up away.
    for (zone, n) in &zoned {
        push(
            Action::Scale {
                zone: (*zone).clone(),
                service: req.spec.zone_service_name(&req.project, name, zone),
                replicas: 0,
            },
            format!(
                "{name} ran as zones ({zone} has {n} task(s)); in place it is the one service {service_name}: {zone} stops first and is kept at 0, nothing is removed"
            ),
        );
    }
    let because = if why.is_empty() {
        "the spec deploys it in place".to_string()
    } else {
        why.join("; ")
    };
    let how = if order == "stop-first" {
        "stop-first: the old task stops before the new one starts, so the data is never used by two"
    } else {
        "start-first: the new task starts before the old one stops"
    };
    let count = if global {
        "one task per node".to_string()
    } else {
        format!("{full} replica(s)")
    };
    let action = if current.is_some() {
        Action::UpdateZone {
            zone: IN_PLACE.into(),
            service: service_name.clone(),
            image: image.clone(),
            version: version.clone(),
            replicas,
        }
    } else {
        Action::CreateZone {
            zone: IN_PLACE.into(),
            service: service_name.clone(),
            image: image.clone(),
            version: version.clone(),
            replicas,
        }
    };
    push(
        action,
        format!("in place ({because}): Swarm replaces the tasks, {how}; {count}"),
    );
    let health = &policy.health;
    push(
        Action::WaitHealthy {
            zone: IN_PLACE.into(),
            service: service_name.clone(),
            replicas,
            version: version.clone(),
            timeout: health.timeout,
            min_healthy: health.min_healthy,
        },
        format!(
            "before the version key moves: {count} of {version} must run healthy for {} (timeout {}); otherwise Swarm goes back to the previous spec",
            crate::spec::duration::format(health.min_healthy),
            crate::spec::duration::format(health.timeout)
        ),
    );
    push(
        Action::WriteKeys {
            writes: vec![KeyWrite {
                key: keys.active_version.clone(),
                value: version.clone(),
            }],
        },
        format!("record {version} as the version serving (no zones, no traffic split)"),
    );
    Ok(plan_of(steps, warnings, false))
}

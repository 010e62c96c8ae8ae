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
use super::request::PlanRequest;
use super::shared::{network_name, networks_of, resolved, zone_version};
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
    let mut ingress: Vec<String> = Vec::new();
    // A port published for TCP and UDP is one port to the reader.
    for port in def
        .ports
        .iter()
        .filter(|p| p.mode == PublishMode::Ingress)
        .filter_map(|p| p.published.map(|p| p.to_string()))
    {
        if !ingress.contains(&port) {
            ingress.push(port);
        }
    }
    if !ingress.is_empty() {
        out.push(format!(
            "it publishes {} {} on the routing mesh: only one Swarm service can hold it",
            if ingress.len() == 1 { "port" } else { "ports" },
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

/// A service that runs in place is not moved to zones behind its back: both would run at once
/// (on the same data, where it has some).
pub fn refuse_zones_over(name: &str, state: &ServiceState, why: &[String]) -> Result<(), Error> {
    let Some(one) = state.zones.get(IN_PLACE).filter(|z| z.desired > 0) else {
        return Ok(());
    };
    Err(Error::usage(
        format!(
            "`{name}` runs in place as {} ({} task(s)); deploying it in zones now would run both at once{}",
            one.service_name,
            one.desired,
            if why.is_empty() {
                String::new()
            } else {
                format!(" while {}", why.join("; "))
            }
        ),
        format!(
            "keep it in place (drop `allow_zoned`/the zoned strategy for `{name}`), or move it by hand: \
             `docker service scale {}=0`, then deploy again; nothing was changed",
            one.service_name
        ),
    ))
}

/// What the one service of a service in place becomes.
struct Target<'a> {
    name: &'a str,
    /// The Swarm service (`{project}_{service}`).
    service_name: String,
    image: String,
    version: String,
    /// 0 for a global service: a task per eligible node, which the gate waits for.
    replicas: u64,
    full: u64,
    global: bool,
    stop_first: bool,
}

/// The plan of a service deployed in place. `why` says why it is (empty: the spec chose
/// `in-place`).
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
    let target = target(req, name, def, full);
    let mut definition = def.clone();
    definition.image = target.image.clone();
    definition
        .deploy
        .update_config
        .get_or_insert_with(UpdateConfig::default)
        .order = Some(
        if target.stop_first {
            "stop-first"
        } else {
            "start-first"
        }
        .into(),
    );
    let mut warnings: Vec<String> = logical_service.notes.clone();
    warnings.extend(not_what_was_asked(req, name, policy, why));
    let zoned: Vec<(&String, u64)> = zones
        .iter()
        .filter_map(|z| state.zones.get(z).map(|s| (z, s.desired)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let up_to_date = zoned.is_empty() && serves_already(state, &target);
    let steps = if up_to_date {
        Vec::new()
    } else {
        steps(req, def, state, &target, &zoned, policy, why)
    };
    Ok(ServicePlan {
        service: name.to_string(),
        strategy: Strategy::InPlace,
        from: from(state, &zoned),
        to: ZoneVersion {
            zone: IN_PLACE.to_string(),
            version: target.version.clone(),
        },
        keys: req.spec.keys(&req.project, name),
        policy: resolved(policy, full),
        definition,
        steps,
        warnings,
        up_to_date,
    })
}

fn target<'a>(req: &PlanRequest, name: &'a str, def: &Service, full: u64) -> Target<'a> {
    let zone = &req.spec.zones[0];
    let version = req
        .version
        .clone()
        .unwrap_or_else(|| version_of(&def.image));
    let image = if req.version.is_some() && !uses_version_variable(def, zone) {
        with_version(&def.image, &version)
    } else {
        def.image.clone()
    };
    let global = def.deploy.mode.as_deref() == Some("global");
    Target {
        name,
        service_name: req.spec.in_place_service_name(&req.project, name),
        image,
        version,
        replicas: if global { 0 } else { full },
        full,
        global,
        stop_first: stop_first(def),
    }
}

/// Where a zoned strategy was asked for (a flag, or the spec), the plan says why it is not
/// followed and what would make it so; the default strategy needs no such word.
fn not_what_was_asked(
    req: &PlanRequest,
    name: &str,
    policy: &Policy,
    why: &[String],
) -> Option<String> {
    let asked = req.overrides.strategy.is_some()
        || req.spec.defaults.strategy != Strategy::BlueGreen
        || req
            .spec
            .services
            .get(name)
            .is_some_and(|p| p.strategy != Strategy::BlueGreen);
    (policy.strategy != Strategy::InPlace && asked).then(|| {
        format!(
            "{name} is deployed in place, not {}: {}; set `allow_zoned: true` under `services.{name}` in the spec to deploy it as two zones anyway",
            policy.strategy,
            why.join("; ")
        )
    })
}

/// The one service already runs the wanted version, healthy at full strength, and the version
/// key says so.
fn serves_already(state: &ServiceState, target: &Target) -> bool {
    let Some(current) = state.zones.get(IN_PLACE) else {
        return false;
    };
    current.version.as_deref() == Some(target.version.as_str())
        && current
            .image
            .as_deref()
            .is_some_and(|i| i.split('@').next() == Some(target.image.as_str()))
        && (target.global || (current.desired == target.full && current.running == target.full))
        && state.keys.active_version.as_deref() == Some(target.version.as_str())
}

/// What serves now: the one service, else the zone of an earlier release.
fn from(state: &ServiceState, zoned: &[(&String, u64)]) -> Option<ZoneVersion> {
    let current = state.zones.get(IN_PLACE);
    match (current, zoned.first()) {
        (Some(c), _) if c.desired > 0 || zoned.is_empty() => Some(ZoneVersion {
            zone: IN_PLACE.to_string(),
            version: zone_version(state, IN_PLACE),
        }),
        (_, Some((zone, _))) => Some(ZoneVersion {
            zone: (*zone).clone(),
            version: zone_version(state, zone),
        }),
        _ => None,
    }
}

/// Networks, the zones of an earlier release down, the one service created or updated, its
/// gate, the version key.
fn steps(
    req: &PlanRequest,
    def: &Service,
    state: &ServiceState,
    target: &Target,
    zoned: &[(&String, u64)],
    policy: &Policy,
    why: &[String],
) -> Vec<Step> {
    let name = target.name;
    let service_name = &target.service_name;
    let version = &target.version;
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
    for (zone, n) in zoned {
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
    let how = if target.stop_first {
        "stop-first: the old task stops before the new one starts, so the data is never used by two"
    } else {
        "start-first: the new task starts before the old one stops"
    };
    let count = if target.global {
        "one task per node".to_string()
    } else {
        format!("{} replica(s)", target.full)
    };
    let action = Action::deploy(
        state.zones.contains_key(IN_PLACE),
        IN_PLACE.to_string(),
        service_name.clone(),
        target.image.clone(),
        version.clone(),
        target.replicas,
    );
    push(
        action,
        format!("in place ({because}): Swarm replaces the tasks, {how}; {count}"),
    );
    let health = &policy.health;
    push(
        Action::WaitHealthy {
            zone: IN_PLACE.into(),
            service: service_name.clone(),
            replicas: target.replicas,
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
                key: req.spec.keys(&req.project, name).active_version,
                value: version.clone(),
            }],
        },
        format!("record {version} as the version serving (no zones, no traffic split)"),
    );
    steps
}

//! The planner: deploy, promote and abort plans, built from values only.

use indexmap::IndexMap;

use crate::compose::model::Service;
use crate::error::Error;
use crate::spec::duration::format as fmt_duration;
use crate::spec::model::{CanaryStep, Overrides, Policy, Strategy};

use super::builder::Builder;
use super::image::{uses_version_variable, version_of, with_version};
use super::in_place;
use super::logical::{LogicalService, logical_services};
use super::request::PlanRequest;
use super::shared::{network_name, networks_of, resolved, zone_version};
use super::{Action, Plan, ServicePlan, ServiceState, ZoneVersion};
use crate::ports::traffic;

/// Plans a deploy of the selected services (all deployable ones when none are named).
pub fn plan(req: &PlanRequest) -> Result<Plan, Error> {
    if let Some(v) = &req.version {
        check_version_flag(v)?;
    }
    let logical = logical_services(req.compose, &req.spec.zones)?;
    let selected = select(req, &logical)?;
    let empty = ServiceState::default();
    // Each service is planned on its own; a big stack's are shared between the cores.
    let chunks = crate::parallel::map_chunks(&selected, |_, chunk| {
        // Sized up front: collected into a `Result`, the list would not know its length and
        // would copy every plan (2 KB each) at each doubling.
        let mut plans = Vec::with_capacity(chunk.len());
        for logical_service in chunk {
            let state = req
                .observed
                .services
                .get(&logical_service.name)
                .unwrap_or(&empty);
            plans.push(plan_deploy(req, logical_service, state)?);
        }
        Ok::<_, Error>(plans)
    });
    // The first service in order that cannot be planned is the one reported.
    let plans = chunks.into_iter().collect::<Result<Vec<_>, Error>>()?;
    let mut plan = assemble(req, crate::parallel::concat(plans));
    // A policy for a service the compose file lacks is most likely a typo.
    for name in req.spec.services.keys() {
        if logical.contains_key(name) {
            continue;
        }
        let zone_of = req.spec.zones.iter().find_map(|z| {
            name.strip_suffix(&format!("-{z}"))
                .filter(|base| logical.contains_key(*base))
        });
        plan.warnings.push(match zone_of {
            Some(base) => format!(
                "the strategy spec sets a policy for `{name}`, a zone of `{base}`: policies apply to the whole service, write it under `{base}`"
            ),
            None => format!(
                "the strategy spec sets a policy for `{name}`, which is not a service of the compose file"
            ),
        });
    }
    Ok(plan)
}

/// Plans `shipctl promote`: the canary in progress gets the full replica count and all traffic;
/// the old zone drains and scales to 0.
pub fn promote(req: &PlanRequest) -> Result<Plan, Error> {
    plan_in_progress(req, "promote", |req, logical_service, state, p| {
        plan_canary_end(req, logical_service, state, p, CanaryEnd::Promote)
    })
}

/// Plans `shipctl abort`: the old zone goes back to full, takes all traffic, and the canary
/// zone scales to 0.
pub fn abort(req: &PlanRequest) -> Result<Plan, Error> {
    plan_in_progress(req, "abort", |req, logical_service, state, p| {
        plan_canary_end(req, logical_service, state, p, CanaryEnd::Abort)
    })
}

type InProgressPlanner =
    fn(&PlanRequest, &LogicalService, &ServiceState, InProgress) -> Result<ServicePlan, Error>;

/// A canary (or an interrupted rolling deploy) that has replicas in both zones.
#[derive(Debug, Clone)]
struct InProgress {
    active: String,
    active_version: String,
    canary: String,
    canary_version: String,
    warnings: Vec<String>,
}

fn plan_in_progress(req: &PlanRequest, command: &str, f: InProgressPlanner) -> Result<Plan, Error> {
    let logical = logical_services(req.compose, &req.spec.zones)?;
    let empty = ServiceState::default();
    let mut plans = Vec::new();
    if req.services.is_empty() {
        for logical_service in logical.values().filter(|l| !l.is_global()) {
            let state = req
                .observed
                .services
                .get(&logical_service.name)
                .unwrap_or(&empty);
            if let Some(p) = in_progress(&req.spec.zones, state) {
                plans.push(f(req, logical_service, state, p)?);
            }
        }
        if plans.is_empty() {
            return Err(Error::usage(
                format!("nothing to {command}: no service has a canary in progress"),
                "`shipctl status` shows what runs in each zone; `shipctl deploy --strategy canary` starts a canary",
            ));
        }
    } else {
        let selected = select(req, &logical)?;
        for logical_service in &selected {
            let state = req
                .observed
                .services
                .get(&logical_service.name)
                .unwrap_or(&empty);
            let Some(p) = in_progress(&req.spec.zones, state) else {
                return Err(Error::usage(
                    format!(
                        "cannot {command} `{}`: it has no canary in progress (only one zone runs replicas)",
                        logical_service.name
                    ),
                    format!(
                        "`shipctl status {}` shows what runs in each zone",
                        logical_service.name
                    ),
                ));
            };
            plans.push(f(req, logical_service, state, p)?);
        }
    }
    Ok(assemble(req, plans))
}

fn in_progress(zones: &[String; 2], state: &ServiceState) -> Option<InProgress> {
    let mut warnings = Vec::new();
    let active = active_zone(zones, state, &mut warnings)?;
    let canary = other_zone(zones, &active).to_string();
    let zc = state.zones.get(&canary).filter(|z| z.desired > 0)?;
    let active_version = zone_version(state, &active);
    let canary_version = zc
        .version
        .clone()
        .or_else(|| zc.image.as_deref().map(version_of))
        .unwrap_or_else(|| "unknown".to_string());
    Some(InProgress {
        active,
        active_version,
        canary,
        canary_version,
        warnings,
    })
}

/// Docker's tag grammar: what `--version` must be when it becomes an image tag.
fn check_version_flag(v: &str) -> Result<(), Error> {
    if crate::ports::values::is_image_tag(v) {
        Ok(())
    } else {
        Err(Error::usage(
            format!("`--version {v}` is not a valid image tag"),
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-` (e.g. `--version 1.4.2`)",
        ))
    }
}

/// The services to plan, in compose order, each once.
pub(super) fn select<'a, 'b>(
    req: &PlanRequest,
    logical: &'b IndexMap<String, LogicalService<'a>>,
) -> Result<Vec<&'b LogicalService<'a>>, Error> {
    if req.services.is_empty() {
        return Ok(logical.values().collect());
    }
    let mut out: Vec<&LogicalService> = Vec::with_capacity(req.services.len());
    let mut seen = std::collections::HashSet::with_capacity(req.services.len());
    for name in req.services {
        let found = logical.get(name).or_else(|| {
            // `web-blue` names the zone of `web`: accept it for the logical service.
            req.spec.zones.iter().find_map(|z| {
                name.strip_suffix(&format!("-{z}"))
                    .and_then(|base| logical.get(base))
            })
        });
        let Some(logical_service) = found else {
            let known: Vec<&str> = logical.keys().map(String::as_str).collect();
            return Err(Error::usage(
                format!("no service `{name}` in the compose file"),
                format!("services: {}", known.join(", ")),
            ));
        };
        if seen.insert(logical_service.name.as_str()) {
            out.push(logical_service);
        }
    }
    Ok(out)
}

pub(super) fn other_zone<'z>(zones: &'z [String; 2], zone: &str) -> &'z str {
    if zones[0] == zone {
        &zones[1]
    } else {
        &zones[0]
    }
}

/// The zone serving traffic: the active-zone key, else the zone with replicas.
pub(super) fn active_zone(
    zones: &[String; 2],
    state: &ServiceState,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let desired = |z: &str| state.zones.get(z).map_or(0, |s| s.desired);
    if let Some(key) = &state.keys.active_zone {
        if zones.contains(key) {
            if desired(key) == 0 {
                warnings.push(format!(
                    "the active-zone key points at {key}, which has no replicas: requests routed by it are failing now"
                ));
            }
            return Some(key.clone());
        }
        warnings.push(format!(
            "the active-zone key holds `{key}`, which is not one of the zones ({}, {}); it is ignored and will be overwritten",
            zones[0], zones[1]
        ));
    }
    let (a, b) = (desired(&zones[0]), desired(&zones[1]));
    let active = match (a, b) {
        (0, 0) => return None,
        (_, 0) => &zones[0],
        (0, _) => &zones[1],
        _ if b > a => &zones[1],
        _ => &zones[0],
    };
    warnings.push(format!(
        "no active-zone key: {active} is taken as active because it runs replicas; this deploy writes the key"
    ));
    Some(active.clone())
}

/// The same image, ignoring a digest the registry resolved (Swarm pins tags to digests).
fn same_image(observed: &str, wanted: &str) -> bool {
    if wanted.contains('@') {
        return observed == wanted;
    }
    observed.split('@').next() == Some(wanted)
}

pub(super) fn new_builder<'a>(
    req: &PlanRequest<'a>,
    name: &'a str,
    keys: &'a crate::spec::model::ServiceKeys,
    policy: &'a Policy,
    full: u64,
    state: &'a ServiceState,
) -> Builder<'a> {
    let zones = &req.spec.zones;
    let names = [
        req.spec.zone_service_name(&req.project, name, &zones[0]),
        req.spec.zone_service_name(&req.project, name, &zones[1]),
    ];
    Builder {
        service: name,
        zones: &req.spec.zones,
        keys,
        policy,
        full,
        state,
        names,
        steps: Vec::new(),
        warnings: Vec::new(),
        replicas_now: [None, None],
    }
}

fn plan_deploy(
    req: &PlanRequest,
    logical_service: &LogicalService,
    state: &ServiceState,
) -> Result<ServicePlan, Error> {
    let zones = &req.spec.zones;
    let name = logical_service.name.as_str();
    let mut notes = logical_service.notes.clone();
    let active = active_zone(zones, state, &mut notes);
    let target = match &active {
        Some(a) => other_zone(zones, a).to_string(),
        None => zones[0].clone(),
    };
    let def = logical_service.definition(zones, &target);
    let (policy, full) = req
        .spec
        .resolve_policy(name, req.overrides, def.deploy.replicas)?;
    let full = full_or_serving(&policy, def, full, state, active.as_deref());
    let why = in_place::reasons(def);
    if policy.strategy == Strategy::InPlace || (!why.is_empty() && !policy.allow_zoned) {
        return in_place::plan(req, logical_service, state, &policy, full, &why);
    }
    in_place::refuse_zones_over(name, state, &why)?;
    let ports_warning = logical_service.check_published_ports()?;
    let version = req
        .version
        .clone()
        .unwrap_or_else(|| version_of(&def.image));
    let image = if req.version.is_some() && !uses_version_variable(def, &target) {
        with_version(&def.image, &version)
    } else {
        def.image.clone()
    };
    let keys = req.spec.keys(&req.project, name);
    let mut builder = new_builder(req, name, &keys, &policy, full, state);
    for n in notes {
        builder.warn(n);
    }
    builder.warnings.extend(ports_warning);
    if !why.is_empty() {
        builder.warn(format!(
            "{name} is deployed as two zones although {} (`allow_zoned: true`): both zones run at once while it switches",
            why.join("; ")
        ));
    }

    let from = active.as_ref().map(|a| ZoneVersion {
        zone: a.clone(),
        version: zone_version(state, a),
    });

    // Nothing to do when the version already serves from a clean, healthy, full zone.
    if let Some(a) = &active
        && is_up_to_date(state, a, &target, &version, &image, full, zones)
    {
        let mut definition = logical_service.definition(zones, a).clone();
        definition.image = image;
        return Ok(ServicePlan {
            service: name.to_string(),
            strategy: policy.strategy,
            from: from.clone(),
            to: ZoneVersion {
                zone: a.clone(),
                version,
            },
            keys: keys.clone(),
            policy: resolved(&policy, full),
            definition,
            steps: Vec::new(),
            warnings: builder.warnings,
            up_to_date: true,
        });
    }

    // An earlier deploy of this version stopped after its switch (interrupted, a lost
    // connection, a killed CI job): the keys already point at the zone serving it. Finish that
    // deploy (traffic, drain, old zone to 0) instead of starting over in the other zone.
    if let Some(a) = &active
        && switched_but_unfinished(state, a, &target, &version, &image, full)
    {
        let all_traffic = state
            .keys
            .traffic
            .as_deref()
            .is_none_or(|t| traffic::share_of(t, a) == Some(100));
        if !all_traffic {
            builder.flip(
                a,
                &version,
                format!(
                    "{a} already serves {version}: give it all the traffic to finish the switch"
                ),
            );
        }
        let old = builder.desired(&target);
        builder.retire(&target, old, None);
        let mut definition = logical_service.definition(zones, a).clone();
        definition.image = image;
        return Ok(ServicePlan {
            service: name.to_string(),
            strategy: policy.strategy,
            from: Some(ZoneVersion {
                zone: target.clone(),
                version: zone_version(state, &target),
            }),
            to: ZoneVersion {
                zone: a.clone(),
                version,
            },
            keys: keys.clone(),
            policy: resolved(&policy, full),
            definition,
            steps: builder.steps,
            warnings: builder.warnings,
            up_to_date: false,
        });
    }

    general_warnings(
        &mut builder,
        state,
        active.as_deref(),
        &target,
        &version,
        full,
    );
    for key in networks_of(def) {
        if let Some(net) = network_name(req, &key) {
            builder.push(
                Action::EnsureNetwork { name: net },
                format!(
                    "{name} is attached to the network `{key}`: created if missing, as `docker stack deploy` does"
                ),
            );
        }
    }

    let old = active.as_ref().filter(|a| builder.desired(a) > 0).cloned();
    let ctx = Move {
        target: &target,
        version: &version,
        image: &image,
    };
    match (&active, &old) {
        (None, _) => first_deploy(&mut builder, &ctx),
        (Some(a), None) => {
            if policy.strategy != Strategy::BlueGreen {
                builder.warn(format!(
                    "{a} runs no replicas, so a {} deploy has nothing to move from: all {full} replica(s) start at once",
                    policy.strategy
                ));
            }
            blue_green(&mut builder, &ctx, a, "unknown")
        }
        (Some(a), Some(_)) => {
            let a_ver = zone_version(state, a);
            if builder.desired(&target) > 0 {
                reclaim(&mut builder, a, &a_ver, &target);
            }
            match policy.strategy {
                Strategy::BlueGreen => blue_green(&mut builder, &ctx, a, &a_ver),
                Strategy::Canary => canary(&mut builder, &ctx, a, &a_ver),
                Strategy::Rolling => rolling(&mut builder, &ctx, a),
                // Chosen before any zone is planned.
                Strategy::InPlace => blue_green(&mut builder, &ctx, a, &a_ver),
            }
        }
    }

    let mut definition = def.clone();
    definition.image = image;
    Ok(ServicePlan {
        service: name.to_string(),
        strategy: policy.strategy,
        from,
        to: ZoneVersion {
            zone: target,
            version,
        },
        keys: keys.clone(),
        policy: resolved(&policy, full),
        definition,
        steps: builder.steps,
        warnings: builder.warnings,
        up_to_date: false,
    })
}

/// The keys point at `active`, which runs `version` at full strength and healthy, but the other
/// zone still has replicas or traffic: a deploy that stopped between its switch and its end.
fn switched_but_unfinished(
    state: &ServiceState,
    active: &str,
    other: &str,
    version: &str,
    image: &str,
    full: u64,
) -> bool {
    let Some(za) = state.zones.get(active) else {
        return false;
    };
    let other_busy = state.zones.get(other).is_some_and(|z| z.desired > 0);
    let traffic_elsewhere = state
        .keys
        .traffic
        .as_deref()
        .is_some_and(|t| traffic::share_of(t, active) != Some(100));
    version != "latest"
        && zone_version(state, active) == version
        && za.image.as_deref().is_none_or(|i| same_image(i, image))
        && state.keys.active_zone.as_deref() == Some(active)
        && state.keys.active_version.as_deref() == Some(version)
        && za.desired == full
        && za.healthy >= full
        && (other_busy || traffic_elsewhere)
}

fn is_up_to_date(
    state: &ServiceState,
    active: &str,
    target: &str,
    version: &str,
    image: &str,
    full: u64,
    zones: &[String; 2],
) -> bool {
    let Some(za) = state.zones.get(active) else {
        return false;
    };
    let traffic_ok = state
        .keys
        .traffic
        .as_deref()
        .is_none_or(|t| traffic::share_of(t, active) == Some(100));
    let image_ok = za.image.as_deref().is_none_or(|i| same_image(i, image));
    // `latest` names no version: what it points at may have changed since.
    version != "latest"
        && zone_version(state, active) == version
        && state.keys.active_zone.as_deref() == Some(active)
        && state.keys.active_version.as_deref() == Some(version)
        && traffic_ok
        && image_ok
        && za.desired == full
        && za.running >= full
        && za.healthy >= full
        && state.zones.get(target).is_none_or(|z| z.desired == 0)
        && zones.iter().any(|z| z == active)
}

fn general_warnings(
    steps: &mut Builder,
    state: &ServiceState,
    active: Option<&str>,
    target: &str,
    version: &str,
    full: u64,
) {
    if version == "latest" {
        steps.warn(format!(
            "{} deploys the tag `latest`: the version in the keys and the history says nothing about what runs; tag the image or pass `--version`",
            steps.service
        ));
    }
    if full == 1 {
        steps.warn(format!(
            "{} runs a single replica: there is no redundancy, and once the old zone is scaled down a rollback must start a task again",
            steps.service
        ));
    }
    if let Some(a) = active {
        if let Some(z) = state.zones.get(a)
            && z.desired > 0
            && z.healthy < z.desired
        {
            steps.warn(format!(
                "{a} serves with only {} of {} replicas healthy",
                z.healthy, z.desired
            ));
        }
        if let (Some(label), Some(key)) = (
            state.zones.get(a).and_then(|z| z.version.as_deref()),
            state.keys.active_version.as_deref(),
        ) && label != key
        {
            steps.warn(format!(
                "the active-version key says {key} but {a} runs {label}; the key will be rewritten"
            ));
        }
        if zone_version(state, a) == version {
            steps.warn(format!(
                "{version} already runs in {a}, the active zone: this deploys the same version again in {target}"
            ));
        }
    }
    if let Some(z) = state.zones.get(target)
        && z.desired > 0
        && active.is_some()
    {
        if z.version.as_deref() == Some(version) {
            steps.warn(format!(
                "{version} already runs in {target} ({} replica(s), a canary or an unfinished deploy): this starts it over; `shipctl promote {}` would finish it instead",
                z.desired, steps.service
            ));
        } else {
            let v = z.version.as_deref().unwrap_or("an unknown version");
            steps.warn(format!(
                "{target} already runs {} replica(s) of {v} (a canary or an unfinished deploy): they are replaced by {version}",
                z.desired
            ));
        }
    }
}

/// The target zone still runs a canary (or an unfinished deploy): give its traffic back to the
/// active zone before it is replaced, so no request reaches tasks that are being updated.
fn reclaim(steps: &mut Builder, active: &str, active_version: &str, target: &str) {
    let full = steps.full;
    if steps.desired(active) < full {
        steps.start(
            active,
            active_version,
            None,
            full,
            format!("scale {active} ({active_version}) back up to {full} before it takes the traffic of {target} back"),
        );
        let gate = steps.gate_reason(
            active,
            full,
            active_version,
            "before it takes all traffic back",
        );
        steps.wait_healthy(active, full, active_version, gate);
        steps.set_now(active, full);
    }
    let target_share = steps
        .state
        .keys
        .traffic
        .as_deref()
        .and_then(|t| traffic::share_of(t, target));
    if target_share == Some(0) {
        return;
    }
    steps.write_traffic(
        active,
        full,
        0,
        format!("move all traffic back to {active} before {target} is replaced"),
    );
    let drain = steps.policy.drain.time;
    if !drain.is_zero() {
        steps.push(
            Action::WaitDrain { duration: drain },
            format!(
                "let requests in flight on {target} finish before its tasks are replaced ({})",
                fmt_duration(drain)
            ),
        );
    }
}

/// The zone traffic moves away from, and the version it runs.
struct Old<'a> {
    zone: &'a str,
    version: &'a str,
}

/// What the new zone gets.
struct Move<'a> {
    target: &'a str,
    version: &'a str,
    image: &'a str,
}

fn first_deploy(steps: &mut Builder, m: &Move) {
    let full = steps.full;
    steps.start(
        m.target,
        m.version,
        Some(m.image),
        full,
        format!(
            "first deploy of {}: start {full} replica(s) of {} in {}",
            steps.service, m.version, m.target
        ),
    );
    let gate = steps.gate_reason(m.target, full, m.version, "before the keys point at it");
    steps.wait_healthy(m.target, full, m.version, gate);
    steps.flip(
        m.target,
        m.version,
        format!(
            "create the routing keys: {} serves {} and takes all traffic (one atomic write)",
            m.target, m.version
        ),
    );
    let other = other_zone(steps.zones, m.target).to_string();
    steps.retire(&other, 0, None);
}

fn blue_green(steps: &mut Builder, m: &Move, active: &str, _active_version: &str) {
    let full = steps.full;
    let old = steps.desired(active);
    let reason = if old > 0 {
        format!(
            "start {full} replica(s) of {} in the inactive zone {} while {active} keeps serving",
            m.version, m.target
        )
    } else {
        format!(
            "start {full} replica(s) of {} in {}; {active}, where the keys point, runs nothing",
            m.version, m.target
        )
    };
    steps.start(m.target, m.version, Some(m.image), full, reason);
    let gate = steps.gate_reason(m.target, full, m.version, "before any traffic moves");
    steps.wait_healthy(m.target, full, m.version, gate);
    steps.flip(
        m.target,
        m.version,
        format!(
            "switch: active zone {}, version {} and all traffic, in one atomic write",
            m.target, m.version
        ),
    );
    steps.retire(active, old, Some((m.target, m.version)));
}

/// Moves a canary from `cur` (new, old) to `next`; returns true when all traffic moved to the
/// new zone (the keys flipped and the old zone was retired).
fn canary_move(
    steps: &mut Builder,
    m: &Move,
    old: &Old,
    cur: (u64, u64),
    next: (u64, u64),
    first: bool,
    what: &str,
) -> bool {
    let (cn, co) = cur;
    let (n, o) = next;
    let t = m.target;
    let (active, active_version) = (old.zone, old.version);
    if first {
        steps.start(
            t,
            m.version,
            Some(m.image),
            n,
            format!(
                "{what}: start {n} replica(s) of {} in {t}, next to {active}",
                m.version
            ),
        );
    } else if n > cn {
        steps.start(
            t,
            m.version,
            None,
            n,
            format!("{what}: scale {t} ({}) up to {n}", m.version),
        );
    }
    if o > co {
        steps.scale(
            active,
            o,
            format!(
                "{what}: scale {active} ({active_version}) up to {o} before it takes more traffic"
            ),
        );
    }
    if n > 0 && (first || n > cn) {
        let why = if o == 0 {
            "before it takes all traffic"
        } else {
            "before it takes traffic"
        };
        let gate = steps.gate_reason(t, n, m.version, why);
        steps.wait_healthy(t, n, m.version, gate);
    }
    if o > 0 && (first || o > co) {
        let why = format!("{active} must stay healthy while traffic is split");
        let gate = steps.gate_reason(active, o, active_version, &why);
        steps.wait_healthy(active, o, active_version, gate);
    }
    if o == 0 && n > 0 {
        if n < steps.full {
            steps.warn(format!(
                "{t} takes all traffic with {n} of {} replicas: it may be overloaded",
                steps.full
            ));
        }
        steps.flip(
            t,
            m.version,
            format!(
                "{what}: switch active zone {t}, version {} and all traffic, in one atomic write",
                m.version
            ),
        );
        if n < cn {
            steps.scale(t, n, format!("{what}: scale {t} down to {n}"));
        }
        steps.retire(active, co.max(o), Some((t, m.version)));
        return true;
    }
    let (pn, _) = traffic::percentages(n, o);
    steps.write_traffic(
        t,
        n,
        o,
        format!("{what}: traffic follows the replicas ({n} new : {o} old), {t} gets {pn}%"),
    );
    if o < co || n < cn {
        let shrinking = if o < co { active } else { t };
        steps.drain_batch(shrinking, what);
    }
    if o < co {
        steps.scale(
            active,
            o,
            format!("{what}: scale {active} ({active_version}) down to {o}"),
        );
    }
    if n < cn {
        steps.scale(
            t,
            n,
            format!("{what}: scale {t} ({}) down to {n}", m.version),
        );
    }
    false
}

fn canary(steps: &mut Builder, m: &Move, active: &str, active_version: &str) {
    let full = steps.full;
    let policy = steps.policy.clone();
    let from = &Old {
        zone: active,
        version: active_version,
    };
    // Task counts, as `docker-compose scale old=M new=N` has them: an old count above what
    // serves now scales the old zone up.
    let new = policy.canary.new.max(1);
    let old = policy.canary.old.unwrap_or(full.saturating_sub(new));
    if new >= full && old == 0 {
        steps.warn(format!(
            "the canary runs {new} new replica(s), as many as the whole service ({full}): it is a full switch, not a canary"
        ));
    }
    let mut cur = (0, steps.desired(active));
    let mut flipped = canary_move(steps, m, from, cur, (new, old), true, "canary");
    cur = (new, old);
    // With an analysis and no step that places it, every traffic step is judged before the
    // next one.
    let no_overrides = crate::spec::model::AnalysisOverrides::default();
    let judge_each = !policy
        .canary
        .steps
        .iter()
        .any(|s| matches!(s, CanaryStep::Analysis(_)));
    if judge_each && !flipped {
        steps.analyze(m.target, m.version, &no_overrides, "canary");
    }
    let mut gated = false;
    for (i, step) in policy.canary.steps.iter().enumerate() {
        let what = format!("canary step {}", i + 1);
        if flipped {
            steps.warn(format!(
                "canary steps from step {} on are skipped: all traffic already moved to {}",
                i + 1,
                m.target
            ));
            break;
        }
        match step {
            CanaryStep::Scale { new: n, old: o } => {
                let (n, o) = (*n.min(&full), *o.min(&full));
                if n == 0 && o == 0 {
                    continue;
                }
                flipped = canary_move(steps, m, from, cur, (n, o), false, &what);
                cur = (n, o);
                if judge_each && !flipped {
                    steps.analyze(m.target, m.version, &no_overrides, &what);
                }
            }
            CanaryStep::Analysis(overrides) => {
                steps.analyze(m.target, m.version, overrides, &what);
            }
            CanaryStep::Pause { duration } => {
                let (pn, _) = traffic::percentages(cur.0, cur.1);
                steps.push(
                    Action::Pause {
                        duration: Some(*duration),
                    },
                    format!(
                        "{what}: bake {} with {} at {pn}% before going on; health is still watched",
                        fmt_duration(*duration),
                        m.target
                    ),
                );
            }
            CanaryStep::PauseUntilPromoted => {
                gated = true;
                let (pn, _) = traffic::percentages(cur.0, cur.1);
                steps.push(
                    Action::Pause { duration: None },
                    format!(
                        "{what}: wait with {} at {pn}% until `shipctl promote {}` (or `shipctl abort {}`)",
                        m.target, steps.service, steps.service
                    ),
                );
                // The deploy stops here; `shipctl promote` then goes straight to 100% (as the
                // steps below show), so later canary steps would never run.
                let rest = policy.canary.steps.len() - (i + 1);
                if rest > 0 {
                    let skipped = if rest == 1 {
                        format!("canary step {}", i + 2)
                    } else {
                        format!("canary steps {}-{}", i + 2, policy.canary.steps.len())
                    };
                    steps.warn(format!(
                        "{skipped} after the `pause: {{}}` of step {} never run: `shipctl promote` takes the canary straight to 100%",
                        i + 1
                    ));
                }
                break;
            }
        }
    }
    if flipped {
        return;
    }
    if policy.promote || gated {
        let what = if gated {
            "on `shipctl promote`"
        } else {
            "promote (--promote)"
        };
        canary_move(steps, m, from, cur, (full, 0), false, what);
    } else {
        let (pn, _) = traffic::percentages(cur.0, cur.1);
        steps.warn(format!(
            "the canary never reaches 100% on its own: nothing in the steps promotes it, so it waits with {} at {pn}% ({} new, {} old) for `shipctl promote {}`; add `--promote` (or `promote: true`) to switch at the end",
            m.target, cur.0, cur.1, steps.service
        ));
        // Ending on a gate makes the run report a canary waiting for promotion (and record it
        // as such), not a finished deploy: the keys still point at the old zone.
        steps.push(
            Action::Pause { duration: None },
            format!(
                "the canary keeps running with {} at {pn}% until `shipctl promote {}` (or `shipctl abort {}`)",
                m.target, steps.service, steps.service
            ),
        );
    }
}

fn rolling(steps: &mut Builder, m: &Move, active: &str) {
    let full = steps.full;
    let step = steps.policy.rolling.step.clamp(1, full);
    if step >= full && full > 1 {
        steps.warn(format!(
            "the rolling step ({step}) covers all {full} replicas: a single batch, like blue-green"
        ));
    }
    let batches = full.div_ceil(step);
    let (mut cn, mut co) = (0u64, steps.desired(active));
    let t = m.target;
    for batch in 1..=batches {
        let n = (cn + step).min(full);
        let what = format!("batch {batch}/{batches}");
        if batch == 1 {
            steps.deploy_zone(
                t,
                m.image,
                m.version,
                n,
                format!(
                    "{what}: start {n} of {full} replica(s) of {} in {t}",
                    m.version
                ),
            );
        } else {
            steps.scale(t, n, format!("{what}: scale {t} up to {n} of {full}"));
        }
        let o = co.min(full - n);
        let why = if o == 0 {
            "before it takes all traffic"
        } else {
            "before it takes traffic"
        };
        let gate = steps.gate_reason(t, n, m.version, why);
        steps.wait_healthy(t, n, m.version, gate);
        if o == 0 {
            steps.flip(
                t,
                m.version,
                format!(
                    "{what}: last batch, switch active zone {t}, version {} and all traffic, in one atomic write",
                    m.version
                ),
            );
            steps.retire(active, co, Some((t, m.version)));
        } else {
            let (pn, _) = traffic::percentages(n, o);
            steps.write_traffic(
                t,
                n,
                o,
                format!("{what}: traffic follows the replicas ({n} new : {o} old), {t} gets {pn}%"),
            );
            if o < co {
                steps.drain_batch(active, &what);
                steps.scale(active, o, format!("{what}: scale {active} down to {o}"));
            }
        }
        cn = n;
        co = o;
    }
}

/// The full replica count: `--replicas`, the spec, compose's `deploy.replicas`, else what
/// the serving zone runs (a compose file without replicas, scaled by hand as the classic
/// canary script does), else 1.
fn full_or_serving(
    policy: &Policy,
    def: &Service,
    resolved: u64,
    state: &ServiceState,
    serving: Option<&str>,
) -> u64 {
    if policy.replicas.is_some() || def.deploy.replicas.is_some() {
        return resolved;
    }
    serving
        .and_then(|zone| state.zones.get(zone))
        .map(|z| z.desired)
        .filter(|n| *n > 0)
        .unwrap_or(resolved)
}

fn policy_for(req: &PlanRequest, name: &str, def: &Service) -> Result<(Policy, u64), Error> {
    // promote/abort only need the replica count; strategy flags do not apply to them.
    let overrides = Overrides {
        replicas: req.overrides.replicas,
        task_batch: req.overrides.task_batch,
        ..Overrides::default()
    };
    req.spec
        .resolve_policy(name, &overrides, def.deploy.replicas)
}

/// How a canary ends: all traffic to the canary zone, or back to the old one.
#[derive(Clone, Copy)]
enum CanaryEnd {
    Promote,
    Abort,
}

/// Both ends of a canary are the same moves toward a different zone: bring the zone that keeps
/// the service up to full strength, gate it, give it all traffic, retire the other.
fn plan_canary_end(
    req: &PlanRequest,
    logical_service: &LogicalService,
    state: &ServiceState,
    p: InProgress,
    end: CanaryEnd,
) -> Result<ServicePlan, Error> {
    let (keep, keep_version, leave, leave_version) = match end {
        CanaryEnd::Promote => (&p.canary, &p.canary_version, &p.active, &p.active_version),
        CanaryEnd::Abort => (&p.active, &p.active_version, &p.canary, &p.canary_version),
    };
    let zones = &req.spec.zones;
    let name = logical_service.name.as_str();
    let def = logical_service.definition(zones, keep);
    let (policy, full) = policy_for(req, name, def)?;
    // The zone that served before the canary tells the full count when nothing else does.
    let full = full_or_serving(&policy, def, full, state, Some(&p.active));
    let keys = req.spec.keys(&req.project, name);
    let mut builder = new_builder(req, name, &keys, &policy, full, state);
    for w in &p.warnings {
        builder.warn(w.clone());
    }
    let image = state
        .zones
        .get(keep)
        .and_then(|z| z.image.clone())
        .unwrap_or_else(|| with_version(&def.image, keep_version));
    let (k, v) = (keep.as_str(), keep_version.as_str());
    let (scale_up, gate_why, switch) = match end {
        CanaryEnd::Promote => (
            format!("promote: scale {k} ({v}) up to the full {full} replica(s)"),
            "before it takes all traffic",
            format!(
                "promote: switch active zone {k}, version {v} and all traffic, in one atomic write"
            ),
        ),
        CanaryEnd::Abort => (
            format!("abort: scale {k} ({v}) back up to the full {full} replica(s)"),
            "before it takes all traffic back",
            format!(
                "abort: all traffic back to {k} ({v}); the keys are rewritten in one atomic write"
            ),
        ),
    };
    let leaving = builder.desired(leave);
    if builder.desired(k) < full {
        builder.start(k, v, None, full, scale_up);
    }
    let gate = builder.gate_reason(k, full, v, gate_why);
    builder.wait_healthy(k, full, v, gate);
    builder.flip(k, v, switch);
    // An abort goes back to what served before: nothing new to bake.
    let baked = matches!(end, CanaryEnd::Promote).then_some((k, v));
    builder.retire(leave, leaving, baked);
    let mut definition = def.clone();
    definition.image = image;
    Ok(ServicePlan {
        service: name.to_string(),
        // Promote and abort only ever finish a canary, whatever the spec's strategy now says.
        strategy: Strategy::Canary,
        from: Some(ZoneVersion {
            zone: leave.clone(),
            version: leave_version.clone(),
        }),
        to: ZoneVersion {
            zone: keep.clone(),
            version: keep_version.clone(),
        },
        keys: keys.clone(),
        policy: resolved(&policy, full),
        definition,
        steps: builder.steps,
        warnings: builder.warnings,
        up_to_date: false,
    })
}

/// The plan around the service plans: the networks, secrets and configs they use.
pub(super) fn assemble(req: &PlanRequest, services: Vec<ServicePlan>) -> Plan {
    let mut networks = IndexMap::new();
    let mut secrets = IndexMap::new();
    let mut configs = IndexMap::new();
    for sp in &services {
        for key in networks_of(&sp.definition) {
            if !networks.contains_key(&key) {
                let net = req.compose.networks.get(&key).cloned().unwrap_or_default();
                networks.insert(key, net);
            }
        }
        for s in &sp.definition.secrets {
            if let Some(v) = req.compose.secrets.get(&s.source) {
                secrets.entry(s.source.clone()).or_insert_with(|| v.clone());
            }
        }
        for c in &sp.definition.configs {
            if let Some(v) = req.compose.configs.get(&c.source) {
                configs.entry(c.source.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let mut warnings = req.compose.warnings.clone();
    warnings.extend(super::headroom::warnings(req, &services));
    let (services, needs) = in_dependency_order(req, services);
    warnings.extend(switch_order_warnings(&services, &needs));
    Plan {
        project: req.project.clone(),
        services,
        needs,
        networks,
        secrets,
        configs,
        observed: req.observed.clone(),
        warnings,
        fingerprint_salt: None,
    }
}

/// A release switches its blue-green services together, then runs its canary and rolling
/// services one by one: a blue-green service that needs one of those goes live while that
/// service still serves its old version. Said, since the plan's order suggests otherwise.
fn switch_order_warnings(
    services: &[ServicePlan],
    needs: &IndexMap<String, Vec<String>>,
) -> Vec<String> {
    let changes = |s: &ServicePlan| !s.up_to_date && !s.steps.is_empty();
    let stepwise: std::collections::HashMap<&str, &str> = services
        .iter()
        .filter(|s| changes(s) && s.from.is_some())
        .filter_map(|s| match s.strategy {
            Strategy::Canary => Some((s.service.as_str(), "canary")),
            Strategy::Rolling => Some((s.service.as_str(), "rolling update")),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for s in services
        .iter()
        .filter(|s| s.strategy == Strategy::BlueGreen && changes(s))
    {
        for dep in needs.get(&s.service).into_iter().flatten() {
            if let Some(how) = stepwise.get(dep.as_str()) {
                let svc = &s.service;
                out.push(format!(
                    "{svc} depends on {dep}, whose {how} runs after the release's switch: {svc} \
                     switches to its new version while {dep} still serves its old one; if {svc} \
                     needs {dep}'s new version, deploy {dep} first (`shipctl deploy {dep}`)"
                ));
            }
        }
    }
    out
}

/// The services in an order that puts each after those it depends on, and for each the
/// services of the plan it needs. `depends_on` names compose services; a zone's compose name
/// (`api-blue`) stands for its logical service.
fn in_dependency_order(
    req: &PlanRequest,
    services: Vec<ServicePlan>,
) -> (Vec<ServicePlan>, IndexMap<String, Vec<String>>) {
    let planned: std::collections::HashSet<&str> =
        services.iter().map(|s| s.service.as_str()).collect();
    let logical_of = |name: &str| -> String {
        if planned.contains(name) {
            return name.to_string();
        }
        req.spec
            .zones
            .iter()
            .find_map(|z| name.strip_suffix(&format!("-{z}")))
            .filter(|base| planned.contains(base))
            .unwrap_or(name)
            .to_string()
    };
    let mut deps: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for (name, service) in &req.compose.services {
        if service.depends_on.is_empty() {
            continue;
        }
        let entry = deps.entry(logical_of(name)).or_default();
        for dep in &service.depends_on {
            let dep = logical_of(dep);
            if !entry.contains(&dep) && dep != logical_of(name) {
                entry.push(dep);
            }
        }
    }
    drop(planned);
    if deps.is_empty() {
        return (services, IndexMap::new());
    }
    let names: Vec<String> = services.iter().map(|s| s.service.clone()).collect();
    let order = crate::compose::dependencies::in_order(&names, &deps);
    let mut by_name: IndexMap<String, ServicePlan> = services
        .into_iter()
        .map(|s| (s.service.clone(), s))
        .collect();
    let ordered: Vec<ServicePlan> = order
        .iter()
        .filter_map(|name| by_name.shift_remove(name))
        .collect();
    let mut needs = IndexMap::new();
    for service in &ordered {
        let needed: Vec<String> = names
            .iter()
            .filter(|other| {
                *other != &service.service
                    && crate::compose::dependencies::depends_on(&service.service, other, &deps)
            })
            .cloned()
            .collect();
        if !needed.is_empty() {
            needs.insert(service.service.clone(), needed);
        }
    }
    (ordered, needs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RoutingKeys;
    use crate::ports::ZoneState;

    fn zones() -> [String; 2] {
        ["blue".into(), "green".into()]
    }

    fn state(key: Option<&str>, blue: Option<u64>, green: Option<u64>) -> ServiceState {
        let mut s = ServiceState {
            keys: RoutingKeys {
                active_zone: key.map(str::to_string),
                ..RoutingKeys::default()
            },
            ..ServiceState::default()
        };
        for (zone, n) in [("blue", blue), ("green", green)] {
            if let Some(n) = n {
                s.zones.insert(
                    zone.into(),
                    ZoneState {
                        desired: n,
                        running: n,
                        healthy: n,
                        ..ZoneState::default()
                    },
                );
            }
        }
        s
    }

    fn active(s: &ServiceState) -> (Option<String>, usize) {
        let mut w = Vec::new();
        let a = active_zone(&zones(), s, &mut w);
        (a, w.len())
    }

    #[test]
    fn the_key_decides_the_active_zone() {
        assert_eq!(
            active(&state(Some("green"), Some(0), Some(3))),
            (Some("green".into()), 0)
        );
        // The key wins even when the zone it names is empty, with a warning.
        assert_eq!(
            active(&state(Some("blue"), Some(0), Some(3))),
            (Some("blue".into()), 1)
        );
    }

    #[test]
    fn without_a_key_the_zone_with_replicas_is_active() {
        assert_eq!(
            active(&state(None, Some(0), Some(2))),
            (Some("green".into()), 1)
        );
        assert_eq!(
            active(&state(None, Some(2), None)),
            (Some("blue".into()), 1)
        );
        // Both run: the larger one serves.
        assert_eq!(
            active(&state(None, Some(1), Some(3))),
            (Some("green".into()), 1)
        );
        // A key naming no zone is ignored.
        assert_eq!(
            active(&state(Some("red"), Some(2), None)),
            (Some("blue".into()), 2)
        );
    }

    #[test]
    fn nothing_deployed_means_first_deploy() {
        assert_eq!(active(&state(None, None, None)), (None, 0));
        assert_eq!(active(&state(None, Some(0), Some(0))), (None, 0));
    }

    #[test]
    fn target_is_the_other_zone() {
        let z = zones();
        assert_eq!(other_zone(&z, "blue"), "green");
        assert_eq!(other_zone(&z, "green"), "blue");
    }

    #[test]
    fn version_flag_must_be_a_tag() {
        assert!(check_version_flag("1.4.2").is_ok());
        assert!(check_version_flag("v2_rc-1").is_ok());
        for bad in ["", "-1", ".1", "1.0 beta", "a:b", "x/y", &"9".repeat(129)] {
            assert!(check_version_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_resolved_by_swarm_are_the_same_image() {
        assert!(same_image("app:1.0@sha256:abc", "app:1.0"));
        assert!(!same_image("app:1.0@sha256:abc", "app:1.1"));
        assert!(same_image("app@sha256:abc", "app@sha256:abc"));
    }
}

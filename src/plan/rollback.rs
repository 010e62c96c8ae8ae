//! Plans `shipctl rollback`: back to the warm zone when it still holds the wanted version (a
//! scale-up and a key flip), otherwise a normal health-gated deploy of that version.

use crate::error::Error;
use crate::plan::image::with_version;
use crate::ports::ReleaseRecord;

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
        builder.start(
            &warm,
            to,
            None,
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
        builder.retire(&active, old, None);
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

/// Where `shipctl rollback` without a service takes the stack: the releases it undoes and, for
/// each service they changed, the version it goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRollback {
    /// The release whose versions the stack goes back to, when one is recorded.
    pub back_to: Option<String>,
    /// The successful releases undone, newest first.
    pub undone: Vec<String>,
    /// `(service, version)`: every service the undone releases changed, back to the version
    /// it had before the oldest of them that changed it.
    pub targets: Vec<(String, String)>,
    /// Services left as they are, with why (an undone release created them).
    pub left: Vec<(String, String)>,
}

/// Chooses what a whole-stack rollback does from the project's `releases` (newest first).
///
/// Only successful releases count: a failed one was rolled back by itself and changed nothing.
/// Without `to`, the latest successful release is undone: each service it changed goes back
/// to its `from` version (a rollback is a release too, so a second rollback undoes the first,
/// as `docker service rollback` does). With `to` (a release id, or a unique start of one), the
/// stack goes back to the versions that release deployed: every successful release after it
/// is undone, each service back to its version before the oldest of them that changed it.
pub fn stack_rollback(
    releases: &[ReleaseRecord],
    to: Option<&str>,
) -> Result<StackRollback, Error> {
    let successful: Vec<&ReleaseRecord> = releases.iter().filter(|r| r.succeeded()).collect();
    let (undone, back_to): (Vec<&ReleaseRecord>, Option<String>) = match to {
        None => {
            let Some(latest) = successful.first() else {
                return Err(Error::usage(
                    "no successful release of this project is recorded: there is nothing to roll back",
                    "`shipctl history` lists the releases; `shipctl rollback SERVICE --to VERSION` rolls one service back",
                ));
            };
            (vec![*latest], successful.get(1).map(|r| r.id.clone()))
        }
        Some(wanted) => {
            let target = find_release(releases, wanted)?;
            if !target.succeeded() {
                return Err(Error::usage(
                    format!(
                        "release {} ended `{}`: its versions never served",
                        target.id,
                        target.result.word()
                    ),
                    "pick a release that succeeded (`shipctl history` lists them)",
                ));
            }
            let newer: Vec<&ReleaseRecord> = successful
                .iter()
                .take_while(|r| r.id != target.id)
                .copied()
                .collect();
            if newer.is_empty() {
                return Err(Error::usage(
                    format!(
                        "the stack is at release {} already: no successful release came after it",
                        target.id
                    ),
                    "`shipctl history` lists the releases",
                ));
            }
            (newer, Some(target.id.clone()))
        }
    };
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut left: Vec<(String, String)> = Vec::new();
    // Oldest undone release first: the first one that changed a service says where it was.
    for release in undone.iter().rev() {
        for change in &release.services {
            let seen = |list: &[(String, String)]| list.iter().any(|(s, _)| *s == change.service);
            if seen(&targets) || seen(&left) {
                continue;
            }
            match change.from_version.as_deref() {
                Some(v) if v != "unknown" => targets.push((change.service.clone(), v.to_string())),
                Some(_) => left.push((
                    change.service.clone(),
                    format!(
                        "its version before release {} is unknown; left as it is",
                        release.id
                    ),
                )),
                None => left.push((
                    change.service.clone(),
                    format!(
                        "release {} created it, there is no earlier version; left as it is",
                        release.id
                    ),
                )),
            }
        }
    }
    Ok(StackRollback {
        back_to,
        undone: undone.iter().map(|r| r.id.clone()).collect(),
        targets,
        left,
    })
}

/// The release `wanted` names: its id, or the only one whose id starts with it.
fn find_release<'r>(
    releases: &'r [ReleaseRecord],
    wanted: &str,
) -> Result<&'r ReleaseRecord, Error> {
    if let Some(r) = releases.iter().find(|r| r.id == wanted) {
        return Ok(r);
    }
    let matching: Vec<&ReleaseRecord> = releases
        .iter()
        .filter(|r| r.id.starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::usage(
            format!("no release `{wanted}` is recorded for this project"),
            "`shipctl history` lists the releases (`shipctl rollback SERVICE --to VERSION` takes a version)",
        )),
        many => Err(Error::usage(
            format!("`{wanted}` starts {} release ids", many.len()),
            "give more of the id (`shipctl history` lists them)",
        )),
    }
}

/// One service of a whole-stack rollback: `req` is made with the compose files loaded for
/// `to`, so that a service that is not warm is deployed again with its own version.
pub struct StackPart<'a> {
    pub req: PlanRequest<'a>,
    pub service: String,
    pub to: String,
}

/// Plans a whole-stack rollback as ONE plan, so that the services switch together: each
/// service goes back to its own version, from its warm zone where that zone still holds it,
/// else deployed again; a service already on its version is up to date. `notes` (services
/// left as they are) become warnings of the plan.
pub fn rollback_stack(parts: &[StackPart<'_>], notes: &[String]) -> Result<Plan, Error> {
    let mut merged: Option<Plan> = None;
    for part in parts {
        let services = [part.service.clone()];
        let req = PlanRequest {
            services: &services,
            version: Some(part.to.clone()),
            ..part.req.clone()
        };
        let zones = &req.spec.zones;
        let state = req
            .observed
            .services
            .get(&part.service)
            .cloned()
            .unwrap_or_default();
        let active = active_zone(zones, &state, &mut Vec::new());
        let warm_holds_it = active.as_ref().is_some_and(|a| {
            let warm = other_zone(zones, a);
            zone_version(&state, a) != part.to
                && state.zones.get(warm).and_then(|z| z.version.as_deref()) == Some(&part.to)
        });
        let one = if warm_holds_it {
            rollback(&req, &part.to)?
        } else {
            plan(&req)?
        };
        merged = Some(match merged {
            None => one,
            Some(all) => merge(all, one),
        });
    }
    let mut plan = merged.ok_or_else(|| {
        Error::usage(
            "no service to roll back",
            "`shipctl history` lists the releases and what they changed",
        )
    })?;
    plan.warnings.extend(notes.iter().cloned());
    Ok(plan)
}

/// `b`'s services added to `a`, with the networks, secrets, configs and warnings they need.
fn merge(mut a: Plan, b: Plan) -> Plan {
    a.services.extend(b.services);
    for (k, v) in b.networks {
        a.networks.entry(k).or_insert(v);
    }
    for (k, v) in b.secrets {
        a.secrets.entry(k).or_insert(v);
    }
    for (k, v) in b.configs {
        a.configs.entry(k).or_insert(v);
    }
    for w in b.warnings {
        if !a.warnings.contains(&w) {
            a.warnings.push(w);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Action, ReleaseChange, RunResult};
    use crate::spec::Strategy;

    /// A release of `(service, from, to)`.
    fn release(
        id: &str,
        result: RunResult,
        changes: &[(&str, Option<&str>, &str)],
    ) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            time: "2026-11-30T08:45:12Z".into(),
            user: "deployer".into(),
            host: "ci".into(),
            ci_job: None,
            action: Action::Deploy,
            result,
            duration_secs: 1.0,
            services: changes
                .iter()
                .map(|(s, from, to)| ReleaseChange {
                    service: (*s).into(),
                    strategy: Strategy::BlueGreen,
                    from_zone: from.map(|_| "blue".into()),
                    from_version: from.map(str::to_string),
                    to_zone: "green".into(),
                    to_version: (*to).into(),
                })
                .collect(),
            failure: None,
        }
    }

    /// Newest first, as stored: r1 creates api and web, r2 moves api alone, a failed r3, r4
    /// moves both.
    fn releases() -> Vec<ReleaseRecord> {
        vec![
            release(
                "r4",
                RunResult::Done,
                &[
                    ("api", Some("2.0.0"), "3.0.0"),
                    ("web", Some("1.0.0"), "3.0.0"),
                ],
            ),
            release(
                "r3",
                RunResult::RolledBack,
                &[("web", Some("1.0.0"), "9.9.9")],
            ),
            release("r2", RunResult::Done, &[("api", Some("1.0.0"), "2.0.0")]),
            release(
                "r1",
                RunResult::Done,
                &[("api", None, "1.0.0"), ("web", None, "1.0.0")],
            ),
        ]
    }

    fn targets(r: &StackRollback) -> Vec<(&str, &str)> {
        r.targets
            .iter()
            .map(|(s, v)| (s.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn without_to_the_latest_successful_release_is_undone_each_service_to_its_own_version() {
        let r = stack_rollback(&releases(), None).expect("a rollback");
        assert_eq!(r.undone, ["r4"]);
        assert_eq!(r.back_to.as_deref(), Some("r2"));
        assert_eq!(targets(&r), [("api", "2.0.0"), ("web", "1.0.0")]);
        assert!(r.left.is_empty());
    }

    #[test]
    fn to_a_release_goes_back_to_the_versions_it_deployed() {
        let r = stack_rollback(&releases(), Some("r1")).expect("a rollback");
        assert_eq!(r.undone, ["r4", "r2"]);
        // api was 1.0.0 before r2, web 1.0.0 before r4; the failed r3 changed nothing.
        assert_eq!(targets(&r), [("api", "1.0.0"), ("web", "1.0.0")]);
        let r = stack_rollback(&releases(), Some("r2")).expect("a rollback");
        assert_eq!(targets(&r), [("api", "2.0.0"), ("web", "1.0.0")]);
    }

    #[test]
    fn services_a_release_created_are_left_as_they_are() {
        let mut list = releases();
        list.insert(
            0,
            release(
                "r5",
                RunResult::Done,
                &[("api", Some("3.0.0"), "3.1.0"), ("worker", None, "1.0.0")],
            ),
        );
        let r = stack_rollback(&list, None).expect("a rollback");
        assert_eq!(targets(&r), [("api", "3.0.0")]);
        assert_eq!(r.left.len(), 1);
        assert_eq!(r.left[0].0, "worker");
        assert!(r.left[0].1.contains("r5 created it"), "{:?}", r.left);
        // Only the first release: it created everything, nothing to go back to.
        let first = stack_rollback(&releases()[3..], None).expect("a choice");
        assert!(first.targets.is_empty());
        assert_eq!(first.left.len(), 2);
    }

    #[test]
    fn refused_choices_say_why() {
        let err = |to: Option<&str>, list: &[ReleaseRecord]| {
            stack_rollback(list, to).expect_err("refused").to_string()
        };
        assert!(err(Some("r3"), &releases()).contains("never served"));
        assert!(err(Some("r4"), &releases()).contains("at release r4 already"));
        assert!(err(Some("nope"), &releases()).contains("no release `nope`"));
        assert!(err(Some("r"), &releases()).contains("starts 4 release ids"));
        assert!(err(None, &[]).contains("nothing to roll back"));
        // A unique start of an id is enough.
        let mut list = releases();
        list[3].id = "20261130-084512-3f2a".into();
        let r = stack_rollback(&list, Some("20261130-0845")).expect("found by its start");
        assert_eq!(r.back_to.as_deref(), Some("20261130-084512-3f2a"));
    }
}

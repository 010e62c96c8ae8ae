//! `--assume-state`: plan against a state written on the command line instead of a live
//! cluster (dry runs in CI, documentation, reviews).
//!
//! Syntax (entries separated by `,`):
//!
//! | text | meaning |
//! |---|---|
//! | `none` | nothing deployed (every selected service is a first deploy) |
//! | `blue@1.3.0` | every selected service: blue active on 1.3.0 at full replicas, green at 0 |
//! | `blue@1.3.0:2` | the same with 2 replicas in blue |
//! | `web=blue@1.3.0,api=green@2.0` | per service; a bare entry applies to the services not named |
//! | `web=none` | nothing deployed for `web` |
//! | `blue@1.3.0+green@1.4.0` | a canary in progress: green runs 1.4.0 with the canary's `new` replicas, blue keeps `old` (default full - new) |
//! | `blue@1.3.0+green@1.4.0:1/3` | the same with 1 new and 3 old replicas (as `--new 1 --old 3`) |
//! | `blue@1.3.0:3+green@1.4.0:1` | the same, each zone with its own count |
//! | `db=in-place@7.0` | `db` runs 7.0 in place (one Swarm service, no zones) |
//!
//! The first zone is the active one: the keys point at it. Every assumed task is running and
//! healthy; a zone that is not mentioned exists with 0 replicas (the steady state after a deploy).

use crate::compose::ComposeProject;
use crate::error::Error;
use crate::spec::Spec;
use crate::spec::defaults::IN_PLACE;

use super::logical::logical_services;
use super::{ObservedState, RoutingKeys, ServiceState, StateSource};
use crate::ports::ZoneState;
use crate::ports::traffic;

/// The parsed `--assume-state` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assumption {
    /// The entry without a service name: applies to every selected service not named.
    pub default: Option<ServiceAssumption>,
    /// Entries written as `service=...`, in the order given.
    pub services: Vec<(String, ServiceAssumption)>,
}

/// What one service is assumed to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAssumption {
    Nothing,
    Deployed {
        active: ZoneAssumption,
        /// A canary (or an unfinished rolling deploy) in the other zone.
        canary: Option<ZoneAssumption>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneAssumption {
    pub zone: String,
    pub version: String,
    /// `None` = from the policy (full replicas, or the canary's new/old).
    pub replicas: Option<u64>,
}

const HELP: &str = "write `none`, `blue@1.3.0`, `blue@1.3.0:2` (2 replicas), `web=blue@1.3.0,api=green@2.0`, or a canary in progress `blue@1.3.0+green@1.4.0:1/3` (1 new, 3 old)";

fn bad(why: impl std::fmt::Display) -> Error {
    Error::usage(format!("invalid `--assume-state`: {why}"), HELP)
}

/// Parses the flag's value (syntax in the module documentation).
pub fn parse(text: &str) -> Result<Assumption, Error> {
    let mut out = Assumption {
        default: None,
        services: Vec::new(),
    };
    let mut named = std::collections::HashSet::new();
    if text.trim().is_empty() {
        return Err(bad("the value is empty"));
    }
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(bad(format!("empty entry in `{text}`")));
        }
        match entry.split_once('=') {
            Some((service, body)) => {
                let service = service.trim();
                if service.is_empty() {
                    return Err(bad(format!("`{entry}` has no service name before `=`")));
                }
                if !named.insert(service) {
                    return Err(bad(format!("`{service}` is given twice")));
                }
                out.services
                    .push((service.to_string(), parse_service(body.trim())?));
            }
            None => {
                if out.default.is_some() {
                    return Err(bad(format!(
                        "more than one entry without a service name (`{entry}`); name the services, e.g. `web={entry}`"
                    )));
                }
                out.default = Some(parse_service(entry)?);
            }
        }
    }
    Ok(out)
}

fn parse_service(body: &str) -> Result<ServiceAssumption, Error> {
    if body == "none" {
        return Ok(ServiceAssumption::Nothing);
    }
    let parts: Vec<&str> = body.split('+').collect();
    match parts.as_slice() {
        [one] => {
            let (zone, pair) = parse_zone(one)?;
            if pair.is_some() {
                return Err(bad(format!(
                    "`{one}`: `new/old` counts only go on the canary zone, as in `blue@1.3.0+green@1.4.0:1/3`"
                )));
            }
            Ok(ServiceAssumption::Deployed {
                active: zone,
                canary: None,
            })
        }
        [a, c] => {
            let (mut active, pair_a) = parse_zone(a)?;
            let (mut canary, pair) = parse_zone(c)?;
            if pair_a.is_some() {
                return Err(bad(format!(
                    "`{a}`: put the `new/old` counts on the canary zone (after `+`)"
                )));
            }
            if active.zone == canary.zone {
                return Err(bad(format!(
                    "`{body}` names zone {} twice; a canary runs in the other zone",
                    active.zone
                )));
            }
            if let Some((new, old)) = pair {
                if active.replicas.is_some() {
                    return Err(bad(format!(
                        "`{body}` gives the old replicas twice (`:{}` and `/{old}`)",
                        active.replicas.unwrap_or_default()
                    )));
                }
                canary.replicas = Some(new);
                active.replicas = Some(old);
            }
            Ok(ServiceAssumption::Deployed {
                active,
                canary: Some(canary),
            })
        }
        _ => Err(bad(format!(
            "`{body}` has more than two zones; there are only two"
        ))),
    }
}

/// `zone@version[:replicas]` or, on a canary, `zone@version:new/old`.
fn parse_zone(term: &str) -> Result<(ZoneAssumption, Option<(u64, u64)>), Error> {
    let term = term.trim();
    let Some((zone, rest)) = term.split_once('@') else {
        return Err(bad(format!(
            "`{term}` should be `zone@version`, e.g. `blue@1.3.0`"
        )));
    };
    let (version, count) = match rest.split_once(':') {
        Some((v, c)) => (v, Some(c)),
        None => (rest, None),
    };
    if zone.is_empty() {
        return Err(bad(format!("`{term}` has no zone before `@`")));
    }
    if version.is_empty() {
        return Err(bad(format!("`{term}` has no version after `@`")));
    }
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| bad(format!("`{s}` in `{term}` is not a replica count")))
    };
    let (replicas, pair) = match count {
        None => (None, None),
        Some(c) => match c.split_once('/') {
            Some((n, o)) => (None, Some((number(n)?, number(o)?))),
            None => (Some(number(c)?), None),
        },
    };
    Ok((
        ZoneAssumption {
            zone: zone.to_string(),
            version: version.to_string(),
            replicas,
        },
        pair,
    ))
}

/// Builds the observed state the flag describes for the selected services (`services` empty =
/// every service of the compose file).
pub fn observed_state(
    text: &str,
    project: &str,
    compose: &ComposeProject,
    spec: &Spec,
    services: &[String],
) -> Result<ObservedState, Error> {
    let assumption = parse(text)?;
    assumption.observed(project, compose, spec, services)
}

impl Assumption {
    pub fn observed(
        &self,
        project: &str,
        compose: &ComposeProject,
        spec: &Spec,
        services: &[String],
    ) -> Result<ObservedState, Error> {
        let logical = logical_services(compose, &spec.zones)?;
        for (name, _) in &self.services {
            if !logical.contains_key(name) {
                let known: Vec<&str> = logical.keys().map(String::as_str).collect();
                return Err(bad(format!(
                    "no service `{name}` in the compose file (services: {})",
                    known.join(", ")
                )));
            }
        }
        let selected: Vec<&str> = if services.is_empty() {
            logical.keys().map(String::as_str).collect()
        } else {
            services.iter().map(String::as_str).collect()
        };
        let mut state = ObservedState {
            source: StateSource::Assumed,
            ..ObservedState::default()
        };
        for (name, a) in &self.services {
            let logical_service = &logical[name.as_str()];
            let replicas = logical_service.definitions[0].deploy.replicas;
            let s = service_state(spec, project, name, replicas, a)?;
            state.services.insert(name.clone(), s);
        }
        if let Some(a) = &self.default {
            for name in selected {
                if state.services.contains_key(name) {
                    continue;
                }
                let replicas = logical
                    .get(name)
                    .and_then(|l| l.definitions[0].deploy.replicas);
                let s = service_state(spec, project, name, replicas, a)?;
                state.services.insert(name.to_string(), s);
            }
        }
        Ok(state)
    }
}

fn service_state(
    spec: &Spec,
    project: &str,
    service: &str,
    compose_replicas: Option<u64>,
    a: &ServiceAssumption,
) -> Result<ServiceState, Error> {
    let ServiceAssumption::Deployed { active, canary } = a else {
        return Ok(ServiceState::default());
    };
    if active.zone == IN_PLACE && canary.is_none() {
        // One Swarm service, no zones: only the version key.
        let policy = spec.base_policy(service);
        let n = active
            .replicas
            .unwrap_or_else(|| policy.replicas.or(compose_replicas).unwrap_or(1).max(1));
        let mut state = ServiceState::default();
        state.zones.insert(
            IN_PLACE.to_string(),
            ZoneState {
                service_name: spec.in_place_service_name(project, service),
                desired: n,
                running: n,
                healthy: n,
                version: Some(active.version.clone()),
                ..ZoneState::default()
            },
        );
        state.keys.active_version = Some(active.version.clone());
        return Ok(state);
    }
    for z in std::iter::once(active).chain(canary.as_ref()) {
        if !spec.zones.contains(&z.zone) {
            return Err(bad(format!(
                "`{}` is not a zone; the zones are {} and {}",
                z.zone, spec.zones[0], spec.zones[1]
            )));
        }
    }
    // Counts only: the policy's own consistency is checked when planning, not here.
    let policy = spec.base_policy(service);
    let full = policy.replicas.or(compose_replicas).unwrap_or(1).max(1);
    let zone = |name: &str, version: Option<&str>, n: u64| ZoneState {
        service_name: spec.zone_service_name(project, service, name),
        desired: n,
        running: n,
        healthy: n,
        version: version.map(str::to_string),
        image: None,
        spec_index: None,
        updated_at: None,
    };
    let mut state = ServiceState::default();
    let other = if spec.zones[0] == active.zone {
        &spec.zones[1]
    } else {
        &spec.zones[0]
    };
    let (active_n, canary_n) = match canary {
        None => (active.replicas.unwrap_or(full), 0),
        Some(c) => {
            let new = c.replicas.unwrap_or(policy.canary.new.min(full));
            let old = active
                .replicas
                .unwrap_or_else(|| policy.canary.old.unwrap_or(full.saturating_sub(new)));
            (old, new)
        }
    };
    state.zones.insert(
        active.zone.clone(),
        zone(&active.zone, Some(&active.version), active_n),
    );
    let canary_version = canary.as_ref().map(|c| c.version.as_str());
    state
        .zones
        .insert(other.clone(), zone(other, canary_version, canary_n));
    // Both zones in zone order, as the cluster reader reports them.
    state
        .zones
        .sort_by(|a, _, b, _| zone_rank(spec, a).cmp(&zone_rank(spec, b)));
    let (a_n, b_n) = if spec.zones[0] == active.zone {
        (active_n, canary_n)
    } else {
        (canary_n, active_n)
    };
    state.keys = RoutingKeys {
        active_zone: Some(active.zone.clone()),
        active_version: Some(active.version.clone()),
        // Counts come from the command line: both may be near u64::MAX, so no sum.
        traffic: if a_n == 0 && b_n == 0 {
            Some(traffic::all_to(&spec.zones, &active.zone))
        } else {
            Some(traffic::split(&spec.zones, a_n, b_n))
        },
    };
    Ok(state)
}

fn zone_rank(spec: &Spec, zone: &str) -> usize {
    usize::from(spec.zones[1] == zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Service;

    fn compose(names: &[(&str, Option<u64>)]) -> ComposeProject {
        let mut p = ComposeProject::default();
        for (n, r) in names {
            let mut s = Service {
                name: (*n).to_string(),
                image: "app:1".into(),
                ..Service::default()
            };
            s.deploy.replicas = *r;
            p.services.insert((*n).to_string(), s);
        }
        p
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse("none").unwrap().default,
            Some(ServiceAssumption::Nothing)
        );
        let a = parse("web=blue@1.3.0, api=green@2.0:2").unwrap();
        assert_eq!(a.default, None);
        assert_eq!(a.services.len(), 2);
        let ServiceAssumption::Deployed { active, canary } = &a.services[1].1 else {
            panic!("api is deployed");
        };
        assert_eq!(
            (active.zone.as_str(), active.replicas, canary),
            ("green", Some(2), &None)
        );
        let a = parse("blue@1.3.0+green@1.4.0:1/3").unwrap();
        let Some(ServiceAssumption::Deployed { active, canary }) = a.default else {
            panic!("deployed");
        };
        assert_eq!(active.replicas, Some(3));
        assert_eq!(
            canary.map(|c| (c.zone, c.version, c.replicas)),
            Some(("green".into(), "1.4.0".into(), Some(1)))
        );
    }

    #[test]
    fn errors_name_the_flag() {
        for bad in [
            "",
            "blue",
            "blue@",
            "@1.0",
            "blue@1.0:x",
            "blue@1.0+blue@2.0",
            "blue@1+green@2+red@3",
            "blue@1.0,green@2.0",
            "web=blue@1,web=green@2",
            "blue@1.0:1/3",
            "=blue@1",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("--assume-state"), "{bad}: {err}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn builds_the_observed_state() {
        let c = compose(&[("web", Some(4)), ("api", None)]);
        let spec = Spec::default();
        let s = observed_state(
            "blue@1.3.0+green@1.4.0:1/3,api=green@2.0",
            "demo",
            &c,
            &spec,
            &[],
        )
        .unwrap();
        assert_eq!(s.source, StateSource::Assumed);
        let web = &s.services["web"];
        assert_eq!(web.zones["blue"].desired, 3);
        assert_eq!(web.zones["green"].desired, 1);
        assert_eq!(web.zones["green"].service_name, "demo_web-green");
        assert_eq!(web.keys.traffic.as_deref(), Some("blue=75,green=25"));
        let api = &s.services["api"];
        assert_eq!(api.keys.active_zone.as_deref(), Some("green"));
        assert_eq!(api.zones["green"].desired, 1);
        assert_eq!(api.zones["blue"].desired, 0);
        let names: Vec<&String> = api.zones.keys().collect();
        assert_eq!(names, ["blue", "green"]);
    }

    #[test]
    fn counts_near_the_largest_number_split_the_traffic() {
        let c = compose(&[("web", Some(2))]);
        let s = observed_state(
            "blue@1:18446744073709551615+green@2:1",
            "demo",
            &c,
            &Spec::default(),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.services["web"].keys.traffic.as_deref(),
            Some("blue=99,green=1")
        );
    }

    #[test]
    fn unknown_zone_or_service_is_refused() {
        let c = compose(&[("web", Some(2))]);
        let spec = Spec::default();
        assert!(observed_state("red@1.0", "demo", &c, &spec, &[]).is_err());
        assert!(observed_state("db=blue@1.0", "demo", &c, &spec, &[]).is_err());
        let none = observed_state("none", "demo", &c, &spec, &[]).unwrap();
        assert_eq!(none.services["web"], ServiceState::default());
    }
}

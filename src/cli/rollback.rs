//! `shipctl rollback [SERVICE]`: back to an earlier version. The warm zone (kept at 0 replicas
//! with the previous version) is instant; older versions are deployed again, health-gated.

use std::collections::HashMap;

use super::apply::{Request, apply, print_outcome};
use super::canary::the_service;
use super::deploy::{confirm, observe_services};
use super::inputs;
use super::world::World;
use super::{GlobalArgs, RollbackArgs, runtime};
use crate::error::Error;
use crate::exec::kv_error;
use crate::kv::{self, HistoryRecord};
use crate::plan::{self, PlanRequest, ServiceState};
use crate::spec::Overrides;
use crate::ui::Terminal;
use crate::ui::summary::print_plan;

/// A version one can go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub version: String,
    /// Still defined in the inactive zone: a scale-up and a key flip away.
    pub warm: bool,
    /// Shown next to the version in the menu.
    pub note: String,
}

pub fn run(
    global: &GlobalArgs,
    args: &RollbackArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let inputs = inputs::load(global, env, None)?;
    let service = the_service(&inputs, args.service.as_deref(), "rollback")?;
    runtime::block_on(async {
        let world = World::connect(global, env, &inputs.spec).await?;
        let selected = vec![service.clone()];
        let observed = observe_services(&world, &inputs, &selected).await?;
        let state = observed.services.get(&service).cloned().unwrap_or_default();
        let keys = inputs.spec.keys(&inputs.project, &service);
        let history = kv::read_history(world.kv.as_ref(), &keys.history)
            .await
            .map_err(kv_error)?;
        let list = candidates(&inputs.spec.zones, &state, &history);
        let to = choose(&service, args.to.as_deref(), &list, global, terminal)?;
        let warm = list.iter().any(|c| c.warm && c.version == to);
        // A version that is not warm is deployed again: its image comes from the compose
        // file with that version, as `deploy --version` would.
        let inputs = if warm {
            inputs
        } else {
            inputs::load(global, env, Some(&to))?
        };
        let overrides = Overrides::default();
        let plan = plan::rollback(
            &PlanRequest {
                project: inputs.project.clone(),
                compose: &inputs.compose,
                spec: &inputs.spec,
                overrides: &overrides,
                observed: &observed,
                services: &selected,
                version: Some(to.clone()),
            },
            &to,
        )?;
        if args.dry_run {
            print_plan(&plan, terminal);
            return Ok(());
        }
        if !global.yes && !terminal.interactive {
            return Err(Error::usage(
                format!("rolling {service} back to {to} needs confirmation; nothing was changed"),
                "add --yes to go ahead without asking",
            ));
        }
        if !confirm(&plan, global, terminal)? {
            return Err(Error::usage(
                "rollback cancelled; nothing was changed",
                "run it again and answer yes, or add --yes",
            ));
        }
        let request = Request {
            action: "rollback",
            message: None,
            lock_wait: None,
        };
        let outcome = apply(&world, &plan, &inputs.spec, &request, global, env, terminal).await?;
        print_outcome(&outcome, terminal);
        Ok(())
    })
}

/// The warm zone's version first, then every other version the history saw live, newest
/// first; the version serving now is left out.
pub fn candidates(
    zones: &[String; 2],
    state: &ServiceState,
    history: &[HistoryRecord],
) -> Vec<Candidate> {
    let active = state
        .keys
        .active_zone
        .clone()
        .filter(|z| zones.contains(z))
        .or_else(|| {
            zones
                .iter()
                .find(|z| state.zones.get(*z).is_some_and(|s| s.desired > 0))
                .cloned()
        });
    let current = active
        .as_ref()
        .and_then(|a| state.zones.get(a))
        .and_then(|z| z.version.clone())
        .or_else(|| state.keys.active_version.clone());
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(a) = &active {
        let warm = if &zones[0] == a { &zones[1] } else { &zones[0] };
        if let Some(z) = state.zones.get(warm)
            && let Some(v) = &z.version
            && Some(v) != current.as_ref()
        {
            out.push(Candidate {
                version: v.clone(),
                warm: true,
                note: format!("instant: warm zone {warm}, {} replica(s) now", z.desired),
            });
        }
    }
    for r in history.iter().rev() {
        let live = [
            (r.result == "success")
                .then_some(r.to_version.as_ref())
                .flatten(),
            r.from_version.as_ref(),
        ];
        for v in live.into_iter().flatten() {
            if Some(v) == current.as_ref() || v == "unknown" || out.iter().any(|c| &c.version == v)
            {
                continue;
            }
            out.push(Candidate {
                version: v.clone(),
                warm: false,
                note: format!("deploy again, health-gated; last live {}", r.time),
            });
        }
    }
    out
}

/// `--to`, else the only candidate with `--yes`, else a menu on a terminal.
fn choose(
    service: &str,
    to: Option<&str>,
    list: &[Candidate],
    global: &GlobalArgs,
    terminal: &Terminal,
) -> Result<String, Error> {
    if let Some(v) = to {
        return Ok(v.to_string());
    }
    let listed = || {
        list.iter()
            .map(|c| format!("{} ({})", c.version, c.note))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if list.is_empty() {
        return Err(Error::usage(
            format!("no earlier version of {service} to go back to (no warm zone, no history)"),
            "name one with --to VERSION",
        ));
    }
    if !terminal.interactive {
        if list.len() == 1 {
            return Ok(list[0].version.clone());
        }
        return Err(Error::usage(
            format!(
                "which version? {service} can go back to {}; no terminal to ask on",
                listed()
            ),
            format!(
                "add --to VERSION, e.g. `shipctl rollback {service} --to {} --yes`",
                list[0].version
            ),
        ));
    }
    let _ = global;
    let items: Vec<String> = list
        .iter()
        .map(|c| format!("{:<12} {}", c.version, c.note))
        .collect();
    match crate::ui::prompt::select(&format!("Roll {service} back to"), &items) {
        Ok(Some(i)) => Ok(list[i].version.clone()),
        Ok(None) => Err(Error::usage(
            "rollback cancelled; nothing was changed",
            "run it again and pick a version, or pass --to VERSION",
        )),
        Err(e) => Err(Error::usage(
            format!("cannot ask which version: {e}"),
            "pass --to VERSION",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RoutingKeys;
    use crate::ports::ZoneState;

    fn record(from: Option<&str>, to: &str, result: &str) -> HistoryRecord {
        let mut r = HistoryRecord::now(&HashMap::new(), "web", "blue-green", "deploy", result);
        r.from_version = from.map(str::to_string);
        r.to_version = Some(to.to_string());
        r
    }

    #[test]
    fn the_warm_zone_comes_first_then_the_history_newest_first() {
        let zones = ["blue".to_string(), "green".to_string()];
        let mut state = ServiceState {
            keys: RoutingKeys {
                active_zone: Some("blue".into()),
                active_version: Some("3.0.0".into()),
                traffic: None,
            },
            ..ServiceState::default()
        };
        for (zone, n, v) in [("blue", 2, "3.0.0"), ("green", 0, "2.0.0")] {
            state.zones.insert(
                zone.into(),
                ZoneState {
                    desired: n,
                    version: Some(v.into()),
                    ..ZoneState::default()
                },
            );
        }
        let history = [
            record(None, "1.0.0", "success"),
            record(Some("1.0.0"), "2.0.0", "success"),
            record(Some("2.0.0"), "9.9.9", "rolled_back"),
            record(Some("2.0.0"), "3.0.0", "success"),
        ];
        let list = candidates(&zones, &state, &history);
        let versions: Vec<(&str, bool)> =
            list.iter().map(|c| (c.version.as_str(), c.warm)).collect();
        assert_eq!(versions, [("2.0.0", true), ("1.0.0", false)]);
    }
}

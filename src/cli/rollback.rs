//! `shipctl rollback [SERVICE]`: back to an earlier version. The warm zone (kept at 0 replicas
//! with the previous version) is instant; older versions are deployed again, health-gated.
//! Without a service, the whole stack goes back to before its latest release (or to the
//! versions of release `--to`), all its services in one plan.

use super::RollbackArgs;
use super::canary::the_service;
use crate::error::Error;
use crate::kv;
use crate::plan::logical::logical_services;
use crate::plan::{self, ObservedState, PlanRequest, ServiceState, StackPart, StackRollback};
use crate::ports::{Action, HistoryRecord, ReleaseRecord, RunResult};
use crate::session::{self, Inputs, Job, Session, Settings, kv_error};
use crate::spec::Overrides;
use crate::ui::Printer;

/// A version one can go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub version: String,
    /// Still defined in the inactive zone: a scale-up and a key flip away.
    pub warm: bool,
    /// Shown next to the version in the menu.
    pub note: String,
}

pub fn run(settings: &Settings, args: &RollbackArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        if args.service.is_none() {
            let key = inputs.spec.releases_key(&inputs.project);
            let releases = kv::read_releases(session.kv.as_ref(), &key)
                .await
                .map_err(kv_error)?;
            // A one-service stack deployed before releases were recorded rolls back as before.
            let one_service = logical_services(&inputs.compose, &inputs.spec.zones)?.len() == 1;
            if !releases.is_empty() || !one_service {
                return run_stack(&session, settings, args, &inputs, &releases, printer).await;
            }
        }
        let service = the_service(&inputs, args.service.as_deref(), Action::Rollback)?;
        let selected = vec![service.clone()];
        let observed = session
            .observe(&inputs.project, &inputs.spec, &selected)
            .await?;
        let state = observed.services.get(&service).cloned().unwrap_or_default();
        let keys = inputs.spec.keys(&inputs.project, &service);
        let history = kv::read_history(session.kv.as_ref(), &keys.history)
            .await
            .map_err(kv_error)?;
        let list = candidates(&inputs.spec.zones, &state, &history);
        let to = choose(&service, args.to.as_deref(), &list, printer)?;
        let warm = list.iter().any(|c| c.warm && c.version == to);
        // A version that is not warm is deployed again: its image comes from the compose
        // file with that version, as `deploy --version` would.
        let inputs = if warm {
            inputs
        } else {
            session::load_inputs(settings, Some(&to))?
        };
        if !args.dry_run && !settings.yes && !printer.terminal.interactive {
            return Err(Error::usage(
                format!("rolling {service} back to {to} needs confirmation; nothing was changed"),
                "add --yes to go ahead without asking",
            ));
        }
        let overrides = Overrides::default();
        let make_plan = |observed: &ObservedState| {
            let request = PlanRequest {
                project: inputs.project.clone(),
                compose: &inputs.compose,
                spec: &inputs.spec,
                overrides: &overrides,
                observed,
                services: &selected,
                version: Some(to.clone()),
            };
            plan::rollback(&request, &to)
        };
        let job = Job {
            dry_run: args.dry_run,
            ..Job::new(Action::Rollback, &inputs, selected.clone())
        };
        session.carry_out(job, printer, make_plan).await?;
        Ok(())
    })
}

/// `shipctl rollback` without a service: the whole stack back to before its latest release,
/// or to the versions of release `--to`, as one plan (one release) with every service.
async fn run_stack(
    session: &Session<'_>,
    settings: &Settings,
    args: &RollbackArgs,
    inputs: &Inputs,
    releases: &[ReleaseRecord],
    printer: &Printer,
) -> Result<(), Error> {
    let to = match &args.to {
        Some(id) => Some(id.clone()),
        None => choose_release(releases, printer)?,
    };
    let chosen = plan::stack_rollback(releases, to.as_deref())?;
    let notes: Vec<String> = chosen
        .left
        .iter()
        .map(|(service, why)| format!("{service}: {why}"))
        .collect();
    if chosen.targets.is_empty() {
        return Err(Error::usage(
            format!(
                "release {} changed no service that had an earlier version: nothing to roll back ({})",
                chosen.undone.join(", "),
                notes.join("; ")
            ),
            "`shipctl history` lists the releases",
        ));
    }
    if !args.dry_run && !settings.yes && !printer.terminal.interactive {
        return Err(Error::usage(
            format!(
                "rolling the stack back ({}) needs confirmation; nothing was changed",
                describe(&chosen)
            ),
            "add --yes to go ahead without asking",
        ));
    }
    // The compose files once per version: each service takes its definition (its image) from
    // the load of the version it goes back to.
    let mut loads: Vec<(String, Inputs)> = Vec::new();
    for (_, version) in &chosen.targets {
        if !loads.iter().any(|(v, _)| v == version) {
            loads.push((
                version.clone(),
                session::load_inputs(settings, Some(version))?,
            ));
        }
    }
    let services: Vec<String> = chosen.targets.iter().map(|(s, _)| s.clone()).collect();
    let overrides = Overrides::default();
    let make_plan = |observed: &ObservedState| {
        let parts: Vec<StackPart<'_>> = chosen
            .targets
            .iter()
            .filter_map(|(service, version)| {
                let (_, load) = loads.iter().find(|(v, _)| v == version)?;
                Some(StackPart {
                    req: PlanRequest {
                        project: inputs.project.clone(),
                        compose: &load.compose,
                        spec: &inputs.spec,
                        overrides: &overrides,
                        observed,
                        services: &[],
                        version: Some(version.clone()),
                    },
                    service: service.clone(),
                    to: version.clone(),
                })
            })
            .collect();
        plan::rollback_stack(&parts, &notes)
    };
    let job = Job {
        dry_run: args.dry_run,
        ..Job::new(Action::Rollback, inputs, services.clone())
    };
    session.carry_out(job, printer, make_plan).await
}

/// `back to release X: api 1.0.0, web 1.0.0`.
fn describe(chosen: &StackRollback) -> String {
    let versions: Vec<String> = chosen
        .targets
        .iter()
        .map(|(s, v)| format!("{s} {v}"))
        .collect();
    match &chosen.back_to {
        Some(id) => format!("back to release {id}: {}", versions.join(", ")),
        None => format!(
            "undo release {}: {}",
            chosen.undone.join(", "),
            versions.join(", ")
        ),
    }
}

/// On a terminal: a menu of the releases to go back to, the one before the latest first.
/// Elsewhere `None`: the latest release is undone.
fn choose_release(releases: &[ReleaseRecord], printer: &Printer) -> Result<Option<String>, Error> {
    if !printer.terminal.interactive {
        return Ok(None);
    }
    let list = release_candidates(releases);
    if list.is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = list
        .iter()
        .map(|r| {
            format!(
                "{}  {:<8} {}  {}",
                r.id,
                r.action.as_str(),
                r.time,
                r.changes_line()
            )
        })
        .collect();
    match crate::ui::prompt::select("Roll the stack back to the versions of release", &items) {
        Ok(Some(i)) => Ok(Some(list[i].id.clone())),
        Ok(None) => Err(Error::usage(
            "rollback cancelled; nothing was changed",
            "run it again and pick a release, or pass --to RELEASE",
        )),
        Err(e) => Err(Error::usage(
            format!("cannot ask which release: {e}"),
            "pass --to RELEASE (`shipctl history` lists them)",
        )),
    }
}

/// The releases the stack can go back to: every successful one but the latest, newest first.
pub fn release_candidates(releases: &[ReleaseRecord]) -> Vec<&ReleaseRecord> {
    releases.iter().filter(|r| r.succeeded()).skip(1).collect()
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
            (r.result == RunResult::Done)
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
    printer: &Printer,
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
    if !printer.terminal.interactive {
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
    use std::collections::HashMap;

    use super::*;
    use crate::plan::RoutingKeys;
    use crate::ports::ZoneState;
    use crate::spec::Strategy;

    fn record(from: Option<&str>, to: &str, result: RunResult) -> HistoryRecord {
        let mut r = HistoryRecord::now(
            &HashMap::new(),
            "web",
            Strategy::BlueGreen,
            Action::Deploy,
            result,
        );
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
            record(None, "1.0.0", RunResult::Done),
            record(Some("1.0.0"), "2.0.0", RunResult::Done),
            record(Some("2.0.0"), "9.9.9", RunResult::RolledBack),
            record(Some("2.0.0"), "3.0.0", RunResult::Done),
        ];
        let list = candidates(&zones, &state, &history);
        let versions: Vec<(&str, bool)> =
            list.iter().map(|c| (c.version.as_str(), c.warm)).collect();
        assert_eq!(versions, [("2.0.0", true), ("1.0.0", false)]);
    }

    #[test]
    fn the_release_menu_offers_every_successful_release_but_the_latest() {
        let release = |id: &str, result: RunResult| {
            let mut r = ReleaseRecord::now(&HashMap::new(), id, Action::Deploy, result);
            r.services.clear();
            r
        };
        let list = [
            release("r4", RunResult::Done),
            release("r3", RunResult::RolledBack),
            release("r2", RunResult::Done),
            release("r1", RunResult::Done),
        ];
        let ids: Vec<&str> = release_candidates(&list)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["r2", "r1"]);
    }
}

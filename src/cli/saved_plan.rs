//! Saved plans: `plan --out plan.json`, then `deploy --plan plan.json` applies exactly that
//! plan, and refuses when the cluster moved since it was made.

use std::collections::HashMap;
use std::path::Path;

use super::apply::{Request, apply, print_outcome};
use super::deploy::confirm;
use super::world::World;
use super::{DeployArgs, GlobalArgs, runtime};
use crate::error::Error;
use crate::exec::observe;
use crate::plan::{ObservedState, Plan};
use crate::ui::Terminal;
use crate::ui::summary::print_plan;

pub fn save(plan: &Plan, path: &Path) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(plan).map_err(|e| Error::Usage {
        message: format!("cannot encode the plan: {e}"),
        help: None,
    })?;
    std::fs::write(path, json + "\n").map_err(|e| {
        Error::usage(
            format!("cannot write the plan to {}: {e}", path.display()),
            "check that the directory exists and is writable",
        )
    })
}

fn load(path: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("cannot read the saved plan {}: {e}", path.display()),
            "give the file written by `shipctl plan --out FILE`",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(
            format!(
                "{} is not a shipctl plan (line {}, column {}): {e}",
                path.display(),
                e.line(),
                e.column()
            ),
            "make it again with `shipctl plan --out FILE`",
        )
    })
}

pub fn run(
    global: &GlobalArgs,
    path: &Path,
    dry_run: bool,
    args: &DeployArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let plan = load(path)?;
    let spec = crate::spec::load(global.spec.as_deref())?;
    runtime::block_on(async {
        let world = World::connect(global, env, &spec).await?;
        let services: Vec<String> = plan.services.iter().map(|s| s.service.clone()).collect();
        let now = observe(
            &world.cluster,
            world.kv.as_ref(),
            &plan.project,
            &spec,
            &services,
        )
        .await?;
        if let Some(change) = first_change(&plan.observed, &now) {
            return Err(Error::usage(
                format!("the cluster changed since the plan was made: {change}"),
                "make a new plan with `shipctl plan --out FILE` and review it",
            ));
        }
        if dry_run {
            print_plan(&plan, terminal);
            return Ok(());
        }
        if !confirm(&plan, global, terminal)? {
            return Err(Error::usage(
                "deploy cancelled; nothing was changed",
                "run it again and answer yes, or add --yes",
            ));
        }
        let request = Request::from_deploy("deploy", args)?;
        let outcome = apply(&world, &plan, &spec, &request, global, env, terminal).await?;
        print_outcome(&outcome, terminal);
        Ok(())
    })
}

/// What differs between the state a plan was made from and now. Task counts move on their
/// own; what matters is what the plan acts on: service specs (version index), replicas,
/// versions and the routing keys.
pub fn first_change(then: &ObservedState, now: &ObservedState) -> Option<String> {
    for (service, before) in &then.services {
        let after = now.services.get(service).cloned().unwrap_or_default();
        if before.keys != after.keys {
            return Some(format!(
                "{service}'s routing keys changed ({:?} -> {:?})",
                before.keys, after.keys
            ));
        }
        for (zone, b) in &before.zones {
            match after.zones.get(zone) {
                None => return Some(format!("{service}'s zone {zone} was removed")),
                Some(a) => {
                    if (a.desired, &a.version, &a.image) != (b.desired, &b.version, &b.image)
                        || (b.spec_index.is_some() && a.spec_index != b.spec_index)
                    {
                        return Some(format!(
                            "{service}'s zone {zone} ({}) was updated",
                            a.service_name
                        ));
                    }
                }
            }
        }
        if let Some(zone) = after.zones.keys().find(|z| !before.zones.contains_key(*z)) {
            return Some(format!("{service}'s zone {zone} was created"));
        }
    }
    None
}

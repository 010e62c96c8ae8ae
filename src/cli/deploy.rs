//! `shipctl deploy` and `shipctl plan`.

use std::collections::HashMap;

use super::apply::{Locks, Request, apply_locked, print_outcome};
use super::inputs::{self, Inputs};
use super::world::World;
use super::{DeployArgs, GlobalArgs, runtime};
use crate::error::Error;
use crate::exec::observe;
use crate::plan::{self, ObservedState, Plan, PlanRequest, logical::logical_services};
use crate::spec::Overrides;
use crate::ui::Terminal;
use crate::ui::summary::print_plan;

/// `plan` is `deploy --dry-run`.
pub fn run(
    global: &GlobalArgs,
    args: &DeployArgs,
    dry_run: bool,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let dry_run = dry_run || args.dry_run;
    if args.assume_state.is_some() && !dry_run {
        return Err(Error::usage(
            "--assume-state plans against an imagined cluster; it cannot deploy",
            "use it with `shipctl plan` or `deploy --dry-run`, or drop it to deploy for real",
        ));
    }
    if let Some(path) = &args.plan {
        return super::saved_plan::run(global, path, dry_run, args, env, terminal);
    }
    let inputs = inputs::load(global, env, args.version.as_deref())?;
    let overrides = overrides(args);

    // Offline plans need no runtime at all.
    if let Some(assumed) = &args.assume_state {
        let observed = plan::assume::observed_state(
            assumed,
            &inputs.project,
            &inputs.compose,
            &inputs.spec,
            &args.services,
        )?;
        let plan = make_plan(&inputs, &overrides, &observed, args)?;
        return finish_dry_run(&plan, args, terminal);
    }

    runtime::block_on(async {
        let world = World::connect(global, env, &inputs.spec).await?;
        let observed = observe_services(&world, &inputs, &args.services).await?;
        let plan = make_plan(&inputs, &overrides, &observed, args)?;
        if dry_run {
            return finish_dry_run(&plan, args, terminal);
        }
        if !confirm(&plan, global, terminal)? {
            return Err(Error::usage(
                "deploy cancelled; nothing was changed",
                "run it again and answer yes, or add --yes",
            ));
        }
        let request = Request::from_deploy("deploy", args)?;
        let cancel = runtime::cancel_on_signals();
        let mut locks = Locks::take(&world, &plan, &inputs.spec, &request, &cancel).await?;
        // The deploy we waited for moved the zones and keys: a plan made before it finished
        // would be refused as stale, so plan again from what it left (the lock keeps others out).
        let plan = if locks.waited {
            let replanned = async {
                let observed = observe_services(&world, &inputs, &args.services).await?;
                make_plan(&inputs, &overrides, &observed, args)
            }
            .await;
            let replanned = match replanned {
                Ok(p) => p,
                Err(e) => {
                    let _ = locks.release().await;
                    return Err(e);
                }
            };
            locks
                .cover(&world, &replanned, &inputs.spec, &request, &cancel)
                .await?;
            replanned
        } else {
            plan
        };
        let outcome = apply_locked(
            &world,
            &plan,
            &inputs.spec,
            &request,
            global,
            env,
            terminal,
            locks,
            cancel,
        )
        .await?;
        print_outcome(&outcome, terminal);
        Ok(())
    })
}

pub fn overrides(args: &DeployArgs) -> Overrides {
    Overrides {
        strategy: args.strategy,
        new: args.new,
        old: args.old,
        step: args.step,
        replicas: args.replicas,
        promote: args.promote,
    }
}

/// Reads the state of the selected services (every service when none is named).
pub async fn observe_services(
    world: &World,
    inputs: &Inputs,
    selected: &[String],
) -> Result<ObservedState, Error> {
    let services: Vec<String> = if selected.is_empty() {
        logical_services(&inputs.compose, &inputs.spec.zones)?
            .keys()
            .cloned()
            .collect()
    } else {
        selected.to_vec()
    };
    observe(
        &world.cluster,
        world.kv.as_ref(),
        &inputs.project,
        &inputs.spec,
        &services,
    )
    .await
}

fn make_plan(
    inputs: &Inputs,
    overrides: &Overrides,
    observed: &ObservedState,
    args: &DeployArgs,
) -> Result<Plan, Error> {
    plan::plan(&PlanRequest {
        project: inputs.project.clone(),
        compose: &inputs.compose,
        spec: &inputs.spec,
        overrides,
        observed,
        services: &args.services,
        version: args.version.clone(),
    })
}

fn finish_dry_run(plan: &Plan, args: &DeployArgs, terminal: &Terminal) -> Result<(), Error> {
    print_plan(plan, terminal);
    if let Some(path) = &args.out {
        super::saved_plan::save(plan, path)?;
    }
    Ok(())
}

/// On a terminal, shows the plan and asks; `--yes` and non-interactive runs go ahead (the
/// command itself is the intent, as with `docker stack deploy`).
pub fn confirm(plan: &Plan, global: &GlobalArgs, terminal: &Terminal) -> Result<bool, Error> {
    if global.yes || !terminal.interactive || plan.services.iter().all(|s| s.up_to_date) {
        return Ok(true);
    }
    print_plan(plan, terminal);
    crate::ui::prompt::confirm("Apply this plan?").map_err(|e| Error::Usage {
        message: format!("cannot ask for confirmation: {e}"),
        help: Some("add --yes to go ahead without asking".into()),
    })
}

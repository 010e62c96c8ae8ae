//! `shipctl deploy` and `shipctl plan` (= `deploy --dry-run`), also of a saved plan.

use std::path::Path;

use super::DeployArgs;
use super::settings::duration_flag;
use crate::error::Error;
use crate::plan::redact::fresh_salt;
use crate::plan::{self, ObservedState, Plan, PlanRequest};
use crate::ports::Action;
use crate::session::{self, Inputs, Job, RunRequest, Session, Settings};
use crate::spec::Overrides;
use crate::ui::{OutputFormat, Printer};

pub fn run(
    settings: &Settings,
    args: &DeployArgs,
    dry_run: bool,
    printer: &Printer,
) -> Result<(), Error> {
    let dry_run = dry_run || args.dry_run;
    if args.assume_state.is_some() && !dry_run {
        return Err(Error::usage(
            "--assume-state plans against an imagined cluster; it cannot deploy",
            "use it with `shipctl plan` or `deploy --dry-run`, or drop it to deploy for real",
        ));
    }
    let request = RunRequest {
        message: args.message.clone(),
        lock_wait: args
            .lock_wait
            .as_deref()
            .map(|text| duration_flag("--lock-wait", text))
            .transpose()?,
        parallel: args
            .parallel
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    if let Some(path) = &args.plan {
        return saved_plan(settings, path, dry_run, request, printer);
    }
    let inputs = session::load_inputs(settings, args.version.as_deref())?;
    let overrides = overrides(args);
    let make_plan = |observed: &ObservedState| {
        plan::plan(&PlanRequest {
            project: inputs.project.clone(),
            compose: &inputs.compose,
            spec: &inputs.spec,
            overrides: &overrides,
            observed,
            services: &args.services,
            version: args.version.clone(),
        })
    };

    // Offline plans need no runtime at all.
    if let Some(assumed) = &args.assume_state {
        let observed = plan::assume::observed_state(
            assumed,
            &inputs.project,
            &inputs.compose,
            &inputs.spec,
            &args.services,
        )?;
        let mut plan = make_plan(&observed)?;
        // The plan's text shows no environment value; JSON and a saved plan show
        // fingerprints, under one salt so that the two can be compared.
        if printer.format() == OutputFormat::Json || args.out.is_some() {
            plan = plan.into_redacted(&fresh_salt());
        }
        crate::ui::summary::print_plan_with(&plan, &inputs.spec.notify, printer);
        let saved = match &args.out {
            Some(path) => session::save_plan(&plan, path),
            None => Ok(()),
        };
        // The process ends here: handing a plan of thousands of services back to the allocator
        // piece by piece would take longer than making it (a fifth of `plan`'s time).
        std::mem::forget(plan);
        std::mem::forget(observed);
        std::mem::forget(inputs);
        return saved;
    }
    let job = Job {
        request,
        dry_run,
        save_to: args.out.as_deref(),
        ..Job::new(
            Action::Deploy,
            &inputs,
            selected_or_all(&inputs, &args.services)?,
        )
    };
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        session.carry_out(job, printer, make_plan).await?;
        Ok(())
    })
}

fn overrides(args: &DeployArgs) -> Overrides {
    Overrides {
        strategy: args.strategy,
        new: args.new,
        old: args.old,
        step: args.step,
        replicas: args.replicas,
        promote: args.promote,
        task_batch: args.task_batch,
    }
}

/// The named services, else every service of the compose files.
fn selected_or_all(inputs: &Inputs, selected: &[String]) -> Result<Vec<String>, Error> {
    if !selected.is_empty() {
        return Ok(selected.to_vec());
    }
    let all = plan::logical::logical_services(&inputs.compose, &inputs.spec.zones)?;
    Ok(all.keys().cloned().collect())
}

/// A saved plan holds fingerprints, not environment values: read them again from the compose
/// files, and use them only where they are what the plan was made with.
fn restore_values(settings: &Settings, saved: &mut Plan) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None).map_err(|e| {
        Error::usage(
            format!(
                "the saved plan's environment values must be read again from the compose files: {e}"
            ),
            "apply the plan from the project's directory (with the same -f files and .env)",
        )
    })?;
    let logical = plan::logical::logical_services(&inputs.compose, &inputs.spec.zones)?;
    let current = saved
        .services
        .iter()
        .filter_map(|s| {
            let l = logical.get(&s.service)?;
            let zone = if inputs.spec.zones.contains(&s.to.zone) {
                s.to.zone.clone()
            } else {
                inputs.spec.zones[0].clone()
            };
            Some((
                s.service.clone(),
                l.definition(&inputs.spec.zones, &zone).environment.clone(),
            ))
        })
        .collect();
    saved.restore_values(&current).map_err(|why| {
        Error::usage(
            format!("{why}; nothing was changed"),
            "make a new plan with `shipctl plan --out FILE` and review it",
        )
    })
}

/// `deploy --plan FILE` applies exactly the saved plan, and refuses when the cluster moved
/// since it was made.
fn saved_plan(
    settings: &Settings,
    path: &Path,
    dry_run: bool,
    request: RunRequest,
    printer: &Printer,
) -> Result<(), Error> {
    let mut saved = session::read_plan(path)?;
    if saved.needs_values() {
        restore_values(settings, &mut saved)?;
    }
    let spec = session::load_spec(settings)?;
    let job = Job {
        action: Action::Deploy,
        request,
        project: &saved.project,
        spec: &spec,
        spec_dir: &settings.cwd,
        services: saved.services.iter().map(|s| s.service.clone()).collect(),
        // The saved plan is applied as reviewed: its address space is not checked again.
        networks: Vec::new(),
        dry_run,
        save_to: None,
        release: Default::default(),
    };
    let still_valid = |now: &ObservedState| -> Result<Plan, Error> {
        match session::first_change(&saved.observed, now) {
            Some(change) => Err(Error::usage(
                format!("the cluster changed since the plan was made: {change}"),
                "make a new plan with `shipctl plan --out FILE` and review it",
            )),
            None => Ok(saved.clone()),
        }
    };
    session::block_on(async {
        let session = Session::open(settings, &spec.kv.url).await?;
        session.carry_out(job, printer, still_valid).await?;
        Ok(())
    })
}

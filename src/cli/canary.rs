//! `shipctl promote` and `shipctl abort`: finish or undo a canary in progress.

use std::collections::HashMap;

use super::apply::{Request, apply, print_outcome};
use super::deploy::{confirm, observe_services};
use super::inputs::{self, Inputs};
use super::world::World;
use super::{GlobalArgs, ServiceArgs, runtime};
use crate::error::Error;
use crate::plan::{self, PlanRequest, logical::logical_services};
use crate::spec::Overrides;
use crate::ui::Terminal;
use crate::ui::summary::print_plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryAction {
    Promote,
    Abort,
}

impl CanaryAction {
    fn name(self) -> &'static str {
        match self {
            CanaryAction::Promote => "promote",
            CanaryAction::Abort => "abort",
        }
    }
}

pub fn run(
    action: CanaryAction,
    global: &GlobalArgs,
    args: &ServiceArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let inputs = inputs::load(global, env, None)?;
    let service = the_service(&inputs, args.service.as_deref(), action.name())?;
    runtime::block_on(async {
        let world = World::connect(global, env, &inputs.spec).await?;
        let selected = vec![service.clone()];
        let observed = observe_services(&world, &inputs, &selected).await?;
        let overrides = Overrides::default();
        let request = PlanRequest {
            project: inputs.project.clone(),
            compose: &inputs.compose,
            spec: &inputs.spec,
            overrides: &overrides,
            observed: &observed,
            services: &selected,
            version: None,
        };
        let plan = match action {
            CanaryAction::Promote => plan::promote(&request)?,
            CanaryAction::Abort => plan::abort(&request)?,
        };
        if args.dry_run {
            print_plan(&plan, terminal);
            return Ok(());
        }
        if !confirm(&plan, global, terminal)? {
            return Err(Error::usage(
                format!("{} cancelled; nothing was changed", action.name()),
                "run it again and answer yes, or add --yes",
            ));
        }
        let request = Request {
            action: action.name(),
            message: args.message.clone(),
            lock_wait: None,
        };
        let outcome = apply(&world, &plan, &inputs.spec, &request, global, env, terminal).await?;
        print_outcome(&outcome, terminal);
        Ok(())
    })
}

/// The named service, or the only one when the compose file has exactly one.
pub fn the_service(inputs: &Inputs, named: Option<&str>, command: &str) -> Result<String, Error> {
    let services = logical_services(&inputs.compose, &inputs.spec.zones)?;
    if let Some(name) = named {
        if services.contains_key(name) {
            return Ok(name.to_string());
        }
        let known: Vec<&str> = services.keys().map(String::as_str).collect();
        return Err(Error::usage(
            format!("no service `{name}` in the compose file"),
            format!("services: {}", known.join(", ")),
        ));
    }
    match services.len() {
        1 => Ok(services.keys().next().cloned().unwrap_or_default()),
        _ => {
            let known: Vec<&str> = services.keys().map(String::as_str).collect();
            Err(Error::usage(
                format!("which service? the compose file has {}", known.join(", ")),
                format!("name it: `shipctl {command} SERVICE`"),
            ))
        }
    }
}

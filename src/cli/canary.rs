//! `shipctl promote` and `shipctl abort`: finish or undo a canary in progress.

use super::ServiceArgs;
use crate::error::Error;
use crate::plan::{self, ObservedState, PlanRequest, logical::logical_services};
use crate::ports::Action;
use crate::session::{self, Inputs, Job, RunRequest, Session, Settings};
use crate::spec::Overrides;
use crate::ui::Printer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryAction {
    Promote,
    Abort,
}

impl CanaryAction {
    fn action(self) -> Action {
        match self {
            CanaryAction::Promote => Action::Promote,
            CanaryAction::Abort => Action::Abort,
        }
    }
}

pub fn run(
    which: CanaryAction,
    settings: &Settings,
    args: &ServiceArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let action = which.action();
    let service = the_service(&inputs, args.service.as_deref(), action)?;
    let selected = vec![service];
    let overrides = Overrides::default();
    let make_plan = |observed: &ObservedState| {
        let request = PlanRequest {
            project: inputs.project.clone(),
            compose: &inputs.compose,
            spec: &inputs.spec,
            overrides: &overrides,
            observed,
            services: &selected,
            version: None,
        };
        match which {
            CanaryAction::Promote => plan::promote(&request),
            CanaryAction::Abort => plan::abort(&request),
        }
    };
    let job = Job {
        request: RunRequest {
            message: args.message.clone(),
            lock_wait: None,
            parallel: None,
        },
        dry_run: args.dry_run,
        ..Job::new(action, &inputs, selected.clone())
    };
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        session.carry_out(job, printer, make_plan).await?;
        Ok(())
    })
}

/// The named service, or the only one when the compose file has exactly one.
pub fn the_service(inputs: &Inputs, named: Option<&str>, command: Action) -> Result<String, Error> {
    let services = logical_services(&inputs.compose, &inputs.spec.zones)?;
    let known = || {
        services
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = named {
        if services.contains_key(name) {
            return Ok(name.to_string());
        }
        return Err(Error::usage(
            format!("no service `{name}` in the compose file"),
            format!("services: {}", known()),
        ));
    }
    match services.keys().next() {
        Some(only) if services.len() == 1 => Ok(only.clone()),
        _ => Err(Error::usage(
            format!("which service? the compose file has {}", known()),
            format!("name it: `shipctl {command} SERVICE`"),
        )),
    }
}

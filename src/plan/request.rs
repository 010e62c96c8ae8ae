//! What a plan is made from: everything passed in as values.

use crate::compose::ComposeProject;
use crate::spec::{Overrides, Spec};

use super::ObservedState;

/// The inputs of [`super::plan`], [`super::promote`] and [`super::abort`].
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// The stack name (`-p`, `COMPOSE_PROJECT_NAME`, spec `project:` or directory name).
    pub project: String,
    pub compose: &'a ComposeProject,
    pub spec: &'a Spec,
    pub overrides: &'a Overrides,
    pub observed: &'a ObservedState,
    /// Logical services to plan (`web`); empty = every deployable service.
    pub services: &'a [String],
    /// `--version`; `None` = the version in the compose image (its tag, else `latest`).
    pub version: Option<String>,
}

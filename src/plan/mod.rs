//! The planner: (compose model, spec, observed state) -> [`Plan`]. Pure: no I/O, no async.

pub mod assume;
mod builder;
pub mod east_west;
pub mod headroom;
pub mod image;
mod in_place;
pub mod logical;
mod observed;
#[allow(clippy::module_inception)]
mod plan;
mod planner;
pub mod redact;
mod request;
mod rollback;
mod shared;
mod step;

pub use in_place::reasons as in_place_reasons;
pub use observed::{ObservedState, RoutingKeys, ServiceState, StateSource};
pub use plan::{Plan, ServicePlan, ZoneVersion};
pub use planner::{abort, plan, promote};
pub use request::PlanRequest;
pub use rollback::{StackPart, StackRollback, rollback, rollback_stack, stack_rollback};
pub use step::{Action, Step};

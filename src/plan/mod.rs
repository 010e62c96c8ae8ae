//! The planner: (compose model, spec, observed state) -> [`Plan`]. Pure: no I/O, no async.

mod observed;
#[allow(clippy::module_inception)]
mod plan;
mod step;

pub use observed::{ObservedState, RoutingKeys, ServiceState, StateSource, ZoneState};
pub use plan::{Plan, ServicePlan, ZoneVersion};
pub use step::{Action, KeyWrite, Step};

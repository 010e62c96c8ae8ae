//! Runs a [`crate::plan::Plan`] step by step against the contracts of [`crate::ports`].
//!
//! Everything outside the process is behind a trait (`Cluster`, `Kv`, `Prober`, `Clock`,
//! `FailureDecider`, `EventSink`), gathered in one [`Ports`] value, so the same executor runs
//! against Swarm and against the in-memory fakes of the unit tests.
//!
//! How the session runs a plan:
//!
//! ```ignore
//! let (sink, decider) = ui::progress::sink_and_decider(&printer);
//! let ports = exec::Ports { cluster: &cluster, kv: &*kv, prober: &exec::HttpProber::new(),
//!     clock: &exec::TokioClock, sink: &*sink, decider: &*decider };
//! let outcome = exec::Executor::new(ports, cancel.clone())
//!     .with_lock("web", &*lock_guard)
//!     .run(&plan)
//!     .await?; // Err(Error) carries the exit code: 1 rolled back, 3 needs attention, 130 interrupted
//! ```
//!
//! Files, bottom up: `context` (the ports, options, sleeping), `step_error`, `health` (a pure
//! verdict on a zone's tasks), `gate` (the pure state machine and its polling loop),
//! `failure` (the `on_failure` policy), `rollback` (its three phases), `executor` (the steps).
//!
//! Steps run in order; waits poll every 100 ms and end early on a named cause; keys are
//! written in one atomic write after re-checking the zones they point at; cancellation stops
//! at the next safe point; failures follow the service's `on_failure` policy.

mod analysis;
mod cause;
mod clock;
mod context;
mod decide;
mod event;
mod executor;
mod failure;
mod gate;
pub mod health;
mod on_switch;
mod outcome;
mod probe;
mod record;
mod release;
mod rollback;
mod router_wait;
pub mod status;
mod step_error;
mod summary;
mod track;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

pub use cause::FailureCause;
pub use clock::{Clock, TokioClock};
pub use decide::{Decision, FailureDecider, FailureReport, NonInteractive};
pub use event::{Event, EventSink};
pub use executor::{Executor, Ports};
pub use health::HealthStatus;
pub use on_switch::OnSwitch;
pub use outcome::{Outcome, ServiceOutcome, ServiceResult, run_result};
pub use probe::{HttpProber, Prober};
pub use record::{ProgressRecord, RunState};

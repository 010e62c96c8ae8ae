//! What a successful (or deliberately paused) run achieved.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::ZoneVersion;
use crate::ports::RunResult;

/// The result of [`super::Executor::run`] when no error stopped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub services: Vec<ServiceOutcome>,
    #[serde(with = "crate::spec::duration::serde_duration")]
    pub duration: Duration,
}

impl Outcome {
    /// True when some service stopped at a pause and waits for `shipctl promote`.
    pub fn awaiting_promotion(&self) -> bool {
        self.services
            .iter()
            .any(|s| matches!(s.result, ServiceResult::AwaitingPromotion { .. }))
    }

    /// True when `service` reached its target in this run.
    pub fn is_live(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.service == service && matches!(s.result, ServiceResult::Done { .. }))
    }
}

/// How a run ended: the one mapping from what [`super::Executor::run`] returned to the result
/// of events, history and hooks. The exit code follows the error's kind
/// ([`Error::exit_code`]).
pub fn run_result(result: &Result<Outcome, Error>) -> RunResult {
    match result {
        Ok(o) if o.awaiting_promotion() => RunResult::AwaitingPromotion,
        Ok(_) => RunResult::Done,
        Err(Error::RolledBack { .. }) => RunResult::RolledBack,
        Err(Error::Interrupted { .. }) => RunResult::Interrupted,
        Err(Error::NeedsAttention { .. }) => RunResult::NeedsAttention,
        Err(_) => RunResult::NotStarted,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceOutcome {
    pub service: String,
    pub result: ServiceResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ServiceResult {
    /// The plan ran to its end: traffic is where the plan said.
    Done { to: ZoneVersion },
    /// Nothing to change.
    UpToDate,
    /// Stopped at `pause: {}`: the canary runs and waits for `shipctl promote` / `abort`.
    AwaitingPromotion {
        to: ZoneVersion,
        /// Steps done (the pause included).
        steps_done: usize,
        message: String,
    },
}

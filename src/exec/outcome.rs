//! What a successful (or deliberately paused) run achieved.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::ZoneVersion;

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

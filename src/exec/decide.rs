//! What to do when a gate fails and the policy says "ask".

use async_trait::async_trait;

use super::FailureCause;

/// The failure the user is asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureReport {
    pub service: String,
    /// The step that failed, in words.
    pub step: String,
    pub cause: FailureCause,
    pub task_errors: Vec<String>,
    /// Where things stand (zones and routing keys), in words.
    pub situation: String,
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Undo: new zone back, old zone and keys restored.
    Rollback,
    /// Retry the failed step with fresh deadlines.
    KeepWaiting,
    /// Stop and leave everything as it is (exit 3).
    Leave,
}

#[async_trait]
pub trait FailureDecider: Send + Sync {
    /// True when someone can answer (a terminal is attached).
    fn interactive(&self) -> bool;
    async fn decide(&self, failure: &FailureReport) -> Decision;
}

/// For runs without a terminal: never asks, always rolls back.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonInteractive;

#[async_trait]
impl FailureDecider for NonInteractive {
    fn interactive(&self) -> bool {
        false
    }

    async fn decide(&self, _failure: &FailureReport) -> Decision {
        Decision::Rollback
    }
}

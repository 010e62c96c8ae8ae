//! Why a step did not complete, as the executor's parts pass it around.

use super::FailureCause;
use crate::ports::{ClusterError, KvError};

/// Why a step did not complete.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    /// What was being done (`green did not become healthy`).
    pub context: String,
    pub cause: FailureCause,
    pub task_errors: Vec<String>,
}

impl StepFailure {
    pub fn cluster(context: String, e: ClusterError) -> StepFailure {
        StepFailure {
            context,
            cause: FailureCause::Cluster {
                detail: e.to_string(),
            },
            task_errors: Vec::new(),
        }
    }

    pub fn kv(e: &KvError) -> StepFailure {
        StepFailure {
            context: "writing the routing keys".into(),
            cause: FailureCause::Kv {
                detail: e.to_string(),
            },
            task_errors: Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}: {}", self.context, self.cause)
    }
}

pub enum StepError {
    /// The cancellation token fired; the step stopped at a safe point.
    Interrupted,
    Failed(StepFailure),
    /// The store did not answer a key write and could not be read back: the keys may point
    /// at either zone, so nothing may be scaled down.
    OutcomeUnknown(String),
    /// A fenced write found the deploy lock held by someone else: nothing was written, and
    /// nothing may be changed or undone any more.
    LockLost(String),
}

impl From<StepFailure> for StepError {
    fn from(f: StepFailure) -> StepError {
        StepError::Failed(f)
    }
}

pub fn with_task_errors(mut message: String, errors: &[String]) -> String {
    for e in errors {
        message.push_str("\n  ");
        message.push_str(e);
    }
    message
}

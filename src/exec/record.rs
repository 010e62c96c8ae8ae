//! The record of an unfinished deploy, kept in the KV store under the service's `progress`
//! key: `shipctl status` shows it, and the planner reads it back (as
//! `ServiceState::progress`) to resume, promote or abort.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::plan::ZoneVersion;
use crate::spec::model::Strategy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// A deploy is running (or its process died: the lock tells which).
    Running,
    /// A canary waits for `shipctl promote` / `shipctl abort`.
    AwaitingPromotion,
    /// Stopped by Ctrl-C / SIGTERM at a safe point.
    Interrupted,
    /// Failed and left as it is (`on_failure: pause`, or chosen at the prompt), or the
    /// rollback did not complete.
    NeedsAttention,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecord {
    pub service: String,
    pub strategy: Strategy,
    pub from: Option<ZoneVersion>,
    pub to: ZoneVersion,
    pub state: RunState,
    /// Steps of the plan completed.
    pub steps_done: usize,
    pub total_steps: usize,
    /// The next step, in words, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Seconds since the Unix epoch.
    pub updated_at: u64,
}

pub(super) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

//! How a run ended and the history record kept for it under the `-history` key.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::Strategy;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Promote,
    Abort,
    Rollback,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Promote => "promote",
            Action::Abort => "abort",
            Action::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended. Events and summaries spell it as serde does (`done`, `not_started`); the
/// history, hooks (`SHIPCTL_RESULT`) and CI summaries use [`RunResult::word`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Every service reached its target.
    Done,
    /// Stopped at a pause until `shipctl promote` (canary).
    AwaitingPromotion,
    /// Failed, rolled back: the old version serves.
    RolledBack,
    /// Failed and left as is, or the rollback failed.
    NeedsAttention,
    Interrupted,
    /// Refused or failed before changing anything (stale plan, cluster unreachable, hook).
    NotStarted,
}

impl RunResult {
    pub const ALL: [RunResult; 6] = [
        RunResult::Done,
        RunResult::AwaitingPromotion,
        RunResult::RolledBack,
        RunResult::NeedsAttention,
        RunResult::Interrupted,
        RunResult::NotStarted,
    ];

    /// The word of the history and of `SHIPCTL_RESULT`.
    pub fn word(self) -> &'static str {
        match self {
            RunResult::Done => "success",
            RunResult::AwaitingPromotion => "awaiting_promotion",
            RunResult::RolledBack => "rolled_back",
            RunResult::NeedsAttention => "needs_attention",
            RunResult::Interrupted => "interrupted",
            RunResult::NotStarted => "failed",
        }
    }

    fn from_word(word: &str) -> Option<RunResult> {
        RunResult::ALL.into_iter().find(|r| r.word() == word)
    }
}

/// One deploy, promote, abort or rollback, as `shipctl history` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    pub host: String,
    /// The CI job that ran it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job: Option<String>,
    pub service: String,
    pub strategy: Strategy,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<String>,
    #[serde(with = "history_word")]
    pub result: RunResult,
    /// Seconds the action took.
    pub duration_secs: f64,
    /// When each step ran and how traffic moved (kept for the newest records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// What one service's run did when: the steps, and the traffic key's value over time.
/// Times are milliseconds from the start of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// How long the run took.
    pub ms: u64,
    /// In the order they started.
    pub steps: Vec<TimedStep>,
    /// The traffic split from the start on: the value read before the run, then each write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficMark>,
    /// Each measurement of the run's analyses and bakes, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis: Vec<AnalysisMark>,
}

/// One measurement of an analysis: `result` is `passed`, `failed`, `inconclusive` or
/// `waiting`; `value` the measured value in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisMark {
    pub at_ms: u64,
    pub zone: String,
    pub metric: String,
    pub result: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedStep {
    /// What it did, in words (`2/6 create green with 1.1.0 (2 replicas)`).
    pub text: String,
    pub start_ms: u64,
    pub ms: u64,
    pub outcome: StepOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Done,
    Failed,
    /// The rollback after a failure, and whether it restored everything.
    RolledBack,
    RollbackIncomplete,
    /// The run stopped here on purpose (a canary waiting for `shipctl promote`).
    Waiting,
}

/// The traffic key's value (`blue=75,green=25`) from `at_ms` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficMark {
    pub at_ms: u64,
    pub split: String,
}

/// One run that changed services of a project, as `shipctl history` (no service) lists it: the
/// services of one run switch together, so they are recorded, shown and rolled back together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Unique, sortable and readable: the UTC start time and a random suffix
    /// (`20261130-084512-3f2a`).
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job: Option<String>,
    pub action: Action,
    #[serde(with = "history_word")]
    pub result: RunResult,
    /// Seconds the run took.
    pub duration_secs: f64,
    /// Every service the run changed, in the plan's order.
    pub services: Vec<ReleaseChange>,
    /// Why a run that did not succeed stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ReleaseFailure>,
}

/// One service of a release: where it was and where the release took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseChange {
    pub service: String,
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    pub to_zone: String,
    pub to_version: String,
}

/// Which service a failed release failed on (when the error names one) and the error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub message: String,
}

impl ReleaseRecord {
    /// True when the run reached its target: the versions it deployed served afterwards.
    pub fn succeeded(&self) -> bool {
        self.result == RunResult::Done
    }

    /// `api 1.0.0 -> 1.1.0, web (new) -> 1.1.0`: what the release changed, in one line.
    pub fn changes_line(&self) -> String {
        self.services
            .iter()
            .map(|c| {
                let from = c.from_version.as_deref().unwrap_or("(new)");
                format!("{} {from} -> {}", c.service, c.to_version)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The history stores [`RunResult::word`].
mod history_word {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::RunResult;

    pub fn serialize<S: Serializer>(result: &RunResult, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(result.word())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RunResult, D::Error> {
        let word = String::deserialize(d)?;
        RunResult::from_word(&word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown result `{word}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_history_words() {
        for result in RunResult::ALL {
            assert_eq!(RunResult::from_word(result.word()), Some(result));
        }
        assert_eq!(RunResult::Done.word(), "success");
        assert_eq!(RunResult::NotStarted.word(), "failed");
    }
}

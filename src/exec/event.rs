//! What the executor reports while it runs. The UI renders these; core code never prints.

use serde::{Deserialize, Serialize};

use super::FailureCause;
use crate::plan::ZoneVersion;
use crate::ports::RunResult;
use crate::spec::model::Strategy;

/// One thing that happened during a run, serialised as one NDJSON object
/// (`{"event":"step_started",...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run that changes services begins: they form one release, recorded under `id`
    /// (emitted by the session, before the executor's first event).
    ReleaseStarted {
        id: String,
        services: Vec<String>,
    },
    /// The release ended and was recorded (emitted by the session after the run): its result,
    /// what it changed (`api 1.0.0 -> 1.1.0, web ...`) and the service it failed on, if any.
    ReleaseFinished {
        id: String,
        result: RunResult,
        changes: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_service: Option<String>,
    },
    /// A service's plan begins.
    PlanStarted {
        service: String,
        strategy: Strategy,
        from: Option<ZoneVersion>,
        to: ZoneVersion,
        steps: usize,
    },
    /// A step begins. `index` counts from 1.
    StepStarted {
        service: String,
        index: usize,
        total: usize,
        /// The step's kind (`update_zone`, `wait_healthy`, ...).
        action: String,
        /// What it does, in words (`update green to 1.4.2 (3 replicas)`).
        summary: String,
        reason: String,
    },
    /// A step completed.
    StepFinished {
        service: String,
        index: usize,
        total: usize,
        action: String,
        summary: String,
        elapsed_ms: u64,
    },
    /// The tasks of a zone being waited on changed.
    HealthProgress {
        service: String,
        zone: String,
        version: String,
        healthy: u64,
        desired: u64,
        running: u64,
        starting: u64,
        failing: u64,
        /// What currently holds the zone back, if known.
        cause: Option<String>,
    },
    /// A router (`shipctl route --id`) serves the keys this run wrote.
    RouterConfirmed {
        service: String,
        router: String,
        waited_ms: u64,
    },
    /// A registered router is not live (its registration `key` did not change for three of its
    /// heartbeats while this run waited) and does not serve the new keys: not waited for.
    RouterGone {
        service: String,
        router: String,
        key: String,
        silent_ms: u64,
        heartbeat_ms: u64,
    },
    /// One measurement of an analysis: `result` is `passed`, `failed`, `inconclusive` or
    /// `waiting`, `value` the measured value in words (`error_rate 5.1% is not < 1% (41 of
    /// 804 requests answered 5xx)`). `count` is what a canary step's run needs (none in a
    /// bake, which runs for its time).
    AnalysisMeasured {
        service: String,
        zone: String,
        metric: String,
        result: String,
        value: String,
        passed: u32,
        failed: u32,
        inconclusive: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// Something the user should know; the run goes on.
    Warning {
        service: Option<String>,
        message: String,
    },
    /// A gate or step failed.
    Failure {
        service: String,
        cause: FailureCause,
        message: String,
        /// Errors of the tasks involved (`task 1a2b3c: No such image: ...`).
        task_errors: Vec<String>,
    },
    RollbackStarted {
        service: String,
        reason: String,
    },
    RollbackFinished {
        service: String,
        ok: bool,
        message: String,
    },
    /// The run stopped on purpose and waits for the user (`promote`, `abort`, `resume`).
    Paused {
        service: String,
        message: String,
    },
    /// Ctrl-C / SIGTERM: stopped at a safe point.
    Interrupted {
        service: Option<String>,
        message: String,
    },
    /// The services of a release, in the order their gates may start, and how they will
    /// switch: `together` in one atomic key write once every gate passed, `in_place` updated
    /// in dependency order, `after` (canary, rolling) each on its own after the switch.
    ReleasePlanned {
        together: Vec<String>,
        in_place: Vec<String>,
        after: Vec<String>,
        /// At most this many services start and are gated at once.
        parallel: usize,
    },
    /// The keys of every service in `services` now point at their new zones, written in
    /// `writes` atomic writes (more than one only where the store limits a transaction's
    /// size) that took `window_ms` from the first to the last.
    ReleaseSwitched {
        services: Vec<String>,
        writes: usize,
        window_ms: u64,
    },
    /// The whole run ended.
    DeployFinished {
        result: RunResult,
        duration_ms: u64,
    },
}

/// Where events go. Implemented by the UI (progress bars, plain lines, NDJSON).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

//! The contracts between the engine and the world: the cluster, the KV store and the router's
//! report, with the plain data they exchange. `plan` and `exec` use them; `swarm`, `kv` and
//! `route` implement or feed them. This module imports nothing above it.

mod cluster;
mod history;
mod kv;
mod metrics;
mod router;
pub mod router_stats;
pub mod traffic;
pub mod values;

pub use cluster::{
    Cluster, ClusterError, EngineClock, NetworkUsage, NodeAddresses, TaskInfo, TaskState,
    TasksByService, ZoneState, ZoneTarget,
};
pub use history::{
    Action, AnalysisMark, HistoryRecord, ReleaseChange, ReleaseFailure, ReleaseRecord, RunResult,
    StepOutcome, TimedStep, Timeline, TrafficMark,
};
pub use kv::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockGuard, LockInfo, LockOutcome};
pub use metrics::{AnalysisTarget, MetricReader, Reading, ZoneCounters, zone_counters};
pub use router::{RouterReport, registration_key, registrations_prefix, valid_router_id};

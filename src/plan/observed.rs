//! What the planner knows about the world: passed in as values, never fetched.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The observed state of every service the plan may touch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// Where this came from: `cluster`, `assumed` (`--assume-state`) or `empty`.
    pub source: StateSource,
    /// By logical service name (`web`, not `demo_web-blue`).
    pub services: IndexMap<String, ServiceState>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateSource {
    /// Read from a live Swarm and KV store.
    Cluster,
    /// Given with `--assume-state`.
    Assumed,
    /// Nothing known: planned as if nothing were deployed.
    #[default]
    Empty,
}

/// One logical service: its zones and its routing keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// By zone name. A zone absent here has no Swarm service.
    pub zones: IndexMap<String, ZoneState>,
    pub keys: RoutingKeys,
    /// An unfinished deploy recorded in the KV store (for resume / canary in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<serde_json::Value>,
}

/// The routing keys as read from the KV store (`None` = key missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingKeys {
    pub active_zone: Option<String>,
    pub active_version: Option<String>,
    pub traffic: Option<String>,
}

/// One zone's Swarm service as observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneState {
    /// The Swarm service name (`demo_web-blue`).
    pub service_name: String,
    /// Desired replicas in the service spec.
    pub desired: u64,
    /// Tasks in state `running` on the current spec.
    pub running: u64,
    /// Running tasks that pass their healthcheck (equal to running without one).
    pub healthy: u64,
    /// From the `io.shipctl.version` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Swarm's version index of the service object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_index: Option<u64>,
    /// When the service object last changed (RFC 3339, as Swarm reports it); `status` shows
    /// the zone's age from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

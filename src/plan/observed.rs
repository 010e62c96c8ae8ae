//! What the planner knows about the world: passed in as values, never fetched.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::ports::{NetworkUsage, ZoneState};

/// The observed state of every service the plan may touch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// Where this came from: `cluster`, `assumed` (`--assume-state`) or `empty`.
    pub source: StateSource,
    /// By logical service name (`web`, not `demo_web-blue`).
    pub services: IndexMap<String, ServiceState>,
    /// Overlay networks the services use that exist, by their full name (`shop_front`): how
    /// much address space is left for the tasks a release adds.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, NetworkUsage>,
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

//! Which services a router follows: their routing keys and zone services.

use serde::{Deserialize, Serialize};

/// One service as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTarget {
    /// Logical service name (`web`).
    pub service: String,
    pub active_zone_key: String,
    pub active_version_key: String,
    pub traffic_key: String,
    /// Where this router reports what it serves.
    pub router_key: String,
    /// (zone, Swarm service name) in the spec's zone order.
    pub zones: Vec<(String, String)>,
    /// Port of the tasks that traffic goes to.
    pub port: u16,
}

impl RouteTarget {
    /// The three keys, in the order the report lists them.
    pub fn keys(&self) -> [&str; 3] {
        [
            &self.active_zone_key,
            &self.active_version_key,
            &self.traffic_key,
        ]
    }
}

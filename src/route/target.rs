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

/// A service `name` with one zone, whose router key is `{name}-router`.
#[cfg(test)]
pub(super) fn test_target(name: &str) -> RouteTarget {
    RouteTarget {
        service: name.to_string(),
        active_zone_key: format!("{name}-active-zone"),
        active_version_key: format!("{name}-active-version"),
        traffic_key: format!("{name}-traffic"),
        router_key: format!("{name}-router"),
        zones: vec![("blue".into(), format!("p_{name}-blue"))],
        port: 80,
    }
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

//! How `shipctl route` tells a deploy what it serves: KV keys the router writes after each
//! successful reload, read by the `WaitRouter` step.
//!
//! Each router registers under `{router key}/{id}` and rewrites that key every heartbeat, so a
//! deploy can wait for every live router; the single `{router key}` is what routers before
//! registrations wrote, still written for deploys that only read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value of a service's `router` key (spec `kv.keys.router`) and of each router's
/// registration under it: the routing keys and values the live configuration was rendered
/// from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterReport {
    pub keys: BTreeMap<String, String>,
    /// RFC 3339 time of the reload, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reloaded_at: Option<String>,
    /// The router's id (`shipctl route --id`), also the last part of its registration key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How often the router rewrites its registration, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// Counts the writes of the registration: every write changes the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat: Option<u64>,
    /// Where the router serves its per-zone traffic counters (`shipctl route --stats-listen`),
    /// `http://HOST:PORT/metrics`; read them with [`super::router_stats::parse_router_stats`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_url: Option<String>,
}

impl RouterReport {
    /// True when the router serves every one of `expected` (key, value).
    pub fn serves<'a>(&self, expected: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        expected
            .into_iter()
            .all(|(k, v)| self.keys.get(k).is_some_and(|served| served == v))
    }
}

/// The prefix under which routers register: `{router key}/`.
pub fn registrations_prefix(router_key: &str) -> String {
    format!("{router_key}/")
}

/// One router's registration key: `{router key}/{id}`.
pub fn registration_key(router_key: &str, id: &str) -> String {
    format!("{router_key}/{id}")
}

/// Whether `id` can name a router: it becomes the last part of a key, so it is kept to
/// letters, digits, `.`, `_` and `-` (no `/`, no spaces), at most 100 characters.
pub fn valid_router_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_url_is_left_out_when_none_and_older_values_still_parse() {
        let plain = RouterReport::default();
        let text = serde_json::to_string(&plain).expect("json");
        assert!(!text.contains("stats_url"), "{text}");
        let old: RouterReport =
            serde_json::from_str(r#"{"keys":{"a":"b"},"id":"lb1","beat":3}"#).expect("parse");
        assert_eq!(old.stats_url, None);
        let with = RouterReport {
            stats_url: Some("http://lb1:9180/metrics".into()),
            ..plain
        };
        let text = serde_json::to_string(&with).expect("json");
        let back: RouterReport = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.stats_url.as_deref(), Some("http://lb1:9180/metrics"));
    }
}

//! How `shipctl route` tells a deploy what it serves: a KV key the router writes after each
//! successful reload, read by the `WaitRouter` step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value of a service's `router` key (spec `kv.keys.router`): the routing keys and values the live configuration was
/// rendered from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterReport {
    pub keys: BTreeMap<String, String>,
    /// RFC 3339 time of the reload, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reloaded_at: Option<String>,
}

impl RouterReport {
    /// True when the router serves every one of `expected` (key, value).
    pub fn serves<'a>(&self, expected: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        expected
            .into_iter()
            .all(|(k, v)| self.keys.get(k).is_some_and(|served| served == v))
    }
}

//! The compose loader's reader: the shared [`Reader`] plus what only compose needs (the
//! variables for value-less `environment` entries, and Compose's rules for unknown fields).

use std::ops::{Deref, DerefMut};

use crate::error::InputError;
use crate::yaml::{Mapping, Node, Reader, Value, suggest};

/// What conversion collects along the way.
pub struct Ctx<'a> {
    pub read: Reader,
    /// Variables for `environment` entries written without a value. `Sync`: services are
    /// converted on several threads.
    pub lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

impl<'a> Ctx<'a> {
    pub fn new(lookup: &'a (dyn Fn(&str) -> Option<String> + Sync)) -> Ctx<'a> {
        Ctx {
            read: Reader::default(),
            lookup,
        }
    }

    /// Reports keys that are neither in `allowed` nor `x-*` extensions.
    pub fn check_keys(&mut self, map: &Mapping, allowed: &[&str], path: &str) {
        for (key, _) in map.iter() {
            let Some(name) = key.as_str() else {
                self.error(
                    InputError::new(
                        format!(
                            "`{path}` has a non-string key `{}`",
                            key.scalar_text().unwrap_or_default()
                        ),
                        key.span.clone(),
                    )
                    .with_label("not a field name")
                    .with_help("field names are strings; quote it if it is meant as one"),
                );
                continue;
            };
            if allowed.contains(&name) || name.starts_with("x-") {
                continue;
            }
            let in_deploy = path.starts_with("services.")
                && path.matches('.').count() == 1
                && DEPLOY_ONLY.contains(&name);
            let help = match suggest(name, allowed) {
                _ if in_deploy => format!("`{name}` belongs under `deploy:`"),
                Some(s) => format!("did you mean `{s}`? Custom fields must start with `x-`"),
                None => {
                    format!("remove it, or rename it `x-{name}` to keep it as an extension field")
                }
            };
            let message = if path.is_empty() {
                format!("unknown top-level field `{name}`")
            } else {
                format!("unknown field `{name}` in `{path}`")
            };
            self.error(
                InputError::new(message, key.span.clone())
                    .with_label("not a Compose field here")
                    .with_help(help),
            );
        }
    }
}

impl Deref for Ctx<'_> {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.read
    }
}

impl DerefMut for Ctx<'_> {
    fn deref_mut(&mut self) -> &mut Reader {
        &mut self.read
    }
}

/// Fields of `deploy:` that users sometimes write directly in the service.
const DEPLOY_ONLY: &[&str] = &[
    "replicas",
    "mode",
    "resources",
    "placement",
    "restart_policy",
    "update_config",
    "rollback_config",
    "endpoint_mode",
];

/// A YAML node as JSON (for `x-*` extension fields).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String { text, .. } => J::String(text.as_str().to_owned()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default(), to_json(v)))
                .collect(),
        ),
    }
}

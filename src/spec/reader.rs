//! The spec's typed reads, on top of the shared [`Reader`].
//!
//! The spec is not interpolated, so a value must have its own YAML type (`replicas: "3"` is an
//! error here, unlike in compose files), and messages show the key written correctly.

use std::time::Duration;

use crate::error::InputError;
use crate::yaml::{Mapping, Node, Reader, Value, duration, suggest};

pub(crate) trait SpecRead {
    /// A mapping; `key:` with nothing after it means "nothing set here".
    fn section<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a Mapping>;

    /// Reports keys this section does not know, suggesting the closest known one.
    fn known_keys(&mut self, map: &Mapping, allowed: &[&str], section: &str);

    fn exact_string(&mut self, node: &Node, path: &str, example: &str) -> Option<String>;

    fn exact_bool(&mut self, node: &Node, path: &str) -> Option<bool>;

    /// A whole number of at least `min`.
    fn exact_uint(&mut self, node: &Node, path: &str, min: u64, example: &str) -> Option<u64>;

    /// A Go-style duration (`30s`, `1m30s`); a bare `0` is accepted.
    fn exact_duration(&mut self, node: &Node, path: &str) -> Option<Duration>;

    /// A positive duration: zero would make the setting meaningless (a lock that never holds,
    /// a probe that never waits).
    fn positive_duration(&mut self, node: &Node, path: &str) -> Option<Duration>;

    /// A command or a list of commands.
    fn commands(&mut self, node: &Node, path: &str) -> Option<Vec<String>>;
}

impl SpecRead for Reader {
    fn section<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a Mapping> {
        match &node.value {
            Value::Map(m) => Some(m),
            Value::Null => None,
            _ => {
                wrong_type(
                    self,
                    node,
                    path,
                    "a mapping",
                    &format!("{}: {{ ... }}", last(path)),
                );
                None
            }
        }
    }

    fn known_keys(&mut self, map: &Mapping, allowed: &[&str], section: &str) {
        for (key, _) in map.iter() {
            let text = key.scalar_text().unwrap_or_default();
            if allowed.contains(&text.as_str()) {
                continue;
            }
            let place = if section.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{section}`")
            };
            let help = match suggest(&text, allowed) {
                Some(best) => format!("did you mean `{best}`? Known keys: {}", allowed.join(", ")),
                None => format!("known keys {place}: {}", allowed.join(", ")),
            };
            self.error(
                InputError::new(format!("unknown key `{text}` {place}"), key.span.clone())
                    .with_label("not a known key")
                    .with_help(help),
            );
        }
    }

    fn exact_string(&mut self, node: &Node, path: &str, example: &str) -> Option<String> {
        match &node.value {
            Value::String { text, .. } => Some(text.as_str().to_owned()),
            _ => {
                wrong_type(self, node, path, "a string", example);
                None
            }
        }
    }

    fn exact_bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                wrong_type(
                    self,
                    node,
                    path,
                    "true or false",
                    &format!("{}: true", last(path)),
                );
                None
            }
        }
    }

    fn exact_uint(&mut self, node: &Node, path: &str, min: u64, example: &str) -> Option<u64> {
        match &node.value {
            Value::Int(i) => match u64::try_from(*i) {
                Ok(v) if v >= min => Some(v),
                _ => {
                    let what = if min == 0 {
                        "zero or more".to_string()
                    } else {
                        format!("at least {min}")
                    };
                    self.error(
                        InputError::new(
                            format!("`{path}` must be {what}, found {i}"),
                            node.span.clone(),
                        )
                        .with_label(format!("must be {what}"))
                        .with_help(format!("write it like `{example}`")),
                    );
                    None
                }
            },
            _ => {
                wrong_type(self, node, path, "a whole number", example);
                None
            }
        }
    }

    fn exact_duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::String { text, .. } => text.as_str().to_owned(),
            Value::Int(i) => i.to_string(),
            _ => {
                wrong_type(
                    self,
                    node,
                    path,
                    "a duration",
                    &format!("{}: 30s", last(path)),
                );
                return None;
            }
        };
        match duration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    InputError::new(format!("invalid duration for `{path}`"), node.span.clone())
                        .with_label(e.to_string())
                        .with_help("durations look like `500ms`, `30s`, `1m30s` or `2h`"),
                );
                None
            }
        }
    }

    fn positive_duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let d = self.exact_duration(node, path)?;
        if d.is_zero() {
            self.error(
                InputError::new(format!("`{path}` must be longer than 0"), node.span.clone())
                    .with_label("zero here")
                    .with_help(format!(
                        "give a positive duration, e.g. `{}: 30s`",
                        last(path)
                    )),
            );
            return None;
        }
        Some(d)
    }

    fn commands(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Null => Some(Vec::new()),
            Value::String { text, .. } => Some(vec![text.as_str().to_owned()]),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.exact_string(
                        item,
                        &format!("{path}[]"),
                        "./scripts/notify.sh",
                    )?);
                }
                Some(out)
            }
            _ => {
                wrong_type(
                    self,
                    node,
                    path,
                    "a command or a list of commands",
                    "- ./notify.sh",
                );
                None
            }
        }
    }
}

/// Records "`path` must be X, found Y" with an example of the key written correctly.
fn wrong_type(r: &mut Reader, node: &Node, path: &str, expected: &str, example: &str) {
    r.error(
        InputError::new(
            format!("`{path}` must be {expected}, found {}", node.kind()),
            node.span.clone(),
        )
        .with_label(format!("expected {expected}"))
        .with_help(format!("write it like `{example}`")),
    );
}

/// The last key of a dotted path (`defaults.drain.time` -> `time`), for examples.
fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

//! Typed reads from the spanned YAML tree that collect every problem with its span.

use std::time::Duration;

use crate::error::InputError;
use crate::yaml::duration;
use crate::yaml::{Mapping, Node, Span, Value};

/// A value and where it was written, so that checks made after merging can still point at it.
#[derive(Debug, Clone)]
pub(crate) struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: &Span) -> Sp<T> {
        Sp {
            value,
            span: span.clone(),
        }
    }
}

/// Reads values and records problems instead of stopping at the first one.
#[derive(Default)]
pub(crate) struct Reader {
    pub errors: Vec<InputError>,
}

impl Reader {
    pub fn push(&mut self, e: InputError) {
        self.errors.push(e);
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str, example: &str) {
        self.push(
            InputError::new(
                format!("`{path}` must be {expected}, found {}", node.kind()),
                node.span.clone(),
            )
            .with_label(format!("expected {expected}"))
            .with_help(format!("write it like `{example}`")),
        );
    }

    pub fn map<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a Mapping> {
        match &node.value {
            Value::Map(m) => Some(m),
            // `key:` with nothing after it means "nothing set here", as in compose files.
            Value::Null => None,
            _ => {
                self.wrong_type(
                    node,
                    path,
                    "a mapping",
                    &format!("{}: {{ ... }}", last(path)),
                );
                None
            }
        }
    }

    /// Reports keys this section does not know, suggesting the closest known one.
    pub fn known_keys(&mut self, map: &Mapping, allowed: &[&str], section: &str) {
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
            let help = match closest(&text, allowed) {
                Some(best) => format!("did you mean `{best}`? Known keys: {}", allowed.join(", ")),
                None => format!("known keys {place}: {}", allowed.join(", ")),
            };
            self.push(
                InputError::new(format!("unknown key `{text}` {place}"), key.span.clone())
                    .with_label("not a known key")
                    .with_help(help),
            );
        }
    }

    pub fn string(&mut self, node: &Node, path: &str, example: &str) -> Option<String> {
        match &node.value {
            Value::String { text, .. } => Some(text.clone()),
            _ => {
                self.wrong_type(node, path, "a string", example);
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(
                    node,
                    path,
                    "true or false",
                    &format!("{}: true", last(path)),
                );
                None
            }
        }
    }

    /// A whole number of at least `min`.
    pub fn uint(&mut self, node: &Node, path: &str, min: u64, example: &str) -> Option<u64> {
        match &node.value {
            Value::Int(i) => match u64::try_from(*i) {
                Ok(v) if v >= min => Some(v),
                _ => {
                    let what = if min == 0 {
                        "zero or more".to_string()
                    } else {
                        format!("at least {min}")
                    };
                    self.push(
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
                self.wrong_type(node, path, "a whole number", example);
                None
            }
        }
    }

    /// A Go-style duration (`30s`, `1m30s`); a bare `0` is accepted.
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::String { text, .. } => text.clone(),
            Value::Int(i) => i.to_string(),
            _ => {
                self.wrong_type(node, path, "a duration", &format!("{}: 30s", last(path)));
                return None;
            }
        };
        match duration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.push(
                    InputError::new(format!("invalid duration for `{path}`"), node.span.clone())
                        .with_label(e.to_string())
                        .with_help("durations look like `500ms`, `30s`, `1m30s` or `2h`"),
                );
                None
            }
        }
    }

    /// A positive duration: zero would make the setting meaningless (a lock that never holds,
    /// a probe that never waits).
    pub fn positive_duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let d = self.duration(node, path)?;
        if d.is_zero() {
            self.push(
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

    /// A string or a list of strings.
    pub fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Null => Some(Vec::new()),
            Value::String { text, .. } => Some(vec![text.clone()]),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.string(item, &format!("{path}[]"), "./scripts/notify.sh")?);
                }
                Some(out)
            }
            _ => {
                self.wrong_type(
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

/// The last key of a dotted path (`defaults.drain.time` -> `time`), for examples.
fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The allowed word nearest to `word`, if it is close enough to be a typo.
fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_keys_only() {
        assert_eq!(
            closest("stratgy", &["strategy", "replicas"]),
            Some("strategy")
        );
        assert_eq!(closest("colour", &["strategy", "replicas"]), None);
    }
}

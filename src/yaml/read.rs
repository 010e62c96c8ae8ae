//! Typed reads from the spanned YAML tree that collect every problem instead of stopping at
//! the first.
//!
//! Each getter checks the type, records an [`InputError`] naming the field path (as
//! `services.web.deploy.replicas`) with a help line, and returns `None` so that reading goes on
//! and reports every problem in one run.
//!
//! Values are taken as Compose takes them: interpolation turns numbers and booleans into
//! strings, so a string is accepted wherever it parses. Files that are not interpolated (the
//! spec) build stricter reads on top.

use std::time::Duration;

use indexmap::IndexMap;

use super::{Mapping, Node, Span, Value, duration};
use crate::error::InputError;

/// A value and where it was written, so that checks made after merging can still point at it.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: &Span) -> Spanned<T> {
        Spanned {
            value,
            span: span.clone(),
        }
    }
}

/// What reading collects along the way.
#[derive(Default)]
pub struct Reader {
    pub errors: Vec<InputError>,
    /// Things that work, though probably not as meant: `file:line: message`.
    pub warnings: Vec<String>,
}

impl Reader {
    pub fn error(&mut self, error: InputError) {
        self.errors.push(error);
    }

    pub fn warn(&mut self, span: &Span, message: impl std::fmt::Display) {
        self.warnings
            .push(format!("{}:{}: {message}", span.file.name, span.line));
    }

    /// Records "`path` must be X, found Y".
    pub fn type_error(&mut self, node: &Node, path: &str, expected: &str, help: &str) {
        let found = match node.scalar_text() {
            Some(text) if !node.is_null() => format!("{} (`{}`)", node.kind(), shorten(&text)),
            _ => node.kind().to_string(),
        };
        self.error(
            InputError::new(
                format!("`{path}` must be {expected}, found {found}"),
                node.span.clone(),
            )
            .with_label(format!("expected {expected}"))
            .with_help(help.to_string()),
        );
    }

    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n Mapping> {
        match &node.value {
            Value::Map(m) => Some(m),
            _ => {
                self.type_error(node, path, "a mapping", "write `key: value` lines under it");
                None
            }
        }
    }

    /// The items of a list; a null means none, anything else is reported with `help` (how to
    /// write the items) and gives none.
    pub fn list<'n>(&mut self, node: &'n Node, path: &str, help: &str) -> &'n [Node] {
        match node.as_seq() {
            Some(items) => items,
            None => {
                if !node.is_null() {
                    self.type_error(node, path, "a list", help);
                }
                &[]
            }
        }
    }

    /// A scalar as text. Numbers and booleans are accepted and written as text, as Compose
    /// does for string fields; `null` gives `None` without an error.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Null => None,
            Value::String { text, .. } => Some(text.as_str().to_owned()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => node.scalar_text(),
            Value::Seq(_) | Value::Map(_) => {
                self.type_error(
                    node,
                    path,
                    "a string",
                    "write a single value (quote it if needed)",
                );
                None
            }
        }
    }

    /// A non-empty string, required.
    pub fn required_string(&mut self, node: &Node, path: &str) -> Option<String> {
        if matches!(node.value, Value::Seq(_) | Value::Map(_)) {
            return self.string(node, path);
        }
        match self.string(node, path) {
            Some(s) if !s.is_empty() => Some(s),
            _ => {
                self.error(
                    InputError::new(format!("`{path}` must not be empty"), node.span.clone())
                        .with_label("empty")
                        .with_help("give it a value"),
                );
                None
            }
        }
    }

    /// A non-negative integer; strings holding one are accepted (they come from interpolation,
    /// e.g. `replicas: ${REPLICAS}`), as Compose casts them.
    pub fn uint(&mut self, node: &Node, path: &str) -> Option<u64> {
        let help = "write a whole number, like `3`";
        match &node.value {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            Value::Int(_) => {
                self.negative(node, path);
                None
            }
            Value::String { text, .. } => match text.trim().parse::<i64>() {
                Ok(i) if i >= 0 => Some(i as u64),
                Ok(_) => {
                    self.negative(node, path);
                    None
                }
                Err(_) => {
                    self.type_error(node, path, "a non-negative integer", help);
                    None
                }
            },
            _ => {
                self.type_error(node, path, "a non-negative integer", help);
                None
            }
        }
    }

    fn negative(&mut self, node: &Node, path: &str) {
        self.error(
            InputError::new(format!("`{path}` must not be negative"), node.span.clone())
                .with_label("negative")
                .with_help("write 0 or a positive whole number"),
        );
    }

    /// A number (integer, float, or a string holding one).
    pub fn float(&mut self, node: &Node, path: &str) -> Option<f64> {
        let parsed = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::String { text, .. } => text.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        if parsed.is_none() {
            self.type_error(node, path, "a number", "write a number, like `0.5`");
        }
        parsed
    }

    /// A boolean; the strings Compose accepts (`yes`, `no`, `on`, `off`, `true`, `false`) too.
    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        let parsed = match &node.value {
            Value::Bool(b) => Some(*b),
            Value::String { text, .. } => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" => Some(true),
                "false" | "no" | "n" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.type_error(node, path, "a boolean", "write `true` or `false`");
        }
        parsed
    }

    /// A Go-style duration (`30s`, `1m30s`); `0` is accepted without a unit, as in Go.
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::String { text, .. } => text.as_str().to_owned(),
            Value::Int(0) => return Some(Duration::ZERO),
            Value::Int(_) | Value::Float(_) => node.scalar_text().unwrap_or_default(),
            _ => {
                self.type_error(
                    node,
                    path,
                    "a duration",
                    "write a duration like `30s`, `1m30s` or `500ms`",
                );
                return None;
            }
        };
        match duration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    InputError::new(format!("invalid duration for `{path}`: {e}"), node.span.clone())
                        .with_label("not a duration")
                        .with_help("write a duration like `30s`, `1m30s` or `500ms` (units: ns, us, ms, s, m, h)"),
                );
                None
            }
        }
    }

    /// A list of scalars; with `single_ok`, a lone string counts as a one-item list (as for
    /// `dns: 8.8.8.8`).
    pub fn strings(&mut self, node: &Node, path: &str, single_ok: bool) -> Vec<String> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    if matches!(item.value, Value::Seq(_) | Value::Map(_) | Value::Null) {
                        self.type_error(
                            item,
                            &format!("{path}[{i}]"),
                            "a string",
                            "write one value per list item",
                        );
                        None
                    } else {
                        item.scalar_text()
                    }
                })
                .collect(),
            Value::String { text, .. } if single_ok => vec![text.as_str().to_owned()],
            _ => {
                let expected = if single_ok {
                    "a string or a list"
                } else {
                    "a list"
                };
                self.type_error(node, path, expected, "write a YAML list (`- item` lines)");
                Vec::new()
            }
        }
    }

    /// `KEY: value` mapping or `- KEY=value` list; a value-less entry gives `None`.
    pub fn key_values(&mut self, node: &Node, path: &str) -> IndexMap<String, Option<String>> {
        let mut out = IndexMap::new();
        match &node.value {
            Value::Null => {}
            Value::Map(map) => {
                for (k, v) in map.iter() {
                    let Some(key) = k.scalar_text() else { continue };
                    let value = match &v.value {
                        Value::Null => None,
                        Value::Seq(_) | Value::Map(_) => {
                            self.type_error(
                                v,
                                &format!("{path}.{key}"),
                                "a string, number or boolean",
                                "write a single value; quote it if needed",
                            );
                            continue;
                        }
                        _ => v.scalar_text(),
                    };
                    out.insert(key, value);
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(text) => match text.split_once('=') {
                            Some((k, v)) => {
                                out.insert(k.to_string(), Some(v.to_string()));
                            }
                            None => {
                                out.insert(text.to_string(), None);
                            }
                        },
                        None => self.type_error(
                            item,
                            &format!("{path}[{i}]"),
                            "a `KEY=value` string",
                            "write `- KEY=value`, or use a mapping `KEY: value`",
                        ),
                    }
                }
            }
            _ => self.type_error(
                node,
                path,
                "a mapping or a list",
                "write `KEY: value` lines, or `- KEY=value` items",
            ),
        }
        out
    }

    /// Like [`key_values`](Self::key_values), a missing value being an empty string (labels).
    pub fn labels(&mut self, node: &Node, path: &str) -> IndexMap<String, String> {
        self.key_values(node, path)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }
}

/// Sets `buf` to `path.field`, reusing its allocation (conversion builds one such path per
/// field it reads).
pub fn child_path(buf: &mut String, path: &str, field: &str) {
    buf.clear();
    buf.push_str(path);
    buf.push('.');
    buf.push_str(field);
}

/// Keeps messages readable when a long scalar is quoted back.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_string()
    } else {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    }
}

/// The closest allowed name, if it is close enough to be a typo.
pub fn suggest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let allowed = ["image", "command", "environment", "healthcheck"];
        assert_eq!(suggest("imgae", &allowed), Some("image"));
        assert_eq!(suggest("enviroment", &allowed), Some("environment"));
        assert_eq!(suggest("helthcheck", &allowed), Some("healthcheck"));
        assert_eq!(suggest("completely_else", &allowed), None);
        assert_eq!(
            suggest("stratgy", &["strategy", "replicas"]),
            Some("strategy")
        );
        assert_eq!(suggest("colour", &["strategy", "replicas"]), None);
    }
}

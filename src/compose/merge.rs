//! Merging compose trees as `docker compose -f a.yaml -f b.yaml` does (compose-go's
//! `override` package), also used for `extends`:
//!
//! - mappings merge recursively, the later file winning for scalars; a `null` keeps the earlier
//!   value; `x-*` fields are replaced as a whole;
//! - `command`, `entrypoint` and `healthcheck.test` are replaced;
//! - `environment`, `labels`, `deploy.labels` (normalised to mappings) merge by key, and
//!   `networks` by name;
//! - `ports` are appended without duplicates, `volumes` merge by target path, `secrets` and
//!   `configs` by target (which defaults to the source name);
//! - other lists are appended, an item already present not being repeated;
//! - a value tagged `!reset` removes the key, one tagged `!override` replaces the earlier value.

use std::collections::HashMap;

use super::{ports, volumes};
use crate::yaml::{Mapping, Node, Value};

/// Merges `over` onto `base`; `path` is the position in the tree, with `*` for names
/// (`services.*.deploy`), which selects the rules above.
pub fn merge(base: Node, over: Node, path: &str) -> Node {
    if over.is_null() {
        return base;
    }
    if replaced(path) {
        return over;
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            span: over.span,
        },
        (Value::Seq(b), Value::Seq(o)) => Node {
            value: Value::Seq(merge_seqs(b, o, path)),
            span: over.span,
        },
        (_, value) => Node {
            value,
            span: over.span,
        },
    }
}

fn replaced(path: &str) -> bool {
    matches!(
        path,
        "services.*.command" | "services.*.entrypoint" | "services.*.healthcheck.test"
    )
}

fn child(path: &str, key: &str) -> String {
    match path {
        "" => key.to_string(),
        "services" | "networks" | "volumes" | "secrets" | "configs" | "services.*.networks" => {
            format!("{path}.*")
        }
        _ => format!("{path}.{key}"),
    }
}

fn merge_maps(base: Mapping, over: Mapping, path: &str) -> Mapping {
    let mut entries = base.entries;
    // An index keeps merging linear for big `services:` mappings.
    let mut index: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, (k, _))| k.scalar_text().map(|t| (t, i)))
        .collect();
    let mut reset: Vec<usize> = Vec::new();
    for (key, value) in over.entries {
        let Some(name) = key.scalar_text() else {
            entries.push((key, value));
            continue;
        };
        match (index.get(&name), tag(&value)) {
            (Some(&i), Some(Tag::Reset)) => reset.push(i),
            (None, Some(Tag::Reset)) => {}
            (Some(&i), Some(Tag::Override)) => entries[i] = (key, value),
            (Some(&i), None) if !name.starts_with("x-") => {
                let (_, existing) = std::mem::replace(
                    &mut entries[i],
                    (key, Node::new(Value::Null, value.span.clone())),
                );
                entries[i].1 = merge(existing, value, &child(path, &name));
            }
            (Some(&i), None) => entries[i] = (key, value),
            (None, _) => {
                index.insert(name, entries.len());
                entries.push((key, value));
            }
        }
    }
    if !reset.is_empty() {
        entries = entries
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !reset.contains(i))
            .map(|(_, e)| e)
            .collect();
    }
    Mapping { entries }
}

/// Compose's merge tags: `!reset` removes what earlier files set, `!override` replaces it
/// instead of merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Reset,
    Override,
}

/// The YAML layer does not keep tags, but a tagged node's span starts at its tag.
fn tag(node: &Node) -> Option<Tag> {
    let rest = node.span.file.text.get(node.span.range().start..)?;
    [("!reset", Tag::Reset), ("!override", Tag::Override)]
        .into_iter()
        .find_map(|(text, tag)| {
            let after = rest.strip_prefix(text)?;
            after
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || matches!(c, '[' | '{'))
                .then_some(tag)
        })
}

fn merge_seqs(base: Vec<Node>, over: Vec<Node>, path: &str) -> Vec<Node> {
    let key_of: fn(&Node) -> Option<String> = match path {
        "services.*.ports" => port_key,
        "services.*.volumes" => volume_key,
        "services.*.secrets" => |n| file_ref_key(n, "/run/secrets/"),
        "services.*.configs" => |n| file_ref_key(n, "/"),
        "services.*.env_file" => env_file_key,
        _ => Node::scalar_text,
    };
    let mut out = base;
    let mut index: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .filter_map(|(i, n)| key_of(n).map(|k| (k, i)))
        .collect();
    for item in over {
        match key_of(&item) {
            Some(key) => match index.get(&key) {
                Some(&i) => out[i] = item,
                None => {
                    index.insert(key, out.len());
                    out.push(item);
                }
            },
            None => out.push(item),
        }
    }
    out
}

fn port_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(m) => {
            let field = |k: &str| m.get(k).and_then(Node::scalar_text).unwrap_or_default();
            let protocol = m
                .get("protocol")
                .and_then(Node::scalar_text)
                .unwrap_or_else(|| "tcp".to_string());
            Some(format!(
                "{}:{}:{}/{protocol}",
                field("host_ip"),
                field("published"),
                field("target")
            ))
        }
        _ => {
            let text = node.scalar_text()?;
            // `"8080:80"` and `"8080:80/tcp"` are the same port.
            match ports::parse_short(&text) {
                Ok(parsed) => Some(
                    parsed
                        .iter()
                        .map(ports::merge_key)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Err(_) => Some(text),
            }
        }
    }
}

fn volume_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_text),
        Value::String { text, .. } => volumes::split_short(text)
            .ok()
            .map(|v| v.target.to_string()),
        _ => None,
    }
}

fn file_ref_key(node: &Node, default_dir: &str) -> Option<String> {
    match &node.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_text).or_else(|| {
            m.get("source")
                .and_then(Node::scalar_text)
                .map(|s| format!("{default_dir}{s}"))
        }),
        Value::String { text, .. } => Some(format!("{default_dir}{text}")),
        _ => None,
    }
}

fn env_file_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(m) => m.get("path").and_then(Node::scalar_text),
        _ => node.scalar_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{SourceFile, parse};

    fn tree(text: &str) -> Node {
        let mut node = parse(&SourceFile::new("t.yaml", text)).unwrap();
        super::super::normalize::file(&mut node);
        node
    }

    fn merged(a: &str, b: &str) -> Node {
        merge(tree(a), tree(b), "")
    }

    fn service<'a>(root: &'a Node, name: &str) -> &'a Mapping {
        root.as_map()
            .and_then(|m| m.get("services"))
            .and_then(Node::as_map)
            .and_then(|m| m.get(name))
            .and_then(Node::as_map)
            .unwrap()
    }

    fn texts(node: &Node) -> Vec<String> {
        node.as_seq()
            .unwrap()
            .iter()
            .filter_map(Node::scalar_text)
            .collect()
    }

    #[test]
    fn scalars_are_replaced_and_maps_merged() {
        let root = merged(
            "services:\n  web:\n    image: a:1\n    user: app\n",
            "services:\n  web:\n    image: a:2\n  db:\n    image: pg\n",
        );
        let web = service(&root, "web");
        assert_eq!(web.get("image").and_then(Node::as_str), Some("a:2"));
        assert_eq!(web.get("user").and_then(Node::as_str), Some("app"));
        assert!(service(&root, "db").get("image").is_some());
    }

    #[test]
    fn command_and_healthcheck_test_are_replaced() {
        let root = merged(
            "services:\n  web:\n    command: [a, b]\n    healthcheck:\n      test: [CMD, x]\n      retries: 3\n",
            "services:\n  web:\n    command: [c]\n    healthcheck:\n      test: [CMD, y]\n",
        );
        let web = service(&root, "web");
        assert_eq!(texts(web.get("command").unwrap()), ["c"]);
        let hc = web.get("healthcheck").and_then(Node::as_map).unwrap();
        assert_eq!(texts(hc.get("test").unwrap()), ["CMD", "y"]);
        assert_eq!(
            hc.get("retries").map(|n| n.value.clone()),
            Some(Value::Int(3))
        );
    }

    #[test]
    fn environment_and_labels_merge_by_key_across_forms() {
        let root = merged(
            "services:\n  web:\n    environment: [A=1, B=2]\n    labels: {x: '1'}\n",
            "services:\n  web:\n    environment: {B: '3', C: '4'}\n    labels: [y=2]\n",
        );
        let web = service(&root, "web");
        let env = web.get("environment").and_then(Node::as_map).unwrap();
        let pairs: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.scalar_text().unwrap(), v.scalar_text().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [("A", "1"), ("B", "3"), ("C", "4")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(web.get("labels").and_then(Node::as_map).unwrap().len(), 2);
    }

    #[test]
    fn ports_dedup_volumes_by_target_lists_appended() {
        let root = merged(
            "services:\n  web:\n    ports: ['8080:80']\n    volumes: ['a:/data', '/logs']\n    dns: [1.1.1.1]\n",
            "services:\n  web:\n    ports: ['8080:80/tcp', '9090:90']\n    volumes: ['b:/data']\n    dns: [1.1.1.1, 8.8.8.8]\n",
        );
        let web = service(&root, "web");
        assert_eq!(texts(web.get("ports").unwrap()), ["8080:80/tcp", "9090:90"]);
        assert_eq!(texts(web.get("volumes").unwrap()), ["b:/data", "/logs"]);
        assert_eq!(texts(web.get("dns").unwrap()), ["1.1.1.1", "8.8.8.8"]);
    }

    #[test]
    fn networks_merge_by_name_and_null_keeps_earlier() {
        let root = merged(
            "services:\n  web:\n    networks:\n      front:\n        aliases: [w]\n",
            "services:\n  web:\n    networks: [front, back]\n",
        );
        let nets = service(&root, "web")
            .get("networks")
            .and_then(Node::as_map)
            .unwrap();
        assert_eq!(nets.len(), 2);
        assert!(nets.get("front").and_then(Node::as_map).is_some());
    }

    #[test]
    fn reset_and_override_tags() {
        let root = merged(
            "services:\n  web:\n    ports: ['80:80']\n    dns: [1.1.1.1]\n    environment: {A: '1', B: '2'}\n    labels: {x: '1'}\n",
            "services:\n  web:\n    ports: !reset []\n    dns: !override [8.8.8.8]\n    environment: !override {C: '3'}\n    labels: !reset\n    user: !reset null\n",
        );
        let web = service(&root, "web");
        assert!(web.get("ports").is_none());
        assert!(web.get("labels").is_none());
        assert!(web.get("user").is_none());
        assert_eq!(texts(web.get("dns").unwrap()), ["8.8.8.8"]);
        let env = web.get("environment").and_then(Node::as_map).unwrap();
        assert_eq!(env.len(), 1);
        assert!(env.get("C").is_some());
    }

    #[test]
    fn secrets_by_target() {
        let root = merged(
            "services:\n  web:\n    secrets: [a, {source: b, target: /x}]\n",
            "services:\n  web:\n    secrets: [{source: a, mode: 0400}, {source: c, target: /x}]\n",
        );
        let secrets = service(&root, "web")
            .get("secrets")
            .and_then(Node::as_seq)
            .unwrap();
        assert_eq!(secrets.len(), 2);
        assert!(secrets[0].as_map().unwrap().get("mode").is_some());
        assert_eq!(
            secrets[1]
                .as_map()
                .unwrap()
                .get("source")
                .and_then(Node::as_str),
            Some("c")
        );
    }
}

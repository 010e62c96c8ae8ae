//! Brings the alternative forms Compose allows to one form before files are merged, so that
//! `environment: [A=1]` in one file and `environment: {A: 2}` in the next merge by key.

use crate::yaml::{Mapping, Node, Value};

/// Normalises every service of a file's tree in place.
pub fn file(root: &mut Node) {
    let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    for (_, service) in services.entries.iter_mut() {
        if let Some(service) = service.as_map_mut() {
            self::service(service);
        }
    }
}

pub fn service(service: &mut Mapping) {
    for key in ["environment", "labels", "sysctls", "annotations"] {
        if let Some(node) = service.get_mut(key) {
            list_to_map(node);
        }
    }
    if let Some(labels) = service
        .get_mut("deploy")
        .and_then(Node::as_map_mut)
        .and_then(|d| d.get_mut("labels"))
    {
        list_to_map(labels);
    }
    if let Some(networks) = service.get_mut("networks") {
        names_to_map(networks);
    }
    for key in ["env_file", "dns", "dns_search", "tmpfs"] {
        if let Some(node) = service.get_mut(key) {
            string_to_list(node);
        }
    }
}

/// `[A=1, B]` -> `{A: "1", B: null}`; left alone when an item is not a string.
fn list_to_map(node: &mut Node) {
    let Value::Seq(items) = &node.value else {
        return;
    };
    if !items.iter().all(|i| i.as_str().is_some()) {
        return;
    }
    let mut map = Mapping::default();
    for item in items {
        let text = item.as_str().unwrap_or_default();
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k, Node::string(v, item.span.clone())),
            None => (text, Node::new(Value::Null, item.span.clone())),
        };
        // Later items win, as when Compose reads the list.
        map.insert(Node::string(key, item.span.clone()), value);
    }
    node.value = Value::Map(map);
}

/// `[front, back]` -> `{front: null, back: null}`.
fn names_to_map(node: &mut Node) {
    let Value::Seq(items) = &node.value else {
        return;
    };
    if !items.iter().all(|i| i.as_str().is_some()) {
        return;
    }
    let mut map = Mapping::default();
    for item in items {
        map.insert(item.clone(), Node::new(Value::Null, item.span.clone()));
    }
    node.value = Value::Map(map);
}

fn string_to_list(node: &mut Node) {
    if matches!(node.value, Value::String { .. }) {
        let item = node.clone();
        node.value = Value::Seq(vec![item]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{SourceFile, parse};

    fn service_of(text: &str) -> Mapping {
        let mut root = parse(&SourceFile::new("t.yaml", text)).unwrap();
        file(&mut root);
        root.as_map()
            .and_then(|m| m.get("services"))
            .and_then(Node::as_map)
            .and_then(|m| m.get("web"))
            .and_then(Node::as_map)
            .cloned()
            .unwrap()
    }

    #[test]
    fn lists_become_mappings_and_strings_lists() {
        let web = service_of(
            "services:\n  web:\n    environment: [A=1, B, C=x=y, A=2]\n    networks: [front]\n    dns: 1.1.1.1\n    deploy:\n      labels: [tier=web]\n",
        );
        let env = web.get("environment").and_then(Node::as_map).unwrap();
        assert_eq!(env.get("A").and_then(Node::as_str), Some("2"));
        assert!(env.get("B").unwrap().is_null());
        assert_eq!(env.get("C").and_then(Node::as_str), Some("x=y"));
        assert_eq!(env.len(), 3);
        assert!(web.get("networks").and_then(Node::as_map).is_some());
        assert_eq!(
            web.get("dns").and_then(Node::as_seq).map(<[Node]>::len),
            Some(1)
        );
        let deploy = web.get("deploy").and_then(Node::as_map).unwrap();
        assert!(deploy.get("labels").and_then(Node::as_map).is_some());
    }

    #[test]
    fn malformed_lists_are_left_for_validation() {
        let web = service_of("services:\n  web:\n    environment: [A=1, {b: 2}]\n");
        assert!(web.get("environment").and_then(Node::as_seq).is_some());
    }
}

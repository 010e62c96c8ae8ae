//! `extends:` — a service based on another one, in the same file or in `file:` (a path already
//! made absolute against the file that declares it). Resolved recursively, with the same merge
//! rules as `-f` files; a cycle is an error pointing at the `extends` that closes it.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::files::Files;
use super::merge;
use super::paths::display_path;
use crate::error::InputError;
use crate::yaml::{Node, Value};

/// Returns `doc` (a prepared file tree at `path`) with every `extends` resolved.
pub fn resolve(files: &mut Files<'_>, doc: Rc<Node>, path: &Path) -> Result<Node, Vec<InputError>> {
    let mut resolved: Vec<(usize, Node)> = Vec::new();
    let mut errors = Vec::new();
    // Services of a cycle already reported, so that each cycle is reported once.
    let mut in_cycles: Vec<(PathBuf, String)> = Vec::new();
    if let Some(services) = doc
        .as_map()
        .and_then(|m| m.get("services"))
        .and_then(Node::as_map)
    {
        for (i, (key, service)) in services.entries.iter().enumerate() {
            let has_extends = service.as_map().is_some_and(|m| m.get("extends").is_some());
            let Some(name) = key.as_str().filter(|_| has_extends) else {
                continue;
            };
            let me = (path.to_path_buf(), name.to_string());
            if in_cycles.contains(&me) {
                continue;
            }
            let mut chain = vec![me];
            match resolve_service(files, &doc, path, service, &mut chain, &mut in_cycles) {
                Ok(node) => resolved.push((i, node)),
                Err(e) => errors.extend(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Without `extends` (the common case) the tree is returned as is, without a copy.
    let mut out = Rc::try_unwrap(doc).unwrap_or_else(|shared| (*shared).clone());
    if let Some(services) = out
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Node::as_map_mut)
    {
        for (i, node) in resolved {
            services.entries[i].1 = node;
        }
    }
    Ok(out)
}

fn resolve_service(
    files: &mut Files<'_>,
    doc: &Rc<Node>,
    path: &Path,
    service: &Node,
    chain: &mut Vec<(PathBuf, String)>,
    in_cycles: &mut Vec<(PathBuf, String)>,
) -> Result<Node, Vec<InputError>> {
    let Some(extends) = service.as_map().and_then(|m| m.get("extends")) else {
        return Ok(service.clone());
    };
    let one = |e: InputError| vec![e];
    let (base_name_node, file_node) = match &extends.value {
        Value::String { .. } => (extends, None),
        Value::Map(m) => {
            for (k, _) in m.iter() {
                if !matches!(k.as_str(), Some("service" | "file")) {
                    return Err(one(InputError::new(
                        format!(
                            "unknown field `{}` in `extends`",
                            k.scalar_text().unwrap_or_default()
                        ),
                        k.span.clone(),
                    )
                    .with_label("not an extends field")
                    .with_help("`extends` takes `service:` and optionally `file:`")));
                }
            }
            let Some(s) = m.get("service") else {
                return Err(one(InputError::new(
                    "`extends` has no `service`",
                    extends.span.clone(),
                )
                .with_label("service missing")
                .with_help("name the service to extend: `extends: {service: base}`")));
            };
            (s, m.get("file"))
        }
        _ => {
            return Err(one(InputError::new(
                format!(
                    "`extends` must be a service name or a mapping, found {}",
                    extends.kind()
                ),
                extends.span.clone(),
            )
            .with_label("expected a name or a mapping")
            .with_help(
                "write `extends: base` or `extends: {service: base, file: common.yaml}`",
            )));
        }
    };
    let Some(base_name) = base_name_node.as_str().map(str::to_string) else {
        return Err(one(InputError::new(
            "`extends.service` must be a string",
            base_name_node.span.clone(),
        )
        .with_help("write the name of the service to extend")));
    };
    let (base_doc, base_path) = match file_node {
        None => (Rc::clone(doc), path.to_path_buf()),
        Some(f) => {
            let Some(file) = f.as_str() else {
                return Err(one(InputError::new(
                    "`extends.file` must be a path",
                    f.span.clone(),
                )
                .with_help("write the path of the compose file, relative to this one")));
            };
            let file = PathBuf::from(file);
            let loaded = files.load(&file, Some(&f.span))?;
            (loaded, file)
        }
    };
    if let Some(start) = chain
        .iter()
        .position(|(p, n)| *p == base_path && *n == base_name)
    {
        in_cycles.extend(chain[start..].iter().cloned());
        let names: Vec<&str> = chain[start..].iter().map(|(_, n)| n.as_str()).collect();
        return Err(one(InputError::new(
            format!("`extends` cycle: {} -> {base_name}", names.join(" -> ")),
            extends.span.clone(),
        )
        .with_label("closes the cycle")
        .with_help(
            "a service cannot extend itself, directly or through others; break the chain",
        )));
    }
    let base_services = base_doc
        .as_map()
        .and_then(|m| m.get("services"))
        .and_then(Node::as_map);
    let Some(base) = base_services.and_then(|s| s.get(&base_name)) else {
        let known: Vec<String> = base_services
            .map(|s| s.iter().filter_map(|(k, _)| k.scalar_text()).collect())
            .unwrap_or_default();
        let place = match file_node {
            Some(_) => format!(" in `{}`", display_path(&base_path)),
            None => String::new(),
        };
        let help = if known.is_empty() {
            "define the service to extend, or fix the name".to_string()
        } else {
            format!("services there: {}", known.join(", "))
        };
        return Err(one(InputError::new(
            format!("`extends` refers to an unknown service `{base_name}`{place}"),
            base_name_node.span.clone(),
        )
        .with_label("no such service")
        .with_help(help)));
    };
    chain.push((base_path.clone(), base_name));
    let base = resolve_service(files, &base_doc, &base_path, base, chain, in_cycles)?;
    chain.pop();
    let mut own = service.clone();
    if let Some(m) = own.as_map_mut() {
        m.remove("extends");
    }
    Ok(merge::merge(base, own, "services.*"))
}

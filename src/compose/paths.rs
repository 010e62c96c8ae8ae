//! Relative paths are resolved against the directory of the file that wrote them, before
//! files are merged or services extended, so that every path keeps its meaning.

use std::path::{Component, Path, PathBuf};

use super::volumes;
use crate::yaml::{Node, Value};

/// Where relative paths of one file point to.
pub struct Base<'a> {
    pub dir: &'a Path,
    /// `HOME`, for `~/...`.
    pub home: Option<&'a str>,
}

impl Base<'_> {
    /// `path` made absolute (and `~` expanded), lexically normalised.
    pub fn resolve(&self, path: &str) -> String {
        let expanded: PathBuf = match (path.strip_prefix('~'), self.home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                PathBuf::from(format!("{home}{rest}"))
            }
            _ => PathBuf::from(path),
        };
        let joined = if expanded.is_absolute() {
            expanded
        } else {
            self.dir.join(expanded)
        };
        normalize(&joined).to_string_lossy().into_owned()
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Resolves the relative paths of one file's tree: `env_file`, bind mount sources,
/// `extends.file`, and top-level `secrets`/`configs` `file:`.
pub fn resolve(root: &mut Node, base: &Base<'_>) {
    let Some(root) = root.as_map_mut() else {
        return;
    };
    if let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) {
        for (_, service) in services.entries.iter_mut() {
            if let Some(service) = service.as_map_mut() {
                if let Some(env_file) = service.get_mut("env_file") {
                    resolve_env_file(env_file, base);
                }
                if let Some(vols) = service.get_mut("volumes") {
                    resolve_volumes(vols, base);
                }
                if let Some(file) = service
                    .get_mut("extends")
                    .and_then(Node::as_map_mut)
                    .and_then(|m| m.get_mut("file"))
                {
                    set_path(file, base);
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(items) = root.get_mut(section).and_then(Node::as_map_mut) {
            for (_, item) in items.entries.iter_mut() {
                if let Some(file) = item.as_map_mut().and_then(|m| m.get_mut("file")) {
                    set_path(file, base);
                }
            }
        }
    }
}

fn set_path(node: &mut Node, base: &Base<'_>) {
    if let Value::String { text, .. } = &mut node.value
        && !text.is_empty()
    {
        *text = base.resolve(text).into();
    }
}

fn resolve_env_file(node: &mut Node, base: &Base<'_>) {
    match &mut node.value {
        Value::String { .. } => set_path(node, base),
        Value::Seq(items) => {
            for item in items {
                match item.as_map_mut() {
                    Some(m) => {
                        if let Some(p) = m.get_mut("path") {
                            set_path(p, base);
                        }
                    }
                    None => set_path(item, base),
                }
            }
        }
        _ => {}
    }
}

fn resolve_volumes(node: &mut Node, base: &Base<'_>) {
    let Value::Seq(items) = &mut node.value else {
        return;
    };
    for item in items {
        match &mut item.value {
            Value::String { text, .. } => {
                let Ok(v) = volumes::split_short(text) else {
                    continue;
                };
                let Some(source) = v.source.filter(|s| volumes::is_path(s)) else {
                    continue;
                };
                let mut rewritten = format!("{}:{}", base.resolve(source), v.target);
                if let Some(options) = v.options {
                    rewritten.push(':');
                    rewritten.push_str(options);
                }
                *text = rewritten.into();
            }
            Value::Map(m) => {
                let is_bind = m.get("type").and_then(Node::as_str) == Some("bind");
                if is_bind && let Some(source) = m.get_mut("source") {
                    set_path(source, base);
                }
            }
            _ => {}
        }
    }
}

/// `path` made absolute against the current directory, lexically normalised.
pub fn absolute(path: &Path) -> PathBuf {
    normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// A path as the user would like to read it: relative to the current directory when inside it.
pub fn display_path(path: &Path) -> String {
    if path.is_absolute()
        && let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
    {
        return rel.to_string_lossy().into_owned();
    }
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_normalises() {
        let base = Base {
            dir: Path::new("/srv/app"),
            home: Some("/home/me"),
        };
        assert_eq!(base.resolve("./data"), "/srv/app/data");
        assert_eq!(base.resolve("../shared/x.env"), "/srv/shared/x.env");
        assert_eq!(base.resolve("/etc/hosts"), "/etc/hosts");
        assert_eq!(base.resolve("~/certs"), "/home/me/certs");
        assert_eq!(base.resolve("."), "/srv/app");
    }
}

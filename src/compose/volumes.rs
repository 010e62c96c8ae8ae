//! The short volume syntax: `[source:]target[:mode]`.

use super::convert::Ctx;
use super::model::{Mount, MountKind};
use crate::error::InputError;
use crate::yaml::{Node, Value};

const MOUNT_KEYS: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];

/// `volumes:` of a service (short and long syntax) -> mounts. Relative bind sources were made
/// absolute earlier, against the directory of the file that wrote them.
pub fn convert(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Vec<Mount> {
    let items = ctx.list(
        node,
        path,
        "write `- name:/path` or `- ./dir:/path:ro` items",
    );
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &item.value {
            Value::String { text, .. } => match split_short(text) {
                Ok(v) => out.push(Mount {
                    kind: match v.source {
                        Some(s) if is_path(s) => MountKind::Bind,
                        _ => MountKind::Volume,
                    },
                    read_only: v.read_only(),
                    source: v.source.map(str::to_string),
                    target: v.target.to_string(),
                }),
                Err(e) => ctx.error(
                    InputError::new(format!("`{p}`: {e}"), item.span.clone())
                        .with_label("not a volume")
                        .with_help(
                            "write `volume:/path`, `./dir:/path` or `/path`, optionally `:ro`",
                        ),
                ),
            },
            Value::Map(map) => {
                ctx.check_keys(map, MOUNT_KEYS, &p);
                let kind = match map.get("type") {
                    None => Some(MountKind::Volume),
                    Some(t) => match ctx.string(t, &format!("{p}.type")).as_deref() {
                        Some("volume") => Some(MountKind::Volume),
                        Some("bind") => Some(MountKind::Bind),
                        Some("tmpfs") => Some(MountKind::Tmpfs),
                        Some(other) => {
                            ctx.error(
                                InputError::new(format!("mount type `{other}` in `{p}` is not supported by Swarm services"), t.span.clone())
                                    .with_label("unsupported type")
                                    .with_help("use `volume`, `bind` or `tmpfs`"),
                            );
                            None
                        }
                        None => None,
                    },
                };
                let target = match map.get("target") {
                    Some(t) => ctx.required_string(t, &format!("{p}.target")),
                    None => {
                        ctx.error(
                            InputError::new(format!("`{p}` has no `target`"), item.span.clone())
                                .with_label("target missing")
                                .with_help("add the path inside the container: `target: /data`"),
                        );
                        None
                    }
                };
                let source = map
                    .get("source")
                    .and_then(|s| ctx.string(s, &format!("{p}.source")))
                    .filter(|s| !s.is_empty());
                let read_only = map
                    .get("read_only")
                    .and_then(|r| ctx.bool(r, &format!("{p}.read_only")))
                    .unwrap_or(false);
                if kind == Some(MountKind::Bind) && source.is_none() {
                    ctx.error(
                        InputError::new(
                            format!("bind mount `{p}` has no `source`"),
                            item.span.clone(),
                        )
                        .with_label("source missing")
                        .with_help("add the host path: `source: ./data`"),
                    );
                    continue;
                }
                if let (Some(kind), Some(target)) = (kind, target) {
                    out.push(Mount {
                        kind,
                        source: if kind == MountKind::Tmpfs {
                            None
                        } else {
                            source
                        },
                        target,
                        read_only,
                    });
                }
            }
            _ => ctx.type_error(
                item,
                &p,
                "a string or a mapping",
                "write `- name:/path` or `- type: volume` mappings",
            ),
        }
    }
    out
}

/// The parts of a short-syntax volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortVolume<'a> {
    pub source: Option<&'a str>,
    pub target: &'a str,
    pub options: Option<&'a str>,
}

impl ShortVolume<'_> {
    /// `ro` among the comma-separated options.
    pub fn read_only(&self) -> bool {
        self.options
            .is_some_and(|o| o.split(',').any(|opt| opt == "ro" || opt == "readonly"))
    }
}

/// Splits a short-syntax volume; `Err` when it has more than three parts or an empty target.
pub fn split_short(text: &str) -> Result<ShortVolume<'_>, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => {
            return Err(format!(
                "invalid volume `{text}` (write `source:target` or `source:target:ro`)"
            ));
        }
    };
    if target.is_empty() {
        return Err(format!("volume `{text}` has no target path"));
    }
    Ok(ShortVolume {
        source: source.filter(|s| !s.is_empty()),
        target,
        options,
    })
}

/// Whether a short-syntax source is a host path (bind mount) rather than a volume name, by the
/// same rule as Compose: it starts with `.`, `/` or `~`.
pub fn is_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let v = split_short("/data").unwrap();
        assert_eq!((v.source, v.target, v.read_only()), (None, "/data", false));
        let v = split_short("db:/var/lib/postgresql/data").unwrap();
        assert_eq!(
            (v.source, v.target),
            (Some("db"), "/var/lib/postgresql/data")
        );
        let v = split_short("./conf:/etc/nginx/conf.d:ro,z").unwrap();
        assert_eq!((v.source, v.read_only()), (Some("./conf"), true));
        assert!(split_short("a:b:c:d").is_err());
        assert!(split_short("a:").is_err());
    }

    #[test]
    fn paths_versus_names() {
        assert!(is_path("./x") && is_path("/x") && is_path("~/x") && is_path(".."));
        assert!(!is_path("data") && !is_path("my_volume"));
    }
}

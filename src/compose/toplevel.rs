//! Top-level `networks`, `volumes`, `secrets` and `configs`.

use indexmap::IndexMap;

use super::convert::Ctx;
use super::model::{Ipam, IpamPool, Network, SecretOrConfig, Volume};
use crate::error::InputError;
use crate::yaml::{Mapping, Node, Value, child_path};

const NETWORK_KEYS: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "attachable",
    "labels",
    "enable_ipv4",
    "enable_ipv6",
];
const VOLUME_KEYS: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const SECRET_KEYS: &[&str] = &[
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];

/// Entries of a top-level section, `name: null` counting as "all defaults".
fn entries<'n>(
    ctx: &mut Ctx<'_>,
    node: &'n Node,
    section: &str,
) -> Vec<(String, Option<&'n Mapping>, &'n Node)> {
    if node.is_null() {
        return Vec::new();
    }
    let Some(map) = ctx.map(node, section) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let Some(name) = k.scalar_text() else {
            continue;
        };
        let m = if v.is_null() {
            None
        } else {
            ctx.map(v, &format!("{section}.{name}"))
        };
        if m.is_some() || v.is_null() {
            out.push((name, m, k));
        }
    }
    out
}

/// `external: true`, or v3's `external: {name: real}` (which also sets the name).
fn external(ctx: &mut Ctx<'_>, map: &Mapping, path: &str, name: &mut Option<String>) -> bool {
    let Some(node) = map.get("external") else {
        return false;
    };
    let p = format!("{path}.external");
    match &node.value {
        Value::Map(m) => {
            ctx.check_keys(m, &["name"], &p);
            if let Some(n) = m.get("name") {
                let real = ctx.string(n, &format!("{p}.name"));
                if name.is_some() && real.is_some() && *name != real {
                    ctx.error(
                        InputError::new(
                            format!("`{path}` sets two different names"),
                            n.span.clone(),
                        )
                        .with_label("conflicts with `name:`")
                        .with_help("keep only `name:` (the `external.name` form is deprecated)"),
                    );
                }
                if real.is_some() {
                    *name = real;
                }
            }
            true
        }
        _ => ctx.bool(node, &p).unwrap_or(false),
    }
}

pub fn networks(ctx: &mut Ctx<'_>, node: &Node) -> IndexMap<String, Network> {
    let mut out = IndexMap::new();
    for (name, map, _) in entries(ctx, node, "networks") {
        let path = format!("networks.{name}");
        let mut net = Network::default();
        if let Some(map) = map {
            ctx.check_keys(map, NETWORK_KEYS, &path);
            let mut p = String::with_capacity(path.len() + 32);
            for (k, v) in map.iter() {
                child_path(&mut p, &path, k.as_str().unwrap_or_default());
                match k.as_str() {
                    Some("name") => net.name = ctx.string(v, &p),
                    Some("driver") => net.driver = ctx.string(v, &p),
                    Some("driver_opts") => net.driver_opts = ctx.labels(v, &p),
                    Some("labels") => net.labels = ctx.labels(v, &p),
                    Some("attachable") => net.attachable = ctx.bool(v, &p).unwrap_or(false),
                    Some("internal") => net.internal = ctx.bool(v, &p).unwrap_or(false),
                    Some("ipam") => net.ipam = ipam(ctx, v, &p),
                    _ => {}
                }
            }
            net.external = external(ctx, map, &path, &mut net.name);
        }
        out.insert(name, net);
    }
    out
}

/// `ipam: {driver, config: [{subnet, ip_range, gateway}]}`; `aux_addresses` and `options`
/// are accepted and not used.
fn ipam(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Ipam> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, &["driver", "config", "options"], path);
    let mut out = Ipam::default();
    if let Some(driver) = map.get("driver") {
        out.driver = ctx.string(driver, &format!("{path}.driver"));
    }
    if let Some(config) = map.get("config") {
        let list_path = format!("{path}.config");
        let help = "write a list of pools: `config: [{subnet: 10.0.9.0/24}]`";
        for (i, item) in ctx.list(config, &list_path, help).iter().enumerate() {
            let item_path = format!("{list_path}[{i}]");
            let Some(pool) = ctx.map(item, &item_path) else {
                continue;
            };
            ctx.check_keys(
                pool,
                &["subnet", "ip_range", "gateway", "aux_addresses"],
                &item_path,
            );
            let field = |ctx: &mut Ctx<'_>, key: &str| {
                pool.get(key)
                    .and_then(|v| ctx.string(v, &format!("{item_path}.{key}")))
            };
            out.config.push(IpamPool {
                subnet: field(ctx, "subnet"),
                ip_range: field(ctx, "ip_range"),
                gateway: field(ctx, "gateway"),
            });
        }
    }
    Some(out)
}

pub fn volumes(ctx: &mut Ctx<'_>, node: &Node) -> IndexMap<String, Volume> {
    let mut out = IndexMap::new();
    for (name, map, _) in entries(ctx, node, "volumes") {
        let path = format!("volumes.{name}");
        let mut vol = Volume::default();
        if let Some(map) = map {
            ctx.check_keys(map, VOLUME_KEYS, &path);
            let mut p = String::with_capacity(path.len() + 32);
            for (k, v) in map.iter() {
                child_path(&mut p, &path, k.as_str().unwrap_or_default());
                match k.as_str() {
                    Some("name") => vol.name = ctx.string(v, &p),
                    Some("driver") => vol.driver = ctx.string(v, &p),
                    Some("driver_opts") => vol.driver_opts = ctx.labels(v, &p),
                    Some("labels") => vol.labels = ctx.labels(v, &p),
                    _ => {}
                }
            }
            vol.external = external(ctx, map, &path, &mut vol.name);
        }
        out.insert(name, vol);
    }
    out
}

/// `secrets:` or `configs:` (`section` names which, for messages).
pub fn secrets(ctx: &mut Ctx<'_>, node: &Node, section: &str) -> IndexMap<String, SecretOrConfig> {
    let mut out = IndexMap::new();
    let kind = section.trim_end_matches('s');
    for (name, map, key) in entries(ctx, node, section) {
        let path = format!("{section}.{name}");
        let mut item = SecretOrConfig::default();
        let Some(map) = map else {
            ctx.error(
                InputError::new(
                    format!("{kind} `{name}` has no definition"),
                    key.span.clone(),
                )
                .with_label("no source")
                .with_help(format!(
                    "give it `file: ./{name}.txt`, or `external: true` if it exists in the Swarm"
                )),
            );
            continue;
        };
        ctx.check_keys(map, SECRET_KEYS, &path);
        let mut p = String::with_capacity(path.len() + 32);
        for (k, v) in map.iter() {
            child_path(&mut p, &path, k.as_str().unwrap_or_default());
            match k.as_str() {
                Some("name") => item.name = ctx.string(v, &p),
                Some("file") => item.file = ctx.required_string(v, &p),
                Some(field @ ("environment" | "content")) => ctx.error(
                    InputError::new(
                        format!("`{field}` {kind}s are not supported by Swarm"),
                        k.span.clone(),
                    )
                    .with_label("not for Swarm")
                    .with_help(format!("write the value to a file and use `file:`, or create the {kind} with `docker {kind} create` and use `external: true`")),
                ),
                _ => {}
            }
        }
        item.external = external(ctx, map, &path, &mut item.name);
        if !item.external
            && item.file.is_none()
            && map.get("environment").is_none()
            && map.get("content").is_none()
        {
            ctx.error(
                InputError::new(
                    format!("{kind} `{name}` has neither `file` nor `external`"),
                    key.span.clone(),
                )
                .with_label("no source")
                .with_help(format!(
                    "give it `file: ./{name}.txt`, or `external: true` if it exists in the Swarm"
                )),
            );
        }
        if item.external && item.file.is_some() {
            ctx.error(
                InputError::new(format!("{kind} `{name}` is external and has a `file`"), key.span.clone())
                    .with_label("external and file")
                    .with_help("an external one already exists in the Swarm: remove `file`, or remove `external`"),
            );
        }
        out.insert(name, item);
    }
    out
}

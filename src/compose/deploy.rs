//! `deploy:` -> [`Deploy`].

use super::convert::Ctx;
use super::model::{
    Deploy, EndpointMode, Placement, ResourceAmounts, Resources, RestartPolicy, UpdateConfig,
};
use crate::error::InputError;
use crate::yaml::{Node, Value, child_path};

const DEPLOY_KEYS: &[&str] = &[
    "mode",
    "replicas",
    "labels",
    "endpoint_mode",
    "resources",
    "placement",
    "restart_policy",
    "update_config",
    "rollback_config",
];
const RESOURCES_KEYS: &[&str] = &["limits", "reservations"];
const LIMITS_KEYS: &[&str] = &["cpus", "memory", "pids"];
const RESERVATIONS_KEYS: &[&str] = &["cpus", "memory", "generic_resources", "devices"];
const PLACEMENT_KEYS: &[&str] = &["constraints", "preferences", "max_replicas_per_node"];
const RESTART_KEYS: &[&str] = &["condition", "delay", "max_attempts", "window"];
const UPDATE_KEYS: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
];

pub fn convert(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Deploy {
    let mut deploy = Deploy::default();
    if node.is_null() {
        return deploy;
    }
    let Some(map) = ctx.map(node, path) else {
        return deploy;
    };
    ctx.check_keys(map, DEPLOY_KEYS, path);
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        let Some(field) = k.as_str() else { continue };
        child_path(&mut p, path, field);
        match field {
            "mode" => {
                deploy.mode = one_of(
                    ctx,
                    v,
                    &p,
                    &["replicated", "global", "replicated-job", "global-job"],
                );
            }
            "replicas" => deploy.replicas = ctx.uint(v, &p),
            "labels" => deploy.labels = ctx.labels(v, &p),
            "endpoint_mode" => {
                deploy.endpoint_mode = match one_of(ctx, v, &p, &["vip", "dnsrr"]).as_deref() {
                    Some("vip") => Some(EndpointMode::Vip),
                    Some("dnsrr") => Some(EndpointMode::Dnsrr),
                    _ => None,
                };
            }
            "resources" => deploy.resources = resources(ctx, v, &p),
            "placement" => deploy.placement = placement(ctx, v, &p),
            "restart_policy" => deploy.restart_policy = restart_policy(ctx, v, &p),
            "update_config" => deploy.update_config = update_config(ctx, v, &p),
            "rollback_config" => deploy.rollback_config = update_config(ctx, v, &p),
            _ => {}
        }
    }
    if let (Some(mode), Some(replicas)) = (&deploy.mode, map.get("replicas"))
        && mode.starts_with("global")
    {
        ctx.error(
            InputError::new(
                format!("`{path}.replicas` cannot be used with `mode: {mode}`"),
                replicas.span.clone(),
            )
            .with_label("global services run one task per node")
            .with_help("remove `replicas`, or use `mode: replicated`"),
        );
    }
    deploy
}

/// A string that must be one of `allowed`.
fn one_of(ctx: &mut Ctx<'_>, node: &Node, path: &str, allowed: &[&str]) -> Option<String> {
    let text = ctx.string(node, path)?;
    if allowed.contains(&text.as_str()) {
        return Some(text);
    }
    let list = allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ctx.error(
        InputError::new(
            format!("invalid value `{text}` for `{path}`"),
            node.span.clone(),
        )
        .with_label("not allowed here")
        .with_help(format!("use one of {list}")),
    );
    None
}

/// CPUs as a number or a string (`0.5`, `"2"`), in nano-CPUs.
pub fn cpus(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<i64> {
    let value = ctx.float(node, path)?;
    match super::units::nano_cpus(value) {
        Ok(n) => Some(n),
        Err(e) => {
            ctx.error(
                InputError::new(format!("`{path}`: {e}"), node.span.clone())
                    .with_label("not a CPU count")
                    .with_help("write a positive number of CPUs, like `0.5` or `2`"),
            );
            None
        }
    }
}

fn resources(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Resources {
    if node.is_null() {
        return Default::default();
    }
    let mut out = Resources::default();
    let Some(map) = ctx.map(node, path) else {
        return out;
    };
    ctx.check_keys(map, RESOURCES_KEYS, path);
    if let Some(limits) = map.get("limits") {
        out.limits = amounts(ctx, limits, &format!("{path}.limits"), LIMITS_KEYS);
    }
    if let Some(reservations) = map.get("reservations") {
        out.reservations = amounts(
            ctx,
            reservations,
            &format!("{path}.reservations"),
            RESERVATIONS_KEYS,
        );
    }
    out
}

fn amounts(ctx: &mut Ctx<'_>, node: &Node, path: &str, keys: &[&str]) -> Option<ResourceAmounts> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, keys, path);
    let mut out = ResourceAmounts::default();
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        child_path(&mut p, path, k.as_str().unwrap_or_default());
        match k.as_str() {
            Some("cpus") => out.nano_cpus = cpus(ctx, v, &p),
            Some("memory") => out.memory_bytes = super::units::memory(ctx, v, &p),
            Some("pids") => out.pids = ctx.uint(v, &p).and_then(|n| i64::try_from(n).ok()),
            _ => {}
        }
    }
    Some(out)
}

fn placement(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Placement {
    if node.is_null() {
        return Default::default();
    }
    let mut out = Placement::default();
    let Some(map) = ctx.map(node, path) else {
        return out;
    };
    ctx.check_keys(map, PLACEMENT_KEYS, path);
    if let Some(c) = map.get("constraints") {
        out.constraints = ctx.strings(c, &format!("{path}.constraints"), false);
    }
    if let Some(prefs) = map.get("preferences") {
        let p = format!("{path}.preferences");
        match &prefs.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{p}[{i}]");
                    let spread = item
                        .as_map()
                        .and_then(|m| (m.len() == 1).then(|| m.get("spread")).flatten());
                    match spread.and_then(|s| ctx.string(s, &format!("{ip}.spread"))) {
                        Some(s) => out.preferences.push(s),
                        None => ctx.type_error(
                            item,
                            &ip,
                            "a `spread:` preference",
                            "write `- spread: node.labels.zone`",
                        ),
                    }
                }
            }
            Value::Null => {}
            _ => ctx.type_error(
                prefs,
                &p,
                "a list",
                "write `- spread: node.labels.zone` items",
            ),
        }
    }
    if let Some(m) = map.get("max_replicas_per_node") {
        out.max_replicas_per_node = ctx.uint(m, &format!("{path}.max_replicas_per_node"));
    }
    out
}

fn restart_policy(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<RestartPolicy> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, RESTART_KEYS, path);
    let mut out = RestartPolicy {
        condition: "any".to_string(),
        delay: None,
        max_attempts: None,
        window: None,
    };
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        child_path(&mut p, path, k.as_str().unwrap_or_default());
        match k.as_str() {
            Some("condition") => {
                if let Some(c) = one_of(ctx, v, &p, &["none", "on-failure", "any"]) {
                    out.condition = c;
                }
            }
            Some("delay") => out.delay = ctx.duration(v, &p),
            Some("max_attempts") => out.max_attempts = ctx.uint(v, &p),
            Some("window") => out.window = ctx.duration(v, &p),
            _ => {}
        }
    }
    Some(out)
}

fn update_config(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<UpdateConfig> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, UPDATE_KEYS, path);
    let mut out = UpdateConfig {
        parallelism: None,
        delay: None,
        failure_action: None,
        monitor: None,
        max_failure_ratio: None,
        order: None,
    };
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        child_path(&mut p, path, k.as_str().unwrap_or_default());
        match k.as_str() {
            Some("parallelism") => out.parallelism = ctx.uint(v, &p),
            Some("delay") => out.delay = ctx.duration(v, &p),
            Some("failure_action") => {
                out.failure_action = one_of(ctx, v, &p, &["continue", "rollback", "pause"]);
            }
            Some("monitor") => out.monitor = ctx.duration(v, &p),
            Some("max_failure_ratio") => {
                out.max_failure_ratio = ctx.float(v, &p);
                if out
                    .max_failure_ratio
                    .is_some_and(|r| !(0.0..=1.0).contains(&r))
                {
                    ctx.error(
                        InputError::new(format!("`{p}` must be between 0 and 1"), v.span.clone())
                            .with_label("out of range")
                            .with_help("write a ratio like `0.1` (10% of the tasks)"),
                    );
                }
            }
            Some("order") => out.order = one_of(ctx, v, &p, &["start-first", "stop-first"]),
            _ => {}
        }
    }
    Some(out)
}

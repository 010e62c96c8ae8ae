//! Reading `shipctl.yaml` into a validated [`Spec`].
//!
//! The file is parsed into the spanned YAML tree first so that every problem points at the line
//! the user wrote. All problems are collected and reported together.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::model::{
    Analysis, CanaryStep, Hooks, HttpProbe, KeyLayout, KeyTemplates, KvSettings, OnFailure, Policy,
    Spec, Strategy,
};
use super::reader::SpecRead;
use crate::error::{Error, InputError};
use crate::yaml::{self, Node, Reader, SourceFile, Spanned, Value};

/// The file looked for in the current directory when no `--spec` is given.
pub const FILE_NAME: &str = "shipctl.yaml";

const TOP_KEYS: &[&str] = &[
    "project",
    "zones",
    "service_name",
    "kv",
    "defaults",
    "services",
    "hooks",
    "release",
    "notify",
];
const RELEASE_KEYS: &[&str] = &["parallel"];
const KV_KEYS: &[&str] = &[
    "url",
    "backend",
    "layout",
    "keys",
    "lock_ttl",
    "history_limit",
];
const KEY_KEYS: &[&str] = &[
    "active_zone",
    "active_version",
    "traffic",
    "lock",
    "history",
    "progress",
    "owner",
    "router",
    "releases",
];
const POLICY_KEYS: &[&str] = &[
    "strategy",
    "replicas",
    "canary",
    "rolling",
    "task_batch",
    "health",
    "drain",
    "on_failure",
    "promote",
    "allow_zoned",
    "analysis",
    "bake",
];
const CANARY_KEYS: &[&str] = &["new", "old", "steps"];
const ROLLING_KEYS: &[&str] = &["step"];
const HEALTH_KEYS: &[&str] = &["timeout", "min_healthy", "progress_deadline", "probe"];
const PROBE_KEYS: &[&str] = &[
    "path",
    "port",
    "expect_status",
    "expect_body",
    "interval",
    "timeout",
];
const DRAIN_KEYS: &[&str] = &["time", "wait_for_router", "router_timeout"];
const HOOK_KEYS: &[&str] = &[
    "pre_deploy",
    "post_switch",
    "post_deploy",
    "on_failure",
    "timeout",
];

/// Loads the spec: the given file, else `./shipctl.yaml` if it exists, else the defaults.
pub fn load(path: Option<&Path>) -> Result<Spec, Error> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let p = Path::new(FILE_NAME);
            if !p.exists() {
                return Ok(Spec::default());
            }
            p.to_path_buf()
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InputError::plain(format!(
            "cannot read the strategy spec `{}`: {e}",
            path.display()
        ))
        .with_help("check the path given with `--spec`, or leave it out to use the defaults")
    })?;
    parse_str(&path.display().to_string(), &text)
}

/// Parses spec text; `name` is what error messages call the file.
pub fn parse_str(name: &str, text: &str) -> Result<Spec, Error> {
    let file = SourceFile::new(name, text);
    parse_file(&file)
}

pub fn parse_file(file: &Arc<SourceFile>) -> Result<Spec, Error> {
    let root = yaml::parse(file)?;
    let mut r = Reader::default();
    let spec = read_spec(&mut r, &root);
    match (spec, r.errors.len()) {
        (Some(spec), 0) => Ok(spec),
        _ => Err(into_error(r.errors)),
    }
}

fn into_error(mut errors: Vec<InputError>) -> Error {
    // In the order of the file, as the user reads it.
    errors.sort_by_key(|e| e.span.as_ref().map_or(0, |s| s.offset));
    if errors.len() == 1 {
        Error::Input(Box::new(errors.remove(0)))
    } else {
        Error::Inputs(errors)
    }
}

fn read_spec(r: &mut Reader, root: &Node) -> Option<Spec> {
    let mut spec = Spec::default();
    if root.is_null() {
        return Some(spec);
    }
    let Some(map) = root.as_map() else {
        r.error(
            InputError::new(
                format!("the strategy spec must be a mapping, found {}", root.kind()),
                root.span.clone(),
            )
            .with_label("expected keys such as `defaults:` and `services:`")
            .with_help("see fixtures/shipctl.yaml for a documented example"),
        );
        return None;
    };
    r.known_keys(map, TOP_KEYS, "");
    if let Some(n) = map.get("project") {
        spec.project = r
            .exact_string(n, "project", "project: shop")
            .and_then(|p| check_name(r, n, &p, "project"));
    }
    if let Some(n) = map.get("zones")
        && let Some(zones) = read_zones(r, n)
    {
        spec.zones = zones;
    }
    if let Some(n) = map.get("service_name")
        && let Some(t) = r.exact_string(
            n,
            "service_name",
            "service_name: \"{project}_{service}-{zone}\"",
        )
    {
        check_template(
            r,
            n,
            &t,
            "service_name",
            &["project", "service", "zone"],
            &["service", "zone"],
        );
        spec.service_name = t;
    }
    if let Some(n) = map.get("kv")
        && let Some(kv) = read_kv(r, n)
    {
        spec.kv = kv;
    }
    let defaults = match map.get("defaults") {
        Some(n) => read_policy(r, n, "defaults").unwrap_or_default(),
        None => PolicyPatch::default(),
    };
    spec.defaults = defaults.apply(Policy::default());
    check_policy(r, &defaults, &PolicyPatch::default(), "defaults");
    if let Some(n) = map.get("services")
        && let Some(services) = r.section(n, "services")
    {
        for (key, value) in services.iter() {
            let Some(name) = r.exact_string(key, "services", "web:") else {
                continue;
            };
            let Some(name) = check_name(r, key, &name, "service") else {
                continue;
            };
            let path = format!("services.{name}");
            let patch = if value.is_null() {
                PolicyPatch::default()
            } else {
                read_policy(r, value, &path).unwrap_or_default()
            };
            check_policy(r, &patch, &defaults, &path);
            let merged = patch.over(&defaults).apply(Policy::default());
            spec.services.insert(name, merged);
        }
    }
    if let Some(n) = map.get("hooks") {
        spec.hooks = read_hooks(r, n).unwrap_or_default();
    }
    if let Some(n) = map.get("notify") {
        spec.notify = super::notify::read_notify(r, n);
    }
    if let Some(n) = map.get("release")
        && let Some(section) = r.section(n, "release")
    {
        r.known_keys(section, RELEASE_KEYS, "release");
        if let Some(p) = section.get("parallel")
            && let Some(parallel) = r.exact_uint(p, "release.parallel", 1, "8")
        {
            spec.release.parallel = usize::try_from(parallel).unwrap_or(usize::MAX);
        }
    }
    Some(spec)
}

/// Zone and service names end up in Swarm service names and KV keys.
fn check_name(r: &mut Reader, node: &Node, name: &str, what: &str) -> Option<String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Some(name.to_string())
    } else {
        r.error(
            InputError::new(format!("invalid {what} name `{name}`"), node.span.clone())
                .with_label("not a valid name")
                .with_help(
                    "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                ),
        );
        None
    }
}

fn read_zones(r: &mut Reader, node: &Node) -> Option<[String; 2]> {
    let Some(items) = node.as_seq() else {
        r.error(
            InputError::new(
                format!(
                    "`zones` must be a list of two zone names, found {}",
                    node.kind()
                ),
                node.span.clone(),
            )
            .with_label("expected a list")
            .with_help("write it like `zones: [blue, green]`"),
        );
        return None;
    };
    if items.len() != 2 {
        r.error(
            InputError::new(
                format!("`zones` must name exactly two zones, found {}", items.len()),
                node.span.clone(),
            )
            .with_label(format!("{} zone(s) here", items.len()))
            .with_help("a deploy alternates between two zones: `zones: [blue, green]`"),
        );
        return None;
    }
    let mut names = Vec::with_capacity(2);
    for item in items {
        let text = match &item.value {
            Value::String { text, .. } => Some(text.clone()),
            // `zones: [0, 1]` is a mistake worth naming: numbers are not zone names.
            _ => {
                r.error(
                    InputError::new(
                        format!("a zone name must be a string, found {}", item.kind()),
                        item.span.clone(),
                    )
                    .with_label("not a name")
                    .with_help("zone names are words such as `blue` and `green`"),
                );
                None
            }
        };
        let name = text.and_then(|t| check_name(r, item, &t, "zone"))?;
        if name == super::defaults::IN_PLACE {
            r.error(
                InputError::new(
                    format!("`{name}` is not a zone name: it names services deployed in place"),
                    item.span.clone(),
                )
                .with_label("reserved")
                .with_help("name the zones something else, e.g. `zones: [blue, green]`"),
            );
            return None;
        }
        names.push(name);
    }
    if names[0] == names[1] {
        r.error(
            InputError::new(
                "the two zones must have different names",
                items[1].span.clone(),
            )
            .with_label(format!("`{}` again", names[1]))
            .with_help("name two distinct zones, e.g. `zones: [blue, green]`"),
        );
        return None;
    }
    Some([names[0].clone(), names[1].clone()])
}

/// Checks the `{placeholders}` of a template: only `known` ones, and all `required` ones.
fn check_template(
    r: &mut Reader,
    node: &Node,
    text: &str,
    path: &str,
    known: &[&str],
    required: &[&str],
) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            r.error(
                InputError::new(format!("unclosed `{{` in `{path}`"), node.span.clone())
                    .with_label("missing `}`")
                    .with_help("placeholders look like `{service}`"),
            );
            return;
        };
        let name = &after[..close];
        if !known.contains(&name) {
            let list: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            r.error(
                InputError::new(
                    format!("unknown placeholder `{{{name}}}` in `{path}`"),
                    node.span.clone(),
                )
                .with_label("unknown placeholder")
                .with_help(format!("`{path}` may use {}", list.join(", "))),
            );
        }
        rest = &after[close + 1..];
    }
    for req in required {
        if !text.contains(&format!("{{{req}}}")) {
            let why = if *req == "zone" {
                "the two zones of a service would get the same name"
            } else if *req == "project" {
                "every project would share it"
            } else {
                "every service would share it"
            };
            r.error(
                InputError::new(
                    format!("`{path}` must contain `{{{req}}}`"),
                    node.span.clone(),
                )
                .with_label(format!("no `{{{req}}}` here"))
                .with_help(format!("without it {why}; e.g. `{}`", example_for(path))),
            );
        }
    }
}

fn example_for(path: &str) -> String {
    match path.rsplit('.').next().unwrap_or(path) {
        "service_name" => "{project}_{service}-{zone}".to_string(),
        "releases" => "{project}/releases".to_string(),
        key => format!("{{service}}-{}", key.replace('_', "-")),
    }
}

fn read_kv(r: &mut Reader, node: &Node) -> Option<KvSettings> {
    let map = r.section(node, "kv")?;
    r.known_keys(map, KV_KEYS, "kv");
    let mut kv = KvSettings::default();
    match (map.get("url"), map.get("backend")) {
        (Some(_), Some(b)) => r.error(
            InputError::new("`kv.url` and `kv.backend` are both set", b.span.clone())
                .with_label("remove one of the two")
                .with_help("`backend: consul` picks a backend with its default address; `url:` gives the address"),
        ),
        (Some(u), None) => {
            if let Some(url) = r.exact_string(u, "kv.url", "url: consul://127.0.0.1:8500") {
                check_kv_url(r, u, &url);
                kv.url = url;
            }
        }
        (None, Some(b)) => {
            if let Some(backend) = r.exact_string(b, "kv.backend", "backend: consul") {
                match backend.as_str() {
                    "swarm" => kv.url = "swarm://".into(),
                    "consul" => kv.url = "consul://127.0.0.1:8500".into(),
                    "etcd" => kv.url = "etcd://127.0.0.1:2379".into(),
                    other => r.error(
                        InputError::new(format!("unknown KV backend `{other}`"), b.span.clone())
                            .with_label("not a backend")
                            .with_help("use `swarm` (the default), `consul` or `etcd`"),
                    ),
                }
            }
        }
        (None, None) => {}
    }
    let mut layout = KeyLayout::Project;
    if let Some(n) = map.get("layout")
        && let Some(text) = r.exact_string(n, "kv.layout", "layout: classic")
    {
        match text.as_str() {
            "project" => layout = KeyLayout::Project,
            "classic" => layout = KeyLayout::Classic,
            other => r.error(
                InputError::new(format!("unknown key layout `{other}`"), n.span.clone())
                    .with_label("not a layout")
                    .with_help(
                        "use `project` (the default: `{project}/{service}-active-zone`) or \
                         `classic` (`{service}-active-zone`, as consul-template setups read them)",
                    ),
            ),
        }
    }
    kv.keys = KeyTemplates::for_layout(layout);
    if let Some(n) = map.get("keys")
        && let Some(keys) = r.section(n, "kv.keys")
    {
        r.known_keys(keys, KEY_KEYS, "kv.keys");
        let mut templates = KeyTemplates::for_layout(layout);
        let mut placed = (false, false);
        let mut seen: Vec<(String, String)> = Vec::new();
        for (key, value) in keys.iter() {
            let Some(k) = key.as_str() else { continue };
            let path = format!("kv.keys.{k}");
            let Some(t) = r.exact_string(value, &path, "\"{service}-active-zone\"") else {
                continue;
            };
            // The releases of a project: one key per project, so it names the project.
            let (known, required): (&[&str], &[&str]) = if k == "releases" {
                (&["project"], &["project"])
            } else {
                (&["project", "service"], &["service"])
            };
            check_template(r, value, &t, &path, known, required);
            if let Some((_, other)) = seen.iter().find(|(s, _)| *s == t) {
                r.error(
                    InputError::new(
                        format!("`{path}` is the same key as `{other}`"),
                        value.span.clone(),
                    )
                    .with_label("same template twice")
                    .with_help("each key must be distinct or writes would overwrite each other"),
                );
            }
            seen.push((t.clone(), path.clone()));
            match k {
                "active_zone" => templates.active_zone = t,
                "active_version" => templates.active_version = t,
                "traffic" => templates.traffic = t,
                "lock" => templates.lock = t,
                "history" => templates.history = t,
                "progress" => templates.progress = t,
                "owner" => {
                    templates.owner = t;
                    placed.0 = true;
                }
                "router" => {
                    templates.router = t;
                    placed.1 = true;
                }
                "releases" => templates.releases = t,
                _ => {}
            }
        }
        // The owner and the router report live beside the keys they are about.
        if !placed.0 {
            templates.owner = templates.beside_active_zone("owner");
        }
        if !placed.1 {
            templates.router = templates.beside_active_zone("router");
        }
        kv.keys = templates;
    }
    if let Some(n) = map.get("lock_ttl")
        && let Some(d) = r.positive_duration(n, "kv.lock_ttl")
    {
        kv.lock_ttl = d;
    }
    if let Some(n) = map.get("history_limit")
        && let Some(v) = r.exact_uint(n, "kv.history_limit", 1, "history_limit: 50")
    {
        kv.history_limit = usize::try_from(v).unwrap_or(usize::MAX);
    }
    Some(kv)
}

fn check_kv_url(r: &mut Reader, node: &Node, url: &str) {
    const SCHEMES: &[&str] = &[
        "swarm://",
        "consul://",
        "consul+http://",
        "consul+https://",
        "etcd://",
        "etcd+http://",
        "etcd+https://",
    ];
    if !SCHEMES.iter().any(|s| url.starts_with(s)) {
        r.error(
            InputError::new(format!("unsupported KV URL `{url}`"), node.span.clone())
                .with_label("unknown scheme")
                .with_help("use `swarm://`, `consul://host:port`, `consul+https://host:port`, `etcd://host:port` or `etcd+https://host:port`"),
        );
    }
}

fn read_hooks(r: &mut Reader, node: &Node) -> Option<Hooks> {
    let map = r.section(node, "hooks")?;
    r.known_keys(map, HOOK_KEYS, "hooks");
    let mut hooks = Hooks::default();
    let mut get = |key: &str| {
        map.get(key)
            .and_then(|n| r.commands(n, &format!("hooks.{key}")))
            .unwrap_or_default()
    };
    hooks.pre_deploy = get("pre_deploy");
    hooks.post_switch = get("post_switch");
    hooks.post_deploy = get("post_deploy");
    hooks.on_failure = get("on_failure");
    if let Some(d) = map
        .get("timeout")
        .and_then(|n| r.duration(n, "hooks.timeout"))
    {
        hooks.timeout = d;
    }
    Some(hooks)
}

/// The settings one `policy` mapping writes; unset fields come from the level below.
#[derive(Debug, Clone, Default)]
struct PolicyPatch {
    strategy: Option<Spanned<Strategy>>,
    replicas: Option<Spanned<u64>>,
    canary_new: Option<Spanned<u64>>,
    canary_old: Option<Spanned<u64>>,
    canary_steps: Option<Vec<Spanned<CanaryStep>>>,
    rolling_step: Option<Spanned<u64>>,
    task_batch: Option<u64>,
    timeout: Option<Spanned<Duration>>,
    min_healthy: Option<Spanned<Duration>>,
    progress_deadline: Option<Spanned<Duration>>,
    probe: Option<HttpProbe>,
    drain_time: Option<Duration>,
    wait_for_router: Option<bool>,
    router_timeout: Option<Duration>,
    on_failure: Option<OnFailure>,
    promote: Option<bool>,
    allow_zoned: Option<bool>,
    analysis: Option<Spanned<Analysis>>,
    bake: Option<Duration>,
}

impl PolicyPatch {
    /// This patch with unset fields taken from `base`.
    fn over(&self, base: &PolicyPatch) -> PolicyPatch {
        PolicyPatch {
            strategy: self.strategy.clone().or_else(|| base.strategy.clone()),
            replicas: self.replicas.clone().or_else(|| base.replicas.clone()),
            canary_new: self.canary_new.clone().or_else(|| base.canary_new.clone()),
            canary_old: self.canary_old.clone().or_else(|| base.canary_old.clone()),
            canary_steps: self
                .canary_steps
                .clone()
                .or_else(|| base.canary_steps.clone()),
            rolling_step: self
                .rolling_step
                .clone()
                .or_else(|| base.rolling_step.clone()),
            task_batch: self.task_batch.or(base.task_batch),
            timeout: self.timeout.clone().or_else(|| base.timeout.clone()),
            min_healthy: self
                .min_healthy
                .clone()
                .or_else(|| base.min_healthy.clone()),
            progress_deadline: self
                .progress_deadline
                .clone()
                .or_else(|| base.progress_deadline.clone()),
            probe: self.probe.clone().or_else(|| base.probe.clone()),
            drain_time: self.drain_time.or(base.drain_time),
            wait_for_router: self.wait_for_router.or(base.wait_for_router),
            router_timeout: self.router_timeout.or(base.router_timeout),
            on_failure: self.on_failure.or(base.on_failure),
            promote: self.promote.or(base.promote),
            allow_zoned: self.allow_zoned.or(base.allow_zoned),
            analysis: self.analysis.clone().or_else(|| base.analysis.clone()),
            bake: self.bake.or(base.bake),
        }
    }

    fn apply(&self, mut p: Policy) -> Policy {
        if let Some(s) = &self.strategy {
            p.strategy = s.value;
        }
        if let Some(v) = &self.replicas {
            p.replicas = Some(v.value);
        }
        if let Some(v) = &self.canary_new {
            p.canary.new = v.value;
        }
        if let Some(v) = &self.canary_old {
            p.canary.old = Some(v.value);
        }
        if let Some(steps) = &self.canary_steps {
            p.canary.steps = steps.iter().map(|s| s.value.clone()).collect();
        }
        if let Some(v) = &self.rolling_step {
            p.rolling.step = v.value;
        }
        if let Some(v) = self.task_batch {
            p.task_batch = Some(v);
        }
        if let Some(v) = &self.timeout {
            p.health.timeout = v.value;
        }
        if let Some(v) = &self.min_healthy {
            p.health.min_healthy = v.value;
        }
        if let Some(v) = &self.progress_deadline {
            p.health.progress_deadline = v.value;
        }
        if let Some(v) = &self.probe {
            p.health.probe = Some(v.clone());
        }
        if let Some(v) = self.drain_time {
            p.drain.time = v;
        }
        if let Some(v) = self.wait_for_router {
            p.drain.wait_for_router = v;
        }
        if let Some(v) = self.router_timeout {
            p.drain.router_timeout = v;
        }
        if let Some(v) = self.on_failure {
            p.on_failure = Some(v);
        }
        if let Some(v) = self.promote {
            p.promote = v;
        }
        if let Some(v) = self.allow_zoned {
            p.allow_zoned = v;
        }
        if let Some(v) = &self.analysis {
            p.analysis = Some(v.value.clone());
        }
        if let Some(v) = self.bake {
            p.bake = Some(v);
        }
        p
    }
}

fn read_policy(r: &mut Reader, node: &Node, path: &str) -> Option<PolicyPatch> {
    let map = r.section(node, path)?;
    r.known_keys(map, POLICY_KEYS, path);
    let mut p = PolicyPatch::default();
    if let Some(n) = map.get("strategy") {
        p.strategy = read_strategy(r, n, path);
    }
    if let Some(n) = map.get("replicas") {
        p.replicas = r
            .exact_uint(n, &format!("{path}.replicas"), 1, "replicas: 3")
            .map(|v| Spanned::new(v, &n.span));
    }
    if let Some(n) = map.get("canary") {
        read_canary(r, n, &format!("{path}.canary"), &mut p);
    }
    if let Some(n) = map.get("rolling") {
        let rp = format!("{path}.rolling");
        if let Some(m) = r.section(n, &rp) {
            r.known_keys(m, ROLLING_KEYS, &rp);
            if let Some(s) = m.get("step") {
                p.rolling_step = r
                    .exact_uint(s, &format!("{rp}.step"), 1, "step: 1")
                    .map(|v| Spanned::new(v, &s.span));
            }
        }
    }
    if let Some(n) = map.get("task_batch") {
        p.task_batch = r.exact_uint(n, &format!("{path}.task_batch"), 1, "task_batch: 1");
    }
    if let Some(n) = map.get("health") {
        read_health(r, n, &format!("{path}.health"), &mut p);
    }
    if let Some(n) = map.get("drain") {
        read_drain(r, n, &format!("{path}.drain"), &mut p);
    }
    if let Some(n) = map.get("on_failure") {
        p.on_failure = read_on_failure(r, n, path);
    }
    if let Some(n) = map.get("promote") {
        p.promote = r.exact_bool(n, &format!("{path}.promote"));
    }
    if let Some(n) = map.get("allow_zoned") {
        p.allow_zoned = r.exact_bool(n, &format!("{path}.allow_zoned"));
    }
    if let Some(n) = map.get("analysis") {
        p.analysis = super::analysis::read_analysis(r, n, &format!("{path}.analysis"))
            .map(|a| Spanned::new(a, &n.span));
    }
    if let Some(n) = map.get("bake") {
        p.bake = r.positive_duration(n, &format!("{path}.bake"));
    }
    Some(p)
}

fn read_strategy(r: &mut Reader, node: &Node, path: &str) -> Option<Spanned<Strategy>> {
    let text = r.exact_string(node, &format!("{path}.strategy"), "strategy: blue-green")?;
    let strategy = match text.as_str() {
        "blue-green" => Strategy::BlueGreen,
        "canary" => Strategy::Canary,
        "rolling" => Strategy::Rolling,
        "in-place" => Strategy::InPlace,
        other => {
            let hint = if other
                .replace(['_', ' '], "-")
                .eq_ignore_ascii_case("blue-green")
                || other.eq_ignore_ascii_case("bluegreen")
            {
                "write it as `blue-green`".to_string()
            } else {
                "use `blue-green`, `canary`, `rolling` or `in-place`".to_string()
            };
            r.error(
                InputError::new(format!("unknown strategy `{other}`"), node.span.clone())
                    .with_label("not a strategy")
                    .with_help(hint),
            );
            return None;
        }
    };
    Some(Spanned::new(strategy, &node.span))
}

fn read_on_failure(r: &mut Reader, node: &Node, path: &str) -> Option<OnFailure> {
    let text = r.exact_string(node, &format!("{path}.on_failure"), "on_failure: rollback")?;
    match text.as_str() {
        "rollback" => Some(OnFailure::Rollback),
        "pause" => Some(OnFailure::Pause),
        "prompt" => Some(OnFailure::Prompt),
        other => {
            r.error(
                InputError::new(
                    format!("unknown `on_failure` action `{other}`"),
                    node.span.clone(),
                )
                .with_label("not an action")
                .with_help("use `rollback`, `pause` or `prompt`"),
            );
            None
        }
    }
}

fn read_canary(r: &mut Reader, node: &Node, path: &str, p: &mut PolicyPatch) {
    let Some(map) = r.section(node, path) else {
        return;
    };
    r.known_keys(map, CANARY_KEYS, path);
    if let Some(n) = map.get("new") {
        p.canary_new = r
            .exact_uint(n, &format!("{path}.new"), 1, "new: 1")
            .map(|v| Spanned::new(v, &n.span));
    }
    if let Some(n) = map.get("old") {
        p.canary_old = r
            .exact_uint(n, &format!("{path}.old"), 0, "old: 3")
            .map(|v| Spanned::new(v, &n.span));
    }
    if let Some(n) = map.get("steps") {
        let Some(items) = n.as_seq() else {
            r.error(
                InputError::new(
                    format!("`{path}.steps` must be a list, found {}", n.kind()),
                    n.span.clone(),
                )
                .with_label("expected a list")
                .with_help("write steps like `- {new: 2, old: 2}`, `- pause: 5m` or `- pause: {}`"),
            );
            return;
        };
        let mut steps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(step) = read_canary_step(r, item, &format!("{path}.steps[{i}]")) {
                steps.push(Spanned::new(step, &item.span));
            }
        }
        p.canary_steps = Some(steps);
    }
}

fn read_canary_step(r: &mut Reader, node: &Node, path: &str) -> Option<CanaryStep> {
    let help = "a step is `{new: 2, old: 2}`, `pause: 5m`, `pause: {}` (until `shipctl promote`) or `analysis: {}`";
    let Some(map) = node.as_map() else {
        r.error(
            InputError::new(
                format!("`{path}` must be a mapping, found {}", node.kind()),
                node.span.clone(),
            )
            .with_label("expected a step")
            .with_help(help),
        );
        return None;
    };
    if let Some(analysis) = map.get("analysis") {
        if map.len() > 1 {
            r.error(
                InputError::new(
                    format!("`{path}` mixes `analysis` with other keys"),
                    node.span.clone(),
                )
                .with_label("one action per step")
                .with_help("put the analysis and the scaling in two separate steps"),
            );
            return None;
        }
        return super::analysis::read_overrides(r, analysis, &format!("{path}.analysis"))
            .map(CanaryStep::Analysis);
    }
    if let Some(pause) = map.get("pause") {
        if map.len() > 1 {
            r.error(
                InputError::new(
                    format!("`{path}` mixes `pause` with other keys"),
                    node.span.clone(),
                )
                .with_label("one action per step")
                .with_help("put the pause and the scaling in two separate steps"),
            );
            return None;
        }
        return match &pause.value {
            Value::Map(m) if m.is_empty() => Some(CanaryStep::PauseUntilPromoted),
            Value::Null => Some(CanaryStep::PauseUntilPromoted),
            Value::Map(m) => {
                // `pause: {duration: 5m}` is the long form of `pause: 5m`.
                r.known_keys(m, &["duration"], &format!("{path}.pause"));
                let d = m.get("duration")?;
                read_pause_duration(r, d, path)
            }
            _ => read_pause_duration(r, pause, path),
        };
    }
    r.known_keys(map, &["new", "old", "pause"], path);
    let (Some(n), Some(o)) = (map.get("new"), map.get("old")) else {
        r.error(
            InputError::new(
                format!("`{path}` must give both `new` and `old`"),
                node.span.clone(),
            )
            .with_label("incomplete step")
            .with_help(help),
        );
        return None;
    };
    let new = r.exact_uint(n, &format!("{path}.new"), 0, "new: 2")?;
    let old = r.exact_uint(o, &format!("{path}.old"), 0, "old: 2")?;
    if new == 0 && old == 0 {
        r.error(
            InputError::new(
                format!("`{path}` scales both zones to 0"),
                node.span.clone(),
            )
            .with_label("no replicas left to serve traffic")
            .with_help("keep at least one replica in one zone, e.g. `{new: 2, old: 2}`"),
        );
        return None;
    }
    Some(CanaryStep::Scale { new, old })
}

fn read_pause_duration(r: &mut Reader, node: &Node, path: &str) -> Option<CanaryStep> {
    let d = r.positive_duration(node, &format!("{path}.pause"))?;
    Some(CanaryStep::Pause { duration: d })
}

fn read_health(r: &mut Reader, node: &Node, path: &str, p: &mut PolicyPatch) {
    let Some(map) = r.section(node, path) else {
        return;
    };
    r.known_keys(map, HEALTH_KEYS, path);
    let mut dur = |key: &str| {
        map.get(key).and_then(|n| {
            r.positive_duration(n, &format!("{path}.{key}"))
                .map(|d| Spanned::new(d, &n.span))
        })
    };
    p.timeout = dur("timeout");
    p.progress_deadline = dur("progress_deadline");
    // min_healthy may be 0: pass as soon as the tasks run.
    p.min_healthy = map.get("min_healthy").and_then(|n| {
        r.exact_duration(n, &format!("{path}.min_healthy"))
            .map(|d| Spanned::new(d, &n.span))
    });
    if let Some(n) = map.get("probe") {
        p.probe = read_probe(r, n, &format!("{path}.probe"));
    }
}

fn read_probe(r: &mut Reader, node: &Node, path: &str) -> Option<HttpProbe> {
    let map = r.section(node, path)?;
    r.known_keys(map, PROBE_KEYS, path);
    let Some(port_node) = map.get("port") else {
        r.error(
            InputError::new(format!("`{path}` needs a `port`"), node.span.clone())
                .with_label("no port")
                .with_help("give the container port the probe calls, e.g. `port: 8080`"),
        );
        return None;
    };
    let port = r.exact_uint(port_node, &format!("{path}.port"), 1, "port: 8080")?;
    let Ok(port) = u16::try_from(port) else {
        r.error(
            InputError::new(
                format!("port {port} is out of range"),
                port_node.span.clone(),
            )
            .with_label("not a port")
            .with_help("ports go from 1 to 65535"),
        );
        return None;
    };
    let mut probe = HttpProbe {
        path: "/".into(),
        port,
        expect_status: 200,
        expect_body: None,
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
    };
    if let Some(n) = map.get("path")
        && let Some(p) = r.exact_string(n, &format!("{path}.path"), "path: /healthz")
    {
        if !p.starts_with('/') {
            r.error(
                InputError::new(
                    format!("probe path `{p}` must start with `/`"),
                    n.span.clone(),
                )
                .with_label("relative path")
                .with_help(format!("write it as `/{p}`")),
            );
        }
        probe.path = p;
    }
    if let Some(n) = map.get("expect_status")
        && let Some(s) = r.exact_uint(
            n,
            &format!("{path}.expect_status"),
            100,
            "expect_status: 200",
        )
    {
        match u16::try_from(s) {
            Ok(s) if s <= 599 => probe.expect_status = s,
            _ => r.error(
                InputError::new(format!("{s} is not an HTTP status"), n.span.clone())
                    .with_label("not a status")
                    .with_help("HTTP statuses go from 100 to 599, e.g. `200`"),
            ),
        }
    }
    if let Some(n) = map.get("expect_body") {
        probe.expect_body = r.exact_string(n, &format!("{path}.expect_body"), "expect_body: ok");
    }
    if let Some(n) = map.get("interval")
        && let Some(d) = r.positive_duration(n, &format!("{path}.interval"))
    {
        probe.interval = d;
    }
    if let Some(n) = map.get("timeout")
        && let Some(d) = r.positive_duration(n, &format!("{path}.timeout"))
    {
        probe.timeout = d;
    }
    Some(probe)
}

fn read_drain(r: &mut Reader, node: &Node, path: &str, p: &mut PolicyPatch) {
    if !matches!(node.value, Value::Map(_)) {
        p.drain_time = r.exact_duration(node, path);
        return;
    }
    let Some(map) = r.section(node, path) else {
        return;
    };
    r.known_keys(map, DRAIN_KEYS, path);
    if let Some(n) = map.get("time") {
        p.drain_time = r.exact_duration(n, &format!("{path}.time"));
    }
    if let Some(n) = map.get("wait_for_router") {
        p.wait_for_router = r.exact_bool(n, &format!("{path}.wait_for_router"));
    }
    if let Some(n) = map.get("router_timeout") {
        p.router_timeout = r.positive_duration(n, &format!("{path}.router_timeout"));
    }
}

/// Checks that need the merged policy (a service's settings over `defaults`); reported on the
/// value that breaks the rule, where the user wrote it.
fn check_policy(r: &mut Reader, own: &PolicyPatch, base: &PolicyPatch, path: &str) {
    let merged = own.over(base);
    // Only report a rule once: on `defaults`, or on the service whose own setting breaks it.
    let owns = |a: bool, b: bool| a || b;
    if let (Some(min), Some(timeout)) = (&merged.min_healthy, &merged.timeout)
        && owns(own.min_healthy.is_some(), own.timeout.is_some())
        && min.value >= timeout.value
    {
        r.error(
            InputError::new(
                format!("`{path}.health.min_healthy` is not shorter than the health timeout"),
                min.span.clone(),
            )
            .with_label(format!(
                "{} >= timeout {}",
                crate::yaml::duration::format(min.value),
                crate::yaml::duration::format(timeout.value)
            ))
            .with_help("the gate could never pass: make `min_healthy` shorter than `timeout`"),
        );
    }
    if merged.analysis.is_none()
        && let Some(steps) = &merged.canary_steps
        && owns(own.canary_steps.is_some(), own.analysis.is_some())
    {
        for step in steps {
            if let CanaryStep::Analysis(_) = step.value {
                r.error(
                    InputError::new(
                        format!(
                            "a canary step of `{path}` runs an analysis, but `{path}` has none"
                        ),
                        step.span.clone(),
                    )
                    .with_label("no metrics to run")
                    .with_help(format!(
                        "add `analysis: {{metrics: [...]}}` to `{path}` (or to `defaults`)"
                    )),
                );
            }
        }
    }
    let Some(replicas) = &merged.replicas else {
        return;
    };
    let full = replicas.value;
    if let Some(new) = &merged.canary_new
        && owns(own.canary_new.is_some(), own.replicas.is_some())
        && new.value > full
    {
        r.error(
            InputError::new(
                format!("`{path}.canary.new` is larger than the {full} replicas of the service"),
                new.span.clone(),
            )
            .with_label(format!("{} > {full}", new.value))
            .with_help(format!(
                "a canary runs at most {full} new replicas; lower `new` or raise `replicas`"
            )),
        );
    }
    if let Some(old) = &merged.canary_old
        && owns(own.canary_old.is_some(), own.replicas.is_some())
        && old.value > full
    {
        r.error(
            InputError::new(
                format!("`{path}.canary.old` is larger than the {full} replicas of the service"),
                old.span.clone(),
            )
            .with_label(format!("{} > {full}", old.value))
            .with_help(format!(
                "keep at most {full} old replicas during the canary"
            )),
        );
    }
    if let Some(steps) = &merged.canary_steps
        && owns(own.canary_steps.is_some(), own.replicas.is_some())
    {
        for step in steps {
            if let CanaryStep::Scale { new, old } = step.value
                && (new > full || old > full)
            {
                r.error(
                    InputError::new(
                        format!(
                            "a canary step of `{path}` asks for more than {full} replicas in a zone"
                        ),
                        step.span.clone(),
                    )
                    .with_label(format!("new {new}, old {old}; the service has {full}"))
                    .with_help(format!(
                        "each zone holds at most the {full} replicas of the service"
                    )),
                );
            }
        }
    }
    if let Some(step) = &merged.rolling_step
        && owns(own.rolling_step.is_some(), own.replicas.is_some())
        && step.value > full
    {
        r.error(
            InputError::new(
                format!("`{path}.rolling.step` is larger than the {full} replicas of the service"),
                step.span.clone(),
            )
            .with_label(format!("{} > {full}", step.value))
            .with_help(format!(
                "move at most {full} replicas per batch (that is a blue-green deploy)"
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ok(text: &str) -> Spec {
        match parse_str("t.yaml", text) {
            Ok(s) => s,
            Err(e) => panic!("{text}: {e:?}"),
        }
    }

    fn err(text: &str) -> Error {
        parse_str("t.yaml", text).expect_err(text)
    }

    #[test]
    fn services_inherit_defaults_field_by_field() {
        let spec = ok(
            "defaults:\n  strategy: canary\n  canary: {new: 2, steps: [{pause: 1m}]}\n  health: {timeout: 3m}\nservices:\n  web:\n    canary: {old: 1}\n    health: {min_healthy: 10s}\n  api:\n",
        );
        let web = &spec.services["web"];
        assert_eq!(web.strategy, Strategy::Canary);
        assert_eq!((web.canary.new, web.canary.old), (2, Some(1)));
        assert_eq!(web.canary.steps.len(), 1);
        assert_eq!(web.health.timeout, Duration::from_secs(180));
        assert_eq!(web.health.min_healthy, Duration::from_secs(10));
        // A service named with no settings gets the defaults.
        assert_eq!(spec.services["api"], spec.defaults);
    }

    #[test]
    fn drain_and_pause_have_short_and_long_forms() {
        let spec = ok(
            "defaults:\n  drain: 3s\n  canary:\n    steps:\n      - pause: 5m\n      - pause: {duration: 1m}\n      - pause: {}\n      - pause:\n      - {new: 2, old: 0}\nservices:\n  web:\n    drain: {wait_for_router: true, router_timeout: 1m}\n",
        );
        assert_eq!(spec.defaults.drain.time, Duration::from_secs(3));
        assert_eq!(
            spec.defaults.canary.steps,
            vec![
                CanaryStep::Pause {
                    duration: Duration::from_secs(300)
                },
                CanaryStep::Pause {
                    duration: Duration::from_secs(60)
                },
                CanaryStep::PauseUntilPromoted,
                CanaryStep::PauseUntilPromoted,
                CanaryStep::Scale { new: 2, old: 0 },
            ]
        );
        let web = &spec.services["web"];
        assert!(web.drain.wait_for_router);
        // The service's drain map keeps the time from `defaults`.
        assert_eq!(web.drain.time, Duration::from_secs(3));
        assert_eq!(web.drain.router_timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_classic_layout_is_one_line_away() {
        let spec = ok("kv:\n  layout: classic\n");
        assert_eq!(spec.kv.keys.active_zone, "{service}-active-zone");
        assert_eq!(spec.kv.keys.owner, "{service}-owner");
        assert_eq!(spec.kv.keys.router, "{service}-router");
        let spec = ok("kv:\n  layout: classic\n  keys: {traffic: \"weights/{service}\"}\n");
        assert_eq!(spec.kv.keys.traffic, "weights/{service}");
        assert_eq!(spec.kv.keys.lock, "{service}-lock");
        assert_eq!(spec.kv.keys.releases, "{project}-releases");
        assert_eq!(Spec::default().kv.keys.releases, "{project}/releases");
        let spec = ok("kv:\n  keys: {releases: \"deploys/{project}\"}\n");
        assert_eq!(spec.releases_key("shop"), "deploys/shop");
    }

    #[test]
    fn kv_backend_picks_a_default_address() {
        assert_eq!(ok("kv: {backend: etcd}\n").kv.url, "etcd://127.0.0.1:2379");
        assert_eq!(
            ok("kv: {backend: consul}\n").kv.url,
            "consul://127.0.0.1:8500"
        );
        let spec = ok(
            "kv:\n  keys: {active_zone: \"{project}/{service}/zone\"}\n  lock_ttl: 1m\n  history_limit: 5\n",
        );
        assert_eq!(spec.kv.keys.active_zone, "{project}/{service}/zone");
        assert_eq!(spec.kv.keys.traffic, "{project}/{service}-traffic");
        assert_eq!(spec.kv.keys.owner, "{project}/{service}/owner");
        assert_eq!(spec.kv.lock_ttl, Duration::from_secs(60));
        assert_eq!(spec.kv.history_limit, 5);
    }

    #[test]
    fn analysis_and_bake_are_read_per_service_and_per_canary_step() {
        let spec = ok(concat!(
            "defaults:\n",
            "  strategy: canary\n",
            "  bake: 2m\n",
            "  analysis:\n",
            "    interval: 5s\n",
            "    count: 2\n",
            "    metrics:\n",
            "      - {name: errors, provider: router, query: error_rate, condition: \"< 1%\"}\n",
            "      - {name: slow, provider: router, query: p99, condition: \"<= 500ms\", min_requests: 50}\n",
            "      - name: prom\n",
            "        provider: prometheus\n",
            "        address: http://127.0.0.1:9090\n",
            "        query: sum(rate(x{zone=\"{zone}\"}[{interval}]))\n",
            "        condition: < 0.5\n",
            "      - {name: approval, provider: http, url: \"http://ci/{service}\", timeout: 3s}\n",
            "services:\n",
            "  web:\n",
            "    canary:\n",
            "      steps: [{new: 2, old: 2}, {analysis: {count: 5}}, {analysis: }]\n",
        ));
        let web = &spec.services["web"];
        assert_eq!(web.bake, Some(Duration::from_secs(120)));
        let a = web.analysis.as_ref().expect("analysis");
        assert_eq!(
            (a.interval, a.count, a.failure_limit, a.inconclusive_limit),
            (Duration::from_secs(5), 2, 0, 1)
        );
        let names: Vec<&str> = a.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["errors", "slow", "prom", "approval"]);
        assert!(matches!(
            &web.canary.steps[1],
            CanaryStep::Analysis(o) if o.count == Some(5) && o.interval.is_none()
        ));
        assert_eq!(
            web.canary.steps[2],
            CanaryStep::Analysis(Default::default())
        );
    }

    #[test]
    fn analysis_mistakes_point_at_the_line() {
        let e = err(
            "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: router, query: errors, condition: \"< 1%\"}\n",
        );
        assert!(
            e.to_string().contains("unknown router query `errors`"),
            "{e}"
        );
        let e = err(
            "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: router, query: error_rate, condition: \"1%\"}\n",
        );
        assert!(
            e.to_string().contains("does not start with a comparison"),
            "{e}"
        );
        let e = err(
            "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: router, query: error_rate, condition: \"< 5\"}\n",
        );
        assert!(
            e.to_string().contains("can never be compared with a rate"),
            "{e}"
        );
        let e = err(
            "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: prometheus, query: up, condition: \"> 0\", address: prom:9090}\n",
        );
        assert!(e.to_string().contains("is not an http(s) URL"), "{e}");
        // The whole address may come from the environment; its name is checked here.
        let ok = "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: prometheus, query: up, condition: \"> 0\", address: \"${PROMETHEUS_URL}\"}\n";
        assert!(crate::spec::parse_str("shipctl.yaml", ok).is_ok());
        let e = err(&ok.replace("PROMETHEUS_URL", "PROMETHEUS URL"));
        assert!(
            e.to_string()
                .contains("`PROMETHEUS URL` is not an environment variable name"),
            "{e}"
        );
        let e = err(
            "defaults:\n  analysis:\n    metrics:\n      - {name: e, provider: http, url: \"http://x\", condition: \"> 0\"}\n",
        );
        assert!(
            e.to_string()
                .contains("does not apply to the `http` provider"),
            "{e}"
        );
        let e = err("defaults:\n  analysis: {interval: 5s}\n");
        assert!(e.to_string().contains("has no `metrics`"), "{e}");
        let e = err("defaults:\n  canary:\n    steps: [{analysis: {}}]\n");
        assert!(e.to_string().contains("runs an analysis, but"), "{e}");
        let e = err("defaults:\n  canary:\n    steps: [{analysis: {}, new: 1, old: 1}]\n");
        assert!(
            e.to_string().contains("mixes `analysis` with other keys"),
            "{e}"
        );
    }

    #[test]
    fn empty_sections_mean_nothing_set() {
        let spec = ok("defaults:\nservices:\nhooks:\nkv:\n");
        assert_eq!(spec, Spec::default());
    }

    #[test]
    fn hooks_take_a_command_or_a_list() {
        let spec = ok("hooks:\n  pre_deploy: ./a.sh\n  post_deploy: [./b.sh, ./c.sh]\n");
        assert_eq!(spec.hooks.pre_deploy, ["./a.sh"]);
        assert_eq!(spec.hooks.post_deploy, ["./b.sh", "./c.sh"]);
        assert_eq!(spec.hooks.timeout, std::time::Duration::from_secs(600));
        let spec = ok("hooks:\n  pre_deploy: ./a.sh\n  timeout: 30s\n");
        assert_eq!(spec.hooks.timeout, std::time::Duration::from_secs(30));
    }

    #[test]
    fn a_release_gates_a_bounded_number_of_services_at_once() {
        assert_eq!(ok("").release.parallel, 32);
        assert_eq!(ok("release:\n  parallel: 4\n").release.parallel, 4);
        let e = err("release:\n  parallel: 0\n");
        assert!(e.to_string().contains("release.parallel"), "{e}");
    }

    #[test]
    fn the_releases_key_names_the_project_and_no_service() {
        for (template, problem) in [
            ("releases", "must contain `{project}`"),
            (
                "{project}/{service}-releases",
                "unknown placeholder `{service}`",
            ),
        ] {
            let e = err(&format!("kv:\n  keys: {{releases: \"{template}\"}}\n"));
            let text = format!("{e:?}");
            assert!(text.contains(problem), "{template}: {text}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_a_span() {
        let e = err("zones: [blue, blue]\ndefaults:\n  replicas: 0\n  colour: red\n");
        let Error::Inputs(list) = e else {
            panic!("several problems expected: {e:?}");
        };
        assert_eq!(list.len(), 3);
        assert!(list.iter().all(|e| e.span.is_some()));
        let lines: Vec<u32> = list
            .iter()
            .filter_map(|e| e.span.as_ref().map(|s| s.line))
            .collect();
        assert_eq!(lines, [1, 3, 4]);
    }

    #[test]
    fn rules_on_merged_settings_are_reported_once() {
        // The service's replicas make the defaults' canary too big: reported on the service.
        let e = err("defaults:\n  canary: {new: 3}\nservices:\n  web:\n    replicas: 2\n");
        assert!(e.to_string().contains("services.web.canary.new"), "{e}");
        assert!(matches!(e, Error::Input(_)));
    }

    #[test]
    fn a_missing_file_is_an_input_error() {
        let e = load(Some(Path::new("/nonexistent/shipctl.yaml"))).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("/nonexistent/shipctl.yaml"), "{e}");
    }
}

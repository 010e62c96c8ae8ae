//! One service: tree -> [`Service`].

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use super::convert::{Ctx, to_json};
use super::model::{FileReference, Healthcheck, Logging, Service, ServiceNetwork};
use super::{deploy, dotenv, ports, units, volumes, warnings};
use crate::error::InputError;
use crate::yaml::{Node, SourceFile, Span, Value, child_path};

/// Every field the Compose Specification (and the v2/v3 formats) allows in a service.
pub const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
];

const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const NETWORK_ATTACH_KEYS: &[&str] = &[
    "aliases",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "driver_opts",
    "priority",
    "gw_priority",
    "interface_name",
];
const FILE_REF_KEYS: &[&str] = &["source", "target", "uid", "gid", "mode"];
const LOGGING_KEYS: &[&str] = &["driver", "options"];
const ENV_FILE_KEYS: &[&str] = &["path", "required", "format"];

/// v2 resource fields, mapped onto `deploy.resources` when that does not set them.
#[derive(Default)]
struct V2Resources {
    scale: Option<(u64, Span)>,
    mem_limit: Option<i64>,
    mem_reservation: Option<i64>,
    cpus: Option<i64>,
    pids_limit: Option<i64>,
}

pub fn convert(ctx: &mut Ctx<'_>, name: &str, key: &Node, node: &Node) -> Option<Service> {
    let path = format!("services.{name}");
    if node.is_null() {
        ctx.error(
            InputError::new(format!("service `{name}` is empty"), key.span.clone())
                .with_label("no definition")
                .with_help("give the service at least an `image:`"),
        );
        return None;
    }
    let map = ctx.map(node, &path)?;
    ctx.check_keys(map, SERVICE_KEYS, &path);
    let mut svc = Service {
        name: name.to_string(),
        ..Service::default()
    };
    let mut image = None;
    let mut from_env_files: IndexMap<String, Option<String>> = IndexMap::new();
    let mut v2 = V2Resources::default();
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        let Some(field) = k.as_str() else { continue };
        child_path(&mut p, &path, field);
        match field {
            "image" => image = Some(v),
            "command" => svc.command = command(ctx, v, &p),
            "entrypoint" => svc.entrypoint = command(ctx, v, &p),
            "environment" => svc.environment = ctx.key_values(v, &p),
            "env_file" => env_files(ctx, v, &p, &mut from_env_files),
            "labels" => svc.labels = ctx.labels(v, &p),
            "ports" => svc.ports = ports::convert(ctx, v, &p),
            "networks" => svc.networks = networks(ctx, v, &p),
            "volumes" => svc.volumes = volumes::convert(ctx, v, &p),
            "secrets" => svc.secrets = file_refs(ctx, v, &p),
            "configs" => svc.configs = file_refs(ctx, v, &p),
            "healthcheck" => svc.healthcheck = healthcheck(ctx, v, &p),
            "deploy" => svc.deploy = deploy::convert(ctx, v, &p),
            "working_dir" => svc.working_dir = ctx.string(v, &p),
            "user" => svc.user = ctx.string(v, &p),
            "hostname" => svc.hostname = ctx.string(v, &p),
            "stop_signal" => svc.stop_signal = ctx.string(v, &p),
            "stop_grace_period" => svc.stop_grace_period = ctx.duration(v, &p),
            "init" => svc.init = ctx.bool(v, &p),
            "tty" => svc.tty = ctx.bool(v, &p),
            "read_only" => svc.read_only = ctx.bool(v, &p),
            "extra_hosts" => svc.extra_hosts = extra_hosts(ctx, v, &p),
            "dns" => svc.dns = ctx.strings(v, &p, true),
            "cap_add" => svc.cap_add = ctx.strings(v, &p, false),
            "cap_drop" => svc.cap_drop = ctx.strings(v, &p, false),
            "logging" => svc.logging = logging(ctx, v, &p),
            "depends_on" => svc.depends_on = depends_on(ctx, v, &p),
            "scale" => v2.scale = ctx.uint(v, &p).map(|n| (n, v.span.clone())),
            "mem_limit" => v2.mem_limit = units::memory(ctx, v, &p),
            "mem_reservation" => v2.mem_reservation = units::memory(ctx, v, &p),
            "cpus" => v2.cpus = deploy::cpus(ctx, v, &p),
            "pids_limit" => v2.pids_limit = ctx.uint(v, &p).and_then(|n| i64::try_from(n).ok()),
            // Resolved before conversion.
            "extends" => {}
            x if x.starts_with("x-") => {
                svc.extensions.insert(x.to_string(), to_json(v));
            }
            other => {
                if let Some(message) = warnings::ignored_service_field(other) {
                    ctx.warn(&k.span, format!("service `{name}`: {message}"));
                }
            }
        }
    }

    // Values from env files come first; `environment` wins over them.
    if !from_env_files.is_empty() {
        for (k, v) in std::mem::take(&mut svc.environment) {
            from_env_files.insert(k, v);
        }
        svc.environment = from_env_files;
    }
    // `- FOO` (no value) takes FOO from the environment, as Compose resolves it at load time.
    for (k, v) in svc.environment.iter_mut() {
        if v.is_none() {
            *v = (ctx.lookup)(k);
        }
    }

    apply_v2(ctx, &mut svc, v2, name);

    match image {
        Some(node) => {
            let raw = node
                .span
                .file
                .text
                .get(node.span.range())
                .unwrap_or_default();
            let vars = super::interpolate::variables(raw);
            if node.as_str() == Some("") && !vars.is_empty() {
                ctx.error(
                    InputError::new(
                        format!("the image of service `{name}` is empty once its variables are substituted"),
                        node.span.clone(),
                    )
                    .with_label("empty image")
                    .with_help(format!(
                        "set {} (in the environment or in `.env`), or give it a default: `${{{}:-default}}`",
                        vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "),
                        vars[0]
                    )),
                );
                return None;
            }
            svc.image = ctx.required_string(node, &format!("{path}.image"))?;
        }
        None => {
            let help = if map.get("build").is_some() {
                "Swarm cannot build images: build and push the image to a registry, then set \
                 `image:` to its name and tag"
            } else {
                "add `image: name:tag`; every Swarm node pulls it from a registry"
            };
            ctx.error(
                InputError::new(format!("service `{name}` has no `image`"), key.span.clone())
                    .with_label("no image")
                    .with_help(help),
            );
            return None;
        }
    }
    Some(svc)
}

fn apply_v2(ctx: &mut Ctx<'_>, svc: &mut Service, v2: V2Resources, name: &str) {
    if let Some((scale, span)) = v2.scale {
        match svc.deploy.replicas {
            Some(replicas) if replicas != scale => ctx.error(
                InputError::new(
                    format!(
                        "service `{name}` sets both `scale: {scale}` and `deploy.replicas: {replicas}`"
                    ),
                    span,
                )
                .with_label("conflicts with deploy.replicas")
                .with_help("keep one of them (`deploy.replicas` is the Swarm way)"),
            ),
            _ => svc.deploy.replicas = Some(scale),
        }
    }
    let resources = &mut svc.deploy.resources;
    if v2.mem_limit.is_some() || v2.cpus.is_some() || v2.pids_limit.is_some() {
        let limits = resources.limits.get_or_insert_with(Default::default);
        limits.memory_bytes = limits.memory_bytes.or(v2.mem_limit);
        limits.nano_cpus = limits.nano_cpus.or(v2.cpus);
        limits.pids = limits.pids.or(v2.pids_limit);
    }
    if v2.mem_reservation.is_some() {
        let reservations = resources.reservations.get_or_insert_with(Default::default);
        reservations.memory_bytes = reservations.memory_bytes.or(v2.mem_reservation);
    }
}

/// `command` / `entrypoint`: a string is split into words like a shell would, a list is kept.
fn command(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<String>> {
    match &node.value {
        Value::Null => None,
        Value::String { text, .. } => match super::shell::split(text) {
            Ok(words) => Some(words),
            Err(e) => {
                ctx.error(
                    InputError::new(
                        format!("`{path}` cannot be split into words: {e}"),
                        node.span.clone(),
                    )
                    .with_label("here")
                    .with_help("close the quote, or write the command as a list"),
                );
                None
            }
        },
        Value::Seq(_) => Some(ctx.strings(node, path, false)),
        _ => {
            ctx.type_error(
                node,
                path,
                "a string or a list",
                "write `command: [\"npm\", \"start\"]` or `command: npm start`",
            );
            None
        }
    }
}

/// Reads `env_file` entries (already absolute paths) into `into`.
fn env_files(
    ctx: &mut Ctx<'_>,
    node: &Node,
    path: &str,
    into: &mut IndexMap<String, Option<String>>,
) {
    let items: Vec<&Node> = match &node.value {
        Value::Null => return,
        Value::Seq(items) => items.iter().collect(),
        Value::String { .. } => vec![node],
        _ => {
            ctx.type_error(
                node,
                path,
                "a string or a list",
                "write `env_file: .env.web` or a list of files",
            );
            return;
        }
    };
    for item in items {
        let (file_node, required) = match &item.value {
            Value::Map(map) => {
                ctx.check_keys(map, ENV_FILE_KEYS, path);
                let Some(p) = map.get("path") else {
                    ctx.error(
                        InputError::new(
                            format!("an entry of `{path}` has no `path`"),
                            item.span.clone(),
                        )
                        .with_help("write `- path: ./web.env`"),
                    );
                    continue;
                };
                let required = match map.get("required") {
                    Some(r) => ctx.bool(r, &format!("{path}.required")).unwrap_or(true),
                    None => true,
                };
                (p, required)
            }
            _ => (item, true),
        };
        let Some(file) = ctx.string(file_node, path) else {
            continue;
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                ctx.error(
                    InputError::new(
                        format!("cannot read env file `{}`: {e}", super::paths::display_path(Path::new(&file))),
                        file_node.span.clone(),
                    )
                    .with_label("this file")
                    .with_help("check the path (relative to the compose file), or mark it `required: false`"),
                );
                continue;
            }
        };
        let source: Arc<SourceFile> =
            SourceFile::new(super::paths::display_path(Path::new(&file)), text);
        match dotenv::parse(&source, ctx.lookup) {
            Ok(vars) => {
                for (k, v) in vars {
                    into.insert(k, Some(v));
                }
            }
            Err(e) => ctx.error(e),
        }
    }
}

fn networks(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> IndexMap<String, ServiceNetwork> {
    let mut out = IndexMap::new();
    match &node.value {
        Value::Null => {}
        Value::Seq(_) => {
            for name in ctx.strings(node, path, false) {
                out.insert(name, ServiceNetwork::default());
            }
        }
        Value::Map(map) => {
            for (k, v) in map.iter() {
                let Some(name) = k.scalar_text() else {
                    continue;
                };
                let p = format!("{path}.{name}");
                let mut attach = ServiceNetwork::default();
                if let Some(m) = (!v.is_null()).then(|| ctx.map(v, &p)).flatten() {
                    ctx.check_keys(m, NETWORK_ATTACH_KEYS, &p);
                    if let Some(a) = m.get("aliases") {
                        attach.aliases = ctx.strings(a, &format!("{p}.aliases"), false);
                    }
                    for (field, _) in m.iter() {
                        if let Some(f) = field
                            .as_str()
                            .filter(|f| *f != "aliases" && !f.starts_with("x-"))
                        {
                            ctx.warn(
                                &field.span,
                                format!(
                                    "`{p}.{f}` is not applied to Swarm services and is ignored"
                                ),
                            );
                        }
                    }
                }
                out.insert(name, attach);
            }
        }
        _ => ctx.type_error(
            node,
            path,
            "a list or a mapping",
            "write `- frontend` items, or `frontend: {aliases: [...]}`",
        ),
    }
    out
}

/// Secret and config references, short (`- db_password`) or long syntax.
fn file_refs(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Vec<FileReference> {
    let items = ctx.list(
        node,
        path,
        "write `- name` items or `- source: name` mappings",
    );
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &item.value {
            Value::String { text, .. } => out.push(FileReference {
                source: text.as_str().to_owned(),
                target: None,
                uid: None,
                gid: None,
                mode: None,
            }),
            Value::Map(map) => {
                ctx.check_keys(map, FILE_REF_KEYS, &p);
                let Some(source) = map.get("source") else {
                    ctx.error(
                        InputError::new(format!("`{p}` has no `source`"), item.span.clone())
                            .with_label("source missing")
                            .with_help("name the secret or config: `source: db_password`"),
                    );
                    continue;
                };
                let Some(source) = ctx.required_string(source, &format!("{p}.source")) else {
                    continue;
                };
                let mut r = FileReference {
                    source,
                    target: None,
                    uid: None,
                    gid: None,
                    mode: None,
                };
                for (k, v) in map.iter() {
                    let f = format!("{p}.{}", k.as_str().unwrap_or_default());
                    match k.as_str() {
                        Some("target") => r.target = ctx.string(v, &f),
                        Some("uid") => r.uid = ctx.string(v, &f),
                        Some("gid") => r.gid = ctx.string(v, &f),
                        Some("mode") => r.mode = file_mode(ctx, v, &f),
                        _ => {}
                    }
                }
                out.push(r);
            }
            _ => ctx.type_error(
                item,
                &p,
                "a name or a mapping",
                "write `- name` or `- source: name`",
            ),
        }
    }
    out
}

/// File modes are octal: `0440` (YAML 1.1 octal, as Compose reads it), `"0440"` or `0o440`.
fn file_mode(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<u32> {
    let raw = node
        .span
        .file
        .text
        .get(node.span.range())
        .unwrap_or_default();
    let parsed = match &node.value {
        Value::Int(i) => {
            if raw.len() > 1 && raw.starts_with('0') && raw.bytes().all(|b| b.is_ascii_digit()) {
                u32::from_str_radix(raw, 8).ok()
            } else {
                u32::try_from(*i).ok()
            }
        }
        Value::String { text, .. } => {
            let t = text.trim_start_matches("0o");
            u32::from_str_radix(t, 8).ok()
        }
        _ => None,
    };
    if parsed.is_none() {
        ctx.type_error(node, path, "an octal file mode", "write a mode like `0440`");
    }
    parsed
}

fn healthcheck(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Healthcheck> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, HEALTHCHECK_KEYS, path);
    let mut hc = Healthcheck {
        test: Vec::new(),
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        start_interval: None,
    };
    let mut disabled = false;
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        let Some(field) = k.as_str() else { continue };
        child_path(&mut p, path, field);
        match field {
            "test" => {
                hc.test = match &v.value {
                    Value::String { text, .. } => {
                        vec!["CMD-SHELL".to_string(), text.as_str().to_owned()]
                    }
                    Value::Seq(_) => ctx.strings(v, &p, false),
                    _ => {
                        ctx.type_error(v, &p, "a string or a list", "write `test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]` or a shell command string");
                        Vec::new()
                    }
                };
                if let Some(first) = hc.test.first()
                    && !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE")
                {
                    ctx.error(
                        InputError::new(
                            format!("`{p}` must start with `CMD`, `CMD-SHELL` or `NONE`, found `{first}`"),
                            v.span.clone(),
                        )
                        .with_label("unknown test form")
                        .with_help("write `[\"CMD\", \"prog\", \"arg\"]`, `[\"CMD-SHELL\", \"cmd\"]`, or a plain string for a shell command"),
                    );
                }
            }
            "interval" => hc.interval = ctx.duration(v, &p),
            "timeout" => hc.timeout = ctx.duration(v, &p),
            "start_period" => hc.start_period = ctx.duration(v, &p),
            "start_interval" => hc.start_interval = ctx.duration(v, &p),
            "retries" => hc.retries = ctx.uint(v, &p),
            "disable" => disabled = ctx.bool(v, &p).unwrap_or(false),
            _ => {}
        }
    }
    if disabled {
        if let Some(test) = map.get("test")
            && hc.test.first().map(String::as_str) != Some("NONE")
        {
            ctx.error(
                InputError::new(
                    format!("`{path}` sets both `disable: true` and a `test`"),
                    test.span.clone(),
                )
                .with_label("conflicts with disable: true")
                .with_help("remove `test` to disable the healthcheck, or remove `disable`"),
            );
        }
        hc.test = vec!["NONE".to_string()];
    }
    Some(hc)
}

fn extra_hosts(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Vec<String> {
    match &node.value {
        Value::Map(map) => map
            .iter()
            .flat_map(|(k, v)| {
                let host = k.scalar_text().unwrap_or_default();
                let ips = match &v.value {
                    Value::Seq(_) => ctx.strings(v, path, false),
                    _ => ctx.string(v, path).into_iter().collect(),
                };
                ips.into_iter()
                    .map(move |ip| format!("{host}:{ip}"))
                    .collect::<Vec<_>>()
            })
            .collect(),
        // Compose also accepts `host=ip`; Docker wants `host:ip`.
        _ => ctx
            .strings(node, path, false)
            .into_iter()
            .map(|h| match h.split_once('=') {
                Some((host, ip)) => format!("{host}:{ip}"),
                None => h,
            })
            .collect(),
    }
}

const DEPENDS_ON_KEYS: &[&str] = &["condition", "required", "restart"];
const DEPENDS_ON_CONDITIONS: &[&str] = &[
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];

/// `depends_on: [db]` or `depends_on: {db: {condition: service_healthy}}`. shipctl gates a
/// dependency healthy whatever the condition says: a deploy has no "started" without health.
/// Whether each name is a service of the file is checked once every service is read.
fn depends_on(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Vec<String> {
    match &node.value {
        Value::Map(map) => {
            let mut names = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let Some(name) = k.scalar_text() else {
                    continue;
                };
                let item = format!("{path}.{name}");
                if let Some(options) = ctx.map(v, &item) {
                    ctx.check_keys(options, DEPENDS_ON_KEYS, &item);
                    if let Some(c) = options.get("condition")
                        && let Some(condition) = ctx.string(c, &format!("{item}.condition"))
                        && !DEPENDS_ON_CONDITIONS.contains(&condition.as_str())
                    {
                        ctx.error(
                            InputError::new(
                                format!("unknown `depends_on` condition `{condition}`"),
                                c.span.clone(),
                            )
                            .with_label("unknown condition")
                            .with_help(format!("use one of: {}", DEPENDS_ON_CONDITIONS.join(", "))),
                        );
                    }
                }
                names.push(name.to_string());
            }
            names
        }
        _ => ctx.strings(node, path, false),
    }
}

fn logging(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Logging> {
    if node.is_null() {
        return None;
    }
    let map = ctx.map(node, path)?;
    ctx.check_keys(map, LOGGING_KEYS, path);
    let driver = map
        .get("driver")
        .and_then(|d| ctx.string(d, &format!("{path}.driver")));
    let options = map
        .get("options")
        .map(|o| ctx.labels(o, &format!("{path}.options")))
        .unwrap_or_default();
    Some(Logging { driver, options })
}

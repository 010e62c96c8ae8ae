//! The loader: files -> merged tree -> [`ComposeProject`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;

use super::convert::Ctx;
use super::files::{Files, span_key};
use super::model::{ComposeProject, MountKind, Service};
use super::paths::{Base, absolute, display_path};
use super::{LoadOptions, dotenv, extends, merge, service, toplevel, volumes};
use crate::error::{Error, InputError};
use crate::yaml::{Mapping, Node, SourceFile, Span, Value};

const TOP_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models",
];

/// Default file names, in compose-go's order of preference.
const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const DEFAULT_OVERRIDES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The compose files to use when none is given, as `docker compose` finds them: the
/// `COMPOSE_FILE` list (split on `COMPOSE_PATH_SEPARATOR`, default `:`) from the environment or
/// from `dir/.env`, else the first default file name in `dir` or its nearest parent that has
/// one, plus its override file.
pub fn discover(dir: &Path, environment: &HashMap<String, String>) -> Option<Vec<PathBuf>> {
    let from_dotenv = |name: &str| -> Option<String> {
        let text = std::fs::read_to_string(dir.join(".env")).ok()?;
        let file = SourceFile::new(".env", text);
        let vars = dotenv::parse(&file, &|n: &str| environment.get(n).cloned()).ok()?;
        vars.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    };
    let variable = |name: &str| environment.get(name).cloned().or_else(|| from_dotenv(name));
    if let Some(list) = variable("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let separator = variable("COMPOSE_PATH_SEPARATOR").filter(|s| !s.is_empty());
        let separator = separator.as_deref().unwrap_or(":");
        return Some(
            list.split(separator)
                .filter(|f| !f.is_empty())
                .map(|f| dir.join(f))
                .collect(),
        );
    }
    let found = |d: &Path| -> Option<Vec<PathBuf>> {
        let first = DEFAULT_FILES
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.is_file())?;
        let mut files = vec![first];
        if let Some(over) = DEFAULT_OVERRIDES
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.is_file())
        {
            files.push(over);
        }
        Some(files)
    };
    // Paths stay as given when found in `dir` itself; parents are walked from its absolute form.
    if let Some(files) = found(dir) {
        return Some(files);
    }
    let absolute = absolute(dir);
    let mut current = absolute.parent();
    while let Some(d) = current {
        if let Some(files) = found(d) {
            return Some(files);
        }
        current = d.parent();
    }
    None
}

/// Loads, merges and validates the compose files of `options`.
pub fn load(options: &LoadOptions) -> Result<ComposeProject, Error> {
    let Some(first) = options.files.first() else {
        return Err(Error::usage(
            "no compose file to load",
            "pass one with `-f compose.yaml`, or run in a directory that has a compose.yaml",
        ));
    };
    let first_dir = absolute(first)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dotenv_vars = read_dotenv(options, &first_dir)?;
    let lookup = |name: &str| -> Option<String> {
        options
            .overrides
            .get(name)
            .or_else(|| options.environment.get(name))
            .or_else(|| dotenv_vars.get(name))
            .cloned()
    };
    let mut files = Files::new(&lookup, options.environment.get("HOME").cloned());
    let mut merged: Option<Node> = None;
    // Problems of every file are reported together.
    let mut errors = Vec::new();
    for path in &options.files {
        let resolved = files
            .read(path, None)
            .and_then(|doc| extends::resolve(&mut files, Rc::new(doc), &absolute(path)))
            .and_then(|doc| includes(&mut files, doc, path, &mut vec![absolute(path)]));
        match resolved {
            Ok(resolved) => {
                merged = Some(match merged {
                    None => resolved,
                    Some(base) => merge::merge(base, resolved, ""),
                });
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(to_error(errors));
    }
    let root = merged
        .unwrap_or_else(|| Node::new(Value::Map(Mapping::default()), Span::synthetic("<none>")));
    let mut ctx = Ctx::new(&lookup);
    for (name, span) in &files.unset {
        ctx.warn(
            span,
            format!("the variable `{name}` is not set, using an empty string"),
        );
    }
    let mut project = project(&mut ctx, &root, &files.image_variables);
    if !ctx.read.errors.is_empty() {
        return Err(to_error(ctx.read.errors));
    }
    project.warnings = ctx.read.warnings;
    Ok(project)
}

/// The variables of `--env-file`, else of `.env` in the project directory (or next to the first
/// compose file), as the loader sees them: for callers that need e.g. `COMPOSE_PROJECT_NAME`
/// from `.env` as `docker compose` would read it.
pub fn project_env(options: &LoadOptions) -> Result<HashMap<String, String>, Error> {
    let first_dir = options
        .files
        .first()
        .map(|f| {
            absolute(f)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
        .unwrap_or_default();
    read_dotenv(options, &first_dir)
}

/// Variables of `--env-file`, else of `.env` in the project directory (or next to the first
/// file). A missing `.env` is fine; a missing `--env-file` is not.
fn read_dotenv(options: &LoadOptions, first_dir: &Path) -> Result<HashMap<String, String>, Error> {
    let (path, required) = match &options.env_file {
        Some(p) => (p.clone(), true),
        None => (
            options
                .project_dir
                .as_deref()
                .unwrap_or(first_dir)
                .join(".env"),
            false,
        ),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HashMap::new());
        }
        Err(e) => {
            return Err(InputError::plain(format!(
                "cannot read env file `{}`: {e}",
                display_path(&path)
            ))
            .with_help("check the path given with --env-file")
            .into());
        }
    };
    // `.env` values may refer to the environment (and to shipctl's own variables).
    let lookup = |name: &str| {
        options
            .overrides
            .get(name)
            .or_else(|| options.environment.get(name))
            .cloned()
    };
    let vars = dotenv::parse(&SourceFile::new(display_path(&path), text), &lookup)?;
    Ok(vars.into_iter().collect())
}

fn to_error(mut errors: Vec<InputError>) -> Error {
    if errors.len() == 1 {
        Error::Input(Box::new(errors.remove(0)))
    } else {
        Error::Inputs(errors)
    }
}

/// `include:` — other compose files whose services and resources join the project. Unlike
/// `-f` files they do not override anything: a name defined twice is an error. Their relative
/// paths are relative to themselves.
fn includes(
    files: &mut Files<'_>,
    mut root: Node,
    path: &Path,
    chain: &mut Vec<PathBuf>,
) -> Result<Node, Vec<InputError>> {
    let Some((_, include)) = root.as_map_mut().and_then(|m| m.remove("include")) else {
        return Ok(root);
    };
    let dir = absolute(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let home = files.home.clone();
    let base = Base {
        dir: &dir,
        home: home.as_deref(),
    };
    let help = "write `include: [other/compose.yaml]` or `include: [{path: other/compose.yaml}]`";
    let items: Vec<&Node> = match &include.value {
        Value::Seq(items) => items.iter().collect(),
        Value::String { .. } => vec![&include],
        _ => {
            return Err(vec![
                InputError::new(
                    format!("`include` must be a list, found {}", include.kind()),
                    include.span.clone(),
                )
                .with_label("expected a list")
                .with_help(help),
            ]);
        }
    };
    let mut paths: Vec<&Node> = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match &item.value {
            Value::String { .. } => paths.push(item),
            Value::Map(m) => match m.get("path").map(|p| &p.value) {
                Some(Value::String { .. }) => paths.extend(m.get("path")),
                Some(Value::Seq(list)) => paths.extend(list.iter()),
                _ => errors.push(
                    InputError::new("an `include` entry needs a `path`", item.span.clone())
                        .with_label("no path")
                        .with_help(help),
                ),
            },
            _ => errors.push(
                InputError::new(
                    format!(
                        "an `include` entry must be a path or a mapping, found {}",
                        item.kind()
                    ),
                    item.span.clone(),
                )
                .with_label("not a path")
                .with_help(help),
            ),
        }
    }
    for p in paths {
        let Some(text) = p.as_str() else {
            errors.push(
                InputError::new("an included path must be a string", p.span.clone())
                    .with_help(help),
            );
            continue;
        };
        let included = PathBuf::from(base.resolve(text));
        if chain.contains(&included) {
            errors.push(
                InputError::new(
                    format!("`{}` includes itself", display_path(&included)),
                    p.span.clone(),
                )
                .with_label("include cycle")
                .with_help("remove this include; a file cannot include itself, directly or not"),
            );
            continue;
        }
        chain.push(included.clone());
        let doc = files
            .read(&included, Some(&p.span))
            .and_then(|doc| extends::resolve(files, Rc::new(doc), &included))
            .and_then(|doc| includes(files, doc, &included, chain));
        chain.pop();
        match doc {
            Ok(doc) => add_included(&mut root, doc, &included, &mut errors),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(root)
    } else {
        Err(errors)
    }
}

/// Adds the services and resources of an included file; a name already defined is an error.
fn add_included(root: &mut Node, doc: Node, from: &Path, errors: &mut Vec<InputError>) {
    let (Some(root), Value::Map(doc)) = (root.as_map_mut(), doc.value) else {
        return;
    };
    for (key, section) in doc.entries {
        let Some(name) = key.as_str().map(str::to_string) else {
            continue;
        };
        if !matches!(
            name.as_str(),
            "services" | "networks" | "volumes" | "secrets" | "configs"
        ) {
            continue;
        }
        let Value::Map(items) = section.value else {
            continue;
        };
        if root.get(&name).is_none() {
            root.insert(key, Node::new(Value::Map(Mapping::default()), section.span));
        }
        let Some(target) = root.get_mut(&name).and_then(Node::as_map_mut) else {
            continue;
        };
        for (k, v) in items.entries {
            let item = k.scalar_text().unwrap_or_default();
            if let Some((existing, _)) = target.get_entry(&item) {
                errors.push(
                    InputError::new(
                        format!(
                            "`{name}.{item}` is defined here and in the included `{}`",
                            display_path(from)
                        ),
                        existing.span.clone(),
                    )
                    .with_label("defined twice")
                    .with_help("rename one of them; included files cannot override a definition"),
                );
                continue;
            }
            target.entries.push((k, v));
        }
    }
}

/// The merged tree -> the model, with every error collected in `ctx`.
fn project(
    ctx: &mut Ctx<'_>,
    root: &Node,
    image_variables: &HashMap<(usize, usize), Vec<String>>,
) -> ComposeProject {
    let mut project = ComposeProject::default();
    let Some(map) = root.as_map() else {
        return project;
    };
    ctx.check_keys(map, TOP_KEYS, "");
    if let Some(name) = map.get("name") {
        project.name = ctx.string(name, "name");
        if let Some(n) = &project.name
            && !valid_project_name(n)
        {
            ctx.error(
                InputError::new(format!("invalid project name `{n}`"), name.span.clone())
                    .with_label("not a valid project name")
                    .with_help("use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
            );
        }
    }
    if let Some(v) = map.get("networks") {
        project.networks = toplevel::networks(ctx, v);
    }
    if let Some(v) = map.get("volumes") {
        project.volumes = toplevel::volumes(ctx, v);
    }
    if let Some(v) = map.get("secrets") {
        project.secrets = toplevel::secrets(ctx, v, "secrets");
    }
    if let Some(v) = map.get("configs") {
        project.configs = toplevel::secrets(ctx, v, "configs");
    }
    let services = map.get("services").filter(|s| !s.is_null());
    let Some(services_map) = services.and_then(|s| ctx.map(s, "services")) else {
        if services.is_none() {
            ctx.error(
                InputError::new("no services defined", root.span.clone())
                    .with_label("no `services:`")
                    .with_help("add a `services:` section with at least one service"),
            );
        }
        return project;
    };
    if services_map.is_empty() {
        ctx.error(
            InputError::new("no services defined", root.span.clone())
                .with_label("`services:` is empty")
                .with_help("add at least one service under `services:`"),
        );
    }
    // Each service converts on its own; a big file's are shared between the cores, each chunk
    // of services with its own errors and warnings, put back in the order of the file.
    let lookup = ctx.lookup;
    let chunks = crate::parallel::map_chunks(&services_map.entries, |_, chunk| {
        let mut ctx = Ctx::new(lookup);
        let mut services = IndexMap::with_capacity(chunk.len());
        services.extend(chunk.iter().filter_map(|(key, node)| {
            convert_service(&mut ctx, &project, services_map, image_variables, key, node)
        }));
        (ctx.read, services)
    });
    let mut converted = Vec::with_capacity(chunks.len());
    for (read, services) in chunks {
        ctx.read.errors.extend(read.errors);
        ctx.read.warnings.extend(read.warnings);
        converted.push(services);
    }
    project.services = crate::parallel::concat(converted);
    check_dependency_cycles(ctx, &project, services_map);
    project
}

/// The service `key: node` of `services:`, named and checked against the rest of the file;
/// `None` when it is not valid enough to convert (its errors are in `ctx`).
fn convert_service(
    ctx: &mut Ctx<'_>,
    project: &ComposeProject,
    services_map: &Mapping,
    image_variables: &HashMap<(usize, usize), Vec<String>>,
    key: &Node,
    node: &Node,
) -> Option<(String, Service)> {
    let name = key.scalar_text()?;
    if !valid_service_name(&name) {
        ctx.error(
            InputError::new(format!("invalid service name `{name}`"), key.span.clone())
                .with_label("not a valid service name")
                .with_help("use letters, digits, `.`, `_` and `-`"),
        );
        return None;
    }
    let mut svc = service::convert(ctx, &name, key, node)?;
    if let Some(image) = node.as_map().and_then(|m| m.get("image"))
        && let Some(vars) = image_variables.get(&span_key(&image.span))
    {
        svc.image_variables = vars.clone();
    }
    check_references(ctx, project, &name, node);
    svc.depends_on = check_dependencies(ctx, services_map, &name, node, svc.depends_on);
    Some((name, svc))
}

/// Each `depends_on` name must be a service of the files; an optional one
/// (`required: false`) that is missing is dropped, as Compose does.
fn check_dependencies(
    ctx: &mut Ctx<'_>,
    services: &Mapping,
    service: &str,
    node: &Node,
    names: Vec<String>,
) -> Vec<String> {
    let Some(entries) = node.as_map().and_then(|m| m.get("depends_on")) else {
        return names;
    };
    let entry = |name: &str| -> Option<&Node> {
        match &entries.value {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some(name))
                .map(|(k, v)| if v.is_null() { k } else { v }),
            Value::Seq(items) => items.iter().find(|i| i.as_str() == Some(name)),
            _ => Some(entries),
        }
    };
    let mut kept = Vec::with_capacity(names.len());
    for name in names {
        let defined = services
            .iter()
            .any(|(k, _)| k.scalar_text().as_deref() == Some(name.as_str()));
        if defined && name != service {
            kept.push(name);
            continue;
        }
        let at = entry(&name).unwrap_or(entries);
        let optional = at
            .as_map()
            .and_then(|m| m.get("required"))
            .is_some_and(|r| matches!(r.value, Value::Bool(false)) || r.as_str() == Some("false"));
        if optional && name != service {
            continue;
        }
        let (message, label, help) = if name == service {
            (
                format!("service `{service}` depends on itself"),
                "names its own service",
                "remove it from `depends_on`".to_string(),
            )
        } else {
            (
                format!("service `{service}` depends on `{name}`, which is not defined"),
                "unknown service",
                "name a service of the compose files, or add `required: false` to it".to_string(),
            )
        };
        ctx.error(
            InputError::new(message, at.span.clone())
                .with_label(label)
                .with_help(help),
        );
    }
    kept
}

/// `depends_on` must not go round: a release could never gate such services in order.
fn check_dependency_cycles(ctx: &mut Ctx<'_>, project: &ComposeProject, services: &Mapping) {
    let Some(cycle) = super::dependencies::cycle(&project.services) else {
        return;
    };
    let first = &cycle[0];
    let span = services
        .iter()
        .find(|(k, _)| k.scalar_text().as_deref() == Some(first.as_str()))
        .and_then(|(_, v)| v.as_map().and_then(|m| m.get("depends_on")))
        .map(|n| n.span.clone());
    let Some(span) = span else { return };
    ctx.error(
        InputError::new(
            format!("services depend on each other: {}", cycle.join(" -> ")),
            span,
        )
        .with_label("part of a dependency cycle")
        .with_help("remove one of these `depends_on` entries so that one service can start first"),
    );
}

/// Networks, volumes, secrets and configs that a service uses must be declared at the top.
fn check_references(ctx: &mut Ctx<'_>, project: &ComposeProject, service: &str, node: &Node) {
    let Some(map) = node.as_map() else { return };
    let mut seen = HashSet::new();
    let mut report = |ctx: &mut Ctx<'_>, kind: &str, section: &str, name: &str, span: &Span| {
        if !seen.insert((kind.to_string(), name.to_string())) {
            return;
        }
        ctx.error(
            InputError::new(
                format!("service `{service}` uses {kind} `{name}`, which is not defined"),
                span.clone(),
            )
            .with_label(format!("unknown {kind}"))
            .with_help(format!(
                "declare it under the top-level `{section}:` (with `external: true` if it already exists in the Swarm)"
            )),
        );
    };
    if let Some(networks) = map.get("networks") {
        let names: Vec<&Node> = match &networks.value {
            Value::Map(m) => m.iter().map(|(k, _)| k).collect(),
            Value::Seq(items) => items.iter().collect(),
            _ => Vec::new(),
        };
        for n in names {
            if let Some(name) = n.as_str()
                && name != "default"
                && !project.networks.contains_key(name)
            {
                report(ctx, "network", "networks", name, &n.span);
            }
        }
    }
    for (field, kind, declared) in [
        ("secrets", "secret", &project.secrets),
        ("configs", "config", &project.configs),
    ] {
        for item in map.get(field).and_then(Node::as_seq).unwrap_or_default() {
            let source = match &item.value {
                Value::Map(m) => m.get("source"),
                _ => Some(item),
            };
            if let Some(s) = source
                && let Some(name) = s.as_str()
                && !declared.contains_key(name)
            {
                report(ctx, kind, field, name, &s.span);
            }
        }
    }
    for item in map
        .get("volumes")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        let (source, kind) = match &item.value {
            Value::String { text, .. } => match volumes::split_short(text) {
                Ok(v) => (
                    v.source.map(str::to_string),
                    if v.source.is_some_and(volumes::is_path) {
                        MountKind::Bind
                    } else {
                        MountKind::Volume
                    },
                ),
                Err(_) => continue,
            },
            Value::Map(m) => (
                m.get("source").and_then(Node::as_str).map(str::to_string),
                match m.get("type").and_then(Node::as_str) {
                    None | Some("volume") => MountKind::Volume,
                    _ => MountKind::Bind,
                },
            ),
            _ => continue,
        };
        if kind == MountKind::Volume
            && let Some(name) = source.filter(|s| !s.is_empty())
            && !project.volumes.contains_key(&name)
        {
            report(ctx, "volume", "volumes", &name, &item.span);
        }
    }
}

fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

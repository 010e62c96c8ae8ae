//! `shipctl init`: a commented `shipctl.yaml` written from the compose files. The strategy of
//! each service is the one the planner would pick, for the planner's own reasons; the health
//! gate follows each service's healthcheck; the keys are those every other command uses.

use std::collections::HashMap;
use std::fmt::Write;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Settings;
use super::inputs::{compose_files, project_and_source, spec_path};
use crate::compose::model::{Healthcheck, Service};
use crate::compose::{self, ComposeProject, LoadOptions};
use crate::error::Error;
use crate::plan::in_place_reasons;
use crate::plan::logical::logical_services;
use crate::spec::Spec;
use crate::spec::duration::format as duration;
use crate::spec::model::{Health, KeyTemplates};

/// What `init` wrote, for the command's closing lines.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    /// Each service and its strategy, in the compose file's order.
    pub services: Strategies,
}

/// Reads the compose files like every other command (`-f`, `COMPOSE_FILE`, the default names;
/// `-p`, `COMPOSE_PROJECT_NAME`, `name:`, the directory) and writes the spec to `--spec`, else
/// over the spec the other commands would read, else `shipctl.yaml` beside the first compose
/// file. An existing file is replaced only with `force`.
pub fn init(settings: &Settings, force: bool) -> Result<Written, Error> {
    let files = compose_files(settings)?;
    let compose = compose::load(&LoadOptions {
        files: files.clone(),
        env_file: settings.env_file.clone(),
        environment: settings.env.clone(),
        overrides: HashMap::new(),
        project_dir: None,
    })?;
    // The spec being replaced does not name the project: it is what init writes.
    let (project, source) = project_and_source(settings, &Spec::default(), &compose, &files)?;
    let path = settings
        .spec
        .clone()
        .or_else(|| spec_path(settings, files.first().map(PathBuf::as_path)))
        .unwrap_or_else(|| {
            files
                .first()
                .and_then(|f| f.parent())
                .map_or_else(|| settings.cwd.clone(), Path::to_path_buf)
                .join("shipctl.yaml")
        });
    let path = settings.cwd.join(path);
    let names: Vec<String> = files.iter().map(|f| shown(f, &settings.cwd)).collect();
    let (text, services) = render(&project, source, &names, &compose)?;
    write(&path, &text, force)?;
    Ok(Written { path, services })
}

fn shown(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

fn write(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // Refused atomically: a file that appears meanwhile is not overwritten either.
        options.create_new(true);
    }
    let file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::usage(
                format!("{} already exists; nothing was written", path.display()),
                "keep it, or run `shipctl init --force` to replace it (or --spec FILE to write elsewhere)",
            )
        } else {
            Error::usage(
                format!("cannot write {}: {e}", path.display()),
                "give --spec a path in a directory that exists and can be written",
            )
        }
    })?;
    let mut file = file;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            Error::usage(
                format!("cannot write {}: {e}", path.display()),
                "check the free space and the permissions of its directory",
            )
        })
}

/// Each service and the strategy written for it.
type Strategies = Vec<(String, &'static str)>;

/// The spec's text and each service's strategy. Pure, for snapshots.
pub fn render(
    project: &str,
    project_source: &str,
    files: &[String],
    compose: &ComposeProject,
) -> Result<(String, Strategies), Error> {
    let defaults = Spec::default();
    let zones = &defaults.zones;
    let logical = logical_services(compose, zones)?;
    let keys = KeyTemplates::default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# shipctl.yaml: how shipctl deploys the services of {}.",
        files.join(", ")
    );
    out.push_str(
        "# Written by `shipctl init`; every key is optional and can be changed. See what a deploy\n\
         # would do with `shipctl plan`; every field is described in the guide (\"The spec file\").\n\
         # Durations are written like Swarm's: 500ms, 30s, 1m30s.\n\n",
    );
    let _ = writeln!(
        out,
        "# The stack, from {project_source}. Written here so that a checkout in another\n\
         # directory deploys the same stack; -p/--project and COMPOSE_PROJECT_NAME still win.\n\
         project: {}\n",
        quoted(project)
    );
    out.push_str(
        "kv:\n\
         \x20 # Where the routing keys live: swarm:// keeps them as labels on the Swarm itself (nothing\n\
         \x20 # else to run); consul://HOST:PORT or etcd://HOST:PORT where your router reads them.\n\
         \x20 url: swarm://\n\
         \x20 # Keys under the project, so two stacks with the same service name never share one.\n\
         \x20 # `layout: classic` gives the names of the classic consul-template setup\n\
         \x20 # (web-active-zone) instead. The keys of this project; a router reads the first three:\n",
    );
    let width = logical.keys().map(String::len).max().unwrap_or(0) + 1;
    for name in logical.keys() {
        let k = keys.for_service(project, name);
        let _ = writeln!(
            out,
            "  #   {:width$} {}  {}  {}",
            format!("{name}:"),
            k.active_zone,
            k.active_version,
            k.traffic
        );
    }
    let first = logical.keys().next().map_or("web", String::as_str);
    let own = keys.for_service(project, first);
    let _ = writeln!(
        out,
        "  # shipctl's own keys, for {first}: {}, {},\n  #   {}, {}, {}.\n  layout: project\n",
        own.lock, own.history, own.progress, own.owner, own.router
    );
    out.push_str(
        "# What every service gets unless it says otherwise below.\n\
         defaults:\n\
         \x20 # Between the switch and scaling the old zone down: requests in flight finish.\n\
         \x20 drain: 10s\n\
         \x20 # A failed health gate: ask on a terminal, put the old version back elsewhere (CI).\n\
         \x20 # on_failure: rollback\n\n\
         services:\n",
    );
    let mut strategies = Vec::new();
    for (name, service) in &logical {
        let def = service.definition(zones, &zones[0]);
        let why = in_place_reasons(def);
        let strategy = if why.is_empty() {
            "blue-green"
        } else {
            "in-place"
        };
        strategies.push((name.clone(), strategy));
        let _ = writeln!(out, "  {}:", quoted(name));
        if why.is_empty() {
            let _ = writeln!(
                out,
                "    # blue-green: nothing ties {name} to a single instance (no named volume mounted\n\
                 \x20   # read-write, not `mode: global`, no routing-mesh port), so the new version starts\n\
                 \x20   # in the other zone, gets traffic once healthy, and going back is a key flip.\n\
                 \x20   # `strategy: canary` (with `canary: {{new: 1}}`) would try it on one task first."
            );
        } else {
            out.push_str(
                "    # in-place: one Swarm service, updated by Swarm and gated on health, because\n",
            );
            for reason in &why {
                let _ = writeln!(out, "    # - {reason}");
            }
        }
        let _ = writeln!(out, "    strategy: {strategy}");
        out.push_str(&health(name, def));
    }
    if logical.is_empty() {
        out.push_str("  {}\n");
    }
    Ok((out, strategies))
}

/// The health gate of one service, from its healthcheck.
fn health(name: &str, def: &Service) -> String {
    let defaults = Health::default();
    let Some(check) = def
        .healthcheck
        .as_ref()
        .filter(|h| h.test.first().is_some_and(|t| t != "NONE"))
    else {
        return format!(
            "    # {name} has no healthcheck in the compose file. Swarm still runs the image's own\n\
             \x20   # HEALTHCHECK if it has one; without either, a task counts as healthy as soon as it\n\
             \x20   # runs: add one (or a `probe:` here) so a broken release never gets traffic.\n\
             \x20   health:\n\
             \x20     timeout: {}\n\
             \x20     min_healthy: {}\n",
            duration(defaults.timeout),
            duration(defaults.min_healthy),
        );
    };
    // Docker's defaults for what the healthcheck leaves out.
    let interval = check.interval.unwrap_or(Duration::from_secs(30));
    let timeout = check.timeout.unwrap_or(Duration::from_secs(30));
    let retries = u32::try_from(check.retries.unwrap_or(3)).unwrap_or(u32::MAX);
    let start_period = check.start_period.unwrap_or_default();
    // How long Docker may take to call a task unhealthy: its start period, then `retries`
    // failed checks in a row.
    let verdict =
        start_period.saturating_add((interval.saturating_add(timeout)).saturating_mul(retries));
    let gate = round_up(verdict.saturating_mul(2)).max(defaults.timeout);
    let progress = round_up(verdict.saturating_add(interval)).max(defaults.progress_deadline);
    let min_healthy = match check.interval {
        Some(i) => i.clamp(Duration::from_secs(1), Duration::from_secs(30)),
        None => defaults.min_healthy,
    };
    let mut out = format!(
        "    # From the healthcheck: interval {}, timeout {}, retries {retries}, start_period {}.\n\
         \x20   # Docker may take {} (start_period + retries x (interval + timeout)) to call a task\n\
         \x20   # unhealthy; the gate allows twice that, and at least {}.\n\
         \x20   health:\n\
         \x20     timeout: {}\n",
        duration(interval),
        duration(timeout),
        duration(start_period),
        duration(verdict),
        duration(defaults.timeout),
        duration(gate),
    );
    let _ = writeln!(
        out,
        "      # {}\n      min_healthy: {}\n      # No progress at all for this long fails the deploy with its cause named.\n      progress_deadline: {}",
        if check.interval.is_some() {
            "Healthy for one more healthcheck interval before the gate passes."
        } else {
            "Healthy this long before the gate passes."
        },
        duration(min_healthy),
        duration(progress),
    );
    if let Some((port, path)) = http_check(check) {
        let _ = writeln!(
            out,
            "      # The healthcheck calls {path} on port {port}; shipctl can check it on every task too:\n      # probe: {{path: {path}, port: {port}}}"
        );
    }
    out
}

/// Whole seconds, rounded up to ten.
fn round_up(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.div_ceil(10).saturating_mul(10))
}

/// The port and path of a healthcheck that asks `http://localhost:PORT/PATH` (wget, curl).
fn http_check(check: &Healthcheck) -> Option<(u16, String)> {
    let text = check.test.join(" ");
    let rest = ["http://127.0.0.1:", "http://localhost:", "http://0.0.0.0:"]
        .iter()
        .find_map(|prefix| text.split_once(prefix).map(|(_, r)| r))?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .unwrap_or(rest.len());
    let target = &rest[..end];
    let (port, path) = match target.split_once('/') {
        Some((port, path)) => (port, format!("/{path}")),
        None => (target, "/".to_string()),
    };
    let port = port.parse().ok()?;
    // Only plain paths: anything YAML would read differently is left to the user.
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
        .then_some((port, path))
}

/// A YAML scalar for a name: plain when it reads back as the same string.
fn quoted(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> Healthcheck {
        Healthcheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }
    }

    #[test]
    fn http_healthchecks_suggest_a_probe() {
        let wget = check(&["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/health"]);
        assert_eq!(http_check(&wget), Some((8080, "/health".into())));
        let curl = check(&["CMD-SHELL", "curl -fs http://localhost:3000 || exit 1"]);
        assert_eq!(http_check(&curl), Some((3000, "/".into())));
        assert_eq!(http_check(&check(&["CMD", "pg_isready"])), None);
        let odd = check(&["CMD-SHELL", "wget http://localhost:80/a?b=c"]);
        assert_eq!(http_check(&odd), None);
    }

    #[test]
    fn names_that_yaml_would_misread_are_quoted() {
        assert_eq!(quoted("web"), "web");
        assert_eq!(quoted("on"), "\"on\"");
        assert_eq!(quoted("1st"), "\"1st\"");
    }

    #[test]
    fn gates_round_up_to_ten_seconds() {
        assert_eq!(
            round_up(Duration::from_millis(34_500)),
            Duration::from_secs(40)
        );
        assert_eq!(round_up(Duration::from_secs(40)), Duration::from_secs(40));
    }
}

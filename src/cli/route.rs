//! `shipctl route`: keep a router config in line with the routing keys and zone tasks;
//! `shipctl route deploy`: run that router as a Swarm service.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::args::{PortMode, RouterMode, RouterProxy, ViaArg};
use super::{RouteAction, RouteArgs, RouteDeployArgs};
use crate::error::{Error, InputError};
use crate::plan::logical::logical_services;
use crate::ports::{Kv, valid_router_id};
use crate::route::context::Via;
use crate::route::runner::StatsOptions;
use crate::route::service::{ApiAccess, Mode, Proxy, Publish, RouterService};
use crate::route::{self, Renderer, RouteError, RouteOptions, RouteTarget, TemplateSource};
use crate::session::{self, Inputs, Session, Settings};
use crate::swarm::router::{Deployed, deploy_service, networks_of};
use crate::ui::Printer;
use crate::ui::route_lines::sink_for;

/// Heartbeats faster than this would load the store for nothing.
const MIN_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(100);

pub fn run(settings: &Settings, args: &RouteArgs, printer: &Printer) -> Result<(), Error> {
    if let Some(RouteAction::Deploy(deploy_args)) = &args.action {
        return deploy(settings, deploy_args, printer);
    }
    // With `--targets-json` (a router that `route deploy` started) there are no files to read.
    let resolved = match &args.targets_json {
        Some(json) => from_json(settings, json)?,
        None => {
            let inputs = session::load_inputs(settings, None)?;
            let targets = targets(&inputs, &args.services, args.port)?;
            Resolved {
                project: inputs.project.clone(),
                kv_url: inputs.spec.kv.url.clone(),
                targets,
                inputs: Some(inputs),
            }
        }
    };
    let targets = &resolved.targets;
    let renderer = Renderer::load(&TemplateSource::parse(&args.template)).map_err(|e| {
        Error::from(InputError::plain(e.message).with_help(
            "fix the template; its context is described in the README (`shipctl route`)",
        ))
    })?;
    let options = options(&resolved.project, args)?;
    let sink = sink_for(printer);
    session::block_on(async {
        let session = Session::open(settings, &resolved.kv_url).await?;
        let services: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
        // `route deploy` checked the owner of the keys before it started the routers.
        if let Some(inputs) = &resolved.inputs {
            session
                .check_owner(&inputs.spec, &inputs.project, &services)
                .await?;
        }
        let Session { cluster, kv, .. } = session;
        let cancel = session::cancel_on_signals();
        let kv: Arc<dyn Kv> = Arc::from(kv);
        route::run(
            kv,
            &cluster,
            targets,
            &renderer,
            &options,
            sink.as_ref(),
            cancel,
        )
        .await
        .map_err(route_error)
    })
}

/// What a router follows, from the files or from `--targets-json`.
struct Resolved {
    project: String,
    kv_url: String,
    targets: Vec<RouteTarget>,
    inputs: Option<Inputs>,
}

fn from_json(settings: &Settings, json: &str) -> Result<Resolved, Error> {
    let project = settings.project.clone().ok_or_else(|| {
        Error::usage(
            "--targets-json needs --project",
            "route deploy passes both; give -p PROJECT",
        )
    })?;
    let targets: Vec<RouteTarget> = serde_json::from_str(json).map_err(|e| {
        Error::usage(
            format!("--targets-json is not a list of routed services: {e}"),
            "let `shipctl route deploy` write it, or route from the compose file and spec",
        )
    })?;
    Ok(Resolved {
        project,
        kv_url: "swarm://".to_string(),
        targets,
        inputs: None,
    })
}

/// `shipctl route deploy`: the router service for the stack, created or updated.
fn deploy(settings: &Settings, args: &RouteDeployArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let targets = targets(&inputs, &args.services, args.port)?;
    // Checked here: a value the tasks refuse would only show as a crash loop.
    if duration(&args.heartbeat, "--heartbeat")? < MIN_HEARTBEAT {
        return Err(Error::usage(
            format!("--heartbeat {}: shorter than 100ms", args.heartbeat),
            "give a duration such as 5s (at least 100ms)",
        ));
    }
    duration(&args.interval, "--interval")?;
    let mut env = Vec::new();
    for var in &args.env {
        let Some((k, v)) = var.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(InputError::plain(format!("--env `{var}` is not KEY=VALUE"))
                .with_help("e.g. --env DOCKER_TLS_VERIFY=1")
                .into());
        };
        env.push((k.to_string(), v.to_string()));
    }
    if matches!(args.mode, RouterMode::Replicated) && args.replicas == 0 {
        return Err(Error::usage(
            "--replicas 0 would route nothing",
            "give at least 1, or --mode global",
        ));
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}_router", inputs.project));
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        let services: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
        session
            .check_owner(&inputs.spec, &inputs.project, &services)
            .await?;
        let zone_services: Vec<String> = targets
            .iter()
            .flat_map(|t| t.zones.iter().map(|(_, s)| s.clone()))
            .collect();
        let mut networks = networks_of(&session.cluster, &zone_services)
            .await
            .map_err(session::cluster_error)?;
        if networks.is_empty() {
            return Err(Error::usage(
                format!("no zone service of {} runs yet", services.join(", ")),
                "deploy the services first: the routers join their networks to reach the tasks",
            ));
        }
        networks.extend(args.network.iter().cloned());
        // The tasks reach the store the way this command does unless told otherwise.
        let kv_url = args
            .router_kv
            .clone()
            .or_else(|| settings.kv_url.clone())
            .unwrap_or_else(|| inputs.spec.kv.url.clone());
        let service = router_service(
            args,
            &inputs.project,
            &name,
            kv_url,
            &targets,
            env,
            networks,
        );
        let spec = route::service::service_spec(&service).map_err(|e| Error::Unavailable {
            message: format!("cannot write the routed services as JSON: {e}"),
            help: None,
        })?;
        if args.dry_run {
            let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
            printer.out(&format!("{text}\n"));
            return Ok(());
        }
        let deployed = deploy_service(&session.cluster, spec)
            .await
            .map_err(session::cluster_error)?;
        let verb = match deployed {
            Deployed::Created => "created",
            Deployed::Updated => "updated",
        };
        if printer.is_json() {
            let line = serde_json::json!({
                "event": "router_deployed",
                "service": name,
                "action": verb,
                "image": args.image,
                "routes": services,
            });
            printer.out(&format!("{line}\n"));
        } else {
            printer.err(&format!(
                "router service {name} {verb} ({}), routing {}; see `docker service ps {name}`\n",
                args.image,
                services.join(", ")
            ));
        }
        Ok(())
    })
}

/// The router service that `route deploy` asks for.
fn router_service(
    args: &RouteDeployArgs,
    project: &str,
    name: &str,
    kv_url: String,
    targets: &[RouteTarget],
    env: Vec<(String, String)>,
    networks: Vec<String>,
) -> RouterService {
    RouterService {
        name: name.to_string(),
        project: project.to_string(),
        image: args.image.clone(),
        kv_url,
        targets: targets.to_vec(),
        proxy: match args.proxy {
            RouterProxy::Nginx => Proxy::Nginx,
            RouterProxy::Haproxy => Proxy::Haproxy,
        },
        mode: match args.mode {
            RouterMode::Global => Mode::Global,
            RouterMode::Replicated => Mode::Replicated(args.replicas),
        },
        publish: args
            .publish
            .iter()
            .map(|&published| Publish {
                published,
                host_mode: matches!(args.publish_mode, PortMode::Host),
            })
            .collect(),
        constraints: args.constraint.clone(),
        access: match &args.router_docker_host {
            Some(host) => ApiAccess::Host(host.clone()),
            None => ApiAccess::Socket {
                gid: args.socket_gid,
            },
        },
        env,
        networks,
        heartbeat: args.heartbeat.clone(),
        interval: args.interval.clone(),
    }
}

fn duration(text: &str, flag: &str) -> Result<std::time::Duration, Error> {
    crate::spec::duration::parse(text).map_err(|e| {
        Error::from(
            InputError::plain(format!("{flag} {text}: {e}"))
                .with_help("give a duration such as 250ms or 5s"),
        )
    })
}

fn options(project: &str, args: &RouteArgs) -> Result<RouteOptions, Error> {
    if args.once && args.exec.is_some() {
        return Err(Error::usage(
            "--exec runs the router beside the loop; --once renders and exits",
            "drop one of them",
        ));
    }
    let interval = crate::spec::duration::parse(&args.interval).map_err(|e| {
        Error::from(
            InputError::plain(format!("--interval {}: {e}", args.interval))
                .with_help("give a duration such as 250ms or 1s"),
        )
    })?;
    let mut vars = BTreeMap::new();
    for var in &args.vars {
        let Some((k, v)) = var.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(InputError::plain(format!("--var `{var}` is not KEY=VALUE"))
                .with_help("e.g. --var server_name=shop.example.com")
                .into());
        };
        vars.insert(k.to_string(), v.to_string());
    }
    let config = args.config.clone().ok_or_else(|| {
        Error::from(
            InputError::plain("shipctl route needs --config FILE: where to write the config")
                .with_help("e.g. --config /etc/nginx/conf.d/shipctl.conf"),
        )
    })?;
    let heartbeat = crate::spec::duration::parse(&args.heartbeat)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d < MIN_HEARTBEAT {
                Err("shorter than 100ms".to_string())
            } else {
                Ok(d)
            }
        })
        .map_err(|e| {
            Error::from(
                InputError::plain(format!("--heartbeat {}: {e}", args.heartbeat))
                    .with_help("give a duration such as 5s (at least 100ms)"),
            )
        })?;
    let id = match &args.id {
        Some(id) if valid_router_id(id) => id.clone(),
        Some(id) => {
            return Err(InputError::plain(format!("--id `{id}` cannot name a router"))
                .with_help(
                    "use letters, digits, `.`, `_` and `-` (at most 100), e.g. --id lb1: it ends \
                     the router's key",
                )
                .into());
        }
        None => route::registration::default_id(&route::registration::current_host(), &config),
    };
    let stats = stats_options(args)?;
    if args.haproxy_socket.is_some() && matches!(args.template.as_str(), "nginx" | "caddy") {
        return Err(Error::usage(
            format!(
                "--haproxy-socket is HAProxy's runtime API; --template {} renders for {}",
                args.template,
                router_name(&args.template)
            ),
            "use it with --template haproxy or your own HAProxy template",
        ));
    }
    let caddy_admin = caddy_admin(args)?;
    Ok(RouteOptions {
        caddy_admin,
        haproxy_socket: args.haproxy_socket.clone(),
        stats,
        id,
        heartbeat,
        project: project.to_string(),
        config,
        check: args.check.clone(),
        reload: args.reload.clone(),
        once: args.once,
        interval: interval.max(std::time::Duration::from_millis(50)),
        listen: args.listen.clone(),
        port: args.port.unwrap_or(80),
        vars,
        via: match args.via {
            ViaArg::Auto => Via::Auto,
            ViaArg::Overlay => Via::Overlay,
        },
        exec: args.exec.clone(),
    })
}

fn router_name(template: &str) -> &str {
    match template {
        "nginx" => "nginx",
        "haproxy" => "HAProxy",
        _ => "Caddy",
    }
}

/// `--caddy-admin`, checked here so that a typo exits 2 before anything runs.
fn caddy_admin(args: &RouteArgs) -> Result<Option<String>, Error> {
    let Some(url) = &args.caddy_admin else {
        return Ok(None);
    };
    if matches!(args.template.as_str(), "nginx" | "haproxy") {
        return Err(Error::usage(
            format!(
                "--caddy-admin loads a config into Caddy; --template {} renders for {}",
                args.template,
                router_name(&args.template)
            ),
            "use it with --template caddy or your own Caddy JSON template",
        ));
    }
    route::caddy::admin_listen(url).map_err(|e| {
        Error::from(
            InputError::plain(format!("--caddy-admin {e}"))
                .with_help("e.g. --caddy-admin http://127.0.0.1:2019, Caddy's default"),
        )
    })?;
    Ok(Some(url.trim_end_matches('/').to_string()))
}

/// `--stats-listen` and its companions, checked here so that a typo exits 2 before anything
/// runs.
fn stats_options(args: &RouteArgs) -> Result<Option<StatsOptions>, Error> {
    let Some(listen) = &args.stats_listen else {
        return Ok(None);
    };
    if args.once {
        return Err(Error::usage(
            "--stats-listen counts requests while the router runs; --once renders and exits",
            "drop one of them",
        ));
    }
    if args.template == "caddy" {
        // Caddy 2.6's access log names no upstream, so a request cannot be counted per zone.
        return Err(Error::usage(
            "--stats-listen counts requests from nginx's and HAProxy's log lines; Caddy 2.6 \
             logs no upstream per request",
            "drop --stats-listen, or route through nginx or HAProxy to count per zone",
        ));
    }
    let syslog = args
        .stats_syslog
        .clone()
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    for (flag, value) in [("--stats-listen", listen), ("--stats-syslog", &syslog)] {
        if value.parse::<std::net::SocketAddr>().is_err() {
            return Err(
                InputError::plain(format!("{flag} `{value}` is not IP:PORT"))
                    .with_help("e.g. --stats-listen 127.0.0.1:9180 or 0.0.0.0:9180")
                    .into(),
            );
        }
    }
    if let Some(host) = &args.stats_advertise
        && (host.is_empty() || host.contains(['/', ' ', '@']))
    {
        return Err(
            InputError::plain(format!("--stats-advertise `{host}` is not a host name"))
                .with_help("e.g. --stats-advertise lb1.internal")
                .into(),
        );
    }
    Ok(Some(StatsOptions {
        listen: listen.clone(),
        syslog,
        advertise: args.stats_advertise.clone(),
    }))
}

/// The named services (else all of the compose file) with their keys and zone services.
fn targets(
    inputs: &Inputs,
    names: &[String],
    port: Option<u16>,
) -> Result<Vec<RouteTarget>, Error> {
    let spec = &inputs.spec;
    let services = logical_services(&inputs.compose, &spec.zones)?;
    for name in names {
        if !services.contains_key(name) {
            let known: Vec<&str> = services.keys().map(String::as_str).collect();
            return Err(Error::usage(
                format!("no service `{name}` in the compose file"),
                format!("services: {}", known.join(", ")),
            ));
        }
    }
    Ok(services
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, logical)| {
            let keys = spec.kv.keys.for_service(&inputs.project, name);
            let port = port.unwrap_or_else(|| {
                logical.definitions[0]
                    .ports
                    .first()
                    .map_or(80, |p| p.target)
            });
            RouteTarget {
                service: name.clone(),
                active_zone_key: keys.active_zone,
                active_version_key: keys.active_version,
                traffic_key: keys.traffic,
                router_key: keys.router,
                zones: spec
                    .zones
                    .iter()
                    .map(|z| (z.clone(), spec.zone_service_name(&inputs.project, name, z)))
                    .collect(),
                port,
            }
        })
        .collect())
}

fn route_error(e: RouteError) -> Error {
    match e {
        RouteError::Template(t) => InputError::plain(t.message)
            .with_help("fix the template; nothing was installed")
            .into(),
        RouteError::Check(_) => Error::Unavailable {
            message: e.to_string(),
            help: Some("the installed config was left as it was".into()),
        },
        other => Error::Unavailable {
            message: other.to_string(),
            help: Some("the installed config was left as it was, or is the last good one".into()),
        },
    }
}

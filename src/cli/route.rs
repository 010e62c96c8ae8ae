//! `shipctl route`: keep a router config in line with the routing keys and zone tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::RouteArgs;
use crate::error::{Error, InputError};
use crate::plan::logical::logical_services;
use crate::ports::{Kv, valid_router_id};
use crate::route::{self, Renderer, RouteError, RouteOptions, RouteTarget, TemplateSource};
use crate::session::{self, Inputs, Session, Settings};
use crate::ui::Printer;
use crate::ui::route_lines::sink_for;

/// Heartbeats faster than this would load the store for nothing.
const MIN_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(100);

pub fn run(settings: &Settings, args: &RouteArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let targets = targets(&inputs, args)?;
    let renderer = Renderer::load(&TemplateSource::parse(&args.template)).map_err(|e| {
        Error::from(InputError::plain(e.message).with_help(
            "fix the template; its context is described in the README (`shipctl route`)",
        ))
    })?;
    let options = options(&inputs, args)?;
    let sink = sink_for(printer);
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        let services: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
        session
            .check_owner(&inputs.spec, &inputs.project, &services)
            .await?;
        let Session { cluster, kv, .. } = session;
        let cancel = session::cancel_on_signals();
        let kv: Arc<dyn Kv> = Arc::from(kv);
        route::run(
            kv,
            &cluster,
            &targets,
            &renderer,
            &options,
            sink.as_ref(),
            cancel,
        )
        .await
        .map_err(route_error)
    })
}

fn options(inputs: &Inputs, args: &RouteArgs) -> Result<RouteOptions, Error> {
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
    Ok(RouteOptions {
        id,
        heartbeat,
        project: inputs.project.clone(),
        config,
        check: args.check.clone(),
        reload: args.reload.clone(),
        once: args.once,
        interval: interval.max(std::time::Duration::from_millis(50)),
        listen: args.listen.clone(),
        port: args.port.unwrap_or(80),
        vars,
    })
}

/// The named services (else all of the compose file) with their keys and zone services.
fn targets(inputs: &Inputs, args: &RouteArgs) -> Result<Vec<RouteTarget>, Error> {
    let spec = &inputs.spec;
    let services = logical_services(&inputs.compose, &spec.zones)?;
    for name in &args.services {
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
        .filter(|(name, _)| args.services.is_empty() || args.services.contains(name))
        .map(|(name, logical)| {
            let keys = spec.kv.keys.for_service(&inputs.project, name);
            let port = args.port.unwrap_or_else(|| {
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

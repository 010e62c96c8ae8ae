//! Reads the observed state the planner starts from: zone services from the cluster, routing
//! keys and any unfinished deploy from the KV store.

use crate::error::Error;
use crate::plan::{ObservedState, RoutingKeys, ServiceState, StateSource};
use indexmap::IndexMap;

use crate::ports::{Cluster, ClusterError, NetworkUsage};
use crate::ports::{Kv, KvError};
use crate::spec::Spec;
use crate::spec::defaults::IN_PLACE;

/// The state of `services` (logical names) in `project`.
pub async fn observe(
    cluster: &dyn Cluster,
    kv: &dyn Kv,
    project: &str,
    spec: &Spec,
    services: &[String],
) -> Result<ObservedState, Error> {
    let mut state = ObservedState {
        source: StateSource::Cluster,
        ..ObservedState::default()
    };
    for service in services {
        let mut zones: Vec<(String, String)> = spec
            .zones
            .iter()
            .map(|zone| (zone.clone(), spec.zone_service_name(project, service, zone)))
            .collect();
        // A service deployed in place is one Swarm service, looked up beside the zones.
        zones.push((
            IN_PLACE.to_string(),
            spec.in_place_service_name(project, service),
        ));
        let observed_zones = cluster
            .observe_zones(project, service, &zones)
            .await
            .map_err(cluster_error)?;
        let keys = spec.kv.keys.for_service(project, service);
        let read = |key: String| async move {
            kv.get(&key)
                .await
                .map(|entry| entry.map(|e| e.value))
                .map_err(kv_error)
        };
        let routing = RoutingKeys {
            active_zone: read(keys.active_zone.clone()).await?,
            active_version: read(keys.active_version.clone()).await?,
            traffic: read(keys.traffic.clone()).await?,
        };
        // A progress record that is not JSON is ignored: it cannot be resumed anyway.
        let progress = read(keys.progress.clone())
            .await?
            .and_then(|text| serde_json::from_str(&text).ok());
        state.services.insert(
            service.clone(),
            ServiceState {
                zones: observed_zones,
                keys: routing,
                progress,
            },
        );
    }
    Ok(state)
}

/// The address space of the overlay networks that exist among `names`, by name.
pub async fn networks(
    cluster: &dyn Cluster,
    names: &[String],
) -> Result<IndexMap<String, NetworkUsage>, Error> {
    let mut out = IndexMap::new();
    for name in names {
        if let Some(usage) = cluster.network_usage(name).await.map_err(cluster_error)? {
            out.insert(name.clone(), usage);
        }
    }
    Ok(out)
}

/// A cluster that cannot be read before anything changed: nothing was changed.
pub fn cluster_error(e: ClusterError) -> Error {
    match e {
        ClusterError::Unavailable { message, help } => Error::Unavailable {
            message,
            help: Some(help),
        },
        other => Error::Unavailable {
            message: format!("cannot read the cluster: {other}"),
            help: Some("check `docker service ls` on the manager; nothing was changed".into()),
        },
    }
}

/// A KV store that cannot be read before anything changed: nothing was changed.
pub fn kv_error(e: KvError) -> Error {
    let help = match &e {
        KvError::Denied { .. } => "check the token (CONSUL_HTTP_TOKEN, etcd credentials)",
        _ => "check that the KV store given with --kv (or the spec's kv.url) is running",
    };
    Error::Unavailable {
        message: e.to_string(),
        help: Some(format!("{help}; nothing was changed")),
    }
}

//! Reads the observed state the planner starts from: zone services from the cluster, routing
//! keys and any unfinished deploy from the KV store.

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::error::Error;
use crate::plan::{ObservedState, RoutingKeys, ServiceState, StateSource};
use indexmap::IndexMap;

use crate::ports::{Cluster, ClusterError, NetworkUsage, ZoneState};
use crate::ports::{Kv, KvError};
use crate::spec::Spec;
use crate::spec::defaults::IN_PLACE;

/// How many services' zones are read from the cluster at once: one by one, a release of many
/// services waited on two requests per service, one after the other.
const READ_AT_ONCE: usize = 8;

/// The state of `services` (logical names) in `project`: the zones from the cluster, and
/// every service's routing keys and progress record in one read of the store (a request per
/// key made a release of 100 services wait on 400 of them).
pub async fn observe(
    cluster: &dyn Cluster,
    kv: &dyn Kv,
    project: &str,
    spec: &Spec,
    services: &[String],
) -> Result<ObservedState, Error> {
    let keys: Vec<String> = services
        .iter()
        .flat_map(|service| {
            let k = spec.kv.keys.for_service(project, service);
            [k.active_zone, k.active_version, k.traffic, k.progress]
        })
        .collect();
    let read_keys = async { kv.get_many(&keys).await.map_err(kv_error) };
    // In the order of `services`, whichever answers first.
    let read_zones = stream::iter(services)
        .map(|service| observe_zones(cluster, project, spec, service))
        .buffered(READ_AT_ONCE)
        .try_collect::<Vec<_>>();
    let (values, zones) = futures_util::try_join!(read_keys, read_zones)?;
    let mut values = values.into_iter().map(|entry| entry.map(|e| e.value));
    let mut next = move || values.next().flatten();
    let mut state = ObservedState {
        source: StateSource::Cluster,
        ..ObservedState::default()
    };
    for (service, zones) in services.iter().zip(zones) {
        let keys = RoutingKeys {
            active_zone: next(),
            active_version: next(),
            traffic: next(),
        };
        // A progress record that is not JSON is ignored: it cannot be resumed anyway.
        let progress = next().and_then(|text| serde_json::from_str(&text).ok());
        state.services.insert(
            service.clone(),
            ServiceState {
                zones,
                keys,
                progress,
            },
        );
    }
    Ok(state)
}

/// The zone services of one service, and its in-place service.
async fn observe_zones(
    cluster: &dyn Cluster,
    project: &str,
    spec: &Spec,
    service: &str,
) -> Result<IndexMap<String, ZoneState>, Error> {
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
    cluster
        .observe_zones(project, service, &zones)
        .await
        .map_err(cluster_error)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::{FakeCluster, FakeKv, Journal, ManualClock};

    #[tokio::test]
    async fn every_services_keys_come_from_one_read_of_the_store() {
        let clock = ManualClock::new();
        let journal = Journal::default();
        let cluster = FakeCluster::new(clock.clone(), journal.clone());
        let kv = FakeKv::new(clock, journal);
        let spec = Spec::default();
        let services: Vec<String> = ["api", "web", "worker"].map(String::from).into();
        for (i, service) in services.iter().enumerate() {
            let keys = spec.keys("shop", service);
            kv.set(&keys.active_zone, if i % 2 == 0 { "blue" } else { "green" });
            kv.set(&keys.active_version, &format!("1.{i}.0"));
        }
        cluster.existing(&spec.zone_service_name("shop", "web", "green"), "1.1.0", 2);

        let state = observe(&cluster, &kv, "shop", &spec, &services)
            .await
            .expect("observed");

        assert_eq!(
            kv.requests(),
            ["get_many 12"],
            "one request for 3 services' keys"
        );
        // Each service got its own keys back, in its own order.
        let versions: Vec<_> = services
            .iter()
            .map(|s| {
                let keys = &state.services[s].keys;
                (keys.active_zone.clone(), keys.active_version.clone())
            })
            .collect();
        assert_eq!(
            versions,
            [
                (Some("blue".into()), Some("1.0.0".into())),
                (Some("green".into()), Some("1.1.0".into())),
                (Some("blue".into()), Some("1.2.0".into())),
            ]
        );
        assert!(state.services["api"].zones.is_empty());
        assert_eq!(state.services["web"].zones["green"].desired, 2);
    }
}

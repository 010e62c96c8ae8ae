//! `shipctl route deploy` on the engine: the networks of the zone services, and the router
//! service created or updated from its spec.

use bollard::models::ServiceSpec;

use super::{SwarmCluster, UPDATE_ATTEMPTS, UpdateError, backoff, out_of_sequence_error, status};
use crate::ports::ClusterError;

/// What `deploy_service` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployed {
    Created,
    Updated,
}

/// The networks (ids) the existing `services` are attached to, in order, without repeats;
/// services that do not exist are left out.
pub async fn networks_of(
    cluster: &SwarmCluster,
    services: &[String],
) -> Result<Vec<String>, ClusterError> {
    let mut networks: Vec<String> = Vec::new();
    for name in services {
        let Some(service) = cluster.inspect(name).await? else {
            continue;
        };
        let attached = service
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.networks)
            .unwrap_or_default();
        for target in attached.into_iter().filter_map(|n| n.target) {
            if !networks.contains(&target) {
                networks.push(target);
            }
        }
    }
    Ok(networks)
}

/// Creates the service named in `spec`, or updates it to `spec` when it exists.
pub async fn deploy_service(
    cluster: &SwarmCluster,
    spec: ServiceSpec,
) -> Result<Deployed, ClusterError> {
    let name = spec.name.clone().unwrap_or_default();
    for attempt in 0..UPDATE_ATTEMPTS {
        match cluster.inspect(&name).await? {
            None => match cluster.docker.create_service(spec.clone(), None).await {
                Ok(_) => return Ok(Deployed::Created),
                // Created concurrently: update it on the next turn.
                Err(e) if status(&e) == Some(409) => backoff(attempt).await,
                Err(e) => return Err(cluster.error(&format!("creating service {name}"), e)),
            },
            Some(service) => match cluster.update(&name, &service, spec.clone(), None).await {
                Ok(()) => return Ok(Deployed::Updated),
                Err(UpdateError::OutOfSequence) => backoff(attempt).await,
                Err(UpdateError::Other(e)) => return Err(e),
            },
        }
    }
    Err(out_of_sequence_error(&name))
}

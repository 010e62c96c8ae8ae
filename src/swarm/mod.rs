//! The `Cluster` implementation over Docker Swarm (bollard).
//!
//! [`connect`] reaches an engine (`-H`, `DOCKER_HOST`, unix / tcp / TLS / ssh) and checks that
//! it is a Swarm manager; [`SwarmCluster`] then creates, updates, scales and observes the zone
//! services. The compose -> Swarm translation is the pure [`to_swarm::service_spec`].

pub mod auth;
pub mod coalesce;
mod connect;
mod failure;
pub mod from_swarm;
mod raw;
mod retry;
pub mod router;
pub mod to_swarm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{HealthConfig, NetworkCreateRequest, Service, ServiceSpec, Task};
use bollard::query_parameters::{
    InspectServiceOptions, ListConfigsOptions, ListNetworksOptions, ListSecretsOptions,
    ListServicesOptions, UpdateServiceOptions,
};
use indexmap::IndexMap;

pub use connect::{Endpoint, connect, connect_endpoint};

use crate::compose::model::Network;
use crate::ports::ZoneState;
use crate::ports::{
    Cluster, ClusterError, EngineClock, NetworkUsage, NodeAddresses, TaskInfo, TasksByService,
    ZoneTarget,
};
use failure::chain;
use raw::Raw;
use retry::{BUSY_ATTEMPTS, backoff, is_busy_status};
use to_swarm::{LABEL_NAMESPACE, Lookups};

/// How often an update is retried when another writer changed the service in between
/// (Swarm's optimistic concurrency answers "update out of sequence").
const UPDATE_ATTEMPTS: u32 = 6;

/// A Swarm manager, reached through one engine.
#[derive(Debug, Clone)]
pub struct SwarmCluster {
    docker: Docker,
    raw: Raw,
    host: String,
    /// Service ids by name, for `tasks_of`: a task names its service only by id, and a list
    /// filtered by ids needs no lookup of the names each time.
    service_ids: Arc<Mutex<HashMap<String, String>>>,
    /// The engine's clock as read when connecting.
    clock: Option<EngineClock>,
}

impl SwarmCluster {
    fn new(docker: Docker, raw: Raw, host: String) -> SwarmCluster {
        SwarmCluster {
            docker,
            raw,
            host,
            service_ids: Arc::default(),
            clock: None,
        }
    }

    /// The engine's clock as `GET /info` showed it when connecting.
    pub fn engine_clock(&self) -> Option<EngineClock> {
        self.clock.clone()
    }

    /// The bollard client, for the other modules that talk to the same engine (the Swarm KV
    /// backend, `route`).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The address this cluster was reached at (for messages).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Turns a bollard error into ours: transport failures mean the engine went away.
    fn error(&self, context: &str, e: bollard::errors::Error) -> ClusterError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code,
                message,
            } => ClusterError::Api(format!("{context}: {message} (HTTP {status_code})")),
            E::HyperLegacyError { .. }
            | E::IOError { .. }
            | E::RequestTimeoutError
            | E::SocketNotFoundError(_) => ClusterError::Unavailable {
                message: format!(
                    "{context}: lost the Docker engine at {}: {}",
                    self.host,
                    chain(&e)
                ),
                help: "check that the engine still runs and answers (docker info)".into(),
            },
            other => ClusterError::Api(format!("{context}: {}", chain(&other))),
        }
    }

    async fn inspect(&self, name: &str) -> Result<Option<Service>, ClusterError> {
        match patiently(|| {
            self.docker
                .inspect_service(name, None::<InspectServiceOptions>)
        })
        .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.error(&format!("inspecting service {name}"), e)),
        }
    }

    /// Sends `spec` as the next version of `service`, at the index it was read at (Swarm refuses
    /// it if someone else wrote in between).
    async fn update(
        &self,
        name: &str,
        service: &Service,
        spec: ServiceSpec,
        credentials: Option<DockerCredentials>,
    ) -> Result<(), UpdateError> {
        let index = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let version = i32::try_from(index).map_err(|_| {
            UpdateError::Other(ClusterError::Api(format!(
                "service {name}: version index {index} is out of the API's range"
            )))
        })?;
        let options = UpdateServiceOptions {
            version,
            ..Default::default()
        };
        match patiently(|| {
            self.docker
                .update_service(name, spec.clone(), options.clone(), credentials.clone())
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_out_of_sequence(&e) => Err(UpdateError::OutOfSequence),
            Err(e) if status(&e) == Some(404) => {
                Err(UpdateError::Other(ClusterError::NotFound(name.to_string())))
            }
            Err(e) => Err(UpdateError::Other(
                self.error(&format!("updating service {name}"), e),
            )),
        }
    }

    /// Names -> IDs of the Swarm secrets or configs named in `names` (exact matches only: the
    /// API's name filter matches prefixes).
    async fn object_ids(
        &self,
        kind: &str,
        names: Vec<String>,
    ) -> Result<HashMap<String, String>, ClusterError> {
        let mut ids = HashMap::new();
        if names.is_empty() {
            return Ok(ids);
        }
        let filters = HashMap::from([("name".to_string(), names.clone())]);
        let found: Vec<(Option<String>, Option<String>)> = if kind == "secret" {
            self.docker
                .list_secrets(Some(ListSecretsOptions {
                    filters: Some(filters),
                }))
                .await
                .map_err(|e| self.error("listing secrets", e))?
                .into_iter()
                .map(|s| (s.id, s.spec.and_then(|s| s.name)))
                .collect()
        } else {
            self.docker
                .list_configs(Some(ListConfigsOptions {
                    filters: Some(filters),
                }))
                .await
                .map_err(|e| self.error("listing configs", e))?
                .into_iter()
                .map(|c| (c.id, c.spec.and_then(|s| s.name)))
                .collect()
        };
        for (id, name) in found {
            if let (Some(id), Some(name)) = (id, name)
                && names.contains(&name)
            {
                ids.insert(name, id);
            }
        }
        Ok(ids)
    }

    /// Whether a network with exactly this name exists.
    async fn network_exists(&self, name: &str) -> Result<bool, ClusterError> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| self.error(&format!("looking up network {name}"), e))?;
        Ok(list.iter().any(|n| n.name.as_deref() == Some(name)))
    }

    async fn ensure_network_in(
        &self,
        namespace: Option<&str>,
        name: &str,
        network: &Network,
    ) -> Result<(), ClusterError> {
        if self.network_exists(name).await? {
            return Ok(());
        }
        if network.external {
            return Err(ClusterError::Api(format!(
                "network {name} is declared external but does not exist: create it with \
                 `docker network create -d overlay --attachable {name}`"
            )));
        }
        let mut labels: HashMap<String, String> = network.labels.clone().into_iter().collect();
        if let Some(ns) = namespace {
            labels.insert(LABEL_NAMESPACE.to_string(), ns.to_string());
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(network.driver.clone().unwrap_or_else(|| "overlay".into())),
            // Attachable, so that routers and one-off containers can join the zone's network.
            attachable: Some(true),
            internal: Some(network.internal),
            options: (!network.driver_opts.is_empty())
                .then(|| network.driver_opts.clone().into_iter().collect()),
            labels: Some(labels),
            ipam: network.ipam.as_ref().map(|ipam| bollard::models::Ipam {
                driver: ipam.driver.clone(),
                config: Some(
                    ipam.config
                        .iter()
                        .map(|pool| bollard::models::IpamConfig {
                            subnet: pool.subnet.clone(),
                            ip_range: pool.ip_range.clone(),
                            gateway: pool.gateway.clone(),
                            auxiliary_addresses: None,
                        })
                        .collect(),
                ),
                options: None,
            }),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Someone else created it in between: that is what we wanted.
            Err(e) => match self.network_exists(name).await {
                Ok(true) => Ok(()),
                _ => Err(self.error(&format!("creating network {name}"), e)),
            },
        }
    }

    /// The container healthcheck the engine stores for a service. bollard's model calls the
    /// field `HealthCheck` but the engine answers `Healthcheck`, so an inspected spec comes back
    /// without it: sent back as is (to scale), it would drop the healthcheck and, the task
    /// template having changed, make Swarm replace every task.
    async fn stored_healthcheck(&self, name: &str) -> Result<Option<HealthConfig>, ClusterError> {
        let path = format!("/services/{name}");
        let raw = self.raw.get(&self.host, &path, None, name).await?;
        Ok(raw
            .pointer("/Spec/TaskTemplate/ContainerSpec/Healthcheck")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Tasks as raw JSON, for their addresses (see `raw`), with bollard's model of each.
    async fn list_tasks(
        &self,
        services: Vec<String>,
        not_found: &str,
    ) -> Result<Vec<(Task, Vec<String>)>, ClusterError> {
        let filters = serde_json::json!({ "service": services });
        let raw = self
            .raw
            .get(&self.host, "/tasks", Some(&filters), not_found)
            .await?;
        let items = raw.as_array().cloned().unwrap_or_default();
        let mut tasks = Vec::with_capacity(items.len());
        for item in items {
            let addresses = from_swarm::task_addresses(&item);
            let task: Task = serde_json::from_value(item)
                .map_err(|e| ClusterError::Api(format!("unexpected task from the engine: {e}")))?;
            tasks.push((task, addresses));
        }
        Ok(tasks)
    }

    /// The ids of the services named `names` that exist (one request; exact names only, the
    /// engine's name filter also matches prefixes), remembered for the next lists.
    async fn resolve_ids(&self, names: &[String]) -> Result<HashMap<String, String>, ClusterError> {
        let options = ListServicesOptions {
            filters: Some(HashMap::from([("name".to_string(), names.to_vec())])),
            status: Some(false),
        };
        let services = patiently(|| self.docker.list_services(Some(options.clone())))
            .await
            .map_err(|e| self.error("listing services", e))?;
        let found: HashMap<String, String> = services
            .into_iter()
            .filter_map(|s| {
                let name = s.spec.as_ref()?.name.clone()?;
                names.contains(&name).then_some((name, s.id?))
            })
            .collect();
        self.ids().extend(found.clone());
        Ok(found)
    }

    /// The remembered ids; a poisoned lock only means another reader panicked mid-insert of
    /// plain strings, which leaves the map usable.
    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.service_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The (name, id) pairs of `names` whose service exists, looking up the ids not known yet
    /// (all of them with `refresh`); a missing service gets its `NotFound` in `results`, a
    /// failed lookup its error for every name it was for.
    async fn watched(
        &self,
        names: &[String],
        results: &mut HashMap<String, Result<Vec<TaskInfo>, ClusterError>>,
        refresh: bool,
    ) -> Vec<(String, String)> {
        let mut unique: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.contains(name) {
                unique.push(name.clone());
            }
        }
        if refresh {
            let mut ids = self.ids();
            for name in &unique {
                ids.remove(name);
            }
        }
        let unknown: Vec<String> = {
            let ids = self.ids();
            unique
                .iter()
                .filter(|n| !ids.contains_key(*n))
                .cloned()
                .collect()
        };
        if !unknown.is_empty()
            && let Err(e) = self.resolve_ids(&unknown).await
        {
            for name in &unknown {
                results.insert(name.clone(), Err(e.clone()));
            }
        }
        let ids = self.ids();
        let mut watched = Vec::with_capacity(unique.len());
        for name in unique {
            match ids.get(&name) {
                Some(id) => watched.push((name, id.clone())),
                None => {
                    results
                        .entry(name.clone())
                        .or_insert(Err(ClusterError::NotFound(name)));
                }
            }
        }
        watched
    }

    /// One task list for `watched` (name, id) pairs, split by service name.
    async fn list_by_id(
        &self,
        watched: &[(String, String)],
    ) -> Result<HashMap<String, Vec<TaskInfo>>, ClusterError> {
        let mut by_name: HashMap<String, Vec<(Task, Vec<String>)>> = HashMap::new();
        if watched.is_empty() {
            // An empty filter would list every task of the cluster.
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = watched.iter().map(|(_, id)| id.clone()).collect();
        for (task, addresses) in self.list_tasks(ids, "watched services").await? {
            let name = watched
                .iter()
                .find(|(_, id)| task.service_id.as_deref() == Some(id.as_str()))
                .map(|(name, _)| name.clone());
            if let Some(name) = name {
                by_name.entry(name).or_default().push((task, addresses));
            }
        }
        Ok(watched
            .iter()
            .map(|(name, _)| {
                let tasks = by_name.remove(name).unwrap_or_default();
                (name.clone(), task_infos(tasks))
            })
            .collect())
    }
}

/// Tasks as the ports see them, oldest first (ties by id, so the order is stable).
fn task_infos(tasks: Vec<(Task, Vec<String>)>) -> Vec<TaskInfo> {
    let mut infos: Vec<TaskInfo> = tasks
        .into_iter()
        .map(|(t, addresses)| from_swarm::task_info(&t, addresses))
        .collect();
    infos.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    infos
}

enum UpdateError {
    OutOfSequence,
    Other(ClusterError),
}

fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_out_of_sequence(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("out of sequence"))
}

/// Sends a request again, after a jittered pause, while the engine answers "later".
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, bollard::errors::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if is_busy_status(status(&e)) && attempt + 1 < BUSY_ATTEMPTS => {
                backoff(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn out_of_sequence_error(name: &str) -> ClusterError {
    ClusterError::Api(format!(
        "service {name} kept changing while it was being updated ({UPDATE_ATTEMPTS} attempts): \
         another deploy or `docker service update` is running against it"
    ))
}

#[async_trait]
impl Cluster for SwarmCluster {
    /// `zones` pairs a zone name with its Swarm service name: `("blue", "demo_web-blue")`.
    async fn observe_zones(
        &self,
        _project: &str,
        _service: &str,
        zones: &[(String, String)],
    ) -> Result<IndexMap<String, ZoneState>, ClusterError> {
        let mut out = IndexMap::new();
        if zones.is_empty() {
            return Ok(out);
        }
        let names: Vec<String> = zones.iter().map(|(_, name)| name.clone()).collect();
        let options = ListServicesOptions {
            filters: Some(HashMap::from([("name".to_string(), names.clone())])),
            // Global services need Swarm's desired count.
            status: Some(true),
        };
        let services = patiently(|| self.docker.list_services(Some(options.clone())))
            .await
            .map_err(|e| self.error("listing services", e))?;
        // The name filter matches prefixes: keep exact matches only.
        let by_name: HashMap<String, Service> = services
            .into_iter()
            .filter_map(|s| {
                let name = s.spec.as_ref()?.name.clone()?;
                names.contains(&name).then_some((name, s))
            })
            .collect();
        if by_name.is_empty() {
            return Ok(out);
        }
        let ids: Vec<String> = by_name.values().filter_map(|s| s.id.clone()).collect();
        let tasks = match self.list_tasks(ids.clone(), "zone services").await {
            Ok(t) => t,
            // One service was removed since it was listed, and the engine refuses the whole
            // filter: ask service by service, without the missing one.
            Err(ClusterError::NotFound(_)) => {
                let mut all = Vec::new();
                for id in ids {
                    match self.list_tasks(vec![id.clone()], &id).await {
                        Ok(t) => all.extend(t),
                        Err(ClusterError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                all
            }
            Err(e) => return Err(e),
        };
        for (zone, name) in zones {
            let Some(service) = by_name.get(name) else {
                continue;
            };
            let mine: Vec<Task> = tasks
                .iter()
                .filter(|(t, _)| t.service_id.is_some() && t.service_id == service.id)
                .map(|(t, _)| t.clone())
                .collect();
            out.insert(zone.clone(), from_swarm::zone_state(service, &mine));
        }
        Ok(out)
    }

    async fn ensure_network(&self, name: &str, network: &Network) -> Result<(), ClusterError> {
        // The project is not passed here: `{project}_{key}` names carry it before the `_`.
        let namespace = network
            .labels
            .get(LABEL_NAMESPACE)
            .map(String::as_str)
            .or_else(|| name.split_once('_').map(|(ns, _)| ns));
        self.ensure_network_in(namespace, name, network).await
    }

    async fn apply_zone(&self, target: &ZoneTarget) -> Result<(), ClusterError> {
        for (name, network, _) in to_swarm::service_networks(target) {
            self.ensure_network_in(Some(&target.project), &name, &network)
                .await?;
        }
        let lookups = Lookups {
            secrets: self
                .object_ids("secret", to_swarm::secret_names(target))
                .await?,
            configs: self
                .object_ids("config", to_swarm::config_names(target))
                .await?,
            env: to_swarm::env_names(target)
                .into_iter()
                .filter_map(|k| std::env::var(&k).ok().map(|v| (k, v)))
                .collect(),
        };
        let spec = to_swarm::service_spec(target, &lookups)
            .map_err(|e| ClusterError::Api(e.to_string()))?;
        let name = &target.service_name;
        // Like `docker stack deploy --with-registry-auth`: nodes pulling a private image need them.
        let credentials = auth::credentials_for(&target.image).await;

        for attempt in 0..UPDATE_ATTEMPTS {
            let Some(existing) = self.inspect(name).await? else {
                match patiently(|| {
                    self.docker
                        .create_service(spec.clone(), credentials.clone())
                })
                .await
                {
                    Ok(_) => return Ok(()),
                    // Created concurrently: update it on the next turn.
                    Err(e) if status(&e) == Some(409) => {
                        backoff(attempt).await;
                        continue;
                    }
                    Err(e) => return Err(self.error(&format!("creating service {name}"), e)),
                }
            };
            let mut spec = spec.clone();
            keep_engine_fields(&existing, &mut spec);
            match self
                .update(name, &existing, spec, credentials.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(UpdateError::OutOfSequence) => backoff(attempt).await,
                // Removed in between: create it on the next turn.
                Err(UpdateError::Other(ClusterError::NotFound(_))) => backoff(attempt).await,
                Err(UpdateError::Other(e)) => return Err(e),
            }
        }
        Err(out_of_sequence_error(name))
    }

    async fn scale(&self, service_name: &str, replicas: u64) -> Result<(), ClusterError> {
        let wanted = i64::try_from(replicas).map_err(|_| {
            ClusterError::Api(format!("{replicas} replicas is more than Swarm accepts"))
        })?;
        for attempt in 0..UPDATE_ATTEMPTS {
            let Some(service) = self.inspect(service_name).await? else {
                return Err(ClusterError::NotFound(service_name.to_string()));
            };
            let mut spec = service.spec.clone().unwrap_or_default();
            if let Some(container) = spec
                .task_template
                .as_mut()
                .and_then(|t| t.container_spec.as_mut())
                && container.health_check.is_none()
            {
                container.health_check = self.stored_healthcheck(service_name).await?;
            }
            let Some(replicated) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) else {
                return Err(ClusterError::Api(format!(
                    "service {service_name} is not replicated (global mode): it cannot be scaled"
                )));
            };
            if replicated.replicas == Some(wanted) {
                return Ok(());
            }
            replicated.replicas = Some(wanted);
            // No credentials: the engine reuses those stored with the service (registryAuthFrom=spec).
            match self.update(service_name, &service, spec, None).await {
                Ok(()) => return Ok(()),
                Err(UpdateError::OutOfSequence) => backoff(attempt).await,
                Err(UpdateError::Other(e)) => return Err(e),
            }
        }
        Err(out_of_sequence_error(service_name))
    }

    async fn revert(&self, service_name: &str) -> Result<(), ClusterError> {
        for attempt in 0..UPDATE_ATTEMPTS {
            let Some(service) = self.inspect(service_name).await? else {
                return Err(ClusterError::NotFound(service_name.to_string()));
            };
            let index = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let version = i32::try_from(index).map_err(|_| {
                ClusterError::Api(format!(
                    "service {service_name}: version index {index} is out of the API's range"
                ))
            })?;
            // As `docker service rollback`: the engine takes the stored previous spec.
            let options = UpdateServiceOptions {
                version,
                rollback: Some("previous".into()),
                ..Default::default()
            };
            let spec = service.spec.clone().unwrap_or_default();
            match patiently(|| {
                self.docker
                    .update_service(service_name, spec.clone(), options.clone(), None)
            })
            .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_out_of_sequence(&e) => backoff(attempt).await,
                Err(e) => return Err(self.error(&format!("rolling back {service_name}"), e)),
            }
        }
        Err(out_of_sequence_error(service_name))
    }

    async fn network_usage(&self, name: &str) -> Result<Option<NetworkUsage>, ClusterError> {
        // The swarm-wide view with its services (`verbose`): one request for one network,
        // however many services the cluster runs.
        let path = format!("/networks/{}", raw::percent_encode(name));
        match self
            .raw
            .get_query(&self.host, &path, "verbose=true&scope=swarm", name)
            .await
        {
            Ok(json) => Ok(from_swarm::network_usage(&json)),
            Err(ClusterError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn node_addresses(&self) -> Result<NodeAddresses, ClusterError> {
        let nodes = self
            .raw
            .get_query(&self.host, "/nodes", "", "nodes")
            .await?;
        let mut bridges = std::collections::BTreeMap::new();
        // A task on an overlay network publishes its host-mode ports on docker_gwbridge, a
        // task on none on the default bridge; a container is on one of the two.
        for bridge in ["bridge", "docker_gwbridge"] {
            let path = format!("/networks/{bridge}");
            match self.raw.get_query(&self.host, &path, "", bridge).await {
                Ok(json) => bridges.extend(from_swarm::bridge_addresses(&json)),
                Err(ClusterError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(NodeAddresses {
            nodes: from_swarm::node_addresses(&nodes).into_iter().collect(),
            bridges,
        })
    }

    async fn tasks(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        let tasks = self
            .list_tasks(vec![service_name.to_string()], service_name)
            .await?;
        Ok(task_infos(tasks))
    }

    /// One `GET /tasks` filtered by the services' ids (ids looked up once, by one
    /// `GET /services` for the names not seen yet). The engine refuses a whole filter that
    /// names a removed service: then the ids are looked up again, and only if a service
    /// vanishes again in between is each listed on its own.
    async fn tasks_of(&self, service_names: &[String]) -> TasksByService {
        let mut results: HashMap<String, Result<Vec<TaskInfo>, ClusterError>> = HashMap::new();
        let mut watched = self.watched(service_names, &mut results, false).await;
        match self.list_by_id(&watched).await {
            Ok(found) => results.extend(found.into_iter().map(|(n, t)| (n, Ok(t)))),
            Err(ClusterError::NotFound(_)) => {
                let names: Vec<String> = watched.iter().map(|(name, _)| name.clone()).collect();
                watched = self.watched(&names, &mut results, true).await;
                match self.list_by_id(&watched).await {
                    Ok(found) => results.extend(found.into_iter().map(|(n, t)| (n, Ok(t)))),
                    Err(ClusterError::NotFound(_)) => {
                        for (name, id) in watched {
                            let listed = self
                                .list_tasks(vec![id], &name)
                                .await
                                .map(task_infos)
                                .map_err(|e| match e {
                                    ClusterError::NotFound(_) => {
                                        ClusterError::NotFound(name.clone())
                                    }
                                    other => other,
                                });
                            results.insert(name, listed);
                        }
                    }
                    Err(e) => results.extend(watched.into_iter().map(|(n, _)| (n, Err(e.clone())))),
                }
            }
            Err(e) => results.extend(watched.into_iter().map(|(n, _)| (n, Err(e.clone())))),
        }
        service_names
            .iter()
            .map(|name| {
                let result = results
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| Err(ClusterError::NotFound(name.clone())));
                (name.clone(), result)
            })
            .collect()
    }
}

/// Keeps what the engine set on the existing service and the new spec would otherwise reset,
/// which would make Swarm replace every task for nothing.
fn keep_engine_fields(existing: &Service, spec: &mut ServiceSpec) {
    let Some(old_task) = existing
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
    else {
        return;
    };
    let Some(task) = spec.task_template.as_mut() else {
        return;
    };
    // A `docker service update --force` counter going back would itself be a change.
    task.force_update = old_task.force_update;
    // The engine pins `image:tag@sha256:...` when it can resolve it; the same tag keeps its pin.
    let old_image = old_task
        .container_spec
        .as_ref()
        .and_then(|c| c.image.clone());
    if let (Some(old), Some(container)) = (old_image, task.container_spec.as_mut())
        && container.image.as_deref() == Some(from_swarm::strip_digest(&old))
    {
        container.image = Some(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_keeps_the_pinned_digest_and_force_counter() {
        let existing: Service = serde_json::from_value(serde_json::json!({
            "Spec": {"TaskTemplate": {
                "ContainerSpec": {"Image": "app:2.0.0@sha256:0123"},
                "ForceUpdate": 3
            }}
        }))
        .unwrap();
        let spec_for = |image: &str| ServiceSpec {
            task_template: Some(bollard::models::TaskSpec {
                container_spec: Some(bollard::models::TaskSpecContainerSpec {
                    image: Some(image.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let image_of = |s: &ServiceSpec| {
            s.task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
        };

        let mut same = spec_for("app:2.0.0");
        keep_engine_fields(&existing, &mut same);
        assert_eq!(image_of(&same).as_deref(), Some("app:2.0.0@sha256:0123"));
        assert_eq!(same.task_template.as_ref().unwrap().force_update, Some(3));

        let mut newer = spec_for("app:3.0.0");
        keep_engine_fields(&existing, &mut newer);
        assert_eq!(image_of(&newer).as_deref(), Some("app:3.0.0"));
    }
}

//! What the engine needs from a cluster. Implemented over Docker Swarm in `crate::swarm`,
//! and in memory in the executor's unit tests.

use std::time::SystemTime;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::compose::model::{Network, SecretOrConfig, Service};

/// Everything needed to create or update one zone's Swarm service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneTarget {
    pub project: String,
    /// Logical service name (`web`).
    pub service: String,
    /// The zone, or `in-place` for the one service of a service deployed in place.
    pub zone: String,
    /// Swarm service name (`demo_web-blue`).
    pub service_name: String,
    pub definition: Service,
    pub image: String,
    pub version: String,
    pub replicas: u64,
    /// Top-level networks/secrets/configs of the project, by compose key.
    pub networks: IndexMap<String, Network>,
    pub secrets: IndexMap<String, SecretOrConfig>,
    pub configs: IndexMap<String, SecretOrConfig>,
}

/// The state Swarm reports for a task (lower-case, as in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    New,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    /// Parses Swarm's state string; unknown states count as pending.
    pub fn parse(text: &str) -> TaskState {
        match text {
            "new" => TaskState::New,
            "allocated" | "pending" => TaskState::Pending,
            "assigned" => TaskState::Assigned,
            "accepted" => TaskState::Accepted,
            "preparing" => TaskState::Preparing,
            "ready" => TaskState::Ready,
            "starting" => TaskState::Starting,
            "running" => TaskState::Running,
            "complete" => TaskState::Complete,
            "shutdown" => TaskState::Shutdown,
            "failed" => TaskState::Failed,
            "rejected" => TaskState::Rejected,
            "remove" => TaskState::Remove,
            "orphaned" => TaskState::Orphaned,
            _ => TaskState::Pending,
        }
    }
}

/// One task of a zone's service, as the executor and the router need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: String,
    pub state: TaskState,
    /// `running` or `shutdown`: what Swarm wants the task to be.
    pub desired_state: TaskState,
    /// The `io.shipctl.version` label of the task's container spec.
    pub version: Option<String>,
    pub image: Option<String>,
    /// Swarm's status message (`started`, `No such image: ...`).
    pub message: String,
    /// Swarm's error for failed/rejected tasks.
    pub error: Option<String>,
    /// Exit code of the container, when it exited.
    pub exit_code: Option<i64>,
    pub node_id: Option<String>,
    /// The id of the task's container, once the node created it.
    pub container_id: Option<String>,
    /// Addresses of the task on its networks (without prefix length).
    pub addresses: Vec<String>,
    /// Published host-mode ports: (target, published).
    pub host_ports: Vec<(u16, u16)>,
    /// When the task last changed state.
    pub updated_at: Option<SystemTime>,
    pub created_at: Option<SystemTime>,
}

/// Errors talking to the cluster.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The engine cannot be reached or is not a Swarm manager.
    #[error("{message}")]
    Unavailable { message: String, help: String },
    /// A service we expected is missing.
    #[error("service {0} does not exist")]
    NotFound(String),
    /// Anything else the engine answered.
    #[error("{0}")]
    Api(String),
}

/// Tasks by service name, as [`Cluster::tasks_of`] answers.
pub type TasksByService = IndexMap<String, Result<Vec<TaskInfo>, ClusterError>>;

/// The cluster as the executor sees it.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The zone services of `service` that exist, by zone name (keys are not read here).
    async fn observe_zones(
        &self,
        project: &str,
        service: &str,
        zones: &[(String, String)],
    ) -> Result<IndexMap<String, ZoneState>, ClusterError>;

    /// Creates an overlay network if it does not exist (the name is the full name).
    async fn ensure_network(&self, name: &str, network: &Network) -> Result<(), ClusterError>;

    /// Creates the zone service, or updates it (image, version, replicas) if it exists.
    async fn apply_zone(&self, target: &ZoneTarget) -> Result<(), ClusterError>;

    /// Sets the replica count of an existing service.
    async fn scale(&self, service_name: &str, replicas: u64) -> Result<(), ClusterError>;

    /// Puts a service back to the spec it had before its last update (Swarm's rollback), for
    /// a service updated in place.
    async fn revert(&self, service_name: &str) -> Result<(), ClusterError>;

    /// The tasks of a service (all states Swarm still remembers).
    async fn tasks(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError>;

    /// The same, read at once: for a one-off check (before a key write) that must not wait
    /// for a list shared with polling gates. Differs from `tasks` only where reads are shared.
    async fn tasks_now(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        self.tasks(service_name).await
    }

    /// The tasks of several services, each with its own result (a missing service is that
    /// service's `NotFound`, not an error of the others), in the order asked. A cluster that
    /// can read them in one request should: this is what keeps a release of many services or
    /// a router for many services from asking the manager once per service.
    async fn tasks_of(&self, service_names: &[String]) -> TasksByService {
        let mut out = TasksByService::new();
        for name in service_names {
            let result = self.tasks(name).await;
            out.insert(name.clone(), result);
        }
        out
    }

    /// The address space of a network and how much of it is taken, `None` when the network
    /// does not exist (or, for clusters that cannot tell, is not known).
    async fn network_usage(&self, _name: &str) -> Result<Option<NetworkUsage>, ClusterError> {
        Ok(None)
    }

    /// The nodes' addresses and the asked engine's containers on its Docker bridges, for a
    /// router that reaches tasks through their host-mode ports; empty for clusters that
    /// cannot tell.
    async fn node_addresses(&self) -> Result<NodeAddresses, ClusterError> {
        Ok(NodeAddresses::default())
    }
}

/// Where a router reaches the tasks that publish their port in host mode, without the
/// routing mesh and without Docker's userland proxy (`docker-proxy`, a process per published
/// port, which takes every connection to `127.0.0.1:<published port>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAddresses {
    /// Node id -> the address the node advertises to the cluster.
    pub nodes: std::collections::BTreeMap<String, String>,
    /// The asked engine's containers: container id -> IPv4 address on the bridge that
    /// publishes their host-mode ports (`docker_gwbridge` for a task on an overlay network,
    /// else `bridge`).
    pub bridges: std::collections::BTreeMap<String, String>,
}

impl NodeAddresses {
    /// `host:port` of a task that publishes `target` on `published` in host mode: its node's
    /// address, when the node advertises one that other hosts can reach (the kernel forwards
    /// it to the container, also on the node itself); else, for a container of the asked
    /// engine, its bridge address and `target`; else `None`.
    pub fn target(&self, task: &TaskInfo, target: u16, published: u16) -> Option<String> {
        let node = task.node_id.as_ref().and_then(|n| self.nodes.get(n));
        if let Some(ip) = node.and_then(|a| a.parse::<std::net::IpAddr>().ok())
            && !ip.is_loopback()
            && !ip.is_unspecified()
        {
            return Some(std::net::SocketAddr::new(ip, published).to_string());
        }
        let bridge = self.bridges.get(task.container_id.as_deref()?)?;
        Some(format!("{bridge}:{target}"))
    }
}

/// An overlay network's subnets and the addresses taken in them, as far as the API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkUsage {
    /// IPv4 subnets of its IPAM config (`10.0.1.0/24`).
    pub subnets: Vec<String>,
    /// Addresses in use: task endpoints, virtual IPs and one load-balancer endpoint per node
    /// that has tasks on the network.
    pub in_use: u64,
}

/// One zone's Swarm service as observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneState {
    /// The Swarm service name (`demo_web-blue`).
    pub service_name: String,
    /// Desired replicas in the service spec.
    pub desired: u64,
    /// Tasks in state `running` on the current spec.
    pub running: u64,
    /// Running tasks that pass their healthcheck (equal to running without one).
    pub healthy: u64,
    /// From the `io.shipctl.version` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Swarm's version index of the service object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_index: Option<u64>,
    /// When the service object last changed (RFC 3339, as Swarm reports it); `status` shows
    /// the zone's age from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// The engine's own clock as `GET /info` reported it (`SystemTime`), and when the answer came.
/// Connecting reads `/info` anyway; the Swarm KV store's locks keep time by that clock and
/// start from this reading instead of asking again (the call is slow: tens of ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineClock {
    pub system_time: String,
    pub answered: std::time::Instant,
}

//! What a router template sees: per service the active zone, the traffic split and the
//! addresses of each zone's running tasks. Built from plain values, so it is unit-testable.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ports::traffic;
use crate::ports::{NodeAddresses, TaskInfo, TaskState};

/// The whole template context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteContext {
    pub project: String,
    /// Address the router listens on (`--listen`), e.g. `127.0.0.1:8088` or `80`.
    pub listen: String,
    /// Default port of the tasks (`--port`); each service has its own in `port`.
    pub port: u16,
    /// Extra variables from `--var KEY=VALUE`.
    pub vars: BTreeMap<String, String>,
    /// `127.0.0.1:PORT` where `shipctl route --stats-listen` takes one syslog line per request
    /// (UDP); `None` without `--stats-listen`, and the templates then log nothing.
    pub stats_syslog: Option<String>,
    /// The HAProxy stats socket (`--haproxy-socket`) through which weights and server states
    /// change without a reload; `None` without it.
    pub haproxy_socket: Option<String>,
    /// `HOST:PORT` of Caddy's admin API (`--caddy-admin`), kept in the config that is loaded
    /// there: a config without it would move the admin API back to Caddy's default address.
    pub caddy_admin: Option<String>,
    pub services: Vec<ServiceView>,
}

/// One logical service (`web`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub name: String,
    /// A name safe for nginx upstreams and HAProxy backends: `{project}_{service}`.
    pub upstream: String,
    pub active_zone: Option<String>,
    pub active_version: Option<String>,
    /// The traffic key as stored (`blue=75,green=25`), if any.
    pub traffic: Option<String>,
    /// Port of the tasks that traffic goes to.
    pub port: u16,
    pub zones: Vec<ZoneView>,
    /// Every task of the zones with weight > 0, flattened, with its per-server weight.
    pub servers: Vec<TaskView>,
    /// Fixed server slots per zone (at least [`MIN_SLOTS`], a power of two), every zone
    /// included: a change of weights or of tasks within the slots keeps the server names, so
    /// HAProxy can take it through its runtime API without a reload.
    pub slots: Vec<SlotView>,
}

/// The fewest server slots a zone gets.
pub const MIN_SLOTS: usize = 4;

/// One server slot of a zone: a task, or empty (a disabled server).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotView {
    /// `{zone}-{n}`, n from 1.
    pub name: String,
    pub zone: String,
    /// `host:port` of the task; `None` for an empty slot.
    pub target: Option<String>,
    /// The task's weight; 0 in a zone without traffic and in an empty slot.
    pub weight: u64,
    pub version: Option<String>,
}

/// One zone of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneView {
    pub name: String,
    /// The Swarm service (`demo_web-blue`).
    pub service_name: String,
    /// Percentage of the traffic (0-100).
    pub weight: u64,
    pub active: bool,
    /// Version of the zone's running tasks (the most common one).
    pub version: Option<String>,
    pub tasks: Vec<TaskView>,
}

/// One running task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub id: String,
    pub zone: String,
    /// First overlay address (no prefix length).
    pub address: Option<String>,
    pub addresses: Vec<String>,
    /// Host-mode published port for `--port`, when the task publishes one.
    pub host_port: Option<u16>,
    /// `host:port` to send traffic to. Published in host mode: the node's address and
    /// `host_port`, or on this node the container's bridge address and the port, else
    /// `127.0.0.1:<host_port>` (see [`NodeAddresses::target`]); otherwise `<address>:<port>`;
    /// always the latter with [`Via::Overlay`].
    pub target: Option<String>,
    pub version: Option<String>,
    /// The zone's weight split over its tasks (at least 1), for `server ... weight=W`.
    pub weight: u64,
}

/// Where a router sends a task's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The node's address (or bridge) and host port when the task publishes one in host
    /// mode, else its overlay address: a router running as a process on a node.
    #[default]
    Auto,
    /// Always the task's overlay address: a router in a container on the stack's networks,
    /// where `127.0.0.1` and the bridges are the container's own.
    Overlay,
}

/// Values of one service's routing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues {
    pub active_zone: Option<String>,
    pub active_version: Option<String>,
    pub traffic: Option<String>,
}

/// The zones of a service with their Swarm service names and tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneTasks {
    pub zone: String,
    pub service_name: String,
    pub tasks: Vec<TaskInfo>,
}

/// Builds a service's view. `port` is the target port of the tasks.
pub fn service_view(
    project: &str,
    service: &str,
    keys: &KeyValues,
    zones: &[ZoneTasks],
    port: u16,
    via: Via,
    nodes: &NodeAddresses,
) -> ServiceView {
    let weights = weights(keys, zones);
    let zones: Vec<ZoneView> = zones
        .iter()
        .zip(weights)
        .map(|(z, weight)| zone_view(z, weight, keys.active_zone.as_deref(), port, via, nodes))
        .collect();
    let servers = zones
        .iter()
        .filter(|z| z.weight > 0)
        .flat_map(|z| z.tasks.iter().filter(|t| t.target.is_some()).cloned())
        .collect();
    let slots = zones.iter().flat_map(slots_of).collect();
    ServiceView {
        name: service.to_string(),
        upstream: upstream_name(project, service),
        active_zone: keys.active_zone.clone(),
        active_version: keys.active_version.clone(),
        traffic: keys.traffic.clone(),
        port,
        zones,
        servers,
        slots,
    }
}

/// A zone's slots: its tasks in address order, then empty ones up to a power of two.
fn slots_of(zone: &ZoneView) -> Vec<SlotView> {
    let tasks: Vec<&TaskView> = zone.tasks.iter().filter(|t| t.target.is_some()).collect();
    let count = tasks.len().next_power_of_two().max(MIN_SLOTS);
    (0..count)
        .map(|i| {
            let task = tasks.get(i);
            SlotView {
                name: format!("{}-{}", zone.name, i + 1),
                zone: zone.name.clone(),
                target: task.and_then(|t| t.target.clone()),
                weight: match task {
                    Some(t) if zone.weight > 0 => t.weight,
                    _ => 0,
                },
                version: task.and_then(|t| t.version.clone()),
            }
        })
        .collect()
}

/// `context` without what HAProxy's runtime API can change (weights, the tasks in the slots,
/// the traffic split): two contexts of the same shape render the same structure, so going
/// from one to the other needs no reload.
pub fn runtime_shape(context: &RouteContext) -> RouteContext {
    let mut shape = context.clone();
    for s in &mut shape.services {
        s.traffic = None;
        s.servers.clear();
        for z in &mut s.zones {
            z.weight = 0;
            z.version = None;
            z.tasks.clear();
        }
        for slot in &mut s.slots {
            slot.target = None;
            slot.weight = 0;
            slot.version = None;
        }
    }
    shape
}

/// Weights per zone: from the traffic key when it names any of the zones, else 100% to the
/// active zone (the classic two-key setup has no traffic key).
fn weights(keys: &KeyValues, zones: &[ZoneTasks]) -> Vec<u64> {
    if let Some(split) = keys.traffic.as_deref() {
        let shares: Vec<Option<u64>> = zones
            .iter()
            .map(|z| traffic::share_of(split, &z.zone))
            .collect();
        if shares.iter().any(Option::is_some) {
            return shares
                .into_iter()
                .map(|s| s.unwrap_or(0).min(100))
                .collect();
        }
    }
    zones
        .iter()
        .map(|z| {
            if keys.active_zone.as_deref() == Some(z.zone.as_str()) {
                100
            } else {
                0
            }
        })
        .collect()
}

fn zone_view(
    z: &ZoneTasks,
    weight: u64,
    active: Option<&str>,
    port: u16,
    via: Via,
    nodes: &NodeAddresses,
) -> ZoneView {
    let serving: Vec<&TaskInfo> = z
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
        .collect();
    let count = u64::try_from(serving.len()).unwrap_or(u64::MAX).max(1);
    // Rounded share per task; at least 1 so a small canary is never silently dropped.
    let per_task = ((weight + count / 2) / count).max(1);
    let mut tasks: Vec<TaskView> = serving
        .iter()
        .map(|t| {
            let host_port = t
                .host_ports
                .iter()
                .find(|(target, _)| *target == port)
                .map(|(_, published)| *published);
            let address = t.addresses.first().cloned();
            let target = match (host_port, &address) {
                // Not through 127.0.0.1: Docker's userland proxy would take every request
                // there, a process per port; and another node's port is not on this one.
                (Some(p), _) if via == Via::Auto => Some(
                    nodes
                        .target(t, port, p)
                        .unwrap_or_else(|| format!("127.0.0.1:{p}")),
                ),
                (_, Some(a)) => Some(format!("{a}:{port}")),
                (_, None) => None,
            };
            TaskView {
                id: t.id.clone(),
                zone: z.zone.clone(),
                address,
                addresses: t.addresses.clone(),
                host_port,
                target,
                version: t.version.clone(),
                weight: per_task,
            }
        })
        .collect();
    // Swarm lists tasks in creation order, which changes when a task is replaced: sort so
    // the same set of tasks always renders the same file.
    tasks.sort_by(|a, b| a.target.cmp(&b.target).then_with(|| a.id.cmp(&b.id)));
    ZoneView {
        name: z.zone.clone(),
        service_name: z.service_name.clone(),
        weight,
        active: active == Some(z.zone.as_str()),
        version: common_version(&tasks),
        tasks,
    }
}

fn common_version(tasks: &[TaskView]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in tasks.iter().filter_map(|t| t.version.as_deref()) {
        *counts.entry(v).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v.to_string())
}

/// `{project}_{service}` with anything outside `[A-Za-z0-9_]` replaced by `_`.
pub fn upstream_name(project: &str, service: &str) -> String {
    format!("{project}_{service}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn task(id: &str, addr: &str, host_port: Option<u16>, version: &str) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some(version.into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: vec![addr.into()],
            host_ports: host_port.map(|p| (8080, p)).into_iter().collect(),
            updated_at: None,
            created_at: None,
        }
    }

    fn zones(blue: Vec<TaskInfo>, green: Vec<TaskInfo>) -> Vec<ZoneTasks> {
        vec![
            ZoneTasks {
                zone: "blue".into(),
                service_name: "demo_web-blue".into(),
                tasks: blue,
            },
            ZoneTasks {
                zone: "green".into(),
                service_name: "demo_web-green".into(),
                tasks: green,
            },
        ]
    }

    #[test]
    fn without_a_traffic_key_the_active_zone_gets_everything() {
        let keys = KeyValues {
            active_zone: Some("green".into()),
            active_version: Some("1.1.0".into()),
            traffic: None,
        };
        let view = service_view(
            "demo",
            "web",
            &keys,
            &zones(
                vec![task("b1", "10.0.1.2", None, "1.0.0")],
                vec![
                    task("g2", "10.0.1.9", None, "1.1.0"),
                    task("g1", "10.0.1.8", None, "1.1.0"),
                ],
            ),
            8080,
            Via::Auto,
            &NodeAddresses::default(),
        );
        assert_eq!(view.zones[0].weight, 0);
        assert_eq!(view.zones[1].weight, 100);
        assert!(view.zones[1].active);
        assert_eq!(view.zones[1].version.as_deref(), Some("1.1.0"));
        let targets: Vec<_> = view
            .servers
            .iter()
            .filter_map(|s| s.target.clone())
            .collect();
        assert_eq!(targets, ["10.0.1.8:8080", "10.0.1.9:8080"]);
        assert_eq!(view.servers[0].weight, 50);
        assert_eq!(view.upstream, "demo_web");
    }

    #[test]
    fn the_traffic_key_splits_weights_and_host_ports_win() {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: Some("1.0.0".into()),
            traffic: Some("blue=75,green=25".into()),
        };
        let mut stopping = task("b9", "10.0.1.3", None, "1.0.0");
        stopping.desired_state = TaskState::Shutdown;
        let view = service_view(
            "demo",
            "web",
            &keys,
            &zones(
                vec![
                    task("b1", "10.0.1.2", Some(18081), "1.0.0"),
                    task("b2", "10.0.1.4", Some(18082), "1.0.0"),
                    task("b3", "10.0.1.5", Some(18083), "1.0.0"),
                    stopping,
                ],
                vec![task("g1", "10.0.1.8", Some(18091), "1.1.0")],
            ),
            8080,
            Via::Auto,
            &NodeAddresses::default(),
        );
        let servers: Vec<_> = view
            .servers
            .iter()
            .map(|s| (s.target.clone().unwrap_or_default(), s.weight))
            .collect();
        assert_eq!(
            servers,
            [
                ("127.0.0.1:18081".to_string(), 25),
                ("127.0.0.1:18082".to_string(), 25),
                ("127.0.0.1:18083".to_string(), 25),
                ("127.0.0.1:18091".to_string(), 25),
            ]
        );
    }

    #[test]
    fn a_router_in_a_container_goes_over_the_overlay_even_to_host_ports() {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: None,
            traffic: None,
        };
        let view = service_view(
            "demo",
            "web",
            &keys,
            &zones(vec![task("b1", "10.0.1.2", Some(18081), "1.0.0")], vec![]),
            8080,
            Via::Overlay,
            &NodeAddresses::default(),
        );
        let targets: Vec<_> = view.servers.iter().map(|s| s.target.clone()).collect();
        assert_eq!(targets, [Some("10.0.1.2:8080".to_string())]);
        assert_eq!(
            view.servers[0].host_port,
            Some(18081),
            "still in the context"
        );
    }

    #[test]
    fn host_ports_are_reached_at_the_nodes_address_or_on_this_nodes_bridge() {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: None,
            traffic: None,
        };
        let on = |id: &str, node: &str, container: &str, host_port| TaskInfo {
            node_id: Some(node.into()),
            container_id: Some(container.into()),
            ..task(id, "10.0.1.2", Some(host_port), "1.0.0")
        };
        let nodes = NodeAddresses {
            nodes: [
                ("here".to_string(), "127.0.0.1".to_string()),
                ("worker".to_string(), "192.168.1.12".to_string()),
                ("v6".to_string(), "fd00::13".to_string()),
                ("odd".to_string(), "0.0.0.0".to_string()),
            ]
            .into(),
            bridges: [("c-here".to_string(), "172.18.0.5".to_string())].into(),
        };
        let blue = vec![
            on("b1", "here", "c-here", 18081),
            on("b2", "here", "c-gone", 18082),
            on("b3", "worker", "c-w", 18083),
            on("b4", "v6", "c-v6", 18084),
            on("b5", "odd", "c-odd", 18085),
        ];
        let targets = |via| -> Vec<Option<String>> {
            service_view(
                "demo",
                "web",
                &keys,
                &zones(blue.clone(), vec![]),
                8080,
                via,
                &nodes,
            )
            .servers
            .iter()
            .map(|s| s.target.clone())
            .collect()
        };
        // Another node: its address and the published port. This node advertises only
        // loopback: the container's bridge address and the target port. Neither known:
        // 127.0.0.1 and the published port, as without the lookup.
        assert_eq!(
            targets(Via::Auto),
            [
                Some("127.0.0.1:18082".into()),
                Some("127.0.0.1:18085".into()),
                Some("172.18.0.5:8080".into()),
                Some("192.168.1.12:18083".into()),
                Some("[fd00::13]:18084".into()),
            ]
        );
        // A router in a container uses the overlay.
        assert!(
            targets(Via::Overlay)
                .iter()
                .all(|t| t.as_deref() == Some("10.0.1.2:8080"))
        );
    }

    #[test]
    fn a_small_share_keeps_weight_one_and_zero_drops_the_zone() {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: None,
            traffic: Some("blue=100,green=0".into()),
        };
        let view = service_view(
            "demo",
            "web",
            &keys,
            &zones(
                vec![task("b1", "10.0.1.2", None, "1")],
                vec![task("g1", "10.0.1.8", None, "2")],
            ),
            8080,
            Via::Auto,
            &NodeAddresses::default(),
        );
        assert_eq!(view.servers.len(), 1);
        let keys = KeyValues {
            traffic: Some("blue=99,green=1".into()),
            ..keys
        };
        let many: Vec<_> = (0..3)
            .map(|i| task(&format!("g{i}"), &format!("10.0.2.{i}"), None, "2"))
            .collect();
        let view = service_view(
            "demo",
            "web",
            &keys,
            &zones(vec![task("b1", "10.0.1.2", None, "1")], many),
            8080,
            Via::Auto,
            &NodeAddresses::default(),
        );
        assert!(view.servers.iter().all(|s| s.weight >= 1));
        assert_eq!(view.servers.len(), 4);
    }
}

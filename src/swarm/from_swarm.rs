//! Swarm's answers -> the executor's values (`TaskInfo`, `ZoneState`). Pure.

use std::time::SystemTime;

use bollard::models::{EndpointPortConfigPublishModeEnum, Service, Task};

use super::to_swarm::{LABEL_IMAGE, LABEL_SPEC, LABEL_VERSION};
use crate::ports::{NetworkUsage, TaskInfo, TaskState, ZoneState};

/// `repo:tag@sha256:...` -> `repo:tag`: the engine pins digests it could resolve, users compare
/// what they wrote.
pub fn strip_digest(image: &str) -> &str {
    image.split_once('@').map_or(image, |(name, _)| name)
}

/// Docker's RFC 3339 timestamps; Go's zero time (year 1) and garbage give `None`.
pub fn timestamp(text: Option<&str>) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text?).ok()
}

/// `10.0.1.5/24` -> `10.0.1.5`.
fn strip_prefix_len(address: &str) -> String {
    address
        .split_once('/')
        .map_or(address, |(ip, _)| ip)
        .to_string()
}

/// Container id -> IPv4 address of the containers on a bridge network (`GET /networks/NAME`
/// of the local engine). Endpoints that are not containers (`ingress-sbox`) have no
/// container id as their key and are left out.
pub fn bridge_addresses(raw: &serde_json::Value) -> Vec<(String, String)> {
    let Some(containers) = raw.get("Containers").and_then(|c| c.as_object()) else {
        return Vec::new();
    };
    containers
        .iter()
        .filter(|(id, _)| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter_map(|(id, endpoint)| {
            let address = endpoint.get("IPv4Address")?.as_str()?;
            let address = strip_prefix_len(address);
            (!address.is_empty()).then(|| (id.clone(), address))
        })
        .collect()
}

/// Node id -> the address each node advertises (`GET /nodes`): `Status.Addr`, or the
/// manager address's host where a manager shows `0.0.0.0` there.
pub fn node_addresses(raw: &serde_json::Value) -> Vec<(String, String)> {
    let Some(nodes) = raw.as_array() else {
        return Vec::new();
    };
    nodes
        .iter()
        .filter_map(|node| {
            let id = node.get("ID")?.as_str()?;
            let status = node.pointer("/Status/Addr").and_then(|a| a.as_str());
            let manager = node
                .pointer("/ManagerStatus/Addr")
                .and_then(|a| a.as_str())
                .and_then(|a| a.rsplit_once(':'))
                .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'));
            let address = status
                .filter(|a| !a.is_empty() && *a != "0.0.0.0")
                .or(manager)?;
            Some((id.to_string(), address.to_string()))
        })
        .collect()
}

/// A network's IPv4 subnets and the addresses taken in it, from `GET /networks/{id}?verbose=true`
/// on a manager. Counted: every distinct address the answer names (virtual IPs and task
/// endpoints of its `Services`, the local `Containers` with the node's load balancer), plus one
/// load-balancer endpoint for each other node among its `Peers`. Not visible there: the virtual
/// IP of a service that has no task yet. `None` for a network with no IPv4 subnet (not overlay).
pub fn network_usage(raw: &serde_json::Value) -> Option<NetworkUsage> {
    let subnets: Vec<String> = raw
        .pointer("/IPAM/Config")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter_map(|pool| pool.get("Subnet").and_then(|s| s.as_str()))
        .filter(|s| !s.contains(':'))
        .map(str::to_string)
        .collect();
    if subnets.is_empty() {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    let mut add = |address: Option<&str>| {
        if let Some(a) = address.map(strip_prefix_len).filter(|a| !a.is_empty()) {
            seen.insert(a);
        }
    };
    let services = raw.get("Services").and_then(|s| s.as_object());
    for service in services.into_iter().flat_map(|s| s.values()) {
        add(service.get("VIP").and_then(|v| v.as_str()));
        let tasks = service.get("Tasks").and_then(|t| t.as_array());
        for task in tasks.into_iter().flatten() {
            add(task.get("EndpointIP").and_then(|v| v.as_str()));
        }
    }
    let containers = raw.get("Containers").and_then(|c| c.as_object());
    for container in containers.into_iter().flat_map(|c| c.values()) {
        add(container.get("IPv4Address").and_then(|v| v.as_str()));
    }
    let peers = raw
        .get("Peers")
        .and_then(|p| p.as_array())
        .map_or(0, Vec::len) as u64;
    Some(NetworkUsage {
        subnets,
        in_use: seen.len() as u64 + peers.saturating_sub(1),
    })
}

/// Task addresses from the raw JSON's `NetworksAttachments`, leaving out the ingress network,
/// whose addresses only the routing mesh uses.
pub fn task_addresses(raw: &serde_json::Value) -> Vec<String> {
    let Some(attachments) = raw.get("NetworksAttachments").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter(|a| {
            let spec = a.pointer("/Network/Spec");
            let ingress = spec
                .and_then(|s| s.get("Ingress"))
                .and_then(|i| i.as_bool())
                .unwrap_or(false);
            let name = spec.and_then(|s| s.get("Name")).and_then(|n| n.as_str());
            !ingress && name != Some("ingress")
        })
        .filter_map(|a| a.get("Addresses").and_then(|x| x.as_array()))
        .flatten()
        .filter_map(|x| x.as_str())
        .map(strip_prefix_len)
        .collect()
}

fn container_label<'a>(task: &'a Task, key: &str) -> Option<&'a str> {
    task.spec
        .as_ref()?
        .container_spec
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn task_image(task: &Task) -> Option<&str> {
    task.spec
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
        .map(strip_digest)
}

/// One task as the executor sees it; `addresses` come from the raw JSON (see `raw`).
pub fn task_info(task: &Task, addresses: Vec<String>) -> TaskInfo {
    let status = task.status.clone().unwrap_or_default();
    let state = status
        .state
        .map(|s| TaskState::parse(&s.to_string()))
        .unwrap_or(TaskState::Pending);
    let desired_state = task
        .desired_state
        .map(|s| TaskState::parse(&s.to_string()))
        .unwrap_or(TaskState::Running);
    let exited = matches!(
        state,
        TaskState::Complete | TaskState::Failed | TaskState::Shutdown | TaskState::Rejected
    );
    let exit_code = status
        .container_status
        .as_ref()
        .filter(|c| exited && c.container_id.as_deref().is_some_and(|id| !id.is_empty()))
        .and_then(|c| c.exit_code);
    let host_ports = status
        .port_status
        .as_ref()
        .and_then(|p| p.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST))
                .filter_map(|p| {
                    let target = u16::try_from(p.target_port?).ok()?;
                    let published = u16::try_from(p.published_port?).ok()?;
                    Some((target, published))
                })
                .collect()
        })
        .unwrap_or_default();
    TaskInfo {
        id: task.id.clone().unwrap_or_default(),
        state,
        desired_state,
        version: container_label(task, LABEL_VERSION).map(str::to_string),
        image: task_image(task).map(str::to_string),
        message: status.message.clone().unwrap_or_default(),
        error: status.err.clone().filter(|e| !e.is_empty()),
        exit_code,
        node_id: task.node_id.clone().filter(|n| !n.is_empty()),
        container_id: status
            .container_status
            .as_ref()
            .and_then(|c| c.container_id.clone())
            .filter(|id| !id.is_empty()),
        addresses,
        host_ports,
        updated_at: timestamp(status.timestamp.as_deref())
            .or(timestamp(task.updated_at.as_deref())),
        created_at: timestamp(task.created_at.as_deref()),
    }
}

fn service_container_label<'a>(service: &'a Service, key: &str) -> Option<&'a str> {
    service
        .spec
        .as_ref()?
        .task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn service_label<'a>(service: &'a Service, key: &str) -> Option<&'a str> {
    service
        .spec
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn service_image(service: &Service) -> Option<&str> {
    if let Some(image) = service_label(service, LABEL_IMAGE) {
        return Some(image);
    }
    service
        .spec
        .as_ref()?
        .task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
        .map(strip_digest)
}

/// Whether `task` was created from the service's current spec. Services that shipctl wrote carry a
/// spec fingerprint; for others the version label and the image must match.
pub fn is_current(service: &Service, task: &Task) -> bool {
    match service_container_label(service, LABEL_SPEC) {
        Some(fingerprint) => container_label(task, LABEL_SPEC) == Some(fingerprint),
        None => {
            container_label(task, LABEL_VERSION) == service_container_label(service, LABEL_VERSION)
                && task_image(task)
                    == service
                        .spec
                        .as_ref()
                        .and_then(|s| s.task_template.as_ref())
                        .and_then(|t| t.container_spec.as_ref())
                        .and_then(|c| c.image.as_deref())
                        .map(strip_digest)
        }
    }
}

/// The zone's state from its service and the tasks Swarm reports for it.
pub fn zone_state(service: &Service, tasks: &[Task]) -> ZoneState {
    let spec = service.spec.as_ref();
    let mode = spec.and_then(|s| s.mode.as_ref());
    let desired = match mode.and_then(|m| m.replicated.as_ref()) {
        Some(r) => r.replicas.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        // Global services: Swarm's own count (one per eligible node).
        None => service
            .service_status
            .as_ref()
            .and_then(|s| s.desired_tasks)
            .unwrap_or(0),
    };
    let mut running = 0;
    let mut healthy = 0;
    for task in tasks.iter().filter(|t| is_current(service, t)) {
        let info = task_info(task, Vec::new());
        // Swarm keeps a task with a healthcheck in `starting` until it passes: `running` here
        // already means healthy. One that Swarm is stopping no longer counts as healthy.
        if info.state == TaskState::Running {
            running += 1;
            if info.desired_state == TaskState::Running {
                healthy += 1;
            }
        }
    }
    ZoneState {
        service_name: spec.and_then(|s| s.name.clone()).unwrap_or_default(),
        desired,
        running,
        healthy,
        version: service_label(service, LABEL_VERSION)
            .or_else(|| service_container_label(service, LABEL_VERSION))
            .map(str::to_string),
        image: service_image(service).map(str::to_string),
        spec_index: service.version.as_ref().and_then(|v| v.index),
        updated_at: service.updated_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(json: serde_json::Value) -> Task {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn bridge_addresses_are_the_containers_of_a_bridge_network() {
        let id = "bfdb5ed8fc4da269d3abe574486f0926c4a94515461e54b5be0e1ba95217e29c";
        let raw = serde_json::json!({
            "Name": "docker_gwbridge",
            "Containers": {
                id: {"Name": "gateway_ffaf625661d0", "IPv4Address": "172.18.0.3/16", "IPv6Address": ""},
                "ingress-sbox": {"Name": "gateway_ingress-sbox", "IPv4Address": "172.18.0.2/16"}
            }
        });
        assert_eq!(
            bridge_addresses(&raw),
            [(id.to_string(), "172.18.0.3".to_string())]
        );
        assert!(bridge_addresses(&serde_json::json!({"Containers": null})).is_empty());
    }

    #[test]
    fn node_addresses_take_the_manager_address_where_the_status_has_none() {
        let raw = serde_json::json!([
            {"ID": "w1", "Status": {"State": "ready", "Addr": "10.0.0.12"}},
            {"ID": "m1", "Status": {"State": "ready", "Addr": "0.0.0.0"},
             "ManagerStatus": {"Leader": true, "Addr": "10.0.0.11:2377"}},
            {"ID": "m2", "Status": {"State": "down", "Addr": ""},
             "ManagerStatus": {"Addr": "[fd00::2]:2377"}},
            {"ID": "lost", "Status": {"State": "down"}}
        ]);
        assert_eq!(
            node_addresses(&raw),
            [
                ("w1".to_string(), "10.0.0.12".to_string()),
                ("m1".to_string(), "10.0.0.11".to_string()),
                ("m2".to_string(), "fd00::2".to_string()),
            ]
        );
    }

    #[test]
    fn converts_a_failed_task() {
        let raw = serde_json::json!({
            "ID": "t1",
            "CreatedAt": "2026-11-21T21:54:20.818395786Z",
            "UpdatedAt": "2026-11-21T21:54:22Z",
            "NodeID": "n1",
            "Spec": {"ContainerSpec": {
                "Image": "app:2.0.0@sha256:abcd",
                "Labels": {"io.shipctl.version": "2.0.0"}
            }},
            "Status": {
                "Timestamp": "2026-11-21T21:54:23.5Z",
                "State": "failed",
                "Message": "started",
                "Err": "task: non-zero exit (1)",
                "ContainerStatus": {"ContainerID": "c1", "ExitCode": 1},
                "PortStatus": {"Ports": [
                    {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 30001, "PublishMode": "host"},
                    {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9000, "PublishMode": "ingress"}
                ]}
            },
            "DesiredState": "shutdown",
            "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "ingress", "Ingress": true}}, "Addresses": ["10.0.0.9/24"]},
                {"Network": {"Spec": {"Name": "demo_default"}}, "Addresses": ["10.0.1.5/24"]}
            ]
        });
        let info = task_info(&task(raw.clone()), task_addresses(&raw));
        assert_eq!(info.id, "t1");
        assert_eq!(info.state, TaskState::Failed);
        assert_eq!(info.desired_state, TaskState::Shutdown);
        assert_eq!(info.version.as_deref(), Some("2.0.0"));
        assert_eq!(info.image.as_deref(), Some("app:2.0.0"));
        assert_eq!(info.error.as_deref(), Some("task: non-zero exit (1)"));
        assert_eq!(info.exit_code, Some(1));
        assert_eq!(info.node_id.as_deref(), Some("n1"));
        assert_eq!(info.container_id.as_deref(), Some("c1"));
        assert_eq!(info.addresses, vec!["10.0.1.5".to_string()]);
        assert_eq!(info.host_ports, vec![(8080, 30001)]);
        assert!(info.created_at.is_some());
        assert!(info.updated_at > info.created_at);
    }

    #[test]
    fn running_task_has_no_exit_code() {
        let t = task(serde_json::json!({
            "ID": "t2",
            "Status": {"State": "running", "Message": "started",
                       "ContainerStatus": {"ContainerID": "c2", "ExitCode": 0}},
            "DesiredState": "running",
            "CreatedAt": "0001-01-01T00:00:00Z"
        }));
        let info = task_info(&t, Vec::new());
        assert_eq!(info.state, TaskState::Running);
        assert_eq!(info.exit_code, None);
        assert_eq!(info.error, None);
        assert_eq!(info.created_at, None);
    }

    #[test]
    fn counts_only_tasks_of_the_current_spec() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "ID": "s1",
            "Version": {"Index": 42},
            "Spec": {
                "Name": "demo_web-blue",
                "Labels": {"io.shipctl.version": "2.0.0", "com.docker.stack.image": "app:2.0.0"},
                "TaskTemplate": {"ContainerSpec": {"Image": "app:2.0.0",
                    "Labels": {"io.shipctl.version": "2.0.0", "io.shipctl.spec": "new"}}},
                "Mode": {"Replicated": {"Replicas": 3}}
            }
        }))
        .unwrap();
        let t = |state: &str, desired: &str, spec: &str| {
            task(serde_json::json!({
                "Spec": {"ContainerSpec": {"Labels": {"io.shipctl.spec": spec}}},
                "Status": {"State": state},
                "DesiredState": desired
            }))
        };
        let tasks = vec![
            t("running", "running", "new"),
            t("running", "shutdown", "new"),
            t("starting", "running", "new"),
            t("running", "running", "old"),
        ];
        let zone = zone_state(&service, &tasks);
        assert_eq!(zone.service_name, "demo_web-blue");
        assert_eq!(zone.desired, 3);
        assert_eq!(zone.running, 2);
        assert_eq!(zone.healthy, 1);
        assert_eq!(zone.version.as_deref(), Some("2.0.0"));
        assert_eq!(zone.image.as_deref(), Some("app:2.0.0"));
        assert_eq!(zone.spec_index, Some(42));
    }

    #[test]
    fn foreign_services_compare_version_and_image() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "app:1@sha256:aa",
                "Labels": {"io.shipctl.version": "1"}}}}
        }))
        .unwrap();
        let same = task(
            serde_json::json!({"Spec": {"ContainerSpec": {"Image": "app:1",
            "Labels": {"io.shipctl.version": "1"}}}}),
        );
        let other = task(
            serde_json::json!({"Spec": {"ContainerSpec": {"Image": "app:0",
            "Labels": {"io.shipctl.version": "0"}}}}),
        );
        assert!(is_current(&service, &same));
        assert!(!is_current(&service, &other));
    }

    #[test]
    fn network_usage_counts_each_address_once() {
        let raw = serde_json::json!({
            "IPAM": {"Config": [{"Subnet": "10.250.7.0/28", "Gateway": "10.250.7.1"}]},
            "Containers": {
                "c1": {"IPv4Address": "10.250.7.3/28"},
                "lb-net": {"IPv4Address": "10.250.7.5/28"}
            },
            "Peers": [{"IP": "10.0.0.1"}, {"IP": "10.0.0.2"}],
            "Services": {
                "web": {"VIP": "10.250.7.2", "Tasks": [
                    {"EndpointIP": "10.250.7.3"}, {"EndpointIP": "10.250.7.4"}
                ]},
                "dnsrr": {"VIP": "", "Tasks": [{"EndpointIP": "10.250.7.6"}]}
            }
        });
        let usage = network_usage(&raw).unwrap();
        assert_eq!(usage.subnets, ["10.250.7.0/28"]);
        // .2 .3 .4 .5 .6, and the other peer's load balancer.
        assert_eq!(usage.in_use, 6);
        assert_eq!(
            network_usage(&serde_json::json!({"IPAM": {"Config": []}})),
            None
        );
    }
}

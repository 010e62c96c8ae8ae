//! The router as a Swarm service (`shipctl route deploy`): the service spec that runs
//! `shipctl route` and nginx or HAProxy in each task of the router image. Pure: values in, the
//! spec out.
//!
//! Each task registers under its own id, `{node hostname}-{task id}` (Swarm fills the template
//! in per task), so a deploy waits for every replica. The tasks reach the zone tasks over the
//! stack's overlay networks (`--via overlay`), and the Swarm API through the manager's socket
//! (placed on managers) or through `DOCKER_HOST`.

use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Mount, MountType, NetworkAttachmentConfig, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use super::target::RouteTarget;

/// Where the router listens inside its container: above 1024, so it runs as a plain user.
pub const LISTEN_PORT: u16 = 8080;
/// The directory of the rendered config in the router image (writable by its user).
pub const CONFIG_DIR: &str = "/var/lib/shipctl-router";
/// The manager's socket, mounted at the same path.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The environment variable that gives each task its router id.
pub const ID_VARIABLE: &str = "SHIPCTL_ROUTE_ID";
/// Swarm's per-task template for the id: the node says where, the task id tells replicas
/// (and a task from its replacement) apart.
pub const ID_TEMPLATE: &str = "{{.Node.Hostname}}-{{.Task.ID}}";
/// The label that marks a router service, with the project as its value.
pub const ROUTER_LABEL: &str = "io.shipctl.router";

/// The program in the router image that serves the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Nginx,
    Haproxy,
}

impl Proxy {
    /// The built-in template of this proxy.
    pub fn template(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "haproxy",
        }
    }

    fn config(self) -> String {
        match self {
            Proxy::Nginx => format!("{CONFIG_DIR}/nginx.conf"),
            Proxy::Haproxy => format!("{CONFIG_DIR}/haproxy.cfg"),
        }
    }

    /// `(check, reload, exec)` for `shipctl route`: the proxy runs in the foreground with its
    /// pid file and logs where a plain user may write them.
    fn commands(self) -> (String, String, String) {
        let config = self.config();
        match self {
            Proxy::Nginx => {
                let pid = "pid /tmp/shipctl-nginx.pid;";
                (
                    "nginx -t -q -e stderr -g 'pid /tmp/shipctl-nginx-check.pid;' -c {file}"
                        .to_string(),
                    format!("nginx -e stderr -g '{pid}' -c {config} -s reload"),
                    format!("nginx -e stderr -g 'daemon off; {pid}' -c {config}"),
                )
            }
            Proxy::Haproxy => (
                "haproxy -c -q -f {file}".to_string(),
                // Master-worker mode: USR2 makes the master load the new config, and the old
                // workers finish their connections.
                "kill -USR2 $(cat /tmp/shipctl-haproxy.pid)".to_string(),
                format!("haproxy -W -db -f {config} -p /tmp/shipctl-haproxy.pid"),
            ),
        }
    }
}

/// One task per node, or a number of replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Global,
    Replicated(u64),
}

/// How the router reaches the Swarm API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAccess {
    /// The manager's socket, mounted: the tasks are placed on managers. Without a group id
    /// that may use the socket, they run as root in their containers.
    Socket { gid: Option<u32> },
    /// `DOCKER_HOST` (e.g. `tcp://manager:2376` with TLS): the tasks may run on any node.
    Host(String),
}

/// A published port: `published` on the node (host mode) or the routing mesh (ingress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    pub published: u16,
    pub host_mode: bool,
}

/// What the router service is made of.
#[derive(Debug, Clone)]
pub struct RouterService {
    pub name: String,
    pub project: String,
    pub image: String,
    /// The KV store the keys live in, as the tasks reach it.
    pub kv_url: String,
    pub targets: Vec<RouteTarget>,
    pub proxy: Proxy,
    pub mode: Mode,
    pub publish: Vec<Publish>,
    pub constraints: Vec<String>,
    pub access: ApiAccess,
    pub env: Vec<(String, String)>,
    /// The networks to join (ids or names): those of the zone services.
    pub networks: Vec<String>,
    pub heartbeat: String,
    pub interval: String,
}

/// The arguments of `shipctl` in each task.
pub fn command_args(service: &RouterService) -> Result<Vec<String>, serde_json::Error> {
    let (check, reload, exec) = service.proxy.commands();
    let targets = serde_json::to_string(&service.targets)?;
    Ok([
        "--project",
        &service.project,
        "--kv",
        &service.kv_url,
        "route",
        "--targets-json",
        &targets,
        "--template",
        service.proxy.template(),
        "--config",
        &service.proxy.config(),
        "--listen",
        &format!("0.0.0.0:{LISTEN_PORT}"),
        "--via",
        "overlay",
        "--check",
        &check,
        "--reload",
        &reload,
        "--exec",
        &exec,
        "--heartbeat",
        &service.heartbeat,
        "--interval",
        &service.interval,
    ]
    .into_iter()
    .map(str::to_string)
    .collect())
}

/// The Swarm service spec of the router.
pub fn service_spec(service: &RouterService) -> Result<ServiceSpec, serde_json::Error> {
    let mut env: Vec<String> = vec![format!("{ID_VARIABLE}={ID_TEMPLATE}")];
    let mut constraints = service.constraints.clone();
    let mut mounts = Vec::new();
    let mut user = None;
    let mut groups = None;
    match &service.access {
        ApiAccess::Socket { gid } => {
            mounts.push(Mount {
                target: Some(DOCKER_SOCKET.into()),
                source: Some(DOCKER_SOCKET.into()),
                typ: Some(MountType::BIND),
                ..Mount::default()
            });
            let manager = "node.role == manager".to_string();
            if !constraints.contains(&manager) {
                constraints.push(manager);
            }
            match gid {
                Some(gid) => groups = Some(vec![gid.to_string()]),
                // The socket's group differs between hosts: root may always use it.
                None => user = Some("root".to_string()),
            }
        }
        ApiAccess::Host(host) => env.push(format!("DOCKER_HOST={host}")),
    }
    env.extend(service.env.iter().map(|(k, v)| format!("{k}={v}")));
    let labels = HashMap::from([
        (
            "com.docker.stack.namespace".to_string(),
            service.project.clone(),
        ),
        (ROUTER_LABEL.to_string(), service.project.clone()),
    ]);
    let ports: Vec<EndpointPortConfig> = service
        .publish
        .iter()
        .map(|p| EndpointPortConfig {
            target_port: Some(i64::from(LISTEN_PORT)),
            published_port: Some(i64::from(p.published)),
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            publish_mode: Some(if p.host_mode {
                EndpointPortConfigPublishModeEnum::HOST
            } else {
                EndpointPortConfigPublishModeEnum::INGRESS
            }),
            ..EndpointPortConfig::default()
        })
        .collect();
    Ok(ServiceSpec {
        name: Some(service.name.clone()),
        labels: Some(labels.clone()),
        mode: Some(match service.mode {
            Mode::Global => ServiceSpecMode {
                global: Some(HashMap::new()),
                ..ServiceSpecMode::default()
            },
            Mode::Replicated(n) => ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::try_from(n).unwrap_or(i64::MAX)),
                }),
                ..ServiceSpecMode::default()
            },
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(service.image.clone()),
                labels: Some(labels),
                args: Some(command_args(service)?),
                env: Some(env),
                mounts: Some(mounts),
                user,
                groups,
                // Docker's init as PID 1: it reaps what the proxy and the reloads leave behind
                // and passes SIGTERM on to `shipctl route`.
                init: Some(true),
                // The route loop stops the proxy after it deregistered: give it the time.
                stop_grace_period: Some(15_000_000_000),
                ..TaskSpecContainerSpec::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(constraints),
                ..TaskSpecPlacement::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(1_000_000_000),
                ..TaskSpecRestartPolicy::default()
            }),
            networks: Some(
                service
                    .networks
                    .iter()
                    .map(|n| NetworkAttachmentConfig {
                        target: Some(n.clone()),
                        ..NetworkAttachmentConfig::default()
                    })
                    .collect(),
            ),
            ..TaskSpec::default()
        }),
        // One router at a time, each stopped before its replacement starts: a host-mode
        // port cannot be bound twice on one node. A replacement that fails is rolled back.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(2_000_000_000),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(5_000_000_000),
            order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            ..ServiceSpecUpdateConfig::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            // Host-mode ports need no virtual IP; ingress ports do.
            mode: Some(if service.publish.iter().all(|p| p.host_mode) {
                EndpointSpecModeEnum::DNSRR
            } else {
                EndpointSpecModeEnum::VIP
            }),
            ports: Some(ports),
        }),
        ..ServiceSpec::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> RouteTarget {
        RouteTarget {
            service: "web".into(),
            active_zone_key: "shop/web-active-zone".into(),
            active_version_key: "shop/web-active-version".into(),
            traffic_key: "shop/web-traffic".into(),
            router_key: "shop/web-router".into(),
            zones: vec![
                ("blue".into(), "shop_web-blue".into()),
                ("green".into(), "shop_web-green".into()),
            ],
            port: 8080,
        }
    }

    fn router(access: ApiAccess) -> RouterService {
        RouterService {
            name: "shop_router".into(),
            project: "shop".into(),
            image: "shipctl-router:1".into(),
            kv_url: "swarm://".into(),
            targets: vec![target()],
            proxy: Proxy::Nginx,
            mode: Mode::Global,
            publish: vec![Publish {
                published: 80,
                host_mode: true,
            }],
            constraints: vec![],
            access,
            env: vec![],
            networks: vec!["shop_default".into()],
            heartbeat: "2s".into(),
            interval: "250ms".into(),
        }
    }

    #[test]
    fn the_socket_places_the_router_on_managers() {
        let spec = service_spec(&router(ApiAccess::Socket { gid: None })).unwrap();
        let task = spec.task_template.unwrap();
        let container = task.container_spec.unwrap();
        let constraints = task.placement.unwrap().constraints.unwrap();
        assert_eq!(constraints, ["node.role == manager"]);
        let mounts = container.mounts.unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some(DOCKER_SOCKET));
        assert_eq!(container.user.as_deref(), Some("root"), "no group given");
        let env = container.env.unwrap();
        assert!(
            env.contains(&format!("{ID_VARIABLE}={ID_TEMPLATE}")),
            "{env:?}"
        );
        assert!(spec.mode.unwrap().global.is_some());
        assert_eq!(container.init, Some(true));
    }

    #[test]
    fn docker_host_lets_it_run_anywhere_as_its_user() {
        let mut r = router(ApiAccess::Host("tcp://10.0.0.1:2376".into()));
        r.constraints = vec!["node.role == worker".into()];
        r.mode = Mode::Replicated(2);
        let spec = service_spec(&r).unwrap();
        let task = spec.task_template.unwrap();
        let container = task.container_spec.unwrap();
        assert_eq!(
            task.placement.unwrap().constraints.unwrap(),
            ["node.role == worker"]
        );
        assert!(container.mounts.unwrap().is_empty());
        assert_eq!(container.user, None);
        assert!(
            container
                .env
                .unwrap()
                .contains(&"DOCKER_HOST=tcp://10.0.0.1:2376".to_string())
        );
        let update = spec.update_config.unwrap();
        assert_eq!(
            update.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        assert_eq!(update.parallelism, Some(1));
        let ports = spec.endpoint_spec.unwrap().ports.unwrap();
        assert_eq!(
            ports[0].publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(ports[0].target_port, Some(i64::from(LISTEN_PORT)));
    }

    #[test]
    fn ingress_ports_get_a_virtual_ip_and_extra_variables_reach_the_tasks() {
        let mut r = router(ApiAccess::Socket { gid: Some(999) });
        r.publish[0].host_mode = false;
        r.env = vec![("CONSUL_HTTP_TOKEN".into(), "secret".into())];
        let spec = service_spec(&r).unwrap();
        let endpoint = spec.endpoint_spec.unwrap();
        assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::VIP));
        assert_eq!(
            endpoint.ports.unwrap()[0].publish_mode,
            Some(EndpointPortConfigPublishModeEnum::INGRESS)
        );
        let container = spec.task_template.unwrap().container_spec.unwrap();
        assert_eq!(container.groups, Some(vec!["999".to_string()]));
        assert_eq!(
            container.user, None,
            "the image's user, with the socket's group"
        );
        assert!(
            container
                .env
                .unwrap()
                .contains(&"CONSUL_HTTP_TOKEN=secret".to_string())
        );
    }

    #[test]
    fn each_task_routes_the_resolved_targets_over_the_overlay() {
        let args = command_args(&router(ApiAccess::Socket { gid: Some(999) })).unwrap();
        let at = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(at("--via"), "overlay");
        assert_eq!(at("--project"), "shop");
        let targets: Vec<RouteTarget> = serde_json::from_str(&at("--targets-json")).unwrap();
        assert_eq!(targets, [target()]);
        assert!(at("--exec").contains("daemon off"), "{}", at("--exec"));
        assert_eq!(args.iter().filter(|a| *a == "route").count(), 1);
    }
}

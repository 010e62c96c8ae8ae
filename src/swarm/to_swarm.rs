//! Compose service -> Swarm `ServiceSpec`, following `docker stack deploy`'s conventions.
//!
//! Pure: everything that must be looked up in the cluster or the environment (secret and config
//! IDs, variables named without a value) is passed in through [`Lookups`].

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount as SwarmMount, MountType,
    MountVolumeOptions, NetworkAttachmentConfig, ResourceObject, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};

use crate::compose::model::{
    EndpointMode, FileReference, Healthcheck, MountKind, Network, Protocol, PublishMode,
    ResourceAmounts, SecretOrConfig, UpdateConfig,
};
use crate::ports::ZoneTarget;
use crate::spec::defaults::IN_PLACE;

/// `docker stack deploy`'s namespace label: `docker stack ps/services` then list our services.
pub const LABEL_NAMESPACE: &str = "com.docker.stack.namespace";
/// `docker stack deploy` records the image as written (before digest pinning) here.
pub const LABEL_IMAGE: &str = "com.docker.stack.image";
pub const LABEL_SERVICE: &str = "io.shipctl.service";
pub const LABEL_ZONE: &str = "io.shipctl.zone";
pub const LABEL_VERSION: &str = "io.shipctl.version";
/// A fingerprint of the task template, on the service and on its tasks: a task whose label
/// differs from its service's was created from an older spec.
pub const LABEL_SPEC: &str = "io.shipctl.spec";

/// What the translation needs from outside: IDs by Swarm name, and the environment.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// Secret ID by Swarm secret name.
    pub secrets: HashMap<String, String>,
    /// Config ID by Swarm config name.
    pub configs: HashMap<String, String>,
    /// Values for `environment:` entries written without a value (`- FOO`).
    pub env: HashMap<String, String>,
}

/// Why a compose service cannot become a Swarm service.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranslateError {
    #[error(
        "{kind} `{key}` of service `{service}` needs the Swarm {kind} `{name}`, which does not exist \
         (create it first: docker {kind} create {name} FILE)"
    )]
    Missing {
        kind: &'static str,
        service: String,
        key: String,
        name: String,
    },
    #[error("{kind} `{key}` used by service `{service}` is not declared at the top level")]
    Undeclared {
        kind: &'static str,
        service: String,
        key: String,
    },
    #[error("service `{service}`: {field} `{value}` is not one of {expected}")]
    Invalid {
        service: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("service `{service}`: {replicas} replicas is more than Swarm accepts")]
    TooManyReplicas { service: String, replicas: u64 },
}

/// The Swarm name of a top-level network: `name:` if set, the key itself when external, else
/// `{project}_{key}` (as `docker stack deploy` names it).
pub fn network_name(project: &str, key: &str, network: Option<&Network>) -> String {
    match network {
        Some(n) if n.name.is_some() => n.name.clone().unwrap_or_default(),
        Some(n) if n.external => key.to_string(),
        _ => format!("{project}_{key}"),
    }
}

/// The Swarm name of a top-level secret or config (same rule as networks).
pub fn object_name(project: &str, key: &str, object: Option<&SecretOrConfig>) -> String {
    match object {
        Some(o) if o.name.is_some() => o.name.clone().unwrap_or_default(),
        Some(o) if o.external => key.to_string(),
        _ => format!("{project}_{key}"),
    }
}

/// The networks a zone's service attaches to: (Swarm name, compose definition, compose key).
/// A service without `networks:` joins `{project}_default`, as with `docker stack deploy`.
pub fn service_networks(target: &ZoneTarget) -> Vec<(String, Network, String)> {
    let keys: Vec<&str> = if target.definition.networks.is_empty() {
        vec!["default"]
    } else {
        target
            .definition
            .networks
            .keys()
            .map(String::as_str)
            .collect()
    };
    keys.into_iter()
        .map(|key| {
            let declared = target.networks.get(key);
            let name = network_name(&target.project, key, declared);
            (name, declared.cloned().unwrap_or_default(), key.to_string())
        })
        .collect()
}

/// The Swarm names of the secrets the service references.
pub fn secret_names(target: &ZoneTarget) -> Vec<String> {
    target
        .definition
        .secrets
        .iter()
        .map(|r| object_name(&target.project, &r.source, target.secrets.get(&r.source)))
        .collect()
}

/// The Swarm names of the configs the service references.
pub fn config_names(target: &ZoneTarget) -> Vec<String> {
    target
        .definition
        .configs
        .iter()
        .map(|r| object_name(&target.project, &r.source, target.configs.get(&r.source)))
        .collect()
}

/// Names of the environment variables written without a value (to be read from the environment).
pub fn env_names(target: &ZoneTarget) -> Vec<String> {
    target
        .definition
        .environment
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.clone())
        .collect()
}

/// The full Swarm spec of a zone's service.
pub fn service_spec(target: &ZoneTarget, lookups: &Lookups) -> Result<ServiceSpec, TranslateError> {
    let def = &target.definition;
    let service = target.service_name.clone();

    // Ours last, so that a compose label cannot hide which zone and version a service is.
    let ours = [
        (LABEL_NAMESPACE, target.project.clone()),
        (LABEL_SERVICE, target.service.clone()),
        (LABEL_ZONE, target.zone.clone()),
        (LABEL_VERSION, target.version.clone()),
    ];
    let mut service_labels: HashMap<String, String> =
        def.deploy.labels.clone().into_iter().collect();
    let mut container_labels: HashMap<String, String> = def.labels.clone().into_iter().collect();
    for (k, v) in &ours {
        service_labels.insert(k.to_string(), v.clone());
        container_labels.insert(k.to_string(), v.clone());
    }
    service_labels.insert(LABEL_IMAGE.to_string(), target.image.clone());

    let mut env: Vec<String> = Vec::new();
    for (key, value) in &def.environment {
        match value {
            Some(v) => env.push(format!("{key}={v}")),
            // Like `docker stack deploy`: taken from the deploying shell, skipped when unset.
            None => {
                if let Some(v) = lookups.env.get(key) {
                    env.push(format!("{key}={v}"));
                }
            }
        }
    }
    env.sort();

    let container = TaskSpecContainerSpec {
        image: Some(target.image.clone()),
        labels: Some(container_labels),
        // Compose `entrypoint` replaces the image's ENTRYPOINT (Swarm's Command), `command` its
        // CMD (Swarm's Args).
        command: def.entrypoint.clone(),
        args: def.command.clone(),
        hostname: def.hostname.clone(),
        env: (!env.is_empty()).then_some(env),
        dir: def.working_dir.clone(),
        user: def.user.clone(),
        tty: def.tty,
        read_only: def.read_only,
        mounts: mounts(target),
        stop_signal: def.stop_signal.clone(),
        stop_grace_period: def.stop_grace_period.map(nanos),
        health_check: def.healthcheck.as_ref().map(health),
        hosts: (!def.extra_hosts.is_empty())
            .then(|| def.extra_hosts.iter().map(|h| host_entry(h)).collect()),
        dns_config: (!def.dns.is_empty()).then(|| TaskSpecContainerSpecDnsConfig {
            nameservers: Some(def.dns.clone()),
            ..Default::default()
        }),
        secrets: secrets(target, lookups)?,
        configs: configs(target, lookups)?,
        init: def.init,
        capability_add: (!def.cap_add.is_empty()).then(|| def.cap_add.clone()),
        capability_drop: (!def.cap_drop.is_empty()).then(|| def.cap_drop.clone()),
        ..Default::default()
    };

    let networks = service_networks(target)
        .into_iter()
        .map(|(name, _, key)| {
            // The compose name (`web`) as `docker stack deploy` gives it, on every zone: Docker's
            // DNS answers it only with healthy tasks, so an idle zone (0 replicas) is never
            // reached and the stack's services keep calling `web` through every switch. The
            // zone's own name (`web-blue`) reaches one zone on purpose.
            let mut aliases = vec![target.service.clone()];
            if target.zone != IN_PLACE {
                aliases.push(format!("{}-{}", target.service, target.zone));
            }
            if let Some(n) = def.networks.get(&key) {
                aliases.extend(n.aliases.iter().cloned());
            }
            let mut seen = std::collections::HashSet::new();
            aliases.retain(|a| seen.insert(a.clone()));
            NetworkAttachmentConfig {
                target: Some(name),
                aliases: Some(aliases),
                ..Default::default()
            }
        })
        .collect();

    let placement = &def.deploy.placement;
    let task = TaskSpec {
        container_spec: Some(container),
        resources: resources(def),
        restart_policy: restart_policy(target)?,
        placement: Some(TaskSpecPlacement {
            constraints: (!placement.constraints.is_empty()).then(|| placement.constraints.clone()),
            preferences: (!placement.preferences.is_empty()).then(|| {
                placement
                    .preferences
                    .iter()
                    .map(|p| TaskSpecPlacementPreferences {
                        spread: Some(TaskSpecPlacementSpread {
                            spread_descriptor: Some(p.clone()),
                        }),
                    })
                    .collect()
            }),
            max_replicas: placement.max_replicas_per_node.map(saturating_i64),
            ..Default::default()
        }),
        networks: Some(networks),
        ..Default::default()
    };

    let mode = if def.deploy.mode.as_deref() == Some("global") {
        ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        }
    } else {
        let replicas =
            i64::try_from(target.replicas).map_err(|_| TranslateError::TooManyReplicas {
                service: service.clone(),
                replicas: target.replicas,
            })?;
        ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas),
            }),
            ..Default::default()
        }
    };

    let ports: Vec<EndpointPortConfig> = def
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol {
                Protocol::Tcp => EndpointPortConfigProtocolEnum::TCP,
                Protocol::Udp => EndpointPortConfigProtocolEnum::UDP,
                Protocol::Sctp => EndpointPortConfigProtocolEnum::SCTP,
            }),
            target_port: Some(i64::from(p.target)),
            published_port: p.published.map(i64::from),
            publish_mode: Some(match p.mode {
                PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
                PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
            }),
            ..Default::default()
        })
        .collect();

    let mut spec = ServiceSpec {
        name: Some(target.service_name.clone()),
        labels: Some(service_labels),
        task_template: Some(task),
        mode: Some(mode),
        update_config: def
            .deploy
            .update_config
            .as_ref()
            .map(|u| update_config(&service, u))
            .transpose()?,
        rollback_config: def
            .deploy
            .rollback_config
            .as_ref()
            .map(|u| rollback_config(&service, u))
            .transpose()?,
        endpoint_spec: Some(EndpointSpec {
            mode: Some(match def.deploy.endpoint_mode {
                Some(EndpointMode::Dnsrr) => EndpointSpecModeEnum::DNSRR,
                Some(EndpointMode::Vip) | None => EndpointSpecModeEnum::VIP,
            }),
            ports: (!ports.is_empty()).then_some(ports),
        }),
        ..Default::default()
    };

    let fingerprint = spec_fingerprint(&spec);
    if let Some(labels) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
        .and_then(|c| c.labels.as_mut())
    {
        labels.insert(LABEL_SPEC.to_string(), fingerprint.clone());
    }
    if let Some(labels) = spec.labels.as_mut() {
        labels.insert(LABEL_SPEC.to_string(), fingerprint);
    }
    Ok(spec)
}

/// A stable fingerprint of what makes Swarm replace tasks: the task template (replicas and the
/// service labels excluded, so scaling does not make running tasks look outdated).
pub fn spec_fingerprint(spec: &ServiceSpec) -> String {
    let value = serde_json::to_value(&spec.task_template).unwrap_or(serde_json::Value::Null);
    let mut text = String::new();
    canonical_json(&value, &mut text);
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// JSON with object keys sorted: bollard's label maps are `HashMap`s, whose order varies.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// FNV-1a: tiny, and stable across Rust releases (unlike `DefaultHasher`), so fingerprints
/// written by one shipctl build are understood by the next.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn health(h: &Healthcheck) -> HealthConfig {
    HealthConfig {
        test: Some(h.test.clone()),
        interval: h.interval.map(nanos),
        timeout: h.timeout.map(nanos),
        retries: h.retries.map(saturating_i64),
        start_period: h.start_period.map(nanos),
        start_interval: h.start_interval.map(nanos),
    }
}

/// Compose writes `host:ip` (or `host=ip`); Swarm wants an /etc/hosts line, `ip host`.
fn host_entry(entry: &str) -> String {
    let split = entry.split_once('=').or_else(|| entry.split_once(':'));
    match split {
        Some((host, ip)) => format!("{} {}", ip.trim(), host.trim()),
        None => entry.to_string(),
    }
}

fn mounts(target: &ZoneTarget) -> Option<Vec<SwarmMount>> {
    let list: Vec<SwarmMount> = target
        .definition
        .volumes
        .iter()
        .map(|m| match m.kind {
            MountKind::Volume => SwarmMount {
                target: Some(m.target.clone()),
                // Named volumes are namespaced like the stack's other objects; anonymous ones
                // have no source.
                source: m.source.as_ref().map(|s| format!("{}_{s}", target.project)),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.read_only),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(HashMap::from([(
                        LABEL_NAMESPACE.to_string(),
                        target.project.clone(),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            },
            MountKind::Bind => SwarmMount {
                target: Some(m.target.clone()),
                source: m.source.clone(),
                typ: Some(MountType::BIND),
                read_only: Some(m.read_only),
                ..Default::default()
            },
            MountKind::Tmpfs => SwarmMount {
                target: Some(m.target.clone()),
                typ: Some(MountType::TMPFS),
                read_only: Some(m.read_only),
                ..Default::default()
            },
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// Finds the Swarm name and ID of a referenced secret or config.
fn resolve(
    kind: &'static str,
    target: &ZoneTarget,
    reference: &FileReference,
    declared: &indexmap::IndexMap<String, SecretOrConfig>,
    ids: &HashMap<String, String>,
) -> Result<(String, String), TranslateError> {
    let object = declared.get(&reference.source);
    if object.is_none() {
        return Err(TranslateError::Undeclared {
            kind,
            service: target.service_name.clone(),
            key: reference.source.clone(),
        });
    }
    let name = object_name(&target.project, &reference.source, object);
    match ids.get(&name) {
        Some(id) => Ok((name, id.clone())),
        None => Err(TranslateError::Missing {
            kind,
            service: target.service_name.clone(),
            key: reference.source.clone(),
            name,
        }),
    }
}

fn secrets(
    target: &ZoneTarget,
    lookups: &Lookups,
) -> Result<Option<Vec<TaskSpecContainerSpecSecrets>>, TranslateError> {
    let mut list = Vec::new();
    for r in &target.definition.secrets {
        let (name, id) = resolve("secret", target, r, &target.secrets, &lookups.secrets)?;
        list.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                // Relative targets land in /run/secrets/.
                name: Some(r.target.clone().unwrap_or_else(|| r.source.clone())),
                uid: Some(r.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(r.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(r.mode.unwrap_or(0o444)),
            }),
            secret_id: Some(id),
            secret_name: Some(name),
        });
    }
    Ok((!list.is_empty()).then_some(list))
}

fn configs(
    target: &ZoneTarget,
    lookups: &Lookups,
) -> Result<Option<Vec<TaskSpecContainerSpecConfigs>>, TranslateError> {
    let mut list = Vec::new();
    for r in &target.definition.configs {
        let (name, id) = resolve("config", target, r, &target.configs, &lookups.configs)?;
        list.push(TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                // Relative targets land in /.
                name: Some(r.target.clone().unwrap_or_else(|| r.source.clone())),
                uid: Some(r.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(r.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(r.mode.unwrap_or(0o444)),
            }),
            config_id: Some(id),
            config_name: Some(name),
            ..Default::default()
        });
    }
    Ok((!list.is_empty()).then_some(list))
}

fn resources(def: &crate::compose::model::Service) -> Option<TaskSpecResources> {
    let r = &def.deploy.resources;
    if r.limits.is_none() && r.reservations.is_none() {
        return None;
    }
    let limit = |a: &ResourceAmounts| Limit {
        nano_cpus: a.nano_cpus,
        memory_bytes: a.memory_bytes,
        pids: a.pids,
    };
    let reservation = |a: &ResourceAmounts| ResourceObject {
        nano_cpus: a.nano_cpus,
        memory_bytes: a.memory_bytes,
        ..Default::default()
    };
    Some(TaskSpecResources {
        limits: r.limits.as_ref().map(limit),
        reservations: r.reservations.as_ref().map(reservation),
        ..Default::default()
    })
}

fn restart_policy(target: &ZoneTarget) -> Result<Option<TaskSpecRestartPolicy>, TranslateError> {
    let Some(p) = &target.definition.deploy.restart_policy else {
        return Ok(None);
    };
    let condition = match p.condition.as_str() {
        "none" | "no" => TaskSpecRestartPolicyConditionEnum::NONE,
        "on-failure" => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        // Compose's container policies, as `docker stack deploy` maps them.
        "any" | "always" | "unless-stopped" => TaskSpecRestartPolicyConditionEnum::ANY,
        other => {
            return Err(TranslateError::Invalid {
                service: target.service_name.clone(),
                field: "deploy.restart_policy.condition",
                value: other.to_string(),
                expected: "none, on-failure, any",
            });
        }
    };
    Ok(Some(TaskSpecRestartPolicy {
        condition: Some(condition),
        delay: p.delay.map(nanos),
        max_attempts: p.max_attempts.map(saturating_i64),
        window: p.window.map(nanos),
    }))
}

fn update_config(
    service: &str,
    u: &UpdateConfig,
) -> Result<ServiceSpecUpdateConfig, TranslateError> {
    let failure_action = match u.failure_action.as_deref() {
        None => None,
        Some("continue") => Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE),
        Some("pause") => Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
        Some("rollback") => Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
        Some(other) => {
            return Err(invalid(
                service,
                "deploy.update_config.failure_action",
                other,
                "continue, pause, rollback",
            ));
        }
    };
    let order = match u.order.as_deref() {
        None => None,
        Some("stop-first") => Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
        Some("start-first") => Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
        Some(other) => {
            return Err(invalid(
                service,
                "deploy.update_config.order",
                other,
                "stop-first, start-first",
            ));
        }
    };
    Ok(ServiceSpecUpdateConfig {
        // Swarm reads a missing parallelism as 0 = all at once; compose's default is 1.
        parallelism: Some(u.parallelism.map(saturating_i64).unwrap_or(1)),
        delay: u.delay.map(nanos),
        failure_action,
        monitor: u.monitor.map(nanos),
        max_failure_ratio: u.max_failure_ratio,
        order,
    })
}

fn rollback_config(
    service: &str,
    u: &UpdateConfig,
) -> Result<ServiceSpecRollbackConfig, TranslateError> {
    let failure_action = match u.failure_action.as_deref() {
        None => None,
        Some("continue") => Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE),
        Some("pause") => Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
        Some(other) => {
            return Err(invalid(
                service,
                "deploy.rollback_config.failure_action",
                other,
                "continue, pause",
            ));
        }
    };
    let order = match u.order.as_deref() {
        None => None,
        Some("stop-first") => Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST),
        Some("start-first") => Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST),
        Some(other) => {
            return Err(invalid(
                service,
                "deploy.rollback_config.order",
                other,
                "stop-first, start-first",
            ));
        }
    };
    Ok(ServiceSpecRollbackConfig {
        parallelism: Some(u.parallelism.map(saturating_i64).unwrap_or(1)),
        delay: u.delay.map(nanos),
        failure_action,
        monitor: u.monitor.map(nanos),
        max_failure_ratio: u.max_failure_ratio,
        order,
    })
}

fn invalid(
    service: &str,
    field: &'static str,
    value: &str,
    expected: &'static str,
) -> TranslateError {
    TranslateError::Invalid {
        service: service.to_string(),
        field,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use indexmap::IndexMap;

    use super::*;
    use crate::compose::model::{
        Deploy, Mount, Placement, Port, ResourceAmounts, Resources, RestartPolicy, Service,
        ServiceNetwork,
    };

    fn target(def: Service) -> ZoneTarget {
        ZoneTarget {
            project: "demo".into(),
            service: "web".into(),
            zone: "blue".into(),
            service_name: "demo_web-blue".into(),
            image: "app:2.0.0".into(),
            version: "2.0.0".into(),
            replicas: 3,
            definition: def,
            networks: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
        }
    }

    fn container(spec: &ServiceSpec) -> &TaskSpecContainerSpec {
        spec.task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap()
    }

    #[test]
    fn minimal_service() {
        let def = Service {
            name: "web".into(),
            image: "app:${VERSION}".into(),
            ..Default::default()
        };
        let spec = service_spec(&target(def), &Lookups::default()).unwrap();
        assert_eq!(spec.name.as_deref(), Some("demo_web-blue"));
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_NAMESPACE], "demo");
        assert_eq!(labels[LABEL_SERVICE], "web");
        assert_eq!(labels[LABEL_ZONE], "blue");
        assert_eq!(labels[LABEL_VERSION], "2.0.0");
        assert_eq!(labels[LABEL_IMAGE], "app:2.0.0");
        let c = container(&spec);
        assert_eq!(c.image.as_deref(), Some("app:2.0.0"));
        let clabels = c.labels.as_ref().unwrap();
        assert_eq!(clabels[LABEL_VERSION], "2.0.0");
        assert_eq!(clabels[LABEL_SPEC], labels[LABEL_SPEC]);
        assert_eq!(
            spec.mode
                .as_ref()
                .unwrap()
                .replicated
                .as_ref()
                .unwrap()
                .replicas,
            Some(3)
        );
        // No networks: the stack's default network, with the zone's name as alias.
        let nets = spec
            .task_template
            .as_ref()
            .unwrap()
            .networks
            .as_ref()
            .unwrap();
        assert_eq!(nets[0].target.as_deref(), Some("demo_default"));
        assert_eq!(
            nets[0].aliases.as_ref().unwrap(),
            &vec!["web".to_string(), "web-blue".to_string()]
        );
        assert_eq!(
            spec.endpoint_spec.as_ref().unwrap().mode,
            Some(EndpointSpecModeEnum::VIP)
        );
    }

    #[test]
    fn full_service() {
        let mut def = Service {
            name: "web".into(),
            image: "app".into(),
            command: Some(vec!["serve".into(), "--port=8080".into()]),
            entrypoint: Some(vec!["/app/run".into()]),
            environment: IndexMap::from([
                ("B".to_string(), Some("2".to_string())),
                ("A".to_string(), Some("1".to_string())),
                ("FROM_ENV".to_string(), None),
                ("UNSET".to_string(), None),
            ]),
            labels: IndexMap::from([("team".to_string(), "core".to_string())]),
            ports: vec![
                Port {
                    target: 8080,
                    published: Some(18080),
                    protocol: Protocol::Tcp,
                    mode: PublishMode::Host,
                    host_ip: None,
                },
                Port {
                    target: 53,
                    published: None,
                    protocol: Protocol::Udp,
                    mode: PublishMode::Ingress,
                    host_ip: None,
                },
            ],
            networks: IndexMap::from([
                (
                    "front".to_string(),
                    ServiceNetwork {
                        aliases: vec!["api".into()],
                    },
                ),
                ("shared".to_string(), ServiceNetwork::default()),
            ]),
            volumes: vec![
                Mount {
                    kind: MountKind::Volume,
                    source: Some("data".into()),
                    target: "/data".into(),
                    read_only: false,
                },
                Mount {
                    kind: MountKind::Bind,
                    source: Some("/etc/app".into()),
                    target: "/etc/app".into(),
                    read_only: true,
                },
            ],
            healthcheck: Some(Healthcheck {
                test: vec![
                    "CMD".into(),
                    "wget".into(),
                    "-q".into(),
                    "http://localhost/".into(),
                ],
                interval: Some(Duration::from_secs(1)),
                timeout: Some(Duration::from_millis(500)),
                retries: Some(3),
                start_period: Some(Duration::from_secs(2)),
                start_interval: None,
            }),
            stop_grace_period: Some(Duration::from_secs(30)),
            extra_hosts: vec!["db:10.0.0.5".into(), "cache=10.0.0.6".into()],
            deploy: Deploy {
                endpoint_mode: Some(EndpointMode::Dnsrr),
                labels: IndexMap::from([("traefik.enable".to_string(), "true".to_string())]),
                resources: Resources {
                    limits: Some(ResourceAmounts {
                        nano_cpus: Some(500_000_000),
                        memory_bytes: Some(64 << 20),
                        pids: Some(100),
                    }),
                    reservations: Some(ResourceAmounts {
                        nano_cpus: None,
                        memory_bytes: Some(32 << 20),
                        pids: None,
                    }),
                },
                placement: Placement {
                    constraints: vec!["node.role == worker".into()],
                    preferences: vec!["node.labels.az".into()],
                    max_replicas_per_node: Some(2),
                },
                restart_policy: Some(RestartPolicy {
                    condition: "on-failure".into(),
                    delay: Some(Duration::from_secs(5)),
                    max_attempts: Some(3),
                    window: None,
                }),
                update_config: Some(UpdateConfig {
                    parallelism: None,
                    delay: Some(Duration::from_secs(10)),
                    failure_action: Some("rollback".into()),
                    monitor: None,
                    max_failure_ratio: None,
                    order: Some("start-first".into()),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        def.secrets = vec![FileReference {
            source: "db_password".into(),
            target: None,
            uid: None,
            gid: None,
            mode: Some(0o400),
        }];
        let mut t = target(def);
        t.networks.insert(
            "shared".into(),
            Network {
                external: true,
                ..Default::default()
            },
        );
        t.secrets
            .insert("db_password".into(), SecretOrConfig::default());
        let lookups = Lookups {
            secrets: HashMap::from([("demo_db_password".to_string(), "sec123".to_string())]),
            env: HashMap::from([("FROM_ENV".to_string(), "x".to_string())]),
            ..Default::default()
        };
        let spec = service_spec(&t, &lookups).unwrap();
        let c = container(&spec);
        assert_eq!(c.command.as_ref().unwrap(), &vec!["/app/run".to_string()]);
        assert_eq!(c.args.as_ref().unwrap()[0], "serve");
        assert_eq!(
            c.env.as_ref().unwrap(),
            &vec!["A=1".to_string(), "B=2".into(), "FROM_ENV=x".into()]
        );
        assert_eq!(c.labels.as_ref().unwrap()["team"], "core");
        assert_eq!(spec.labels.as_ref().unwrap()["traefik.enable"], "true");
        assert_eq!(c.stop_grace_period, Some(30_000_000_000));
        assert_eq!(
            c.hosts.as_ref().unwrap(),
            &vec!["10.0.0.5 db".to_string(), "10.0.0.6 cache".into()]
        );
        let hc = c.health_check.as_ref().unwrap();
        assert_eq!(hc.interval, Some(1_000_000_000));
        assert_eq!(hc.timeout, Some(500_000_000));
        assert_eq!(hc.retries, Some(3));
        let mounts = c.mounts.as_ref().unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("demo_data"));
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[1].source.as_deref(), Some("/etc/app"));
        assert_eq!(mounts[1].read_only, Some(true));
        let secret = &c.secrets.as_ref().unwrap()[0];
        assert_eq!(secret.secret_id.as_deref(), Some("sec123"));
        assert_eq!(secret.secret_name.as_deref(), Some("demo_db_password"));
        let file = secret.file.as_ref().unwrap();
        assert_eq!(file.name.as_deref(), Some("db_password"));
        assert_eq!(file.mode, Some(0o400));

        let endpoint = spec.endpoint_spec.as_ref().unwrap();
        assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::DNSRR));
        let ports = endpoint.ports.as_ref().unwrap();
        assert_eq!(ports[0].target_port, Some(8080));
        assert_eq!(ports[0].published_port, Some(18080));
        assert_eq!(
            ports[0].publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(ports[1].protocol, Some(EndpointPortConfigProtocolEnum::UDP));
        assert_eq!(ports[1].published_port, None);

        let task = spec.task_template.as_ref().unwrap();
        let nets = task.networks.as_ref().unwrap();
        assert_eq!(nets[0].target.as_deref(), Some("demo_front"));
        assert_eq!(
            nets[0].aliases.as_ref().unwrap(),
            &vec!["web".to_string(), "web-blue".into(), "api".into()]
        );
        // External networks keep their name.
        assert_eq!(nets[1].target.as_deref(), Some("shared"));
        let limits = task.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits.nano_cpus, Some(500_000_000));
        assert_eq!(limits.pids, Some(100));
        let placement = task.placement.as_ref().unwrap();
        assert_eq!(placement.max_replicas, Some(2));
        assert_eq!(
            placement.preferences.as_ref().unwrap()[0]
                .spread
                .as_ref()
                .unwrap()
                .spread_descriptor
                .as_deref(),
            Some("node.labels.az")
        );
        let restart = task.restart_policy.as_ref().unwrap();
        assert_eq!(
            restart.condition,
            Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE)
        );
        assert_eq!(restart.max_attempts, Some(3));
        let update = spec.update_config.as_ref().unwrap();
        assert_eq!(update.parallelism, Some(1));
        assert_eq!(
            update.order,
            Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST)
        );
        assert_eq!(
            update.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
    }

    #[test]
    fn missing_secret_is_a_clear_error() {
        let def = Service {
            name: "web".into(),
            image: "app".into(),
            secrets: vec![FileReference {
                source: "token".into(),
                target: None,
                uid: None,
                gid: None,
                mode: None,
            }],
            ..Default::default()
        };
        let mut t = target(def);
        t.secrets.insert(
            "token".into(),
            SecretOrConfig {
                external: true,
                ..Default::default()
            },
        );
        let err = service_spec(&t, &Lookups::default()).unwrap_err();
        assert_eq!(
            err,
            TranslateError::Missing {
                kind: "secret",
                service: "demo_web-blue".into(),
                key: "token".into(),
                name: "token".into()
            }
        );
        assert!(err.to_string().contains("docker secret create token"));
    }

    #[test]
    fn global_mode_and_bad_values() {
        let mut def = Service {
            name: "node-exporter".into(),
            image: "node-exporter".into(),
            ..Default::default()
        };
        def.deploy.mode = Some("global".into());
        let spec = service_spec(&target(def.clone()), &Lookups::default()).unwrap();
        assert!(spec.mode.as_ref().unwrap().global.is_some());
        assert!(spec.mode.as_ref().unwrap().replicated.is_none());

        def.deploy.restart_policy = Some(RestartPolicy {
            condition: "sometimes".into(),
            delay: None,
            max_attempts: None,
            window: None,
        });
        let err = service_spec(&target(def), &Lookups::default()).unwrap_err();
        assert!(matches!(err, TranslateError::Invalid { .. }));
    }

    #[test]
    fn fingerprint_ignores_replicas_and_follows_the_template() {
        let def = Service {
            name: "web".into(),
            image: "app".into(),
            labels: IndexMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
                ("c".to_string(), "3".to_string()),
            ]),
            ..Default::default()
        };
        let mut t = target(def);
        let fp = |t: &ZoneTarget| {
            let spec = service_spec(t, &Lookups::default()).unwrap();
            spec.labels.unwrap()[LABEL_SPEC].clone()
        };
        let first = fp(&t);
        // Stable although label maps iterate in random order.
        for _ in 0..5 {
            assert_eq!(fp(&t), first);
        }
        t.replicas = 7;
        assert_eq!(fp(&t), first);
        t.version = "2.0.1".into();
        assert_ne!(fp(&t), first);
    }

    #[test]
    fn names_follow_docker_stack_deploy() {
        let named = Network {
            name: Some("custom".into()),
            ..Default::default()
        };
        let external = Network {
            external: true,
            ..Default::default()
        };
        assert_eq!(network_name("p", "front", None), "p_front");
        assert_eq!(network_name("p", "front", Some(&named)), "custom");
        assert_eq!(network_name("p", "front", Some(&external)), "front");
        assert_eq!(host_entry("db:10.0.0.1"), "10.0.0.1 db");
        assert_eq!(host_entry("v6:::1"), "::1 v6");
    }
}

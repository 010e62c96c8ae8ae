//! Choosing a backend from a URL.

use std::collections::HashMap;

use bollard::Docker;

use super::consul::{ConsulConfig, ConsulKv};
use super::etcd::{EtcdConfig, EtcdKv};
use super::redact::redact_url;
use super::swarm::SwarmKv;
use crate::ports::{EngineClock, Kv, KvError};

/// The accepted store URLs, for help texts and errors.
pub const SCHEMES_HELP: &str = "KV store URLs: swarm:// (default: labels on the Swarm object), \
consul://host:port, consul+https://host:port, consul:// (CONSUL_HTTP_ADDR, default 127.0.0.1:8500), \
etcd://host:port, etcd://user:pass@host:port (or ETCDCTL_USER=user:pass), etcd+https://host:port";

/// Opens the store named by `url`; `env` supplies `CONSUL_*`, `ETCDCTL_*` and `DOCKER_HOST`.
/// An empty URL means `swarm://`.
pub async fn connect(url: &str, env: &HashMap<String, String>) -> Result<Box<dyn Kv>, KvError> {
    connect_with_docker(url, env, None).await
}

/// As [`connect`], with the Docker handle to use for `swarm://` (else one is made from
/// `DOCKER_HOST` in `env`, or the local socket).
pub async fn connect_with_docker(
    url: &str,
    env: &HashMap<String, String>,
    docker: Option<Docker>,
) -> Result<Box<dyn Kv>, KvError> {
    connect_with_engine(url, env, docker, None).await
}

/// As [`connect_with_docker`], with the engine's clock as the caller last read it: the
/// `swarm://` store's locks start from it instead of asking the engine again.
pub async fn connect_with_engine(
    url: &str,
    env: &HashMap<String, String>,
    docker: Option<Docker>,
    clock: Option<EngineClock>,
) -> Result<Box<dyn Kv>, KvError> {
    let url = url.trim();
    let scheme = url.split("://").next().unwrap_or("");
    match (scheme, url.contains("://")) {
        _ if url.is_empty() || url == "swarm" => swarm(env, docker, clock),
        ("swarm", true) => {
            if url != "swarm://" {
                return Err(KvError::Other(format!(
                    "swarm:// takes no host: set DOCKER_HOST instead ({})",
                    redact_url(url)
                )));
            }
            swarm(env, docker, clock)
        }
        ("consul" | "consul+https", true) => Ok(Box::new(
            ConsulKv::new(ConsulConfig::from_url(url, env)?).await?,
        )),
        ("etcd" | "etcd+https", true) => Ok(Box::new(
            EtcdKv::new(EtcdConfig::from_url(url, env)?).await?,
        )),
        _ => Err(KvError::Other(format!(
            "unknown KV store URL {}. {SCHEMES_HELP}",
            redact_url(url)
        ))),
    }
}

fn swarm(
    env: &HashMap<String, String>,
    docker: Option<Docker>,
    clock: Option<EngineClock>,
) -> Result<Box<dyn Kv>, KvError> {
    let docker = match docker {
        Some(d) => d,
        None => {
            let made = match env.get("DOCKER_HOST").filter(|h| !h.is_empty()) {
                Some(host) => Docker::connect_with_host(host),
                None => Docker::connect_with_local_defaults(),
            };
            made.map_err(|e| KvError::Unavailable {
                url: "swarm://".into(),
                reason: format!("cannot connect to Docker: {e}"),
            })?
        }
    };
    let store = SwarmKv::new(docker);
    if let Some(clock) = clock {
        store.set_clock(&clock);
    }
    Ok(Box::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_secrets() {
        let env = HashMap::new();
        let err = connect("redis://u:hunter2@h:1", &env)
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("consul://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(connect("h:8500", &env).await.is_err());
    }
}

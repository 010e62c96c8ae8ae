//! The three backends as the conformance suite sees them.

use std::any::Any;
use std::collections::HashMap;
use std::time::Duration;

use shipctl::kv::{self, SwarmKv};
use shipctl::ports::Kv;

use crate::support::consul_double::{ConsulDouble, Options};
use crate::support::docker::require_docker;
use crate::support::etcd::Etcd;
use crate::support::prereq::unique;

pub struct Backend {
    pub kv: Box<dyn Kv>,
    /// Every key a test uses starts with this.
    pub prefix: String,
    /// The shortest lock TTL the backend honours.
    pub lock_ttl: Duration,
    /// How long after its holder vanished a lock may still be unavailable.
    pub expiry_bound: Duration,
    _server: Box<dyn Any + Send + Sync>,
    /// Set for Swarm: its delete records are labels too.
    swarm: Option<SwarmKv>,
}

impl Backend {
    pub fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// Removes every key under the prefix (Swarm labels outlive the test otherwise).
    pub async fn cleanup(&self) {
        if let Ok(entries) = self.kv.list(&format!("{}/", self.prefix)).await {
            for e in entries {
                let _ = self.kv.delete(&e.key).await;
            }
        }
        if let Some(s) = &self.swarm {
            let _ = s.forget_deletes(&format!("{}/", self.prefix)).await;
        }
    }
}

pub async fn consul(_test: &str) -> Option<Backend> {
    Some(consul_with(Options::default()).await)
}

/// The Consul double started with `options`.
pub async fn consul_with(options: Options) -> Backend {
    let double = ConsulDouble::start(options).await;
    let kv = kv::connect(&double.url(), &HashMap::new())
        .await
        .expect("connect to the Consul double");
    Backend {
        kv,
        prefix: unique("consul"),
        // Consul's minimum session TTL.
        lock_ttl: Duration::from_secs(10),
        // TTL, plus the lock delay shipctl asks for (1 s), plus polling slack.
        expiry_bound: Duration::from_secs(14),
        _server: Box::new(double),
        swarm: None,
    }
}

pub async fn etcd(test: &str) -> Option<Backend> {
    let etcd = Etcd::start(test).await?;
    let kv = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect to etcd");
    Some(Backend {
        kv,
        prefix: unique("etcd"),
        lock_ttl: Duration::from_secs(2),
        // etcd checks lease expiry every 500 ms.
        expiry_bound: Duration::from_secs(5),
        _server: Box::new(etcd),
        swarm: None,
    })
}

/// The Swarm backend (`test` is not needed: a missing engine is reported by `require_docker`).
pub async fn swarm(_test: &str) -> Option<Backend> {
    let docker = require_docker().await?.docker().clone();
    let kv = kv::connect_with_docker("swarm://", &HashMap::new(), Some(docker.clone()))
        .await
        .expect("swarm backend");
    Some(Backend {
        kv,
        prefix: unique("swarm"),
        lock_ttl: Duration::from_secs(2),
        expiry_bound: Duration::from_secs(4),
        _server: Box::new(()),
        swarm: Some(SwarmKv::new(docker)),
    })
}

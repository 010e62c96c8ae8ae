//! Swarm-only behaviour of the backend: keys are labels any manager can read, and writes
//! keep every other part of the Swarm spec.

use std::collections::HashMap;

use shipctl::kv::{self, SwarmKv};

use crate::support::docker::require_docker;
use crate::support::prereq::unique;

#[tokio::test]
async fn keys_are_labels_on_the_swarm_and_other_labels_survive() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let docker = cluster.docker().clone();
    let store = kv::connect_with_docker("swarm://", &HashMap::new(), Some(docker.clone()))
        .await
        .expect("swarm backend");
    let key = format!("{}/web-active-zone", unique("swarm-labels"));
    let before = docker.inspect_swarm().await.expect("inspect");
    store.put(&key, "green").await.expect("put");
    let after = docker.inspect_swarm().await.expect("inspect");
    let labels = after
        .spec
        .clone()
        .and_then(|s| s.labels)
        .unwrap_or_default();
    let raw = labels
        .get(&format!("io.shipctl.kv.{key}"))
        .expect("the key is a Swarm label");
    assert!(raw.contains("\"v\":\"green\""), "{raw}");
    // The rest of the spec is untouched.
    let strip = |s: Option<bollard::models::SwarmSpec>| {
        s.map(|mut s| {
            s.labels = None;
            s
        })
    };
    assert_eq!(strip(before.spec), strip(after.spec));
    store.delete(&key).await.expect("delete");
    let labels = docker
        .inspect_swarm()
        .await
        .expect("inspect")
        .spec
        .and_then(|s| s.labels)
        .unwrap_or_default();
    assert!(!labels.contains_key(&format!("io.shipctl.kv.{key}")));
    SwarmKv::new(docker)
        .forget_deletes(&key)
        .await
        .expect("forget deletes");
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable() {
    let env: HashMap<String, String> =
        [("DOCKER_HOST".to_string(), "tcp://127.0.0.1:9".to_string())].into();
    let store = kv::connect("swarm://", &env)
        .await
        .expect("connect is lazy");
    let err = store
        .get("web-active-zone")
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(err, shipctl::ports::KvError::Unavailable { .. }),
        "{err}"
    );
    let err = kv::connect("swarm://somehost", &env)
        .await
        .err()
        .expect("no host in swarm://");
    assert!(err.to_string().contains("DOCKER_HOST"), "{err}");
}

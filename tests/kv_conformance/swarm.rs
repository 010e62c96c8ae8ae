//! Swarm-only behaviour of the backend: keys are labels any manager can read, and writes
//! keep every other part of the Swarm spec.

use std::collections::HashMap;

use shipctl::kv::{self, SwarmKv};
use shipctl::ports::Kv;

use crate::support::docker::require_docker;
use crate::support::prereq::unique;

/// The local engine and the swarm:// store on it (None: no Docker, as `require_docker` says).
async fn swarm_store() -> Option<(bollard::Docker, Box<dyn Kv>)> {
    let docker = require_docker().await?.docker().clone();
    let store = kv::connect_with_docker("swarm://", &HashMap::new(), Some(docker.clone()))
        .await
        .expect("swarm backend");
    Some((docker, store))
}

#[tokio::test]
async fn keys_are_labels_on_the_swarm_and_other_labels_survive() {
    let Some((docker, store)) = swarm_store().await else {
        return;
    };
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

/// A release renews the locks and records the progress of many services at once: those writes
/// share updates of the Swarm object instead of racing each other for it, and each is still
/// decided as if made alone (of several compare-and-swaps from one revision, one wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_made_at_once_share_updates_and_keep_their_semantics() {
    let Some((docker, store)) = swarm_store().await else {
        return;
    };
    let prefix = format!("{}/", unique("swarm-batch"));
    let keys: Vec<String> = (0..100).map(|i| format!("{prefix}svc-{i}")).collect();
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        let puts = keys.iter().map(|k| store.put(k, "1"));
        for r in futures_util::future::join_all(puts).await {
            r.expect("every put succeeds: none gives up on contention");
        }
        let written = store.list(&prefix).await.expect("list");
        assert_eq!(written.len(), 100);
        let updates: std::collections::BTreeSet<u64> = written.iter().map(|e| e.revision).collect();
        assert!(
            updates.len() <= 20,
            "100 writes at once took {} updates of the Swarm object",
            updates.len()
        );

        let first = &keys[0];
        let from = store
            .get(first)
            .await
            .expect("get")
            .expect("exists")
            .revision;
        let values: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let swaps = values
            .iter()
            .map(|v| store.compare_and_swap(first, Some(from), v));
        let won = futures_util::future::join_all(swaps)
            .await
            .into_iter()
            .map(|r| r.expect("cas"))
            .filter(|won| *won)
            .count();
        assert_eq!(won, 1, "exactly one swap from one revision wins");
    }))
    .await;
    for k in &keys {
        let _ = store.delete(k).await;
    }
    let _ = SwarmKv::new(docker).forget_deletes(&prefix).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

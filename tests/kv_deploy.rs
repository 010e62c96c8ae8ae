//! Every KV backend through the real `shipctl` binary: the routing keys end up where a router
//! reads them, a store lost in the middle of a deploy leaves the old zone serving and the keys
//! unchanged, and tokens never reach the output.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use shipctl::swarm::SwarmCluster;

use crate::support::consul_double::Options;
use crate::support::docker::{require_docker, wait_until};
use crate::support::etcd::Etcd;
use crate::support::stack::{Finished, ServedDouble, Setup, Stack, Store};

/// `GET /v1/kv/KEY?raw` as consul-template would read it: the plain value, or None on 404.
async fn consul_raw(addr: &str, key: &str, token: Option<&str>) -> Option<String> {
    let mut request = reqwest::Client::new().get(format!("http://{addr}/v1/kv/{key}?raw"));
    if let Some(token) = token {
        request = request.header("X-Consul-Token", token);
    }
    let response = request.send().await.expect("GET from the Consul double");
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert!(response.status().is_success(), "{response:?}");
    Some(response.text().await.expect("body"))
}

/// A range request on etcd's v3 JSON gateway, as `etcdctl get KEY` makes it.
async fn etcd_get(http_url: &str, key: &str) -> Option<String> {
    let body = serde_json::json!({ "key": B64.encode(key) });
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{http_url}/v3/kv/range"))
        .json(&body)
        .send()
        .await
        .expect("POST /v3/kv/range")
        .json()
        .await
        .expect("JSON answer");
    let value = response["kvs"].get(0)?["value"].as_str()?.to_string();
    let bytes = B64.decode(value).expect("base64 value");
    Some(String::from_utf8(bytes).expect("UTF-8 value"))
}

/// The keys as labels on the Swarm object (`docker swarm inspect`).
async fn swarm_label(cluster: &SwarmCluster, key: &str) -> Option<String> {
    let swarm = cluster
        .docker()
        .inspect_swarm()
        .await
        .expect("inspect the swarm");
    let labels = swarm.spec.and_then(|s| s.labels).unwrap_or_default();
    let raw = labels.get(&format!("io.shipctl.kv.{key}"))?;
    let stored: serde_json::Value = serde_json::from_str(raw).expect("label holds JSON");
    stored["v"].as_str().map(str::to_string)
}

#[tokio::test]
async fn consul_keys_are_readable_as_consul_template_reads_them() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let consul = ServedDouble::start(Options::default());
    let addr = consul.double.address();
    let stack = Stack::new(&cluster, Setup::new(Store::Url(consul.double.url())));

    stack.deploy("1.0.0", &[]).expect_code(0);
    assert_eq!(
        consul_raw(&addr, "web-active-zone", None).await.as_deref(),
        Some("blue")
    );
    assert_eq!(
        consul_raw(&addr, "web-active-version", None)
            .await
            .as_deref(),
        Some("1.0.0")
    );
    stack.deploy("1.1.0", &[]).expect_code(0);
    assert_eq!(
        consul_raw(&addr, "web-active-zone", None).await.as_deref(),
        Some("green")
    );
    assert_eq!(
        consul_raw(&addr, "web-active-version", None)
            .await
            .as_deref(),
        Some("1.1.0")
    );
    // The lock was let go: nobody holds the key for a session.
    let lock: Option<serde_json::Value> = reqwest::get(format!("http://{addr}/v1/kv/web-lock"))
        .await
        .expect("GET the lock")
        .json()
        .await
        .ok();
    let held = lock
        .as_ref()
        .and_then(|l| l.get(0))
        .and_then(|e| e.get("Session"))
        .is_some();
    assert!(!held, "the deploy lock is still held: {lock:?}");
}

#[tokio::test]
async fn etcd_keys_are_readable_as_etcdctl_reads_them() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(etcd) = Etcd::start("etcd_keys_are_readable_as_etcdctl_reads_them").await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Url(etcd.url())));

    stack.deploy("1.0.0", &[]).expect_code(0);
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-active-zone")
            .await
            .as_deref(),
        Some("blue")
    );
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-active-version")
            .await
            .as_deref(),
        Some("1.0.0")
    );
    stack.deploy("1.1.0", &[]).expect_code(0);
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-active-zone")
            .await
            .as_deref(),
        Some("green")
    );
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-active-version")
            .await
            .as_deref(),
        Some("1.1.0")
    );
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-lock").await,
        None,
        "the deploy lock was not released"
    );
}

#[tokio::test]
async fn swarm_keys_are_labels_on_the_swarm_object() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));

    stack.deploy("1.0.0", &[]).expect_code(0);
    assert_eq!(
        swarm_label(&cluster, &stack.key("active-zone"))
            .await
            .as_deref(),
        Some("blue")
    );
    assert_eq!(
        swarm_label(&cluster, &stack.key("active-version"))
            .await
            .as_deref(),
        Some("1.0.0")
    );
    stack.deploy("1.1.0", &[]).expect_code(0);
    assert_eq!(
        swarm_label(&cluster, &stack.key("active-zone"))
            .await
            .as_deref(),
        Some("green")
    );
    assert_eq!(
        swarm_label(&cluster, &stack.key("active-version"))
            .await
            .as_deref(),
        Some("1.1.0")
    );
    assert_eq!(swarm_label(&cluster, &stack.key("lock")).await, None);
}

/// After a deploy that lost its KV store before the flip: blue still serves 1.0.0 with every
/// replica and green is back to 0.
async fn assert_old_zone_serves(cluster: &SwarmCluster, stack: &Stack, run: &Finished) {
    let zones = stack.zones(cluster).await;
    let blue = zones.get("blue").expect("blue exists");
    assert_eq!(blue.desired, 2, "blue lost replicas: {zones:?}\n{run}");
    assert_eq!(blue.version.as_deref(), Some("1.0.0"), "{zones:?}");
    let green = zones.get("green").expect("green was created");
    assert_eq!(
        green.desired, 0,
        "green was not scaled back: {zones:?}\n{run}"
    );
    wait_until(
        "2 running tasks in blue",
        Duration::from_secs(30),
        || async {
            match stack.running_tasks(cluster, "blue").await {
                2 => Ok(()),
                n => Err(format!("{n} running")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn etcd_lost_before_the_flip_leaves_the_old_zone_and_the_keys() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(mut etcd) =
        Etcd::start("etcd_lost_before_the_flip_leaves_the_old_zone_and_the_keys").await
    else {
        return;
    };
    let mut setup = Setup::new(Store::Url(etcd.url()));
    setup.replicas = 2;
    let stack = Stack::new(&cluster, setup);
    stack.deploy("1.0.0", &[]).expect_code(0);

    let deploy = stack.start_deploy("1.1.0", &[]);
    // The new zone is starting (its tasks need a few seconds to pass their healthcheck).
    stack
        .wait_zone_exists(&cluster, "green", Duration::from_secs(30))
        .await;
    etcd.kill();
    let run = deploy.wait();
    assert!(
        run.code().is_some_and(|c| c != 0),
        "the deploy must fail without its KV store\n{run}"
    );
    let address = format!("127.0.0.1:{}", etcd.client_port);
    assert!(
        run.stderr.contains("KV store") && run.stderr.contains(&address),
        "the error should name the KV store {address}\n{run}"
    );
    assert_old_zone_serves(&cluster, &stack, &run).await;

    etcd.restart().await;
    let store = shipctl::kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect to etcd");
    let zone = store.get("web-active-zone").await.expect("read");
    let version = store.get("web-active-version").await.expect("read");
    assert_eq!(zone.map(|e| e.value).as_deref(), Some("blue"), "{run}");
    assert_eq!(version.map(|e| e.value).as_deref(), Some("1.0.0"), "{run}");
}

#[tokio::test]
async fn consul_lost_before_the_flip_leaves_the_old_zone() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let consul = ServedDouble::start(Options::default());
    let mut setup = Setup::new(Store::Url(consul.double.url()));
    setup.replicas = 2;
    let stack = Stack::new(&cluster, setup);
    stack.deploy("1.0.0", &[]).expect_code(0);

    let deploy = stack.start_deploy("1.1.0", &[]);
    stack
        .wait_zone_exists(&cluster, "green", Duration::from_secs(30))
        .await;
    consul.double.stop();
    let run = deploy.wait();
    assert!(
        run.code().is_some_and(|c| c != 0),
        "the deploy must fail without its KV store\n{run}"
    );
    assert!(
        run.stderr.contains("KV store") && run.stderr.contains(&consul.double.address()),
        "the error should name the KV store {}\n{run}",
        consul.double.address()
    );
    assert_old_zone_serves(&cluster, &stack, &run).await;
    assert_eq!(
        consul.double.value("web-active-zone").as_deref(),
        Some("blue")
    );
    assert_eq!(
        consul.double.value("web-active-version").as_deref(),
        Some("1.0.0")
    );
}

const TOKEN: &str = "s3cr3t-token";
const WRONG: &str = "wr0ng-t0ken-9f2";

fn assert_no_token(run: &Finished) {
    for secret in [TOKEN, WRONG] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the token {secret} leaked into the output\n{run}"
        );
    }
}

#[tokio::test]
async fn consul_tokens_never_reach_the_output() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let consul = ServedDouble::start(Options {
        token: Some(TOKEN.into()),
        ..Default::default()
    });
    let addr = consul.double.address();
    let mut stack = Stack::new(&cluster, Setup::new(Store::Url(consul.double.url())));
    stack.env.set("CONSUL_HTTP_TOKEN", TOKEN);

    let text = stack.deploy("1.0.0", &[]);
    text.expect_code(0);
    assert_no_token(&text);
    let json = stack.deploy("1.1.0", &["--output", "json"]);
    json.expect_code(0);
    assert_no_token(&json);
    let history = stack.run("history", &["web", "--output", "json"]);
    history.expect_code(0);
    assert_no_token(&history);
    assert_eq!(
        consul_raw(&addr, "web-active-version", Some(TOKEN))
            .await
            .as_deref(),
        Some("1.1.0")
    );

    stack.env.set("CONSUL_HTTP_TOKEN", WRONG);
    for args in [&[][..], &["--output", "json"][..], &["-vv"][..]] {
        let denied = stack.deploy("2.0.0", args);
        assert!(
            denied.code().is_some_and(|c| c != 0),
            "a deploy with a wrong token must fail\n{denied}"
        );
        assert_no_token(&denied);
        assert!(
            denied.stderr.contains("denied") || denied.stdout.contains("denied"),
            "the error should say the store denied access\n{denied}"
        );
    }
    // Nothing changed with the wrong token.
    assert_eq!(
        consul_raw(&addr, "web-active-version", Some(TOKEN))
            .await
            .as_deref(),
        Some("1.1.0")
    );
}

/// Three deploys at once against `stack`: one deploys, the others exit 4 naming it.
fn one_deploy_at_a_time(stack: &Stack) {
    let runs: Vec<_> = (0..3)
        .map(|i| stack.start_deploy("1.0.0", &["--message", &format!("deploy #{i}")]))
        .collect();
    let pids: Vec<u32> = runs.iter().map(|r| r.pid()).collect();
    let done: Vec<Finished> = runs.into_iter().map(|r| r.wait()).collect();
    let summary: String = done
        .iter()
        .map(|f| format!("{:?} after {:.1?}\n", f.code(), f.elapsed))
        .collect();
    let winners: Vec<usize> = (0..3).filter(|i| done[*i].code() == Some(0)).collect();
    assert_eq!(winners.len(), 1, "exactly one deploy must win:\n{summary}");
    let winner = winners[0];
    for (i, f) in done.iter().enumerate().filter(|(i, _)| *i != winner) {
        f.expect_code(4);
        assert!(
            f.stderr.contains(&format!("(pid {})", pids[winner]))
                && f.stderr.contains(&format!("\"deploy #{winner}\"")),
            "deploy #{i} should name the holder #{winner}\n{f}"
        );
    }
}

#[tokio::test]
async fn etcd_lock_admits_one_deploy_at_a_time() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(etcd) = Etcd::start("etcd_lock_admits_one_deploy_at_a_time").await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Url(etcd.url())));
    one_deploy_at_a_time(&stack);
    assert_eq!(etcd_get(&etcd.http_url(), "web-lock").await, None);
    assert_eq!(
        etcd_get(&etcd.http_url(), "web-active-version")
            .await
            .as_deref(),
        Some("1.0.0")
    );
}

#[tokio::test]
async fn consul_lock_admits_one_deploy_at_a_time() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let consul = ServedDouble::start(Options::default());
    let stack = Stack::new(&cluster, Setup::new(Store::Url(consul.double.url())));
    one_deploy_at_a_time(&stack);
    assert_eq!(
        consul_raw(&consul.double.address(), "web-active-version", None)
            .await
            .as_deref(),
        Some("1.0.0")
    );
    // Released, not left to expire: a second deploy gets the lock at once.
    stack.deploy("1.1.0", &[]).expect_code(0);
}

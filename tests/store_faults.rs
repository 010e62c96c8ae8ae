//! KV stores that fail the way real ones do, under a real deploy on the live Swarm: the
//! answer to the switch write lost after the store applied it, a store that stops answering
//! (SIGSTOP of a real etcd; a proxy that accepts and never replies in front of the Consul
//! double) before and during the switch. Each must end in bounded time with a clear error,
//! the old version serving, and keys either unchanged or verified; a zone the keys may point
//! at is never scaled down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use shipctl::kv;
use shipctl::ports::Kv;
use shipctl::swarm::SwarmCluster;

use crate::support::consul_double::Options;
use crate::support::docker::require_docker;
use crate::support::etcd::Etcd;
use crate::support::proxy::FaultyProxy;
use crate::support::stack::{Finished, ServedDouble, Setup, Stack, Store, signal, values};

/// Longest a deploy may take once its store hangs (measured: 30-35 s). The first request
/// that hangs waits its 15 s timeout; later ones 3 s each (history, lock release), and the
/// read-back after a lost answer stops after 10 s.
const BOUND: Duration = Duration::from_secs(75);

async fn keys(kv: &dyn Kv) -> HashMap<String, String> {
    values(
        kv,
        &[
            "web-active-zone".to_string(),
            "web-active-version".to_string(),
        ],
    )
    .await
}

/// etcd behind a proxy, a stack whose keys live there, and a client that bypasses the proxy.
async fn etcd_behind_proxy(
    test: &str,
) -> Option<(SwarmCluster, Etcd, FaultyProxy, Stack, Box<dyn Kv>)> {
    let cluster = require_docker().await?;
    let etcd = Etcd::start(test).await?;
    let upstream: SocketAddr = format!("127.0.0.1:{}", etcd.client_port)
        .parse()
        .expect("etcd address");
    let proxy = FaultyProxy::start(upstream);
    let stack = Stack::new(&cluster, Setup::new(Store::Url(proxy.url("etcd"))));
    let direct = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect to etcd");
    Some((cluster, etcd, proxy, stack, direct))
}

/// The same with the Consul double.
async fn consul_behind_proxy()
-> Option<(SwarmCluster, ServedDouble, FaultyProxy, Stack, Box<dyn Kv>)> {
    let cluster = require_docker().await?;
    let consul = ServedDouble::start(Options::default());
    let upstream: SocketAddr = consul.double.address().parse().expect("double address");
    let proxy = FaultyProxy::start(upstream);
    let stack = Stack::new(&cluster, Setup::new(Store::Url(proxy.url("consul"))));
    let direct = kv::connect(&consul.double.url(), &HashMap::new())
        .await
        .expect("connect to the Consul double");
    Some((cluster, consul, proxy, stack, direct))
}

/// The bytes of the etcd switch transaction that writes `web-active-zone = zone`.
fn etcd_switch_marker(zone: &str) -> Vec<u8> {
    format!(
        "\"key\":\"{}\",\"value\":\"{}\"",
        B64.encode("web-active-zone"),
        B64.encode(zone)
    )
    .into_bytes()
}

async fn desired(stack: &Stack, cluster: &SwarmCluster, zone: &str) -> Option<u64> {
    stack.zones(cluster).await.get(zone).map(|z| z.desired)
}

#[tokio::test]
async fn etcd_a_lost_answer_to_the_switch_is_read_back_and_the_deploy_finishes() {
    let test = "etcd_a_lost_answer_to_the_switch_is_read_back_and_the_deploy_finishes";
    let Some((cluster, _etcd, proxy, stack, direct)) = etcd_behind_proxy(test).await else {
        return;
    };
    stack.deploy("1.0.0", &[]).expect_code(0);
    proxy.lose_answer_of(&etcd_switch_marker("green"), false);
    let run = stack.deploy("1.1.0", &[]);
    run.expect_code(0);
    assert_eq!(
        proxy.lost_answers(),
        1,
        "the switch answer was not dropped\n{run}"
    );
    assert!(
        run.stderr
            .contains("read back: the keys hold the new values"),
        "the deploy must say it read the keys back\n{run}"
    );
    let k = keys(direct.as_ref()).await;
    assert_eq!(k.get("web-active-zone").map(String::as_str), Some("green"));
    assert_eq!(
        k.get("web-active-version").map(String::as_str),
        Some("1.1.0")
    );
    assert_eq!(desired(&stack, &cluster, "blue").await, Some(0));
    assert!(stack.running_tasks(&cluster, "green").await >= 1);
}

#[tokio::test]
async fn etcd_a_lost_answer_then_silence_exits_3_and_scales_nothing_down() {
    let test = "etcd_a_lost_answer_then_silence_exits_3_and_scales_nothing_down";
    let Some((cluster, _etcd, proxy, stack, direct)) = etcd_behind_proxy(test).await else {
        return;
    };
    switch_answered_by_silence(
        &etcd_switch_marker("green"),
        &cluster,
        &proxy,
        &stack,
        &*direct,
    )
    .await;
}

#[tokio::test]
async fn etcd_stopped_during_the_gate_ends_in_bounded_time_with_the_old_version_serving() {
    let test = "etcd_stopped_during_the_gate_ends_in_bounded_time_with_the_old_version_serving";
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(etcd) = Etcd::start(test).await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Url(etcd.url())));
    let direct = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect to etcd");
    stack.deploy("1.0.0", &[]).expect_code(0);
    let before = keys(direct.as_ref()).await;

    let running = stack.start_deploy("1.1.0", &[]);
    stack
        .wait_zone_exists(&cluster, "green", Duration::from_secs(30))
        .await;
    signal(etcd.pid(), "STOP");
    let stopped = Instant::now();
    let run = running.wait();
    let after_stop = stopped.elapsed();
    signal(etcd.pid(), "CONT");
    hung_store_outcome(&run, after_stop, &stack, &cluster, direct.as_ref(), &before).await;
}

#[tokio::test]
async fn consul_that_accepts_and_never_answers_during_the_gate() {
    let Some((cluster, _consul, proxy, stack, direct)) = consul_behind_proxy().await else {
        return;
    };
    stack.deploy("1.0.0", &[]).expect_code(0);
    let before = keys(direct.as_ref()).await;

    let running = stack.start_deploy("1.1.0", &[]);
    stack
        .wait_zone_exists(&cluster, "green", Duration::from_secs(30))
        .await;
    proxy.hang(true);
    let hung = Instant::now();
    let run = running.wait();
    let after_hang = hung.elapsed();
    proxy.hang(false);
    hung_store_outcome(&run, after_hang, &stack, &cluster, direct.as_ref(), &before).await;
}

#[tokio::test]
async fn consul_that_stops_answering_at_the_switch_write() {
    let Some((cluster, _consul, proxy, stack, direct)) = consul_behind_proxy().await else {
        return;
    };
    // The switch transaction reaches the store, which applies it; then nothing answers.
    let marker = format!(
        "\"Key\":\"web-active-zone\",\"Value\":\"{}\"",
        B64.encode("green")
    );
    switch_answered_by_silence(marker.as_bytes(), &cluster, &proxy, &stack, &*direct).await;
}

/// Deploys 1.0.0, then 1.1.0 with the answer to the switch (the request containing `marker`)
/// dropped and the store silent afterwards: exit 3 in bounded time, saying the outcome is
/// unknown; neither zone scaled down; once the store answers, the keys point at green, which
/// runs.
async fn switch_answered_by_silence(
    marker: &[u8],
    cluster: &SwarmCluster,
    proxy: &FaultyProxy,
    stack: &Stack,
    direct: &dyn Kv,
) {
    stack.deploy("1.0.0", &[]).expect_code(0);
    proxy.lose_answer_of(marker, true);
    let run = stack.deploy("1.1.0", &[]);
    assert_eq!(
        proxy.lost_answers(),
        1,
        "the switch answer was not dropped\n{run}"
    );
    run.expect_code(3);
    assert!(run.elapsed < BOUND, "took {:.1?}\n{run}", run.elapsed);
    assert!(
        run.stderr.contains("reading them back"),
        "the error must say the outcome is unknown and why\n{run}"
    );
    // Neither zone was scaled down: the keys may point at either.
    assert_eq!(desired(stack, cluster, "blue").await, Some(1), "{run}");
    assert_eq!(desired(stack, cluster, "green").await, Some(1), "{run}");
    // The store had applied the write: the keys point at green, which runs.
    proxy.hang(false);
    let k = keys(direct).await;
    assert_eq!(k.get("web-active-zone").map(String::as_str), Some("green"));
    assert!(stack.running_tasks(cluster, "green").await >= 1);
    eprintln!("outcome unknown after {:.1?}", run.elapsed);
}

/// What a deploy whose store hung before the switch must leave: an end within the bound, an
/// error naming the store, blue still serving, the keys as they were.
async fn hung_store_outcome(
    run: &Finished,
    after_fault: Duration,
    stack: &Stack,
    cluster: &SwarmCluster,
    direct: &dyn Kv,
    before: &HashMap<String, String>,
) {
    assert!(
        matches!(run.code(), Some(1 | 3)),
        "a deploy whose store hangs fails (rolled back, or stopped for attention)\n{run}"
    );
    assert!(
        after_fault < BOUND,
        "ended {after_fault:.1?} after the store hung\n{run}"
    );
    assert!(
        run.stderr.contains("KV store") || run.stderr.contains("lost the deploy lock"),
        "the error must name the store or the lock it could not keep\n{run}"
    );
    assert_eq!(&keys(direct).await, before, "the keys changed\n{run}");
    assert_eq!(desired(stack, cluster, "blue").await, Some(1), "{run}");
    assert!(stack.running_tasks(cluster, "blue").await >= 1, "{run}");
    eprintln!(
        "ended {after_fault:.1?} after the store hung, exit {:?}: {}",
        run.code(),
        run.stderr
            .lines()
            .rev()
            .find(|l| l.contains('×'))
            .unwrap_or("")
    );
}

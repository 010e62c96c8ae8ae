//! etcd-only behaviour of the backend: authentication, secrets kept out of messages, a store
//! that goes away.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use shipctl::kv;
use shipctl::ports::KvError;

use crate::support::etcd::{Etcd, EtcdTls};
use crate::support::tls::TestCa;

const PASSWORD: &str = "pa55-8d1f-s3cret-word";

/// Adds `root` with `PASSWORD` and turns authentication on.
async fn enable_auth(etcd: &Etcd) {
    let http = reqwest::Client::new();
    let call = |path: &'static str, body: Value| {
        let http = http.clone();
        let url = format!("{}{path}", etcd.http_url());
        async move {
            let r = http.post(url).json(&body).send().await.expect("request");
            (r.status(), r.text().await.unwrap_or_default())
        }
    };
    let (s, b) = call(
        "/v3/auth/user/add",
        json!({"name": "root", "password": PASSWORD}),
    )
    .await;
    assert!(s.is_success(), "user add: {b}");
    // The root role may already exist.
    let _ = call("/v3/auth/role/add", json!({"name": "root"})).await;
    let (s, b) = call(
        "/v3/auth/user/grant",
        json!({"user": "root", "role": "root"}),
    )
    .await;
    assert!(s.is_success(), "grant: {b}");
    let (s, b) = call("/v3/auth/enable", json!({})).await;
    assert!(s.is_success(), "auth enable: {b}");
}

#[tokio::test]
async fn authenticates_from_the_url_or_etcdctl_user() {
    let Some(etcd) = Etcd::start("authenticates_from_the_url_or_etcdctl_user").await else {
        return;
    };
    enable_auth(&etcd).await;
    let port = etcd.client_port;
    let url = format!("etcd://root:{PASSWORD}@127.0.0.1:{port}");
    let store = kv::connect(&url, &HashMap::new()).await.expect("connect");
    store.put("auth-check", "ok").await.expect("put");
    assert_eq!(
        store
            .get("auth-check")
            .await
            .expect("get")
            .map(|e| e.value)
            .as_deref(),
        Some("ok")
    );
    // Watching streams with the token too.
    let keys = vec!["auth-check".to_string()];
    let rev = store
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("watch");
    let watcher = store.watch(&keys, rev, Duration::from_secs(5));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.put("auth-check", "again").await.expect("put");
    };
    let (next, ()) = tokio::join!(watcher, writer);
    assert!(next.expect("watch") > rev);
    let env: HashMap<String, String> =
        [("ETCDCTL_USER".to_string(), format!("root:{PASSWORD}"))].into();
    let store = kv::connect(&etcd.url(), &env)
        .await
        .expect("connect with ETCDCTL_USER");
    assert!(store.get("auth-check").await.expect("get").is_some());
    // Anonymous access is refused once auth is on.
    let anonymous = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect");
    let err = anonymous.get("auth-check").await.expect_err("denied");
    assert!(matches!(err, KvError::Denied { .. }), "{err}");
}

/// The password must not leak through describe(), Debug or any error.
#[tokio::test]
async fn the_password_never_appears_in_messages() {
    let Some(etcd) = Etcd::start("the_password_never_appears_in_messages").await else {
        return;
    };
    enable_auth(&etcd).await;
    let port = etcd.client_port;
    let good = format!("etcd://root:{PASSWORD}@127.0.0.1:{port}");
    let store = kv::connect(&good, &HashMap::new()).await.expect("connect");
    let config = kv::EtcdConfig::from_url(&good, &HashMap::new()).expect("config");
    let concrete = kv::EtcdKv::new(config.clone()).await.expect("backend");
    let mut messages = vec![
        store.describe(),
        format!("{concrete:?}"),
        format!("{config:?}"),
    ];
    assert!(
        store.describe().contains("root:***@"),
        "{}",
        store.describe()
    );
    // A wrong password (it is the secret in this call) fails at connect.
    let wrong = format!("etcd://root:{PASSWORD}-wrong@127.0.0.1:{port}");
    let err = kv::connect(&wrong, &HashMap::new())
        .await
        .err()
        .expect("denied");
    assert!(matches!(err, KvError::Denied { .. }), "{err}");
    messages.push(err.to_string());
    messages.push(format!("{err:?}"));
    // A scheme typo with credentials.
    let typo = format!("etc://root:{PASSWORD}@127.0.0.1:{port}");
    let err = kv::connect(&typo, &HashMap::new())
        .await
        .err()
        .expect("bad scheme");
    messages.push(err.to_string());
    // The store going away.
    drop(etcd);
    let err = store.get("k").await.expect_err("gone");
    assert!(matches!(err, KvError::Unavailable { .. }), "{err}");
    messages.push(err.to_string());
    messages.push(format!("{err:?}"));
    for m in &messages {
        assert!(!m.contains(PASSWORD), "password leaked in: {m}");
    }
}

#[tokio::test]
async fn lock_survives_lease_renewals_and_release_revokes() {
    let Some(etcd) = Etcd::start("lock_survives_lease_renewals_and_release_revokes").await else {
        return;
    };
    let store = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect");
    let info = shipctl::ports::LockInfo::current(Some("etcd lease".into()));
    let shipctl::ports::LockOutcome::Acquired(guard) = store
        .lock("deploy-lock", &info, Duration::from_secs(2))
        .await
        .expect("lock")
    else {
        panic!("free lock");
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(guard.is_held());
    assert_eq!(
        store.lock_holder("deploy-lock").await.expect("holder"),
        Some(info)
    );
    guard.release().await.expect("release");
    assert_eq!(
        store.get("deploy-lock").await.expect("get"),
        None,
        "revoking deletes the key"
    );
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn https_with_the_etcdctl_ca_and_client_certificate() {
    let ca = TestCa::new("etcd test CA");
    let tls = EtcdTls {
        ca: &ca,
        client_cert_auth: true,
    };
    let Some(etcd) = Etcd::start_with(
        "https_with_the_etcdctl_ca_and_client_certificate",
        Some(tls),
    )
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let cacert = write_temp(&dir, "ca.pem", &ca.pem);
    let (cert, key) = ca.client_cert("shipctl");
    let cert = write_temp(&dir, "client.pem", &cert);
    let key = write_temp(&dir, "client-key.pem", &key);
    let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let full = env(&[
        ("ETCDCTL_CACERT", &cacert),
        ("ETCDCTL_CERT", &cert),
        ("ETCDCTL_KEY", &key),
    ]);
    let store = kv::connect(&etcd.url(), &full).await.expect("connect");
    store
        .put("tls-check", "ok")
        .await
        .expect("put over mutual TLS");
    assert_eq!(
        store
            .get("tls-check")
            .await
            .expect("get")
            .map(|e| e.value)
            .as_deref(),
        Some("ok")
    );
    assert!(store.describe().starts_with("etcd https://"));
    let no_client_cert = kv::connect(&etcd.url(), &env(&[("ETCDCTL_CACERT", &cacert)]))
        .await
        .expect("connect");
    assert!(
        no_client_cert.get("tls-check").await.is_err(),
        "etcd wants a client certificate"
    );
    let other = TestCa::new("another CA");
    let wrong = write_temp(&dir, "wrong.pem", &other.pem);
    let wrong_ca = env(&[
        ("ETCDCTL_CACERT", &wrong),
        ("ETCDCTL_CERT", &cert),
        ("ETCDCTL_KEY", &key),
    ]);
    let store = kv::connect(&etcd.url(), &wrong_ca).await.expect("connect");
    let err = store.get("tls-check").await.expect_err("untrusted server");
    assert!(matches!(err, KvError::Unavailable { .. }), "{err}");
}

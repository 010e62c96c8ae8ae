//! Consul-only behaviour of the backend: TLS, ACL tokens, secrets kept out of messages, a
//! store that goes away.

use std::collections::HashMap;
use std::time::Duration;

use shipctl::kv;
use shipctl::ports::{Kv, KvError};

use crate::support::consul_double::{ConsulDouble, Options};
use crate::support::tls::{TestCa, install_provider};

const SECRET: &str = "b1946ac9-2f4e-4d5a-9c3e-0e8f-s3cret-token";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path.to_string_lossy().into_owned()
}

async fn tls_double(ca: &TestCa, names: &[&str]) -> ConsulDouble {
    install_provider();
    ConsulDouble::start(Options {
        tls: Some(ca.server_cert(names)),
        ..Options::default()
    })
    .await
}

/// A Consul double with default options and a store connected to it.
async fn default_double() -> (ConsulDouble, Box<dyn Kv>) {
    let double = ConsulDouble::start(Options::default()).await;
    let store = kv::connect(&double.url(), &HashMap::new())
        .await
        .expect("connect");
    (double, store)
}

async fn roundtrip(kv: &dyn Kv) -> Result<(), KvError> {
    kv.put("tls-check", "ok").await?;
    assert_eq!(
        kv.get("tls-check").await?.map(|e| e.value).as_deref(),
        Some("ok")
    );
    Ok(())
}

#[tokio::test]
async fn https_verified_against_the_given_ca() {
    let ca = TestCa::new("shipctl test CA");
    let double = tls_double(&ca, &["localhost", "127.0.0.1"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cacert = write_temp(&dir, "ca.pem", &ca.pem);
    let url = format!("consul+https://{}", double.address());
    let store = kv::connect(&url, &env(&[("CONSUL_CACERT", &cacert)]))
        .await
        .expect("connect");
    roundtrip(store.as_ref()).await.expect("HTTPS round trip");
    assert!(store.describe().starts_with("consul https://"));
    // consul:// + CONSUL_HTTP_ADDR=https://... + CONSUL_HTTP_SSL pick the same.
    let addr = format!("https://{}", double.address());
    let e = env(&[("CONSUL_HTTP_ADDR", &addr), ("CONSUL_CACERT", &cacert)]);
    let store = kv::connect("consul://", &e).await.expect("connect");
    roundtrip(store.as_ref())
        .await
        .expect("HTTPS from CONSUL_HTTP_ADDR");
    let e = env(&[("CONSUL_HTTP_SSL", "true"), ("CONSUL_CACERT", &cacert)]);
    let store = kv::connect(&format!("consul://{}", double.address()), &e)
        .await
        .expect("connect");
    roundtrip(store.as_ref())
        .await
        .expect("HTTPS from CONSUL_HTTP_SSL");
}

#[tokio::test]
async fn a_wrong_ca_is_refused() {
    let ca = TestCa::new("the server's CA");
    let other = TestCa::new("some other CA");
    let double = tls_double(&ca, &["127.0.0.1"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = write_temp(&dir, "other.pem", &other.pem);
    let url = format!("consul+https://{}", double.address());
    let store = kv::connect(&url, &env(&[("CONSUL_CACERT", &wrong)]))
        .await
        .expect("connect is lazy");
    let err = store
        .put("k", "v")
        .await
        .expect_err("must not trust the server");
    assert!(matches!(err, KvError::Unavailable { .. }), "{err}");
    // Without CONSUL_CACERT the system roots do not know the test CA either.
    let store = kv::connect(&url, &HashMap::new()).await.expect("connect");
    assert!(store.get("k").await.is_err());
    // Verification off (CONSUL_HTTP_SSL_VERIFY=false) accepts it.
    let e = env(&[
        ("CONSUL_CACERT", &wrong),
        ("CONSUL_HTTP_SSL_VERIFY", "false"),
    ]);
    let store = kv::connect(&url, &e).await.expect("connect");
    roundtrip(store.as_ref())
        .await
        .expect("unverified round trip");
}

#[tokio::test]
async fn tls_server_name_overrides_the_host() {
    let ca = TestCa::new("shipctl test CA");
    // The certificate names only the service name, not the address we dial.
    let double = tls_double(&ca, &["consul.service.test"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cacert = write_temp(&dir, "ca.pem", &ca.pem);
    let url = format!("consul+https://{}", double.address());
    let store = kv::connect(&url, &env(&[("CONSUL_CACERT", &cacert)]))
        .await
        .expect("connect");
    assert!(
        store.get("k").await.is_err(),
        "the address is not in the certificate"
    );
    let e = env(&[
        ("CONSUL_CACERT", &cacert),
        ("CONSUL_TLS_SERVER_NAME", "consul.service.test"),
    ]);
    let store = kv::connect(&url, &e).await.expect("connect");
    roundtrip(store.as_ref())
        .await
        .expect("verified as consul.service.test");
}

#[tokio::test]
async fn client_certificates_for_verify_incoming() {
    install_provider();
    let ca = TestCa::new("shipctl test CA");
    let double = ConsulDouble::start(Options {
        tls: Some(ca.server_cert(&["127.0.0.1"])),
        client_ca: Some(ca.der()),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cacert = write_temp(&dir, "ca.pem", &ca.pem);
    let (cert, key) = ca.client_cert("shipctl");
    let cert = write_temp(&dir, "client.pem", &cert);
    let key = write_temp(&dir, "client-key.pem", &key);
    let url = format!("consul+https://{}", double.address());
    let without = kv::connect(&url, &env(&[("CONSUL_CACERT", &cacert)]))
        .await
        .expect("connect");
    assert!(
        without.get("k").await.is_err(),
        "the server wants a client certificate"
    );
    let e = env(&[
        ("CONSUL_CACERT", &cacert),
        ("CONSUL_CLIENT_CERT", &cert),
        ("CONSUL_CLIENT_KEY", &key),
    ]);
    let with = kv::connect(&url, &e).await.expect("connect");
    roundtrip(with.as_ref())
        .await
        .expect("mutual TLS round trip");
    let half = env(&[("CONSUL_CACERT", &cacert), ("CONSUL_CLIENT_CERT", &cert)]);
    assert!(kv::connect(&url, &half).await.is_err(), "cert without key");
}

#[tokio::test]
async fn acl_token_from_env_or_file_and_denied_without() {
    let double = ConsulDouble::start(Options {
        token: Some(SECRET.into()),
        ..Options::default()
    })
    .await;
    let url = double.url();
    let store = kv::connect(&url, &env(&[("CONSUL_HTTP_TOKEN", SECRET)]))
        .await
        .expect("connect");
    roundtrip(store.as_ref()).await.expect("with the token");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write_temp(&dir, "token", &format!("{SECRET}\n"));
    let store = kv::connect(&url, &env(&[("CONSUL_HTTP_TOKEN_FILE", &file)]))
        .await
        .expect("connect");
    roundtrip(store.as_ref())
        .await
        .expect("with the token file");
    let anonymous = kv::connect(&url, &HashMap::new()).await.expect("connect");
    let err = anonymous.get("k").await.expect_err("denied");
    assert!(matches!(err, KvError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("Permission denied"), "{err}");
}

/// The token must not leak through describe(), Debug or any error, whatever goes wrong.
#[tokio::test]
async fn the_token_never_appears_in_messages() {
    let double = ConsulDouble::start(Options {
        token: Some("the-right-token".into()),
        ..Options::default()
    })
    .await;
    // A wrong token: the one we hold is the secret here.
    let e = env(&[("CONSUL_HTTP_TOKEN", SECRET)]);
    let store = kv::connect(&double.url(), &e).await.expect("connect");
    let concrete =
        kv::ConsulKv::new(kv::ConsulConfig::from_url(&double.url(), &e).expect("config"))
            .await
            .expect("backend");
    let config = kv::ConsulConfig::from_url(&double.url(), &e).expect("config");
    let mut messages = vec![
        store.describe(),
        format!("{concrete:?}"),
        format!("{config:?}"),
    ];
    let info = shipctl::ports::LockInfo::current(None);
    let keys = vec!["k".to_string()];
    let mut errors = vec![
        store.get("k").await.err(),
        store.put("k", "v").await.err(),
        store.compare_and_swap("k", None, "v").await.err(),
        store.delete("k").await.err(),
        store.list("p/").await.err(),
        store
            .lock("l", &info, std::time::Duration::from_secs(10))
            .await
            .err(),
        store
            .watch(&keys, 5, std::time::Duration::from_millis(100))
            .await
            .err(),
    ];
    assert!(
        errors.iter().all(Option::is_some),
        "every call must be denied"
    );
    double.stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let gone = store.get("k").await.err();
    assert!(
        matches!(gone, Some(KvError::Unavailable { .. })),
        "{gone:?}"
    );
    errors.push(gone);
    for e in errors.into_iter().flatten() {
        messages.push(e.to_string());
        messages.push(format!("{e:?}"));
    }
    for m in &messages {
        assert!(!m.contains(SECRET), "secret leaked in: {m}");
    }
}

#[tokio::test]
async fn a_store_that_went_away_is_unavailable() {
    let (double, store) = default_double().await;
    store.put("k", "v").await.expect("put");
    double.stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for err in [
        store.get("k").await.err(),
        store.put("k", "v").await.err(),
        store
            .write_atomic(&[shipctl::ports::KeyWrite {
                key: "k".into(),
                value: "v".into(),
            }])
            .await
            .err(),
    ] {
        assert!(matches!(err, Some(KvError::Unavailable { .. })), "{err:?}");
    }
}

/// A router watching 20 services' keys holds one blocking query on their common prefix, not
/// one per key; a change to any of them answers it.
#[tokio::test]
async fn a_watch_of_many_keys_is_one_blocking_query() {
    let (double, store) = default_double().await;
    let keys: Vec<String> = (0..20)
        .flat_map(|i| {
            [
                format!("shop/svc{i}-active-zone"),
                format!("shop/svc{i}-traffic"),
            ]
        })
        .collect();
    store
        .put("shop/svc7-active-zone", "blue")
        .await
        .expect("put");
    let since = store
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("watch");
    let before = double.requests();
    let unchanged = store
        .watch(&keys, since, Duration::from_millis(300))
        .await
        .expect("watch");
    assert_eq!(unchanged, since);
    assert_eq!(
        double.requests() - before,
        1,
        "requests for one watch of 40 keys"
    );
    let watcher = store.watch(&keys, since, Duration::from_secs(10));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.delete("shop/svc7-active-zone").await.expect("delete");
    };
    let (next, ()) = tokio::join!(watcher, writer);
    assert!(next.expect("watch") > since);
}

/// A token that may read the keys but not list their prefix (`enable_key_list_policy`): a
/// watch of many keys falls back to one blocking query per key, and still wakes for each.
#[tokio::test]
async fn a_watch_of_many_keys_works_without_list_permission() {
    let backend = super::backend::consul_with(Options {
        no_list: true,
        ..Options::default()
    })
    .await;
    super::checks::watch_of_many_keys_wakes_for_each(&backend).await;
}

/// After the store lost its indexes (rebuilt, snapshot restored), a watcher holding a newer
/// index still wakes, and the next watch starts from the store's index.
#[tokio::test]
async fn watch_survives_an_index_reset() {
    let (double, store) = default_double().await;
    for i in 0..20 {
        store.put("filler", &i.to_string()).await.expect("put");
    }
    store.put("web-active-zone", "blue").await.expect("put");
    let keys = vec!["web-active-zone".to_string()];
    let high = store
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("watch");
    let watcher = store.watch(&keys, high, Duration::from_secs(10));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        double.reset();
        store.put("web-active-zone", "green").await.expect("put");
    };
    let (low, ()) = tokio::join!(watcher, writer);
    let low = low.expect("watch");
    assert!(low < high, "the index went backwards: {low} vs {high}");
    // From the new index on, changes wake the watch again.
    let watcher = store.watch(&keys, low, Duration::from_secs(10));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.put("web-active-zone", "blue").await.expect("put");
    };
    let (next, ()) = tokio::join!(watcher, writer);
    assert!(next.expect("watch") > low);
}

#[tokio::test]
async fn bad_urls_name_the_accepted_schemes() {
    let err = kv::connect("zookeeper://h:1", &HashMap::new())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("consul://"), "{err}");
    assert!(err.to_string().contains("etcd://"), "{err}");
    assert!(
        kv::connect("consul://user:pw@h:1", &HashMap::new())
            .await
            .is_err()
    );
}

/// An operator destroying the holder's session (`consul lock` crashed, `consul session
/// destroy`): the holder learns it, and the lock delay holds others off for a moment.
#[tokio::test]
async fn destroyed_session_and_lock_delay() {
    let (double, store) = default_double().await;
    let info = shipctl::ports::LockInfo::current(Some("first".into()));
    let shipctl::ports::LockOutcome::Acquired(guard) = store
        .lock("web-lock", &info, Duration::from_secs(10))
        .await
        .expect("lock")
    else {
        panic!("free lock");
    };
    let http = reqwest::Client::new();
    let base = format!("http://{}", double.address());
    let entry: serde_json::Value = http
        .get(format!("{base}/v1/kv/web-lock"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let session = entry[0]["Session"]
        .as_str()
        .expect("held by a session")
        .to_string();
    http.put(format!("{base}/v1/session/destroy/{session}"))
        .send()
        .await
        .expect("destroy");
    match store
        .lock(
            "web-lock",
            &shipctl::ports::LockInfo::current(None),
            Duration::from_secs(10),
        )
        .await
        .expect("lock")
    {
        shipctl::ports::LockOutcome::Held(holder) => {
            assert_eq!(holder.owner, info.owner);
            let msg = holder.message.unwrap_or_default();
            assert!(msg.contains("lock delay"), "{msg}");
        }
        shipctl::ports::LockOutcome::Acquired(_) => panic!("the lock delay must hold others off"),
    }
    assert_eq!(store.lock_holder("web-lock").await.expect("holder"), None);
    // Renewals run every TTL/3; the holder notices within one period.
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while guard.is_held() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!guard.is_held());
    match store
        .lock(
            "web-lock",
            &shipctl::ports::LockInfo::current(None),
            Duration::from_secs(10),
        )
        .await
        .expect("lock")
    {
        shipctl::ports::LockOutcome::Acquired(g) => g.release().await.expect("release"),
        shipctl::ports::LockOutcome::Held(h) => panic!("still held after the lock delay: {h:?}"),
    }
}

#[tokio::test]
async fn history_under_a_key_that_holds_something_else() {
    let (_double, store) = default_double().await;
    store.put("web-history", "not json").await.expect("put");
    let record = shipctl::ports::HistoryRecord::now(
        &HashMap::new(),
        "web",
        shipctl::spec::Strategy::Canary,
        shipctl::ports::Action::Abort,
        shipctl::ports::RunResult::Done,
    );
    let err = kv::append_history(store.as_ref(), "web-history", &record, 10)
        .await
        .expect_err("refuses to overwrite");
    assert!(err.to_string().contains("web-history"), "{err}");
    assert_eq!(
        store
            .get("web-history")
            .await
            .expect("get")
            .map(|e| e.value)
            .as_deref(),
        Some("not json"),
        "left as it was"
    );
}

/// Consul before 1.14 has no `get-or-empty`: many keys are then read one by one, with the
/// same answers.
#[tokio::test]
async fn get_many_on_a_consul_before_1_14() {
    let double = ConsulDouble::start(Options {
        before_1_14: true,
        ..Options::default()
    })
    .await;
    let store = kv::connect(&double.url(), &HashMap::new())
        .await
        .expect("connect");
    store.put("web-active-zone", "blue").await.expect("put");
    store.put("web-traffic", "").await.expect("put");
    let keys: Vec<String> = ["web-active-zone", "web-active-version", "web-traffic"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    for _ in 0..2 {
        let got = store.get_many(&keys).await.expect("get_many");
        let values: Vec<Option<String>> = got.iter().map(|e| e.clone().map(|e| e.value)).collect();
        assert_eq!(values, vec![Some("blue".into()), None, Some(String::new())]);
        for (key, entry) in keys.iter().zip(&got) {
            assert_eq!(entry, &store.get(key).await.expect("get"), "{key}");
        }
    }
}

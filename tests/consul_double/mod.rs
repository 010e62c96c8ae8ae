//! The Consul double pinned against Consul's documented HTTP semantics, one rule per test
//! (see reference/consul-etcd-api.md). The backend is only as right as this double.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::consul_double::{
    ConsulDouble, MAX_VALUE_SIZE, Options, check_key, parse_go_duration,
};

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

struct Answer {
    status: StatusCode,
    index: Option<u64>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

impl Client {
    fn new(double: &ConsulDouble) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{}", double.address()),
            token: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: &str) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        let resp = req.body(body.to_string()).send().await.expect("request");
        let headers = resp.headers().clone();
        Answer {
            status: resp.status(),
            index: headers
                .get("X-Consul-Index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            headers,
            body: resp.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, "").await
    }

    async fn put(&self, path: &str, body: &str) -> Answer {
        self.call(Method::PUT, path, body).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, "").await
    }

    async fn session(&self, ttl: &str, lock_delay: &str) -> String {
        let a = self
            .put(
                "/v1/session/create",
                &json!({"Name": "t", "TTL": ttl, "Behavior": "release", "LockDelay": lock_delay})
                    .to_string(),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.json()["ID"].as_str().expect("ID").to_string()
    }
}

async fn start() -> (ConsulDouble, Client) {
    let d = ConsulDouble::start(Options::default()).await;
    let c = Client::new(&d);
    (d, c)
}

#[tokio::test]
async fn missing_key_is_404_with_empty_body_and_index_headers() {
    let (_d, c) = start().await;
    let a = c.get("/v1/kv/nope").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body, "");
    assert_eq!(a.index, Some(1), "the index is never 0");
    assert!(a.headers.contains_key("X-Consul-KnownLeader"));
    assert!(a.headers.contains_key("X-Consul-LastContact"));
}

#[tokio::test]
async fn put_answers_true_as_json_without_index() {
    let (_d, c) = start().await;
    let a = c.put("/v1/kv/web-active-zone", "blue").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, "true");
    assert_eq!(
        a.headers.get("Content-Type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(a.index, None, "writes send no X-Consul-Index");
}

#[tokio::test]
async fn get_returns_an_array_with_base64_value_and_no_session() {
    let (_d, c) = start().await;
    c.put("/v1/kv/zip", "test").await;
    let a = c.get("/v1/kv/zip").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let e = &v.as_array().expect("array")[0];
    assert_eq!(e["Key"], "zip");
    assert_eq!(e["Value"], "dGVzdA==");
    assert_eq!(e["Flags"], 0);
    assert_eq!(e["LockIndex"], 0);
    assert!(e.get("Session").is_none());
    assert_eq!(e["CreateIndex"], e["ModifyIndex"]);
    assert_eq!(
        a.index,
        e["ModifyIndex"].as_u64(),
        "index = the key's ModifyIndex"
    );
    // raw: the bytes themselves.
    let raw = c.get("/v1/kv/zip?raw").await;
    assert_eq!(raw.body, "test");
    // An empty value is null.
    c.put("/v1/kv/empty", "").await;
    assert_eq!(c.get("/v1/kv/empty").await.json()[0]["Value"], Value::Null);
}

#[tokio::test]
async fn missing_key_reports_the_highest_kv_index() {
    let (_d, c) = start().await;
    c.put("/v1/kv/a", "1").await;
    c.put("/v1/kv/b", "2").await;
    let b_index = c.get("/v1/kv/b").await.index.expect("index");
    let a_index = c.get("/v1/kv/a").await.index.expect("index");
    assert!(a_index < b_index);
    assert_eq!(c.get("/v1/kv/missing").await.index, Some(b_index));
    c.delete("/v1/kv/a").await;
    let after_delete = c.get("/v1/kv/missing").await.index.expect("index");
    assert!(after_delete > b_index, "deletes move the table index");
}

#[tokio::test]
async fn flags_are_kept_only_when_sent() {
    let (_d, c) = start().await;
    c.put("/v1/kv/f?flags=42", "x").await;
    assert_eq!(c.get("/v1/kv/f").await.json()[0]["Flags"], 42);
    c.put("/v1/kv/f", "y").await;
    assert_eq!(
        c.get("/v1/kv/f").await.json()[0]["Flags"],
        0,
        "a PUT without flags resets them"
    );
}

#[tokio::test]
async fn cas_zero_creates_only_and_cas_n_needs_the_modify_index() {
    let (_d, c) = start().await;
    assert_eq!(c.put("/v1/kv/k?cas=0", "1").await.body, "true");
    assert_eq!(c.put("/v1/kv/k?cas=0", "2").await.body, "false");
    let idx = c.get("/v1/kv/k").await.json()[0]["ModifyIndex"]
        .as_u64()
        .expect("index");
    assert_eq!(
        c.put(&format!("/v1/kv/k?cas={}", idx + 100), "3")
            .await
            .body,
        "false"
    );
    assert_eq!(
        c.put(&format!("/v1/kv/k?cas={idx}"), "3").await.body,
        "true"
    );
    assert_eq!(
        c.put(&format!("/v1/kv/k?cas={idx}"), "4").await.body,
        "false"
    );
    assert_eq!(
        c.put("/v1/kv/other?cas=5", "x").await.body,
        "false",
        "cas=N on a missing key"
    );
    assert_eq!(c.get("/v1/kv/k?raw").await.body, "3");
}

#[tokio::test]
async fn bad_parameters_answer_like_consul() {
    let (_d, c) = start().await;
    let a = c.put("/v1/kv/k?cas=0&acquire=x", "1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("Conflicting flags"), "{}", a.body);
    assert_eq!(
        c.put("/v1/kv/k?cas=abc", "1").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        c.put("/v1/kv/k?flags=abc", "1").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let a = c.get("/v1/kv/").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Missing key name")
    );
    let a = c.get("/v1/kv/k?index=1&wait=forever").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid wait time")
    );
    let a = c.get("/v1/kv/k?index=x").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid index")
    );
    let big = "x".repeat(MAX_VALUE_SIZE + 1);
    assert_eq!(
        c.put("/v1/kv/big", &big).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let a = c.delete("/v1/kv/k?recurse&cas=1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn keys_outside_consuls_rules_are_400() {
    let (_d, c) = start().await;
    // HTTP clients normalise `../` away before sending, so check that rule directly.
    assert!(check_key("a/../b").is_err());
    for bad in [
        "/v1/kv//lead",
        "/v1/kv/a%20b",
        "/v1/kv/conf.json",
        "/v1/kv/x?y",
    ] {
        let path = bad.replace("x?y", "x%3Fy");
        assert_eq!(
            c.put(&path, "v").await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    for good in ["web-active-zone", "app/web_1/v2.3", "a,b"] {
        assert_eq!(
            c.put(&format!("/v1/kv/{good}"), "v").await.body,
            "true",
            "{good}"
        );
    }
}

#[tokio::test]
async fn recurse_lists_a_prefix_and_404s_when_empty() {
    let (_d, c) = start().await;
    assert_eq!(
        c.get("/v1/kv/app/?recurse").await.status,
        StatusCode::NOT_FOUND
    );
    c.put("/v1/kv/app/a", "1").await;
    c.put("/v1/kv/app/b", "2").await;
    c.put("/v1/kv/other", "3").await;
    let a = c.get("/v1/kv/app/?recurse").await;
    let keys: Vec<_> = a
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["Key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("app/a"), json!("app/b")]);
    let b_idx = c.get("/v1/kv/app/b").await.index;
    assert_eq!(a.index, b_idx, "the highest ModifyIndex in the prefix");
    // raw is ignored with recurse.
    assert!(c.get("/v1/kv/app/?recurse&raw").await.body.starts_with('['));
    // Tombstones count.
    c.delete("/v1/kv/app/b").await;
    let after = c.get("/v1/kv/app/?recurse").await.index.expect("index");
    assert!(after > b_idx.expect("index"));
    c.put("/v1/kv/other", "4").await;
    assert_eq!(
        c.get("/v1/kv/app/?recurse").await.index,
        Some(after),
        "other prefixes do not count"
    );
}

#[tokio::test]
async fn keys_lists_names_with_separator() {
    let (_d, c) = start().await;
    assert_eq!(c.get("/v1/kv/?keys").await.body, "[]", "empty prefix: []");
    assert_eq!(c.get("/v1/kv/x/?keys").await.status, StatusCode::NOT_FOUND);
    for k in ["x/a", "x/b/c", "x/b/d"] {
        c.put(&format!("/v1/kv/{k}"), "v").await;
    }
    assert_eq!(
        c.get("/v1/kv/x/?keys").await.json(),
        json!(["x/a", "x/b/c", "x/b/d"])
    );
    assert_eq!(
        c.get("/v1/kv/x/?keys&separator=/").await.json(),
        json!(["x/a", "x/b/"])
    );
}

#[tokio::test]
async fn delete_with_cas_and_recurse() {
    let (_d, c) = start().await;
    assert_eq!(
        c.delete("/v1/kv/none?cas=3").await.body,
        "true",
        "cas on a missing key"
    );
    c.put("/v1/kv/d", "1").await;
    let idx = c.get("/v1/kv/d").await.index.expect("index");
    assert_eq!(
        c.delete(&format!("/v1/kv/d?cas={}", idx + 1)).await.body,
        "false"
    );
    assert_eq!(c.get("/v1/kv/d").await.status, StatusCode::OK);
    assert_eq!(c.delete(&format!("/v1/kv/d?cas={idx}")).await.body, "true");
    assert_eq!(c.get("/v1/kv/d").await.status, StatusCode::NOT_FOUND);
    c.put("/v1/kv/t/a", "1").await;
    c.put("/v1/kv/t/b", "1").await;
    assert_eq!(c.delete("/v1/kv/t/?recurse").await.body, "true");
    assert_eq!(
        c.get("/v1/kv/t/?recurse").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn blocking_query_returns_at_once_when_newer() {
    let (_d, c) = start().await;
    c.put("/v1/kv/w", "1").await;
    let idx = c.get("/v1/kv/w").await.index.expect("index");
    let t = Instant::now();
    let a = c.get(&format!("/v1/kv/w?index={}&wait=5s", idx - 1)).await;
    assert_eq!(a.index, Some(idx));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn blocking_query_waits_for_a_change() {
    let (_d, c) = start().await;
    c.put("/v1/kv/w", "1").await;
    let idx = c.get("/v1/kv/w").await.index.expect("index");
    let path = format!("/v1/kv/w?index={idx}&wait=10s");
    let blocked = c.get(&path);
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A write elsewhere does not wake a watch on an existing key.
        c.put("/v1/kv/elsewhere", "x").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.put("/v1/kv/w", "2").await;
        Instant::now()
    };
    let (a, wrote) = tokio::join!(blocked, writer);
    assert!(wrote.elapsed() < Duration::from_millis(300));
    assert!(a.index.expect("index") > idx);
    assert_eq!(a.json()[0]["Value"], "Mg==");
}

#[tokio::test]
async fn blocking_query_times_out_with_the_same_index() {
    let (_d, c) = start().await;
    c.put("/v1/kv/w", "1").await;
    let idx = c.get("/v1/kv/w").await.index.expect("index");
    let t = Instant::now();
    let a = c.get(&format!("/v1/kv/w?index={idx}&wait=300ms")).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!((a.status, a.index), (StatusCode::OK, Some(idx)));
    // On a missing key, any KV write wakes it (the table index moves).
    let missing = c.get("/v1/kv/none").await.index.expect("index");
    let path = format!("/v1/kv/none?index={missing}&wait=5s");
    let blocked = c.get(&path);
    let writer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.put("/v1/kv/unrelated", "x").await;
    };
    let (a, ()) = tokio::join!(blocked, writer);
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.index.expect("index") > missing);
}

#[tokio::test]
async fn txn_applies_all_or_nothing() {
    let (_d, c) = start().await;
    let ok = c
        .put(
            "/v1/txn",
            &json!([
                {"KV": {"Verb": "set", "Key": "web-active-zone", "Value": "Z3JlZW4="}},
                {"KV": {"Verb": "set", "Key": "web-active-version", "Value": "MS40LjI="}},
            ])
            .to_string(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let v = ok.json();
    assert_eq!(v["Errors"], Value::Null);
    assert_eq!(v["Results"].as_array().expect("results").len(), 2);
    let zone = c.get("/v1/kv/web-active-zone").await.json();
    let version = c.get("/v1/kv/web-active-version").await.json();
    assert_eq!(
        zone[0]["ModifyIndex"], version[0]["ModifyIndex"],
        "one transaction, one index"
    );
    assert_eq!(c.get("/v1/kv/web-active-version?raw").await.body, "1.4.2");
    let stale = c
        .put(
            "/v1/txn",
            &json!([
                {"KV": {"Verb": "set", "Key": "web-active-zone", "Value": "Ymx1ZQ=="}},
                {"KV": {"Verb": "cas", "Key": "web-active-version", "Value": "MS40LjM=", "Index": 999}},
            ])
            .to_string(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let v = stale.json();
    assert_eq!(v["Results"], Value::Null);
    assert_eq!(v["Errors"][0]["OpIndex"], 1);
    assert!(
        v["Errors"][0]["What"]
            .as_str()
            .expect("What")
            .contains("index is stale")
    );
    assert_eq!(
        c.get("/v1/kv/web-active-zone?raw").await.body,
        "green",
        "rolled back"
    );
    let too_many: Vec<Value> = (0..65)
        .map(|i| json!({"KV": {"Verb": "set", "Key": format!("k{i}"), "Value": "eA=="}}))
        .collect();
    let a = c.put("/v1/txn", &Value::Array(too_many).to_string()).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn txn_reads_get_or_empty_and_leave_the_index_alone() {
    let (d, c) = start().await;
    c.put("/v1/kv/present", "blue").await;
    c.put("/v1/kv/empty", "").await;
    let before = d.index();
    let reads = |verb: &str| {
        json!([
            {"KV": {"Verb": verb, "Key": "present"}},
            {"KV": {"Verb": verb, "Key": "missing"}},
            {"KV": {"Verb": verb, "Key": "empty"}},
        ])
        .to_string()
    };
    let a = c.put("/v1/txn", &reads("get-or-empty")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    let results = v["Results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "one result per operation: {v}");
    assert_eq!(results[0]["KV"]["Key"], "present");
    assert_eq!(results[0]["KV"]["Value"], "Ymx1ZQ==");
    assert!(results[0]["KV"]["ModifyIndex"].as_u64() > Some(0));
    // A missing key: the operation's own entry, no value, indexes 0.
    assert_eq!(
        results[1]["KV"],
        json!({"LockIndex": 0, "Key": "missing", "Flags": 0, "Value": null,
               "CreateIndex": 0, "ModifyIndex": 0})
    );
    assert_eq!(results[2]["KV"]["Value"], Value::Null);
    assert!(results[2]["KV"]["ModifyIndex"].as_u64() > Some(0));
    // Served like a read: leader headers, no index, and no Raft index used.
    assert!(a.headers.contains_key("X-Consul-KnownLeader"));
    assert!(a.headers.contains_key("X-Consul-LastContact"));
    assert_eq!(a.index, None);
    assert_eq!(d.index(), before, "a read-only transaction writes nothing");
    // A plain get of a missing key fails the whole transaction.
    let a = c.put("/v1/txn", &reads("get")).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let v = a.json();
    assert_eq!(v["Results"], Value::Null);
    assert_eq!(v["Errors"][0]["OpIndex"], 1);
    assert!(
        v["Errors"][0]["What"]
            .as_str()
            .expect("What")
            .contains("doesn't exist"),
        "{v}"
    );
    // A write makes it a write: no read headers.
    let a = c
        .put(
            "/v1/txn",
            &json!([
                {"KV": {"Verb": "get-or-empty", "Key": "missing"}},
                {"KV": {"Verb": "set", "Key": "new", "Value": "eA=="}},
            ])
            .to_string(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.headers.contains_key("X-Consul-KnownLeader"));
    assert!(d.index() > before);
}

#[tokio::test]
async fn unknown_txn_verbs_fail_the_transaction() {
    let d = ConsulDouble::start(Options {
        before_1_14: true,
        ..Options::default()
    })
    .await;
    let c = Client::new(&d);
    c.put("/v1/kv/present", "blue").await;
    for verb in ["get-or-empty", "no-such-verb"] {
        let body = json!([
            {"KV": {"Verb": "get", "Key": "present"}},
            {"KV": {"Verb": verb, "Key": "present"}},
        ]);
        let a = c.put("/v1/txn", &body.to_string()).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{verb}: {}", a.body);
        let v = a.json();
        assert_eq!(v["Errors"][0]["OpIndex"], 1);
        assert_eq!(
            v["Errors"][0]["What"],
            format!("unknown KV verb \"{verb}\""),
            "Consul before 1.14 knows no get-or-empty"
        );
    }
}

#[tokio::test]
async fn sessions_acquire_and_release() {
    let (_d, c) = start().await;
    let bad = c
        .put("/v1/session/create", &json!({"TTL": "5s"}).to_string())
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "TTL below 10s");
    let s1 = c.session("15s", "0s").await;
    let s2 = c.session("15s", "0s").await;
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s1}"), "alice")
            .await
            .body,
        "true"
    );
    let e = c.get("/v1/kv/lock").await.json();
    assert_eq!(
        (e[0]["LockIndex"].clone(), e[0]["Session"].clone()),
        (json!(1), json!(s1))
    );
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s2}"), "bob")
            .await
            .body,
        "false"
    );
    // The holder acquiring again updates the value and keeps LockIndex.
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s1}"), "alice2")
            .await
            .body,
        "true"
    );
    let e = c.get("/v1/kv/lock").await.json();
    assert_eq!(
        (e[0]["LockIndex"].clone(), e[0]["Value"].clone()),
        (json!(1), json!("YWxpY2Uy"))
    );
    // A plain PUT on a locked key succeeds and keeps the holder.
    assert_eq!(c.put("/v1/kv/lock", "plain").await.body, "true");
    assert_eq!(c.get("/v1/kv/lock").await.json()[0]["Session"], json!(s1));
    assert_eq!(
        c.put(&format!("/v1/kv/lock?release={s2}"), "").await.body,
        "false"
    );
    let before = c.get("/v1/kv/lock").await.index.expect("index");
    assert_eq!(
        c.put(&format!("/v1/kv/lock?release={s1}"), "").await.body,
        "true"
    );
    let e = c.get("/v1/kv/lock").await;
    assert!(e.json()[0].get("Session").is_none());
    assert!(
        e.index.expect("index") > before,
        "release bumps ModifyIndex"
    );
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s2}"), "bob")
            .await
            .body,
        "true"
    );
    assert_eq!(c.get("/v1/kv/lock").await.json()[0]["LockIndex"], 2);
    let a = c.put("/v1/kv/lock?acquire=no-such-session", "x").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(a.body.contains("invalid session"));
}

#[tokio::test]
async fn destroyed_session_releases_and_lock_delay_blocks() {
    let (_d, c) = start().await;
    let s1 = c.session("15s", "1s").await;
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s1}"), "a").await.body,
        "true"
    );
    assert_eq!(
        c.put(&format!("/v1/session/destroy/{s1}"), "").await.body,
        "true"
    );
    assert!(
        c.get("/v1/kv/lock").await.json()[0]
            .get("Session")
            .is_none()
    );
    assert_eq!(
        c.put(&format!("/v1/session/renew/{s1}"), "").await.status,
        StatusCode::NOT_FOUND
    );
    let s2 = c.session("15s", "0s").await;
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s2}"), "b").await.body,
        "false",
        "lock delay"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s2}"), "b").await.body,
        "true"
    );
}

#[tokio::test]
async fn session_ttl_expiry_releases_its_locks() {
    let (_d, c) = start().await;
    let s = c.session("10s", "0s").await;
    assert_eq!(
        c.put(&format!("/v1/kv/lock?acquire={s}"), "a").await.body,
        "true"
    );
    let renewed = c.put(&format!("/v1/session/renew/{s}"), "").await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert_eq!(renewed.json()[0]["TTL"], "10s");
    let idx = c.get("/v1/kv/lock").await.index.expect("index");
    // A blocking query on the lock wakes when the session expires.
    let a = c.get(&format!("/v1/kv/lock?index={idx}&wait=15s")).await;
    assert!(a.json()[0].get("Session").is_none());
    assert_eq!(
        c.put(&format!("/v1/session/renew/{s}"), "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn acl_token_is_required_when_configured() {
    let d = ConsulDouble::start(Options {
        token: Some("s3cret-token".into()),
        ..Options::default()
    })
    .await;
    let mut c = Client::new(&d);
    let a = c.get("/v1/kv/k").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("Permission denied"));
    c.token = Some("wrong".into());
    assert_eq!(c.put("/v1/kv/k", "v").await.status, StatusCode::FORBIDDEN);
    c.token = Some("s3cret-token".into());
    assert_eq!(c.put("/v1/kv/k", "v").await.body, "true");
    assert_eq!(c.get("/v1/kv/k?raw").await.body, "v");
    // Also accepted as a bearer token.
    let bearer = reqwest::Client::new()
        .get(format!("http://{}/v1/kv/k?raw", d.address()))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn stop_makes_it_unreachable() {
    let (d, c) = start().await;
    c.put("/v1/kv/k", "v").await;
    assert!(d.index() > 0);
    d.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = reqwest::Client::new()
        .get(format!("http://{}/v1/kv/k", d.address()))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(err.is_err(), "a stopped double must not answer");
}

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("60000ms"), Some(Duration::from_secs(60)));
    assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_go_duration("10"), None);
    assert_eq!(parse_go_duration("forever"), None);
}

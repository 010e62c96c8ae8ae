//! Consul KV over its HTTP API: CAS on ModifyIndex, `/v1/txn`, session locks, blocking queries.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

mod config;

pub use config::ConsulConfig;

use super::guard::RenewingGuard;
use super::util::{Patience, parse_info, request_failure, text, unknown_holder};
use crate::ports::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome};

/// Consul answers at most 64 operations per transaction before 1.14.
const TXN_MAX_OPS: usize = 64;
/// Consul refuses session TTLs below 10 s.
const MIN_SESSION_TTL: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The Consul backend.
#[derive(Clone)]
pub struct ConsulKv {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `http(s)://host:port`, the host replaced by the TLS server name where one is set.
    base: String,
    describe: String,
    token: Option<String>,
    lock_delay: Duration,
    patience: Patience,
    /// The agent refused `get-or-empty` in a transaction (Consul before 1.14).
    txn_reads_unknown: AtomicBool,
    /// The token may not list the keys' common prefix: watches block on each key instead.
    prefix_watch_denied: AtomicBool,
}

impl fmt::Debug for ConsulKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulKv")
            .field("url", &self.inner.describe)
            .field("token", &self.inner.token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntry {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    session: Option<String>,
    modify_index: u64,
}

impl ConsulKv {
    pub async fn new(config: ConsulConfig) -> Result<ConsulKv, KvError> {
        let scheme = if config.https { "https" } else { "http" };
        let describe = format!("consul {scheme}://{}", config.address);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30));
        let mut base = format!("{scheme}://{}", config.address);
        if config.https {
            if let Some(pem) = &config.ca_cert_pem {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| KvError::Other(format!("CONSUL_CACERT is not PEM: {e}")))?;
                builder = builder.tls_certs_only(certs);
            }
            if let Some(pem) = &config.client_identity_pem {
                let id = reqwest::Identity::from_pem(pem).map_err(|e| {
                    KvError::Other(format!("CONSUL_CLIENT_CERT/KEY are not usable PEM: {e}"))
                })?;
                builder = builder.identity(id);
            }
            if !config.verify {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
            if let Some(name) = &config.tls_server_name {
                // Connect to the configured address but verify (and send SNI for) `name`:
                // reqwest takes both from the URL host, so pin that name to the address.
                let addr = resolve(&config.address).await?;
                builder = builder.resolve(name, addr);
                base = format!("https://{name}:{}", addr.port());
            }
        }
        let http = builder
            .build()
            .map_err(|e| KvError::Other(format!("cannot set up HTTP client: {e}")))?;
        Ok(ConsulKv {
            inner: Arc::new(Inner {
                http,
                base,
                describe,
                token: config.token,
                lock_delay: config.lock_delay,
                patience: Patience::default(),
                txn_reads_unknown: AtomicBool::new(false),
                prefix_watch_denied: AtomicBool::new(false),
            }),
        })
    }
}

async fn resolve(address: &str) -> Result<SocketAddr, KvError> {
    tokio::net::lookup_host(address)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| KvError::Unavailable {
            url: address.to_string(),
            reason: "cannot resolve the address".into(),
        })
}

/// Keys go into the URL path as they are: keep them to what Consul accepts unescaped.
fn check_key(key: &str) -> Result<(), KvError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && !key.contains("../")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./,".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KvError::Other(format!(
            "invalid key {key:?}: use letters, digits, '-', '_', '.' and '/'"
        )))
    }
}

struct Reply {
    status: StatusCode,
    index: Option<u64>,
    body: Vec<u8>,
}

impl Inner {
    fn unavailable(&self, e: &reqwest::Error) -> KvError {
        KvError::Unavailable {
            url: self.describe.clone(),
            reason: request_failure(e),
        }
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Reply, KvError> {
        let url = format!("{}{}", self.base, path_and_query);
        // Blocking queries wait on purpose: only ordinary requests are cut short.
        let timeout = if timeout == REQUEST_TIMEOUT {
            self.patience.timeout(timeout)
        } else {
            timeout
        };
        let mut req = self.http.request(method, url).timeout(timeout);
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let sent = req.send().await;
        self.patience.record(&sent);
        let resp = sent.map_err(|e| self.unavailable(&e))?;
        let status = resp.status();
        let index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let read = resp.bytes().await;
        self.patience.record(&read);
        let body = read.map_err(|e| self.unavailable(&e))?.to_vec();
        let reply = Reply {
            status,
            index,
            body,
        };
        let body = text(&reply.body);
        // Consul versions differ in the status of ACL failures; the text is stable.
        let acl = body.contains("Permission denied") || body.contains("ACL not found");
        match status {
            s if s == StatusCode::FORBIDDEN
                || s == StatusCode::UNAUTHORIZED
                || (!s.is_success() && acl) =>
            {
                Err(KvError::Denied {
                    url: self.describe.clone(),
                    reason: body,
                })
            }
            s if s.is_server_error() && body.contains("No cluster leader") => {
                Err(KvError::Unavailable {
                    url: self.describe.clone(),
                    reason: body,
                })
            }
            _ => Ok(reply),
        }
    }

    /// One `/v1/txn` of `ops`.
    async fn txn(&self, ops: &[serde_json::Value]) -> Result<Reply, KvError> {
        let body = serde_json::to_vec(ops)
            .map_err(|e| KvError::Other(format!("cannot encode transaction: {e}")))?;
        self.call(Method::PUT, "/v1/txn", Some(body), REQUEST_TIMEOUT)
            .await
    }

    fn unexpected(&self, what: &str, r: &Reply) -> KvError {
        KvError::Other(format!(
            "{} answered {} to {what}: {}",
            self.describe,
            r.status,
            text(&r.body)
        ))
    }

    async fn get_entry(
        &self,
        key: &str,
    ) -> Result<(Option<KvEntry>, Option<String>, u64), KvError> {
        check_key(key)?;
        let r = self
            .call(Method::GET, &format!("/v1/kv/{key}"), None, REQUEST_TIMEOUT)
            .await?;
        let index = r.index.unwrap_or(1);
        match r.status {
            StatusCode::NOT_FOUND => Ok((None, None, index)),
            StatusCode::OK => {
                let mut list = self.entries(&r)?;
                match list.pop() {
                    Some((entry, session)) => Ok((Some(entry), session, index)),
                    None => Ok((None, None, index)),
                }
            }
            _ => Err(self.unexpected(&format!("GET {key}"), &r)),
        }
    }

    fn entries(&self, r: &Reply) -> Result<Vec<(KvEntry, Option<String>)>, KvError> {
        decode_entries(&self.describe, &r.body)
    }

    async fn put_bool(
        &self,
        what: &str,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<bool, KvError> {
        let r = self
            .call(Method::PUT, path_and_query, Some(body), REQUEST_TIMEOUT)
            .await?;
        if r.status != StatusCode::OK {
            return Err(self.unexpected(what, &r));
        }
        match text(&r.body).trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.unexpected(what, &r)),
        }
    }

    async fn destroy_session(&self, id: &str) -> Result<(), KvError> {
        let r = self
            .call(
                Method::PUT,
                &format!("/v1/session/destroy/{id}"),
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(self.unexpected("session destroy", &r))
        }
    }

    /// One blocking query on `key`; returns the new X-Consul-Index.
    /// The index of everything under `prefix` (writes and deletes), read with `?keys` so
    /// that the answer carries key names only. With `since`, a blocking query: it answers
    /// once something under the prefix changed after `since`, or when `wait` is over.
    async fn prefix_index(
        &self,
        prefix: &str,
        since: Option<(u64, Duration)>,
    ) -> Result<u64, KvError> {
        let (path, timeout) = match since {
            None => (format!("/v1/kv/{prefix}?keys"), REQUEST_TIMEOUT),
            Some((since, wait)) => (
                format!(
                    "/v1/kv/{prefix}?keys&index={since}&wait={}ms",
                    wait.as_millis().max(1)
                ),
                // The server may add up to wait/16 of jitter.
                wait + wait / 16 + Duration::from_secs(5),
            ),
        };
        let r = self.call(Method::GET, &path, None, timeout).await?;
        match r.status {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(r.index.unwrap_or(1).max(1)),
            _ => Err(self.unexpected(&format!("watch {prefix}"), &r)),
        }
    }

    async fn block_on(&self, key: &str, since: u64, wait: Duration) -> Result<u64, KvError> {
        let wait_ms = wait.as_millis().max(1);
        let path = format!("/v1/kv/{key}?index={since}&wait={wait_ms}ms");
        // The server may add up to wait/16 of jitter.
        let timeout = wait + wait / 16 + Duration::from_secs(5);
        let r = self.call(Method::GET, &path, None, timeout).await?;
        match r.status {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(r.index.unwrap_or(1)),
            _ => Err(self.unexpected(&format!("watch {key}"), &r)),
        }
    }
}

/// The entries of a `/v1/kv` answer, each with the session holding it; `describe` names the
/// store in errors. Pure, so that hostile answers can be tried without a server.
pub(crate) fn decode_entries(
    describe: &str,
    body: &[u8],
) -> Result<Vec<(KvEntry, Option<String>)>, KvError> {
    let raw: Vec<RawEntry> = serde_json::from_slice(body)
        .map_err(|e| KvError::Other(format!("{describe} sent unreadable JSON: {e}")))?;
    raw.into_iter()
        .map(|e| {
            let bytes = match &e.value {
                Some(v) => B64.decode(v).map_err(|err| {
                    KvError::Other(format!("key {} holds invalid base64: {err}", e.key))
                })?,
                None => Vec::new(),
            };
            let value = String::from_utf8(bytes)
                .map_err(|_| KvError::Other(format!("key {} holds no UTF-8 text", e.key)))?;
            Ok((
                KvEntry {
                    key: e.key,
                    value,
                    revision: e.modify_index,
                },
                e.session,
            ))
        })
        .collect()
}

/// The answer of a read-only transaction of one `get-or-empty` per key of `keys`: their
/// entries in that order. A missing key comes back with ModifyIndex 0, which no written key
/// has; a key with no result at all was filtered out by the ACLs, as a `GET` of it would be
/// denied. Pure, so that hostile answers can be tried without a server.
pub(crate) fn decode_txn_gets(
    describe: &str,
    body: &[u8],
    keys: &[String],
) -> Result<Vec<Option<KvEntry>>, KvError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        results: Option<Vec<serde_json::Value>>,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| KvError::Other(format!("{describe} sent unreadable JSON: {e}")))?;
    let kvs: Vec<serde_json::Value> = answer
        .results
        .unwrap_or_default()
        .into_iter()
        .filter_map(|mut r| r.get_mut("KV").map(serde_json::Value::take))
        .collect();
    let raw = serde_json::to_vec(&kvs)
        .map_err(|e| KvError::Other(format!("{describe} sent unreadable JSON: {e}")))?;
    let mut found: HashMap<String, Option<KvEntry>> = HashMap::new();
    for (entry, _) in decode_entries(describe, &raw)? {
        let present = (entry.revision != 0).then(|| entry.clone());
        found.insert(entry.key, present);
    }
    keys.iter()
        .map(|k| {
            found.get(k).cloned().ok_or_else(|| KvError::Denied {
                url: describe.to_string(),
                reason: format!("the transaction answered nothing for {k}"),
            })
        })
        .collect()
}

#[async_trait]
impl Kv for ConsulKv {
    fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        Ok(self.inner.get_entry(key).await?.0)
    }

    /// One read-only `/v1/txn` of `get-or-empty` operations per [`TXN_MAX_OPS`] keys (a plain
    /// `get` of a missing key would fail the whole transaction). Consul before 1.14 does not
    /// know that verb: there, and from then on, the keys are read one by one.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(TXN_MAX_OPS) {
            if self.inner.txn_reads_unknown.load(Ordering::Relaxed) {
                for key in chunk {
                    out.push(self.get(key).await?);
                }
                continue;
            }
            let mut ops = Vec::with_capacity(chunk.len());
            for key in chunk {
                check_key(key)?;
                ops.push(json!({"KV": {"Verb": "get-or-empty", "Key": key}}));
            }
            let r = self.inner.txn(&ops).await?;
            match r.status {
                StatusCode::OK => {
                    out.extend(decode_txn_gets(&self.inner.describe, &r.body, chunk)?);
                }
                _ if text(&r.body).contains("unknown KV verb") => {
                    self.inner.txn_reads_unknown.store(true, Ordering::Relaxed);
                    for key in chunk {
                        out.push(self.get(key).await?);
                    }
                }
                _ => return Err(self.inner.unexpected("transaction", &r)),
            }
        }
        Ok(out)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        check_key(key)?;
        if self
            .inner
            .put_bool(
                &format!("PUT {key}"),
                &format!("/v1/kv/{key}"),
                value.into(),
            )
            .await?
        {
            Ok(())
        } else {
            Err(KvError::Other(format!("Consul refused to write {key}")))
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        // cas=0 means create-only; a real ModifyIndex is never 0.
        let cas = expected.unwrap_or(0);
        self.inner
            .put_bool(
                &format!("CAS {key}"),
                &format!("/v1/kv/{key}?cas={cas}"),
                value.into(),
            )
            .await
    }

    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        let changes: Vec<KeyChange> = writes.iter().cloned().map(KeyChange::Put).collect();
        self.write_fenced(&changes, &[]).await
    }

    fn max_atomic_ops(&self) -> usize {
        TXN_MAX_OPS
    }

    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError> {
        if changes.is_empty() && fences.is_empty() {
            return Ok(());
        }
        if changes.len() + fences.len() > TXN_MAX_OPS {
            return Err(KvError::Other(format!(
                "{} operations in one atomic write; Consul takes at most {TXN_MAX_OPS}",
                changes.len() + fences.len()
            )));
        }
        // The session checks come first, so an error's OpIndex tells a lost lock from a
        // conflict.
        let mut ops = Vec::with_capacity(changes.len() + fences.len());
        for f in fences {
            check_key(&f.lock_key)?;
            ops.push(
                json!({"KV": {"Verb": "check-session", "Key": f.lock_key, "Session": f.holder}}),
            );
        }
        for c in changes {
            check_key(c.key())?;
            ops.push(match c {
                KeyChange::Put(w) => {
                    json!({"KV": {"Verb": "set", "Key": w.key, "Value": B64.encode(&w.value)}})
                }
                KeyChange::Delete(key) => json!({"KV": {"Verb": "delete", "Key": key}}),
            });
        }
        let r = self.inner.txn(&ops).await?;
        match r.status {
            StatusCode::OK => Ok(()),
            StatusCode::CONFLICT => {
                let errors = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("Errors").cloned())
                    .and_then(|e| e.as_array().cloned())
                    .unwrap_or_default();
                let lost = errors.iter().find_map(|e| {
                    let index = e.get("OpIndex").and_then(|i| i.as_u64())? as usize;
                    fences.get(index)
                });
                if let Some(fence) = lost {
                    return Err(KvError::LockLost {
                        key: fence.lock_key.clone(),
                    });
                }
                let what: Vec<String> = errors
                    .iter()
                    .filter_map(|e| e.get("What").and_then(|w| w.as_str()).map(str::to_string))
                    .collect();
                let keys: Vec<&str> = changes.iter().map(KeyChange::key).collect();
                let mut key = keys.join(", ");
                if !what.is_empty() {
                    key = format!("{key} ({})", what.join("; "));
                }
                Err(KvError::Conflict { key })
            }
            _ => Err(self.inner.unexpected("transaction", &r)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let r = self
            .inner
            .call(
                Method::DELETE,
                &format!("/v1/kv/{key}"),
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(self.inner.unexpected(&format!("DELETE {key}"), &r))
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError> {
        if !prefix.is_empty() {
            check_key(prefix)?;
        }
        let r = self
            .inner
            .call(
                Method::GET,
                &format!("/v1/kv/{prefix}?recurse"),
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        match r.status {
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            StatusCode::OK => Ok(self
                .inner
                .entries(&r)?
                .into_iter()
                .map(|(e, _)| e)
                .collect()),
            _ => Err(self.inner.unexpected(&format!("list {prefix}"), &r)),
        }
    }

    async fn lock(
        &self,
        key: &str,
        info: &LockInfo,
        ttl: Duration,
    ) -> Result<LockOutcome, KvError> {
        check_key(key)?;
        // Whole seconds, rounded up: never shorter than asked, nor than Consul's minimum.
        let ttl = Duration::from_secs(ttl.as_secs_f64().ceil() as u64).max(MIN_SESSION_TTL);
        let inner = &self.inner;
        let session_req = json!({
            "Name": format!("shipctl lock {key}"),
            "TTL": format!("{}s", ttl.as_secs()),
            "Behavior": "release",
            "LockDelay": format!("{}ms", inner.lock_delay.as_millis()),
        });
        let r = inner
            .call(
                Method::PUT,
                "/v1/session/create",
                Some(session_req.to_string().into_bytes()),
                REQUEST_TIMEOUT,
            )
            .await?;
        if r.status != StatusCode::OK {
            return Err(inner.unexpected("session create", &r));
        }
        let session = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("ID").and_then(|i| i.as_str()).map(str::to_string))
            .ok_or_else(|| inner.unexpected("session create", &r))?;
        let value = serde_json::to_vec(info)
            .map_err(|e| KvError::Other(format!("cannot encode lock info: {e}")))?;
        let acquired = inner
            .put_bool(
                &format!("acquire {key}"),
                &format!("/v1/kv/{key}?acquire={session}"),
                value,
            )
            .await;
        let acquired = match acquired {
            Ok(a) => a,
            Err(e) => {
                let _ = inner.destroy_session(&session).await;
                return Err(e);
            }
        };
        if !acquired {
            let _ = inner.destroy_session(&session).await;
            let (entry, holder_session, _) = inner.get_entry(key).await?;
            // Acquire also fails during the lock delay after a holder's session ended: say so,
            // with the last holder when the key still names one.
            let holder = match (entry, holder_session) {
                (Some(e), Some(_)) => parse_info(&e.value),
                (Some(e), None) => {
                    let mut last = parse_info(&e.value);
                    last.message = Some(format!(
                        "lock delay after this holder's session ended ({}s)",
                        inner.lock_delay.as_secs_f64()
                    ));
                    last
                }
                (None, _) => unknown_holder("lock delay after the previous holder ended"),
            };
            return Ok(LockOutcome::Held(holder));
        }
        let fence_session = session.clone();
        let renew_inner = self.inner.clone();
        let renew_session = session.clone();
        let renew = Box::new(move || {
            let inner = renew_inner.clone();
            let id = renew_session.clone();
            Box::pin(async move {
                let r = inner
                    .call(
                        Method::PUT,
                        &format!("/v1/session/renew/{id}"),
                        None,
                        REQUEST_TIMEOUT,
                    )
                    .await?;
                match r.status {
                    StatusCode::OK => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    _ => Err(inner.unexpected("session renew", &r)),
                }
            }) as super::guard::BoxFut<Result<bool, KvError>>
        });
        let release_inner = self.inner.clone();
        let release_key = key.to_string();
        let release = Box::new(move || {
            Box::pin(async move {
                let inner = release_inner;
                let released = inner
                    .put_bool(
                        &format!("release {release_key}"),
                        &format!("/v1/kv/{release_key}?release={session}"),
                        Vec::new(),
                    )
                    .await;
                // Destroying the session releases the key too, so try it even if the
                // release call failed.
                let destroyed = inner.destroy_session(&session).await;
                released.and(destroyed)
            }) as super::guard::BoxFut<Result<(), KvError>>
        });
        let fence = Fence {
            lock_key: key.to_string(),
            holder: fence_session,
        };
        Ok(LockOutcome::Acquired(Box::new(RenewingGuard::spawn(
            ttl, fence, renew, release,
        ))))
    }

    async fn lock_holder(&self, key: &str) -> Result<Option<LockInfo>, KvError> {
        let (entry, session, _) = self.inner.get_entry(key).await?;
        Ok(match (entry, session) {
            (Some(e), Some(_)) => Some(parse_info(&e.value)),
            _ => None,
        })
    }

    async fn break_lock(&self, key: &str) -> Result<(), KvError> {
        let (_, session, _) = self.inner.get_entry(key).await?;
        // Delete first: a session destroyed while it still holds the key would block the
        // key for the lock delay.
        self.delete(key).await?;
        if let Some(s) = session {
            self.inner.destroy_session(&s).await?;
        }
        Ok(())
    }

    async fn watch(&self, keys: &[String], since: u64, timeout: Duration) -> Result<u64, KvError> {
        for k in keys {
            check_key(k)?;
        }
        // Several keys: one blocking query on their common prefix rather than one held
        // request per key. It also wakes for other keys under that prefix (a history or
        // progress write), which the contract allows: the caller reads its keys again.
        let prefix = common_prefix(keys);
        if keys.len() > 1
            && !prefix.is_empty()
            && !self.inner.prefix_watch_denied.load(Ordering::Relaxed)
        {
            match self.watch_prefix(prefix, since, timeout).await {
                Err(KvError::Denied { .. }) => {
                    self.inner
                        .prefix_watch_denied
                        .store(true, Ordering::Relaxed);
                }
                answer => return answer,
            }
        }
        self.watch_each(keys, since, timeout).await
    }
}

/// The longest prefix every key starts with (keys are ASCII: see `check_key`).
fn common_prefix(keys: &[String]) -> &str {
    let Some(first) = keys.first() else {
        return "";
    };
    let len = keys.iter().skip(1).fold(first.len(), |len, key| {
        first.as_bytes()[..len]
            .iter()
            .zip(key.as_bytes())
            .take_while(|(a, b)| a == b)
            .count()
    });
    // Keys are checked to be ASCII, but never cut a character in two.
    let mut len = len;
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

impl ConsulKv {
    async fn watch_prefix(
        &self,
        prefix: &str,
        since: u64,
        timeout: Duration,
    ) -> Result<u64, KvError> {
        if since == 0 {
            return self.inner.prefix_index(prefix, None).await;
        }
        let blocked = self.inner.prefix_index(prefix, Some((since, timeout)));
        match tokio::time::timeout(timeout, blocked).await {
            Err(_) => Ok(since),
            Ok(Err(e)) => Err(e),
            Ok(Ok(index)) if index >= since => Ok(index),
            // The index went backwards (a reset): report the current one.
            Ok(Ok(_)) => self.inner.prefix_index(prefix, None).await,
        }
    }

    /// One blocking query per key, for keys with no common prefix (or a token that may not
    /// list it).
    async fn watch_each(
        &self,
        keys: &[String],
        since: u64,
        timeout: Duration,
    ) -> Result<u64, KvError> {
        let current = || async {
            let mut max = 1;
            for k in keys {
                let (_, _, idx) = self.inner.get_entry(k).await?;
                max = max.max(idx);
            }
            Ok::<u64, KvError>(max)
        };
        if since == 0 || keys.is_empty() {
            return current().await;
        }
        let waits = keys.iter().map(|k| {
            let inner = self.inner.clone();
            Box::pin(async move { inner.block_on(k, since, timeout).await })
        });
        let blocked = async {
            let (first, _, _) = futures_util::future::select_all(waits).await;
            first
        };
        match tokio::time::timeout(timeout, blocked).await {
            Err(_) => Ok(since),
            Ok(Err(e)) => Err(e),
            // A wait that expired answers an unchanged index.
            Ok(Ok(idx)) if idx == since => Ok(since),
            // Changed, or the index went backwards (a reset): report the current index.
            Ok(Ok(_)) => current().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn txn_reads_come_back_in_order_with_missing_keys_as_none() {
        let body = br#"{"Results":[
            {"KV":{"LockIndex":0,"Key":"b","Flags":0,"Value":null,"CreateIndex":0,"ModifyIndex":0}},
            {"KV":{"LockIndex":0,"Key":"a","Flags":0,"Value":"Ymx1ZQ==","CreateIndex":3,"ModifyIndex":5}},
            {"KV":{"LockIndex":0,"Key":"e","Flags":0,"Value":null,"CreateIndex":6,"ModifyIndex":6}}
        ],"Errors":null}"#;
        let got = decode_txn_gets("consul", body, &keys(&["a", "b", "e", "a"])).expect("decoded");
        let got: Vec<Option<(String, String, u64)>> = got
            .into_iter()
            .map(|e| e.map(|e| (e.key, e.value, e.revision)))
            .collect();
        let a = Some(("a".to_string(), "blue".to_string(), 5));
        assert_eq!(
            got,
            vec![a.clone(), None, Some(("e".into(), String::new(), 6)), a]
        );
    }

    #[test]
    fn a_key_the_txn_left_out_is_denied() {
        let body = br#"{"Results":null,"Errors":null}"#;
        let err = decode_txn_gets("consul", body, &keys(&["a"])).expect_err("no result for a");
        assert!(matches!(err, KvError::Denied { .. }), "{err}");
        assert!(decode_txn_gets("consul", b"<html>", &keys(&["a"])).is_err());
    }

    #[test]
    fn a_watch_blocks_on_the_prefix_its_keys_share() {
        let k = |list: &[&str]| keys(list);
        assert_eq!(
            common_prefix(&k(&["p/web-active-zone", "p/web-active-version"])),
            "p/web-active-"
        );
        assert_eq!(common_prefix(&k(&["p/web-traffic", "p/api-traffic"])), "p/");
        assert_eq!(common_prefix(&k(&["a/x", "b/x"])), "");
        assert_eq!(common_prefix(&k(&["p/web", "p/web"])), "p/web");
        assert_eq!(common_prefix(&k(&[])), "");
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("web-active-zone").is_ok());
        assert!(check_key("a/b_c.d").is_ok());
        assert!(check_key("/abs").is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key("a?b").is_err());
    }
}

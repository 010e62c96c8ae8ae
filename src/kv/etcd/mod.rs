//! etcd v3 through its JSON gateway: CAS via txn on mod_revision, locks via leases.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::RwLock;

mod config;

pub use config::EtcdConfig;

use super::guard::{BoxFut, RenewingGuard};
use super::util::{Patience, parse_info, request_failure, text, unknown_holder};
use crate::ports::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome};

const TXN_MAX_OPS: usize = 128;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The etcd backend.
#[derive(Clone)]
pub struct EtcdKv {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    describe: String,
    credentials: Option<(String, String)>,
    token: RwLock<Option<String>>,
    patience: Patience,
}

impl fmt::Debug for EtcdKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdKv")
            .field("url", &self.inner.describe)
            .finish_non_exhaustive()
    }
}

impl EtcdKv {
    /// Connects, and authenticates when credentials are configured.
    pub async fn new(config: EtcdConfig) -> Result<EtcdKv, KvError> {
        let scheme = if config.https { "https" } else { "http" };
        let describe = match &config.user {
            Some(u) => format!("etcd {scheme}://{u}:***@{}", config.address),
            None => format!("etcd {scheme}://{}", config.address),
        };
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(pem) = &config.ca_cert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| KvError::Other(format!("ETCDCTL_CACERT is not PEM: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &config.client_identity_pem {
            let id = reqwest::Identity::from_pem(pem).map_err(|e| {
                KvError::Other(format!("ETCDCTL_CERT/ETCDCTL_KEY are not usable PEM: {e}"))
            })?;
            builder = builder.identity(id);
        }
        let http = builder
            .build()
            .map_err(|e| KvError::Other(format!("cannot set up HTTP client: {e}")))?;
        let credentials = match (config.user, config.password) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => None,
        };
        let kv = EtcdKv {
            inner: Arc::new(Inner {
                http,
                base: format!("{scheme}://{}", config.address),
                describe,
                credentials,
                token: RwLock::new(None),
                patience: Patience::default(),
            }),
        };
        if kv.inner.credentials.is_some() {
            kv.inner.authenticate().await?;
        }
        Ok(kv)
    }
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: Option<&Value>) -> Result<String, KvError> {
    let Some(s) = v.and_then(Value::as_str) else {
        return Ok(String::new());
    };
    let bytes = B64
        .decode(s)
        .map_err(|e| KvError::Other(format!("etcd sent invalid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| KvError::Other("etcd key holds no UTF-8 text".into()))
}

/// int64 fields come as strings and are omitted when zero.
fn int(v: &Value, field: &str) -> u64 {
    match v.get(field) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// The first key after every key starting with `prefix` (etcd's range_end for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the keyspace.
    vec![0]
}

fn entry(kv: &Value) -> Result<KvEntry, KvError> {
    Ok(KvEntry {
        key: unb64(kv.get("key"))?,
        value: unb64(kv.get("value"))?,
        revision: int(kv, "mod_revision"),
    })
}

/// A gateway answer: its JSON on success, else the error it names (auth failures told apart
/// from the rest). `describe` names the store in errors. The decoders below are pure, so that
/// hostile answers can be tried without a server.
pub(crate) fn decode_reply(
    describe: &str,
    status: StatusCode,
    bytes: &[u8],
) -> Result<Value, KvError> {
    if status.is_success() {
        return serde_json::from_slice(bytes)
            .map_err(|e| KvError::Other(format!("{describe} sent unreadable JSON: {e}")));
    }
    let body = serde_json::from_slice::<Value>(bytes).ok();
    let message = body
        .as_ref()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text(bytes));
    // gRPC codes 7 (permission denied) and 16 (unauthenticated); etcd also answers some
    // auth failures (no user, wrong password) as invalid arguments.
    let code = body.as_ref().map(|v| int(v, "code")).unwrap_or(0);
    let auth = code == 7
        || code == 16
        || [
            "user name is empty",
            "authentication failed",
            "permission denied",
            "invalid auth token",
            "user name not found",
        ]
        .iter()
        .any(|m| message.contains(m));
    Err(match status {
        _ if auth => KvError::Denied {
            url: describe.to_string(),
            reason: message,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => KvError::Denied {
            url: describe.to_string(),
            reason: message,
        },
        StatusCode::SERVICE_UNAVAILABLE => KvError::Unavailable {
            url: describe.to_string(),
            reason: message,
        },
        _ => KvError::Other(format!("{describe} answered {status}: {message}")),
    })
}

/// A `/v3/kv/range` answer for one key: its entry, its lease and the store's revision.
pub(crate) fn decode_range(v: &Value) -> Result<(Option<KvEntry>, i64, u64), KvError> {
    let revision = v.get("header").map(|h| int(h, "revision")).unwrap_or(0);
    let first = v
        .get("kvs")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    match first {
        Some(kv) => Ok((Some(entry(kv)?), int(kv, "lease") as i64, revision)),
        None => Ok((None, 0, revision)),
    }
}

/// A txn answer of `expected` range requests, one key each: their entries in order.
pub(crate) fn decode_ranges(
    describe: &str,
    v: &Value,
    expected: usize,
) -> Result<Vec<Option<KvEntry>>, KvError> {
    // Without compares a txn always succeeds; anything else is not an answer to our reads.
    let succeeded = v.get("succeeded").and_then(Value::as_bool).unwrap_or(false);
    let responses = v
        .get("responses")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !succeeded || responses.len() != expected {
        return Err(KvError::Other(format!(
            "{describe} answered {} of {expected} reads",
            responses.len()
        )));
    }
    responses
        .iter()
        .map(|r| {
            let range = r.get("response_range").ok_or_else(|| {
                KvError::Other(format!("{describe} answered a read with something else"))
            })?;
            Ok(decode_range(range)?.0)
        })
        .collect()
}

/// A `/v3/kv/range` answer for a prefix: every entry.
pub(crate) fn decode_list(v: &Value) -> Result<Vec<KvEntry>, KvError> {
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(entry).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// The watch stream received so far (`buf`) for a watch started after `since`: the outcome
/// once a message decides it, and how many bytes of whole messages were read. Only events on
/// `watched` keys decide (every event when it is empty): one watch of a key range serves many
/// keys, and the other keys in that range are not ours to wake for.
pub(crate) fn decode_watch(
    describe: &str,
    buf: &[u8],
    since: u64,
    watched: &[String],
) -> (Option<Result<u64, KvError>>, usize) {
    // The gateway streams one JSON object per message.
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    let mut consumed = 0;
    while let Some(Ok(msg)) = stream.next() {
        consumed = stream.byte_offset();
        if let Some(err) = msg.get("error") {
            return (
                Some(Err(KvError::Other(format!(
                    "{describe} watch failed: {err}"
                )))),
                consumed,
            );
        }
        let Some(result) = msg.get("result") else {
            continue;
        };
        let header_rev = result
            .get("header")
            .map(|h| int(h, "revision"))
            .unwrap_or(0);
        if int(result, "compact_revision") > 0 {
            // Our start revision was compacted away: something changed meanwhile.
            return (Some(Ok(header_rev)), consumed);
        }
        let events = result.get("events").and_then(Value::as_array);
        let ours = events
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("kv"))
            .filter(|kv| watched.is_empty() || is_watched(kv, watched))
            .map(|kv| int(kv, "mod_revision"))
            .max();
        if let Some(max) = ours {
            // `since` is a revision the store sent: it may be the largest number.
            return (Some(Ok(max.max(since.saturating_add(1)))), consumed);
        }
    }
    (None, consumed)
}

/// Whether a watch event's `kv` is one of `watched` (its key comes base64-encoded).
fn is_watched(kv: &Value, watched: &[String]) -> bool {
    let Some(key) = kv.get("key").and_then(Value::as_str) else {
        return false;
    };
    B64.decode(key)
        .is_ok_and(|key| watched.iter().any(|w| w.as_bytes() == key.as_slice()))
}

/// The key range `[start, end)` one watch covers for `keys`: from the first to just after
/// the last, so that a single stream serves every key however many there are.
fn watch_range(keys: &[String]) -> (Vec<u8>, Vec<u8>) {
    let first = keys.iter().min().map(String::as_bytes).unwrap_or_default();
    let mut end = keys
        .iter()
        .max()
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    // The next key after the last one: itself followed by a zero byte.
    end.push(0);
    (first.to_vec(), end)
}

impl Inner {
    fn unavailable(&self, e: &reqwest::Error) -> KvError {
        KvError::Unavailable {
            url: self.describe.clone(),
            reason: request_failure(e),
        }
    }

    async fn authenticate(&self) -> Result<(), KvError> {
        let Some((user, password)) = &self.credentials else {
            return Ok(());
        };
        let body = json!({"name": user, "password": password});
        let v = self
            .send("/v3/auth/authenticate", &body, None, REQUEST_TIMEOUT)
            .await?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| KvError::Denied {
                url: self.describe.clone(),
                reason: "authentication answered no token".into(),
            })?;
        *self.token.write().await = Some(token.to_string());
        Ok(())
    }

    async fn send(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, KvError> {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .timeout(self.patience.timeout(timeout))
            .json(body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let sent = req.send().await;
        self.patience.record(&sent);
        let resp = sent.map_err(|e| self.unavailable(&e))?;
        let status = resp.status();
        let read = resp.bytes().await;
        self.patience.record(&read);
        let bytes = read.map_err(|e| self.unavailable(&e))?;
        decode_reply(&self.describe, status, &bytes)
    }

    /// A call with the auth token; an expired token is renewed once.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, KvError> {
        self.post_with_timeout(path, body, REQUEST_TIMEOUT).await
    }

    async fn post_with_timeout(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, KvError> {
        let token = self.token.read().await.clone();
        match self.send(path, body, token.as_deref(), timeout).await {
            Err(KvError::Denied { reason, .. })
                if self.credentials.is_some() && reason.contains("invalid auth token") =>
            {
                self.authenticate().await?;
                let token = self.token.read().await.clone();
                self.send(path, body, token.as_deref(), timeout).await
            }
            other => other,
        }
    }

    async fn range(&self, key: &str) -> Result<(Option<KvEntry>, i64, u64), KvError> {
        let v = self.post("/v3/kv/range", &json!({"key": b64(key)})).await?;
        decode_range(&v)
    }

    async fn revoke(&self, lease: &str) -> Result<(), KvError> {
        match self.post("/v3/lease/revoke", &json!({"ID": lease})).await {
            Ok(_) => Ok(()),
            // Already gone.
            Err(KvError::Other(m)) if m.contains("lease not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits for an event on one of `keys` after `since`, with one watch of the range that
    /// holds them all; returns the revision it saw.
    async fn watch_keys(&self, keys: &[String], since: u64) -> Result<u64, KvError> {
        let (start, end) = watch_range(keys);
        let body = json!({"create_request": {
            "key": B64.encode(start),
            "range_end": B64.encode(end),
            "start_revision": since.saturating_add(1).to_string(),
        }});
        let mut req = self
            .http
            .post(format!("{}/v3/watch", self.base))
            .json(&body);
        if let Some(t) = self.token.read().await.clone() {
            req = req.header("Authorization", t);
        }
        let mut resp = req.send().await.map_err(|e| self.unavailable(&e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => KvError::Denied {
                    url: self.describe.clone(),
                    reason: format!("watch answered {status}"),
                },
                _ => KvError::Other(format!("{} answered {status} to watch", self.describe)),
            });
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| self.unavailable(&e))?;
            let Some(chunk) = chunk else {
                return Err(KvError::Unavailable {
                    url: self.describe.clone(),
                    reason: "watch stream ended".into(),
                });
            };
            buf.extend_from_slice(&chunk);
            let (outcome, consumed) = decode_watch(&self.describe, &buf, since, keys);
            if let Some(outcome) = outcome {
                return outcome;
            }
            buf.drain(..consumed);
        }
    }
}

#[async_trait]
impl Kv for EtcdKv {
    fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        Ok(self.inner.range(key).await?.0)
    }

    /// One txn of range requests per [`TXN_MAX_OPS`] keys: each txn reads at one revision.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(TXN_MAX_OPS) {
            let success: Vec<Value> = chunk
                .iter()
                .map(|k| json!({"request_range": {"key": b64(k)}}))
                .collect();
            let v = self
                .inner
                .post("/v3/kv/txn", &json!({"compare": [], "success": success}))
                .await?;
            out.extend(decode_ranges(&self.inner.describe, &v, chunk.len())?);
        }
        Ok(out)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        self.inner
            .post("/v3/kv/put", &json!({"key": b64(key), "value": b64(value)}))
            .await
            .map(|_| ())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError> {
        let compare = match expected {
            Some(rev) => {
                json!({"target": "MOD", "key": b64(key), "mod_revision": rev.to_string(), "result": "EQUAL"})
            }
            None => {
                json!({"target": "CREATE", "key": b64(key), "create_revision": "0", "result": "EQUAL"})
            }
        };
        let txn = json!({
            "compare": [compare],
            "success": [{"request_put": {"key": b64(key), "value": b64(value)}}],
        });
        let v = self.inner.post("/v3/kv/txn", &txn).await?;
        Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
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
        if changes.len() > TXN_MAX_OPS {
            return Err(KvError::Other(format!(
                "{} keys in one atomic write; etcd takes at most {TXN_MAX_OPS}",
                changes.len()
            )));
        }
        // etcd refuses a txn that names a key twice: the last change of a key wins.
        let mut last: Vec<&KeyChange> = Vec::with_capacity(changes.len());
        for c in changes {
            match last.iter_mut().find(|l| l.key() == c.key()) {
                Some(slot) => *slot = c,
                None => last.push(c),
            }
        }
        let success: Vec<Value> = last
            .iter()
            .map(|c| match c {
                KeyChange::Put(w) => {
                    json!({"request_put": {"key": b64(&w.key), "value": b64(&w.value)}})
                }
                KeyChange::Delete(key) => json!({"request_delete_range": {"key": b64(key)}}),
            })
            .collect();
        // A lock key lives on its holder's lease: while the key is attached to our lease, the
        // lock is ours (an expired or revoked lease deletes the key).
        let compare: Vec<Value> = fences
            .iter()
            .map(|f| json!({"target": "LEASE", "key": b64(&f.lock_key), "lease": f.holder, "result": "EQUAL"}))
            .collect();
        let v = self
            .inner
            .post(
                "/v3/kv/txn",
                &json!({"compare": compare, "success": success}),
            )
            .await?;
        if v.get("succeeded").and_then(Value::as_bool).unwrap_or(false) {
            return Ok(());
        }
        // Only the fences can fail: without them an empty compare list always succeeds.
        let keys = |list: Vec<&str>| list.join(", ");
        if fences.is_empty() {
            Err(KvError::Conflict {
                key: keys(changes.iter().map(KeyChange::key).collect()),
            })
        } else {
            Err(KvError::LockLost {
                key: keys(fences.iter().map(|f| f.lock_key.as_str()).collect()),
            })
        }
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.inner
            .post("/v3/kv/deleterange", &json!({"key": b64(key)}))
            .await
            .map(|_| ())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError> {
        let (key, end) = if prefix.is_empty() {
            (vec![0u8], vec![0u8])
        } else {
            (prefix.as_bytes().to_vec(), prefix_end(prefix.as_bytes()))
        };
        let v = self
            .inner
            .post(
                "/v3/kv/range",
                &json!({"key": B64.encode(key), "range_end": B64.encode(end)}),
            )
            .await?;
        decode_list(&v)
    }

    async fn lock(
        &self,
        key: &str,
        info: &LockInfo,
        ttl: Duration,
    ) -> Result<LockOutcome, KvError> {
        // Never shorter than asked; etcd itself raises TTLs below its minimum.
        let secs = (ttl.as_secs_f64().ceil() as u64).max(2);
        let grant = self
            .inner
            .post("/v3/lease/grant", &json!({"TTL": secs.to_string()}))
            .await?;
        let lease = match grant.get("ID") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(KvError::Other("etcd granted a lease without an ID".into())),
        };
        let value = serde_json::to_string(info)
            .map_err(|e| KvError::Other(format!("cannot encode lock info: {e}")))?;
        let txn = json!({
            "compare": [{"target": "CREATE", "key": b64(key), "create_revision": "0", "result": "EQUAL"}],
            "success": [{"request_put": {"key": b64(key), "value": b64(&value), "lease": lease}}],
            "failure": [{"request_range": {"key": b64(key)}}],
        });
        let v = match self.inner.post("/v3/kv/txn", &txn).await {
            Ok(v) => v,
            Err(e) => {
                let _ = self.inner.revoke(&lease).await;
                return Err(e);
            }
        };
        if !v.get("succeeded").and_then(Value::as_bool).unwrap_or(false) {
            let _ = self.inner.revoke(&lease).await;
            let holder = v
                .pointer("/responses/0/response_range/kvs/0")
                .map(entry)
                .transpose()?
                .map(|e| parse_info(&e.value))
                .unwrap_or_else(|| unknown_holder("the lock was taken and released meanwhile"));
            return Ok(LockOutcome::Held(holder));
        }
        let fence_lease = lease.clone();
        let renew_inner = self.inner.clone();
        let renew_lease = lease.clone();
        let renew = Box::new(move || {
            let inner = renew_inner.clone();
            let lease = renew_lease.clone();
            Box::pin(async move {
                let v = inner
                    .post("/v3/lease/keepalive", &json!({"ID": lease}))
                    .await?;
                // TTL absent (zero) = the lease has expired.
                let ttl = v.get("result").map(|r| int(r, "TTL")).unwrap_or(0);
                Ok(ttl > 0)
            }) as BoxFut<Result<bool, KvError>>
        });
        let release_inner = self.inner.clone();
        let release = Box::new(move || {
            // Revoking the lease deletes the key attached to it.
            Box::pin(async move { release_inner.revoke(&lease).await })
                as BoxFut<Result<(), KvError>>
        });
        let fence = Fence {
            lock_key: key.to_string(),
            holder: fence_lease,
        };
        Ok(LockOutcome::Acquired(Box::new(RenewingGuard::spawn(
            Duration::from_secs(secs),
            fence,
            renew,
            release,
        ))))
    }

    async fn lock_holder(&self, key: &str) -> Result<Option<LockInfo>, KvError> {
        Ok(self.inner.range(key).await?.0.map(|e| parse_info(&e.value)))
    }

    async fn break_lock(&self, key: &str) -> Result<(), KvError> {
        let (_, lease, _) = self.inner.range(key).await?;
        // Revoke so the holder's keepalives fail and it learns that it lost the lock.
        if lease != 0 {
            self.inner.revoke(&lease.to_string()).await?;
        }
        self.delete(key).await
    }

    async fn watch(&self, keys: &[String], since: u64, timeout: Duration) -> Result<u64, KvError> {
        let key = keys.first().map(String::as_str).unwrap_or("\0");
        let current = self.inner.range(key).await?.2;
        // A revision ahead of the store's means the store was rebuilt or restored: watching
        // from it would miss everything until the store caught up, so start over from now.
        if since == 0 || keys.is_empty() || current < since {
            return Ok(current);
        }
        match tokio::time::timeout(timeout, self.inner.watch_keys(keys, since)).await {
            Err(_) => Ok(since),
            Ok(result) => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_after_the_largest_revision_does_not_overflow() {
        let stream =
            br#"{"result":{"header":{"revision":"6"},"events":[{"kv":{"mod_revision":"6"}}]}}"#;
        let (outcome, consumed) = decode_watch("etcd", stream, u64::MAX, &[]);
        assert_eq!(outcome.map(|o| o.ok()), Some(Some(u64::MAX)));
        assert_eq!(consumed, stream.len());
    }

    #[test]
    fn a_range_watch_wakes_only_for_the_watched_keys() {
        let event = |key: &str, rev: u64| {
            format!(
                r#"{{"result":{{"header":{{"revision":"{rev}"}},"events":[{{"type":"PUT","kv":{{"key":"{}","mod_revision":"{rev}"}}}}]}}}}"#,
                b64(key)
            )
        };
        let watched = vec!["p/web-active-zone".to_string(), "p/web-traffic".to_string()];
        let created = r#"{"result":{"header":{"revision":"9"},"created":true}}"#;
        // A history write between the two watched keys, then a delete of a watched one.
        let other = event("p/web-history", 10);
        let delete = format!(
            r#"{{"result":{{"header":{{"revision":"11"}},"events":[{{"type":"DELETE","kv":{{"key":"{}","mod_revision":"11"}}}}]}}}}"#,
            b64("p/web-traffic")
        );
        let before = format!("{created}{other}");
        let (outcome, consumed) = decode_watch("etcd", before.as_bytes(), 9, &watched);
        assert!(outcome.is_none(), "woke for a key nobody watches");
        assert_eq!(consumed, before.len());
        let stream = format!("{before}{delete}");
        let (outcome, _) = decode_watch("etcd", stream.as_bytes(), 9, &watched);
        assert_eq!(outcome.map(|o| o.ok()), Some(Some(11)));

        let (start, end) = watch_range(&watched);
        assert_eq!(start, b"p/web-active-zone");
        assert_eq!(end, b"p/web-traffic\0");
        for key in &watched {
            assert!(start.as_slice() <= key.as_bytes() && key.as_bytes() < end.as_slice());
        }
    }

    #[test]
    fn txn_reads_keep_the_order_and_the_gaps() {
        let v: Value = serde_json::from_str(
            r#"{"header":{"revision":"9"},"succeeded":true,"responses":[
                {"response_range":{"header":{"revision":"9"},"kvs":[{"key":"YQ==","value":"MQ==","mod_revision":"4"}],"count":"1"}},
                {"response_range":{"header":{"revision":"9"}}},
                {"response_range":{"header":{"revision":"9"},"kvs":[{"key":"Yw==","mod_revision":"7"}],"count":"1"}}
            ]}"#,
        )
        .expect("json");
        let entries = decode_ranges("etcd", &v, 3).expect("decoded");
        let keys: Vec<Option<(String, String, u64)>> = entries
            .into_iter()
            .map(|e| e.map(|e| (e.key, e.value, e.revision)))
            .collect();
        assert_eq!(
            keys,
            vec![
                Some(("a".into(), "1".into(), 4)),
                None,
                Some(("c".into(), String::new(), 7)),
            ]
        );
        assert!(decode_ranges("etcd", &v, 4).is_err(), "a read went missing");
        assert!(decode_ranges("etcd", &json!({"succeeded": false}), 0).is_err());
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}

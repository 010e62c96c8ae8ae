//! An in-process Consul agent that follows the documented HTTP semantics of the KV, txn and
//! session endpoints (see `reference/consul-etcd-api.md`), for testing the Consul backend
//! where no Consul server can be installed.
//!
//! Deliberate simplifications, all within what Consul documents: sessions expire exactly at
//! their TTL (Consul: up to 2 x TTL), blocking queries add no jitter, tombstones are never
//! reaped, there is one datacenter and no `stale`/`consistent` difference.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Consul's `kv_max_value_size` default.
pub const MAX_VALUE_SIZE: usize = 512 * 1024;
/// Consul's transaction limit before 1.14.
pub const MAX_TXN_OPS: usize = 64;
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// How to start the double.
#[derive(Default)]
pub struct Options {
    /// When set, every request must carry this token; anything else gets 403.
    pub token: Option<String>,
    /// Serve HTTPS with this certificate chain and key.
    pub tls: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// A running double. Stops when dropped.
pub struct ConsulDouble {
    pub addr: SocketAddr,
    state: Arc<Shared>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

struct Shared {
    state: Mutex<State>,
    /// Ticks on every write so blocking queries re-check.
    changed: watch::Sender<u64>,
    token: Option<String>,
}

#[derive(Clone, Default)]
struct State {
    /// The Raft index: one per write (a transaction is one write).
    index: u64,
    kv: BTreeMap<String, Entry>,
    /// Deleted keys and the index they were deleted at.
    tombstones: BTreeMap<String, u64>,
    /// Highest index of the KV table (entries and tombstones).
    kv_index: u64,
    sessions: HashMap<String, Session>,
    /// Keys that cannot be acquired until then (LockDelay after a session ended).
    lock_delays: HashMap<String, Instant>,
}

#[derive(Clone)]
struct Entry {
    value: Vec<u8>,
    flags: u64,
    create_index: u64,
    modify_index: u64,
    lock_index: u64,
    session: Option<String>,
}

#[derive(Clone)]
struct Session {
    name: String,
    ttl: Option<Duration>,
    expires: Option<Instant>,
    behavior: String,
    lock_delay: Duration,
    create_index: u64,
}

impl ConsulDouble {
    /// Starts on a random loopback port.
    pub async fn start(options: Options) -> ConsulDouble {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback port");
        let addr = listener.local_addr().expect("local addr");
        let (changed, _) = watch::channel(0);
        let state = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed,
            token: options.token,
        });
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let acceptor = options.tls.map(|(chain, key)| {
            let config = tokio_rustls::rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("server certificate");
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let accept_state = state.clone();
        let accept_tasks = tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = accept_state.clone();
                let acceptor = acceptor.clone();
                let conn = tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(&st, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
                if let Ok(mut t) = accept_tasks.lock() {
                    t.retain(|h| !h.is_finished());
                    t.push(conn.abort_handle());
                }
            }
        });
        // Expire sessions even when nobody asks, so blocking queries wake up.
        let tick_state = state.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut s = tick_state.state.lock().expect("state");
                if expire_sessions(&mut s) {
                    let _ = tick_state.changed.send(s.index);
                }
            }
        });
        {
            let mut t = tasks.lock().expect("tasks");
            t.push(accept.abort_handle());
            t.push(ticker.abort_handle());
        }
        ConsulDouble { addr, state, tasks }
    }

    /// `host:port`, as `CONSUL_HTTP_ADDR` takes it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The `consul://` URL of this double.
    pub fn url(&self) -> String {
        format!("consul://{}", self.addr)
    }

    /// Stops serving and drops every open connection: the store has gone away.
    pub fn stop(&self) {
        if let Ok(mut t) = self.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
    }

    /// A key's value read straight from the state, also after [`ConsulDouble::stop`].
    pub fn value(&self, key: &str) -> Option<String> {
        let s = self.state.state.lock().ok()?;
        s.kv.get(key)
            .map(|e| String::from_utf8_lossy(&e.value).into_owned())
    }

    /// The current Raft index (for tests).
    pub fn index(&self) -> u64 {
        self.state.state.lock().map(|s| s.index).unwrap_or(0)
    }
}

impl Drop for ConsulDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("Content-Type", v);
    }
    r
}

fn text(status: StatusCode, body: &str) -> Resp {
    reply(status, "text/plain; charset=utf-8", body.to_string())
}

fn json_reply(v: &Value) -> Resp {
    reply(StatusCode::OK, "application/json", v.to_string())
}

fn bool_reply(b: bool) -> Resp {
    reply(
        StatusCode::OK,
        "application/json",
        if b { "true" } else { "false" },
    )
}

/// Adds the headers of a read: the index (never 0) and leader information.
fn with_meta(mut r: Resp, index: u64) -> Resp {
    let h = r.headers_mut();
    h.insert("X-Consul-Index", index.max(1).into());
    h.insert("X-Consul-KnownLeader", "true".parse().expect("header"));
    h.insert("X-Consul-LastContact", "0".parse().expect("header"));
    r
}

/// Query parameters; a flag without `=` maps to None.
fn query(req: &Request<Incoming>) -> HashMap<String, Option<String>> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(p), None),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = if b[i] == b'%' && i + 2 < b.len() {
            u8::from_str_radix(&s[i + 1..i + 3], 16).ok()
        } else {
            None
        };
        if let Some(v) = hex {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `time.ParseDuration` for the units Consul clients send.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

fn uuid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut a = RandomState::new().build_hasher();
    a.write_u64(1);
    let mut b = RandomState::new().build_hasher();
    b.write_u64(2);
    let hex = format!("{:016x}{:016x}", a.finish(), b.finish());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn entry_json(key: &str, e: &Entry, with_value: bool) -> Value {
    let mut v = json!({
        "LockIndex": e.lock_index,
        "Key": key,
        "Flags": e.flags,
        "Value": if with_value && !e.value.is_empty() { Value::String(B64.encode(&e.value)) } else { Value::Null },
        "CreateIndex": e.create_index,
        "ModifyIndex": e.modify_index,
    });
    if let (Some(s), Some(obj)) = (&e.session, v.as_object_mut()) {
        obj.insert("Session".into(), Value::String(s.clone()));
    }
    v
}

/// Ends sessions whose TTL ran out; true when anything changed.
fn expire_sessions(s: &mut State) -> bool {
    let now = Instant::now();
    let expired: Vec<String> = s
        .sessions
        .iter()
        .filter(|(_, sess)| sess.expires.is_some_and(|e| e <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in &expired {
        invalidate_session(s, id);
    }
    !expired.is_empty()
}

/// Destroys a session: its locks are released (or deleted) and blocked for its LockDelay.
fn invalidate_session(s: &mut State, id: &str) {
    let Some(sess) = s.sessions.remove(id) else {
        return;
    };
    s.index += 1;
    let idx = s.index;
    let held: Vec<String> =
        s.kv.iter()
            .filter(|(_, e)| e.session.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
    for key in held {
        if sess.behavior == "delete" {
            s.kv.remove(&key);
            s.tombstones.insert(key.clone(), idx);
        } else if let Some(e) = s.kv.get_mut(&key) {
            e.session = None;
            e.modify_index = idx;
        }
        s.kv_index = idx;
        if !sess.lock_delay.is_zero() {
            s.lock_delays.insert(key, Instant::now() + sess.lock_delay);
        }
    }
}

fn session_json(id: &str, sess: &Session) -> Value {
    json!({
        "ID": id,
        "Name": sess.name,
        "Behavior": sess.behavior,
        "TTL": sess.ttl.map(|t| format!("{}s", t.as_secs())).unwrap_or_default(),
        "LockDelay": sess.lock_delay.as_nanos() as u64,
        "CreateIndex": sess.create_index,
        "ModifyIndex": sess.create_index,
    })
}

fn authorized(
    shared: &Shared,
    req: &Request<Incoming>,
    q: &HashMap<String, Option<String>>,
) -> bool {
    let Some(expected) = &shared.token else {
        return true;
    };
    let header = req
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bearer = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let param = q.get("token").cloned().flatten();
    header.or(bearer).or(param).as_deref() == Some(expected.as_str())
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let q = query(&req);
    if !authorized(shared, &req, &q) {
        return text(StatusCode::FORBIDDEN, "Permission denied");
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST, "cannot read body"),
    };
    if let Some(key) =
        path.strip_prefix("/v1/kv/")
            .or(if path == "/v1/kv" { Some("") } else { None })
    {
        let key = percent_decode(key);
        return match method {
            Method::GET => kv_get(shared, &key, &q).await,
            Method::PUT => kv_put(shared, &key, &q, &body),
            Method::DELETE => kv_delete(shared, &key, &q),
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        };
    }
    match (method, path.as_str()) {
        (Method::PUT, "/v1/txn") => txn(shared, &body),
        (Method::PUT, "/v1/session/create") => session_create(shared, &body),
        (Method::PUT, p) if p.starts_with("/v1/session/renew/") => {
            session_renew(shared, &p["/v1/session/renew/".len()..])
        }
        (Method::PUT, p) if p.starts_with("/v1/session/destroy/") => {
            let mut s = shared.state.lock().expect("state");
            invalidate_session(&mut s, &p["/v1/session/destroy/".len()..]);
            let _ = shared.changed.send(s.index);
            bool_reply(true)
        }
        (Method::GET, p) if p.starts_with("/v1/session/info/") => {
            let id = &p["/v1/session/info/".len()..];
            let mut s = shared.state.lock().expect("state");
            expire_sessions(&mut s);
            let list: Vec<Value> = s
                .sessions
                .get(id)
                .map(|sess| session_json(id, sess))
                .into_iter()
                .collect();
            with_meta(json_reply(&Value::Array(list)), s.index)
        }
        (Method::GET, "/v1/status/leader") => json_reply(&json!("127.0.0.1:8300")),
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// The index a read of `key` (or of the prefix, with `recurse`/`keys`) reports.
fn read_index(s: &State, key: &str, prefix: bool) -> u64 {
    if !prefix {
        return match s.kv.get(key) {
            Some(e) => e.modify_index,
            None => s.kv_index,
        };
    }
    if key.is_empty() {
        return s.kv_index;
    }
    let live =
        s.kv.range(key.to_string()..)
            .take_while(|(k, _)| k.starts_with(key))
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
    let dead = s
        .tombstones
        .range(key.to_string()..)
        .take_while(|(k, _)| k.starts_with(key))
        .map(|(_, i)| *i)
        .max()
        .unwrap_or(0);
    match live.max(dead) {
        0 => s.kv_index,
        i => i,
    }
}

async fn kv_get(shared: &Arc<Shared>, key: &str, q: &HashMap<String, Option<String>>) -> Resp {
    let recurse = q.contains_key("recurse");
    let keys = q.contains_key("keys");
    if key.is_empty() && !recurse && !keys {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    let wait = match q.get("wait").cloned().flatten() {
        Some(w) => match parse_go_duration(&w) {
            Some(d) => d.min(MAX_WAIT),
            None => return text(StatusCode::BAD_REQUEST, "Invalid wait time"),
        },
        None => DEFAULT_WAIT,
    };
    let min_index = match q.get("index").cloned().flatten() {
        Some(i) => match i.parse::<u64>() {
            Ok(i) => i,
            Err(_) => return text(StatusCode::BAD_REQUEST, "Invalid index"),
        },
        None => 0,
    };
    let prefix = recurse || keys;
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = shared.changed.subscribe();
    loop {
        {
            let mut s = shared.state.lock().expect("state");
            if expire_sessions(&mut s) {
                let _ = shared.changed.send(s.index);
            }
            let idx = read_index(&s, key, prefix);
            let timed_out = tokio::time::Instant::now() >= deadline;
            if min_index == 0 || idx > min_index || timed_out {
                return with_meta(render_get(&s, key, q), idx);
            }
            changes.borrow_and_update();
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn render_get(s: &State, key: &str, q: &HashMap<String, Option<String>>) -> Resp {
    if q.contains_key("keys") {
        let sep = q
            .get("separator")
            .cloned()
            .flatten()
            .filter(|s| !s.is_empty());
        let mut names: Vec<String> = Vec::new();
        for k in s.kv.keys().filter(|k| k.starts_with(key)) {
            let name = match &sep {
                Some(sep) => match k[key.len()..].find(sep.as_str()) {
                    Some(pos) => k[..key.len() + pos + sep.len()].to_string(),
                    None => k.clone(),
                },
                None => k.clone(),
            };
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        if names.is_empty() && !key.is_empty() {
            return reply(StatusCode::NOT_FOUND, "text/plain", "");
        }
        return json_reply(&json!(names));
    }
    if q.contains_key("recurse") {
        let list: Vec<Value> =
            s.kv.iter()
                .filter(|(k, _)| k.starts_with(key))
                .map(|(k, e)| entry_json(k, e, true))
                .collect();
        if list.is_empty() {
            return reply(StatusCode::NOT_FOUND, "text/plain", "");
        }
        return json_reply(&Value::Array(list));
    }
    match s.kv.get(key) {
        None => reply(StatusCode::NOT_FOUND, "text/plain", ""),
        Some(e) if q.contains_key("raw") => {
            reply(StatusCode::OK, "text/plain; charset=utf-8", e.value.clone())
        }
        Some(e) => json_reply(&json!([entry_json(key, e, true)])),
    }
}

fn parse_u64_param(
    q: &HashMap<String, Option<String>>,
    name: &str,
) -> Result<Option<u64>, Box<Resp>> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_deref()
            .unwrap_or("")
            .parse::<u64>()
            .map(Some)
            // Consul's own quirk: a bad number is a server error.
            .map_err(|e| {
                Box::new(text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("strconv.ParseUint: {e}"),
                ))
            }),
    }
}

fn kv_put(
    shared: &Arc<Shared>,
    key: &str,
    q: &HashMap<String, Option<String>>,
    body: &Bytes,
) -> Resp {
    if key.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    let exclusive = ["cas", "acquire", "release"]
        .iter()
        .filter(|f| q.contains_key(**f))
        .count();
    if exclusive > 1 {
        return text(
            StatusCode::BAD_REQUEST,
            "Conflicting flags: cas=, acquire=, release= are mutually exclusive",
        );
    }
    if body.len() > MAX_VALUE_SIZE {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Request body({} bytes) too large, max size: {MAX_VALUE_SIZE} bytes.",
                body.len()
            ),
        );
    }
    let flags = match parse_u64_param(q, "flags") {
        Ok(f) => f.unwrap_or(0),
        Err(r) => return *r,
    };
    let cas = match parse_u64_param(q, "cas") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut s = shared.state.lock().expect("state");
    expire_sessions(&mut s);
    let value = body.to_vec();
    // The index this write gets if it succeeds.
    let idx = s.index + 1;
    let ok = if let Some(session) = q.get("acquire") {
        let session = session.clone().unwrap_or_default();
        if !s.sessions.contains_key(&session) {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("invalid session \"{session}\""),
            );
        }
        apply_acquire(&mut s, key, &session, value, flags, idx)
    } else if let Some(session) = q.get("release") {
        let session = session.clone().unwrap_or_default();
        apply_release(&mut s, key, &session, value, flags, idx)
    } else if let Some(cas) = cas {
        let matches = match (cas, s.kv.get(key)) {
            (0, None) => true,
            (0, Some(_)) => false,
            (n, Some(e)) => e.modify_index == n,
            (_, None) => false,
        };
        if matches {
            apply_set(&mut s, key, value, flags, idx);
        }
        matches
    } else {
        apply_set(&mut s, key, value, flags, idx);
        true
    };
    if ok {
        s.index = idx;
        let _ = shared.changed.send(idx);
    }
    bool_reply(ok)
}

fn apply_set(s: &mut State, key: &str, value: Vec<u8>, flags: u64, idx: u64) {
    s.tombstones.remove(key);
    s.kv_index = idx;
    match s.kv.get_mut(key) {
        Some(e) => {
            e.value = value;
            e.flags = flags;
            e.modify_index = idx;
        }
        None => {
            s.kv.insert(
                key.to_string(),
                Entry {
                    value,
                    flags,
                    create_index: idx,
                    modify_index: idx,
                    lock_index: 0,
                    session: None,
                },
            );
        }
    }
}

/// Acquires `key` for `session` at index `idx` (the caller commits the index on success).
fn apply_acquire(
    s: &mut State,
    key: &str,
    session: &str,
    value: Vec<u8>,
    flags: u64,
    idx: u64,
) -> bool {
    if s.lock_delays
        .get(key)
        .is_some_and(|until| *until > Instant::now())
    {
        return false;
    }
    match s.kv.get(key).and_then(|e| e.session.clone()) {
        Some(holder) if holder != session => return false,
        Some(_) => {
            // Re-acquire by the holder: update the value, keep LockIndex.
            apply_set(s, key, value, flags, idx);
            return true;
        }
        None => {}
    }
    apply_set(s, key, value, flags, idx);
    if let Some(e) = s.kv.get_mut(key) {
        e.lock_index += 1;
        e.session = Some(session.to_string());
    }
    true
}

fn apply_release(
    s: &mut State,
    key: &str,
    session: &str,
    value: Vec<u8>,
    flags: u64,
    idx: u64,
) -> bool {
    let holder = s.kv.get(key).and_then(|e| e.session.clone());
    if holder.as_deref() != Some(session) {
        return false;
    }
    apply_set(s, key, value, flags, idx);
    if let Some(e) = s.kv.get_mut(key) {
        e.session = None;
    }
    true
}

fn delete_key(s: &mut State, key: &str, idx: u64) {
    if s.kv.remove(key).is_some() {
        s.tombstones.insert(key.to_string(), idx);
        s.kv_index = idx;
    }
}

fn kv_delete(shared: &Arc<Shared>, key: &str, q: &HashMap<String, Option<String>>) -> Resp {
    let recurse = q.contains_key("recurse");
    if recurse && q.contains_key("cas") {
        return text(StatusCode::BAD_REQUEST, "Conflicting flags: cas=, recurse");
    }
    if key.is_empty() && !recurse {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    let cas = match parse_u64_param(q, "cas") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut s = shared.state.lock().expect("state");
    if let Some(cas) = cas {
        match s.kv.get(key) {
            None => return bool_reply(true),
            Some(e) if e.modify_index != cas => return bool_reply(false),
            Some(_) => {}
        }
    }
    s.index += 1;
    let idx = s.index;
    if recurse {
        let doomed: Vec<String> =
            s.kv.keys()
                .filter(|k| k.starts_with(key))
                .cloned()
                .collect();
        for k in doomed {
            delete_key(&mut s, &k, idx);
        }
    } else {
        delete_key(&mut s, key, idx);
    }
    let _ = shared.changed.send(s.index);
    bool_reply(true)
}

fn txn(shared: &Arc<Shared>, body: &Bytes) -> Resp {
    let ops: Vec<Value> = match serde_json::from_slice(body) {
        Ok(Value::Array(a)) => a,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "Failed to parse body: expected a JSON array",
            );
        }
    };
    if ops.len() > MAX_TXN_OPS {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Transaction contains too many operations ({} > {MAX_TXN_OPS})",
                ops.len()
            ),
        );
    }
    let mut guard = shared.state.lock().expect("state");
    expire_sessions(&mut guard);
    // Work on a copy: a failed transaction changes nothing.
    let mut s = guard.clone();
    s.index += 1;
    let idx = s.index;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(kv) = op.get("KV") else {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("operation {i} is not a KV operation"),
            );
        };
        let verb = kv.get("Verb").and_then(Value::as_str).unwrap_or("");
        let key = kv
            .get("Key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let value = match kv.get("Value").and_then(Value::as_str) {
            Some(v) => match B64.decode(v) {
                Ok(b) => b,
                Err(_) => return text(StatusCode::BAD_REQUEST, "Failed to parse body: bad base64"),
            },
            None => Vec::new(),
        };
        let flags = kv.get("Flags").and_then(Value::as_u64).unwrap_or(0);
        let index = kv.get("Index").and_then(Value::as_u64).unwrap_or(0);
        let session = kv
            .get("Session")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut fail = |what: String| errors.push(json!({"OpIndex": i, "What": what}));
        match verb {
            "set" => {
                apply_set(&mut s, &key, value, flags, idx);
                results.push(json!({"KV": entry_json(&key, &s.kv[&key], false)}));
            }
            "cas" => {
                let ok = match s.kv.get(&key) {
                    None => index == 0,
                    Some(e) => index != 0 && e.modify_index == index,
                };
                if ok {
                    apply_set(&mut s, &key, value, flags, idx);
                    results.push(json!({"KV": entry_json(&key, &s.kv[&key], false)}));
                } else {
                    fail(format!("failed to set key \"{key}\", index is stale"));
                }
            }
            "lock" | "unlock" => {
                let ok = if verb == "lock" {
                    s.sessions.contains_key(&session)
                        && apply_acquire(&mut s, &key, &session, value, flags, idx)
                } else {
                    apply_release(&mut s, &key, &session, value, flags, idx)
                };
                if ok {
                    results.push(json!({"KV": entry_json(&key, &s.kv[&key], false)}));
                } else {
                    fail(format!("failed to {verb} key \"{key}\""));
                }
            }
            "get" | "get-or-empty" => match s.kv.get(&key) {
                Some(e) => results.push(json!({"KV": entry_json(&key, e, true)})),
                None if verb == "get-or-empty" => {}
                None => fail(format!("key \"{key}\" doesn't exist")),
            },
            "get-tree" => {
                for (k, e) in s.kv.iter().filter(|(k, _)| k.starts_with(&key)) {
                    results.push(json!({"KV": entry_json(k, e, true)}));
                }
            }
            "check-index" => match s.kv.get(&key) {
                Some(e) if e.modify_index == index => {
                    results.push(json!({"KV": entry_json(&key, e, false)}))
                }
                Some(e) => fail(format!(
                    "current modify index {} != {index}",
                    e.modify_index
                )),
                None => fail(format!("key \"{key}\" doesn't exist")),
            },
            "check-session" => match s.kv.get(&key) {
                Some(e) if e.session.as_deref() == Some(session.as_str()) => {
                    results.push(json!({"KV": entry_json(&key, e, false)}))
                }
                _ => fail(format!(
                    "key \"{key}\" is not locked by session \"{session}\""
                )),
            },
            "check-not-exists" => {
                if s.kv.contains_key(&key) {
                    fail(format!("key \"{key}\" exists"));
                }
            }
            "delete" => delete_key(&mut s, &key, idx),
            "delete-tree" => {
                let doomed: Vec<String> =
                    s.kv.keys()
                        .filter(|k| k.starts_with(&key))
                        .cloned()
                        .collect();
                for k in doomed {
                    delete_key(&mut s, &k, idx);
                }
            }
            "delete-cas" => match s.kv.get(&key) {
                Some(e) if e.modify_index == index => delete_key(&mut s, &key, idx),
                None => {}
                Some(_) => fail(format!("failed to delete key \"{key}\", index is stale")),
            },
            other => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to parse body: unknown KV verb \"{other}\""),
                );
            }
        }
    }
    if !errors.is_empty() {
        let body = json!({"Results": null, "Errors": errors});
        return reply(StatusCode::CONFLICT, "application/json", body.to_string());
    }
    *guard = s;
    let _ = shared.changed.send(guard.index);
    let results = if results.is_empty() {
        Value::Null
    } else {
        Value::Array(results)
    };
    json_reply(&json!({"Results": results, "Errors": null}))
}

fn session_create(shared: &Arc<Shared>, body: &Bytes) -> Resp {
    let req: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Request decode failed: {e}"),
                );
            }
        }
    };
    let ttl = match req
        .get("TTL")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(t) => match parse_go_duration(t) {
            Some(d) if d.is_zero() => None,
            Some(d) if d >= Duration::from_secs(10) && d <= Duration::from_secs(86400) => Some(d),
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid Session TTL '{t}', must be between [10s=24h0m0s]"),
                );
            }
        },
    };
    let lock_delay = match req.get("LockDelay") {
        None | Some(Value::Null) => Duration::from_secs(15),
        Some(Value::String(s)) => match parse_go_duration(s) {
            Some(d) => d,
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "Request decode failed: bad LockDelay",
                );
            }
        },
        // A bare number is nanoseconds, or seconds when below one second's worth.
        Some(Value::Number(n)) => {
            let n = n.as_u64().unwrap_or(0);
            if n < 1_000_000_000 {
                Duration::from_secs(n)
            } else {
                Duration::from_nanos(n)
            }
        }
        Some(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Request decode failed: bad LockDelay",
            );
        }
    };
    let behavior = match req
        .get("Behavior")
        .and_then(Value::as_str)
        .unwrap_or("release")
    {
        "" | "release" => "release",
        "delete" => "delete",
        other => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Invalid Behavior setting '{other}'"),
            );
        }
    };
    let mut s = shared.state.lock().expect("state");
    s.index += 1;
    let id = uuid();
    let sess = Session {
        name: req
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        ttl,
        expires: ttl.map(|t| Instant::now() + t),
        behavior: behavior.to_string(),
        lock_delay,
        create_index: s.index,
    };
    s.sessions.insert(id.clone(), sess);
    json_reply(&json!({"ID": id}))
}

fn session_renew(shared: &Arc<Shared>, id: &str) -> Resp {
    let mut s = shared.state.lock().expect("state");
    if expire_sessions(&mut s) {
        let _ = shared.changed.send(s.index);
    }
    match s.sessions.get_mut(id) {
        None => text(
            StatusCode::NOT_FOUND,
            &format!("Session id '{id}' not found"),
        ),
        Some(sess) => {
            sess.expires = sess.ttl.map(|t| Instant::now() + t);
            let v = session_json(id, sess);
            json_reply(&json!([v]))
        }
    }
}

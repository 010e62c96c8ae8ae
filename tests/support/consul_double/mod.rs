//! An in-process Consul agent that follows the documented HTTP semantics of the KV, txn and
//! session endpoints (see `reference/consul-etcd-api.md`), for testing the Consul backend
//! where no Consul server can be installed.
//!
//! Deliberate simplifications, all within what Consul documents: sessions expire exactly at
//! their TTL (Consul: up to 2 x TTL), blocking queries add no jitter, tombstones are never
//! reaped, there is one datacenter and no `stale`/`consistent` difference.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

mod http;
mod kv;
mod session;
mod state;
mod txn;

pub use http::parse_go_duration;
pub use kv::check_key;

use http::{Resp, bool_reply, json_reply, percent_decode, query, text, with_meta};
use kv::{kv_delete, kv_get, kv_put};
use session::{session_create, session_json, session_renew};
use state::{State, expire_sessions, invalidate_session};
use txn::txn;

/// Consul's `kv_max_value_size` default.
pub const MAX_VALUE_SIZE: usize = 512 * 1024;
/// Consul's transaction limit before 1.14.
pub const MAX_TXN_OPS: usize = 64;

/// How to start the double.
#[derive(Default)]
pub struct Options {
    /// When set, every request must carry this token; anything else gets 403.
    pub token: Option<String>,
    /// Serve HTTPS with this certificate chain and key.
    pub tls: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// With `tls`: require client certificates signed by this CA (Consul's `verify_incoming`).
    pub client_ca: Option<CertificateDer<'static>>,
    /// Answer as Consul before 1.14, which has no `get-or-empty` transaction verb.
    pub before_1_14: bool,
    /// The token may read keys but not list them: `?keys` and `?recurse` answer 403, as
    /// Consul does with `acl.enable_key_list_policy` and a policy without `list`.
    pub no_list: bool,
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
    before_1_14: bool,
    no_list: bool,
    /// Requests answered or being answered, for tests that count what a client sends.
    requests: std::sync::atomic::AtomicUsize,
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
            before_1_14: options.before_1_14,
            no_list: options.no_list,
            requests: Default::default(),
        });
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let client_ca = options.client_ca;
        let acceptor = options.tls.map(|(chain, key)| {
            let builder = tokio_rustls::rustls::ServerConfig::builder();
            let builder = match client_ca {
                Some(ca) => {
                    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
                    roots.add(ca).expect("client CA");
                    let verifier = tokio_rustls::rustls::server::WebPkiClientVerifier::builder(
                        Arc::new(roots),
                    )
                    .build()
                    .expect("client verifier");
                    builder.with_client_cert_verifier(verifier)
                }
                None => builder.with_no_client_auth(),
            };
            let config = builder
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
    /// How many requests the double has received.
    pub fn requests(&self) -> usize {
        self.state
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

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

    /// Forgets everything, indexes included, as a cluster rebuilt from scratch would: the
    /// indexes clients hold are then ahead of the store's.
    pub fn reset(&self) {
        if let Ok(mut s) = self.state.state.lock() {
            *s = State::default();
            let _ = self.state.changed.send(0);
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
    shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        if let Err(why) = check_key(&key) {
            return text(StatusCode::BAD_REQUEST, &why);
        }
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

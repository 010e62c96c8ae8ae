//! `/v1/session`: create, renew, info (destroy lives with the routing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::Shared;
use super::http::*;
use super::state::*;

pub(super) fn session_json(id: &str, sess: &Session) -> Value {
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

pub(super) fn session_create(shared: &Arc<Shared>, body: &Bytes) -> Resp {
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

pub(super) fn session_renew(shared: &Arc<Shared>, id: &str) -> Resp {
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

//! `/v1/kv`: GET (raw, recurse, keys, blocking), PUT (cas, flags, acquire, release), DELETE.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::http::*;
use super::state::*;
use super::{MAX_VALUE_SIZE, Shared};

/// Blocking queries: Consul's default and longest wait.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// File-like extensions newer Consul refuses at the end of a key.
const REFUSED_EXTENSIONS: &[&str] = &[
    ".json", ".txt", ".yaml", ".yml", ".xml", ".html", ".htm", ".js", ".css", ".csv", ".ini",
    ".toml", ".conf", ".cfg", ".sh", ".exe", ".zip", ".tar", ".gz", ".pdf", ".png", ".jpg",
];

/// Newer Consul's key rules: no leading `/`, only `[A-Za-z0-9,-_./]`, no `../`, no file-like
/// extension.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.starts_with('/') {
        return Err(format!("Invalid key name {key:?}: leading '/'"));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ",-_./".contains(*c)))
    {
        return Err(format!("Invalid key name {key:?}: character {c:?}"));
    }
    if key.contains("../") {
        return Err(format!("Invalid key name {key:?}: path traversal"));
    }
    let lower = key.to_ascii_lowercase();
    if REFUSED_EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
        return Err(format!("Invalid key name {key:?}: file extension"));
    }
    Ok(())
}

pub(super) async fn kv_get(
    shared: &Arc<Shared>,
    key: &str,
    q: &HashMap<String, Option<String>>,
) -> Resp {
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
    if prefix && shared.no_list {
        return text(StatusCode::FORBIDDEN, "Permission denied");
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = shared.changed.subscribe();
    // The index seen when the query started blocking: any change to it answers, even a move
    // backwards (a restored snapshot), which clients must detect.
    let mut blocked_at = None;
    loop {
        {
            let mut s = shared.state.lock().expect("state");
            if expire_sessions(&mut s) {
                let _ = shared.changed.send(s.index);
            }
            let idx = read_index(&s, key, prefix);
            let timed_out = tokio::time::Instant::now() >= deadline;
            let moved = blocked_at.is_some_and(|b| b != idx);
            if min_index == 0 || idx > min_index || timed_out || moved {
                return with_meta(render_get(&s, key, q), idx);
            }
            blocked_at = Some(idx);
            changes.borrow_and_update();
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

pub(super) fn render_get(s: &State, key: &str, q: &HashMap<String, Option<String>>) -> Resp {
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

pub(super) fn parse_u64_param(
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

pub(super) fn kv_put(
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

pub(super) fn kv_delete(
    shared: &Arc<Shared>,
    key: &str,
    q: &HashMap<String, Option<String>>,
) -> Resp {
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

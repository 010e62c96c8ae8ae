//! `PUT /v1/txn`: all operations or none.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::http::*;
use super::state::*;
use super::{MAX_TXN_OPS, Shared};

pub(super) fn txn(shared: &Arc<Shared>, body: &Bytes) -> Resp {
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
    // Consul's write verbs; a transaction without any is served like a read: no Raft index
    // is used, and the answer carries the leader headers of a read (but no X-Consul-Index).
    let writes = ops.iter().any(|op| {
        let verb = op.pointer("/KV/Verb").and_then(Value::as_str).unwrap_or("");
        matches!(
            verb,
            "set" | "cas" | "lock" | "unlock" | "delete" | "delete-tree" | "delete-cas"
        )
    });
    let read_meta = |mut r: Resp| {
        if !writes {
            let h = r.headers_mut();
            h.insert("X-Consul-KnownLeader", "true".parse().expect("header"));
            h.insert("X-Consul-LastContact", "0".parse().expect("header"));
        }
        r
    };
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
            "get-or-empty" if shared.before_1_14 => fail(format!("unknown KV verb {verb:?}")),
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
                // Consul answers the operation's own entry: the key, no value, indexes 0.
                None if verb == "get-or-empty" => {
                    let empty = Entry {
                        value: Vec::new(),
                        flags,
                        create_index: 0,
                        modify_index: 0,
                        lock_index: 0,
                        session: None,
                    };
                    results.push(json!({"KV": entry_json(&key, &empty, true)}));
                }
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
            // Consul checks verbs only when it applies them: the transaction fails.
            other => fail(format!("unknown KV verb {other:?}")),
        }
    }
    if !errors.is_empty() {
        let body = json!({"Results": null, "Errors": errors});
        return read_meta(reply(
            StatusCode::CONFLICT,
            "application/json",
            body.to_string(),
        ));
    }
    if writes {
        *guard = s;
        let _ = shared.changed.send(guard.index);
    }
    let results = if results.is_empty() {
        Value::Null
    } else {
        Value::Array(results)
    };
    read_meta(json_reply(&json!({"Results": results, "Errors": null})))
}

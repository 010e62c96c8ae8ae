//! The store: keys, tombstones, sessions and the Raft index, and the writes on them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

#[derive(Clone, Default)]
pub(super) struct State {
    /// The Raft index: one per write (a transaction is one write).
    pub(super) index: u64,
    pub(super) kv: BTreeMap<String, Entry>,
    /// Deleted keys and the index they were deleted at.
    pub(super) tombstones: BTreeMap<String, u64>,
    /// Highest index of the KV table (entries and tombstones).
    pub(super) kv_index: u64,
    pub(super) sessions: HashMap<String, Session>,
    /// Keys that cannot be acquired until then (LockDelay after a session ended).
    pub(super) lock_delays: HashMap<String, Instant>,
}

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: Vec<u8>,
    pub(super) flags: u64,
    pub(super) create_index: u64,
    pub(super) modify_index: u64,
    pub(super) lock_index: u64,
    pub(super) session: Option<String>,
}

#[derive(Clone)]
pub(super) struct Session {
    pub(super) name: String,
    pub(super) ttl: Option<Duration>,
    pub(super) expires: Option<Instant>,
    pub(super) behavior: String,
    pub(super) lock_delay: Duration,
    pub(super) create_index: u64,
}

pub(super) fn entry_json(key: &str, e: &Entry, with_value: bool) -> Value {
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
pub(super) fn expire_sessions(s: &mut State) -> bool {
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
pub(super) fn invalidate_session(s: &mut State, id: &str) {
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

/// The index a read of `key` (or of the prefix, with `recurse`/`keys`) reports.
pub(super) fn read_index(s: &State, key: &str, prefix: bool) -> u64 {
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

pub(super) fn apply_set(s: &mut State, key: &str, value: Vec<u8>, flags: u64, idx: u64) {
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
pub(super) fn apply_acquire(
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

pub(super) fn apply_release(
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

pub(super) fn delete_key(s: &mut State, key: &str, idx: u64) {
    if s.kv.remove(key).is_some() {
        s.tombstones.insert(key.to_string(), idx);
        s.kv_index = idx;
    }
}

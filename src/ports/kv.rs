//! The KV store as the rest of shipctl sees it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A key, its value and the revision that last changed it (Consul ModifyIndex, etcd
/// mod_revision, Swarm version index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
    pub revision: u64,
}

/// Who holds a lock, shown to the user who could not get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    /// RFC 3339 time it was taken.
    pub since: String,
    pub message: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The store cannot be reached.
    #[error("KV store {url} is unreachable: {reason}")]
    Unavailable { url: String, reason: String },
    /// The store refused our credentials.
    #[error("KV store {url} denied access: {reason}")]
    Denied { url: String, reason: String },
    /// A compare-and-swap or guarded atomic write lost a race.
    #[error("key {key} changed concurrently")]
    Conflict { key: String },
    /// A fenced write found its lock no longer held by this holder (it expired and someone
    /// else may have taken it): nothing was written.
    #[error("the lock {key} is no longer held by this deploy; nothing was written")]
    LockLost { key: String },
    /// Anything else the store answered.
    #[error("KV store error: {0}")]
    Other(String),
}

/// What a store checks, in the same transaction as a write, to know a lock is still held by
/// the writer: the lock key and what names this holding there (the Consul session, the etcd
/// lease, the token of a Swarm-label lock). Not a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lock_key: String,
    pub holder: String,
}

/// One change of a fenced write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Put(KeyWrite),
    Delete(String),
}

impl KeyChange {
    pub fn key(&self) -> &str {
        match self {
            KeyChange::Put(w) => &w.key,
            KeyChange::Delete(k) => k,
        }
    }
}

/// What `lock` found.
pub enum LockOutcome {
    Acquired(Box<dyn LockGuard>),
    /// Held by someone else.
    Held(LockInfo),
}

/// A held lock. Renewed in the background until released or dropped.
#[async_trait]
pub trait LockGuard: Send + Sync {
    /// Releases the lock now.
    async fn release(self: Box<Self>) -> Result<(), KvError>;
    /// True while the lock is still ours (renewals succeed).
    fn is_held(&self) -> bool;
    /// What a fenced write checks to know this lock is still held.
    fn fence(&self) -> Fence;
}

/// One KV backend (Consul, etcd, Swarm labels).
#[async_trait]
pub trait Kv: Send + Sync {
    /// The store's URL with any password removed, for messages.
    fn describe(&self) -> String;

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError>;

    /// The entries of `keys`, in their order (`None` where a key does not exist), read in as
    /// few requests as the store allows: a caller following many keys asks once per look
    /// instead of once per key. Reads split at [`Kv::max_atomic_ops`] are not one snapshot.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError>;

    /// Writes `value` only if the key's revision is still `expected` (`None` = key must not
    /// exist). Returns false when it changed.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError>;

    /// Writes all keys or none, atomically.
    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError>;

    async fn delete(&self, key: &str) -> Result<(), KvError>;

    /// Applies `changes` all or none, and only while every one of `fences` still holds (in the
    /// same transaction, so a holder whose lock expired cannot write). Fails with
    /// [`KvError::LockLost`] when a fence does not hold. With no changes it only checks.
    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError>;

    /// Every key starting with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError>;

    /// Tries to take the lock `key` for `ttl` (renewed every ttl/3 while held).
    async fn lock(&self, key: &str, info: &LockInfo, ttl: Duration)
    -> Result<LockOutcome, KvError>;

    /// Who holds the lock, if anyone (an expired lock counts as free).
    async fn lock_holder(&self, key: &str) -> Result<Option<LockInfo>, KvError>;

    /// Breaks the lock whoever holds it (`shipctl unlock`).
    async fn break_lock(&self, key: &str) -> Result<(), KvError>;

    /// Waits until any of `keys` changes after `since` (a revision from an earlier call or
    /// 0), or `timeout` passes. Returns the revision to pass next time: `since` on a timeout.
    /// It may wake early without a change to `keys` (swarm:// after many deletes of other
    /// keys), so a caller reads the keys again rather than assume one changed.
    async fn watch(&self, keys: &[String], since: u64, timeout: Duration) -> Result<u64, KvError>;

    /// How many changes and fences one atomic write may carry (Consul: 64 operations per
    /// transaction); a bigger write is refused, so a caller splits it.
    fn max_atomic_ops(&self) -> usize {
        usize::MAX
    }
}

/// One key and the value it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyWrite {
    pub key: String,
    pub value: String,
}

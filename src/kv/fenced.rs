//! A store seen through held locks: every write is fenced, so a deploy whose lock expired
//! (a paused process, a partition longer than the TTL) can no longer change a key.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome};

/// Writes through `inner` only while every fence holds; reads, locks and watches pass through.
pub struct FencedKv<'a> {
    inner: &'a dyn Kv,
    fences: Vec<Fence>,
}

impl<'a> FencedKv<'a> {
    pub fn new(inner: &'a dyn Kv, fences: Vec<Fence>) -> FencedKv<'a> {
        FencedKv { inner, fences }
    }
}

#[async_trait]
impl Kv for FencedKv<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        let change = KeyChange::Put(KeyWrite {
            key: key.to_string(),
            value: value.to_string(),
        });
        self.write_fenced(&[change], &[]).await
    }

    /// A compare-and-swap already names the revision it expects; the fence adds nothing a
    /// deploy needs, so it goes through as it is.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError> {
        self.inner.compare_and_swap(key, expected, value).await
    }

    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        if writes.is_empty() {
            return Ok(());
        }
        let changes: Vec<KeyChange> = writes.iter().cloned().map(KeyChange::Put).collect();
        self.write_fenced(&changes, &[]).await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.write_fenced(&[KeyChange::Delete(key.to_string())], &[])
            .await
    }

    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError> {
        let mut all = self.fences.clone();
        all.extend(fences.iter().cloned());
        self.inner.write_fenced(changes, &all).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError> {
        self.inner.list(prefix).await
    }

    async fn lock(
        &self,
        key: &str,
        info: &LockInfo,
        ttl: Duration,
    ) -> Result<LockOutcome, KvError> {
        self.inner.lock(key, info, ttl).await
    }

    async fn lock_holder(&self, key: &str) -> Result<Option<LockInfo>, KvError> {
        self.inner.lock_holder(key).await
    }

    async fn break_lock(&self, key: &str) -> Result<(), KvError> {
        self.inner.break_lock(key).await
    }

    async fn watch(&self, keys: &[String], since: u64, timeout: Duration) -> Result<u64, KvError> {
        self.inner.watch(keys, since, timeout).await
    }
}

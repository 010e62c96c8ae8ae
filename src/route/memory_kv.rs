//! A store in memory that counts the requests made to it, for the unit tests of the router's
//! reads and writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::target::RouteTarget;
use crate::ports::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome};

#[derive(Default)]
pub(super) struct MemoryKv {
    state: Mutex<State>,
    /// Operations per atomic write (0: no limit).
    pub limit: usize,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, (String, u64)>,
    revision: u64,
    /// Every request, as `get k`, `get_many 3`, `write 2` (changes per atomic write).
    requests: Vec<String>,
}

impl MemoryKv {
    pub fn with_limit(limit: usize) -> MemoryKv {
        MemoryKv {
            limit,
            ..MemoryKv::default()
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<String> {
        std::mem::take(&mut self.state().requests)
    }

    pub fn value(&self, key: &str) -> Option<String> {
        self.state().entries.get(key).map(|(v, _)| v.clone())
    }

    pub fn set(&self, key: &str, value: &str) {
        let mut st = self.state();
        st.revision += 1;
        let rev = st.revision;
        st.entries.insert(key.to_string(), (value.to_string(), rev));
    }

    fn entry(st: &State, key: &str) -> Option<KvEntry> {
        st.entries.get(key).map(|(v, r)| KvEntry {
            key: key.to_string(),
            value: v.clone(),
            revision: *r,
        })
    }
}

#[async_trait]
impl Kv for MemoryKv {
    fn describe(&self) -> String {
        "memory".into()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        let mut st = self.state();
        st.requests.push(format!("get {key}"));
        Ok(MemoryKv::entry(&st, key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        let mut st = self.state();
        st.requests.push(format!("get_many {}", keys.len()));
        Ok(keys.iter().map(|k| MemoryKv::entry(&st, k)).collect())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        self.state().requests.push(format!("put {key}"));
        self.set(key, value);
        Ok(())
    }

    async fn compare_and_swap(&self, _: &str, _: Option<u64>, _: &str) -> Result<bool, KvError> {
        Err(KvError::Other("not used".into()))
    }

    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        let changes: Vec<KeyChange> = writes.iter().cloned().map(KeyChange::Put).collect();
        self.write_fenced(&changes, &[]).await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.write_fenced(&[KeyChange::Delete(key.to_string())], &[])
            .await
    }

    async fn write_fenced(&self, changes: &[KeyChange], _: &[Fence]) -> Result<(), KvError> {
        let mut st = self.state();
        st.requests.push(format!("write {}", changes.len()));
        if self.limit > 0 && changes.len() > self.limit {
            return Err(KvError::Other("too many operations".into()));
        }
        st.revision += 1;
        let rev = st.revision;
        for c in changes {
            match c {
                KeyChange::Put(w) => {
                    st.entries.insert(w.key.clone(), (w.value.clone(), rev));
                }
                KeyChange::Delete(k) => {
                    st.entries.remove(k);
                }
            }
        }
        Ok(())
    }

    async fn list(&self, _: &str) -> Result<Vec<KvEntry>, KvError> {
        Err(KvError::Other("not used".into()))
    }

    async fn lock(&self, _: &str, _: &LockInfo, _: Duration) -> Result<LockOutcome, KvError> {
        Err(KvError::Other("not used".into()))
    }

    async fn lock_holder(&self, _: &str) -> Result<Option<LockInfo>, KvError> {
        Err(KvError::Other("not used".into()))
    }

    async fn break_lock(&self, _: &str) -> Result<(), KvError> {
        Err(KvError::Other("not used".into()))
    }

    async fn watch(&self, _: &[String], since: u64, _: Duration) -> Result<u64, KvError> {
        Ok(since)
    }

    fn max_atomic_ops(&self) -> usize {
        if self.limit == 0 {
            usize::MAX
        } else {
            self.limit
        }
    }
}

/// A service `name` with one zone, whose router key is `{name}-router`.
pub(super) fn target(name: &str) -> RouteTarget {
    RouteTarget {
        service: name.to_string(),
        active_zone_key: format!("{name}-active-zone"),
        active_version_key: format!("{name}-active-version"),
        traffic_key: format!("{name}-traffic"),
        router_key: format!("{name}-router"),
        zones: vec![("blue".into(), format!("p_{name}-blue"))],
        port: 80,
    }
}

//! A store seen through held locks: every write is fenced, so a deploy whose lock expired
//! (a paused process, a partition longer than the TTL) can no longer change a key.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome};

/// Writes through `inner` only while the fences of the keys written hold; reads, locks and
/// watches pass through.
pub struct FencedKv<'a> {
    inner: &'a dyn Kv,
    /// Each fence with the keys it guards (`None`: every key).
    fences: Vec<(Option<Vec<String>>, Fence)>,
}

impl<'a> FencedKv<'a> {
    /// Every write is fenced by every one of `fences`.
    pub fn new(inner: &'a dyn Kv, fences: Vec<Fence>) -> FencedKv<'a> {
        FencedKv {
            inner,
            fences: fences.into_iter().map(|f| (None, f)).collect(),
        }
    }

    /// A write is fenced by the fences of the keys it changes: each service's lock guards
    /// that service's keys, so a release of many services does not send every lock check with
    /// every write (Consul takes at most 64 operations per transaction). A key no fence names
    /// is guarded by all of them.
    pub fn per_key(inner: &'a dyn Kv, fences: Vec<(Vec<String>, Fence)>) -> FencedKv<'a> {
        FencedKv {
            inner,
            fences: fences.into_iter().map(|(k, f)| (Some(k), f)).collect(),
        }
    }

    /// The fences that guard `changes`.
    fn fences_of(&self, changes: &[KeyChange]) -> Vec<Fence> {
        let guards = |keys: &Option<Vec<String>>, key: &str| {
            keys.as_ref().is_none_or(|k| k.iter().any(|k| k == key))
        };
        let mut out: Vec<Fence> = Vec::new();
        for change in changes {
            let mine: Vec<&Fence> = self
                .fences
                .iter()
                .filter(|(keys, _)| guards(keys, change.key()))
                .map(|(_, f)| f)
                .collect();
            let chosen: Vec<&Fence> = if mine.is_empty() {
                self.fences.iter().map(|(_, f)| f).collect()
            } else {
                mine
            };
            for f in chosen {
                if !out.contains(f) {
                    out.push(f.clone());
                }
            }
        }
        out
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

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        self.inner.get_many(keys).await
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

    /// An empty write checks the locks: the fences asked for, or all of them.
    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError> {
        let mut all = if changes.is_empty() && !fences.is_empty() {
            Vec::new()
        } else if changes.is_empty() {
            self.fences.iter().map(|(_, f)| f.clone()).collect()
        } else {
            self.fences_of(changes)
        };
        for f in fences {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        self.inner.write_fenced(changes, &all).await
    }

    fn max_atomic_ops(&self) -> usize {
        self.inner.max_atomic_ops()
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the fences each fenced write carries; nothing else is used.
    #[derive(Default)]
    struct Recorder {
        writes: Mutex<Vec<(Vec<String>, Vec<String>)>>,
    }

    fn unused() -> KvError {
        KvError::Other("not used by these tests".into())
    }

    #[async_trait]
    impl Kv for Recorder {
        fn describe(&self) -> String {
            "recorder".into()
        }
        async fn get(&self, _: &str) -> Result<Option<KvEntry>, KvError> {
            Err(unused())
        }
        async fn put(&self, _: &str, _: &str) -> Result<(), KvError> {
            Err(unused())
        }
        async fn compare_and_swap(
            &self,
            _: &str,
            _: Option<u64>,
            _: &str,
        ) -> Result<bool, KvError> {
            Err(unused())
        }
        async fn write_atomic(&self, _: &[KeyWrite]) -> Result<(), KvError> {
            Err(unused())
        }
        async fn delete(&self, _: &str) -> Result<(), KvError> {
            Err(unused())
        }
        async fn write_fenced(
            &self,
            changes: &[KeyChange],
            fences: &[Fence],
        ) -> Result<(), KvError> {
            let keys = changes.iter().map(|c| c.key().to_string()).collect();
            let locks = fences.iter().map(|f| f.lock_key.clone()).collect();
            self.writes
                .lock()
                .map_err(|_| unused())?
                .push((keys, locks));
            Ok(())
        }
        async fn list(&self, _: &str) -> Result<Vec<KvEntry>, KvError> {
            Err(unused())
        }
        async fn lock(&self, _: &str, _: &LockInfo, _: Duration) -> Result<LockOutcome, KvError> {
            Err(unused())
        }
        async fn lock_holder(&self, _: &str) -> Result<Option<LockInfo>, KvError> {
            Err(unused())
        }
        async fn break_lock(&self, _: &str) -> Result<(), KvError> {
            Err(unused())
        }
        async fn watch(&self, _: &[String], _: u64, _: Duration) -> Result<u64, KvError> {
            Err(unused())
        }
    }

    fn fence(service: &str) -> Fence {
        Fence {
            lock_key: format!("shop/{service}-lock"),
            holder: "release-1".into(),
        }
    }

    fn keys(service: &str) -> Vec<String> {
        ["active-zone", "traffic"]
            .iter()
            .map(|k| format!("shop/{service}-{k}"))
            .collect()
    }

    fn put(key: &str) -> KeyWrite {
        KeyWrite {
            key: key.into(),
            value: "green".into(),
        }
    }

    fn recorded(store: &Recorder) -> Vec<(Vec<String>, Vec<String>)> {
        store.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    #[tokio::test]
    async fn each_service_s_keys_carry_only_that_service_s_lock() {
        let store = Recorder::default();
        let fenced = FencedKv::per_key(
            &store,
            ["api", "orders", "web"]
                .iter()
                .map(|s| (keys(s), fence(s)))
                .collect(),
        );
        // One service's keys: its own lock only.
        fenced
            .write_atomic(&[put("shop/api-active-zone"), put("shop/api-traffic")])
            .await
            .expect("write");
        // Two services' keys in one write: both locks, once each.
        fenced
            .write_atomic(&[put("shop/orders-traffic"), put("shop/web-active-zone")])
            .await
            .expect("write");
        // A key no lock names (a release record): every lock guards it.
        fenced.put("shop/releases", "[]").await.expect("write");
        let writes = recorded(&store);
        assert_eq!(writes[0].1, vec!["shop/api-lock"]);
        assert_eq!(writes[1].1, vec!["shop/orders-lock", "shop/web-lock"]);
        assert_eq!(
            writes[2].1,
            vec!["shop/api-lock", "shop/orders-lock", "shop/web-lock"]
        );
    }

    #[tokio::test]
    async fn a_store_fenced_by_all_locks_sends_every_lock_with_every_write() {
        let store = Recorder::default();
        let fenced = FencedKv::new(&store, vec![fence("api"), fence("web")]);
        fenced
            .write_atomic(&[put("shop/api-active-zone")])
            .await
            .expect("write");
        // An empty write checks the locks: all of them, or the ones asked for.
        fenced.write_fenced(&[], &[]).await.expect("check");
        fenced
            .write_fenced(&[], &[fence("web")])
            .await
            .expect("check");
        let writes = recorded(&store);
        assert_eq!(writes[0].1, vec!["shop/api-lock", "shop/web-lock"]);
        assert_eq!(writes[1].1, vec!["shop/api-lock", "shop/web-lock"]);
        assert_eq!(writes[2].1, vec!["shop/web-lock"]);
    }
}

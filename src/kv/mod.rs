//! KV stores that hold the routing keys: Consul, etcd and the Swarm-embedded default.

mod store;

pub use store::{Kv, KvEntry, KvError, LockGuard, LockInfo, LockOutcome};

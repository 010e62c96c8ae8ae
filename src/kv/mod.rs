//! KV stores that hold the routing keys: Consul, etcd and the Swarm-embedded default.
//!
//! [`connect`] picks a backend from a URL:
//!
//! | URL | backend |
//! |---|---|
//! | `swarm://` (default) | labels on the Swarm object of the engine in `DOCKER_HOST` |
//! | `consul://host:port`, `consul+https://host:port`, `consul://` | Consul HTTP API (`CONSUL_*` env) |
//! | `etcd://host:port`, `etcd://user:pass@host:port`, `etcd+https://...` | etcd v3 JSON gateway |

mod connect;
mod consul;
mod etcd;
mod guard;
mod history;
mod lock;
mod redact;
mod store;
mod swarm;

pub use connect::{SCHEMES_HELP, check_url, connect, connect_with_docker};
pub use consul::{ConsulConfig, ConsulKv};
pub use etcd::{EtcdConfig, EtcdKv};
pub use history::{HistoryRecord, append_history, ci_job_url, read_history};
pub use lock::{acquire_lock, format_rfc3339};
pub use redact::redact_url;
pub use store::{Kv, KvEntry, KvError, LockGuard, LockInfo, LockOutcome};
pub use swarm::SwarmKv;

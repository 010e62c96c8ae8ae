//! KV stores that hold the routing keys: Consul, etcd and the Swarm-embedded default.
//!
//! [`connect`] picks a backend from a URL:
//!
//! | URL | backend |
//! |---|---|
//! | `swarm://` (default, also an empty URL) | labels on the Swarm object of the engine in `DOCKER_HOST` (else the local socket) |
//! | `consul://host:port`, `consul+https://host:port` | Consul HTTP API |
//! | `consul://` | Consul at `CONSUL_HTTP_ADDR` (default `127.0.0.1:8500`; `https://` there means TLS) |
//! | `etcd://host:port`, `etcd+https://host:port` | etcd v3 JSON gateway |
//! | `etcd://user:pass@host:port` | the same, authenticated |
//!
//! Consul reads the Consul CLI's environment: `CONSUL_HTTP_TOKEN` or `CONSUL_HTTP_TOKEN_FILE`
//! (sent as `X-Consul-Token`, never in the URL), `CONSUL_HTTP_SSL`, `CONSUL_HTTP_SSL_VERIFY`,
//! `CONSUL_CACERT`, `CONSUL_CAPATH`, `CONSUL_CLIENT_CERT` + `CONSUL_CLIENT_KEY`,
//! `CONSUL_TLS_SERVER_NAME`. A URL with credentials is refused for Consul.
//!
//! etcd takes credentials from the URL or, like `etcdctl`, from `ETCDCTL_USER=user:pass` (or
//! `ETCDCTL_USER=user` + `ETCDCTL_PASSWORD`); it authenticates with `/v3/auth/authenticate`
//! and sends the token in `Authorization`, renewing it once when etcd calls it invalid.
//! `etcd+https://` trusts `ETCDCTL_CACERT` when set.
//!
//! Secrets never appear in [`crate::ports::Kv::describe`], `Debug` output or errors (`etcd://user:***@host`).
//!
//! Locks: Consul sessions (TTL at least 10 s, `Behavior: release`, 1 s lock delay), etcd
//! leases, Swarm labels holding the holder and an expiry time. All are renewed every TTL/3
//! by a background task; dropping a guard stops renewing without releasing (as a killed
//! process would), so the lock expires after its TTL; `release` frees it at once.
//!
//! Fencing: a held lock names itself ([`crate::ports::LockGuard::fence`]: the Consul session,
//! the etcd lease, the Swarm lock's token) and [`crate::ports::Kv::write_fenced`] checks it in
//! the same transaction as the write (`check-session` in `/v1/txn`, a `LEASE` compare in an
//! etcd txn, the lock label inside the version-indexed Swarm update). A deploy writes through
//! [`FencedKv`], so once its lock expired it cannot change a key, whatever it believes.
//!
//! Revisions ([`crate::ports::KvEntry::revision`], [`crate::ports::Kv::watch`]) are Consul's ModifyIndex /
//! X-Consul-Index, etcd's mod_revision / header revision, and for Swarm the Swarm version
//! index a write was made against (see [`SwarmKv`]).

mod connect;
mod consul;
mod etcd;
mod fenced;
mod guard;
mod history;
mod lock;
mod redact;
mod swarm;
mod util;

pub use connect::{SCHEMES_HELP, connect, connect_with_docker, connect_with_engine};
pub use consul::{ConsulConfig, ConsulKv};
pub use etcd::{EtcdConfig, EtcdKv};
pub use fenced::FencedKv;
pub use history::{add_release, append_history, new_release_id, read_history, read_releases};
pub use lock::acquire_lock;
pub use swarm::SwarmKv;

/// The pure decoders of the Consul and etcd answers, for the fuzz targets.
pub(crate) use consul::decode_entries as decode_consul_entries;
pub(crate) use etcd::{
    decode_list as decode_etcd_list, decode_range as decode_etcd_range,
    decode_reply as decode_etcd_reply, decode_watch as decode_etcd_watch,
};

//! A router's registration: `{router key}/{id}` per service, rewritten after each reload and
//! every heartbeat, deleted on a clean shutdown. A deploy waits for every router whose
//! registration keeps changing (see `WaitRouter`), so the value carries a beat counter that
//! makes every write a change.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::event::{RouteEvent, RouteSink};
use super::target::RouteTarget;
use crate::ports::{
    KeyChange, KeyWrite, Kv, KvError, RouterReport, registration_key, valid_router_id,
};

/// How long a clean shutdown tries to delete the registrations before it gives up (they then
/// look dead to deploys after three heartbeats).
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// The id a router gets without `--id`: the host name, the config file's name and a short hash
/// of its absolute path, e.g. `lb1-nginx.conf-3fa2c1d0`. Stable across restarts; two routers
/// on one host differ as soon as their config files do.
pub fn default_id(host: &str, config: &Path) -> String {
    let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let hash = Sha256::digest(absolute.to_string_lossy().as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = format!("{}-{}-{short}", sanitize(host), sanitize(&name));
    // Long host or file names: keep the hash, which is what tells two routers apart.
    if id.len() > 100 || !valid_router_id(&id) {
        format!("router-{short}")
    } else {
        id
    }
}

/// Keeps the characters an id may hold; others become `-`.
fn sanitize(text: &str) -> String {
    let kept: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = kept.trim_matches(|c| c == '.' || c == '-');
    if trimmed.is_empty() {
        "host".to_string()
    } else {
        trimmed.chars().take(60).collect()
    }
}

/// This machine's host name, as the kernel knows it.
pub fn current_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "host".to_string())
}

/// Writes `writes` in as few atomic writes as the store takes ([`Kv::max_atomic_ops`] each):
/// the store sees one request per round, not one per service. Stops at the first that fails;
/// the ones before it stay written.
pub(super) async fn write_batched(kv: &dyn Kv, writes: &[KeyWrite]) -> Result<(), KvError> {
    for chunk in writes.chunks(kv.max_atomic_ops().max(1)) {
        kv.write_atomic(chunk).await?;
    }
    Ok(())
}

/// The registrations of one router process, one per service it routes.
pub(super) struct Registry {
    kv: Arc<dyn Kv>,
    id: String,
    heartbeat: Duration,
    /// One registration key per service, in the targets' order.
    keys: Vec<String>,
    /// Where this router serves its traffic counters, in every registration.
    stats_url: Option<String>,
    state: Mutex<State>,
}

struct State {
    beat: u64,
    /// The report of each registration key; empty keys until the first report.
    reports: BTreeMap<String, RouterReport>,
    /// Whether the last heartbeat failed (reported once, not every beat).
    failing: bool,
}

impl Registry {
    pub fn new(
        kv: Arc<dyn Kv>,
        id: &str,
        heartbeat: Duration,
        targets: &[RouteTarget],
    ) -> Registry {
        let keys: Vec<String> = targets
            .iter()
            .map(|t| registration_key(&t.router_key, id))
            .collect();
        let reports = keys
            .iter()
            .map(|k| (k.clone(), RouterReport::default()))
            .collect();
        Registry {
            kv,
            id: id.to_string(),
            heartbeat,
            keys,
            stats_url: None,
            state: Mutex::new(State {
                beat: 0,
                reports,
                failing: false,
            }),
        }
    }

    /// Advertises the `/metrics` URL of `--stats-listen` in every registration.
    pub fn set_stats_url(&mut self, url: String) {
        self.stats_url = Some(url);
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Records what the router serves for the service of each `(router key, report)` and
    /// writes those registrations together with `also`: one atomic write, however many
    /// services, unless the store takes fewer operations per write.
    pub async fn publish(
        &self,
        reports: Vec<(String, RouterReport)>,
        also: &[KeyWrite],
    ) -> Result<(), KvError> {
        if reports.is_empty() && also.is_empty() {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        let mut keys = Vec::with_capacity(reports.len());
        for (router_key, report) in reports {
            let key = registration_key(&router_key, &self.id);
            state.reports.insert(key.clone(), report);
            keys.push(key);
        }
        let mut writes = self.next_beat(&mut state, &keys);
        writes.extend_from_slice(also);
        // Held while writing: a heartbeat cannot write an older report after this one.
        write_batched(self.kv.as_ref(), &writes).await
    }

    /// Rewrites every registration with the next beat, in one atomic write.
    async fn beat(&self) -> Result<(), KvError> {
        let mut state = self.state.lock().await;
        let writes = self.next_beat(&mut state, &self.keys);
        write_batched(self.kv.as_ref(), &writes).await
    }

    /// The registrations of `keys` with the next beat: every write changes their values.
    fn next_beat(&self, state: &mut State, keys: &[String]) -> Vec<KeyWrite> {
        state.beat += 1;
        let heartbeat_ms = u64::try_from(self.heartbeat.as_millis()).unwrap_or(u64::MAX);
        keys.iter()
            .filter_map(|key| {
                let report = RouterReport {
                    id: Some(self.id.clone()),
                    heartbeat_ms: Some(heartbeat_ms),
                    beat: Some(state.beat),
                    stats_url: self.stats_url.clone(),
                    ..state.reports.get(key)?.clone()
                };
                Some(KeyWrite {
                    key: key.clone(),
                    value: serde_json::to_string(&report).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Rewrites the registrations every heartbeat until `stop`.
    pub async fn heartbeats(&self, sink: &dyn RouteSink, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.heartbeat) => {}
            }
            let result = tokio::select! {
                () = stop.cancelled() => return,
                r = self.beat() => r,
            };
            let mut state = self.state.lock().await;
            match result {
                Ok(()) if state.failing => {
                    state.failing = false;
                    sink.emit(&RouteEvent::Warning {
                        message: "heartbeat written again".into(),
                    });
                }
                Ok(()) => {}
                Err(e) if !state.failing => {
                    state.failing = true;
                    sink.emit(&RouteEvent::Warning {
                        message: format!(
                            "cannot write the heartbeat: {e}; deploys stop waiting for this \
                             router after three missed heartbeats"
                        ),
                    });
                }
                Err(_) => {}
            }
        }
    }

    /// Deletes the registrations: a router that stopped cleanly is not waited for.
    pub async fn deregister(&self, sink: &dyn RouteSink) {
        let mut deleted = Vec::new();
        // One deadline for all: Ctrl-C must not hang on a store that is gone.
        let deadline = tokio::time::Instant::now() + DEREGISTER_TIMEOUT;
        for chunk in self.keys.chunks(self.kv.max_atomic_ops().max(1)) {
            let deletes: Vec<KeyChange> = chunk.iter().cloned().map(KeyChange::Delete).collect();
            let failed = match tokio::time::timeout_at(
                deadline,
                self.kv.write_fenced(&deletes, &[]),
            )
            .await
            {
                Ok(Ok(())) => {
                    deleted.extend_from_slice(chunk);
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {}s", DEREGISTER_TIMEOUT.as_secs()),
            };
            for key in chunk {
                sink.emit(&RouteEvent::Warning {
                    message: format!("cannot delete the registration {key}: {failed}"),
                });
            }
        }
        if !deleted.is_empty() {
            sink.emit(&RouteEvent::Deregistered { keys: deleted });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::target::test_target;
    use super::*;
    use crate::exec::fake::FakeKv;

    #[derive(Default)]
    struct Events(std::sync::Mutex<Vec<RouteEvent>>);

    impl RouteSink for Events {
        fn emit(&self, event: &RouteEvent) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(event.clone());
        }
    }

    fn registration(kv: &FakeKv, key: &str) -> RouterReport {
        let text = kv.value(key).expect("registered");
        serde_json::from_str(&text).expect("a report")
    }

    fn services(n: usize) -> Vec<RouteTarget> {
        (0..n).map(|i| test_target(&format!("s{i}"))).collect()
    }

    #[tokio::test]
    async fn a_heartbeat_and_a_report_round_are_one_write_for_every_service() {
        let kv = Arc::new(FakeKv::alone());
        let registry = Registry::new(kv.clone(), "lb1", Duration::from_secs(2), &services(5));
        registry.beat().await.expect("beat");
        assert_eq!(kv.requests(), vec!["write 5"]);
        let first = registration(&kv, "s0-router/lb1");
        assert_eq!(
            (first.id.as_deref(), first.heartbeat_ms, first.beat),
            (Some("lb1"), Some(2000), Some(1))
        );
        let report = RouterReport {
            keys: [("s1-active-zone".to_string(), "blue".to_string())].into(),
            ..RouterReport::default()
        };
        let router_key = KeyWrite {
            key: "s1-router".into(),
            value: "served".into(),
        };
        registry
            .publish(vec![("s1-router".into(), report.clone())], &[router_key])
            .await
            .expect("publish");
        assert_eq!(
            kv.requests(),
            vec!["write 2"],
            "registration and router key"
        );
        assert_eq!(kv.value("s1-router").as_deref(), Some("served"));
        assert_eq!(registration(&kv, "s1-router/lb1").keys, report.keys);
        assert_eq!(registration(&kv, "s1-router/lb1").beat, Some(2));
        assert_eq!(
            registration(&kv, "s0-router/lb1").beat,
            Some(1),
            "not rewritten"
        );
        registry.beat().await.expect("beat");
        assert_eq!(kv.requests(), vec!["write 5"]);
        let beaten = registration(&kv, "s1-router/lb1");
        assert_eq!((beaten.keys, beaten.beat), (report.keys, Some(3)));
        registry
            .publish(Vec::new(), &[])
            .await
            .expect("nothing to publish");
        assert!(kv.requests().is_empty(), "nothing written");
    }

    #[tokio::test]
    async fn writes_are_split_where_the_store_limits_them() {
        let kv = Arc::new(FakeKv::alone());
        kv.limit_atomic_ops(2);
        let registry = Registry::new(kv.clone(), "lb1", Duration::from_secs(2), &services(5));
        registry.beat().await.expect("beat");
        assert_eq!(kv.requests(), vec!["write 2", "write 2", "write 1"]);
        let events = Events::default();
        registry.deregister(&events).await;
        assert_eq!(kv.requests(), vec!["write 2", "write 2", "write 1"]);
        for key in registry.keys() {
            assert_eq!(kv.value(key), None, "{key} deleted");
        }
        let events = events.0.into_inner().unwrap_or_else(|e| e.into_inner());
        assert_eq!(
            events,
            vec![RouteEvent::Deregistered {
                keys: registry.keys().to_vec()
            }]
        );
    }

    #[test]
    fn the_default_id_is_stable_and_tells_config_files_apart() {
        let a = default_id("lb1", Path::new("/etc/nginx/conf.d/shop.conf"));
        assert_eq!(
            a,
            default_id("lb1", Path::new("/etc/nginx/conf.d/shop.conf"))
        );
        assert!(a.starts_with("lb1-shop.conf-"), "{a}");
        assert!(valid_router_id(&a), "{a}");
        let b = default_id("lb1", Path::new("/etc/haproxy/shop.conf"));
        assert_ne!(a, b, "same file name, other path");
        assert_ne!(
            a,
            default_id("lb2", Path::new("/etc/nginx/conf.d/shop.conf"))
        );
    }

    #[test]
    fn odd_host_names_still_give_a_valid_id() {
        for host in ["", "my host/with slashes", ".hidden", &"x".repeat(300)] {
            let id = default_id(host, Path::new("router.conf"));
            assert!(valid_router_id(&id), "{host:?} gave {id:?}");
        }
    }
}

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
use crate::ports::{Kv, KvError, RouterReport, registration_key, valid_router_id};

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

/// The registrations of one router process, one per service it routes.
pub(super) struct Registry {
    kv: Arc<dyn Kv>,
    id: String,
    heartbeat: Duration,
    /// One registration key per service, in the targets' order.
    keys: Vec<String>,
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
            state: Mutex::new(State {
                beat: 0,
                reports,
                failing: false,
            }),
        }
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Records what the router serves for `router_key`'s service and writes its registration.
    pub async fn publish(&self, router_key: &str, report: RouterReport) -> Result<(), KvError> {
        let key = registration_key(router_key, &self.id);
        let mut state = self.state.lock().await;
        state.reports.insert(key.clone(), report);
        self.write(&mut state, &key).await
    }

    /// Rewrites every registration with the next beat.
    async fn beat(&self) -> Result<(), KvError> {
        let mut state = self.state.lock().await;
        for key in &self.keys {
            self.write(&mut state, key).await?;
        }
        Ok(())
    }

    async fn write(&self, state: &mut State, key: &str) -> Result<(), KvError> {
        state.beat += 1;
        let Some(report) = state.reports.get(key) else {
            return Ok(());
        };
        let report = RouterReport {
            id: Some(self.id.clone()),
            heartbeat_ms: Some(u64::try_from(self.heartbeat.as_millis()).unwrap_or(u64::MAX)),
            beat: Some(state.beat),
            ..report.clone()
        };
        let text = serde_json::to_string(&report).unwrap_or_default();
        self.kv.put(key, &text).await
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
        // One deadline for all: Ctrl-C must not hang once per service on a store that is gone.
        let deadline = tokio::time::Instant::now() + DEREGISTER_TIMEOUT;
        for key in &self.keys {
            match tokio::time::timeout_at(deadline, self.kv.delete(key)).await {
                Ok(Ok(())) => deleted.push(key.clone()),
                Ok(Err(e)) => sink.emit(&RouteEvent::Warning {
                    message: format!("cannot delete the registration {key}: {e}"),
                }),
                Err(_) => sink.emit(&RouteEvent::Warning {
                    message: format!(
                        "cannot delete the registration {key}: no answer within {}s",
                        DEREGISTER_TIMEOUT.as_secs()
                    ),
                }),
            }
        }
        if !deleted.is_empty() {
            sink.emit(&RouteEvent::Deregistered { keys: deleted });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

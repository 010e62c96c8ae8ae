//! One task list per tick for every service being watched.
//!
//! A release gates its services in parallel, and each gate asks for its service's tasks every
//! `poll_interval`: asked one by one, 100 services make hundreds of requests per second to the
//! Swarm manager. [`Coalesced`] sits in front of a [`Cluster`] and gathers the `tasks(service)`
//! calls made while a list is due into one [`Cluster::tasks_of`] (over Swarm: one
//! `GET /tasks` filtered by those services), then hands each caller its own service's result.
//!
//! The pace, so that the requests per second do not grow with the number of services:
//! - a list is sent [`Pacing::gather`] (5 ms) after the first caller asks, so that callers
//!   that ask together share it, but never sooner than one [`Pacing::tick`] (100 ms) after the
//!   list before it; every caller that asks in between shares it;
//! - with nobody asking, nothing is sent: the pace is the callers' (a gate asks again one poll
//!   interval after it last asked, so gates of the same interval keep sharing one list).
//!
//! The tick does not slow down while tasks stay the same: Swarm itself shows a task's new state
//! 110-150 ms after the timestamp of that state (its dispatcher batches the agents' reports;
//! measured on a loaded two-core node), so a gate that must notice a change within 250 ms of
//! that timestamp has about 100 ms left for its own polling. Nor do events help: Swarm's event
//! stream has no task events, and a container's health event comes from its own node only and
//! before Swarm's task state changes (a list made on it would still show `starting`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::compose::model::Network;
use crate::ports::{
    Cluster, ClusterError, NetworkUsage, TaskInfo, TasksByService, ZoneState, ZoneTarget,
};

/// How often the shared task list may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// How long a list waits for more callers after the first one asked.
    pub gather: Duration,
    /// Shortest time between two lists.
    pub tick: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            gather: Duration::from_millis(5),
            tick: Duration::from_millis(100),
        }
    }
}

/// A [`Cluster`] whose concurrent `tasks` calls share one list per tick; every other call
/// passes through.
pub struct Coalesced<'a> {
    inner: &'a dyn Cluster,
    pacing: Pacing,
    shared: Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The list that callers may still join.
    next: Option<Pending>,
    last_sent: Option<Instant>,
    lists: u64,
}

struct Pending {
    names: Vec<String>,
    /// Filled once the list is back; closed if the caller who sends it gave up.
    result: watch::Receiver<Option<Arc<TasksByService>>>,
}

impl<'a> Coalesced<'a> {
    pub fn new(inner: &'a dyn Cluster) -> Coalesced<'a> {
        Coalesced::with_pacing(inner, Pacing::default())
    }

    pub fn with_pacing(inner: &'a dyn Cluster, pacing: Pacing) -> Coalesced<'a> {
        Coalesced {
            inner,
            pacing,
            shared: Mutex::new(Shared::default()),
        }
    }

    /// How many lists were sent so far.
    pub fn lists(&self) -> u64 {
        self.lock().lists
    }

    /// The lock is never held across an await; a poisoned one only means a caller panicked
    /// between two plain assignments, which leaves the state usable.
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the list being gathered, or starts one (and then sends it when it is due).
    async fn gathered(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        loop {
            let (mut result, sender) = {
                let mut shared = self.lock();
                match shared.next.as_mut() {
                    // Its sender still lives: it will be sent.
                    Some(pending) if pending.result.has_changed().is_ok() => {
                        if !pending.names.iter().any(|n| n == service_name) {
                            pending.names.push(service_name.to_string());
                        }
                        (pending.result.clone(), None)
                    }
                    _ => {
                        let (sender, result) = watch::channel(None);
                        shared.next = Some(Pending {
                            names: vec![service_name.to_string()],
                            result: result.clone(),
                        });
                        (result, Some(sender))
                    }
                }
            };
            if let Some(sender) = sender {
                self.send_when_due(sender).await;
            }
            let batch = match result.wait_for(Option::is_some).await {
                Ok(batch) => batch.as_ref().map(Arc::clone),
                // The caller who was to send it was cancelled first: gather again.
                Err(_) => continue,
            };
            return match batch.as_ref().and_then(|b| b.get(service_name)) {
                Some(answer) => answer.clone(),
                None => Err(ClusterError::NotFound(service_name.to_string())),
            };
        }
    }

    /// Waits for the tick, takes the gathered names, lists their tasks once and hands out the
    /// answer.
    async fn send_when_due(&self, sender: watch::Sender<Option<Arc<TasksByService>>>) {
        let due = {
            let shared = self.lock();
            let gathered = Instant::now() + self.pacing.gather;
            match shared.last_sent {
                Some(sent) => gathered.max(sent + self.pacing.tick),
                None => gathered,
            }
        };
        tokio::time::sleep_until(due).await;
        let names = {
            let mut shared = self.lock();
            shared.last_sent = Some(Instant::now());
            shared.lists += 1;
            shared.next.take().map(|p| p.names).unwrap_or_default()
        };
        let batch = self.inner.tasks_of(&names).await;
        // Never fails: the sender's own callers hold receivers until they read it.
        sender.send_replace(Some(Arc::new(batch)));
    }
}

#[async_trait]
impl Cluster for Coalesced<'_> {
    async fn observe_zones(
        &self,
        project: &str,
        service: &str,
        zones: &[(String, String)],
    ) -> Result<IndexMap<String, ZoneState>, ClusterError> {
        self.inner.observe_zones(project, service, zones).await
    }

    async fn ensure_network(&self, name: &str, network: &Network) -> Result<(), ClusterError> {
        self.inner.ensure_network(name, network).await
    }

    async fn apply_zone(&self, target: &ZoneTarget) -> Result<(), ClusterError> {
        self.inner.apply_zone(target).await
    }

    async fn scale(&self, service_name: &str, replicas: u64) -> Result<(), ClusterError> {
        self.inner.scale(service_name, replicas).await
    }

    async fn revert(&self, service_name: &str) -> Result<(), ClusterError> {
        self.inner.revert(service_name).await
    }

    async fn tasks(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        self.gathered(service_name).await
    }

    /// A check before a key write comes right after a gate's last list: waiting for the next
    /// tick would add up to a tick to every switch, for one request that no poll repeats.
    async fn tasks_now(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        self.inner.tasks(service_name).await
    }

    /// Already one list: passed through.
    async fn tasks_of(&self, service_names: &[String]) -> TasksByService {
        self.inner.tasks_of(service_names).await
    }

    async fn network_usage(&self, name: &str) -> Result<Option<NetworkUsage>, ClusterError> {
        self.inner.network_usage(name).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ports::TaskState;

    /// A cluster that knows some services' tasks and records every list it is asked for.
    #[derive(Default)]
    struct Recording {
        tasks: Mutex<HashMap<String, Vec<TaskInfo>>>,
        lists: Mutex<Vec<Vec<String>>>,
        /// Answers `Unavailable` to every list.
        down: bool,
    }

    impl Recording {
        fn with(services: &[(&str, usize)]) -> Recording {
            let cluster = Recording::default();
            for (name, count) in services {
                cluster.set(name, *count, TaskState::Starting);
            }
            cluster
        }

        fn set(&self, name: &str, count: usize, state: TaskState) {
            let tasks = (0..count)
                .map(|i| task(&format!("{name}.{i}"), state))
                .collect();
            self.tasks
                .lock()
                .expect("test lock")
                .insert(name.to_string(), tasks);
        }

        fn lists(&self) -> Vec<Vec<String>> {
            self.lists.lock().expect("test lock").clone()
        }
    }

    fn task(id: &str, state: TaskState) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state,
            desired_state: TaskState::Running,
            version: Some("1.0.0".into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: Vec::new(),
            host_ports: Vec::new(),
            updated_at: None,
            created_at: None,
        }
    }

    fn unused() -> ClusterError {
        ClusterError::Api("not used by these tests".into())
    }

    #[async_trait]
    impl Cluster for Recording {
        async fn observe_zones(
            &self,
            _: &str,
            _: &str,
            _: &[(String, String)],
        ) -> Result<IndexMap<String, ZoneState>, ClusterError> {
            Err(unused())
        }
        async fn ensure_network(&self, _: &str, _: &Network) -> Result<(), ClusterError> {
            Err(unused())
        }
        async fn apply_zone(&self, _: &ZoneTarget) -> Result<(), ClusterError> {
            Err(unused())
        }
        async fn scale(&self, _: &str, _: u64) -> Result<(), ClusterError> {
            Err(unused())
        }
        async fn revert(&self, _: &str) -> Result<(), ClusterError> {
            Err(unused())
        }
        async fn tasks(&self, _: &str) -> Result<Vec<TaskInfo>, ClusterError> {
            panic!("a coalesced read must list every service at once")
        }
        async fn tasks_of(&self, names: &[String]) -> TasksByService {
            self.lists.lock().expect("test lock").push(names.to_vec());
            // As a real list would, let the callers of the next tick gather meanwhile.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let known = self.tasks.lock().expect("test lock").clone();
            names
                .iter()
                .map(|name| {
                    let answer = if self.down {
                        Err(ClusterError::Unavailable {
                            message: "engine down".into(),
                            help: String::new(),
                        })
                    } else {
                        known
                            .get(name)
                            .cloned()
                            .ok_or_else(|| ClusterError::NotFound(name.clone()))
                    };
                    (name.clone(), answer)
                })
                .collect()
        }
    }

    fn fast() -> Pacing {
        Pacing {
            gather: Duration::from_millis(5),
            tick: Duration::from_millis(40),
        }
    }

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("svc{i}")).collect()
    }

    #[tokio::test]
    async fn concurrent_reads_of_many_services_share_one_list() {
        let services = names(100);
        let spec: Vec<(&str, usize)> = services.iter().map(|n| (n.as_str(), 2)).collect();
        let inner = Recording::with(&spec);
        let cluster = Coalesced::with_pacing(&inner, fast());

        let answers =
            futures_util::future::join_all(services.iter().map(|name| cluster.tasks(name))).await;

        assert_eq!(
            inner.lists().len(),
            1,
            "one list for all: {:?}",
            inner.lists()
        );
        assert_eq!(inner.lists()[0].len(), 100);
        for (name, answer) in services.iter().zip(answers) {
            let tasks = answer.expect("a known service");
            assert_eq!(tasks.len(), 2);
            assert!(tasks.iter().all(|t| t.id.starts_with(&format!("{name}."))));
        }
    }

    #[tokio::test]
    async fn a_missing_service_gets_its_own_error_and_the_others_their_tasks() {
        let inner = Recording::with(&[("web", 1), ("api", 3)]);
        let cluster = Coalesced::with_pacing(&inner, fast());

        let (web, gone, api) = tokio::join!(
            cluster.tasks("web"),
            cluster.tasks("gone"),
            cluster.tasks("api")
        );

        assert_eq!(web.expect("web exists").len(), 1);
        assert_eq!(api.expect("api exists").len(), 3);
        assert!(matches!(gone, Err(ClusterError::NotFound(name)) if name == "gone"));
        assert_eq!(inner.lists().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_list_fails_every_caller_that_shared_it() {
        let inner = Recording {
            down: true,
            ..Recording::with(&[("web", 1)])
        };
        let cluster = Coalesced::with_pacing(&inner, fast());

        let (web, api) = tokio::join!(cluster.tasks("web"), cluster.tasks("api"));

        assert!(matches!(web, Err(ClusterError::Unavailable { .. })));
        assert!(matches!(api, Err(ClusterError::Unavailable { .. })));
    }

    #[tokio::test]
    async fn two_callers_of_one_service_share_its_answer() {
        let inner = Recording::with(&[("web", 2)]);
        let cluster = Coalesced::with_pacing(&inner, fast());

        let (a, b) = tokio::join!(cluster.tasks("web"), cluster.tasks("web"));

        assert_eq!(a.expect("web").len(), 2);
        assert_eq!(b.expect("web").len(), 2);
        assert_eq!(inner.lists(), vec![vec!["web".to_string()]]);
    }

    #[tokio::test]
    async fn lists_are_a_tick_apart() {
        let inner = Recording::with(&[("web", 1)]);
        let pacing = fast();
        let cluster = Coalesced::with_pacing(&inner, pacing);

        let started = Instant::now();
        for _ in 0..4 {
            cluster.tasks("web").await.expect("web");
        }
        let elapsed = started.elapsed();

        assert_eq!(cluster.lists(), 4);
        // The first list goes at once, the three others one tick after the one before.
        assert!(elapsed >= pacing.tick * 3, "{elapsed:?}");
    }

    #[tokio::test]
    async fn callers_that_keep_polling_share_every_list() {
        // Twenty gates that each poll every tick, as the executor's gates do.
        let services = names(20);
        let spec: Vec<(&str, usize)> = services.iter().map(|n| (n.as_str(), 1)).collect();
        let inner = Recording::with(&spec);
        let pacing = fast();
        let cluster = Coalesced::with_pacing(&inner, pacing);

        futures_util::future::join_all(services.iter().map(|name| {
            let cluster = &cluster;
            async move {
                for _ in 0..5 {
                    let started = Instant::now();
                    cluster.tasks(name).await.expect("known service");
                    tokio::time::sleep(pacing.tick.saturating_sub(started.elapsed())).await;
                }
            }
        }))
        .await;

        let lists = inner.lists();
        assert!(lists.len() <= 6, "{} lists for 5 rounds", lists.len());
        assert!(lists.iter().all(|l| l.len() == 20), "{lists:?}");
    }

    #[tokio::test]
    async fn a_caller_given_up_before_its_list_went_does_not_strand_the_others() {
        let inner = Recording::with(&[("web", 1), ("api", 1)]);
        let pacing = fast();
        let cluster = Coalesced::with_pacing(&inner, pacing);
        // A first list, so that the next one waits for its tick.
        cluster.tasks("web").await.expect("web");

        let first = cluster.tasks("web");
        // Dropped while it waits to send the list `api` joins.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), first);
        let (gave_up, api) = tokio::join!(gave_up, async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            cluster.tasks("api").await
        });

        assert!(gave_up.is_err());
        assert_eq!(api.expect("api").len(), 1);
    }

    #[tokio::test]
    async fn nothing_is_listed_while_nobody_asks() {
        let inner = Recording::with(&[("web", 1)]);
        let cluster = Coalesced::with_pacing(&inner, fast());
        cluster.tasks("web").await.expect("web");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(inner.lists().len(), 1);
    }
}

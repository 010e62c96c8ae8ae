//! In-memory stand-ins for Swarm, the KV store, the prober and time, for the executor's unit
//! tests only. The real Swarm and KV backends have their own integration tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use super::{Clock, Decision, Event, EventSink, FailureDecider, FailureReport, Prober};
use crate::compose::model::Network;
use crate::ports::{
    Cluster, ClusterError, Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockGuard, LockInfo,
    LockOutcome, TaskInfo, TaskState, ZoneState, ZoneTarget,
};
use crate::spec::model::HttpProbe;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Operations on the cluster and the KV store, in the order they happened, with the virtual
/// time they happened at.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<(Duration, String)>>>);

impl Journal {
    fn push(&self, at: Duration, entry: String) {
        lock(&self.0).push((at, entry));
    }

    pub fn entries(&self) -> Vec<String> {
        lock(&self.0).iter().map(|(_, e)| e.clone()).collect()
    }

    /// When the first entry starting with `prefix` happened.
    pub fn time_of(&self, prefix: &str) -> Option<Duration> {
        lock(&self.0)
            .iter()
            .find(|(_, e)| e.starts_with(prefix))
            .map(|(t, _)| *t)
    }
}

/// Virtual time: `sleep` advances it at once. Starts an hour in, so tasks created "at 0" have
/// been running for a while.
pub struct ManualClock {
    base: Instant,
    wall_base: SystemTime,
    offset: Mutex<Duration>,
    cancels: Mutex<Vec<(Duration, CancellationToken)>>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            base: Instant::now(),
            wall_base: SystemTime::now(),
            offset: Mutex::new(Duration::from_secs(3600)),
            cancels: Mutex::new(Vec::new()),
        })
    }

    pub fn elapsed(&self) -> Duration {
        *lock(&self.offset)
    }

    /// Cancels `token` once virtual time reaches `at`.
    pub fn cancel_at(&self, at: Duration, token: CancellationToken) {
        lock(&self.cancels).push((at, token));
    }

    fn advance(&self, by: Duration) {
        let now = {
            let mut offset = lock(&self.offset);
            *offset += by;
            *offset
        };
        for (at, token) in lock(&self.cancels).iter() {
            if *at <= now {
                token.cancel();
            }
        }
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn wall(&self) -> SystemTime {
        self.wall_base + self.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
        tokio::task::yield_now().await;
    }
}

/// How the tasks of one version behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    pub pending: Duration,
    pub starting: Duration,
    pub fate: Fate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// Runs and stays up.
    Healthy,
    /// Rejected by every node: the image does not exist.
    MissingImage,
    /// Runs for `after`, then exits with `code`.
    Crash { after: Duration, code: i64 },
    /// Killed as unhealthy when `starting` is over.
    Unhealthy,
    /// Never scheduled.
    Unschedulable,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            pending: Duration::from_secs(1),
            starting: Duration::from_secs(2),
            fate: Fate::Healthy,
        }
    }
}

struct FakeTask {
    id: String,
    version: String,
    image: String,
    created: Duration,
    /// Swarm wants it running (false once failed or stopped).
    live: bool,
    stopped: Option<Duration>,
    ended: Option<Duration>,
    /// A failure from before the test (error, exit code), whatever the version's behaviour.
    past_failure: Option<(String, i64)>,
    /// How it ended: what the version's behaviour was then (it may change since).
    ended_as: Option<Fate>,
}

struct FakeService {
    desired: u64,
    version: String,
    image: String,
    /// The version and image before the last change of them (what `revert` goes back to).
    previous: Option<(String, String)>,
    tasks: Vec<FakeTask>,
    /// Replacements of failed tasks, due at these times (Swarm's restart delay).
    restarts: Vec<Duration>,
}

#[derive(Default)]
struct ClusterState {
    services: IndexMap<String, FakeService>,
    behaviours: HashMap<String, Behaviour>,
    next_id: u64,
    unavailable: bool,
    /// The next this many `apply_zone` calls fail as if the manager were unreachable.
    fail_applies: usize,
    /// Scaling these services fails.
    broken_scale: Vec<String>,
    /// Running tasks per service after every call.
    samples: Vec<(Duration, BTreeMap<String, u64>)>,
}

/// A Swarm in memory: tasks go pending -> starting -> running (or fail) over virtual time.
pub struct FakeCluster {
    clock: Arc<ManualClock>,
    journal: Journal,
    state: Mutex<ClusterState>,
    restart_delay: Duration,
}

impl FakeCluster {
    pub fn new(clock: Arc<ManualClock>, journal: Journal) -> FakeCluster {
        FakeCluster {
            clock,
            journal,
            state: Mutex::new(ClusterState::default()),
            restart_delay: Duration::from_secs(1),
        }
    }

    /// Tasks of `version` behave like this.
    pub fn behave(&self, version: &str, behaviour: Behaviour) {
        lock(&self.state)
            .behaviours
            .insert(version.into(), behaviour);
    }

    /// A service that has been running `replicas` tasks of `version` for a long time.
    pub fn existing(&self, name: &str, version: &str, replicas: u64) {
        let mut st = lock(&self.state);
        let mut tasks = Vec::new();
        for _ in 0..replicas {
            st.next_id += 1;
            tasks.push(FakeTask {
                id: format!("{name}.{}", st.next_id),
                version: version.into(),
                image: format!("example/web:{version}"),
                created: Duration::ZERO,
                live: true,
                stopped: None,
                ended: None,
                past_failure: None,
                ended_as: None,
            });
        }
        st.services.insert(
            name.into(),
            FakeService {
                previous: None,
                desired: replicas,
                version: version.into(),
                image: format!("example/web:{version}"),
                tasks,
                restarts: Vec::new(),
            },
        );
    }

    /// `failures` tasks of `version` that crashed a few seconds ago in `name` (created with 0
    /// replicas if missing): what a failed attempt leaves behind.
    pub fn crashed_before(&self, name: &str, version: &str, failures: usize) {
        let now = self.now();
        let mut st = lock(&self.state);
        let mut next_id = st.next_id;
        let svc = st
            .services
            .entry(name.into())
            .or_insert_with(|| FakeService {
                previous: None,
                desired: 0,
                version: version.into(),
                image: format!("example/web:{version}"),
                tasks: Vec::new(),
                restarts: Vec::new(),
            });
        for _ in 0..failures {
            next_id += 1;
            svc.tasks.push(FakeTask {
                id: format!("{name}.{next_id}"),
                version: version.into(),
                image: format!("example/web:{version}"),
                created: now - Duration::from_secs(20),
                live: false,
                stopped: None,
                ended: Some(now - Duration::from_secs(5)),
                past_failure: Some(("task: non-zero exit (1)".into(), 1)),
                ended_as: None,
            });
        }
        st.next_id = next_id;
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    pub fn fail_next_applies(&self, calls: usize) {
        lock(&self.state).fail_applies = calls;
    }

    pub fn break_scale_of(&self, name: &str) {
        lock(&self.state).broken_scale.push(name.into());
    }

    /// The version a service runs now.
    pub fn version(&self, name: &str) -> Option<String> {
        lock(&self.state)
            .services
            .get(name)
            .map(|s| s.version.clone())
    }

    pub fn desired(&self, name: &str) -> Option<u64> {
        lock(&self.state).services.get(name).map(|s| s.desired)
    }

    /// Running tasks per service, after every call the executor made.
    pub fn samples(&self) -> Vec<(Duration, BTreeMap<String, u64>)> {
        lock(&self.state).samples.clone()
    }

    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    fn check(&self) -> Result<(), ClusterError> {
        if lock(&self.state).unavailable {
            return Err(ClusterError::Unavailable {
                message: "Cannot connect to the Docker daemon".into(),
                help: String::new(),
            });
        }
        Ok(())
    }

    /// When a task's life ends by itself (fails or is rejected), if it does.
    fn end_of(b: &Behaviour, t: &FakeTask) -> Option<Duration> {
        let started = t.created + b.pending;
        match b.fate {
            Fate::Healthy | Fate::Unschedulable => None,
            Fate::MissingImage => Some(started),
            Fate::Unhealthy => Some(started + b.starting),
            Fate::Crash { after, .. } => Some(started + b.starting + after),
        }
    }

    fn behaviour(st: &ClusterState, version: &str) -> Behaviour {
        st.behaviours.get(version).copied().unwrap_or_default()
    }

    /// Brings every service up to `now`: failures, restarts, scaling.
    fn reconcile(st: &mut ClusterState, now: Duration, restart_delay: Duration) {
        let behaviours = st.behaviours.clone();
        let mut next_id = st.next_id;
        for (name, svc) in st.services.iter_mut() {
            loop {
                let mut changed = false;
                for t in svc.tasks.iter_mut().filter(|t| t.live) {
                    let b = behaviours.get(&t.version).copied().unwrap_or_default();
                    if let Some(end) = Self::end_of(&b, t).filter(|end| *end <= now) {
                        t.live = false;
                        t.ended = Some(end);
                        t.ended_as = Some(b.fate);
                        svc.restarts.push(end + restart_delay);
                        changed = true;
                    }
                }
                svc.restarts.sort();
                let live = svc.tasks.iter().filter(|t| t.live).count() as u64;
                if let Some(due) = svc.restarts.first().copied().filter(|d| *d <= now) {
                    svc.restarts.remove(0);
                    if live < svc.desired {
                        next_id += 1;
                        svc.tasks.push(FakeTask {
                            id: format!("{name}.{next_id}"),
                            version: svc.version.clone(),
                            image: svc.image.clone(),
                            created: due,
                            live: true,
                            stopped: None,
                            ended: None,
                            past_failure: None,
                            ended_as: None,
                        });
                    }
                    continue;
                }
                let waiting = svc.restarts.len() as u64;
                if live + waiting < svc.desired {
                    for _ in 0..(svc.desired - live - waiting) {
                        next_id += 1;
                        svc.tasks.push(FakeTask {
                            id: format!("{name}.{next_id}"),
                            version: svc.version.clone(),
                            image: svc.image.clone(),
                            created: now,
                            live: true,
                            stopped: None,
                            ended: None,
                            past_failure: None,
                            ended_as: None,
                        });
                    }
                    changed = true;
                } else if live + waiting > svc.desired {
                    let extra = (live + waiting - svc.desired) as usize;
                    let drop = extra.min(svc.restarts.len());
                    svc.restarts.truncate(svc.restarts.len() - drop);
                    // Swarm removes the newest tasks first.
                    for t in svc
                        .tasks
                        .iter_mut()
                        .rev()
                        .filter(|t| t.live)
                        .take(extra - drop)
                    {
                        t.live = false;
                        t.stopped = Some(now);
                    }
                    changed = extra - drop > 0;
                }
                if !changed {
                    break;
                }
            }
        }
        st.next_id = next_id;
    }

    fn info(
        b: &Behaviour,
        t: &FakeTask,
        now: Duration,
        wall: impl Fn(Duration) -> SystemTime,
    ) -> TaskInfo {
        let started = t.created + b.pending;
        let running_at = started + b.starting;
        let mut info = TaskInfo {
            id: t.id.clone(),
            state: TaskState::Pending,
            desired_state: if t.live {
                TaskState::Running
            } else {
                TaskState::Shutdown
            },
            version: Some(t.version.clone()),
            image: Some(t.image.clone()),
            message: "pending task scheduling".into(),
            error: None,
            exit_code: None,
            node_id: Some("node-1".into()),
            container_id: None,
            addresses: vec!["10.0.1.5".into()],
            host_ports: Vec::new(),
            updated_at: Some(wall(t.created)),
            created_at: Some(wall(t.created)),
        };
        if let Some(stopped) = t.stopped {
            info.state = TaskState::Shutdown;
            info.message = "shutdown".into();
            info.exit_code = Some(143);
            info.updated_at = Some(wall(stopped));
            return info;
        }
        if let (Some(end), Some((error, code))) = (t.ended, &t.past_failure) {
            info.state = TaskState::Failed;
            info.message = "started".into();
            info.error = Some(error.clone());
            info.exit_code = Some(*code);
            info.updated_at = Some(wall(end));
            return info;
        }
        if let Some(end) = t.ended {
            info.updated_at = Some(wall(end));
            match t.ended_as.unwrap_or(b.fate) {
                Fate::MissingImage => {
                    info.state = TaskState::Rejected;
                    info.message = "preparing".into();
                    info.error = Some(format!("No such image: {}", t.image));
                }
                Fate::Unhealthy => {
                    info.state = TaskState::Failed;
                    info.message = "started".into();
                    info.error =
                        Some("task: non-zero exit (137): dockerexec: unhealthy container".into());
                    info.exit_code = Some(137);
                }
                Fate::Crash { code, .. } => {
                    info.state = TaskState::Failed;
                    info.message = "started".into();
                    info.error = Some(format!("task: non-zero exit ({code})"));
                    info.exit_code = Some(code);
                }
                Fate::Healthy | Fate::Unschedulable => {}
            }
            return info;
        }
        if b.fate == Fate::Unschedulable {
            info.error = Some("no suitable node (insufficient resources on 3 nodes)".into());
        } else if now >= running_at {
            info.state = TaskState::Running;
            info.message = "started".into();
            info.updated_at = Some(wall(running_at));
        } else if now >= started {
            info.state = TaskState::Starting;
            info.message = "starting".into();
            info.updated_at = Some(wall(started));
        }
        info
    }

    fn sample(&self, st: &mut ClusterState) {
        let now = self.now();
        let wall = |d: Duration| self.clock.wall() - (now.saturating_sub(d));
        let mut counts = BTreeMap::new();
        for (name, svc) in &st.services {
            let running = svc
                .tasks
                .iter()
                .filter(|t| {
                    let b = Self::behaviour(st, &t.version);
                    let i = Self::info(&b, t, now, wall);
                    i.state == TaskState::Running && i.desired_state == TaskState::Running
                })
                .count() as u64;
            counts.insert(name.clone(), running);
        }
        st.samples.push((now, counts));
    }

    fn after_change(&self, st: &mut ClusterState) {
        Self::reconcile(st, self.now(), self.restart_delay);
        self.sample(st);
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    async fn observe_zones(
        &self,
        _project: &str,
        _service: &str,
        zones: &[(String, String)],
    ) -> Result<IndexMap<String, ZoneState>, ClusterError> {
        self.check()?;
        let mut st = lock(&self.state);
        self.after_change(&mut st);
        let mut out = IndexMap::new();
        for (zone, name) in zones {
            if let Some(svc) = st.services.get(name) {
                out.insert(
                    zone.clone(),
                    ZoneState {
                        service_name: name.clone(),
                        desired: svc.desired,
                        running: 0,
                        healthy: 0,
                        version: Some(svc.version.clone()),
                        image: Some(svc.image.clone()),
                        spec_index: None,
                        updated_at: None,
                    },
                );
            }
        }
        Ok(out)
    }

    async fn ensure_network(&self, name: &str, _network: &Network) -> Result<(), ClusterError> {
        self.check()?;
        self.journal.push(self.now(), format!("network {name}"));
        Ok(())
    }

    async fn apply_zone(&self, target: &ZoneTarget) -> Result<(), ClusterError> {
        self.check()?;
        {
            let mut st = lock(&self.state);
            if st.fail_applies > 0 {
                st.fail_applies -= 1;
                return Err(ClusterError::Unavailable {
                    message: "error during connect: connection reset by peer".into(),
                    help: String::new(),
                });
            }
        }
        let now = self.now();
        self.journal.push(
            now,
            format!(
                "apply {} {} x{}",
                target.service_name, target.version, target.replicas
            ),
        );
        let mut st = lock(&self.state);
        Self::reconcile(&mut st, now, self.restart_delay);
        let svc = st
            .services
            .entry(target.service_name.clone())
            .or_insert_with(|| FakeService {
                previous: None,
                desired: 0,
                version: target.version.clone(),
                image: target.image.clone(),
                tasks: Vec::new(),
                restarts: Vec::new(),
            });
        if svc.version != target.version || svc.image != target.image {
            svc.previous = Some((svc.version.clone(), svc.image.clone()));
            for t in svc.tasks.iter_mut().filter(|t| t.live) {
                t.live = false;
                t.stopped = Some(now);
            }
            svc.restarts.clear();
        }
        svc.version = target.version.clone();
        svc.image = target.image.clone();
        svc.desired = target.replicas;
        self.after_change(&mut st);
        Ok(())
    }

    async fn revert(&self, service_name: &str) -> Result<(), ClusterError> {
        self.check()?;
        let now = self.now();
        self.journal.push(now, format!("revert {service_name}"));
        let mut st = lock(&self.state);
        Self::reconcile(&mut st, now, self.restart_delay);
        let svc = st
            .services
            .get_mut(service_name)
            .ok_or_else(|| ClusterError::NotFound(service_name.into()))?;
        let Some((version, image)) = svc.previous.take() else {
            return Err(ClusterError::Api(format!(
                "service {service_name} has no earlier spec to go back to"
            )));
        };
        for t in svc.tasks.iter_mut().filter(|t| t.live) {
            t.live = false;
            t.stopped = Some(now);
        }
        svc.restarts.clear();
        svc.previous = Some((svc.version.clone(), svc.image.clone()));
        svc.version = version;
        svc.image = image;
        self.after_change(&mut st);
        Ok(())
    }

    async fn scale(&self, service_name: &str, replicas: u64) -> Result<(), ClusterError> {
        self.check()?;
        let now = self.now();
        self.journal
            .push(now, format!("scale {service_name} {replicas}"));
        let mut st = lock(&self.state);
        if st.broken_scale.iter().any(|n| n == service_name) {
            return Err(ClusterError::Api(format!(
                "update out of sequence for service {service_name}"
            )));
        }
        Self::reconcile(&mut st, now, self.restart_delay);
        let svc = st
            .services
            .get_mut(service_name)
            .ok_or_else(|| ClusterError::NotFound(service_name.into()))?;
        svc.desired = replicas;
        self.after_change(&mut st);
        Ok(())
    }

    async fn tasks(&self, service_name: &str) -> Result<Vec<TaskInfo>, ClusterError> {
        self.check()?;
        let now = self.now();
        let mut st = lock(&self.state);
        self.after_change(&mut st);
        let wall = |d: Duration| self.clock.wall() - (now.saturating_sub(d));
        let svc = st
            .services
            .get(service_name)
            .ok_or_else(|| ClusterError::NotFound(service_name.into()))?;
        Ok(svc
            .tasks
            .iter()
            .map(|t| Self::info(&Self::behaviour(&st, &t.version), t, now, wall))
            .collect())
    }
}

#[derive(Default)]
struct KvState {
    entries: BTreeMap<String, (String, u64)>,
    revision: u64,
    unavailable: bool,
    atomic_writes: usize,
    /// Every request made, as `get k`, `get_many 3`, `put k`, `cas k`, `write 2` (changes in
    /// one atomic or fenced write), `delete k`: what a test counts.
    requests: Vec<String>,
    /// Unreachable once this many atomic writes succeeded.
    down_after_writes: Option<usize>,
    /// The answer of this atomic write is lost: applied, then reported as a reset connection.
    lose_answer_of: Option<usize>,
    /// Lock keys whose holders lost them: fenced writes naming them are refused.
    lost_locks: Vec<String>,
    /// Changes one atomic write may carry (unlimited when `None`), as Consul's 64.
    max_ops: Option<usize>,
    /// Writes made by others (routers) once virtual time reaches them: (at, key, value or
    /// `None` to delete), in time order.
    scheduled: Vec<(Duration, String, Option<String>)>,
}

impl KvState {
    fn entry(&self, key: &str) -> Option<KvEntry> {
        self.entries.get(key).map(|(v, r)| KvEntry {
            key: key.into(),
            value: v.clone(),
            revision: *r,
        })
    }

    fn write(&mut self, key: &str, value: &str) {
        self.revision += 1;
        let rev = self.revision;
        self.entries.insert(key.into(), (value.into(), rev));
    }

    fn apply_due(&mut self, now: Duration) {
        let due = self
            .scheduled
            .iter()
            .take_while(|(at, ..)| *at <= now)
            .count();
        for (_, key, value) in self.scheduled.drain(..due).collect::<Vec<_>>() {
            match value {
                Some(v) => self.write(&key, &v),
                None => {
                    self.entries.remove(&key);
                }
            }
        }
    }
}

/// A KV store in a map: revisions, atomic writes, and a switch to make it unreachable.
pub struct FakeKv {
    clock: Arc<ManualClock>,
    journal: Journal,
    state: Mutex<KvState>,
}

impl FakeKv {
    pub fn new(clock: Arc<ManualClock>, journal: Journal) -> FakeKv {
        FakeKv {
            clock,
            journal,
            state: Mutex::new(KvState::default()),
        }
    }

    /// A store with a clock and a journal of its own, for the tests of one part.
    pub fn alone() -> FakeKv {
        FakeKv::new(ManualClock::new(), Journal::default())
    }

    pub fn set(&self, key: &str, value: &str) {
        lock(&self.state).write(key, value);
    }

    /// Writes `value` to `key` (`None`: deletes it) once virtual time reaches `at` (as
    /// [`ManualClock::elapsed`] counts it): another process's writes, such as a router's
    /// heartbeats, as a run sees them.
    pub fn write_at(&self, at: Duration, key: &str, value: Option<&str>) {
        let mut st = lock(&self.state);
        st.scheduled
            .push((at, key.to_string(), value.map(str::to_string)));
        st.scheduled.sort_by_key(|(at, ..)| *at);
    }

    /// Removes a key without recording an operation (test setup).
    pub fn unset(&self, key: &str) {
        lock(&self.state).entries.remove(key);
    }

    pub fn value(&self, key: &str) -> Option<String> {
        let mut st = lock(&self.state);
        st.apply_due(self.clock.elapsed());
        st.entries.get(key).map(|(v, _)| v.clone())
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// The store goes down right after the `n`th atomic write.
    pub fn go_down_after_writes(&self, n: usize) {
        lock(&self.state).down_after_writes = Some(n);
    }

    /// The `n`th atomic write is applied but its caller gets a reset connection, as when the
    /// store committed and the answer was lost.
    pub fn lose_answer_of_write(&self, n: usize) {
        lock(&self.state).lose_answer_of = Some(n);
    }

    /// The lock `key` expires and is taken by someone else: fenced writes fail from now on.
    pub fn lose_lock(&self, key: &str) {
        lock(&self.state).lost_locks.push(key.to_string());
    }

    /// Takes at most `n` changes in one atomic write, as Consul takes at most 64.
    pub fn limit_atomic_ops(&self, n: usize) {
        lock(&self.state).max_ops = Some(n);
    }

    pub fn atomic_writes(&self) -> usize {
        lock(&self.state).atomic_writes
    }

    /// The requests made since the last call, oldest first (see `KvState::requests`).
    pub fn requests(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    fn log(&self, request: String) {
        lock(&self.state).requests.push(request);
    }

    fn check(&self) -> Result<MutexGuard<'_, KvState>, KvError> {
        let mut st = lock(&self.state);
        st.apply_due(self.clock.elapsed());
        if st.unavailable {
            return Err(KvError::Unavailable {
                url: "fake://kv".into(),
                reason: "connection refused".into(),
            });
        }
        Ok(st)
    }

    /// An atomic write of `writes`, not logged as a request of its own.
    fn apply_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        let mut st = self.check()?;
        if st.max_ops.is_some_and(|max| writes.len() > max) {
            return Err(KvError::Other(format!(
                "{} operations in one atomic write",
                writes.len()
            )));
        }
        st.atomic_writes += 1;
        st.revision += 1;
        let rev = st.revision;
        for w in writes {
            st.entries.insert(w.key.clone(), (w.value.clone(), rev));
        }
        let list: Vec<String> = writes
            .iter()
            .map(|w| format!("{}={}", w.key, w.value))
            .collect();
        self.journal
            .push(self.clock.elapsed(), format!("kv write {}", list.join(" ")));
        if st.down_after_writes == Some(st.atomic_writes) {
            st.unavailable = true;
        }
        if st.lose_answer_of == Some(st.atomic_writes) {
            return Err(KvError::Unavailable {
                url: "fake://kv".into(),
                reason: "connection reset by peer".into(),
            });
        }
        Ok(())
    }

    /// Deletes `key`, not logged as a request of its own.
    fn remove(&self, key: &str) -> Result<(), KvError> {
        self.check()?.entries.remove(key);
        self.journal
            .push(self.clock.elapsed(), format!("kv delete {key}"));
        Ok(())
    }
}

/// A lock whose loss a test decides (cancel `lost`, e.g. with [`ManualClock::cancel_at`]).
#[derive(Default)]
pub struct FakeLock {
    pub lost: CancellationToken,
}

#[async_trait]
impl LockGuard for FakeLock {
    async fn release(self: Box<Self>) -> Result<(), KvError> {
        Ok(())
    }

    fn is_held(&self) -> bool {
        !self.lost.is_cancelled()
    }

    fn fence(&self) -> Fence {
        Fence {
            lock_key: "fake-lock".into(),
            holder: "fake".into(),
        }
    }
}

#[async_trait]
impl Kv for FakeKv {
    fn describe(&self) -> String {
        "fake://kv".into()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        self.log(format!("get {key}"));
        Ok(self.check()?.entry(key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        self.log(format!("get_many {}", keys.len()));
        let st = self.check()?;
        Ok(keys.iter().map(|key| st.entry(key)).collect())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        self.log(format!("put {key}"));
        drop(self.check()?);
        self.journal
            .push(self.clock.elapsed(), format!("kv put {key}={value}"));
        self.set(key, value);
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError> {
        self.log(format!("cas {key}"));
        let current = self.check()?.entries.get(key).map(|(_, r)| *r);
        if current != expected {
            return Ok(false);
        }
        self.set(key, value);
        Ok(true)
    }

    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        self.log(format!("write {}", writes.len()));
        self.apply_atomic(writes)
    }

    fn max_atomic_ops(&self) -> usize {
        lock(&self.state).max_ops.unwrap_or(usize::MAX)
    }

    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError> {
        self.log(format!("write {}", changes.len()));
        {
            let st = self.check()?;
            if st
                .max_ops
                .is_some_and(|max| changes.len() + fences.len() > max)
            {
                return Err(KvError::Other(format!(
                    "{} operations in one atomic write",
                    changes.len() + fences.len()
                )));
            }
            if let Some(f) = fences.iter().find(|f| st.lost_locks.contains(&f.lock_key)) {
                let keys: Vec<&str> = changes.iter().map(KeyChange::key).collect();
                if !keys.is_empty() {
                    self.journal.push(
                        self.clock.elapsed(),
                        format!("kv write refused ({} lost): {}", f.lock_key, keys.join(" ")),
                    );
                }
                return Err(KvError::LockLost {
                    key: f.lock_key.clone(),
                });
            }
        }
        // Puts as one atomic write, as the stores do; deletes one by one (the journal reads
        // the same as unfenced calls).
        let puts: Vec<KeyWrite> = changes
            .iter()
            .filter_map(|c| match c {
                KeyChange::Put(w) => Some(w.clone()),
                KeyChange::Delete(_) => None,
            })
            .collect();
        if !puts.is_empty() {
            self.apply_atomic(&puts)?;
        }
        for c in changes {
            if let KeyChange::Delete(key) = c {
                self.remove(key)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.log(format!("delete {key}"));
        self.remove(key)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError> {
        let st = self.check()?;
        Ok(st
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, (v, r))| KvEntry {
                key: k.clone(),
                value: v.clone(),
                revision: *r,
            })
            .collect())
    }

    async fn lock(
        &self,
        _key: &str,
        _info: &LockInfo,
        _ttl: Duration,
    ) -> Result<LockOutcome, KvError> {
        drop(self.check()?);
        Ok(LockOutcome::Acquired(Box::<FakeLock>::default()))
    }

    async fn lock_holder(&self, _key: &str) -> Result<Option<LockInfo>, KvError> {
        Ok(None)
    }

    async fn break_lock(&self, _key: &str) -> Result<(), KvError> {
        Ok(())
    }

    async fn watch(
        &self,
        _keys: &[String],
        since: u64,
        _timeout: Duration,
    ) -> Result<u64, KvError> {
        Ok(since)
    }
}

/// Answers every probe the same way.
#[derive(Default)]
pub struct FakeProber {
    pub failure: Mutex<Option<String>>,
    pub calls: Mutex<usize>,
}

#[async_trait]
impl Prober for FakeProber {
    async fn probe(&self, _task: &TaskInfo, _probe: &HttpProbe) -> Result<(), String> {
        *lock(&self.calls) += 1;
        match lock(&self.failure).clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Answers metric reads from a script: the readings in order, then the last one again.
#[derive(Default)]
pub struct FakeMetrics {
    pub script: Mutex<std::collections::VecDeque<Result<crate::ports::Reading, String>>>,
    pub reads: Mutex<usize>,
}

impl FakeMetrics {
    pub fn answer(&self, readings: Vec<Result<crate::ports::Reading, String>>) {
        *lock(&self.script) = readings.into();
    }
}

#[async_trait]
impl crate::ports::MetricReader for FakeMetrics {
    async fn read(
        &self,
        _metric: &crate::spec::model::Metric,
        _target: &crate::ports::AnalysisTarget,
    ) -> Result<crate::ports::Reading, String> {
        *lock(&self.reads) += 1;
        let mut script = lock(&self.script);
        if script.len() > 1 {
            script
                .pop_front()
                .unwrap_or_else(|| Err("no reading".into()))
        } else {
            script
                .front()
                .cloned()
                .unwrap_or_else(|| Err("no reading".into()))
        }
    }
}

/// Keeps every event.
#[derive(Default)]
pub struct RecordingSink(Mutex<Vec<Event>>);

impl RecordingSink {
    pub fn events(&self) -> Vec<Event> {
        lock(&self.0).clone()
    }
}

impl EventSink for RecordingSink {
    fn emit(&self, event: &Event) {
        lock(&self.0).push(event.clone());
    }
}

/// Answers prompts from a script.
pub struct ScriptedDecider {
    pub interactive: bool,
    pub answers: Mutex<VecDeque<Decision>>,
    pub asked: Mutex<Vec<FailureReport>>,
}

impl ScriptedDecider {
    pub fn new(interactive: bool, answers: &[Decision]) -> ScriptedDecider {
        ScriptedDecider {
            interactive,
            answers: Mutex::new(answers.iter().copied().collect()),
            asked: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl FailureDecider for ScriptedDecider {
    fn interactive(&self) -> bool {
        self.interactive
    }

    async fn decide(&self, failure: &FailureReport) -> Decision {
        lock(&self.asked).push(failure.clone());
        lock(&self.answers)
            .pop_front()
            .unwrap_or(Decision::Rollback)
    }
}

//! The default store: keys kept as labels on the Swarm object itself.
//!
//! Each key `k` is the label `io.shipctl.kv.k` whose value is `{"v":"<value>","r":<rev>}`,
//! `rev` being the Swarm version index that the write was made against. Writes go through
//! `POST /swarm/update?version=<index>`, which Swarm refuses ("update out of sequence") when
//! anything changed the Swarm object since it was read: every write is an
//! inspect-check-modify-update loop, so compare-and-swap and multi-key writes are atomic. A
//! version index is used by at most one successful update, so per-key revisions are unique
//! and grow with every write.
//!
//! Any manager can read the keys: `docker swarm inspect` or `docker info`.
//!
//! Locks are keys holding the holder, a random token and an expiry time (Unix ms), taken by
//! compare-and-swap; an expired lock counts as free. Every time is the clock of the manager
//! shipctl talks to (`SystemTime` of `GET /info`), never the client's: deploys from machines
//! whose clocks disagree still agree on who holds a lock. The managers of one swarm must agree
//! to well within the lock TTL (Swarm's certificates already need that). A fenced write
//! checks, in the same version-indexed update, that the lock key still holds the writer's
//! token and has not expired. `GET /info` is slow (tens of ms, more on a busy engine), so the
//! manager's time is read at most every [`CLOCK_REFRESH`] and carried forward in between on
//! this process's monotonic clock; the estimate errs late by at most the time the read took.
//! A command starts from the reading its connection to the engine made ([`SwarmKv::set_clock`]).
//!
//! Writes made at the same time by one process (the lock renewals and progress records of
//! every service of a release) are committed together: one writer task applies every waiting
//! change to the same read of the labels, in the order they came, and sends one update. Each
//! change is decided on the labels as the changes before it left them, so the batch is the
//! same as those writes made one after the other, with no race lost to ourselves.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::UpdateSwarmOptions;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::guard::{BoxFut, RenewingGuard, unique_token};
use super::util::unknown_holder;
use crate::ports::{
    EngineClock, Fence, KeyChange, KeyWrite, Kv, KvEntry, KvError, LockInfo, LockOutcome,
};

/// Label prefix of every key.
pub const LABEL_PREFIX: &str = "io.shipctl.kv.";
/// Recently deleted keys and the revision of their delete, so watchers notice keys that
/// vanished: `{"keys":{"<key>":<rev>},"pruned":<rev>}`, bounded to [`DELETED_KEEP`] keys.
const DELETED_LABEL: &str = "io.shipctl.kv-deleted";
const DELETED_KEEP: usize = 64;
const MAX_ATTEMPTS: u32 = 200;
const POLL: Duration = Duration::from_millis(150);
/// How long the manager's time, once read, is carried forward before it is read again (a
/// manager whose clock is stepped is followed within this time).
const CLOCK_REFRESH: Duration = Duration::from_secs(5);

/// The Swarm backend.
#[derive(Clone)]
pub struct SwarmKv {
    docker: Docker,
    queue: Arc<WriteQueue>,
    /// The manager's time (Unix ms) as last read, and when the answer came.
    clock: Arc<Mutex<Option<(Instant, u64)>>>,
}

type Labels = HashMap<String, String>;

/// One change waiting for the next update: given the labels, the version index the update
/// will carry and the manager's clock (Unix ms, 0 unless asked for), it changes the labels
/// and says whether it needs them written (`Ok(false)`: nothing to write). A change that fails
/// must leave the labels as it found them. It may run again when the update loses a race.
type Change = Box<dyn FnMut(&mut Labels, u64, u64) -> Result<bool, KvError> + Send>;

struct Pending {
    change: Change,
    needs_clock: bool,
    done: oneshot::Sender<Result<(), KvError>>,
}

/// The changes of this process waiting for the writer, and whether a writer runs.
#[derive(Default)]
struct WriteQueue {
    pending: Mutex<Vec<Pending>>,
    writing: AtomicBool,
}

impl WriteQueue {
    fn take(&self) -> Vec<Pending> {
        // A panic while holding this lock cannot leave the Vec half-changed: keep using it.
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, p: Pending) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }

    fn is_empty(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// Marks the writer as gone when its task ends in any way, also when the runtime drops it,
/// so that the next write starts a new one.
struct WriterRunning(Arc<WriteQueue>, bool);

impl Drop for WriterRunning {
    fn drop(&mut self) {
        if self.1 {
            self.0.writing.store(false, Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for SwarmKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SwarmKv")
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    v: String,
    r: u64,
}

/// What a lock key holds on Swarm: who, until when, and a token naming this holding.
#[derive(Serialize, Deserialize)]
struct StoredLock {
    #[serde(flatten)]
    info: LockInfo,
    expires_unix_ms: u64,
    token: String,
}

/// What an update step decided.
enum Step<T> {
    /// Send the modified labels, then answer T.
    Write(T),
    /// Change nothing and answer T.
    Skip(T),
}

/// Unix milliseconds of an RFC 3339 time as Docker writes it (`2026-11-30T06:01:02.123456789Z`
/// or with an offset such as `+01:00`).
fn parse_engine_time(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (local, offset_secs) = match raw.strip_suffix('Z').or_else(|| raw.strip_suffix('z')) {
        Some(local) => (local, 0i64),
        None => {
            // The offset is the last `+hh:mm` or `-hh:mm` after the time part.
            let time_start = raw.find('T').or_else(|| raw.find(' '))?;
            let at = raw[time_start..].rfind(['+', '-'])? + time_start;
            let (local, offset) = raw.split_at(at);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':')?;
            let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
            (local, sign * secs)
        }
    };
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let ms = t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64;
    u64::try_from(ms - offset_secs * 1000).ok()
}

fn decode(key: &str, raw: &str) -> Option<KvEntry> {
    let s: Stored = serde_json::from_str(raw).ok()?;
    Some(KvEntry {
        key: key.to_string(),
        value: s.v,
        revision: s.r,
    })
}

fn encode(value: &str, rev: u64) -> String {
    serde_json::json!({"v": value, "r": rev}).to_string()
}

fn label(key: &str) -> String {
    format!("{LABEL_PREFIX}{key}")
}

#[derive(Serialize, Deserialize, Default)]
struct Deleted {
    keys: HashMap<String, u64>,
    /// The newest revision forgotten to keep the label small.
    pruned: u64,
}

impl Deleted {
    fn read(labels: &HashMap<String, String>) -> Deleted {
        labels
            .get(DELETED_LABEL)
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or_default()
    }

    /// Removes `key` and records the delete at `index`.
    fn remove(labels: &mut HashMap<String, String>, key: &str, index: u64) {
        labels.remove(&label(key));
        let mut d = Deleted::read(labels);
        d.keys.insert(key.to_string(), index);
        while d.keys.len() > DELETED_KEEP {
            let Some((oldest, rev)) = d
                .keys
                .iter()
                .min_by_key(|(_, r)| **r)
                .map(|(k, r)| (k.clone(), *r))
            else {
                break;
            };
            d.keys.remove(&oldest);
            d.pruned = d.pruned.max(rev);
        }
        if let Ok(raw) = serde_json::to_string(&d) {
            labels.insert(DELETED_LABEL.to_string(), raw);
        }
    }

    /// Whether one of `keys` may have been deleted at or after `since`.
    fn since(&self, keys: &[String], since: u64) -> bool {
        self.pruned >= since
            || keys
                .iter()
                .any(|k| self.keys.get(k).is_some_and(|r| *r >= since))
    }
}

/// Tells every change of a batch how it ended: its own error, or `write_failed` when the
/// update that carried it failed (a change that wrote nothing still stands).
fn answer(
    batch: Vec<Pending>,
    results: Vec<Result<bool, KvError>>,
    write_failed: Option<&KvError>,
) {
    for (p, r) in batch.into_iter().zip(results) {
        let r = match (r, write_failed) {
            (Ok(true), Some(e)) => Err(e.clone()),
            (r, _) => r.map(|_| ()),
        };
        // The caller may have stopped waiting (a cancelled deploy): nothing to tell then.
        let _ = p.done.send(r);
    }
}

fn answer_all(batch: Vec<Pending>, e: &KvError) {
    for p in batch {
        let _ = p.done.send(Err(e.clone()));
    }
}

impl SwarmKv {
    pub fn new(docker: Docker) -> SwarmKv {
        SwarmKv {
            docker,
            queue: Arc::default(),
            clock: Arc::default(),
        }
    }

    fn error(&self, e: bollard::errors::Error) -> KvError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code,
                message,
            } => {
                if status_code == 503 || message.contains("not a swarm manager") {
                    KvError::Unavailable {
                        url: self.describe(),
                        reason: format!(
                            "{message} (the swarm:// store needs a Swarm manager: run `docker swarm init` or point DOCKER_HOST at a manager)"
                        ),
                    }
                } else if status_code == 401 || status_code == 403 {
                    KvError::Denied {
                        url: self.describe(),
                        reason: message,
                    }
                } else {
                    KvError::Other(format!("Docker answered {status_code}: {message}"))
                }
            }
            E::JsonDataError { .. } | E::JsonSerdeError { .. } => {
                KvError::Other(format!("unreadable answer from Docker: {e}"))
            }
            other => KvError::Unavailable {
                url: self.describe(),
                reason: other.to_string(),
            },
        }
    }

    /// Starts the manager's clock from a reading made elsewhere (when connecting); an
    /// unreadable one is left for [`Self::manager_now_ms`] to read again.
    pub fn set_clock(&self, clock: &EngineClock) {
        if let Some(ms) = parse_engine_time(&clock.system_time) {
            *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some((clock.answered, ms));
        }
    }

    /// Now, by the clock of the manager we talk to, in Unix milliseconds.
    async fn manager_now_ms(&self) -> Result<u64, KvError> {
        let last = *self.clock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, ms)) = last
            && at.elapsed() < CLOCK_REFRESH
        {
            return Ok(ms + at.elapsed().as_millis() as u64);
        }
        let info = self.docker.info().await.map_err(|e| self.error(e))?;
        // Paired with the moment the answer came: the manager read its clock before that, so
        // the estimate is never ahead of it.
        let answered = Instant::now();
        let raw = info.system_time.unwrap_or_default();
        let ms = parse_engine_time(&raw).ok_or_else(|| {
            KvError::Other(format!(
                "the Docker engine reported an unreadable time {raw:?}; locks need it"
            ))
        })?;
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some((answered, ms));
        Ok(ms)
    }

    /// The Swarm labels and version index.
    async fn read(&self) -> Result<(HashMap<String, String>, u64), KvError> {
        let swarm = self
            .docker
            .inspect_swarm()
            .await
            .map_err(|e| self.error(e))?;
        let index = swarm.version.and_then(|v| v.index).unwrap_or(0);
        let labels = swarm.spec.and_then(|s| s.labels).unwrap_or_default();
        Ok((labels, index))
    }

    /// Lets `step` change the labels (given the version index the write will carry and, when
    /// `needs_clock`, the manager's time in Unix ms) and writes them, together with every other
    /// change of this process waiting at the same time; again from a fresh read whenever
    /// someone else updated the Swarm object in between.
    async fn update<T: Send + 'static>(
        &self,
        needs_clock: bool,
        mut step: impl FnMut(&mut Labels, u64, u64) -> Result<Step<T>, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let answer = Arc::new(Mutex::new(None));
        let slot = answer.clone();
        let change: Change = Box::new(move |labels, index, now| {
            let (t, write) = match step(labels, index, now)? {
                Step::Write(t) => (t, true),
                Step::Skip(t) => (t, false),
            };
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            Ok(write)
        });
        let (done, result) = oneshot::channel();
        self.queue.push(Pending {
            change,
            needs_clock,
            done,
        });
        self.start_writer();
        match result.await {
            Ok(Ok(())) => answer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or_else(|| KvError::Other("a Swarm label write gave no answer".into())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(KvError::Other(
                "the write to the Swarm object was interrupted; it may or may not have been made"
                    .into(),
            )),
        }
    }

    /// Starts the writer task unless one runs.
    fn start_writer(&self) {
        if self.queue.writing.swap(true, Ordering::SeqCst) {
            return;
        }
        let kv = self.clone();
        tokio::spawn(async move {
            let mut running = WriterRunning(kv.queue.clone(), true);
            loop {
                let batch = kv.queue.take();
                if batch.is_empty() {
                    kv.queue.writing.store(false, Ordering::SeqCst);
                    // A change queued after the take saw a writer running and started none.
                    if kv.queue.is_empty() || kv.queue.writing.swap(true, Ordering::SeqCst) {
                        running.1 = false;
                        return;
                    }
                    continue;
                }
                kv.write_batch(batch).await;
            }
        });
    }

    /// Applies `batch` in order to one read of the labels and writes them in one update.
    async fn write_batch(&self, mut batch: Vec<Pending>) {
        let needs_clock = batch.iter().any(|p| p.needs_clock);
        for attempt in 0..MAX_ATTEMPTS {
            let read = async {
                let now = if needs_clock {
                    self.manager_now_ms().await?
                } else {
                    0
                };
                let swarm = self
                    .docker
                    .inspect_swarm()
                    .await
                    .map_err(|e| self.error(e))?;
                Ok::<_, KvError>((now, swarm))
            };
            let (now, swarm) = match read.await {
                Ok(read) => read,
                Err(e) => return answer_all(batch, &e),
            };
            let index = swarm.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let mut spec = swarm.spec.unwrap_or_default();
            let mut labels = spec.labels.take().unwrap_or_default();
            let results: Vec<Result<bool, KvError>> = batch
                .iter_mut()
                .map(|p| (p.change)(&mut labels, index, now))
                .collect();
            if !results.iter().any(|r| matches!(r, Ok(true))) {
                return answer(batch, results, None);
            }
            spec.labels = Some(labels);
            let Ok(version) = i64::try_from(index) else {
                let e = KvError::Other(format!("Swarm version index {index} too large"));
                return answer_all(batch, &e);
            };
            let options = UpdateSwarmOptions {
                version,
                rotate_worker_token: false,
                rotate_manager_token: false,
                rotate_manager_unlock_key: false,
            };
            match self.docker.update_swarm(spec, options).await {
                Ok(()) => return answer(batch, results, None),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("update out of sequence") =>
                {
                    // Lost a race to another process: back off a little (spread by a cheap
                    // jitter) and redo every change on a fresh read.
                    let jitter = (unique_token().as_bytes()[0] as u64) % 20;
                    let pause = 2 + jitter + u64::from(attempt.min(20));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => {
                    let e = self.error(e);
                    return answer(batch, results, Some(&e));
                }
            }
        }
        let e = KvError::Other(format!(
            "the Swarm object kept changing: gave up after {MAX_ATTEMPTS} attempts"
        ));
        answer_all(batch, &e);
    }

    /// Forgets the deletes of keys under `prefix` (kept so that watchers notice them): for
    /// tests and tools that remove a whole namespace and leave nothing behind.
    pub async fn forget_deletes(&self, prefix: &str) -> Result<(), KvError> {
        let prefix = prefix.to_string();
        self.update(false, move |labels, _, _| {
            let mut d = Deleted::read(labels);
            let before = d.keys.len();
            d.keys.retain(|k, _| !k.starts_with(&prefix));
            if d.keys.len() == before {
                return Ok(Step::Skip(()));
            }
            if d.keys.is_empty() && d.pruned == 0 {
                labels.remove(DELETED_LABEL);
            } else if let Ok(raw) = serde_json::to_string(&d) {
                labels.insert(DELETED_LABEL.to_string(), raw);
            }
            Ok(Step::Write(()))
        })
        .await
    }

    async fn lock_entry(&self, key: &str) -> Result<Option<(KvEntry, StoredLock)>, KvError> {
        let Some(e) = self.get(key).await? else {
            return Ok(None);
        };
        let lock = match serde_json::from_str::<StoredLock>(&e.value) {
            Ok(l) => l,
            // Not written by a lock: treat it as held for good so that nothing overwrites it.
            Err(_) => StoredLock {
                info: unknown_holder(&e.value),
                expires_unix_ms: u64::MAX,
                token: String::new(),
            },
        };
        Ok(Some((e, lock)))
    }
}

#[async_trait]
impl Kv for SwarmKv {
    fn describe(&self) -> String {
        "swarm:// (labels on the Swarm object)".to_string()
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        let (labels, _) = self.read().await?;
        Ok(labels.get(&label(key)).and_then(|raw| decode(key, raw)))
    }

    /// Every key lives on the one Swarm object: one read answers them all, at one instant.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KvEntry>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (labels, _) = self.read().await?;
        Ok(keys
            .iter()
            .map(|key| labels.get(&label(key)).and_then(|raw| decode(key, raw)))
            .collect())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.update(false, move |labels, index, _| {
            labels.insert(label(&key), encode(&value, index));
            Ok(Step::Write(()))
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &str,
    ) -> Result<bool, KvError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.update(false, move |labels, index, _| {
            let current = labels.get(&label(&key)).and_then(|raw| decode(&key, raw));
            if current.map(|e| e.revision) != expected {
                return Ok(Step::Skip(false));
            }
            labels.insert(label(&key), encode(&value, index));
            Ok(Step::Write(true))
        })
        .await
    }

    async fn write_atomic(&self, writes: &[KeyWrite]) -> Result<(), KvError> {
        let changes: Vec<KeyChange> = writes.iter().cloned().map(KeyChange::Put).collect();
        self.write_fenced(&changes, &[]).await
    }

    async fn write_fenced(&self, changes: &[KeyChange], fences: &[Fence]) -> Result<(), KvError> {
        if changes.is_empty() && fences.is_empty() {
            return Ok(());
        }
        let (changes, fences) = (changes.to_vec(), fences.to_vec());
        self.update(!fences.is_empty(), move |labels, index, now| {
            for f in &fences {
                let held = labels
                    .get(&label(&f.lock_key))
                    .and_then(|raw| decode(&f.lock_key, raw))
                    .and_then(|e| serde_json::from_str::<StoredLock>(&e.value).ok())
                    .is_some_and(|l| l.token == f.holder && l.expires_unix_ms > now);
                if !held {
                    return Err(KvError::LockLost {
                        key: f.lock_key.clone(),
                    });
                }
            }
            if changes.is_empty() {
                return Ok(Step::Skip(()));
            }
            for c in &changes {
                match c {
                    KeyChange::Put(w) => {
                        labels.insert(label(&w.key), encode(&w.value, index));
                    }
                    KeyChange::Delete(key) => {
                        if labels.contains_key(&label(key)) {
                            Deleted::remove(labels, key, index);
                        }
                    }
                }
            }
            Ok(Step::Write(()))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        let key = key.to_string();
        self.update(false, move |labels, index, _| {
            if !labels.contains_key(&label(&key)) {
                return Ok(Step::Skip(()));
            }
            Deleted::remove(labels, &key, index);
            Ok(Step::Write(()))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KvEntry>, KvError> {
        let (labels, _) = self.read().await?;
        let mut out: Vec<KvEntry> = labels
            .iter()
            .filter_map(|(l, raw)| {
                let key = l.strip_prefix(LABEL_PREFIX)?;
                if !key.starts_with(prefix) {
                    return None;
                }
                decode(key, raw)
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn lock(
        &self,
        key: &str,
        info: &LockInfo,
        ttl: Duration,
    ) -> Result<LockOutcome, KvError> {
        let ttl = ttl.max(Duration::from_secs(1));
        let token = unique_token();
        let fence_token = token.clone();
        let value = {
            let (info, token) = (info.clone(), token.clone());
            move |expires: u64| {
                serde_json::to_string(&StoredLock {
                    info: info.clone(),
                    expires_unix_ms: expires,
                    token: token.clone(),
                })
                .map_err(|e| KvError::Other(format!("cannot encode lock info: {e}")))
            }
        };
        let lock_key = key.to_string();
        let taken = self
            .update(true, move |labels, index, now| {
                let key = lock_key.as_str();
                if let Some(raw) = labels.get(&label(key)) {
                    let held = decode(key, raw).map(|e| {
                        serde_json::from_str::<StoredLock>(&e.value).unwrap_or(StoredLock {
                            info: unknown_holder(&e.value),
                            expires_unix_ms: u64::MAX,
                            token: String::new(),
                        })
                    });
                    if let Some(l) = held.filter(|l| l.expires_unix_ms > now) {
                        return Ok(Step::Skip(Some(l.info)));
                    }
                }
                let expires = now + ttl.as_millis() as u64;
                labels.insert(label(key), encode(&value(expires)?, index));
                Ok(Step::Write(None))
            })
            .await?;
        if let Some(holder) = taken {
            return Ok(LockOutcome::Held(holder));
        }
        let kv = self.clone();
        let renew_key = key.to_string();
        let renew_token = token.clone();
        let renew_info = info.clone();
        let renew = Box::new(move || {
            let kv = kv.clone();
            let key = renew_key.clone();
            let token = renew_token.clone();
            let info = renew_info.clone();
            Box::pin(async move {
                kv.update(true, move |labels, index, now| {
                    let ours = labels
                        .get(&label(&key))
                        .and_then(|raw| decode(&key, raw))
                        .and_then(|e| serde_json::from_str::<StoredLock>(&e.value).ok())
                        .is_some_and(|l| l.token == token);
                    if !ours {
                        return Ok(Step::Skip(false));
                    }
                    let value = serde_json::to_string(&StoredLock {
                        info: info.clone(),
                        expires_unix_ms: now + ttl.as_millis() as u64,
                        token: token.clone(),
                    })
                    .map_err(|e| KvError::Other(format!("cannot encode lock info: {e}")))?;
                    labels.insert(label(&key), encode(&value, index));
                    Ok(Step::Write(true))
                })
                .await
            }) as BoxFut<Result<bool, KvError>>
        });
        let kv = self.clone();
        let release_key = key.to_string();
        let release = Box::new(move || {
            Box::pin(async move {
                kv.update(false, move |labels, index, _| {
                    let ours = labels
                        .get(&label(&release_key))
                        .and_then(|raw| decode(&release_key, raw))
                        .and_then(|e| serde_json::from_str::<StoredLock>(&e.value).ok())
                        .is_some_and(|l| l.token == token);
                    if !ours {
                        return Ok(Step::Skip(()));
                    }
                    Deleted::remove(labels, &release_key, index);
                    Ok(Step::Write(()))
                })
                .await
            }) as BoxFut<Result<(), KvError>>
        });
        let fence = Fence {
            lock_key: key.to_string(),
            holder: fence_token,
        };
        Ok(LockOutcome::Acquired(Box::new(RenewingGuard::spawn(
            ttl, fence, renew, release,
        ))))
    }

    async fn lock_holder(&self, key: &str) -> Result<Option<LockInfo>, KvError> {
        let now = self.manager_now_ms().await?;
        Ok(self
            .lock_entry(key)
            .await?
            .filter(|(_, l)| l.expires_unix_ms > now)
            .map(|(_, l)| l.info))
    }

    async fn break_lock(&self, key: &str) -> Result<(), KvError> {
        self.delete(key).await
    }

    async fn watch(&self, keys: &[String], since: u64, timeout: Duration) -> Result<u64, KvError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (labels, index) = self.read().await?;
            if since == 0 {
                return Ok(index.max(1));
            }
            // A write made after we answered `index` carries a revision >= index.
            let changed = keys.iter().any(|k| {
                labels
                    .get(&label(k))
                    .and_then(|raw| decode(k, raw))
                    .is_some_and(|e| e.revision >= since)
            }) || Deleted::read(&labels).since(keys, since);
            if changed || index < since {
                return Ok(index.max(1));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(since);
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn deletes_are_remembered_for_watchers() {
        let mut labels = HashMap::new();
        labels.insert(label("a"), encode("1", 5));
        Deleted::remove(&mut labels, "a", 7);
        assert!(!labels.contains_key(&label("a")));
        let d = Deleted::read(&labels);
        assert!(d.since(&watched(&["a"]), 7));
        assert!(d.since(&watched(&["b", "a"]), 3));
        assert!(!d.since(&watched(&["a"]), 8), "older than the watch");
        assert!(!d.since(&watched(&["b"]), 1), "another key");
    }

    #[test]
    fn forgotten_deletes_still_wake_watchers() {
        let mut labels = HashMap::new();
        for i in 0..(DELETED_KEEP as u64 + 3) {
            Deleted::remove(&mut labels, &format!("k{i}"), 10 + i);
        }
        let d = Deleted::read(&labels);
        assert_eq!(d.keys.len(), DELETED_KEEP);
        assert_eq!(d.pruned, 12, "the three oldest were pruned");
        // A watch that started before the pruned deletes cannot tell: it wakes.
        assert!(d.since(&watched(&["unrelated"]), 12));
        assert!(!d.since(&watched(&["unrelated"]), 13));
    }

    #[test]
    fn engine_times_are_read_with_their_offset() {
        let utc = parse_engine_time("2026-11-30T06:01:02.123456789Z");
        assert_eq!(utc, Some(1_796_018_462_123));
        assert_eq!(
            parse_engine_time("2026-11-30T07:01:02.123456789+01:00"),
            utc
        );
        assert_eq!(parse_engine_time("2026-11-30T01:01:02.123-05:00"), utc);
        assert_eq!(
            parse_engine_time("2026-11-30T06:01:02Z"),
            Some(1_796_018_462_000)
        );
        assert_eq!(parse_engine_time("yesterday"), None);
        assert_eq!(parse_engine_time(""), None);
    }

    #[tokio::test]
    async fn a_clock_read_when_connecting_spares_the_first_read() {
        // Nothing listens on port 1: any request fails.
        let docker =
            Docker::connect_with_http("tcp://127.0.0.1:1", 5, bollard::API_DEFAULT_VERSION)
                .expect("a client is made without connecting");
        let store = SwarmKv::new(docker);
        assert!(store.manager_now_ms().await.is_err());
        store.set_clock(&EngineClock {
            system_time: "2026-11-30T06:01:02.123456789Z".into(),
            answered: Instant::now(),
        });
        let now = store.manager_now_ms().await.expect("the reading serves");
        assert!(
            (1_796_018_462_123..1_796_018_472_123).contains(&now),
            "{now}"
        );
        // An unreadable time is no reading: the next one still asks the engine.
        let store = SwarmKv::new(store.docker.clone());
        store.set_clock(&EngineClock {
            system_time: "yesterday".into(),
            answered: Instant::now(),
        });
        assert!(store.manager_now_ms().await.is_err());
    }

    #[test]
    fn stored_values_round_trip() {
        let raw = encode("{\"json\": true}", 42);
        assert_eq!(
            decode("k", &raw),
            Some(KvEntry {
                key: "k".into(),
                value: "{\"json\": true}".into(),
                revision: 42
            })
        );
        assert_eq!(decode("k", "not json"), None);
    }
}

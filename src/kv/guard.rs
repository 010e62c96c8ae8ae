//! A held lock kept alive by a background renewal task; shared by every backend.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::ports::{Fence, KvError, LockGuard};

pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One renewal: `Ok(true)` = still ours, `Ok(false)` = lost for good, `Err` = try again.
pub(crate) type RenewFn = Box<dyn Fn() -> BoxFut<Result<bool, KvError>> + Send + Sync>;
pub(crate) type ReleaseFn = Box<dyn FnOnce() -> BoxFut<Result<(), KvError>> + Send + Sync>;

/// Renews every `ttl / 3` until released or dropped.
///
/// The renewals of every lock of a process with the same TTL fall on the same instants (ticks
/// counted from one start), so that a store that can take several in one write (Swarm labels)
/// gets them together: a release of many services renews all its locks at once.
///
/// Dropping the guard stops the renewals without releasing: the lock then expires after its
/// TTL, exactly as if the process had been killed. Call `release` for a clean end.
pub(crate) struct RenewingGuard {
    held: Arc<AtomicBool>,
    task: JoinHandle<()>,
    release: Option<ReleaseFn>,
    fence: Fence,
}

impl RenewingGuard {
    pub(crate) fn spawn(
        ttl: Duration,
        fence: Fence,
        renew: RenewFn,
        release: ReleaseFn,
    ) -> RenewingGuard {
        let held = Arc::new(AtomicBool::new(true));
        let flag = held.clone();
        let period = (ttl / 3).max(Duration::from_millis(100));
        let task = tokio::spawn(async move {
            let mut last_ok = Instant::now();
            loop {
                tokio::time::sleep_until(next_tick(Instant::now(), period).into()).await;
                match renew().await {
                    Ok(true) => last_ok = Instant::now(),
                    Ok(false) => break,
                    // A transient failure: the store may still hold the lock for us until
                    // the TTL runs out, so keep trying until then.
                    Err(e) => {
                        tracing::warn!("lock renewal failed: {e}");
                        if last_ok.elapsed() >= ttl {
                            break;
                        }
                    }
                }
            }
            flag.store(false, Ordering::SeqCst);
        });
        RenewingGuard {
            held,
            task,
            release: Some(release),
            fence,
        }
    }
}

#[async_trait]
impl LockGuard for RenewingGuard {
    async fn release(mut self: Box<Self>) -> Result<(), KvError> {
        self.task.abort();
        self.held.store(false, Ordering::SeqCst);
        match self.release.take() {
            Some(release) => release().await,
            None => Ok(()),
        }
    }

    fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) && !self.task.is_finished()
    }

    fn fence(&self) -> Fence {
        self.fence.clone()
    }
}

impl Drop for RenewingGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The first tick after `now` of a clock that ticks every `period` from the process's first
/// lock; never sooner than half a period, so that a lock just taken is not renewed at once.
fn next_tick(now: Instant, period: Duration) -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    tick_after(*START.get_or_init(|| now), now, period)
}

fn tick_after(start: Instant, now: Instant, period: Duration) -> Instant {
    let period_ns = period.as_nanos().max(1);
    let since = now.saturating_duration_since(start).as_nanos();
    let mut tick = start + Duration::from_nanos(((since / period_ns + 1) * period_ns) as u64);
    if tick - now < period / 2 {
        tick += period;
    }
    tick
}

/// A token that names one lock holder (not a secret; only has to be unique).
pub(crate) fn unique_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    format!("{:016x}{:08x}", h.finish(), std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_of_locks_taken_apart_fall_on_the_same_ticks() {
        let start = Instant::now();
        let period = Duration::from_secs(3);
        let a = tick_after(start, start + Duration::from_millis(100), period);
        let b = tick_after(start, start + Duration::from_millis(1_400), period);
        assert_eq!(a, b, "both renew at the first tick");
        assert_eq!(a, start + period);
        // Taken just before a tick: renewed at the next one, not at once.
        let c = tick_after(start, start + Duration::from_millis(2_900), period);
        assert_eq!(c, start + period * 2);
        // Well within the TTL (3 periods) either way.
        for taken_ms in [0u64, 1, 1_499, 1_500, 2_999, 3_000, 10_000] {
            let now = start + Duration::from_millis(taken_ms);
            let wait = tick_after(start, now, period) - now;
            assert!(
                wait >= period / 2 && wait <= period * 3 / 2,
                "{taken_ms}: {wait:?}"
            );
        }
    }
}

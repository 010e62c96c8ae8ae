//! Time, behind a trait so that tests run hours of deploy in milliseconds.

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    /// Monotonic time, for deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time, to compare with task timestamps.
    fn wall(&self) -> SystemTime;
    async fn sleep(&self, duration: Duration);
}

/// The real clock (tokio timers, so tokio's paused time works in tests too).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

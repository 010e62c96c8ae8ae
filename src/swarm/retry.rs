//! Pauses between attempts: when the engine answers "later" and when an optimistic update lost
//! a race with another writer.

use std::time::Duration;

/// How often a request is sent while the engine answers "later" (429 or 503).
pub(super) const BUSY_ATTEMPTS: u32 = 5;

/// A growing pause between attempts (50 ms, 100 ms, ... up to 1.6 s), each cut to a random
/// share between half and all of it, so that racing writers do not retry in step.
pub(super) fn backoff_delay(attempt: u32, random: u64) -> Duration {
    let full = 50u64 << attempt.min(5);
    let half = full / 2;
    Duration::from_millis(half + random % (half + 1))
}

pub(super) async fn backoff(attempt: u32) {
    tokio::time::sleep(backoff_delay(attempt, random())).await;
}

/// A random number from the standard library's randomly keyed hasher (no crate needed for
/// jitter).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Answers that mean "later": a rate limit (429), or an engine or manager that is busy or
/// between leaders (503).
pub(super) fn is_busy_status(status: Option<u16>) -> bool {
    matches!(status, Some(429 | 503))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_bounded() {
        // Between half and all of 50 ms, 100 ms, ... 1.6 s, whatever the random number.
        for random in [0, 1, 17, u64::MAX] {
            for attempt in 0..10 {
                let full = 50u64 << attempt.min(5);
                let d = backoff_delay(attempt, random).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
        assert_ne!(backoff_delay(3, 0), backoff_delay(3, 101), "no jitter");
        assert!(is_busy_status(Some(429)) && is_busy_status(Some(503)));
        assert!(!is_busy_status(Some(500)) && !is_busy_status(None));
    }
}

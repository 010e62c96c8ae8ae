//! Who takes the deploy lock, and waiting for it.

use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::ports::{Kv, KvError, LockInfo, LockOutcome};

impl LockInfo {
    /// The current user, host and process, taken now.
    pub fn current(message: Option<String>) -> LockInfo {
        LockInfo {
            owner: current_user(),
            host: current_host(),
            pid: std::process::id(),
            since: format_rfc3339(SystemTime::now()),
            message,
        }
    }
}

/// RFC 3339 in UTC with seconds, e.g. `2026-11-21T21:52:01Z`.
pub fn format_rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn current_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The login name of our uid, for environments without USER (CI runners, cron, containers).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid)
        .map(|f| f[0].to_string())
        .or(Some(format!("uid {uid}")))
}

pub(crate) fn current_host() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty());
    from_kernel
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Takes `key`, retrying until `wait` has passed (`None` = one attempt). Returns the last
/// holder seen when it stays taken, or at once when `cancel` fires while waiting (the caller
/// tells the two apart by the token).
///
/// While the lock is taken it only reads the holder (cheap on every store; a Consul attempt
/// creates a session) and tries again once the lock looks free.
pub async fn acquire_lock(
    kv: &dyn Kv,
    key: &str,
    info: &LockInfo,
    ttl: Duration,
    wait: Option<Duration>,
    cancel: Option<&CancellationToken>,
) -> Result<LockOutcome, KvError> {
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        let mut holder = match kv.lock(key, info, ttl).await? {
            LockOutcome::Acquired(g) => return Ok(LockOutcome::Acquired(g)),
            LockOutcome::Held(holder) => holder,
        };
        loop {
            let now = Instant::now();
            let Some(d) = deadline.filter(|d| now < *d) else {
                return Ok(LockOutcome::Held(holder));
            };
            let pause = tokio::time::sleep((d - now).min(POLL));
            match cancel {
                Some(token) => tokio::select! {
                    () = token.cancelled() => return Ok(LockOutcome::Held(holder)),
                    () = pause => {}
                },
                None => pause.await,
            }
            match kv.lock_holder(key).await? {
                Some(h) => holder = h,
                None => break,
            }
        }
    }
}

/// How often a waiting deploy looks at the lock again.
const POLL: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(format_rfc3339(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn user_falls_back_to_the_uid() {
        let user = user_from_uid().unwrap_or_default();
        assert!(!user.is_empty());
    }

    #[test]
    fn current_fills_every_field() {
        let info = LockInfo::current(Some("deploy web".into()));
        assert!(!info.owner.is_empty());
        assert!(!info.host.is_empty());
        assert_eq!(info.pid, std::process::id());
        assert!(info.since.ends_with('Z'));
    }
}

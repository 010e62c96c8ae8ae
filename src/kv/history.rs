//! The deploy history kept under one key as a JSON array (last N records).

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lock::{current_host, format_rfc3339};
use crate::ports::{Action, HistoryRecord, Kv, KvError, LockInfo, ReleaseRecord, RunResult};
use crate::spec::Strategy;

impl HistoryRecord {
    /// A record stamped with now, this user and host, and the CI job from `env`.
    pub fn now(
        env: &HashMap<String, String>,
        service: &str,
        strategy: Strategy,
        action: Action,
        result: RunResult,
    ) -> HistoryRecord {
        let me = LockInfo::current(None);
        HistoryRecord {
            time: format_rfc3339(SystemTime::now()),
            user: me.owner,
            host: current_host(),
            ci_job: ci_job_url(env),
            service: service.to_string(),
            strategy,
            action,
            from_zone: None,
            to_zone: None,
            from_version: None,
            to_version: None,
            result,
            duration_secs: 0.0,
            timeline: None,
        }
    }
}

/// The URL of the CI job running us: GitHub Actions, GitLab CI or Jenkins.
pub fn ci_job_url(env: &HashMap<String, String>) -> Option<String> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        get("GITHUB_SERVER_URL"),
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
    ) {
        return Some(format!(
            "{}/{}/actions/runs/{}",
            server.trim_end_matches('/'),
            repo,
            run
        ));
    }
    get("CI_JOB_URL").or_else(|| get("BUILD_URL")).cloned()
}

/// The records under `key`, oldest first (none when the key is missing).
pub async fn read_history(kv: &dyn Kv, key: &str) -> Result<Vec<HistoryRecord>, KvError> {
    read_records(kv, key).await
}

/// Appends `record` and keeps the last `limit`, with compare-and-swap so concurrent deploys
/// of other services sharing the key lose nothing.
pub async fn append_history(
    kv: &dyn Kv,
    key: &str,
    record: &HistoryRecord,
    limit: usize,
) -> Result<(), KvError> {
    add_record(kv, key, record, limit, End::Last, |records| {
        // Timelines are for looking at recent runs; the older records keep their summary, so
        // the key stays well within what every store accepts for one value.
        let keep_from = records.len().saturating_sub(TIMELINES_KEPT);
        for old in &mut records[..keep_from] {
            old.timeline = None;
        }
    })
    .await
}

/// How many of the newest records keep their timeline.
pub const TIMELINES_KEPT: usize = 10;

/// The release records under `key`, newest first (none when the key is missing).
pub async fn read_releases(kv: &dyn Kv, key: &str) -> Result<Vec<ReleaseRecord>, KvError> {
    read_records(kv, key).await
}

/// Puts `record` first and keeps the newest `limit`, with compare-and-swap as
/// [`append_history`] does.
pub async fn add_release(
    kv: &dyn Kv,
    key: &str,
    record: &ReleaseRecord,
    limit: usize,
) -> Result<(), KvError> {
    add_record(kv, key, record, limit, End::First, |_| {}).await
}

/// A new release id: the UTC time to the second and four random hex digits
/// (`20261130-084512-3f2a`), so ids sort by time and two runs in one second still differ.
pub fn new_release_id(at: SystemTime) -> String {
    // `2026-11-30T08:45:12Z` -> `20261130-084512`
    let stamp: String = format_rfc3339(at)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| if c == 'T' { '-' } else { c })
        .filter(|c| *c != 'Z')
        .collect();
    let token = super::guard::unique_token();
    format!("{stamp}-{}", &token[..4])
}

impl ReleaseRecord {
    /// A record stamped with now, this user and host, and the CI job from `env`.
    pub fn now(
        env: &HashMap<String, String>,
        id: &str,
        action: Action,
        result: RunResult,
    ) -> ReleaseRecord {
        let me = LockInfo::current(None);
        ReleaseRecord {
            id: id.to_string(),
            time: format_rfc3339(SystemTime::now()),
            user: me.owner,
            host: current_host(),
            ci_job: ci_job_url(env),
            action,
            result,
            duration_secs: 0.0,
            services: Vec::new(),
            failure: None,
        }
    }
}

async fn read_records<T: DeserializeOwned>(kv: &dyn Kv, key: &str) -> Result<Vec<T>, KvError> {
    match kv.get(key).await? {
        Some(e) => parse(key, &e.value),
        None => Ok(Vec::new()),
    }
}

fn parse<T: DeserializeOwned>(key: &str, value: &str) -> Result<Vec<T>, KvError> {
    serde_json::from_str(value)
        .map_err(|e| KvError::Other(format!("history key {key} holds no valid history: {e}")))
}

/// Which end of the list a new record goes to; the other end is trimmed.
#[derive(Clone, Copy)]
enum End {
    First,
    Last,
}

/// Adds `record` to the JSON array under `key` and keeps `limit` records, retrying the
/// compare-and-swap while other writers get in between.
async fn add_record<T: Serialize + DeserializeOwned + Clone>(
    kv: &dyn Kv,
    key: &str,
    record: &T,
    limit: usize,
    end: End,
    prune: impl Fn(&mut [T]),
) -> Result<(), KvError> {
    const ATTEMPTS: usize = 50;
    let limit = limit.max(1);
    for attempt in 0..ATTEMPTS {
        let current = kv.get(key).await?;
        let mut records: Vec<T> = match &current {
            Some(e) => parse(key, &e.value)?,
            None => Vec::new(),
        };
        match end {
            End::Last => {
                records.push(record.clone());
                let excess = records.len().saturating_sub(limit);
                records.drain(..excess);
            }
            End::First => {
                records.insert(0, record.clone());
                records.truncate(limit);
            }
        }
        prune(&mut records);
        let value = serde_json::to_string(&records)
            .map_err(|e| KvError::Other(format!("cannot encode history: {e}")))?;
        if kv
            .compare_and_swap(key, current.map(|e| e.revision), &value)
            .await?
        {
            return Ok(());
        }
        // Spread the retries of racing writers.
        let pause = 10 + (attempt as u64 * 7) % 50;
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }
    Err(KvError::Conflict {
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_job_urls() {
        let mut env = HashMap::new();
        assert_eq!(ci_job_url(&env), None);
        env.insert("BUILD_URL".into(), "https://jenkins/job/1/".into());
        assert_eq!(ci_job_url(&env).as_deref(), Some("https://jenkins/job/1/"));
        env.insert("CI_JOB_URL".into(), "https://gitlab/j/2".into());
        assert_eq!(ci_job_url(&env).as_deref(), Some("https://gitlab/j/2"));
        env.insert("GITHUB_SERVER_URL".into(), "https://github.com".into());
        env.insert("GITHUB_REPOSITORY".into(), "o/r".into());
        env.insert("GITHUB_RUN_ID".into(), "42".into());
        assert_eq!(
            ci_job_url(&env).as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
    }

    #[test]
    fn release_ids_read_as_their_utc_time_and_differ_within_a_second() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_028_312);
        let a = new_release_id(at);
        let b = new_release_id(at);
        assert!(a.starts_with("20261130-084512-"), "{a}");
        assert_eq!(a.len(), "20261130-084512-3f2a".len(), "{a}");
        assert_ne!(a, b);
    }
}

//! Why a deploy failed, named so users (and CI) can act on it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The named cause of a failed gate or step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureCause {
    /// A node could not get the image (`No such image`, `pull access denied`, ...).
    ImageNotFound { detail: String },
    /// The scheduler finds no node for the tasks (constraints, resources).
    NoSuitableNode { detail: String },
    /// Tasks of the new version keep exiting with non-zero codes.
    CrashLoop {
        failures: usize,
        exit_code: Option<i64>,
    },
    /// Containers are killed as unhealthy, or never leave `starting`.
    HealthcheckFailing { detail: String },
    /// The configured HTTP probe does not answer as expected.
    ProbeFailing { detail: String },
    /// The zone did not become healthy within `health.timeout`.
    Timeout { waited_ms: u64 },
    /// No task made progress for `progress_deadline`.
    Stalled { idle_ms: u64 },
    /// The router did not report serving the new keys in time.
    Router { detail: String },
    /// The KV store failed or refused a write.
    Kv { detail: String },
    /// The cluster API failed.
    Cluster { detail: String },
    /// A safety check refused to continue (e.g. pointing traffic at an unhealthy zone).
    Refused { detail: String },
    /// The new zone's traffic failed its analysis (the metric and its measured value).
    Analysis { detail: String },
}

impl FailureCause {
    /// What the user can do about it, when there is something specific to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FailureCause::ImageNotFound { .. } => Some(
                "Check the image name and tag, and that every node can pull it \
                 (`--with-registry-auth` for private registries)",
            ),
            FailureCause::NoSuitableNode { .. } => Some(
                "Check placement constraints and free resources (`docker node ls`, \
                 `docker service ps --no-trunc`)",
            ),
            FailureCause::CrashLoop { .. } => {
                Some("The containers exit right after starting: check their logs")
            }
            FailureCause::HealthcheckFailing { .. } => Some(
                "The container healthcheck does not pass: check the healthcheck command \
                 and its start_period",
            ),
            FailureCause::Kv { .. } => Some("Check that the KV store is reachable"),
            FailureCause::Analysis { .. } => Some(
                "The new version served worse than the analysis allows: check its logs and \
                 the metric named above",
            ),
            _ => None,
        }
    }
}

fn secs(ms: u64) -> String {
    crate::spec::duration::format(std::time::Duration::from_millis(ms))
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::ImageNotFound { detail } => write!(f, "image not found: {detail}"),
            // Swarm's text usually starts with the name of the cause already.
            FailureCause::NoSuitableNode { detail } if detail.starts_with("no suitable node") => {
                f.write_str(detail)
            }
            FailureCause::NoSuitableNode { detail } => write!(f, "no suitable node: {detail}"),
            FailureCause::CrashLoop {
                failures,
                exit_code,
            } => {
                let tasks = if *failures == 1 { "task" } else { "tasks" };
                write!(f, "crash loop: {failures} {tasks} exited")?;
                if let Some(code) = exit_code {
                    write!(f, " (last exit code {code})")?;
                }
                Ok(())
            }
            FailureCause::HealthcheckFailing { detail } => {
                write!(f, "healthcheck failing: {detail}")
            }
            FailureCause::ProbeFailing { detail } => write!(f, "HTTP probe failing: {detail}"),
            FailureCause::Timeout { waited_ms } => {
                write!(f, "timed out after {}", secs(*waited_ms))
            }
            FailureCause::Stalled { idle_ms } => {
                write!(f, "no progress for {}", secs(*idle_ms))
            }
            FailureCause::Router { detail } => write!(f, "router: {detail}"),
            // KvError's own messages already begin with "KV store ..." and name it.
            FailureCause::Kv { detail } if detail.starts_with("KV store") => f.write_str(detail),
            FailureCause::Kv { detail } => write!(f, "KV store: {detail}"),
            FailureCause::Cluster { detail } => write!(f, "cluster: {detail}"),
            FailureCause::Refused { detail } => f.write_str(detail),
            FailureCause::Analysis { detail } => write!(f, "analysis failed: {detail}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FailureCause;

    #[test]
    fn kv_causes_name_the_store_once() {
        let lost = FailureCause::Kv {
            detail: "KV store etcd http://127.0.0.1:2379 is unreachable: refused".into(),
        };
        assert_eq!(
            lost.to_string(),
            "KV store etcd http://127.0.0.1:2379 is unreachable: refused"
        );
        let raced = FailureCause::Kv {
            detail: "key web-active-zone changed concurrently".into(),
        };
        assert_eq!(
            raced.to_string(),
            "KV store: key web-active-zone changed concurrently"
        );
    }
}

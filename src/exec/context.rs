//! What the executor's parts share: the world it talks to, its tuning, and the few acts every
//! part needs (sleeping unless cancelled, reading a zone's health).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::health::{HealthReport, HealthRules, evaluate};
use super::step_error::StepError;
use super::track::{ServiceRun, ZoneTrack};
use super::{Clock, EventSink, FailureDecider, Prober};
use crate::ports::{Cluster, ClusterError, Kv, TaskInfo, TaskState};

/// Tuning of the executor; the defaults are what the CLI uses.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How often a zone's tasks are polled while waiting (a healthy zone is noticed within
    /// 2.5 polls).
    pub poll_interval: Duration,
    /// How often the router's report is read while waiting for it.
    pub router_poll: Duration,
    /// How often health is checked during a timed pause.
    pub pause_check: Duration,
    /// How often an unchanged health progress is reported again while waiting.
    pub heartbeat: Duration,
    pub health_rules: HealthRules,
    /// At most this many services of a release start and are gated at once.
    pub parallel: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            poll_interval: Duration::from_millis(100),
            router_poll: Duration::from_millis(500),
            pause_check: Duration::from_secs(1),
            heartbeat: Duration::from_secs(10),
            health_rules: HealthRules::default(),
            parallel: crate::spec::defaults::RELEASE_PARALLEL,
        }
    }
}

/// The executor's view of the world, shared by its steps, gates and failure handling.
pub(super) struct Context<'a> {
    pub cluster: &'a dyn Cluster,
    pub kv: &'a dyn Kv,
    pub prober: &'a dyn Prober,
    pub metrics: &'a dyn crate::ports::MetricReader,
    pub clock: &'a dyn Clock,
    pub sink: &'a dyn EventSink,
    pub cancel: CancellationToken,
    pub decider: &'a dyn FailureDecider,
    pub options: ExecOptions,
}

impl Context<'_> {
    /// Sleeps unless cancelled first.
    pub async fn sleep(&self, duration: Duration) -> Result<(), StepError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(StepError::Interrupted),
            () = self.clock.sleep(duration) => Ok(()),
        }
    }

    /// Evaluates a zone once, against what the run expects of it (on the next shared task
    /// list: for checks repeated while pausing).
    pub async fn check_zone(
        &self,
        run: &ServiceRun<'_>,
        track: &ZoneTrack,
    ) -> Result<HealthReport, ClusterError> {
        let tasks = self.cluster.tasks(&track.service_name).await?;
        Ok(self.judge(run, track, &tasks))
    }

    /// The same, on tasks read at once: the check before a key write.
    pub async fn check_zone_now(
        &self,
        run: &ServiceRun<'_>,
        track: &ZoneTrack,
    ) -> Result<HealthReport, ClusterError> {
        let tasks = self.cluster.tasks_now(&track.service_name).await?;
        Ok(self.judge(run, track, &tasks))
    }

    fn judge(&self, run: &ServiceRun<'_>, track: &ZoneTrack, tasks: &[TaskInfo]) -> HealthReport {
        evaluate(
            tasks,
            track.version.as_deref(),
            track.desired,
            self.clock.wall(),
            &run.rules,
        )
    }

    /// Waits until `service` runs at most `replicas` tasks that have not ended. Gives up
    /// quietly after `timeout`, and reads that fail only cost time: a task slow to stop is no
    /// reason to fail a deploy that works.
    pub async fn wait_stopped(
        &self,
        service: &str,
        replicas: u64,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let deadline = self.clock.now() + timeout;
        loop {
            if let Ok(tasks) = self.cluster.tasks(service).await {
                let alive = tasks.iter().filter(|t| !is_ended(t.state)).count();
                if u64::try_from(alive).unwrap_or(u64::MAX) <= replicas {
                    return Ok(());
                }
            }
            if self.clock.now() >= deadline {
                return Ok(());
            }
            self.sleep(self.options.poll_interval).await?;
        }
    }

    /// Adds the tasks of `services` that have ended to the history the health gates ignore
    /// (best effort: without it, old failures may only end a gate sooner).
    pub async fn forget_ended_tasks(&self, run: &mut ServiceRun<'_>, services: &[String]) {
        for name in services {
            if let Ok(tasks) = self.cluster.tasks(name).await {
                run.rules.history.extend(
                    tasks
                        .into_iter()
                        .filter(|t| is_ended(t.state))
                        .map(|t| t.id),
                );
            }
        }
    }
}

fn is_ended(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Complete
            | TaskState::Shutdown
            | TaskState::Failed
            | TaskState::Rejected
            | TaskState::Remove
            | TaskState::Orphaned
    )
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

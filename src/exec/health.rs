//! Health of a zone from its tasks: a pure function, so every cause is unit-tested with the
//! messages Swarm really writes.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::FailureCause;
use crate::ports::{TaskInfo, TaskState};

/// Thresholds of the health evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRules {
    /// Failures older than this are history, not a loop.
    pub window: Duration,
    /// Exits with a non-zero code within `window` that make a crash loop.
    pub crash_threshold: usize,
    /// Tasks killed as unhealthy within `window` that make a failing healthcheck.
    pub unhealthy_threshold: usize,
    /// How long a task may stay `starting` (start period + retries x interval); `None` when the
    /// service has no healthcheck.
    pub healthcheck_period: Option<Duration>,
    /// How long a task may wait for a node before "no suitable node" is a failure (a node may
    /// be joining or freeing resources).
    pub unschedulable_grace: Duration,
    /// Tasks that had already ended before this deploy began: history, not evidence (a
    /// retry right after a failed attempt must not fail on the old attempt's crashes).
    pub history: BTreeSet<String>,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules {
            window: Duration::from_secs(120),
            crash_threshold: 3,
            unhealthy_threshold: 2,
            healthcheck_period: None,
            unschedulable_grace: Duration::from_secs(15),
            history: BTreeSet::new(),
        }
    }
}

impl HealthRules {
    /// How long a task may stay `starting` before it counts as stuck: twice the longest Docker
    /// takes to decide with these settings (Docker's defaults where unset) plus 30 s. Docker
    /// itself marks a failing task unhealthy; this only catches a task it never decides on,
    /// and a busy node runs its probes late, which must not fail a healthy release.
    pub fn healthcheck_period_of(hc: &crate::compose::model::Healthcheck) -> Option<Duration> {
        if hc.test.first().is_some_and(|t| t == "NONE") {
            return None;
        }
        let interval = hc.interval.unwrap_or(Duration::from_secs(30));
        let timeout = hc.timeout.unwrap_or(Duration::from_secs(30));
        let retries = u32::try_from(hc.retries.unwrap_or(3)).unwrap_or(u32::MAX);
        let start = hc.start_period.unwrap_or(Duration::ZERO);
        let decided = start + (interval + timeout).saturating_mul(retries.saturating_add(1));
        Some(decided.saturating_mul(2) + Duration::from_secs(30))
    }
}

/// Task counts of one zone for the wanted version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub desired: u64,
    /// `running` on the wanted version, and meant to run.
    pub running: u64,
    /// `starting` (Swarm keeps a task here until its healthcheck passes).
    pub starting: u64,
    /// Not yet started: new, pending, assigned, preparing, ...
    pub pending: u64,
    /// Failed or rejected within the window.
    pub failing: u64,
    /// Tasks of another version still meant to run.
    pub stale: u64,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStatus {
    /// Exactly what was asked for is running.
    Healthy,
    /// Not there yet, nothing fatal seen.
    Progressing,
    /// Will not get there by waiting.
    Failing(FailureCause),
}

/// Everything one evaluation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub counts: TaskCounts,
    /// What currently holds the zone back, even when not (yet) fatal.
    pub cause: Option<FailureCause>,
    /// Errors of the tasks involved, most recent first, without duplicates.
    pub task_errors: Vec<String>,
    /// Ids of the running tasks of the wanted version (a change resets stability).
    pub running_ids: Vec<String>,
}

impl HealthReport {
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

/// What a task's messages say went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    Image,
    NoNode,
    Unhealthy,
}

fn classify(text: &str) -> Option<Trouble> {
    let t = text.to_ascii_lowercase();
    const IMAGE: [&str; 6] = [
        "no such image",
        "pull access denied",
        "manifest unknown",
        "invalid reference",
        "repository does not exist",
        "not found: manifest",
    ];
    if IMAGE.iter().any(|p| t.contains(p)) {
        Some(Trouble::Image)
    } else if t.contains("no suitable node") || t.contains("insufficient resources") {
        Some(Trouble::NoNode)
    } else if t.contains("unhealthy container") || t.contains("health check failed") {
        Some(Trouble::Unhealthy)
    } else {
        None
    }
}

fn task_text(t: &TaskInfo) -> &str {
    t.error
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or(&t.message)
}

fn tasks_word(n: usize) -> String {
    if n == 1 {
        "1 task".to_string()
    } else {
        format!("{n} tasks")
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn describe(t: &TaskInfo) -> String {
    let state = serde_json::to_value(t.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut line = format!("task {} {state}: {}", short_id(&t.id), task_text(t));
    if let Some(node) = &t.node_id {
        line.push_str(&format!(" (node {})", short_id(node)));
    }
    line
}

fn is_version(t: &TaskInfo, version: Option<&str>) -> bool {
    let Some(wanted) = version else {
        return true;
    };
    match &t.version {
        Some(v) => v == wanted,
        // Without the label, the image tag is the best evidence.
        None => t
            .image
            .as_deref()
            .map(|i| i.split('@').next().unwrap_or(i))
            .is_some_and(|i| i.ends_with(&format!(":{wanted}"))),
    }
}

fn age(now: SystemTime, at: Option<SystemTime>) -> Option<Duration> {
    at.map(|at| now.duration_since(at).unwrap_or(Duration::ZERO))
}

const ACTIVE: [TaskState; 8] = [
    TaskState::New,
    TaskState::Pending,
    TaskState::Assigned,
    TaskState::Accepted,
    TaskState::Preparing,
    TaskState::Ready,
    TaskState::Starting,
    TaskState::Running,
];

/// Evaluates one zone: `desired` tasks of `version` (`None` = any version) should run.
pub fn evaluate(
    tasks: &[TaskInfo],
    version: Option<&str>,
    desired: u64,
    now: SystemTime,
    rules: &HealthRules,
) -> HealthReport {
    let mut counts = TaskCounts {
        desired,
        ..TaskCounts::default()
    };
    let mut running_ids = Vec::new();
    let mut image_failures: Vec<&TaskInfo> = Vec::new();
    let mut unhealthy: Vec<&TaskInfo> = Vec::new();
    let mut crashes: Vec<&TaskInfo> = Vec::new();
    let mut unschedulable: Vec<(&TaskInfo, bool)> = Vec::new();
    let mut stuck_starting: Vec<&TaskInfo> = Vec::new();

    // Most recent first, so causes and errors name the latest evidence.
    let mut sorted: Vec<&TaskInfo> = tasks
        .iter()
        .filter(|t| !rules.history.contains(&t.id))
        .collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.updated_at.or(t.created_at)));

    for t in sorted {
        let meant_to_run = t.desired_state == TaskState::Running;
        if !is_version(t, version) {
            if meant_to_run && ACTIVE.contains(&t.state) {
                counts.stale += 1;
            }
            continue;
        }
        let recent = age(now, t.updated_at.or(t.created_at)).is_none_or(|a| a <= rules.window);
        match t.state {
            TaskState::Running if meant_to_run => {
                counts.running += 1;
                running_ids.push(t.id.clone());
            }
            TaskState::Starting if meant_to_run => {
                counts.starting += 1;
                let starting_for = age(now, t.updated_at.or(t.created_at));
                if let (Some(period), Some(for_)) = (rules.healthcheck_period, starting_for)
                    && for_ > period
                {
                    stuck_starting.push(t);
                }
            }
            s if meant_to_run && ACTIVE.contains(&s) => {
                counts.pending += 1;
                if classify(task_text(t)) == Some(Trouble::NoNode) {
                    let waited = age(now, t.created_at.or(t.updated_at));
                    let over = waited.is_none_or(|w| w >= rules.unschedulable_grace);
                    unschedulable.push((t, over));
                }
            }
            TaskState::Failed | TaskState::Rejected if recent => {
                counts.failing += 1;
                match classify(task_text(t)).or_else(|| classify(&t.message)) {
                    Some(Trouble::Image) => image_failures.push(t),
                    Some(Trouble::Unhealthy) => unhealthy.push(t),
                    Some(Trouble::NoNode) => unschedulable.push((t, false)),
                    None if t.exit_code.is_some_and(|c| c != 0) => crashes.push(t),
                    None => {}
                }
            }
            // A service's container that completes stopped by itself: it crashed, even with
            // exit code 0 (Swarm restarts it).
            TaskState::Complete if recent => crashes.push(t),
            // A shutdown task only counts when Swarm recorded an error with it: tasks we
            // stop ourselves exit non-zero too (143) but carry no error.
            TaskState::Shutdown
                if recent && t.error.is_some() && t.exit_code.is_some_and(|c| c != 0) =>
            {
                if classify(task_text(t)) == Some(Trouble::Unhealthy) {
                    unhealthy.push(t);
                } else {
                    crashes.push(t);
                }
            }
            _ => {}
        }
    }

    let mut errors: Vec<String> = Vec::new();
    let mut note = |t: &TaskInfo| {
        let line = describe(t);
        if !errors.contains(&line) && errors.len() < 5 {
            errors.push(line);
        }
    };

    let detail = |list: &[&TaskInfo]| list.first().map(|t| task_text(t).to_string());
    let mut fatal = None;
    let mut cause = None;

    if let Some(text) = detail(&image_failures) {
        image_failures.iter().for_each(|t| note(t));
        let c = FailureCause::ImageNotFound { detail: text };
        // Another node may have the image: only fatal while nothing of this version started.
        if counts.running == 0 && counts.starting == 0 {
            fatal.get_or_insert(c.clone());
        }
        cause.get_or_insert(c);
    }
    if let Some((t, _)) = unschedulable.first() {
        unschedulable.iter().for_each(|(t, _)| note(t));
        let c = FailureCause::NoSuitableNode {
            detail: task_text(t).to_string(),
        };
        if unschedulable.iter().any(|(_, over)| *over) {
            fatal.get_or_insert(c.clone());
        }
        cause.get_or_insert(c);
    }
    if !unhealthy.is_empty() || !stuck_starting.is_empty() {
        unhealthy.iter().for_each(|t| note(t));
        stuck_starting.iter().for_each(|t| note(t));
        let c = if let Some(t) = unhealthy.first() {
            FailureCause::HealthcheckFailing {
                detail: format!(
                    "{} killed as unhealthy ({})",
                    tasks_word(unhealthy.len()),
                    task_text(t)
                ),
            }
        } else {
            FailureCause::HealthcheckFailing {
                detail: format!(
                    "{} still starting after the healthcheck period",
                    tasks_word(stuck_starting.len())
                ),
            }
        };
        if unhealthy.len() >= rules.unhealthy_threshold || !stuck_starting.is_empty() {
            fatal.get_or_insert(c.clone());
        }
        cause.get_or_insert(c);
    }
    if !crashes.is_empty() {
        crashes.iter().for_each(|t| note(t));
        let c = FailureCause::CrashLoop {
            failures: crashes.len(),
            exit_code: crashes.first().and_then(|t| t.exit_code),
        };
        if crashes.len() >= rules.crash_threshold {
            fatal.get_or_insert(c.clone());
        }
        cause.get_or_insert(c);
    }

    let status = if let Some(c) = fatal {
        HealthStatus::Failing(c)
    } else if counts.running >= desired
        && counts.starting == 0
        && counts.pending == 0
        && counts.stale == 0
    {
        HealthStatus::Healthy
    } else {
        HealthStatus::Progressing
    };
    HealthReport {
        status,
        counts,
        cause,
        task_errors: errors,
        running_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs_ago: u64, now: SystemTime) -> Option<SystemTime> {
        Some(now - Duration::from_secs(secs_ago))
    }

    fn task(id: &str, state: TaskState, version: &str) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state,
            desired_state: TaskState::Running,
            version: Some(version.into()),
            image: Some(format!("example/web:{version}")),
            message: match state {
                TaskState::Running => "started".into(),
                TaskState::Starting => "starting".into(),
                TaskState::Pending => "pending task scheduling".into(),
                TaskState::Preparing => "preparing".into(),
                _ => String::new(),
            },
            error: None,
            exit_code: None,
            node_id: Some("node1abcdefghijkl".into()),
            container_id: None,
            addresses: vec!["10.0.1.5".into()],
            host_ports: Vec::new(),
            updated_at: None,
            created_at: None,
        }
    }

    fn failed(id: &str, version: &str, err: &str, code: Option<i64>, now: SystemTime) -> TaskInfo {
        TaskInfo {
            desired_state: TaskState::Shutdown,
            message: "started".into(),
            error: Some(err.into()),
            exit_code: code,
            updated_at: at(10, now),
            created_at: at(20, now),
            ..task(id, TaskState::Failed, version)
        }
    }

    fn eval(tasks: &[TaskInfo], desired: u64, now: SystemTime) -> HealthReport {
        evaluate(tasks, Some("1.4.2"), desired, now, &HealthRules::default())
    }

    #[test]
    fn all_running_on_the_wanted_version_is_healthy() {
        let now = SystemTime::now();
        let tasks = vec![
            task("a", TaskState::Running, "1.4.2"),
            task("b", TaskState::Running, "1.4.2"),
            // Old tasks on their way out do not matter.
            TaskInfo {
                desired_state: TaskState::Shutdown,
                ..task("c", TaskState::Running, "1.4.1")
            },
        ];
        let r = eval(&tasks, 2, now);
        assert_eq!(r.status, HealthStatus::Healthy);
        assert_eq!(r.counts.running, 2);
        assert_eq!(r.running_ids, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn starting_pending_or_stale_tasks_are_progress_not_health() {
        let now = SystemTime::now();
        let r = eval(
            &[
                task("a", TaskState::Running, "1.4.2"),
                task("b", TaskState::Starting, "1.4.2"),
                task("c", TaskState::Preparing, "1.4.2"),
            ],
            3,
            now,
        );
        assert_eq!(r.status, HealthStatus::Progressing);
        assert_eq!(
            (r.counts.running, r.counts.starting, r.counts.pending),
            (1, 1, 1)
        );

        // Enough new tasks, but an old-version task is still meant to run.
        let r = eval(
            &[
                task("a", TaskState::Running, "1.4.2"),
                task("b", TaskState::Running, "1.4.1"),
            ],
            1,
            now,
        );
        assert_eq!(r.status, HealthStatus::Progressing);
        assert_eq!(r.counts.stale, 1);
    }

    #[test]
    fn missing_image_fails_with_the_swarm_error() {
        let now = SystemTime::now();
        for err in [
            "No such image: example/web:1.4.2",
            "pull access denied for example/web, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            "manifest for example/web:1.4.2 not found: manifest unknown: manifest unknown",
            "invalid reference format",
        ] {
            let rejected = TaskInfo {
                state: TaskState::Rejected,
                message: "preparing".into(),
                ..failed("t1", "1.4.2", err, None, now)
            };
            let r = eval(
                &[rejected, task("t2", TaskState::Preparing, "1.4.2")],
                1,
                now,
            );
            assert_eq!(
                r.status,
                HealthStatus::Failing(FailureCause::ImageNotFound { detail: err.into() }),
                "{err}"
            );
            assert!(r.task_errors[0].contains(err), "{:?}", r.task_errors);
            assert!(r.task_errors[0].starts_with("task t1 rejected: "));
        }
    }

    #[test]
    fn missing_image_on_one_node_is_not_fatal_while_others_run() {
        let now = SystemTime::now();
        let rejected = TaskInfo {
            state: TaskState::Rejected,
            ..failed("t1", "1.4.2", "No such image: example/web:1.4.2", None, now)
        };
        let r = eval(&[rejected, task("t2", TaskState::Running, "1.4.2")], 2, now);
        assert_eq!(r.status, HealthStatus::Progressing);
        assert!(matches!(r.cause, Some(FailureCause::ImageNotFound { .. })));
    }

    #[test]
    fn no_suitable_node_fails_after_the_grace() {
        let now = SystemTime::now();
        let pending = |secs| TaskInfo {
            error: Some("no suitable node (insufficient resources on 3 nodes)".into()),
            created_at: at(secs, now),
            updated_at: at(secs, now),
            ..task("p1", TaskState::Pending, "1.4.2")
        };
        let r = eval(&[pending(5)], 1, now);
        assert_eq!(r.status, HealthStatus::Progressing);
        assert!(matches!(r.cause, Some(FailureCause::NoSuitableNode { .. })));

        let r = eval(&[pending(60)], 1, now);
        assert_eq!(
            r.status,
            HealthStatus::Failing(FailureCause::NoSuitableNode {
                detail: "no suitable node (insufficient resources on 3 nodes)".into()
            })
        );

        let constrained = TaskInfo {
            error: Some(
                "no suitable node (scheduling constraints not satisfied on 2 nodes)".into(),
            ),
            created_at: at(30, now),
            ..task("p2", TaskState::Pending, "1.4.2")
        };
        assert!(matches!(
            eval(&[constrained], 1, now).status,
            HealthStatus::Failing(FailureCause::NoSuitableNode { .. })
        ));
    }

    #[test]
    fn repeated_non_zero_exits_are_a_crash_loop() {
        let now = SystemTime::now();
        let crash = |id: &str| failed(id, "1.4.2", "task: non-zero exit (1)", Some(1), now);
        let r = eval(
            &[
                crash("a"),
                crash("b"),
                task("c", TaskState::Starting, "1.4.2"),
            ],
            1,
            now,
        );
        assert_eq!(r.status, HealthStatus::Progressing);
        assert!(matches!(
            r.cause,
            Some(FailureCause::CrashLoop { failures: 2, .. })
        ));

        let r = eval(
            &[
                crash("a"),
                crash("b"),
                crash("d"),
                task("c", TaskState::Starting, "1.4.2"),
            ],
            1,
            now,
        );
        assert_eq!(
            r.status,
            HealthStatus::Failing(FailureCause::CrashLoop {
                failures: 3,
                exit_code: Some(1)
            })
        );
        assert_eq!(r.task_errors.len(), 3);
        assert!(
            r.task_errors
                .iter()
                .all(|e| e.contains("non-zero exit (1)"))
        );
    }

    #[test]
    fn containers_that_keep_completing_are_a_crash_loop_too() {
        let now = SystemTime::now();
        let done = |id: &str| TaskInfo {
            state: TaskState::Complete,
            desired_state: TaskState::Shutdown,
            message: "finished".into(),
            exit_code: Some(0),
            updated_at: at(3, now),
            ..task(id, TaskState::Complete, "1.4.2")
        };
        let r = eval(&[done("a"), done("b"), done("c")], 1, now);
        assert_eq!(
            r.status,
            HealthStatus::Failing(FailureCause::CrashLoop {
                failures: 3,
                exit_code: Some(0)
            })
        );
        assert!(
            r.task_errors[0].contains("complete: finished"),
            "{:?}",
            r.task_errors
        );
    }

    #[test]
    fn old_crashes_and_other_versions_do_not_count() {
        let now = SystemTime::now();
        let old = |id: &str| TaskInfo {
            updated_at: at(600, now),
            ..failed(id, "1.4.2", "task: non-zero exit (1)", Some(1), now)
        };
        let other = |id: &str| failed(id, "1.4.1", "task: non-zero exit (2)", Some(2), now);
        let r = eval(
            &[
                old("a"),
                old("b"),
                old("c"),
                other("d"),
                other("e"),
                other("f"),
            ],
            1,
            now,
        );
        assert_eq!(r.status, HealthStatus::Progressing);
        assert_eq!(r.cause, None);
        // Tasks we stopped ourselves (no error recorded) are not crashes either.
        let stopped = TaskInfo {
            state: TaskState::Shutdown,
            desired_state: TaskState::Shutdown,
            exit_code: Some(143),
            updated_at: at(5, now),
            ..task("s", TaskState::Shutdown, "1.4.2")
        };
        assert_eq!(
            eval(&[stopped.clone(), stopped.clone(), stopped], 0, now).cause,
            None
        );
    }

    #[test]
    fn containers_killed_as_unhealthy_are_a_failing_healthcheck() {
        let now = SystemTime::now();
        let killed = |id: &str| {
            failed(
                id,
                "1.4.2",
                "task: non-zero exit (137): dockerexec: unhealthy container",
                Some(137),
                now,
            )
        };
        let r = eval(
            &[killed("a"), task("b", TaskState::Starting, "1.4.2")],
            1,
            now,
        );
        assert_eq!(r.status, HealthStatus::Progressing);
        let r = eval(
            &[
                killed("a"),
                killed("c"),
                task("b", TaskState::Starting, "1.4.2"),
            ],
            1,
            now,
        );
        match r.status {
            HealthStatus::Failing(FailureCause::HealthcheckFailing { detail }) => {
                assert!(detail.contains("2 tasks killed as unhealthy"), "{detail}");
                assert!(detail.contains("unhealthy container"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_task_stuck_starting_past_the_healthcheck_period_fails() {
        let now = SystemTime::now();
        let rules = HealthRules {
            healthcheck_period: Some(Duration::from_secs(40)),
            ..HealthRules::default()
        };
        let starting = |secs| TaskInfo {
            updated_at: at(secs, now),
            ..task("a", TaskState::Starting, "1.4.2")
        };
        let r = evaluate(&[starting(20)], Some("1.4.2"), 1, now, &rules);
        assert_eq!(r.status, HealthStatus::Progressing);
        let r = evaluate(&[starting(50)], Some("1.4.2"), 1, now, &rules);
        assert!(matches!(
            r.status,
            HealthStatus::Failing(FailureCause::HealthcheckFailing { .. })
        ));
    }

    #[test]
    fn tasks_that_ended_before_the_deploy_are_history() {
        let now = SystemTime::now();
        let crash = |id: &str| failed(id, "1.4.2", "task: non-zero exit (1)", Some(1), now);
        let rules = HealthRules {
            history: ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
            ..HealthRules::default()
        };
        let tasks = [
            crash("a"),
            crash("b"),
            crash("c"),
            task("d", TaskState::Running, "1.4.2"),
        ];
        let r = evaluate(&tasks, Some("1.4.2"), 1, now, &rules);
        assert_eq!(r.status, HealthStatus::Healthy);
        assert_eq!(r.cause, None);
        assert!(matches!(
            eval(&tasks, 1, now).status,
            HealthStatus::Failing(FailureCause::CrashLoop { .. })
        ));
    }

    #[test]
    fn healthcheck_period_follows_docker_defaults() {
        let hc = crate::compose::model::Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
            interval: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(2)),
            retries: Some(3),
            start_period: Some(Duration::from_secs(10)),
            start_interval: None,
        };
        assert_eq!(
            HealthRules::healthcheck_period_of(&hc),
            Some(Duration::from_secs(2 * (10 + 7 * 4) + 30))
        );
        let none = crate::compose::model::Healthcheck {
            test: vec!["NONE".into()],
            ..hc
        };
        assert_eq!(HealthRules::healthcheck_period_of(&none), None);
    }

    #[test]
    fn the_image_tag_stands_in_for_a_missing_version_label() {
        let now = SystemTime::now();
        let t = TaskInfo {
            version: None,
            image: Some("example/web:1.4.2@sha256:abcd".into()),
            ..task("a", TaskState::Running, "x")
        };
        assert!(eval(&[t], 1, now).is_healthy());
    }
}

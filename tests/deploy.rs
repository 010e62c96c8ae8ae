//! `shipctl deploy`, `plan`, `promote` and `abort` end to end: the real binary against the live
//! Swarm (see scripts/test), checked through the Swarm API and the `swarm://` KV store.
//!
//! Every test deploys its own project (`st-xxxxxxxx`) and keeps its keys under `{project}/`, so
//! tests can run in parallel with each other and with other suites that use the same service
//! name. Services, networks and keys are removed on drop, also when a test fails.

use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, InspectServiceOptions, ListTasksOptions};
use futures_util::StreamExt;
use serde_json::Value;
use shipctl::kv::SwarmKv;
use shipctl::ports::{Cluster, TaskInfo, TaskState};
use shipctl::ports::{Kv, KvEntry};
use shipctl::swarm::SwarmCluster;

use crate::support::cli_env::{CliEnv, stderr, stdout};
use crate::support::docker::{Cleanup, require_docker, wait_until};
use crate::support::stack::SwarmKeys;

/// The gate's timeout in the test spec: long enough for a loaded 2-core machine, short enough
/// that a failing deploy does not hold the suite up.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the tests wait for the cluster to settle after a command.
const SETTLE: Duration = Duration::from_secs(60);

const SPEC: &str = r#"
kv:
  url: swarm://
  keys:
    active_zone: "{project}/{service}-active-zone"
    active_version: "{project}/{service}-active-version"
    traffic: "{project}/{service}-traffic"
    lock: "{project}/{service}-lock"
    history: "{project}/{service}-history"
    progress: "{project}/{service}-progress"
defaults:
  health:
    timeout: 40s
    min_healthy: 1s
    progress_deadline: 40s
  drain: 1s
  on_failure: rollback
"#;

fn compose(replicas: u64) -> String {
    format!(
        r#"
services:
  web:
    image: shipctl-test-app:${{IMAGE_VERSION:-1.0.0}}
    networks: [front]
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      # Generous timeout and retries: a loaded 2-core CI machine must not fail a healthy app.
      timeout: 2s
      retries: 3
    deploy:
      replicas: {replicas}
      endpoint_mode: dnsrr
      restart_policy:
        condition: any
        delay: 1s
networks:
  front:
    driver: overlay
"#
    )
}

/// One test's project: its files, its cluster objects and its keys.
struct Stack {
    cluster: SwarmCluster,
    kv: SwarmKv,
    env: CliEnv,
    project: String,
    // Dropped after the fields above; both clean up also when the test panics.
    _keys: SwarmKeys,
    _cleanup: Cleanup,
}

impl Stack {
    /// `None` when no engine answers outside CI (the test is skipped).
    async fn new(replicas: u64) -> Option<Stack> {
        let cluster = require_docker().await?;
        let cleanup = Cleanup::new(&cluster);
        let project = cleanup.project.clone();
        let mut env = CliEnv::new();
        env.with_docker_host();
        env.write("compose.yaml", &compose(replicas));
        env.write("shipctl.yaml", SPEC);
        Some(Stack {
            kv: SwarmKv::new(cluster.docker().clone()),
            _keys: SwarmKeys {
                docker_host: cluster.host().to_string(),
                prefix: format!("{project}/"),
            },
            cluster,
            env,
            project,
            _cleanup: cleanup,
        })
    }

    /// `shipctl ARGS` for this project, answering yes.
    fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.env.shipctl();
        cmd.args(args).args([
            "-f",
            "compose.yaml",
            "--spec",
            "shipctl.yaml",
            "-p",
            &self.project,
            "--yes",
        ]);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run shipctl")
    }

    /// Runs a command that must succeed.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "shipctl {args:?} failed\n{}",
            describe(&out)
        );
        out
    }

    fn deploy(&self, version: &str, extra: &[&str]) -> Output {
        let mut args = vec!["deploy", "--version", version];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    fn service(&self, zone: &str) -> String {
        format!("{}_web-{zone}", self.project)
    }

    fn key_name(&self, key: &str) -> String {
        format!("{}/web-{key}", self.project)
    }

    async fn key(&self, key: &str) -> Option<KvEntry> {
        self.kv.get(&self.key_name(key)).await.expect("read a key")
    }

    async fn value(&self, key: &str) -> Option<String> {
        self.key(key).await.map(|e| e.value)
    }

    /// Every key of this project, with revisions.
    async fn keys(&self) -> Vec<KvEntry> {
        self.kv
            .list(&format!("{}/", self.project))
            .await
            .expect("list keys")
    }

    /// Asserts the routing keys point at `zone` serving `version`, written in one write.
    async fn assert_keys(&self, zone: &str, version: &str) {
        let active = self.key("active-zone").await;
        let current = self.key("active-version").await;
        assert_eq!(
            active.as_ref().map(|e| e.value.as_str()),
            Some(zone),
            "active zone; keys: {:?}",
            self.keys().await
        );
        assert_eq!(
            current.as_ref().map(|e| e.value.as_str()),
            Some(version),
            "active version; keys: {:?}",
            self.keys().await
        );
        // One atomic write gives every key it wrote the same revision.
        assert_eq!(
            active.map(|e| e.revision),
            current.map(|e| e.revision),
            "zone and version were not written together; keys: {:?}",
            self.keys().await
        );
    }

    /// Desired replicas and `io.shipctl.version` label of a zone's service (`None`: no service).
    async fn service_state(&self, zone: &str) -> Option<(u64, Option<String>)> {
        let service = match self
            .cluster
            .docker()
            .inspect_service(&self.service(zone), None::<InspectServiceOptions>)
            .await
        {
            Ok(s) => s,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return None,
            Err(e) => panic!("inspecting {}: {e}", self.service(zone)),
        };
        let spec = service.spec.unwrap_or_default();
        let replicas = spec
            .mode
            .and_then(|m| m.replicated)
            .and_then(|r| r.replicas)
            .unwrap_or(0) as u64;
        let version = spec
            .labels
            .and_then(|l| l.get("io.shipctl.version").cloned());
        Some((replicas, version))
    }

    /// The task template of a zone's service as the engine stores it (the docker CLI decodes
    /// every field, bollard's models miss some).
    fn task_template(&self, zone: &str) -> String {
        let out = std::process::Command::new("docker")
            .args([
                "service",
                "inspect",
                "--format",
                "{{json .Spec.TaskTemplate}}",
            ])
            .arg(self.service(zone))
            .output()
            .expect("run docker service inspect");
        assert!(
            out.status.success(),
            "docker service inspect\n{}",
            describe(&out)
        );
        stdout(&out).trim().to_string()
    }

    /// The Swarm version index of a zone's service (`None`: no service).
    async fn service_index(&self, zone: &str) -> Option<u64> {
        self.cluster
            .docker()
            .inspect_service(&self.service(zone), None::<InspectServiceOptions>)
            .await
            .ok()
            .and_then(|s| s.version)
            .and_then(|v| v.index)
    }

    async fn tasks(&self, zone: &str) -> Vec<TaskInfo> {
        match self.cluster.tasks(&self.service(zone)).await {
            Ok(t) => t,
            Err(shipctl::ports::ClusterError::NotFound(_)) => Vec::new(),
            Err(e) => panic!("tasks of {}: {e}", self.service(zone)),
        }
    }

    /// Waits until the zone's service wants `n` replicas and exactly `n` tasks are meant to
    /// run, all of them running (= healthy: they have a healthcheck) on `version`.
    async fn wait_zone(&self, zone: &str, n: u64, version: &str) {
        let what = format!(
            "{} to run exactly {n} healthy tasks of {version}",
            self.service(zone)
        );
        wait_until(&what, SETTLE, || async {
            let state = self.service_state(zone).await;
            let tasks = self.tasks(zone).await;
            let meant: Vec<&TaskInfo> = tasks
                .iter()
                .filter(|t| t.desired_state == TaskState::Running)
                .collect();
            let healthy = meant
                .iter()
                .filter(|t| t.state == TaskState::Running && t.version.as_deref() == Some(version))
                .count() as u64;
            let service_ok = match &state {
                Some((replicas, label)) => {
                    *replicas == n && (n == 0 || label.as_deref() == Some(version))
                }
                None => n == 0,
            };
            if service_ok && meant.len() as u64 == n && healthy == n {
                Ok(())
            } else {
                Err(format!("service {state:?}; tasks {}", summary(&tasks)))
            }
        })
        .await
    }

    /// The zone's service exists and wants 0 replicas (kept for a quick rollback).
    async fn assert_scaled_to_zero(&self, zone: &str) {
        assert!(
            self.service_state(zone).await.is_some(),
            "{} should be kept at 0 replicas, not removed",
            self.service(zone)
        );
        self.wait_zone(zone, 0, "").await;
    }
}

fn describe(out: &Output) -> String {
    format!(
        "exit code: {:?}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn summary(tasks: &[TaskInfo]) -> String {
    let lines: Vec<String> = tasks
        .iter()
        .map(|t| {
            format!(
                "{:?}->{:?} v={} {:?} {}",
                t.state,
                t.desired_state,
                t.version.as_deref().unwrap_or("?"),
                t.message,
                t.error.as_deref().unwrap_or("")
            )
        })
        .collect();
    format!("[{}]", lines.join("; "))
}

/// Healthy tasks (running, meant to run) of both zones, from one task list of the manager so
/// that a sample never mixes two moments.
async fn healthy_in(stack: &Stack) -> Result<(u64, String), String> {
    let list = |services: Vec<String>| {
        let filters = HashMap::from([("service".to_string(), services)]);
        stack.cluster.docker().list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        }))
    };
    let tasks = match list(vec![stack.service("blue"), stack.service("green")]).await {
        Ok(tasks) => tasks,
        // The engine answers 404 for the whole list until the new zone exists.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => list(vec![stack.service("blue")])
            .await
            .map_err(|e| e.to_string())?,
        Err(e) => return Err(e.to_string()),
    };
    let mut healthy = 0;
    let mut seen = Vec::new();
    for t in &tasks {
        let state = t
            .status
            .as_ref()
            .and_then(|s| s.state)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let desired = t.desired_state.map(|s| s.to_string()).unwrap_or_default();
        if state == "running" && desired == "running" {
            healthy += 1;
        }
        if desired == "running" || state == "running" {
            seen.push(format!(
                "{}:{state}->{desired}",
                t.service_id
                    .as_deref()
                    .unwrap_or("?")
                    .get(..6)
                    .unwrap_or("?")
            ));
        }
    }
    Ok((healthy, seen.join(" ")))
}

#[tokio::test]
async fn blue_green_goes_to_green_and_back_to_blue() {
    let Some(stack) = Stack::new(2).await else {
        return;
    };

    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;
    stack.assert_keys("blue", "1.0.0").await;
    assert_eq!(
        stack.service_state("green").await,
        None,
        "first deploy creates blue only"
    );

    let blue_template = stack.task_template("blue");
    assert!(blue_template.contains("Healthcheck"), "{blue_template}");

    stack.deploy("1.1.0", &[]);
    stack.wait_zone("green", 2, "1.1.0").await;
    stack.assert_keys("green", "1.1.0").await;
    stack.assert_scaled_to_zero("blue").await;
    // Scaling changes the replica count only: a different task template (e.g. one that lost
    // its healthcheck) would make Swarm replace every task of a zone at each scale.
    assert_eq!(stack.task_template("blue"), blue_template);

    stack.deploy("2.0.0", &[]);
    stack.wait_zone("blue", 2, "2.0.0").await;
    stack.assert_keys("blue", "2.0.0").await;
    stack.assert_scaled_to_zero("green").await;
    // The zone kept at 0 still holds the previous version: a rollback is a scale-up away.
    assert_eq!(
        stack.service_state("green").await,
        Some((0, Some("1.1.0".into())))
    );
}

/// blue 1.0.0 x4, then a canary of 1.1.0 with 1 new and 3 old replicas.
async fn start_canary(stack: &Stack) {
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 4, "1.0.0").await;
    let out = stack.deploy(
        "1.1.0",
        &["--strategy", "canary", "--new", "1", "--old", "3"],
    );
    stack.wait_zone("green", 1, "1.1.0").await;
    stack.wait_zone("blue", 3, "1.0.0").await;
    // The canary takes its share of the traffic; the routing keys still name the old zone.
    stack.assert_keys("blue", "1.0.0").await;
    assert_eq!(
        stack.value("traffic").await.as_deref(),
        Some("blue=75,green=25"),
        "traffic during the canary\n{}",
        describe(&out)
    );
}

#[tokio::test]
async fn canary_then_promote() {
    let Some(stack) = Stack::new(4).await else {
        return;
    };
    start_canary(&stack).await;

    stack.ok(&["promote", "web"]);
    stack.wait_zone("green", 4, "1.1.0").await;
    stack.assert_keys("green", "1.1.0").await;
    assert_eq!(
        stack.value("traffic").await.as_deref(),
        Some("blue=0,green=100")
    );
    stack.assert_scaled_to_zero("blue").await;
}

#[tokio::test]
async fn canary_then_abort() {
    let Some(stack) = Stack::new(4).await else {
        return;
    };
    start_canary(&stack).await;

    stack.ok(&["abort", "web"]);
    stack.wait_zone("blue", 4, "1.0.0").await;
    assert_eq!(stack.value("active-zone").await.as_deref(), Some("blue"));
    assert_eq!(
        stack.value("active-version").await.as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        stack.value("traffic").await.as_deref(),
        Some("blue=100,green=0")
    );
    stack.assert_scaled_to_zero("green").await;
}

#[tokio::test]
async fn rolling_keeps_full_capacity_at_every_moment() {
    let Some(stack) = Stack::new(4).await else {
        return;
    };
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 4, "1.0.0").await;

    let cmd = stack.command(&[
        "deploy",
        "--version",
        "1.1.0",
        "--strategy",
        "rolling",
        "--step",
        "1",
    ]);
    let mut child = tokio_command(&cmd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shipctl");
    let started = Instant::now();
    let mut samples = 0u32;
    let mut low: Vec<String> = Vec::new();
    let mut min = u64::MAX;
    loop {
        if child.try_wait().expect("poll shipctl").is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the rolling deploy is still running after 3 minutes"
        );
        match healthy_in(&stack).await {
            Ok((healthy, seen)) => {
                samples += 1;
                min = min.min(healthy);
                if healthy < 4 {
                    low.push(format!(
                        "{:.1}s: {healthy} healthy ({seen})",
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
            Err(e) => low.push(format!("listing tasks failed: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().await.expect("shipctl output");
    assert_eq!(
        out.status.code(),
        Some(0),
        "rolling deploy\n{}",
        describe(&out)
    );
    assert!(
        low.is_empty(),
        "capacity fell below 4 healthy tasks (min {min}, {samples} samples):\n{}\n{}",
        low.join("\n"),
        describe(&out)
    );
    // 4 batches each wait for a healthcheck: the loop must have seen the deploy at work.
    assert!(samples >= 20, "only {samples} samples\n{}", describe(&out));

    stack.wait_zone("green", 4, "1.1.0").await;
    stack.assert_keys("green", "1.1.0").await;
    stack.assert_scaled_to_zero("blue").await;
}

/// A deploy of `version` that must fail and leave blue 1.0.0 serving, untouched.
async fn failed_deploy(stack: &Stack, version: &str) -> (Output, Duration) {
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;
    let keys_before = stack.keys().await;
    let blue_before = stack.service_index("blue").await;

    let started = Instant::now();
    let out = stack.run(&["deploy", "--version", version]);
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed and rolled back deploy exits 1\n{}",
        describe(&out)
    );

    // The old zone was never touched and still serves.
    assert_eq!(
        stack.service_index("blue").await,
        blue_before,
        "blue was updated"
    );
    stack.wait_zone("blue", 2, "1.0.0").await;
    let routing = |keys: &[KvEntry]| -> Vec<KvEntry> {
        keys.iter()
            .filter(|e| {
                ["active-zone", "active-version", "traffic"]
                    .iter()
                    .any(|k| e.key.ends_with(k))
            })
            .cloned()
            .collect()
    };
    assert_eq!(
        routing(&stack.keys().await),
        routing(&keys_before),
        "the routing keys changed\n{}",
        describe(&out)
    );
    // Nothing of the failed version is left running.
    stack.wait_zone("green", 0, "").await;
    (out, took)
}

#[tokio::test]
async fn unhealthy_version_is_rolled_back() {
    let Some(stack) = Stack::new(2).await else {
        return;
    };
    let (out, took) = failed_deploy(&stack, "unhealthy").await;
    let err = stderr(&out);
    assert!(
        took < HEALTH_TIMEOUT + Duration::from_secs(20),
        "took {took:.1?}, health timeout {HEALTH_TIMEOUT:?}\n{}",
        describe(&out)
    );
    assert!(
        err.contains("healthcheck") || err.contains("unhealthy"),
        "stderr should name the failing healthcheck\n{}",
        describe(&out)
    );
}

#[tokio::test]
async fn missing_image_fails_fast_with_the_task_error() {
    let Some(stack) = Stack::new(2).await else {
        return;
    };
    let (out, took) = failed_deploy(&stack, "does-not-exist").await;
    let err = stderr(&out);
    assert!(
        took < HEALTH_TIMEOUT / 2,
        "a missing image should fail well before the {HEALTH_TIMEOUT:?} health timeout, \
         took {took:.1?}\n{}",
        describe(&out)
    );
    assert!(
        err.contains("shipctl-test-app:does-not-exist") || err.contains("No such image"),
        "stderr should carry the task error\n{}",
        describe(&out)
    );
}

#[tokio::test]
async fn plan_reads_the_cluster_and_dry_run_changes_nothing() {
    let Some(stack) = Stack::new(2).await else {
        return;
    };
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;

    let out = stack.ok(&["plan", "--version", "1.1.0"]);
    assert!(
        stdout(&out).contains("blue@1.0.0 -> green@1.1.0"),
        "plan text\n{}",
        describe(&out)
    );

    let out = stack.ok(&["plan", "--version", "1.1.0", "--output", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan JSON does not parse: {e}\n{}", describe(&out)));
    assert_eq!(plan["observed"]["source"], "cluster", "{plan:#}");
    assert_eq!(
        plan["observed"]["services"]["web"]["zones"]["blue"]["version"], "1.0.0",
        "{plan:#}"
    );
    assert_eq!(
        plan["observed"]["services"]["web"]["keys"]["active_zone"], "blue",
        "{plan:#}"
    );

    let before = (
        stack.service_index("blue").await,
        stack.service_index("green").await,
        stack.keys().await,
    );
    assert!(before.0.is_some());
    let out = stack.ok(&["deploy", "--dry-run", "--version", "1.1.0"]);
    assert!(
        stdout(&out).contains("blue@1.0.0 -> green@1.1.0"),
        "dry run prints the plan\n{}",
        describe(&out)
    );
    let after = (
        stack.service_index("blue").await,
        stack.service_index("green").await,
        stack.keys().await,
    );
    assert_eq!(before, after, "a dry run changed the cluster or the keys");
}

#[tokio::test]
async fn json_output_is_ndjson_and_ci_output_has_no_ansi() {
    let Some(mut stack) = Stack::new(2).await else {
        return;
    };
    // As in a CI job: no TTY, CI=true, a colour-capable TERM and no NO_COLOR to mask anything.
    stack.env.set("CI", "true").set("TERM", "xterm-256color");
    let run = |stack: &Stack, args: &[&str]| {
        let out = stack
            .command(args)
            .env_remove("NO_COLOR")
            .output()
            .expect("run shipctl");
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", describe(&out));
        assert!(
            !out.stderr.contains(&0x1b),
            "ANSI escape in stderr of {args:?}\n{}",
            describe(&out)
        );
        out
    };

    let out = run(&stack, &["deploy", "--version", "1.0.0"]);
    assert!(!out.stdout.contains(&0x1b), "{}", describe(&out));

    let out = run(
        &stack,
        &["deploy", "--version", "1.1.0", "--output", "json"],
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 2, "too few events\n{}", describe(&out));
    let objects: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                panic!(
                    "stdout line is not JSON ({e}): {line:?}\n{}",
                    describe(&out)
                )
            })
        })
        .collect();
    assert!(objects.iter().all(Value::is_object), "{}", describe(&out));
    let last = objects.last().expect("at least one line");
    assert_eq!(last["event"], "summary", "last line: {last}");
    assert_eq!(last["result"], "done", "last line: {last}");
    stack.assert_keys("green", "1.1.0").await;
}

/// The same command as `cmd`, as a tokio process (to run it while the test watches Swarm).
fn tokio_command(cmd: &assert_cmd::Command) -> tokio::process::Command {
    let mut std_cmd = std::process::Command::new(cmd.get_program());
    std_cmd.args(cmd.get_args()).env_clear();
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => std_cmd.env(key, v),
            None => std_cmd.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        std_cmd.current_dir(dir);
    }
    tokio::process::Command::from(std_cmd)
}

/// A CI job (CI=true, no TTY, `--output json`) whose deploy fails: stdout carries only JSON
/// lines a program can parse one by one, ending with the error, and the exit code is 1.
#[tokio::test]
async fn ci_failure_is_ndjson_only_and_exits_1() {
    let Some(mut stack) = Stack::new(2).await else {
        return;
    };
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;
    stack.env.set("CI", "true");
    let out = stack.run(&["deploy", "--version", "does-not-exist", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stdout(&out);
    let objects: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                panic!(
                    "stdout line is not JSON ({e}): {line:?}\n{}",
                    describe(&out)
                )
            })
        })
        .collect();
    let events: Vec<&str> = objects.iter().filter_map(|o| o["event"].as_str()).collect();
    assert_eq!(
        events.len(),
        objects.len(),
        "every line is an event\n{text}"
    );
    assert!(events.contains(&"failure"), "{events:?}");
    assert!(events.contains(&"rollback_finished"), "{events:?}");
    let last = objects.last().expect("some output");
    assert_eq!(last["event"], "error", "{last}");
    assert_eq!(last["exit_code"], 1, "{last}");
    stack.assert_keys("blue", "1.0.0").await;
}

/// A deploy killed (`kill -9`, as a cancelled CI job) after its switch, while it drains:
/// the keys already point at the healthy new zone, and running the same deploy again
/// finishes it (old zone to 0) without deploying anything again.
#[tokio::test]
async fn deploy_killed_after_the_switch_is_finished_by_the_next_one() {
    let Some(stack) = Stack::new(2).await else {
        return;
    };
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;

    // A long drain to kill the deploy in, and a short lock TTL so the next run gets in soon.
    let slow = SPEC.replace("  drain: 1s", "  drain: 60s");
    stack.env.write("shipctl.yaml", &kv_with_ttl(&slow));
    let mut child = tokio_command(&stack.command(&["deploy", "--version", "1.1.0"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the deploy");
    wait_until("the switch to green", Duration::from_secs(60), || async {
        match stack.value("active-zone").await {
            Some(zone) if zone == "green" => Ok(()),
            other => Err(format!("active zone is {other:?}")),
        }
    })
    .await;
    child.start_kill().expect("kill -9 the deploy");
    let _ = child.wait().await;

    // Killed mid-drain: green serves, blue still runs (it was never scaled down).
    stack.assert_keys("green", "1.1.0").await;
    assert_eq!(stack.service_state("blue").await.map(|s| s.0), Some(2));

    stack.env.write("shipctl.yaml", &kv_with_ttl(SPEC));
    let out = stack.deploy("1.1.0", &["--lock-wait", "30s"]);
    let err = stderr(&out);
    assert!(
        !err.contains("create green")
            && !err.contains("update green")
            && !err.contains("with 1.1.0"),
        "nothing is deployed again\n{}",
        describe(&out)
    );
    stack.assert_keys("green", "1.1.0").await;
    stack.assert_scaled_to_zero("blue").await;
    stack.wait_zone("green", 2, "1.1.0").await;
}

/// The test spec with a 10 s lock TTL (under `kv:`).
fn kv_with_ttl(spec: &str) -> String {
    spec.replacen("kv:\n", "kv:\n  lock_ttl: 10s\n", 1)
}

/// Kills (`kill -9`) a deploy right after each of its steps, in turn. After every kill the
/// active key points at a zone with healthy tasks of the active version; then the same deploy,
/// run again, reaches the same end state as an uninterrupted one.
async fn killed_at_every_step(strategy_args: &[&str]) {
    let Some(stack) = Stack::new(2).await else {
        return;
    };
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 2, "1.0.0").await;
    let mut args = vec!["deploy", "--version", "1.1.0"];
    args.extend_from_slice(strategy_args);

    let mut kill_after = 1;
    loop {
        // Run until step `kill_after` is finished, then kill the process at once.
        let mut json = args.clone();
        json.extend(["--output", "json"]);
        let mut child = tokio_command(&stack.command(&json))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the deploy");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let mut total = None;
        let mut killed = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["event"] == "plan_started" {
                total = event["steps"].as_u64();
            }
            if event["event"] == "step_finished" && event["index"].as_u64() == Some(kill_after) {
                child.start_kill().expect("kill -9");
                killed = true;
                break;
            }
        }
        let status = child.wait().await.expect("wait for the deploy");
        let total = total.expect("the plan_started event gives the step count");
        if !killed {
            // The last step: the run ended by itself.
            assert!(status.success(), "the uninterrupted run failed: {status:?}");
            break;
        }

        // Whatever the step, traffic goes to a zone with healthy tasks of the active version.
        let zone = stack.value("active-zone").await.expect("an active zone");
        let version = stack
            .value("active-version")
            .await
            .expect("an active version");
        let healthy = stack
            .tasks(&zone)
            .await
            .iter()
            .filter(|t| {
                t.state == TaskState::Running
                    && t.desired_state == TaskState::Running
                    && t.version.as_deref() == Some(version.as_str())
            })
            .count();
        assert!(
            healthy >= 1,
            "killed after step {kill_after}/{total}: the keys point at {zone}@{version}, which has no healthy task"
        );

        // The dead deploy's lock is broken on purpose, then the same deploy runs again.
        stack.ok(&["unlock", "web"]);
        stack.ok(&args);
        stack.assert_keys("green", "1.1.0").await;
        stack.wait_zone("green", 2, "1.1.0").await;
        stack.assert_scaled_to_zero("blue").await;

        // Back to the starting point for the next step boundary.
        stack.deploy("1.0.0", &[]);
        stack.wait_zone("blue", 2, "1.0.0").await;
        stack.assert_scaled_to_zero("green").await;
        kill_after += 1;
        if kill_after >= total {
            break;
        }
    }
}

#[tokio::test]
async fn blue_green_killed_at_every_step_resumes() {
    killed_at_every_step(&[]).await;
}

#[tokio::test]
async fn canary_killed_at_every_step_resumes() {
    killed_at_every_step(&[
        "--strategy",
        "canary",
        "--new",
        "1",
        "--old",
        "1",
        "--promote",
    ])
    .await;
}

#[tokio::test]
async fn rolling_killed_at_every_step_resumes() {
    killed_at_every_step(&["--strategy", "rolling", "--step", "1"]).await;
}

/// A stack whose blue zone runs 3 tasks of 1.0.0, its spec now set to `task_batch: 1`.
async fn blue_with_task_batch_one() -> Option<Stack> {
    let stack = Stack::new(3).await?;
    stack.deploy("1.0.0", &[]);
    stack.wait_zone("blue", 3, "1.0.0").await;
    stack.env.write(
        "shipctl.yaml",
        &SPEC.replace("defaults:\n", "defaults:\n  task_batch: 1\n"),
    );
    Some(stack)
}

/// `task_batch: 1` starts the new zone one task at a time: each task is created only after
/// the one before it passed its gate (healthy, then `min_healthy: 1s`), where a zone started at
/// once creates all of them in the same instant.
#[tokio::test]
async fn blue_green_with_task_batch_starts_one_task_at_a_time() {
    let Some(stack) = blue_with_task_batch_one().await else {
        return;
    };
    let out = stack.deploy("1.1.0", &[]);
    stack.wait_zone("green", 3, "1.1.0").await;
    stack.assert_keys("green", "1.1.0").await;
    stack.assert_scaled_to_zero("blue").await;

    let filters = HashMap::from([("service".to_string(), vec![stack.service("green")])]);
    let tasks = stack
        .cluster
        .docker()
        .list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        }))
        .await
        .expect("list green's tasks");
    let mut created: Vec<std::time::SystemTime> = tasks
        .iter()
        .filter(|t| t.desired_state.map(|s| s.to_string()).as_deref() == Some("running"))
        .map(|t| {
            let at = t.created_at.as_deref().expect("a task has a creation time");
            humantime::parse_rfc3339(at).expect("Docker's timestamps are RFC 3339")
        })
        .collect();
    created.sort();
    assert_eq!(created.len(), 3, "green's tasks\n{}", describe(&out));
    for pair in created.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
        assert!(
            gap >= Duration::from_secs(1),
            "a task of green was created {gap:?} after the one before it: not after its gate\n{}",
            describe(&out)
        );
    }
}

/// `task_batch: 1` also stops the old zone one task at a time: after the switch blue (3 tasks)
/// is scaled to 2, 1, then 0, and each scale waits until the task the one before stopped is
/// gone. Scaling blue straight to 0 would show as one step in the run, one replica change of
/// its service, and its three containers signalled to stop before any of them had died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_with_task_batch_stops_the_old_zone_one_task_at_a_time() {
    let Some(stack) = blue_with_task_batch_one().await else {
        return;
    };
    let (blue, watcher) = watch_service(stack.cluster.docker().clone(), stack.service("blue"));
    let events = stack.env.dir().join("events.ndjson");
    let events_arg = events
        .to_str()
        .expect("the temporary directory's path is UTF-8");
    let out = stack.deploy("1.1.0", &["--events", events_arg]);
    stack.wait_zone("green", 3, "1.1.0").await;
    stack.assert_keys("green", "1.1.0").await;
    stack.assert_scaled_to_zero("blue").await;

    // The run's own record: every scale of blue but the last is followed by its wait.
    let text = std::fs::read_to_string(&events).expect("read the events file");
    let steps: Vec<(String, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line of --events is JSON"))
        .filter(|e| e["event"] == "step_finished")
        .filter(|e| e["action"] == "scale" || e["action"] == "wait_stopped")
        .filter(|e| {
            let summary = e["summary"].as_str().unwrap_or_default();
            summary.split_whitespace().any(|w| w == "blue")
        })
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (field("action"), field("summary"))
        })
        .collect();
    let kinds: Vec<&str> = steps.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["scale", "wait_stopped", "scale", "wait_stopped", "scale"],
        "blue was not stopped in 3 batches with a wait between them; its steps: {steps:?}\n{}",
        describe(&out)
    );

    // Docker's record. The deploy returns once blue wants 0 tasks: its last container may
    // still be stopping.
    let containers = wait_until("blue's 3 containers to die", SETTLE, || {
        let blue = Arc::clone(&blue);
        async move {
            let seen = blue.lock().expect("the watcher does not panic");
            let died = seen
                .containers
                .values()
                .filter(|c| c.died.is_some())
                .count();
            if died >= 3 {
                Ok(seen.containers.clone())
            } else {
                Err(format!("{died} died; {seen:?}"))
            }
        }
    })
    .await;
    watcher.abort();
    let seen = format!("{:?}", blue.lock().expect("the watcher does not panic"));

    let scaled: Vec<(u64, u64)> = blue
        .lock()
        .expect("the watcher does not panic")
        .scaled
        .iter()
        .map(|&(old, new, _)| (old, new))
        .collect();
    assert_eq!(
        scaled,
        [(3, 2), (2, 1), (1, 0)],
        "blue's service was not scaled down one task at a time; Docker saw: {seen}\n{}",
        describe(&out)
    );

    // Each container is told to stop only once the one before it is dead: the batch waited.
    let mut stops: Vec<(i64, i64)> = containers
        .values()
        .filter_map(|c| c.killed.zip(c.died))
        .collect();
    stops.sort();
    assert_eq!(
        stops.len(),
        3,
        "blue's 3 containers should each be signalled to stop, then die; Docker saw: {seen}\n{}",
        describe(&out)
    );
    for pair in stops.windows(2) {
        let ((_, died), (killed, _)) = (pair[0], pair[1]);
        assert!(
            killed > died,
            "a container of blue was signalled to stop {:.3} s before the one stopped before it had died: \
             the batch did not wait; Docker saw: {seen}\n{}",
            (died - killed) as f64 / 1e9,
            describe(&out)
        );
    }
}

/// What Docker reported about one Swarm service while a test watched it. Times are Docker's
/// own, in nanoseconds since the Unix epoch.
#[derive(Debug, Default)]
struct ServiceEvents {
    /// `(replicas before, replicas after, when)` of every update that changed the count.
    scaled: Vec<(u64, u64, i64)>,
    /// The service's containers by id.
    containers: HashMap<String, ContainerStop>,
    /// Why the stream of events ended, if it did.
    error: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct ContainerStop {
    /// The first signal sent to stop it.
    killed: Option<i64>,
    died: Option<i64>,
}

/// Records Docker's events about `service` from now until the returned task is aborted. The
/// engine replays the events since the moment of this call, so none is lost while the
/// subscription is being set up.
fn watch_service(
    docker: bollard::Docker,
    service: String,
) -> (Arc<Mutex<ServiceEvents>>, tokio::task::JoinHandle<()>) {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let options = EventsOptions {
        since: Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos())),
        until: None,
        filters: Some(HashMap::from([(
            "type".to_string(),
            vec!["service".to_string(), "container".to_string()],
        )])),
    };
    let seen = Arc::new(Mutex::new(ServiceEvents::default()));
    let record = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut stream = docker.events(Some(options));
        while let Some(event) = stream.next().await {
            let mut seen = record.lock().expect("the test does not panic holding it");
            match event {
                Ok(event) => seen.record(&service, &event),
                Err(e) => {
                    seen.error = Some(e.to_string());
                    return;
                }
            }
        }
        record
            .lock()
            .expect("the test does not panic holding it")
            .error = Some("the engine ended the stream".into());
    });
    (seen, task)
}

impl ServiceEvents {
    fn record(&mut self, service: &str, event: &EventMessage) {
        let empty = HashMap::new();
        let actor = event.actor.as_ref();
        let attributes = actor.and_then(|a| a.attributes.as_ref()).unwrap_or(&empty);
        let attribute = |k: &str| attributes.get(k).map(String::as_str);
        let count = |k: &str| attribute(k).and_then(|v| v.parse::<u64>().ok());
        let at = event.time_nano.unwrap_or_default();
        match (event.typ, event.action.as_deref()) {
            (Some(EventMessageTypeEnum::SERVICE), Some("update"))
                if attribute("name") == Some(service) =>
            {
                if let (Some(old), Some(new)) = (count("replicas.old"), count("replicas.new"))
                    && old != new
                {
                    self.scaled.push((old, new, at));
                }
            }
            (Some(EventMessageTypeEnum::CONTAINER), Some(action @ ("kill" | "die")))
                if attribute("com.docker.swarm.service.name") == Some(service) =>
            {
                let id = actor.and_then(|a| a.id.clone()).unwrap_or_default();
                let container = self.containers.entry(id).or_default();
                if action == "kill" {
                    container.killed.get_or_insert(at);
                } else {
                    container.died = Some(at);
                }
            }
            _ => {}
        }
    }
}

//! A compose app as users have them, on the live Swarm through the real binary: a real Redis on
//! a named volume (deployed in place), an HTTP API that reads and writes it by its compose name,
//! and a client that calls the API by its compose name in a loop and counts every failure.
//! The API goes through every strategy, promote, abort and rollback while the client runs;
//! nothing it called may fail, and Redis keeps every key, also across a new Redis version.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;
use crate::support::stack::{SwarmKeys, Volume};

const COMPOSE: &str = r#"
services:
  redis:
    image: shipctl-stack-redis:7.0
    volumes:
      - data:/data
    networks: [back]
    stop_grace_period: 5s
    deploy:
      endpoint_mode: dnsrr
  api:
    image: shipctl-stack-api:${IMAGE_VERSION:-1.0.0}
    depends_on: [redis]
    environment:
      REDIS_HOST: redis
      # Liveness of the API itself: a Redis restart must not make Swarm replace every task.
      HEALTH_NEEDS_REDIS: "0"
    networks: [back]
    stop_grace_period: 10s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  client:
    image: shipctl-stack-client:1.0.0
    # Released with the others: started once the API it calls passed its gate.
    depends_on: [api]
    environment:
      API_URL: http://api:8080
    networks: [back]
    deploy:
      endpoint_mode: dnsrr
volumes:
  data: {}
networks:
  back:
    driver: overlay
    attachable: true
"#;

const SPEC: &str = "kv:\n  url: swarm://\ndefaults:\n  health:\n    timeout: 90s\n    min_healthy: 2s\n  drain: 3s\n  on_failure: rollback\n";

/// The one running container of a Swarm service.
fn container_of(service: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

fn exec(container: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The client's counts, read inside its container.
fn client_stats(project: &str) -> Option<Value> {
    let container = ["blue", "green"]
        .iter()
        .find_map(|z| container_of(&format!("{project}_client-{z}")))?;
    let text = exec(
        &container,
        &[
            "python3",
            "-c",
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9090/stats',timeout=5).read().decode())",
        ],
    )?;
    serde_json::from_str(&text).ok()
}

/// The items Redis holds.
fn redis_items(project: &str) -> Option<u64> {
    let container = container_of(&format!("{project}_redis"))?;
    let text = exec(
        &container,
        &["sh", "-c", "redis-cli --scan --pattern 'item:*' | wc -l"],
    )?;
    text.trim().parse().ok()
}

fn count(stats: &Value, field: &str) -> u64 {
    stats[field].as_u64().unwrap_or(0)
}

/// Waits until the client made `more` calls beyond what it had; returns its counts.
fn client_progress(project: &str, more: u64) -> Value {
    let start = client_stats(project).map_or(0, |s| count(&s, "calls"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = client_stats(project)
            && count(&s, "calls") >= start + more
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the client stopped calling the API: {:?}",
            client_stats(project)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn no_failures(project: &str, after: &str) -> Value {
    let stats = client_progress(project, 20);
    assert_eq!(
        count(&stats, "failures"),
        0,
        "after {after}, the client saw failures: {}",
        stats["last_errors"]
    );
    stats
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compose_app_keeps_every_call_and_every_key_through_each_strategy() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let project = p.project().to_string();
    let _keys = SwarmKeys {
        docker_host: std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        prefix: format!("{project}/"),
    };
    let volume = Volume(format!("{project}_data"));
    // Bound again after the volume, so that its services go first (drop order), also on a
    // failed assertion.
    let p = p;
    p.env.write("compose.yaml", COMPOSE);
    p.env.write("shipctl.yaml", SPEC);
    let run = |args: &[&str]| {
        let out = p.run(args);
        assert!(
            out.status.success(),
            "shipctl {args:?} failed:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        out
    };

    // The whole stack: Redis in place, the API and the client in zones.
    let out = run(&["plan"]);
    let plan = stdout(&out);
    assert!(plan.contains("redis: in-place"), "{plan}");
    assert!(plan.contains("named volume `data`"), "{plan}");
    assert!(plan.contains("api: blue-green"), "{plan}");
    run(&["deploy", "--yes"]);
    no_failures(&project, "the first deploy");

    run(&["deploy", "api", "--version", "2.0.0", "--yes"]);
    let stats = no_failures(&project, "blue-green to 2.0.0");
    assert!(count(&stats["versions"], "2.0.0") > 0, "{stats}");

    // Canary: 1 new task next to 2 old ones, then promote.
    run(&[
        "deploy",
        "api",
        "--version",
        "3.0.0",
        "--strategy",
        "canary",
        "--new",
        "1",
        "--old",
        "2",
        "--yes",
    ]);
    no_failures(&project, "the canary of 3.0.0");
    run(&["promote", "api", "--yes"]);
    no_failures(&project, "promote");

    // Another canary, aborted.
    run(&[
        "deploy",
        "api",
        "--version",
        "2.0.0",
        "--strategy",
        "canary",
        "--yes",
    ]);
    run(&["abort", "api", "--yes"]);
    no_failures(&project, "abort");

    run(&[
        "deploy",
        "api",
        "--version",
        "1.0.0",
        "--strategy",
        "rolling",
        "--yes",
    ]);
    no_failures(&project, "rolling to 1.0.0");

    run(&["rollback", "api", "--to", "3.0.0", "--yes"]);
    no_failures(&project, "rollback");

    // A release that never gets healthy: refused, and nobody inside the stack noticed.
    let out = p.run(&["deploy", "api", "--version", "unhealthy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stats = no_failures(&project, "a failed release");
    eprintln!(
        "client: {} calls, {} failures, versions {}",
        count(&stats, "calls"),
        count(&stats, "failures"),
        stats["versions"]
    );

    // Every key the client wrote is in Redis.
    let written = count(&stats, "written_keys");
    let held = redis_items(&project).expect("count the items in Redis");
    assert!(
        held >= written,
        "Redis holds {held} items, the client wrote {written}"
    );

    // A new Redis version, in place: stop-first on the same volume, and the data stays.
    run(&["deploy", "redis", "--version", "7.0-b", "--yes"]);
    let held_after = redis_items(&project).expect("count the items in Redis");
    assert!(
        held_after >= held,
        "Redis lost items across its update: {held} before, {held_after} after"
    );
    let redis = container_of(&format!("{project}_redis")).expect("the new Redis task");
    let version = exec(&redis, &["cat", "/etc/shipctl-stack-version"]).unwrap_or_default();
    assert_eq!(version.trim(), "7.0-b");
    let after = client_progress(&project, 40);
    eprintln!(
        "Redis update: {held} items before, {held_after} after; the client saw {} failures while Redis restarted (stop-first)",
        count(&after, "failures")
    );
    // The whole stack settles: the zones and the one Redis service, keys in line.
    let out = run(&["status", "--wait", "--timeout", "60s"]);
    assert!(stdout(&out).contains("in-place"), "{}", stdout(&out));
    drop(p);
    drop(volume);
}

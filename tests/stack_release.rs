//! A whole compose app released as one, on the live Swarm through the real binary: six services
//! from real images (a Redis on a volume deployed in place, two HTTP APIs that call it by name,
//! two clients that call the APIs by name and count every failure, and a web service behind a
//! real nginx fed by `shipctl route`), a `depends_on` chain, and load on both paths.
//!
//! A good release switches every zoned service in one atomic write with nothing lost, and a
//! rollback of the whole stack takes every service back the same way; a release whose API never
//! gets healthy switches nothing and puts every new zone back at 0; a release killed with -9
//! before and after its switch converges on the next run, and the keys never point at a zone
//! without running tasks; one interrupted with Ctrl-C during its gates resumes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cli_env::{stderr, stdout};
use crate::support::docker::wait_until;
use crate::support::live::LiveProject;
use crate::support::router::{
    Background, StopOnDrop, free_port, http_get, start_load, start_nginx,
};
use crate::support::stack::SwarmKeys;

/// The stack, with the API and web versions of one release.
fn compose(api: &str, web: &str) -> String {
    format!(
        r#"
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
    image: shipctl-stack-api:{api}
    depends_on: [redis]
    environment:
      REDIS_HOST: redis
      HEALTH_NEEDS_REDIS: "0"
    networks: [back]
    stop_grace_period: 10s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  orders:
    image: shipctl-stack-api:{api}
    depends_on:
      redis:
        condition: service_healthy
    environment:
      REDIS_HOST: redis
      HEALTH_NEEDS_REDIS: "0"
    networks: [back]
    stop_grace_period: 10s
    deploy:
      # Two, as for any service callers must always reach: Swarm may replace a task at any
      # time (a healthcheck that times out), and a single one leaves its name unanswered.
      replicas: 2
      endpoint_mode: dnsrr
  client:
    image: shipctl-stack-client:1.0.0
    depends_on: [api]
    environment:
      API_URL: http://api:8080
    networks: [back]
    deploy:
      endpoint_mode: dnsrr
  orders-client:
    image: shipctl-stack-client:1.0.0
    depends_on: [orders]
    environment:
      API_URL: http://orders:8080
    networks: [back]
    deploy:
      endpoint_mode: dnsrr
  web:
    image: shipctl-test-app:{web}
    depends_on: [api]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
    stop_grace_period: 2s
    ports:
      - target: 8080
        mode: host
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
volumes:
  data: {{}}
networks:
  back:
    driver: overlay
    attachable: true
"#
    )
}

const SPEC: &str = "kv:\n  url: swarm://\n  lock_ttl: 10s\ndefaults:\n  health:\n    timeout: 90s\n    min_healthy: 2s\n  drain: 3s\n  on_failure: rollback\n";

/// Once the router runs, web's old zone drains only after the router serves the new keys.
const SPEC_WITH_ROUTER: &str = "kv:\n  url: swarm://\n  lock_ttl: 10s\ndefaults:\n  health:\n    timeout: 90s\n    min_healthy: 2s\n  drain: 3s\n  on_failure: rollback\nservices:\n  web:\n    drain:\n      time: 3s\n      wait_for_router: true\n      router_timeout: 30s\n";

const ZONED: [&str; 5] = ["api", "orders", "client", "orders-client", "web"];

fn docker(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Running and desired tasks of a Swarm service, from `docker service ls` (`2/2`).
fn replicas(service: &str) -> (u64, u64) {
    let out = docker(&[
        "service",
        "ls",
        "--filter",
        &format!("name={service}"),
        "--format",
        "{{.Name}} {{.Replicas}}",
    ]);
    for line in out.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() == Some(service)
            && let Some((running, desired)) = parts.next().and_then(|r| r.split_once('/'))
        {
            return (running.parse().unwrap_or(0), desired.parse().unwrap_or(0));
        }
    }
    (0, 0)
}

/// The stack's routing keys, read from the Swarm store.
async fn keys(project: &str) -> HashMap<String, String> {
    let kv = shipctl::kv::connect("swarm://", &HashMap::new())
        .await
        .expect("connect to the Swarm KV");
    let mut out = HashMap::new();
    for service in ZONED.iter().chain(["redis"].iter()) {
        for key in ["active-zone", "active-version"] {
            let name = format!("{project}/{service}-{key}");
            if let Ok(Some(entry)) = kv.get(&name).await {
                out.insert(format!("{service}-{key}"), entry.value);
            }
        }
    }
    out
}

/// Every zoned service's active zone is meant to run tasks and runs some (the keys never point
/// at a zone without them). A task Swarm is replacing right now (a healthcheck that timed out
/// on a busy machine) gets 30 s to come back.
async fn keys_point_at_running_zones(project: &str, when: &str) {
    let keys = keys(project).await;
    for service in ZONED {
        let Some(zone) = keys.get(&format!("{service}-active-zone")) else {
            continue;
        };
        let name = format!("{project}_{service}-{zone}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (running, desired) = replicas(&name);
            assert!(
                desired > 0,
                "{when}: {service}'s keys point at {zone}, which is scaled to 0"
            );
            if running > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: {service}'s keys point at {zone}, which runs {running}/{desired}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The API, orders and web keys all say `version` is live.
async fn assert_versions(project: &str, version: &str) {
    let now = keys(project).await;
    for service in ["api", "orders", "web"] {
        assert_eq!(
            now[&format!("{service}-active-version")],
            version,
            "{now:?}"
        );
    }
}

/// The clients' counts, read inside their containers.
fn client_stats(project: &str, client: &str) -> Option<Value> {
    let container = ["blue", "green"].iter().find_map(|z| {
        docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={project}_{client}-{z}"),
        ])
        .lines()
        .next()
        .map(str::to_string)
    })?;
    let out = Command::new("docker")
        .args([
            "exec",
            &container,
            "python3",
            "-c",
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9090/stats',timeout=5).read().decode())",
        ])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn count(stats: &Value, field: &str) -> u64 {
    stats[field].as_u64().unwrap_or(0)
}

/// Waits until each client made 20 more calls; insists that none failed.
fn no_failed_calls(project: &str, after: &str) {
    for client in ["client", "orders-client"] {
        let start = client_stats(project, client).map_or(0, |s| count(&s, "calls"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let stats = loop {
            if let Some(s) = client_stats(project, client)
                && count(&s, "calls") >= start + 20
            {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "{client} stopped calling: {:?}",
                client_stats(project, client)
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(
            count(&stats, "failures"),
            0,
            "after {after}, {client} saw failures: {}",
            stats["last_errors"]
        );
        eprintln!(
            "{client} after {after}: {} calls, 0 failures, versions {}",
            count(&stats, "calls"),
            stats["versions"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_is_released_as_one_switched_together_and_all_or_nothing() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let project = p.project().to_string();
    let _keys = SwarmKeys {
        docker_host: std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        prefix: format!("{project}/"),
    };
    let volume = format!("{project}_data");
    p.env.write("compose.yaml", &compose("1.0.0", "1.0.0"));
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

    // The plan puts every service after those it depends on.
    let plan = stdout(&run(&["plan"]));
    let at = |name: &str| {
        plan.find(&format!("\n{name}: "))
            .or_else(|| plan.starts_with(&format!("{name}: ")).then_some(0))
            .unwrap_or_else(|| panic!("{name} not in the plan:\n{plan}"))
    };
    assert!(
        at("redis") < at("api") && at("api") < at("client"),
        "{plan}"
    );
    assert!(at("orders") < at("orders-client"), "{plan}");

    // First release: everything created, then switched together.
    // Progress lines go to stderr, the summary to stdout.
    let first = stderr(&run(&["deploy", "--yes"]));
    assert!(first.contains("release: switched"), "{first}");
    no_failed_calls(&project, "the first release");

    // The router for web: `shipctl route` renders nginx from the keys and the tasks.
    let dir = p.env.dir().to_path_buf();
    let config = dir.join("router.conf");
    let listen = format!("127.0.0.1:{}", free_port());
    let pid = dir.join("nginx.pid");
    let reload = format!(
        "if [ -s {pid} ]; then kill -HUP $(cat {pid}); fi",
        pid = pid.display()
    );
    let mut route = crate::support::router::shipctl(&dir, &project);
    route
        .args(["route", "web", "--listen", &listen])
        .arg("--config")
        .arg(&config)
        .args(["--reload", &reload]);
    let route = Background::start(route, dir.join("route.log"));
    wait_until(
        "the router's first file",
        Duration::from_secs(20),
        || async {
            if config.exists() {
                Ok(())
            } else {
                Err(route.log())
            }
        },
    )
    .await;
    let nginx = start_nginx("stack release test", &dir, &config);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    let mut load = None;
    if nginx.is_some() {
        wait_until("nginx answers", Duration::from_secs(15), || async {
            http_get(&listen, "/version")
        })
        .await;
        load = Some(start_load(&listen, &stop));
    }

    p.env.write("shipctl.yaml", SPEC_WITH_ROUTER);

    // A good release of the APIs and web: one switch for every zoned service that changed.
    p.env.write("compose.yaml", &compose("2.0.0", "2.0.0"));
    let out = p
        .env
        .shipctl()
        .args(["deploy", "--yes", "--output", "json", "-p", &project])
        .output()
        .expect("run shipctl");
    let events = stdout(&out);
    assert!(out.status.success(), "{events}\n{}", stderr(&out));
    let switched: Vec<Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "release_switched")
        .collect();
    assert_eq!(switched.len(), 1, "{events}");
    let names: Vec<&str> = switched[0]["services"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for service in ["api", "orders", "web"] {
        assert!(names.contains(&service), "{service} not in {names:?}");
    }
    assert_eq!(switched[0]["writes"], 1, "{events}");
    // web's old zone drained only once the router served the switch.
    assert!(
        events.contains("\"event\":\"router_confirmed\""),
        "{events}"
    );
    assert_versions(&project, "2.0.0").await;
    no_failed_calls(&project, "a good release");
    keys_point_at_running_zones(&project, "after a good release").await;

    // The whole stack rolled back under the same load: every service of the good release is
    // back on the version it had before, switched together.
    let out = run(&["rollback", "--yes"]);
    let message = format!("{}{}", stdout(&out), stderr(&out));
    assert!(message.contains("release: switched"), "{message}");
    assert_versions(&project, "1.0.0").await;
    no_failed_calls(&project, "a rollback of the whole stack");
    keys_point_at_running_zones(&project, "after a rollback of the whole stack").await;

    // A release whose API never gets healthy: nothing switches, every new zone back at 0.
    p.env.write("compose.yaml", &compose("unhealthy", "3.0.0"));
    let before = keys(&project).await;
    let out = p.run(&["deploy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("api"), "{message}");
    assert!(message.contains("nothing was switched"), "{message}");
    assert_eq!(keys(&project).await, before, "no key moved");
    for service in ["api", "orders", "web"] {
        let zone = &before[&format!("{service}-active-zone")];
        let other = if zone == "blue" { "green" } else { "blue" };
        assert_eq!(
            replicas(&format!("{project}_{service}-{other}")).1,
            0,
            "{service}'s new zone went back to 0"
        );
    }
    no_failed_calls(&project, "a failed release");

    // Killed with -9 once its new zones are up, then again right after its switch: the next
    // run converges, and the keys never point at a zone without its tasks.
    // And interrupted (Ctrl-C) while its gates wait: it stops at a safe point with exit 130,
    // and the next run resumes it.
    for (moment, signal, after, version) in [
        (
            "\"action\":\"write_keys\"",
            "KILL",
            "a kill before the switch",
            "3.0.0",
        ),
        (
            "\"event\":\"release_switched\"",
            "KILL",
            "a kill after the switch",
            "2.0.0",
        ),
        (
            "\"action\":\"wait_healthy\"",
            "INT",
            "an interruption during the gates",
            "3.0.0",
        ),
    ] {
        p.env.write("compose.yaml", &compose(version, version));
        signal_at(&p, &project, moment, signal);
        keys_point_at_running_zones(&project, after).await;
        // The killed run's locks expire by themselves (kv.lock_ttl, 10 s here).
        run(&["deploy", "--yes", "--lock-wait", "2m"]);
        keys_point_at_running_zones(&project, &format!("the run after {after}")).await;
        assert_versions(&project, version).await;
        no_failed_calls(&project, after);
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(load) = load {
        let load = load.join().expect("the load thread");
        eprintln!(
            "router load through every release: {}",
            load.summary(&["1.0.0", "2.0.0", "3.0.0"])
        );
        assert_eq!(load.failed(), 0, "{}", load.failures());
        assert!(load.requests > 100, "{}", load.summary(&[]));
    }
    drop(p);
    let _ = Command::new("docker")
        .args(["volume", "rm", "-f", &volume])
        .output();
}

/// Starts `shipctl deploy --output json` and sends it `signal` (`KILL`, `INT`) on the first
/// event line that contains `moment`; an interrupted run must stop with exit 130.
fn signal_at(p: &LiveProject, project: &str, moment: &str, signal: &str) {
    let mut child = crate::support::router::shipctl(p.env.dir(), project)
        .args(["deploy", "--yes", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shipctl deploy");
    let Some(out) = child.stdout.take() else {
        panic!("no stdout");
    };
    let mut seen = Vec::new();
    let mut sent = false;
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        if !sent && line.contains(moment) {
            crate::support::stack::signal(child.id(), signal);
            sent = true;
        }
        seen.push(line);
    }
    let status = child.wait().expect("wait for shipctl");
    assert!(
        sent,
        "the deploy ended before `{moment}`:\n{}",
        seen.join("\n")
    );
    if signal == "INT" {
        assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    } else {
        assert!(!status.success(), "{}", seen.join("\n"));
    }
}

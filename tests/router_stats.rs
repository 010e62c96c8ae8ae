//! `shipctl route --stats-listen` with real routers carrying traffic: nginx and HAProxy in
//! front of two zones of the threaded test API (a canary: blue 1.0.0 and green 1.1.0, split
//! 75/25), a known number of requests of each kind (200, 404, 503), then `/metrics` scraped
//! and read with the parser that deploys use. Every answer carries `X-App-Version`, so the
//! client knows which zone answered each request, retried ones included, and
//! `X-App-Connection-Requests`, so it knows whether the router reused its connection to the task.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use shipctl::ports::RouterReport;
use shipctl::ports::router_stats::{ZoneStats, parse_router_stats};
use shipctl::ports::zone_counters;

use crate::support::docker::wait_until;
use crate::support::prereq;
use crate::support::router::{
    Background, KillOnDrop, LiveRouterProject, free_port, read, shipctl, start_haproxy, start_nginx,
};

/// Two tasks per zone of the threaded API, host-mode ports. Redis is a closed port, so
/// `/count` answers 503 at once (a real upstream 5xx); `/health` does not ask Redis.
pub(crate) fn write_project(dir: &Path, service: &str) {
    let compose = format!(
        r#"services:
  {service}:
    image: shipctl-stack-api:${{IMAGE_VERSION:-1.0.0}}
    environment:
      HEALTH_NEEDS_REDIS: "0"
      REDIS_HOST: 127.0.0.1
      REDIS_PORT: "1"
      REDIS_TIMEOUT_S: "0.5"
    stop_grace_period: 2s
    ports:
      - target: 8080
        mode: host
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
"#
    );
    let spec = format!(
        "kv:\n  url: swarm://\n  layout: classic\nservices:\n  {service}:\n    health:\n      timeout: 1m\n      min_healthy: 1s\n    drain:\n      time: 1s\n      wait_for_router: false\n"
    );
    std::fs::write(dir.join("compose.yaml"), compose).expect("write compose");
    std::fs::write(dir.join("shipctl.yaml"), spec).expect("write spec");
}

/// Whether the stack images exist (scripts/stack-images/build.sh); a notice (or, in CI, a
/// failure) when they do not.
pub(crate) fn stack_images() -> bool {
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", "shipctl-stack-api:1.1.0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        prereq::missing(
            "router stats",
            "the real-stack images (scripts/stack-images/build.sh)",
        );
    }
    present
}

pub(crate) fn run_ok(dir: &Path, project: &str, args: &[&str]) {
    let out = shipctl(dir, project)
        .args(args)
        .output()
        .expect("run shipctl");
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET `path` with HTTP/1.0: the status and the `X-App-Version` header (the zone's version).
pub(crate) fn request(addr: &str, path: &str) -> std::io::Result<(u16, Option<String>)> {
    let (status, head) = request_head(addr, path)?;
    Ok((status, header(&head, "x-app-version")))
}

/// GET `path` with HTTP/1.0 (a new connection to the router): the status and the head.
fn request_head(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP answer");
    let head = text.split("\r\n\r\n").next().ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, head.to_string()))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn scrape(addr: &str) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") || !head.contains("version=0.0.4") {
        return Err(format!("unexpected answer: {head}"));
    }
    Ok(body.to_string())
}

/// Per zone: requests, responses per class, histogram count and `+Inf` bucket, from `after`
/// minus `before` (summed over the versions of a zone).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counted {
    requests: u64,
    classes: [u64; 4],
    count: u64,
    inf: u64,
}

fn per_zone(before: &[ZoneStats], after: &[ZoneStats], service: &str) -> BTreeMap<String, Counted> {
    let mut zones: BTreeMap<String, Counted> = BTreeMap::new();
    for now in after.iter().filter(|s| s.service == service) {
        let was = before
            .iter()
            .find(|b| (&b.zone, &b.version) == (&now.zone, &now.version))
            .cloned()
            .unwrap_or_default();
        let z = zones.entry(now.zone.clone()).or_default();
        z.requests += now.requests - was.requests;
        for i in 0..4 {
            z.classes[i] += now.classes[i] - was.classes[i];
        }
        z.count += now.duration_count - was.duration_count;
        let inf = |s: &ZoneStats| s.buckets.last().map_or(0, |b| b.1);
        z.inf += inf(now) - inf(&was);
        // Cumulative buckets never go down from one bound to the next.
        assert!(
            now.buckets
                .windows(2)
                .all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0),
            "{now:?}"
        );
        assert_eq!(now.buckets.len(), 12, "{now:?}");
    }
    zones
}

/// What the client saw, per zone (by version): counts per class.
fn client_counts(answers: &[(u16, Option<String>)]) -> BTreeMap<String, [u64; 4]> {
    let mut zones: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for (status, version) in answers {
        let zone = match version.as_deref() {
            Some("1.0.0") => "blue",
            Some("1.1.0") => "green",
            _ => "",
        };
        let class = usize::from(status / 100) - 2;
        zones.entry(zone.to_string()).or_default()[class] += 1;
    }
    zones
}

/// Runs one router (`nginx` or `haproxy`) with `--stats-listen` in front of the canary and
/// checks its counters against what the client saw.
async fn counts_match_the_client(which: &str) {
    let Some(live) = LiveRouterProject::new(if which == "nginx" { "sn" } else { "sh" }).await
    else {
        return;
    };
    if !stack_images() {
        return;
    }
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service);
    run_ok(dir, project, &["deploy", "--version", "1.0.0", "--yes"]);
    // A canary: green 1.1.0 next to blue 1.0.0, two tasks each; then a 75/25 split.
    run_ok(
        dir,
        project,
        &[
            "deploy",
            "--version",
            "1.1.0",
            "--strategy",
            "canary",
            "--new",
            "2",
            "--old",
            "2",
            "--yes",
        ],
    );
    live.kv
        .put(&format!("{service}-traffic"), "blue=75,green=25")
        .await
        .expect("write traffic");

    let config = dir.join(format!("{which}.conf"));
    let listen = format!("127.0.0.1:{}", free_port());
    let stats = format!("127.0.0.1:{}", free_port());
    let pid = dir.join(format!("{which}.pid"));
    let (check, signal) = match which {
        "nginx" => ("nginx -t -q -c {file}", "HUP"),
        _ => ("haproxy -c -q -f {file}", "USR2"),
    };
    // The router starts once the first file is there; until then a reload has nothing to do.
    let reload = format!(
        "if [ -s {pid} ]; then kill -{signal} $(cat {pid}); fi",
        pid = pid.display()
    );
    let mut cmd = shipctl(dir, project);
    cmd.args(["route", "--template", which, "--id", which])
        .args(["--listen", &listen, "--check", check, "--reload", &reload])
        .args(["--stats-listen", &stats, "--heartbeat", "1s"])
        .arg("--config")
        .arg(&config);
    let route = Background::start(cmd, dir.join("route.log"));
    let split = wait_until("the 75/25 config", Duration::from_secs(20), || async {
        let text = read(&config);
        let weighted = match which {
            "nginx" => text.contains("weight=38") && text.contains("weight=13"),
            _ => text.contains("weight 38") && text.contains("weight 13"),
        };
        if weighted && text.contains("shipctl-stats") {
            Ok(text)
        } else {
            Err(format!("{text}\n{}", route.log()))
        }
    })
    .await;
    let _router: KillOnDrop = match which {
        "nginx" => start_nginx("router stats", dir, &config),
        _ => start_haproxy("router stats", dir, &config),
    }
    .map(|(child, _)| child)
    .unwrap_or_else(|| panic!("{which} is needed here"));
    wait_until(
        &format!("{which} answers"),
        Duration::from_secs(10),
        || async {
            match request(&listen, "/version") {
                Ok((200, Some(_))) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    // The registration advertises the counters.
    let registration = format!("{service}-router/{which}");
    let report: RouterReport =
        wait_until("stats_url registered", Duration::from_secs(10), || async {
            let value = live
                .kv
                .get(&registration)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no registration yet")?;
            let report: RouterReport =
                serde_json::from_str(&value.value).map_err(|e| e.to_string())?;
            if report.stats_url.is_some() && !report.keys.is_empty() {
                Ok(report)
            } else {
                Err(value.value)
            }
        })
        .await;
    assert_eq!(
        report.stats_url.as_deref(),
        Some(format!("http://{stats}/metrics").as_str())
    );

    // Lines of the requests above are on their way: let them land before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_text = scrape(&stats).expect("scrape");
    let before = parse_router_stats(&before_text).expect("parse");

    // 300 answered 200, 50 404 (no such path), 50 503 (Redis is unreachable), interleaved.
    let mut answers = Vec::new();
    for i in 0..400 {
        let path = match i % 8 {
            3 => "/nope",
            6 => "/count",
            _ => "/version",
        };
        match request(&listen, path) {
            Ok(answer) => answers.push(answer),
            Err(e) => panic!("request {i} {path} failed: {e}\n{}", route.log()),
        }
    }
    let seen = client_counts(&answers);
    let sent: u64 = answers.len() as u64;
    let (after, text) = wait_until(
        "the counters of every request",
        Duration::from_secs(10),
        || async {
            let text = scrape(&stats)?;
            let after = parse_router_stats(&text)?;
            let total: u64 = per_zone(&before, &after, service)
                .values()
                .map(|z| z.requests)
                .sum();
            if total >= sent {
                Ok((after, text))
            } else {
                Err(format!("{total} of {sent}\n{text}"))
            }
        },
    )
    .await;
    let counted = per_zone(&before, &after, service);
    println!("{which}: client saw {seen:?}; router counted {counted:?}");

    let total: u64 = counted.values().map(|z| z.requests).sum();
    assert_eq!(total, sent, "every request once\n{text}");
    for zone in ["blue", "green"] {
        let c = counted.get(zone).cloned().unwrap_or_default();
        let s = seen.get(zone).copied().unwrap_or_default();
        assert_eq!(
            c.classes, s,
            "{zone}: classes as the client saw them\n{text}"
        );
        assert_eq!(c.classes.iter().sum::<u64>(), c.requests, "{zone}\n{text}");
        assert_eq!((c.count, c.inf), (c.requests, c.requests), "{zone}\n{text}");
    }
    assert_eq!(
        counted.get("").map_or(0, |z| z.requests),
        0,
        "every request reached a task\n{text}"
    );
    assert_eq!(seen.get("").copied().unwrap_or_default(), [0; 4]);
    let errors: u64 = counted.values().map(|z| z.classes[3]).sum();
    assert_eq!(errors, 50, "{text}");
    let not_found: u64 = counted.values().map(|z| z.classes[2]).sum();
    assert_eq!(not_found, 50, "{text}");

    // The planned split, within 10 points, on the 2xx answers.
    let blue_ok = seen.get("blue").map_or(0, |c| c[0]) as f64;
    assert!(
        (blue_ok / 300.0 - 0.75).abs() <= 0.10,
        "blue took {blue_ok} of 300:\n{split}"
    );
    // The deploy side's view of the same scrapes (what a `router` analysis measures).
    let green = zone_counters(&text, service, "green", "1.1.0")
        .expect("counters")
        .since(&zone_counters(&before_text, service, "green", "1.1.0").expect("counters"));
    assert_eq!(green.requests, counted["green"].requests);
    assert_eq!(green.errors, counted["green"].classes[3]);
    let latency = green.quantile(0.99).expect("a latency with requests");
    assert!(latency > 0.0 && latency <= 10.0, "{green:?}");

    // 100 more, each on a new connection to the router. The app numbers the requests on its
    // own connections (X-App-Connection-Requests), so a number above 1 is a reused one.
    let mut reused = 0;
    for i in 0..100 {
        let (status, head) = request_head(&listen, "/version")
            .unwrap_or_else(|e| panic!("request {i} failed: {e}\n{}", route.log()));
        assert_eq!(status, 200, "{head}");
        let on_connection = header(&head, "x-app-connection-requests")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no request count in\n{head}"));
        reused += usize::from(on_connection > 1);
    }
    println!("{which}: {reused} of 100 requests on a reused connection to a task");
    if which == "haproxy" {
        // `http-reuse safe`, HAProxy's default: the first request of a client's connection
        // always gets a new one, and these clients send one request per connection.
        assert_eq!(reused, 0, "{split}");
    }
    if which == "nginx" {
        // The template keeps idle connections to the tasks, so only a first request to a task
        // needs a new one (a /count above, answered 503 and retried, closed its connection).
        assert!(reused >= 96, "{reused} of 100 reused a connection\n{split}");

        // The kept connections go with the reload that leaves a zone out: nginx's old worker
        // closes its idle ones as it exits, so none stays open to tasks about to be drained.
        let green = zone_targets(&read(&config), "green");
        assert_eq!(green.len(), 2, "{}", read(&config));
        let open = |targets: &[String]| targets.iter().map(|t| established_to(t)).sum::<usize>();
        assert!(open(&green) > 0, "nginx keeps connections to green's tasks");
        live.kv
            .put(&format!("{service}-traffic"), "blue=100,green=0")
            .await
            .expect("write traffic");
        wait_until(
            "green out of the config, its connections closed",
            Duration::from_secs(10),
            || async {
                let text = read(&config);
                match open(&green) {
                    0 if !text.contains("# green") => Ok(()),
                    n => Err(format!("{n} open\n{text}\n{}", route.log())),
                }
            },
        )
        .await;
    }
    drop(route);
}

/// The targets of `zone`'s servers in a rendered nginx config
/// (`server TARGET weight=W max_fails=0; # ZONE VERSION`).
fn zone_targets(config: &str, zone: &str) -> Vec<String> {
    let tag = format!("# {zone} ");
    config
        .lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| l.trim().strip_prefix("server ")?.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Established TCP connections from this host to `target` (`IP:PORT`), as `ss` lists them.
fn established_to(target: &str) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htn", "state", "established", "dst", target])
        .output()
        .expect("run ss (iproute2)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_counts_each_request_per_zone_as_the_client_saw_it() {
    counts_match_the_client("nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_counts_each_request_per_zone_as_the_client_saw_it() {
    counts_match_the_client("haproxy").await;
}

#[test]
fn stats_flags_are_checked_before_anything_runs() {
    let env = crate::support::cli_env::CliEnv::new();
    env.write("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n");
    for (args, expected) in [
        (
            &["--stats-listen", "9180"][..],
            "--stats-listen `9180` is not IP:PORT",
        ),
        (
            &["--stats-listen", "127.0.0.1:9180", "--once"][..],
            "--once renders and exits",
        ),
        (
            &["--stats-listen", "127.0.0.1:9180", "--stats-syslog", "x"][..],
            "--stats-syslog `x` is not IP:PORT",
        ),
    ] {
        let mut all = vec!["route", "--config", "router.conf"];
        all.extend_from_slice(args);
        let output = env.run(&all);
        let err = crate::support::cli_env::stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!env.dir().join("router.conf").exists());
    }
}

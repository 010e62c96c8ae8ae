//! Canaries that judge themselves, on the live Swarm with real routers carrying traffic: a
//! Redis on a volume and an HTTP API that stores items in it, nginx in front fed by
//! `shipctl route --stats-listen`, and a client that stores an item every few milliseconds
//! through the router and notes which version answered. Releases that pass their healthcheck
//! but answer 5% of their requests with 500, or 300 ms late, are caught by their traffic and
//! go back; a good one passes every analysis (and a webhook that holds it until it says pass);
//! a bake after a blue-green switch points the keys back at the warm zone. Every stored item
//! is still there at the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use shipctl::ports::{Kv, RouterReport};

use crate::support::docker::{Cleanup, require_docker, wait_until};
use crate::support::router::{
    Background, KillOnDrop, StopOnDrop, free_port, http_get, shipctl, start_nginx,
};
use crate::support::stack::{SwarmKeys, Volume, swarm_kv};
use crate::support::webhook::{Reply, Webhook};

const COMPOSE: &str = r#"
services:
  api:
    image: shipctl-stack-api:${IMAGE_VERSION:-1.0.0}
    depends_on: [redis]
    environment:
      REDIS_HOST: redis
      HEALTH_NEEDS_REDIS: "0"
    networks: [back]
    stop_grace_period: 5s
    ports:
      - target: 8080
        mode: host
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  redis:
    image: shipctl-stack-redis:7.0
    volumes:
      - data:/data
    networks: [back]
    stop_grace_period: 5s
    deploy:
      endpoint_mode: dnsrr
volumes:
  data: {}
networks:
  back:
    driver: overlay
    attachable: true
"#;

/// The spec of every deploy: `api` as given, the rest short.
fn spec(api: &str) -> String {
    format!(
        "kv:\n  url: swarm://\ndefaults:\n  health:\n    timeout: 90s\n    min_healthy: 1s\n  drain:\n    time: 1s\n    wait_for_router: true\n    router_timeout: 30s\n  on_failure: rollback\nservices:\n  api:\n{api}"
    )
}

/// One answer the client got.
#[derive(Debug, Clone)]
struct Answer {
    at: Instant,
    status: u16,
    /// `X-App-Version`, when the API answered.
    version: Option<String>,
    error: Option<String>,
}

/// The stack on the Swarm, nginx and `shipctl route` in front, and the client.
struct Bed {
    project: String,
    dir: tempfile::TempDir,
    listen: String,
    stats: String,
    kv: Box<dyn Kv>,
    _route: Background,
    _nginx: KillOnDrop,
    _keys: SwarmKeys,
    _volume: Volume,
    _cleanup: Cleanup,
}

impl Bed {
    /// `None` (skipped) without a Swarm or nginx outside CI.
    async fn new(test: &str) -> Option<Bed> {
        let cluster = require_docker().await?;
        let cleanup = Cleanup::new(&cluster);
        let project = cleanup.project.clone();
        let keys = SwarmKeys {
            docker_host: cluster.host().to_string(),
            prefix: format!("{project}/"),
        };
        let volume = Volume(format!("{project}_data"));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("compose");
        std::fs::write(
            dir.path().join("shipctl.yaml"),
            // No router runs yet to confirm the first deploy's keys.
            spec("    strategy: blue-green\n")
                .replace("wait_for_router: true", "wait_for_router: false"),
        )
        .expect("spec");
        let out = shipctl(dir.path(), &project)
            .args(["deploy", "--yes"])
            .output()
            .expect("deploy");
        assert!(out.status.success(), "first deploy: {}", text(&out.stderr));

        let listen = format!("127.0.0.1:{}", free_port());
        let stats = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("nginx.conf");
        let route = |once: bool| {
            let mut cmd = shipctl(dir.path(), &project);
            cmd.args(["route", "api", "--template", "nginx", "--listen", &listen])
                .arg("--config")
                .arg(&config);
            // The first file starts nginx; the running router adds the statistics' logging.
            if once {
                cmd.arg("--once");
            } else {
                cmd.args(["--stats-listen", &stats]);
            }
            cmd
        };
        let out = route(true).output().expect("route --once");
        assert!(out.status.success(), "route --once: {}", text(&out.stderr));
        let (nginx, pid) = start_nginx(test, dir.path(), &config)?;
        let mut cmd = route(false);
        cmd.args(["--id", "lb", "--heartbeat", "1s"])
            .args(["--reload", &format!("kill -HUP $(cat {})", pid.display())]);
        let route = Background::start(cmd, dir.path().join("route.log"));
        let kv = swarm_kv(&cluster);
        let registration = format!("{project}/api-router/lb");
        let kv: Box<dyn Kv> = Box::new(kv);
        wait_until(
            "the router registers its statistics",
            Duration::from_secs(20),
            || {
                let kv = &kv;
                let registration = registration.clone();
                async move {
                    let entry = kv.get(&registration).await.map_err(|e| e.to_string())?;
                    let report: Option<RouterReport> =
                        entry.and_then(|e| serde_json::from_str(&e.value).ok());
                    match report.and_then(|r| r.stats_url) {
                        Some(url) => Ok(url),
                        None => Err("no registration with a stats_url yet".to_string()),
                    }
                }
            },
        )
        .await;
        let answer = wait_until("nginx answers", Duration::from_secs(20), || async {
            http_get(&listen, "/version")
        })
        .await;
        assert_eq!(answer.trim(), "1.0.0");
        Some(Bed {
            project,
            dir,
            listen,
            stats,
            kv,
            _route: route,
            _nginx: nginx,
            _keys: keys,
            _volume: volume,
            _cleanup: cleanup,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_spec(&self, api: &str) {
        std::fs::write(self.path().join("shipctl.yaml"), spec(api)).expect("spec");
    }

    /// `shipctl deploy` of `version`, its NDJSON events read line by line as they come.
    fn deploy(&self, version: &str, extra: &[&str]) -> Deployed {
        let started = Instant::now();
        let mut child = shipctl(self.path(), &self.project)
            .args([
                "deploy",
                "api",
                "--version",
                version,
                "--yes",
                "--output",
                "json",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start deploy");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let events = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                .map(|v| (Instant::now(), v))
                .collect::<Vec<_>>()
        });
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        let status = child.wait().expect("deploy ends");
        Deployed {
            started,
            ended: Instant::now(),
            code: status.code(),
            events: events.join().expect("events"),
            stderr: err,
        }
    }

    async fn key(&self, name: &str) -> Option<String> {
        let key = format!("{}/api-{name}", self.project);
        self.kv
            .get(&key)
            .await
            .expect("read a key")
            .map(|e| e.value)
    }
}

struct Deployed {
    started: Instant,
    ended: Instant,
    code: Option<i32>,
    events: Vec<(Instant, Value)>,
    stderr: String,
}

impl Deployed {
    fn of(&self, kind: &str) -> Vec<&(Instant, Value)> {
        self.events
            .iter()
            .filter(|(_, e)| e["event"] == kind)
            .collect()
    }

    /// Each measurement of `metric`: its result and value.
    fn measured(&self, metric: &str) -> Vec<(String, String)> {
        self.of("analysis_measured")
            .into_iter()
            .filter(|(_, e)| e["metric"] == metric)
            .map(|(_, e)| {
                (
                    e["result"].as_str().unwrap_or("").to_string(),
                    e["value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

impl std::fmt::Display for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "exit {:?}; stderr:\n{}", self.code, self.stderr)?;
        for (_, e) in &self.events {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Stores items through the router from 4 threads, each one every `every`, until stopped:
/// concurrent, as real clients are, so one slow answer does not hold all traffic back.
struct Client {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: StopOnDrop,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Client {
    fn start(listen: &str, every: Duration) -> Client {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..4)
            .map(|t| {
                let (addr, out, flag) = (listen.to_string(), answers.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    let mut next = Instant::now();
                    while !flag.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next = next.max(now) + every;
                        n += 1;
                        let answer = post(&addr, &format!("/items/item-{t}-{n}"), &n.to_string());
                        out.lock().expect("answers").push(answer);
                    }
                })
            })
            .collect();
        Client {
            answers,
            stop: StopOnDrop(stop),
            threads,
        }
    }

    /// The answers between `from` and `to`.
    fn between(&self, from: Instant, to: Instant) -> Vec<Answer> {
        self.answers
            .lock()
            .expect("answers")
            .iter()
            .filter(|a| a.at >= from && a.at <= to)
            .cloned()
            .collect()
    }

    fn stop(mut self) -> Vec<Answer> {
        self.stop.0.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("client thread");
        }
        std::mem::take(&mut *self.answers.lock().expect("answers"))
    }
}

/// What a window of answers says: how many, and how each version answered.
fn tally(answers: &[Answer]) -> String {
    let mut by: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut errors = 0;
    for a in answers {
        match &a.version {
            Some(v) => {
                let e = by.entry(v.clone()).or_default();
                e.0 += 1;
                if a.status >= 500 {
                    e.1 += 1;
                }
            }
            None => errors += 1,
        }
    }
    let mut out = format!("{} requests", answers.len());
    for (v, (n, failed)) in by {
        out.push_str(&format!("; {v}: {n} answers, {failed} 5xx"));
    }
    out.push_str(&format!("; {errors} without an answer from the API"));
    out
}

/// The versions built to serve badly.
const BAD: &[&str] = &["errors", "slow"];

/// Answers that failed without a bad version being the one that failed them: the router
/// found no task, the old version failed, a connection broke. (A bad version keeps a few
/// requests for the moment the router takes to reload after the keys went back, also into
/// the next deploy's window: those are its own.)
fn failed_elsewhere(answers: &[Answer]) -> Vec<Answer> {
    answers
        .iter()
        .filter(|a| {
            let failed = a.error.is_some() || !(200..300).contains(&a.status);
            failed && !a.version.as_deref().is_some_and(|v| BAD.contains(&v))
        })
        .cloned()
        .collect()
}

fn post(addr: &str, path: &str, body: &str) -> Answer {
    let at = Instant::now();
    let result = (|| -> std::io::Result<(u16, Option<String>)> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: api\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let version = text.lines().find_map(|l| {
            l.strip_prefix("X-App-Version: ")
                .or_else(|| l.strip_prefix("x-app-version: "))
                .map(|v| v.trim().to_string())
        });
        Ok((status, version))
    })();
    match result {
        Ok((status, version)) => Answer {
            at,
            status,
            version,
            error: None,
        },
        Err(e) => Answer {
            at,
            status: 0,
            version: None,
            error: Some(e.to_string()),
        },
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The items the API holds, asked through the router.
fn stored(listen: &str) -> usize {
    http_get(listen, "/count")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

const ROUTER_ANALYSIS: &str = "    analysis:\n      interval: 4s\n      count: 2\n      metrics:\n        - {name: errors, provider: router, query: error_rate, condition: \"< 1%\", min_requests: 20}\n        - {name: latency, provider: router, query: p99, condition: \"<= 250ms\", min_requests: 20}\n";

const CANARY: &str = "    strategy: canary\n    promote: true\n    canary:\n      new: 1\n      old: 2\n      steps:\n        - {new: 2, old: 1}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_are_judged_by_their_traffic_through_the_router() {
    let Some(bed) = Bed::new("canary analysis test").await else {
        return;
    };
    let client = Client::start(&bed.listen, Duration::from_millis(30));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. 5% errors: caught by the router's counts, the canary aborted, the old zone whole.
    bed.write_spec(&format!("{CANARY}{ROUTER_ANALYSIS}"));
    let bad = bed.deploy("errors", &[]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(
        bad.stderr.contains("analysis failed: errors: error_rate"),
        "the message names the metric and its value:\n{bad}"
    );
    let errors = bad.measured("errors");
    let failed_at = errors
        .iter()
        .position(|(r, _)| r == "failed")
        .unwrap_or_else(|| panic!("no failed measurement:\n{bad}"));
    assert!(failed_at < 2, "caught within 2 intervals: {errors:?}");
    let window = client.between(bad.started, bad.ended);
    println!("errors release: {}; measured {:?}", tally(&window), errors);
    let elsewhere = failed_elsewhere(&window);
    assert!(
        elsewhere.is_empty(),
        "the old version kept serving: {elsewhere:?}"
    );
    assert_eq!(bed.key("active-version").await.as_deref(), Some("1.0.0"));
    assert_eq!(
        bed.key("traffic").await.as_deref(),
        Some("blue=100,green=0")
    );

    // 2. 300 ms slower: caught by the p99.
    let slow = bed.deploy("slow", &[]);
    assert_eq!(slow.code, Some(1), "{slow}");
    assert!(slow.stderr.contains("latency: p99"), "{slow}");
    let window = client.between(slow.started, slow.ended);
    println!(
        "slow release: {}; measured {:?}",
        tally(&window),
        slow.measured("latency")
    );
    let elsewhere = failed_elsewhere(&window);
    assert!(elsewhere.is_empty(), "{elsewhere:?}");

    // 3. A good version, held by a webhook until it says pass: goes all the way.
    let hook = approval_hook(2);
    bed.write_spec(&format!(
        "{CANARY}{ROUTER_ANALYSIS}        - {{name: approval, provider: http, url: \"http://{}/approve/{{service}}/{{version}}\"}}\n",
        hook.addr
    ));
    let good = bed.deploy("1.1.0", &[]);
    assert_eq!(good.code, Some(0), "{good}");
    assert_eq!(bed.key("active-version").await.as_deref(), Some("1.1.0"));
    let approvals = good.measured("approval");
    assert_eq!(
        approvals
            .iter()
            .map(|(r, _)| r.as_str())
            .take(3)
            .collect::<Vec<_>>(),
        ["waiting", "waiting", "passed"],
        "the webhook held the first step until it answered pass:\n{good}"
    );
    assert!(
        good.measured("errors").iter().all(|(r, _)| r == "passed"),
        "{good}"
    );
    assert_eq!(
        hook.bodies()[0]["version"],
        "1.1.0",
        "the webhook hears what it judges"
    );
    let status = shipctl(bed.path(), &bed.project)
        .args(["status", "api"])
        .output()
        .expect("status");
    let status = text(&status.stdout);
    assert!(
        status.contains("analysis of 1.1.0 (success")
            && status.contains("errors: passed (error_rate")
            && status.contains("approval: passed (pass (approved))"),
        "status shows the last analysis:\n{status}"
    );
    let history = shipctl(bed.path(), &bed.project)
        .args(["history", "api", "--output", "json"])
        .output()
        .expect("history");
    let history = text(&history.stdout);
    assert!(
        history.contains("error_rate 4.") || history.contains("error_rate 5"),
        "the history keeps the failed release's measured rate:\n{history}"
    );
    let window = client.between(good.started, good.ended);
    println!("good release: {}", tally(&window));
    let elsewhere = failed_elsewhere(&window);
    assert!(elsewhere.is_empty(), "{elsewhere:?}");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let answers = client.stop();
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(
        stored(&bed.listen),
        created,
        "every stored item is still in Redis ({})",
        tally(&answers)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_judges_a_canary_and_a_bake_switches_straight_back() {
    let Some(bed) = Bed::new("prometheus and bake test").await else {
        return;
    };
    let Some(prometheus) = Prometheus::start(bed.path(), &bed.stats) else {
        return;
    };
    let client = Client::start(&bed.listen, Duration::from_millis(30));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 1. The Prometheus provider, on the router's statistics that Prometheus scrapes.
    let query = "sum(rate(shipctl_router_responses_total{service=\\\"{service}\\\",zone=\\\"{zone}\\\",version=\\\"{version}\\\",class=\\\"5xx\\\"}[8s])) / sum(rate(shipctl_router_requests_total{service=\\\"{service}\\\",zone=\\\"{zone}\\\",version=\\\"{version}\\\"}[8s]))";
    bed.write_spec(&format!(
        "{CANARY}    analysis:\n      interval: 4s\n      count: 3\n      inconclusive_limit: 2\n      metrics:\n        - name: prom-errors\n          provider: prometheus\n          address: http://{}\n          query: \"{query}\"\n          condition: \"< 0.01\"\n",
        prometheus.addr
    ));
    let bad = bed.deploy("errors", &[]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(bad.stderr.contains("analysis failed: prom-errors"), "{bad}");
    println!(
        "prometheus: {}; measured {:?}",
        tally(&client.between(bad.started, bad.ended)),
        bad.measured("prom-errors")
    );
    assert_eq!(bed.key("active-version").await.as_deref(), Some("1.0.0"));

    // 2. Blue-green with a bake: the keys go back to the warm zone within one interval.
    bed.write_spec(&format!(
        "    strategy: blue-green\n    bake: 40s\n{ROUTER_ANALYSIS}"
    ));
    let watcher = KeyWatch::start(&bed, "active-zone");
    let baked = bed.deploy("errors", &[]);
    let changes = watcher.stop();
    assert_eq!(baked.code, Some(1), "{baked}");
    assert!(baked.stderr.contains("analysis failed: errors"), "{baked}");
    let (failed, _) = baked
        .of("analysis_measured")
        .into_iter()
        .find(|(_, e)| e["result"] == "failed")
        .cloned()
        .unwrap_or_else(|| panic!("no failed measurement:\n{baked}"));
    let to_green = changes
        .iter()
        .find(|(_, v)| v == "green")
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the keys never pointed at green: {changes:?}"));
    let back = changes
        .iter()
        .find(|(t, v)| v == "blue" && *t > to_green)
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the keys never came back: {changes:?}"));
    let reaction = back.saturating_duration_since(failed);
    assert!(
        reaction < Duration::from_secs(4),
        "the keys went back {reaction:?} after the failed analysis, more than one interval"
    );
    let bad_window = client.between(to_green, back);
    let failed_requests = bad_window
        .iter()
        .filter(|a| a.status >= 500 || a.error.is_some())
        .count();
    println!(
        "bake: keys on the bad version for {:?} ({} requests, {failed_requests} failed), back {reaction:?} after the failed measurement; {}",
        back - to_green,
        bad_window.len(),
        tally(&client.between(baked.started, baked.ended))
    );
    let elsewhere = failed_elsewhere(&client.between(baked.started, baked.ended));
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    assert_eq!(bed.key("active-version").await.as_deref(), Some("1.0.0"));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let answers = client.stop();
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(stored(&bed.listen), created, "{}", tally(&answers));
}

/// A webhook that answers `wait` to its first `waits` calls, then `pass`.
fn approval_hook(waits: usize) -> Webhook {
    Webhook::start(move |call| Reply {
        status: "200 OK",
        body: if call < waits {
            r#"{"result":"wait","reason":"waiting for a human"}"#
        } else {
            r#"{"result":"pass","reason":"approved"}"#
        },
        keep: true,
    })
}

/// A real Prometheus scraping the router's statistics every second.
struct Prometheus {
    addr: String,
    _process: KillOnDrop,
}

impl Prometheus {
    fn start(dir: &Path, stats: &str) -> Option<Prometheus> {
        let Some(bin) = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            crate::support::prereq::missing("prometheus test", "prometheus is not installed");
            return None;
        };
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: shipctl-route\n    static_configs:\n      - targets: ['{stats}']\n"
            ),
        )
        .expect("prometheus config");
        let addr = format!("127.0.0.1:{}", free_port());
        let data: PathBuf = dir.join("prometheus-data");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let process = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(&addr, "/-/ready").is_ok() {
                return Some(Prometheus {
                    addr,
                    _process: process,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus did not become ready on {addr}");
    }
}

/// Reads one key every 50 ms and notes each change, with its time.
struct KeyWatch {
    changes: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyWatch {
    fn start(bed: &Bed, name: &str) -> KeyWatch {
        let changes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let key = format!("{}/api-{name}", bed.project);
        let host = std::env::var("DOCKER_HOST").ok();
        let (out, flag) = (changes.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let cluster = shipctl::swarm::connect(host.as_deref())
                .await
                .expect("connect");
            let kv = swarm_kv(&cluster);
            let mut last = None;
            while !flag.load(Ordering::Relaxed) {
                if let Ok(entry) = kv.get(&key).await {
                    let value = entry.map(|e| e.value);
                    if value != last {
                        if let Some(v) = &value {
                            out.lock()
                                .expect("changes")
                                .push((Instant::now(), v.clone()));
                        }
                        last = value;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        KeyWatch {
            changes,
            stop,
            task,
        }
    }

    fn stop(self) -> Vec<(Instant, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        self.changes.lock().expect("changes").clone()
    }
}

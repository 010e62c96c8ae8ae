//! `shipctl route --haproxy-socket`: a canary's traffic steps reach a real HAProxy through its
//! runtime API, under load, without a reload and without a failed request, and the split that
//! the clients measure follows the plan.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::router_stats::{request, run_ok, stack_images, write_project};
use crate::support::docker::wait_until;
use crate::support::router::{
    Background, KillOnDrop, LiveRouterProject, StopOnDrop, free_port, lines, read, shipctl,
    start_haproxy,
};

/// Clients, each at this pace: about 300 requests/s together. A request through HAProxy to
/// the test API takes some 40 ms here, so one client alone sends about 20 a second.
const CLIENTS: usize = 16;
const EVERY: Duration = Duration::from_millis(50);

/// What one client saw per phase (0: between steps; i: while step i is measured): answers
/// per version, and failures.
#[derive(Default)]
struct Seen {
    per_phase: BTreeMap<usize, BTreeMap<String, u64>>,
    failures: Vec<String>,
    requests: u64,
}

fn client(addr: String, phase: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += EVERY;
        let at = phase.load(Ordering::Relaxed);
        seen.requests += 1;
        match request(&addr, "/version") {
            Ok((200, Some(version))) => {
                *seen
                    .per_phase
                    .entry(at)
                    .or_default()
                    .entry(version)
                    .or_default() += 1;
            }
            other => seen.failures.push(format!("phase {at}: {other:?}")),
        }
    }
    seen
}

/// HAProxy with its admin socket, fed by a background `shipctl route --haproxy-socket`; each
/// reload that reaches HAProxy adds a line to `reloads`.
struct RuntimeRouter {
    listen: String,
    reloads: std::path::PathBuf,
    route: Background,
    _haproxy: KillOnDrop,
}

impl RuntimeRouter {
    /// Started once the rendered file holds `ready` (and the socket); `None` without HAProxy
    /// outside CI.
    async fn start(dir: &std::path::Path, project: &str, ready: &str) -> Option<RuntimeRouter> {
        let config = dir.join("haproxy.cfg");
        let socket = dir.join("haproxy.sock");
        let pid = dir.join("haproxy.pid");
        let reloads = dir.join("reloads.log");
        let listen = format!("127.0.0.1:{}", free_port());
        // Counts the reloads that reach HAProxy (none before it runs).
        let reload = format!(
            "if [ -s {pid} ]; then kill -USR2 $(cat {pid}) && echo x >> {log}; fi",
            pid = pid.display(),
            log = reloads.display()
        );
        let mut cmd = shipctl(dir, project);
        cmd.args(["route", "--template", "haproxy", "--id", "haproxy"])
            .args(["--listen", &listen, "--check", "haproxy -c -q -f {file}"])
            .args(["--reload", &reload, "--heartbeat", "1s"])
            .arg("--haproxy-socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config);
        let route = Background::start(cmd, dir.join("route.log"));
        wait_until(
            "the config with its socket",
            Duration::from_secs(20),
            || async {
                let text = read(&config);
                if text.contains("stats socket") && text.contains(ready) {
                    Ok(())
                } else {
                    Err(format!("{text}\n{}", route.log()))
                }
            },
        )
        .await;
        let (haproxy, _) = start_haproxy("haproxy runtime", dir, &config)?;
        wait_until("haproxy answers", Duration::from_secs(10), || async {
            match request(&listen, "/version") {
                Ok((200, Some(_))) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        Some(RuntimeRouter {
            listen,
            reloads,
            route,
            _haproxy: haproxy,
        })
    }
}

/// `CLIENTS` clients through `listen` until `stop`, each noting its answers under `phase`.
fn start_clients(
    listen: &str,
    phase: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..CLIENTS)
        .map(|_| {
            let (addr, phase, stop) = (listen.to_string(), phase.clone(), stop.clone());
            std::thread::spawn(move || client(addr, phase, stop))
        })
        .collect()
}

/// What all the clients saw together: answers per phase and version, failures, requests.
fn join_clients(clients: Vec<std::thread::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for c in clients {
        let seen = c.join().expect("client");
        all.requests += seen.requests;
        all.failures.extend(seen.failures);
        for (p, versions) in seen.per_phase {
            for (v, n) in versions {
                *all.per_phase.entry(p).or_default().entry(v).or_default() += n;
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_moves_through_five_steps_without_a_reload_or_a_failed_request() {
    let Some(live) = LiveRouterProject::new("hr").await else {
        return;
    };
    if !stack_images() {
        return;
    }
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service);
    run_ok(dir, project, &["deploy", "--version", "1.0.0", "--yes"]);
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

    let Some(router) = RuntimeRouter::start(dir, project, "weight 25").await else {
        return;
    };
    let (listen, reloads, route) = (&router.listen, &router.reloads, &router.route);

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let phase = Arc::new(AtomicUsize::new(0));
    let clients = start_clients(listen, &phase, &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let reloads_before = lines(reloads);
    let steps = [10u64, 25, 50, 75, 100];
    for (i, green) in steps.iter().enumerate() {
        let changes = route.log().matches("runtime API, no reload").count();
        phase.store(0, Ordering::Relaxed);
        live.kv
            .put(
                &format!("{service}-traffic"),
                &format!("blue={},green={green}", 100 - green),
            )
            .await
            .expect("write traffic");
        wait_until("the runtime change", Duration::from_secs(10), || async {
            let log = route.log();
            if log.matches("runtime API, no reload").count() > changes {
                Ok(())
            } else {
                Err(log)
            }
        })
        .await;
        // Requests sent before the change may still be answered: measure from a moment on.
        tokio::time::sleep(Duration::from_millis(200)).await;
        phase.store(i + 1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    phase.store(0, Ordering::Relaxed);
    let reloads_during = lines(reloads) - reloads_before;
    drop(stopper);
    let Seen {
        per_phase,
        failures,
        requests,
    } = join_clients(clients);
    let log = route.log();
    let mut worst: f64 = 0.0;
    for (i, planned) in steps.iter().enumerate() {
        let answers = per_phase.get(&(i + 1)).cloned().unwrap_or_default();
        let green = answers.get("1.1.0").copied().unwrap_or(0) as f64;
        let total: u64 = answers.values().sum();
        assert!(total >= 300, "step {planned}%: only {total} answers");
        let measured = 100.0 * green / total as f64;
        println!(
            "haproxy runtime step {}: planned green {planned}%, measured {measured:.1}% of {total} answers",
            i + 1
        );
        worst = worst.max((measured - *planned as f64).abs());
    }
    println!(
        "haproxy runtime: {requests} requests, {} failed, {reloads_during} reloads during the steps",
        failures.len()
    );
    assert_eq!(reloads_during, 0, "no reload during the steps:\n{log}");
    assert_eq!(
        failures.len(),
        0,
        "failed requests: {:?}\n{log}",
        &failures[..failures.len().min(20)]
    );
    assert!(
        worst <= 5.0,
        "a step's split was {worst:.1} points off\n{log}"
    );
    assert!(
        log.contains("runtime changes, 1 reloads so far")
            || log.contains("runtime changes, 0 reloads so far"),
        "{log}"
    );
    assert!(requests >= 2000, "only {requests} requests");
}

/// The spec of the real canary: 4 replicas, five traffic steps (25, 40, 60, 75, 100 % green,
/// from the task counts), each held 3 s so that the clients measure it, and a 3 s bake at
/// 100 %.
fn five_step_canary(dir: &std::path::Path, service: &str) {
    write_project(dir, service);
    let compose = read(&dir.join("compose.yaml")).replace("replicas: 2", "replicas: 4");
    std::fs::write(dir.join("compose.yaml"), compose).expect("compose");
    let spec = format!(
        "kv:\n  url: swarm://\n  layout: classic\nservices:\n  {service}:\n    strategy: canary\n    promote: true\n    bake: 3s\n    health:\n      timeout: 1m\n      min_healthy: 1s\n    drain: 1s\n    canary:\n      new: 1\n      old: 3\n      steps:\n        - pause: 3s\n        - {{new: 2, old: 3}}\n        - pause: 3s\n        - {{new: 3, old: 2}}\n        - pause: 3s\n        - {{new: 3, old: 1}}\n        - pause: 3s\n"
    );
    std::fs::write(dir.join("shipctl.yaml"), spec).expect("spec");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipctl_canary_in_five_steps_reaches_haproxy_without_a_reload() {
    let Some(live) = LiveRouterProject::new("hc").await else {
        return;
    };
    if !stack_images() {
        return;
    }
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    five_step_canary(dir, service);
    run_ok(dir, project, &["deploy", "--version", "1.0.0", "--yes"]);

    let Some(router) = RuntimeRouter::start(dir, project, "backend").await else {
        return;
    };
    let (listen, reloads, route) = (&router.listen, &router.reloads, &router.route);

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    // Phase 0: not measured; i: the i-th hold (a pause or the bake).
    let phase = Arc::new(AtomicUsize::new(0));
    let clients = start_clients(listen, &phase, &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // One more reload may come from the first render after HAProxy started; count from here.
    let reloads_before = lines(reloads);

    // The deploy, its NDJSON events read as they come: each hold (pause, bake) is measured
    // from 300 ms after it starts (requests in flight under the old weights end) to its end.
    let mut child = shipctl(dir, project)
        .args(["deploy", "--version", "1.1.0", "--yes", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("deploy");
    let stdout = child.stdout.take().expect("stdout");
    let holds = phase.clone();
    let events = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut held = 0;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let action = e["action"].as_str().unwrap_or("");
            match (e["event"].as_str(), action) {
                (Some("step_started"), "pause" | "analyze") => {
                    held += 1;
                    let (phase, n) = (holds.clone(), held);
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(300));
                        phase.store(n, Ordering::Relaxed);
                    });
                }
                (Some("step_finished"), "pause" | "analyze") => holds.store(0, Ordering::Relaxed),
                _ => {}
            }
            seen.push(e);
        }
        seen
    });
    let out = child.wait_with_output().expect("deploy ends");
    let events = events.join().expect("events");
    phase.store(0, Ordering::Relaxed);
    assert!(
        out.status.success(),
        "deploy failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        route.log()
    );
    let reloads_during = lines(reloads) - reloads_before;
    drop(stopper);
    let Seen {
        per_phase,
        failures,
        requests,
    } = join_clients(clients);
    let log = route.log();
    let planned = [25.0, 40.0, 60.0, 75.0, 100.0];
    let mut worst: f64 = 0.0;
    for (i, planned) in planned.iter().enumerate() {
        let answers = per_phase.get(&(i + 1)).cloned().unwrap_or_default();
        let green = answers.get("1.1.0").copied().unwrap_or(0) as f64;
        let total: u64 = answers.values().sum();
        assert!(
            total >= 200,
            "hold {}: only {total} answers\n{events:#?}",
            i + 1
        );
        let measured = 100.0 * green / total as f64;
        println!(
            "haproxy, shipctl canary step {}: planned green {planned}%, measured {measured:.1}% of {total} answers",
            i + 1
        );
        worst = worst.max((measured - planned).abs());
    }
    println!(
        "haproxy, shipctl canary: {requests} requests, {} failed, {reloads_during} reloads during the deploy, {} runtime changes",
        failures.len(),
        log.matches("runtime API, no reload").count()
    );
    assert_eq!(
        failures.len(),
        0,
        "failed requests: {:?}\n{log}",
        &failures[..failures.len().min(20)]
    );
    assert_eq!(reloads_during, 0, "no reload during the canary:\n{log}");
    assert!(
        worst <= 5.0,
        "a step's split was {worst:.1} points off\n{log}"
    );
}

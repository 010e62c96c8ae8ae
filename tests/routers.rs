//! Several routers, real ones: each `shipctl route` registers with heartbeats, and a deploy
//! waits for every live router before it scales a zone down. Two nginx behind two routers
//! (one slow to reload) under a rolling deploy, a router killed with SIGKILL, two router
//! processes on one file, and HAProxy carrying a deploy under load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use shipctl::ports::{Cluster, Kv, RouterReport, TaskState};

use crate::support::cli_env::{CliEnv, stderr};
use crate::support::docker::wait_until;
use crate::support::router::{
    Background, KillOnDrop, LiveRouterProject, Load, ProjectOptions, StopOnDrop, deploy, free_port,
    http_get, route_once, route_once_with, shipctl, start_haproxy, start_load, start_nginx,
    write_project,
};

#[test]
fn a_router_id_that_cannot_end_a_key_and_a_too_fast_heartbeat_are_refused() {
    let env = CliEnv::new();
    env.write("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n");
    for (args, expected) in [
        (&["--id", "lb/1"][..], "--id `lb/1` cannot name a router"),
        (&["--id", ""][..], "--id `` cannot name a router"),
        (
            &["--heartbeat", "10ms"][..],
            "--heartbeat 10ms: shorter than 100ms",
        ),
        (&["--heartbeat", "soon"][..], "--heartbeat soon:"),
    ] {
        let mut all = vec!["route", "--config", "router.conf"];
        all.extend_from_slice(args);
        let output = env.run(&all);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !env.dir().join("router.conf").exists(),
            "nothing was written"
        );
    }
}

fn options(wait_for_router: bool) -> ProjectOptions {
    ProjectOptions {
        health_timeout: "2s",
        drain_time: "2s",
        wait_for_router,
    }
}

/// One router host: its own directory, config file, listen address and (when installed) nginx.
struct Lb {
    id: &'static str,
    dir: PathBuf,
    config: PathBuf,
    listen: String,
    nginx: Option<(KillOnDrop, PathBuf)>,
}

impl Lb {
    /// Renders the config once and starts nginx on it (None: no nginx here, test skipped).
    fn start(id: &'static str, project_dir: &Path, project: &str) -> Option<Lb> {
        let dir = project_dir.join(id);
        std::fs::create_dir_all(&dir).expect("lb dir");
        let config = dir.join("router.conf");
        let listen = format!("127.0.0.1:{}", free_port());
        route_once(project_dir, project, &listen, &config);
        let nginx = start_nginx("routers test", &dir, &config)?;
        Some(Lb {
            id,
            dir,
            config,
            listen,
            nginx: Some(nginx),
        })
    }

    /// `shipctl route --id ID` on this host's file, reloading its nginx after `reload_delay`.
    fn route(&self, project_dir: &Path, project: &str, reload_delay: &str) -> Background {
        let pid = &self.nginx.as_ref().expect("nginx").1;
        let reload = format!("sleep {reload_delay} && kill -HUP $(cat {})", pid.display());
        let mut cmd = shipctl(project_dir, project);
        cmd.args(["route", "--id", self.id, "--heartbeat", "1s"])
            .args(["--listen", &self.listen, "--check", "nginx -t -q -c {file}"])
            .arg("--config")
            .arg(&self.config)
            .args(["--reload", &reload]);
        Background::start(cmd, self.dir.join("route.log"))
    }
}

/// The registrations under `{service}-router/`, by id.
async fn registrations(kv: &dyn Kv, service: &str) -> BTreeMap<String, RouterReport> {
    let prefix = format!("{service}-router/");
    kv.list(&prefix)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let id = e.key.strip_prefix(&prefix)?.to_string();
            Some((id, serde_json::from_str(&e.value).ok()?))
        })
        .collect()
}

async fn wait_registered(kv: &dyn Kv, service: &str, ids: &[&str], logs: impl Fn() -> String) {
    wait_until("the registrations", Duration::from_secs(20), || async {
        let found = registrations(kv, service).await;
        if ids
            .iter()
            .all(|id| found.get(*id).is_some_and(|r| !r.keys.is_empty()))
        {
            Ok(())
        } else {
            Err(format!(
                "{:?}\n{}",
                found.keys().collect::<Vec<_>>(),
                logs()
            ))
        }
    })
    .await;
}

/// What the sampler saw at one moment, in ms since it started.
#[derive(Debug, Clone)]
struct Sample {
    at_ms: u128,
    /// The routing keys in the store.
    keys: BTreeMap<String, String>,
    /// What each registration says it serves.
    served: BTreeMap<String, BTreeMap<String, String>>,
    /// Blue tasks that Swarm wants running.
    blue_wanted: usize,
}

/// Samples the keys, the registrations and the old zone every 100 ms until `stop`.
async fn sample(
    kv: &dyn Kv,
    cluster: &dyn Cluster,
    service: &str,
    blue: &str,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let key_names = ["active-zone", "active-version", "traffic"].map(|k| format!("{service}-{k}"));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // The reports first: a report read before the scale-down was there before it.
        let served = registrations(kv, service)
            .await
            .into_iter()
            .map(|(id, r)| (id, r.keys))
            .collect();
        let mut keys = BTreeMap::new();
        for k in &key_names {
            if let Ok(Some(e)) = kv.get(k).await {
                keys.insert(k.clone(), e.value);
            }
        }
        let blue_wanted = cluster
            .tasks(blue)
            .await
            .map(|t| {
                t.iter()
                    .filter(|t| t.desired_state == TaskState::Running)
                    .count()
            })
            .unwrap_or(usize::MAX);
        samples.push(Sample {
            at_ms: start.elapsed().as_millis(),
            keys,
            served,
            blue_wanted,
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_scales_the_old_zone_down_only_after_both_routers_serve_the_new_keys() {
    let Some(live) = LiveRouterProject::new("w").await else {
        return;
    };
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service, &options(false));
    deploy(dir, project, "1.0.0");

    let (Some(lb1), Some(lb2)) = (
        Lb::start("lb1", dir, project),
        Lb::start("lb2", dir, project),
    ) else {
        return;
    };
    for lb in [&lb1, &lb2] {
        let answer = wait_until("nginx answers", Duration::from_secs(10), || async {
            http_get(&lb.listen, "/version")
        })
        .await;
        assert_eq!(answer, "1.0.0");
    }
    let r1 = lb1.route(dir, project, "0");
    // The slow one: each reload takes 3s before nginx gets it.
    let r2 = lb2.route(dir, project, "3");
    let logs = || format!("lb1:\n{}\nlb2:\n{}", r1.log(), r2.log());
    wait_registered(&*live.kv, service, &["lb1", "lb2"], logs).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let loads = [
        start_load(&lb1.listen, &stop),
        start_load(&lb2.listen, &stop),
    ];
    let sampler = {
        let stop = stop.clone();
        let blue = format!("{project}_{service}-blue");
        let service = service.clone();
        let kv = shipctl::kv::connect_with_docker(
            "swarm://",
            &std::collections::HashMap::new(),
            Some(live.cluster.docker().clone()),
        )
        .await
        .expect("swarm kv");
        let cluster = live.cluster.clone();
        tokio::spawn(async move { sample(&*kv, &cluster, &service, &blue, &stop).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    write_project(dir, service, &options(true));
    let started = Instant::now();
    let out = {
        let mut cmd = shipctl(dir, project);
        cmd.args(["--output", "json", "deploy", "--version", "1.1.0"])
            .args(["--strategy", "rolling", "--yes"]);
        tokio::task::spawn_blocking(move || cmd.output().expect("run deploy"))
            .await
            .expect("deploy thread")
    };
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(stopper);
    let samples = sampler.await.expect("sampler");
    let [load1, load2] = loads.map(|l| l.join().expect("load thread"));
    let events = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "rolling deploy failed:\n{}\n{events}\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs()
    );

    // Every time blue lost a task, both routers already served the keys of that moment.
    let mut drops = Vec::new();
    let mut last_wanted = samples.first().map_or(2, |s| s.blue_wanted);
    for (i, s) in samples.iter().enumerate() {
        if s.blue_wanted < last_wanted {
            // The traffic split is what each batch writes before its scale-down (the zone and
            // version keys follow once blue is at 0).
            let traffic: BTreeMap<String, String> = s
                .keys
                .iter()
                .filter(|(k, _)| k.ends_with("-traffic"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            drops.push((i, s.at_ms, s.blue_wanted, traffic));
        }
        last_wanted = s.blue_wanted.min(last_wanted);
    }
    let timeline = || {
        let mut text = String::new();
        let mut last = None;
        for s in &samples {
            let line = format!(
                "blue {} keys {:?} lb1 {:?} lb2 {:?}",
                s.blue_wanted,
                s.keys.values().collect::<Vec<_>>(),
                s.served.get("lb1").map(|k| k.values().collect::<Vec<_>>()),
                s.served.get("lb2").map(|k| k.values().collect::<Vec<_>>()),
            );
            if last.as_ref() != Some(&line) {
                text.push_str(&format!("{:>6} ms {line}\n", s.at_ms));
                last = Some(line);
            }
        }
        text
    };
    assert_eq!(
        drops.iter().map(|d| d.2).collect::<Vec<_>>(),
        vec![1, 0],
        "blue went from 2 to 1 to 0 tasks:\n{}",
        timeline()
    );
    let mut margins = Vec::new();
    for (index, at_ms, wanted, keys) in &drops {
        for id in ["lb1", "lb2"] {
            // The first sample from which this router served the keys of the drop's moment.
            let served_from = samples[..=*index].iter().rposition(|s| {
                s.served
                    .get(id)
                    .is_none_or(|served| keys.iter().any(|(k, v)| served.get(k) != Some(v)))
            });
            let first = served_from.map_or(0, |i| i + 1);
            assert!(
                first <= *index,
                "blue went to {wanted} at {at_ms} ms while {id} did not serve {keys:?} yet:\n{}",
                timeline()
            );
            margins.push(format!(
                "{id} served {:?} {} ms before blue went to {wanted}",
                keys.values().collect::<Vec<_>>(),
                at_ms - samples[first].at_ms
            ));
        }
    }
    // The deploy's own account: each router confirmed, and nobody was given up on.
    for id in ["lb1", "lb2"] {
        assert!(
            events.contains(&format!(
                r#""event":"router_confirmed","service":"{service}","router":"{id}""#
            )),
            "no confirmation of {id}:\n{events}"
        );
    }
    assert!(!events.contains("router_gone"), "{events}");

    println!(
        "two routers, rolling deploy of {took:?}: lb1 {}; lb2 {}; {}",
        load1.summary(&["1.0.0", "1.1.0"]),
        load2.summary(&["1.0.0", "1.1.0"]),
        margins.join("; ")
    );
    for (id, load) in [("lb1", &load1), ("lb2", &load2)] {
        assert!(
            load.requests >= 300,
            "{id}: only {} requests",
            load.requests
        );
        assert_eq!(
            load.failed(),
            0,
            "{id}: failed requests during the deploy:\n{}\n{}",
            load.failures(),
            logs()
        );
        assert_eq!(load.versions.last().map(String::as_str), Some("1.1.0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_killed_with_sigkill_holds_a_deploy_only_for_its_liveness_window() {
    let Some(live) = LiveRouterProject::new("k").await else {
        return;
    };
    let (project, service, dir, kv) = (&live.project, &live.service, live.dir(), &*live.kv);
    write_project(dir, service, &options(false));
    deploy(dir, project, "1.0.0");

    // Two routers without nginx (the deploy only reads their reports): one keeps its default
    // id, the other is called lb2.
    let route = |sub: &str, id: Option<&str>| {
        let sub_dir = dir.join(sub);
        std::fs::create_dir_all(&sub_dir).expect("dir");
        let mut cmd = shipctl(dir, project);
        cmd.args(["route", "--heartbeat", "1s", "--listen", "127.0.0.1:1"])
            .arg("--config")
            .arg(sub_dir.join("router.conf"));
        if let Some(id) = id {
            cmd.args(["--id", id]);
        }
        Background::start(cmd, sub_dir.join("route.log"))
    };
    let mut first = route("a", None);
    let mut second = route("b", Some("lb2"));
    wait_until("both registered", Duration::from_secs(20), || async {
        match registrations(kv, service).await {
            r if r.len() == 2 => Ok(r),
            r => Err(format!("{:?}", r.keys().collect::<Vec<_>>())),
        }
    })
    .await;
    let found = registrations(kv, service).await;
    let default_id = found
        .keys()
        .find(|id| *id != "lb2")
        .cloned()
        .expect("the default id");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .expect("host name");
    assert!(
        default_id.starts_with(&format!("{host}-router.conf-")),
        "{default_id}"
    );
    assert_eq!(found[&default_id].id.as_deref(), Some(default_id.as_str()));
    assert_eq!(found[&default_id].heartbeat_ms, Some(1000));
    // The heartbeat: the beat counter moves without any change of the keys.
    let beat = |r: &BTreeMap<String, RouterReport>| r.get(&default_id).and_then(|r| r.beat);
    let before = beat(&found);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = beat(&registrations(kv, service).await);
    assert!(
        after > before && before.is_some(),
        "beats {before:?} then {after:?}"
    );

    // SIGKILL: no clean shutdown, the registration stays behind.
    second.child.kill().expect("kill lb2");
    let _ = second.child.wait();
    assert!(
        registrations(kv, service).await.contains_key("lb2"),
        "a killed router cannot deregister"
    );

    write_project(dir, service, &options(true));
    let out = shipctl(dir, project)
        .args(["deploy", "--version", "1.1.0", "--yes"])
        .output()
        .expect("deploy");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "deploy failed:\n{stderr}\n{}",
        first.log()
    );
    assert!(
        stderr.contains(&format!(
            "warning: {service}: not waiting for router lb2: it is not live ({service}-router/lb2 did not change for"
        )),
        "the deploy names the router it stopped waiting for:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("router {default_id} serves the new keys")),
        "{stderr}"
    );
    // The wait took about three heartbeats (3s), far less than the router timeout (30s).
    let wait_line = stderr
        .lines()
        .filter(|l| l.contains("wait for the router"))
        .count();
    assert!(wait_line >= 1, "{stderr}");
    let waited = stderr
        .lines()
        .skip_while(|l| !l.contains("wait for the router"))
        .find_map(|l| l.split(" done in ").nth(1).map(str::to_string))
        .expect("the router wait finished");
    let seconds: f64 = waited.trim_end_matches('s').parse().unwrap_or(f64::MAX);
    println!("a SIGKILLed router held the deploy's router wait for {waited}");
    assert!((2.5..8.0).contains(&seconds), "waited {waited}:\n{stderr}");

    // A clean stop deletes the registration; the single key stays for older deploys.
    assert!(first.interrupt(), "Ctrl-C exits 0:\n{}", first.log());
    let left = registrations(kv, service).await;
    assert!(!left.contains_key(&default_id), "{left:?}");
    assert!(
        first.log().contains("removed the registration"),
        "{}",
        first.log()
    );
    let single = kv
        .get(&format!("{service}-router"))
        .await
        .expect("read")
        .expect("the single router key");
    let report: RouterReport = serde_json::from_str(&single.value).expect("report");
    assert_eq!(
        report
            .keys
            .get(&format!("{service}-active-version"))
            .map(String::as_str),
        Some("1.1.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_keeps_beating_while_a_slow_reload_runs() {
    let Some(live) = LiveRouterProject::new("b").await else {
        return;
    };
    let (project, service, dir, kv) = (&live.project, &live.service, live.dir(), &*live.kv);
    write_project(dir, service, &options(false));
    let marker = dir.join("reloading");
    // The reload takes 15s: fifteen heartbeats, far more than the window after which a deploy
    // gives up, and longer than this test's waits (up to 5s for the first beat, then 5s) on a
    // busy machine.
    let reload = format!("touch {m} && sleep 15 && rm {m}", m = marker.display());
    let mut cmd = shipctl(dir, project);
    cmd.args(["route", "--id", "slow", "--heartbeat", "1s"])
        .args(["--listen", "127.0.0.1:1", "--reload", &reload])
        .arg("--config")
        .arg(dir.join("router.conf"));
    // A value of the keys before it starts: its first render is a new file, so a reload.
    kv.put(&format!("{service}-active-zone"), "blue")
        .await
        .expect("write the key");
    let route = Background::start(cmd, dir.join("route.log"));
    wait_until("the reload runs", Duration::from_secs(20), || async {
        if marker.exists() {
            Ok(())
        } else {
            Err(route.log())
        }
    })
    .await;
    let beat = || async {
        registrations(kv, service)
            .await
            .get("slow")
            .and_then(|r| r.beat)
    };
    let first = wait_until("the first heartbeat", Duration::from_secs(5), || async {
        beat().await.ok_or_else(|| "not registered yet".to_string())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = beat().await;
    assert!(marker.exists(), "the reload still runs:\n{}", route.log());
    // A reload that held the heartbeat back would allow none; a busy machine may delay a few
    // of the five due, never all.
    let beats = later.unwrap_or(0).saturating_sub(first);
    assert!(
        beats >= 2,
        "{beats} heartbeats in 5s of reload ({first:?} then {later:?}):\n{}",
        route.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_router_processes_on_one_file_take_turns() {
    let Some(live) = LiveRouterProject::new("o").await else {
        return;
    };
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service, &options(false));
    let config = dir.join("shared.conf");
    let log = dir.join("checks.log");
    // Each check notes its start and end; without the lock the two would overlap.
    let check = format!(
        "echo start $$ >> {log} && sleep 1 && echo end $$ >> {log}",
        log = log.display()
    );
    let spawn = |listen: &str| {
        shipctl(dir, project)
            .args(["route", "--once", "--listen", listen, "--check", &check])
            .arg("--config")
            .arg(&config)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start route --once")
    };
    let started = Instant::now();
    // Different outputs, so both install.
    let a = spawn("127.0.0.1:1");
    let b = spawn("127.0.0.1:2");
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    let took = started.elapsed();
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for pair in lines.chunks(2) {
        let start = pair[0].strip_prefix("start ");
        let end = pair[1].strip_prefix("end ");
        assert!(
            start.is_some() && start == end,
            "one check ran inside another: {lines:?}"
        );
    }
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    // The file is one router's whole output, not a mix.
    let text = std::fs::read_to_string(&config).expect("config");
    let one = text.contains("listen 127.0.0.1:1 ") ^ text.contains("listen 127.0.0.1:2 ");
    assert!(one, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_carries_a_deploy_under_load_without_a_failed_request() {
    let Some(live) = LiveRouterProject::new("h").await else {
        return;
    };
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service, &options(false));
    deploy(dir, project, "1.0.0");

    let config = dir.join("haproxy.cfg");
    let listen = format!("127.0.0.1:{}", free_port());
    route_once_with(dir, project, "haproxy", &listen, &config);
    let Some((_haproxy, pid)) = start_haproxy("haproxy test", dir, &config) else {
        return;
    };
    let answer = wait_until("haproxy answers", Duration::from_secs(10), || async {
        http_get(&listen, "/version")
    })
    .await;
    assert_eq!(answer, "1.0.0");

    // Master-worker mode: SIGUSR2 makes the master start new workers on the new file while
    // the old ones finish their connections; the listening socket stays open.
    let reloads = dir.join("reloads.log");
    let reload = format!(
        "kill -USR2 $(cat {}) && echo x >> {}",
        pid.display(),
        reloads.display()
    );
    let mut cmd = shipctl(dir, project);
    cmd.args(["route", "--template", "haproxy", "--id", "haproxy"])
        .args(["--listen", &listen, "--check", "haproxy -c -q -f {file}"])
        .arg("--config")
        .arg(&config)
        .args(["--reload", &reload]);
    let route = Background::start(cmd, dir.join("route.log"));
    wait_registered(&*live.kv, service, &["haproxy"], || route.log()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    // Three clients: one request through HAProxy to this test app takes about 45 ms here
    // (against about 6 ms through nginx), so one client alone would send few requests.
    let loads: Vec<_> = (0..3).map(|_| start_load(&listen, &stop)).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Rolling: the split moves in batches (50/50, then all green), one reload each.
    write_project(dir, service, &options(true));
    let started = Instant::now();
    let out = shipctl(dir, project)
        .args([
            "deploy",
            "--version",
            "1.1.0",
            "--strategy",
            "rolling",
            "--yes",
        ])
        .output()
        .expect("deploy");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "deploy failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        route.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(stopper);
    let mut load = Load::default();
    for one in loads {
        let one = one.join().expect("load thread");
        load.requests += one.requests;
        load.non_2xx.extend(one.non_2xx);
        load.connection_errors.extend(one.connection_errors);
        // Each client's answers stay in its own order: first and last are checked per client.
        assert_eq!(one.versions.first().map(String::as_str), Some("1.0.0"));
        assert_eq!(one.versions.last().map(String::as_str), Some("1.1.0"));
        load.versions.extend(one.versions);
    }

    let reloaded = std::fs::read_to_string(&reloads)
        .unwrap_or_default()
        .lines()
        .count();
    println!(
        "haproxy, rolling deploy of {took:?} with {reloaded} reloads: {}",
        load.summary(&["1.0.0", "1.1.0"])
    );
    assert!(
        reloaded >= 2,
        "haproxy was reloaded per batch:\n{}",
        route.log()
    );
    assert!(load.requests >= 300, "only {} requests", load.requests);
    assert_eq!(
        load.failed(),
        0,
        "failed requests through haproxy:\n{}\n{}",
        load.failures(),
        route.log()
    );
    let others = load
        .versions
        .iter()
        .filter(|v| *v != "1.0.0" && *v != "1.1.0")
        .count();
    assert_eq!(others, 0);
}

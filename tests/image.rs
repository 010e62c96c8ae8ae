//! shipctl as an image and its router as a Swarm service, with images built offline from the
//! binary under test (docker/build-local.sh): `docker run IMAGE deploy` on the live Swarm with
//! the socket, the image against a TLS engine through DOCKER_HOST, two router tasks (`shipctl
//! route deploy`, global mode, host-mode ports, the API through a socket proxy) on the
//! three-node Swarm carrying a blue-green and a canary deploy under load, an HAProxy router on
//! the manager's socket, and the route loop's `--exec` supervision.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use shipctl::ports::{Cluster, Kv, TaskState};
use tokio::task::spawn_blocking;

use crate::support::cli_env::CliEnv;
use crate::support::docker::{Cleanup, require_docker, wait_until};
use crate::support::images::{images, load_into_nodes};
use crate::support::nodes::{self, Nodes, manager_host};
use crate::support::router::{Load, StopOnDrop, free_port, http_get, start_load};
use crate::support::stack::{Finished, Setup, Stack, Store, swarm_kv};

/// The JSON objects of an NDJSON output (other lines left out).
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

fn names(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_string))
        .collect()
}

/// The Unix socket of the engine the tests use, as a path to mount.
fn engine_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_deploys_a_service_and_reports_ndjson_events() {
    let test = "the_image_deploys_a_service_and_reports_ndjson_events";
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(images) = images(test).await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    // The image's user (uid 10001) reads the project from the mounted directory.
    let dir = stack.env.dir().to_path_buf();
    for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let socket = engine_socket();
    let gid = std::fs::metadata(&socket)
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .expect("the engine's socket");
    let whoami = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "id", &images.shipctl, "-u"])
        .output()
        .expect("docker run id");
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout).trim(),
        "10001",
        "the image runs as its plain user"
    );

    let started = Instant::now();
    let out = {
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "-v"])
            .arg(format!("{socket}:/var/run/docker.sock"))
            .args(["--group-add", &gid.to_string(), "-v"])
            .arg(format!("{}:/work", dir.display()))
            .args(["-e", "CI=true", &images.shipctl])
            .args(["--project", &stack.project, "--output", "json"])
            .args(["deploy", "--version", "1.0.0", "--yes"])
            .stdin(Stdio::null());
        spawn_blocking(move || cmd.output().expect("docker run"))
            .await
            .expect("docker run thread")
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "docker run … deploy failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    println!(
        "docker run {} deploy: {:.1?}",
        images.shipctl,
        started.elapsed()
    );

    // Every stdout line is an event: NDJSON, nothing else.
    let all = events(&stdout);
    assert_eq!(
        all.len(),
        stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        "{stdout}"
    );
    let kinds = names(&all);
    // The run names its release first, then the service's plan.
    assert_eq!(kinds.first().map(String::as_str), Some("release_started"));
    assert_eq!(kinds.get(1).map(String::as_str), Some("plan_started"));
    assert!(kinds.iter().any(|k| k == "step_finished"), "{kinds:?}");
    let finished = all
        .iter()
        .find(|e| e["event"] == "deploy_finished")
        .expect("a deploy_finished event");
    assert_eq!(finished["result"], "done", "{stdout}");
    let last = all.last().expect("events");
    assert_eq!(last["event"], "summary", "{stdout}");
    assert_eq!(last["services"][0]["result"]["result"], "done", "{stdout}");
    let plan = &all[1];
    assert_eq!(plan["service"], "web");
    assert_eq!(plan["to"]["version"], "1.0.0", "{plan}");

    // What the Swarm and the store now hold.
    let blue = format!("{}_web-blue", stack.project);
    let tasks = cluster.tasks(&blue).await.expect("tasks of blue");
    let running: Vec<_> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
        .collect();
    assert_eq!(running.len(), 1, "{tasks:?}");
    assert_eq!(running[0].version.as_deref(), Some("1.0.0"));
    let kv = swarm_kv(&cluster);
    let zone = kv.get(&stack.key("active-zone")).await.expect("read key");
    assert_eq!(zone.map(|e| e.value).as_deref(), Some("blue"));
}

/// A spec for the router test: blue-green and canary wait for every router.
const SPEC: &str = "kv:
  url: swarm://
  lock_ttl: 10s
  keys:
    active_zone: \"{project}/{service}-active-zone\"
    active_version: \"{project}/{service}-active-version\"
    traffic: \"{project}/{service}-traffic\"
    lock: \"{project}/{service}-lock\"
    history: \"{project}/{service}-history\"
    progress: \"{project}/{service}-progress\"
    router: \"{project}/{service}-router\"
services:
  web:
    strategy: blue-green
    on_failure: rollback
    health:
      timeout: 1m
      min_healthy: 1s
      progress_deadline: 1m
    drain:
      time: 2s
      wait_for_router: true
      router_timeout: 1m
";

/// The routers' registrations: id -> the keys it serves.
async fn registrations(
    kv: &dyn Kv,
    project: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let prefix = format!("{project}/web-router/");
    kv.list(&prefix)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let id = e.key.strip_prefix(&prefix)?.to_string();
            let value = serde_json::from_str(&e.value).ok()?;
            Some((id, value))
        })
        .collect()
}

/// `docker -H n1 …`, insisting that it works.
fn on_manager(args: &[&str]) -> String {
    nodes::docker("n1", args).unwrap_or_else(|e| panic!("{e}"))
}

/// The router confirmations of one deploy's events: (router id, waited ms).
fn confirmations(out: &Finished) -> Vec<(String, u64)> {
    events(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "router_confirmed")
        .map(|e| {
            (
                e["router"].as_str().unwrap_or_default().to_string(),
                e["waited_ms"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_router_tasks_carry_blue_green_and_canary_deploys_under_load() {
    let test = "two_router_tasks_carry_blue_green_and_canary_deploys_under_load";
    let Some(nodes) = Nodes::acquire(test).await else {
        return;
    };
    let Some(images) = images(test).await else {
        return;
    };
    let router_image = images.router.clone();
    spawn_blocking(move || load_into_nodes(&router_image))
        .await
        .expect("load thread")
        .unwrap_or_else(|e| panic!("load the router image into the nodes: {e}"));

    let mut setup = Setup::new(Store::Swarm);
    setup.replicas = 2;
    let mut stack = Stack::new(&nodes.cluster, setup);
    stack.env.set("DOCKER_HOST", &manager_host());
    // No router before the first release: its deploy waits for none.
    stack.env.write(
        "shipctl.yaml",
        &SPEC.replace("wait_for_router: true", "wait_for_router: false"),
    );
    let project = stack.project.clone();
    stack
        .deploy("1.0.0", &["--strategy", "blue-green"])
        .expect_code(0);
    stack.env.write("shipctl.yaml", SPEC);

    // The workers have no Swarm API of their own: a socket proxy (HAProxy, from the router
    // image) on the manager serves the manager's API on an overlay network, and the routers
    // reach it with DOCKER_HOST, the way docker-socket-proxy set-ups do.
    let api = format!("{project}_api");
    on_manager(&["network", "create", "-d", "overlay", &api]);
    let haproxy = "printf 'global\\n  maxconn 256\\ndefaults\\n  mode tcp\\n  timeout connect 5s\\n  \
                   timeout client 10m\\n  timeout server 10m\\nfrontend api\\n  bind :2375\\n  \
                   default_backend engine\\nbackend engine\\n  server engine /var/run/docker.sock\\n' \
                   > /tmp/api.cfg && exec haproxy -db -f /tmp/api.cfg";
    on_manager(&[
        "service",
        "create",
        "--detach",
        "--name",
        &api,
        "--network",
        &api,
        "--endpoint-mode",
        "dnsrr",
        "--constraint",
        "node.role == manager",
        "--mount",
        "type=bind,source=/var/run/shipctl-n1.sock,target=/var/run/docker.sock",
        "--user",
        "root",
        "--entrypoint",
        "sh",
        &images.router,
        "-c",
        haproxy,
    ]);

    // Two routers: global mode on the two workers, each publishing 18480 in host mode on its
    // own node's address.
    let port = "18480";
    let deployed = stack.run(
        "route",
        &[
            "deploy",
            "--image",
            &images.router,
            "--mode",
            "global",
            "--constraint",
            "node.role == worker",
            "--publish",
            port,
            "--router-docker-host",
            &format!("tcp://{api}:2375"),
            "--network",
            &api,
            "--port",
            "8080",
            "--heartbeat",
            "1s",
        ],
    );
    deployed.expect_code(0);
    let router_service = format!("{project}_router");
    let logs = || {
        nodes::docker("n1", &["service", "logs", "--raw", &router_service])
            .unwrap_or_else(|e| e)
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let addrs: Vec<String> = ["192.168.231.12", "192.168.231.13"]
        .iter()
        .map(|a| format!("{a}:{port}"))
        .collect();
    for addr in &addrs {
        let answer = wait_until(
            &format!("the router on {addr} answers"),
            Duration::from_secs(90),
            || async {
                let addr = addr.clone();
                spawn_blocking(move || http_get(&addr, "/version"))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r)
            },
        )
        .await;
        assert_eq!(answer, "1.0.0", "{}", logs());
    }
    let kv = swarm_kv(&nodes.cluster);
    let ids: BTreeSet<String> = wait_until(
        "two router registrations",
        Duration::from_secs(30),
        || async {
            let found = registrations(&kv, &project).await;
            if found.len() == 2 {
                Ok(found.into_keys().collect::<BTreeSet<String>>())
            } else {
                Err(format!("{found:?}"))
            }
        },
    )
    .await;
    // One router per worker, each named after its node and task.
    for worker in ["shipctl-n2-", "shipctl-n3-"] {
        assert!(ids.iter().any(|id| id.starts_with(worker)), "{ids:?}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let loads: Vec<_> = addrs.iter().map(|a| start_load(a, &stop)).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let blue_green = {
        let running =
            stack.start_deploy("1.1.0", &["--output", "json", "--strategy", "blue-green"]);
        spawn_blocking(move || running.wait())
            .await
            .expect("deploy thread")
    };
    let canary = {
        let running = stack.start_deploy(
            "2.0.0",
            &[
                "--output",
                "json",
                "--strategy",
                "canary",
                "--new",
                "1",
                "--old",
                "1",
                "--promote",
            ],
        );
        spawn_blocking(move || running.wait())
            .await
            .expect("deploy thread")
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(stopper);
    let loads: Vec<Load> = loads
        .into_iter()
        .map(|l| l.join().expect("load thread"))
        .collect();
    blue_green.expect_code(0);
    canary.expect_code(0);

    // Each deploy waited for both routers, by their registrations, and gave up on neither.
    for (what, out) in [("blue-green", &blue_green), ("canary", &canary)] {
        let confirmed: BTreeSet<String> =
            confirmations(out).into_iter().map(|(id, _)| id).collect();
        assert_eq!(confirmed, ids, "{what}: routers confirmed\n{out}");
        let kinds = names(&events(&out.stdout));
        assert!(
            !kinds.iter().any(|k| k == "router_gone"),
            "{what}: {kinds:?}"
        );
    }
    let served = registrations(&kv, &project).await;
    for (id, report) in &served {
        assert_eq!(
            report["keys"][format!("{project}/web-active-version")],
            "2.0.0",
            "{id}: {report}"
        );
    }

    println!(
        "two router tasks (global, host-mode port {port}), blue-green {:.1?} then canary {:.1?}: \
         {}",
        blue_green.elapsed,
        canary.elapsed,
        loads
            .iter()
            .zip(&addrs)
            .map(|(l, a)| format!("{a}: {}", l.summary(&["1.0.0", "1.1.0", "2.0.0"])))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for (load, addr) in loads.iter().zip(&addrs) {
        assert!(
            load.requests >= 300,
            "{addr}: only {} requests",
            load.requests
        );
        assert_eq!(
            load.failed(),
            0,
            "{addr}: failed requests:\n{}\n{}",
            load.failures(),
            logs()
        );
        for version in ["1.0.0", "1.1.0", "2.0.0"] {
            assert!(
                load.versions.iter().any(|v| v == version),
                "{addr} never answered {version}"
            );
        }
        assert_eq!(load.versions.last().map(String::as_str), Some("2.0.0"));
    }
    let tasks = nodes
        .cluster
        .tasks(&router_service)
        .await
        .expect("router tasks");
    let running = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .count();
    assert_eq!(running, 2, "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_haproxy_router_on_the_managers_socket_serves_a_deploy_and_deregisters_on_removal() {
    let test = "a_haproxy_router_on_the_managers_socket_serves_a_deploy_and_deregisters_on_removal";
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(images) = images(test).await else {
        return;
    };
    let mut setup = Setup::new(Store::Swarm);
    setup.replicas = 2;
    let stack = Stack::new(&cluster, setup);
    stack.env.write(
        "shipctl.yaml",
        &SPEC.replace("wait_for_router: true", "wait_for_router: false"),
    );
    let project = stack.project.clone();
    stack
        .deploy("1.0.0", &["--strategy", "blue-green"])
        .expect_code(0);
    stack.env.write("shipctl.yaml", SPEC);
    let router_service = format!("{project}_router");
    let cleanup = Cleanup::new(&cluster);
    cleanup.service(router_service.clone());

    let gid = std::fs::metadata(engine_socket())
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .expect("the engine's socket");
    let port = free_port().to_string();
    let args = [
        "deploy",
        "--image",
        &images.router,
        "--proxy",
        "haproxy",
        "--mode",
        "replicated",
        "--replicas",
        "1",
        "--publish",
        &port,
        "--socket-gid",
        &gid.to_string(),
        "--port",
        "8080",
        "--heartbeat",
        "1s",
    ];
    // The dry run shows the service and creates nothing.
    let dry = stack.run("route", &[&args[..], &["--dry-run"]].concat());
    dry.expect_code(0);
    let spec: serde_json::Value = serde_json::from_str(&dry.stdout).expect("the spec as JSON");
    assert_eq!(spec["Name"], router_service.as_str());
    assert_eq!(
        spec["TaskTemplate"]["Placement"]["Constraints"][0], "node.role == manager",
        "the socket is a manager's"
    );
    assert!(
        cluster
            .docker()
            .inspect_service(&router_service, None)
            .await
            .is_err(),
        "the dry run created the service"
    );

    stack.run("route", &args).expect_code(0);
    let addr = format!("127.0.0.1:{port}");
    let logs = || {
        Command::new("docker")
            .args(["service", "logs", "--raw", &router_service])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default()
    };
    let answer = wait_until("the router answers", Duration::from_secs(90), || async {
        let addr = addr.clone();
        spawn_blocking(move || http_get(&addr, "/version"))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
    })
    .await;
    assert_eq!(answer, "1.0.0", "{}", logs());
    let kv = swarm_kv(&cluster);
    let ids: BTreeSet<String> = wait_until("one registration", Duration::from_secs(30), || async {
        let found = registrations(&kv, &project).await;
        if found.len() == 1 {
            Ok(found.into_keys().collect::<BTreeSet<String>>())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;

    // Deployed again unchanged: the service is updated in place and its task keeps running.
    let again = stack.run("route", &args);
    again.expect_code(0);
    assert!(again.stderr.contains("updated"), "{again}");

    // The socket's group, not root, gives the router its access.
    let container = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!(
            "label=com.docker.swarm.service.name={router_service}"
        ))
        .output()
        .expect("docker ps");
    let container = String::from_utf8_lossy(&container.stdout)
        .trim()
        .to_string();
    let user = Command::new("docker")
        .args(["exec", &container, "id", "-u"])
        .output()
        .expect("docker exec id");
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001");

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let load = start_load(&addr, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deployed = {
        let running = stack.start_deploy("1.1.0", &["--output", "json"]);
        spawn_blocking(move || running.wait())
            .await
            .expect("deploy thread")
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(stopper);
    let load = load.join().expect("load thread");
    deployed.expect_code(0);
    let confirmed: BTreeSet<String> = confirmations(&deployed)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(confirmed, ids, "{deployed}");
    assert_eq!(
        registrations(&kv, &project)
            .await
            .into_keys()
            .collect::<BTreeSet<_>>(),
        ids,
        "the same task all along"
    );
    println!(
        "HAProxy router task on the manager's socket, blue-green {:.1?}: {}",
        deployed.elapsed,
        load.summary(&["1.0.0", "1.1.0"])
    );
    // Each request is a new connection through the engine's port proxy: fewer per second
    // than on the nodes, but the load spans the switch (both versions answered).
    assert!(load.requests >= 100, "only {} requests", load.requests);
    assert_eq!(
        load.failed(),
        0,
        "failed requests:\n{}\n{}",
        load.failures(),
        logs()
    );
    assert!(
        load.versions.iter().any(|v| v == "1.0.0"),
        "no 1.0.0 answer"
    );
    assert_eq!(load.versions.last().map(String::as_str), Some("1.1.0"));

    // Removed, the task stops cleanly: it deletes its registration, so no deploy waits for it.
    let removed = Command::new("docker")
        .args(["service", "rm", &router_service])
        .output()
        .expect("docker service rm");
    assert!(removed.status.success());
    wait_until(
        "the registration is deleted",
        Duration::from_secs(30),
        || async {
            let left = registrations(&kv, &project).await;
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_loop_ends_when_its_router_program_exits() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    let config = stack.env.dir().join("router.conf");
    let config = config.display().to_string();
    let out = {
        let mut cmd = stack.command(
            "route",
            &[
                "--output",
                "json",
                "--config",
                &config,
                "--listen",
                "127.0.0.1:1",
                "--id",
                "exec-test",
                "--exec",
                "sh -c 'sleep 1; exit 3'",
            ],
        );
        spawn_blocking(move || cmd.output().expect("run shipctl route"))
            .await
            .expect("route thread")
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // A supervisor (Swarm) sees the task end and starts another.
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("exited (exit status 3)"), "{stderr}");
    let kinds = names(&events(&stdout));
    let position = |k: &str| kinds.iter().position(|x| x == k);
    let (Some(rendered), Some(started), Some(exited), Some(deregistered)) = (
        position("rendered"),
        position("started"),
        position("exited"),
        position("deregistered"),
    ) else {
        panic!("{kinds:?}");
    };
    assert!(
        rendered < started && started < exited && exited < deregistered,
        "{kinds:?}"
    );
    assert!(std::path::Path::new(&config).exists(), "installed first");
}

#[test]
fn route_deploy_and_route_refuse_what_the_tasks_could_not_run() {
    let env = CliEnv::new();
    env.write("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n");
    for (args, expected) in [
        (
            &["route", "deploy", "--heartbeat", "10ms"][..],
            "--heartbeat 10ms: shorter than 100ms",
        ),
        (
            &["route", "deploy", "--mode", "replicated", "--replicas", "0"][..],
            "--replicas 0 would route nothing",
        ),
        (
            &["route", "deploy", "--env", "NOVALUE"][..],
            "--env `NOVALUE` is not KEY=VALUE",
        ),
        (
            &["route", "--config", "r.conf", "--once", "--exec", "nginx"][..],
            "--exec runs the router beside the loop",
        ),
        (
            &["route", "--targets-json", "[]", "--config", "r.conf"][..],
            "--targets-json needs --project",
        ),
        (
            &[
                "-p",
                "shop",
                "route",
                "--targets-json",
                "{",
                "--config",
                "r.conf",
            ][..],
            "--targets-json is not a list of routed services",
        ),
    ] {
        let output = env.run(args);
        let err = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_reaches_a_tls_engine_through_docker_host() {
    let test = "the_image_reaches_a_tls_engine_through_docker_host";
    let Some(cluster) = require_docker().await else {
        return;
    };
    let Some(images) = images(test).await else {
        return;
    };
    let have_socat = Command::new("sh")
        .args(["-c", "command -v socat"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_socat {
        crate::support::prereq::missing(test, "socat is not installed");
        return;
    }
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    stack
        .deploy("1.0.0", &["--strategy", "blue-green"])
        .expect_code(0);
    let dir = stack.env.dir().to_path_buf();
    for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // The engine behind TLS with client certificates (socat in front of its socket), as a
    // remote manager would be; the client's files as DOCKER_CERT_PATH wants them.
    crate::support::tls::install_provider();
    let ca = crate::support::tls::TestCa::new("engine CA");
    let (server_cert, server_key) = ca.server_cert_pem(&["localhost"]);
    let (client_cert, client_key) = ca.client_cert("shipctl");
    let certs = tempfile::tempdir().expect("tempdir");
    let server = tempfile::tempdir().expect("tempdir");
    for (path, text) in [
        (certs.path().join("ca.pem"), &ca.pem),
        (certs.path().join("cert.pem"), &client_cert),
        (certs.path().join("key.pem"), &client_key),
        (server.path().join("cert.pem"), &server_cert),
        (server.path().join("key.pem"), &server_key),
    ] {
        std::fs::write(&path, text).expect("write certificate");
        // The image's user reads the client's key.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    std::fs::set_permissions(certs.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // rustls resumes sessions; socat's OpenSSL (client certificates, no session id context)
    // refuses that: no tickets, no resumption.
    let openssl_conf = server.path().join("openssl.cnf");
    std::fs::write(
        &openssl_conf,
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n\
         [tls]\nNumTickets = 0\nOptions = -SessionTicket\n",
    )
    .expect("write openssl.cnf");
    let port = free_port();
    let _socat = tokio::process::Command::new("socat")
        .env("OPENSSL_CONF", &openssl_conf)
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            server.path().join("cert.pem").display(),
            server.path().join("key.pem").display(),
            certs.path().join("ca.pem").display()
        ))
        .arg(format!("UNIX-CONNECT:{}", engine_socket()))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start socat");
    wait_until("socat listening", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let out = {
        let mut cmd = Command::new("docker");
        // The host's network: the engine listens on its loopback.
        cmd.args(["run", "--rm", "--network", "host"])
            .args(["-e", &format!("DOCKER_HOST=tcp://localhost:{port}")])
            .args(["-e", "DOCKER_TLS_VERIFY=1", "-e", "DOCKER_CERT_PATH=/certs"])
            .arg("-v")
            .arg(format!("{}:/certs:ro", certs.path().display()))
            .arg("-v")
            .arg(format!("{}:/work", dir.display()))
            .args([&images.shipctl, "-p", &stack.project, "--output", "json"])
            .args(["status", "web"])
            .stdin(Stdio::null());
        spawn_blocking(move || cmd.output().expect("docker run"))
            .await
            .expect("docker run thread")
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("status as JSON");
    let text = status.to_string();
    assert!(
        text.contains("\"blue\"") && text.contains("\"1.0.0\""),
        "{status:#}"
    );
}

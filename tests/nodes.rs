//! Node faults on a real three-node Swarm (tests/support/nodes.rs): a worker's engine killed, a
//! node drained, a constraint no node meets, the manager's engine restarted, and the manager
//! down past the gate's deadline, while a deploy of three replicas (one per node) waits on its
//! health gate. Whatever happens, the routing keys never point at a zone without running tasks,
//! and the deploy ends done, rolled back with a named cause, or in a state that `status` and the
//! documented recovery bring back to clean. Each test prints `TIMING` lines for the record.
//! And a router beside the cluster, which reaches the host-mode ports of every node's tasks.

use std::time::{Duration, Instant};

use shipctl::ports::{Cluster, Kv, TaskState};

use crate::support::nodes::{NODES, Nodes, manager_host, node_address, node_id_of};
use crate::support::router::{free_port, http_get};
use crate::support::stack::{Finished, Running, Setup, Stack, Store, swarm_kv};

/// A blue-green project of three replicas on the node cluster; `min_healthy` keeps the gate
/// open long enough for a fault to land in it.
fn project(
    nodes: &Nodes,
    health_timeout: &'static str,
    min_healthy: &str,
    lock_ttl: &'static str,
) -> Stack {
    let mut setup = Setup::new(Store::Swarm);
    setup.replicas = 3;
    setup.health_timeout = health_timeout;
    setup.lock_ttl = lock_ttl;
    let mut stack = Stack::new(&nodes.cluster, setup);
    stack.env.set("DOCKER_HOST", &manager_host());
    let spec = std::fs::read_to_string(stack.env.dir().join("shipctl.yaml")).expect("read spec");
    stack.env.write(
        "shipctl.yaml",
        &spec.replace("min_healthy: 1s", &format!("min_healthy: {min_healthy}")),
    );
    stack
}

/// `(active zone, active version)` as the store holds them; `None` while it cannot be read.
async fn keys(nodes: &Nodes, stack: &Stack) -> Option<(Option<String>, Option<String>)> {
    let kv = swarm_kv(&nodes.cluster);
    let zone = kv.get(&stack.key("active-zone")).await.ok()?;
    let version = kv.get(&stack.key("active-version")).await.ok()?;
    Some((zone.map(|e| e.value), version.map(|e| e.value)))
}

/// Tasks of a zone in state `running` and meant to run (healthy: Swarm keeps a task whose
/// healthcheck has not passed in `starting`); `None` while the manager cannot be asked.
async fn running(nodes: &Nodes, stack: &Stack, zone: &str) -> Option<usize> {
    let tasks = nodes
        .cluster
        .tasks(&format!("{}_web-{zone}", stack.project))
        .await
        .ok()?;
    Some(
        tasks
            .iter()
            .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
            .count(),
    )
}

/// What the watch of a running deploy saw.
#[derive(Default)]
struct Watch {
    samples: usize,
    /// Samples where the manager or the store did not answer.
    blind: usize,
    /// Times the keys named a zone with no running task.
    violations: Vec<String>,
    /// When the fault was made, from the deploy's start.
    fault_at: Option<Duration>,
}

impl Watch {
    /// What happened, for the log of a run (the figures of the closing report).
    fn report(&self, what: &str, out: &Finished) {
        eprintln!(
            "{what}: exit {:?} after {:.1?} (fault at {:.1?}), {} samples, {} blind\n{out}",
            out.code(),
            out.elapsed,
            self.fault_at.unwrap_or_default(),
            self.samples,
            self.blind
        );
    }

    /// The keys never named a zone without running tasks.
    fn assert_keys_always_served(&self, out: &Finished) {
        assert!(
            self.violations.is_empty(),
            "the keys named a zone without running tasks:\n{}\n{out}",
            self.violations.join("\n")
        );
    }
}

/// When, in the health gate of the new zone `green`, the fault is made.
#[derive(Clone, Copy)]
enum When {
    /// A task is past scheduling (preparing, starting or running).
    Scheduled,
    /// This many tasks run healthy: the gate is counting `min_healthy`.
    Running(usize),
}

/// Runs `deploy` to its end, making `fault` (blocking) at `when` in the gate of the new zone,
/// and checking the keys all along.
async fn watch(
    nodes: &Nodes,
    stack: &Stack,
    mut deploy: Running,
    when: When,
    fault: impl FnOnce() + Send + 'static,
) -> (Finished, Watch) {
    let mut w = Watch::default();
    let mut fault = Some(fault);
    let mut pending: Option<tokio::task::JoinHandle<()>> = None;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(done) = deploy.poll() {
            if let Some(handle) = pending.take() {
                handle.await.expect("the fault");
            }
            return (done, w);
        }
        assert!(Instant::now() < deadline, "the deploy did not end in 4 min");
        if fault.is_some() && in_gate(nodes, stack, when).await {
            w.fault_at = Some(deploy.started.elapsed());
            let f = fault.take().expect("fault");
            pending = Some(tokio::task::spawn_blocking(f));
        }
        w.samples += 1;
        match keys(nodes, stack).await {
            Some((Some(zone), version)) => match running(nodes, stack, &zone).await {
                Some(0) => w.violations.push(format!(
                    "after {:.1?}: keys on {zone} ({version:?}) without a running task",
                    deploy.started.elapsed()
                )),
                Some(_) => {}
                None => w.blind += 1,
            },
            Some((None, _)) => {}
            None => w.blind += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// True once the new zone is as far as `when` says.
async fn in_gate(nodes: &Nodes, stack: &Stack, when: When) -> bool {
    let Ok(tasks) = nodes
        .cluster
        .tasks(&format!("{}_web-green", stack.project))
        .await
    else {
        return false;
    };
    let wanted = tasks
        .iter()
        .filter(|t| t.desired_state == TaskState::Running);
    match when {
        When::Scheduled => wanted.into_iter().any(|t| {
            matches!(
                t.state,
                TaskState::Preparing | TaskState::Starting | TaskState::Running
            )
        }),
        When::Running(n) => wanted.filter(|t| t.state == TaskState::Running).count() >= n,
    }
}

/// Waits until the store and the zones agree: the keys name a zone with `replicas` running
/// (healthy) tasks of the version they name, and the other zone wants none. Returns the serving zone
/// and version.
async fn settled(nodes: &Nodes, stack: &Stack, replicas: usize) -> (String, String) {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(90) {
        if let Some((Some(zone), Some(version))) = keys(nodes, stack).await {
            let names: Vec<(String, String)> = ["blue", "green"]
                .iter()
                .map(|z| (z.to_string(), format!("{}_web-{z}", stack.project)))
                .collect();
            if let Ok(zones) = nodes
                .cluster
                .observe_zones(&stack.project, "web", &names)
                .await
            {
                let serving = zones.get(&zone);
                let other = zones
                    .iter()
                    .find(|(z, _)| **z != zone)
                    .map(|(_, s)| s.desired);
                let ok = serving.is_some_and(|s| {
                    // Tasks of a node that is down stay `running` in Swarm's view, but
                    // are no longer meant to run: only those meant to run count.
                    s.healthy as usize == replicas
                        && s.desired as usize == replicas
                        && s.version.as_deref() == Some(version.as_str())
                }) && other.unwrap_or(0) == 0;
                if ok {
                    return (zone, version);
                }
                last = format!("keys {zone}@{version}, zones {zones:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the project did not settle within 90 s; last: {last}");
}

/// The deploy either finished (0) or rolled back naming why (1); the keys never named a zone
/// without running tasks; afterwards everything agrees.
async fn assert_done_or_rolled_back(nodes: &Nodes, stack: &Stack, out: &Finished, w: &Watch) {
    w.assert_keys_always_served(out);
    assert!(w.fault_at.is_some(), "the fault was never made\n{out}");
    match out.code() {
        Some(0) => {
            let (zone, version) = settled(nodes, stack, 3).await;
            assert_eq!((zone.as_str(), version.as_str()), ("green", "2.0.0"));
        }
        Some(1) => {
            assert!(
                out.stderr.contains("rolling back (") && names_a_cause(&out.stderr),
                "a rollback must name its cause\n{out}"
            );
            // The new version is healthy: only the fault may be blamed, never the release.
            assert!(
                !out.stderr.contains("healthcheck failing") && !out.stderr.contains("crash loop"),
                "a node fault was blamed on the release\n{out}"
            );
            let (zone, version) = settled(nodes, stack, 3).await;
            assert_eq!((zone.as_str(), version.as_str()), ("blue", "1.0.0"));
        }
        other => panic!("expected done (0) or rolled back (1), got {other:?}\n{out}"),
    }
    // The product's own view agrees: one zone serving at full strength, nothing in progress.
    stack
        .run("status", &["--wait", "--timeout", "60s"])
        .expect_code(0);
}

/// The failure line names one of the causes shipctl knows (src/exec/cause.rs).
fn names_a_cause(stderr: &str) -> bool {
    const CAUSES: [&str; 8] = [
        "no suitable node",
        "image not found",
        "crash loop",
        "healthcheck failing",
        "timed out after",
        "no progress for",
        "cluster: ",
        "KV store",
    ];
    stderr
        .lines()
        .filter(|l| l.contains("failed: "))
        .any(|l| CAUSES.iter().any(|c| l.contains(c)))
}

#[tokio::test]
async fn a_worker_engine_killed_during_the_health_gate() {
    let Some(nodes) = Nodes::acquire("a_worker_engine_killed_during_the_health_gate").await else {
        return;
    };
    let t0 = Instant::now();
    let stack = project(&nodes, "60s", "12s", "10s");
    first_release(&nodes, &stack).await;
    let deploy = stack.start_deploy("2.0.0", &[]);
    // Killed (a crash, not a shutdown) once green runs, while the gate counts min_healthy,
    // which is long enough for Swarm to see the node down and replace its tasks in the gate.
    let (out, w) = watch(&nodes, &stack, deploy, When::Running(2), || {
        let killed = Instant::now();
        crate::support::nodes::kill_engine_of("n3");
        crate::support::nodes::wait_node_status("n3", "Down", Duration::from_secs(60));
        eprintln!(
            "TIMING worker-kill node Down after {:.1?}",
            killed.elapsed()
        );
    })
    .await;
    w.report("worker kill", &out);
    assert_done_or_rolled_back(&nodes, &stack, &out, &w).await;
    eprintln!("TIMING worker-kill total {:.1?}", t0.elapsed());
}

/// Blue runs 1.0.0 on all three nodes, one task each: every fault below hits a zone's task.
async fn first_release(nodes: &Nodes, stack: &Stack) {
    stack.deploy("1.0.0", &[]).expect_code(0);
    let tasks = nodes
        .cluster
        .tasks(&format!("{}_web-blue", stack.project))
        .await
        .expect("list blue's tasks");
    let mut on: Vec<&str> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .filter_map(|t| t.node_id.as_deref())
        .collect();
    on.sort();
    on.dedup();
    assert_eq!(on.len(), 3, "blue should run on three nodes: {tasks:?}");
}

#[tokio::test]
async fn a_node_drained_during_the_health_gate() {
    let Some(nodes) = Nodes::acquire("a_node_drained_during_the_health_gate").await else {
        return;
    };
    let t0 = Instant::now();
    let stack = project(&nodes, "60s", "4s", "10s");
    first_release(&nodes, &stack).await;
    let deploy = stack.start_deploy("2.0.0", &[]);
    let (out, w) = watch(&nodes, &stack, deploy, When::Scheduled, || {
        crate::support::nodes::set_availability_of("n2", "drain");
    })
    .await;
    w.report("drain", &out);
    assert_done_or_rolled_back(&nodes, &stack, &out, &w).await;
    // Nothing runs on the drained node any more.
    let n2 = crate::support::nodes::node_id_of("n2");
    for zone in ["blue", "green"] {
        let tasks = nodes
            .cluster
            .tasks(&format!("{}_web-{zone}", stack.project))
            .await
            .expect("list tasks");
        assert!(
            !tasks.iter().any(|t| t.state == TaskState::Running
                && t.desired_state == TaskState::Running
                && t.node_id.as_deref() == Some(n2.as_str())),
            "{zone} still runs on the drained node: {tasks:?}"
        );
    }
    eprintln!("TIMING drain total {:.1?}", t0.elapsed());
}

#[tokio::test]
async fn a_constraint_no_node_meets_fails_fast_naming_it() {
    let Some(nodes) = Nodes::acquire("a_constraint_no_node_meets_fails_fast_naming_it").await
    else {
        return;
    };
    let t0 = Instant::now();
    let stack = project(&nodes, "2m", "1s", "10s");
    first_release(&nodes, &stack).await;
    let compose = std::fs::read_to_string(stack.env.dir().join("compose.yaml")).expect("compose");
    stack.env.write(
        "pinned.yaml",
        &format!("{compose}      placement:\n        constraints: [node.labels.nope == true]\n"),
    );
    let before = keys(&nodes, &stack).await;
    let out = stack.deploy("2.0.0", &["-f", "pinned.yaml"]);
    eprintln!(
        "constraint: exit {:?} after {:.1?}\n{out}",
        out.code(),
        out.elapsed
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("no suitable node"),
        "the cause must be named\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(40),
        "an unsatisfiable constraint must fail well before the 2m health timeout, took {:.1?}\n{out}",
        out.elapsed
    );
    assert_eq!(keys(&nodes, &stack).await, before, "the keys changed");
    assert_eq!(
        settled(&nodes, &stack, 3).await,
        ("blue".to_string(), "1.0.0".to_string())
    );
    eprintln!(
        "TIMING constraint detected after {:.1?}, total {:.1?}",
        out.elapsed,
        t0.elapsed()
    );
}

#[tokio::test]
async fn the_manager_engine_restarted_during_the_health_gate() {
    let Some(nodes) = Nodes::acquire("the_manager_engine_restarted_during_the_health_gate").await
    else {
        return;
    };
    let t0 = Instant::now();
    // The default lock TTL: a restart of a few seconds is shorter than it. Workers can take
    // a while to report again after a manager restart (seen: up to 50 s): a deadline that
    // leaves room for it.
    let stack = project(&nodes, "90s", "4s", "30s");
    first_release(&nodes, &stack).await;
    let deploy = stack.start_deploy("2.0.0", &[]);
    let (out, w) = watch(&nodes, &stack, deploy, When::Scheduled, || {
        crate::support::nodes::stop_engine_of("n1");
        // Down for a while: longer than the lock's renewal interval and many gate polls.
        std::thread::sleep(Duration::from_secs(8));
        crate::support::nodes::start_engine_of("n1");
    })
    .await;
    w.report("manager restart", &out);
    w.assert_keys_always_served(&out);
    match out.code() {
        Some(0 | 1) => assert_done_or_rolled_back(&nodes, &stack, &out, &w).await,
        Some(3) => {
            // Could not finish: status says what, and the documented way on (the same deploy
            // again) finishes it.
            let status = stack.run("status", &[]);
            eprintln!("status after exit 3: {:?}\n{status}", status.code());
            stack.deploy("2.0.0", &[]).expect_code(0);
            assert_eq!(
                settled(&nodes, &stack, 3).await,
                ("green".to_string(), "2.0.0".to_string())
            );
            stack
                .run("status", &["--wait", "--timeout", "60s"])
                .expect_code(0);
        }
        other => panic!("expected 0, 1 or 3, got {other:?}\n{out}"),
    }
    eprintln!("TIMING manager-restart total {:.1?}", t0.elapsed());
}

#[tokio::test]
async fn the_manager_down_past_the_gate_deadline() {
    let Some(nodes) = Nodes::acquire("the_manager_down_past_the_gate_deadline").await else {
        return;
    };
    let t0 = Instant::now();
    let stack = project(&nodes, "60s", "4s", "10s");
    first_release(&nodes, &stack).await;
    // A gate deadline shorter than the lock's TTL: the gate, not the lock, ends this deploy.
    let spec = std::fs::read_to_string(stack.env.dir().join("shipctl.yaml")).expect("read spec");
    let short = spec.replace(": 60s", ": 6s");
    stack.env.write("shipctl.yaml", &short);
    let deploy = stack.start_deploy("2.0.0", &[]);
    let (out, w) = watch(&nodes, &stack, deploy, When::Scheduled, || {
        crate::support::nodes::stop_engine_of("n1");
        std::thread::sleep(Duration::from_secs(12));
        crate::support::nodes::start_engine_of("n1");
    })
    .await;
    w.report("manager down", &out);
    w.assert_keys_always_served(&out);
    // The cause is the manager, named as such, not the release.
    assert!(
        out.stderr
            .contains("failed: green not healthy within 6s: cluster: "),
        "the failure must name the unreachable manager\n{out}"
    );
    assert!(
        !out.stderr.contains("healthcheck failing") && !out.stderr.contains("crash loop"),
        "a node fault was blamed on the release\n{out}"
    );
    // The keys never moved: blue kept serving through it all.
    assert_eq!(
        keys(&nodes, &stack).await,
        Some((Some("blue".into()), Some("1.0.0".into())))
    );
    match out.code() {
        Some(1) => {}
        Some(3) => {
            // The rollback could not reach the manager either: the message says what is left
            // and how to finish, and that way (`shipctl abort`) brings it back.
            assert!(
                out.stderr.contains("rollback incomplete")
                    && out.stderr.contains("`shipctl abort web` keeps the zone"),
                "exit 3 must say what is left and how to finish\n{out}"
            );
            let status = stack.run("status", &[]);
            eprintln!("status after exit 3: {:?}\n{status}", status.code());
            // The deploy could not record its end, but status does not take it for running:
            // no one holds its lock.
            assert!(
                status.stdout.contains("not settled")
                    && status.stdout.contains("deploy stopped before it finished")
                    && !status.stdout.contains("deploy running"),
                "status must show the unfinished, stopped deploy\n{status}"
            );
            // Blue lost its task on the manager: give it the usual deadline to come back.
            stack.env.write("shipctl.yaml", &spec);
            let abort = stack.run("abort", &["web", "--yes"]);
            eprintln!(
                "abort: {:?} after {:.1?}\n{abort}",
                abort.code(),
                abort.elapsed
            );
            abort.expect_code(0);
        }
        other => panic!("expected 1 or 3, got {other:?}\n{out}"),
    }
    assert_eq!(
        settled(&nodes, &stack, 3).await,
        ("blue".to_string(), "1.0.0".to_string())
    );
    stack
        .run("status", &["--wait", "--timeout", "60s"])
        .expect_code(0);
    eprintln!("TIMING manager-down total {:.1?}", t0.elapsed());
}

/// A router run as a process beside the cluster (here the host, outside every node) sends
/// each task that publishes its port in host mode to its node's address and published port:
/// the task on another node as much as the manager's. Each target it renders answers.
#[tokio::test]
async fn a_router_reaches_host_ports_on_every_node_at_the_nodes_address() {
    let Some(nodes) =
        Nodes::acquire("a_router_reaches_host_ports_on_every_node_at_the_nodes_address").await
    else {
        return;
    };
    let stack = project(&nodes, "60s", "1s", "10s");
    let compose =
        std::fs::read_to_string(stack.env.dir().join("compose.yaml")).expect("read compose");
    stack.env.write(
        "compose.yaml",
        &compose.replace(
            "    deploy:\n",
            "    ports:\n      - target: 8080\n        mode: host\n    deploy:\n",
        ),
    );
    first_release(&nodes, &stack).await;
    let tasks = nodes
        .cluster
        .tasks(&format!("{}_web-blue", stack.project))
        .await
        .expect("list blue's tasks");
    let mut expected: Vec<String> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
        .map(|t| {
            let node = t.node_id.as_deref().expect("a running task has a node");
            let n = NODES
                .iter()
                .find(|n| node_id_of(n) == node)
                .unwrap_or_else(|| panic!("task on unknown node {node}"));
            let (_, published) = *t.host_ports.first().expect("a host-mode port");
            format!("{}:{published}", node_address(n))
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 3, "one task per node: {expected:?}");

    let config = stack.env.dir().join("router.conf");
    let listen = format!("127.0.0.1:{}", free_port());
    let config_arg = config.display().to_string();
    stack
        .run(
            "route",
            &["--once", "--listen", &listen, "--config", &config_arg],
        )
        .expect_code(0);
    let text = std::fs::read_to_string(&config).expect("read the rendered config");
    let mut rendered: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .filter(|l| l.contains(" weight="))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    rendered.sort();
    assert_eq!(rendered, expected, "{text}");
    for target in &rendered {
        let answer = http_get(target, "/version");
        assert!(
            answer.as_deref().is_ok_and(|b| b.contains("1.0.0")),
            "{target}: {answer:?}"
        );
    }
}

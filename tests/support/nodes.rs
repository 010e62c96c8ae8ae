//! A Swarm of three nodes of its own on this machine, for tests that stop, restart and drain
//! nodes: three extra Docker engines, each in a network namespace, joined by a bridge on the
//! host. n1 is the only manager, n2 and n3 are workers. It is kept apart from the default
//! engine's Swarm, where other tests run in parallel: their services must never land on nodes
//! that these tests take down.
//!
//! The cluster is brought up the first time a node test needs it and left running for the next
//! run, which reuses it when it is healthy and builds it again from scratch when it is not.
//! Node tests hold [`Nodes`] for their whole length: one test at a time, and on drop every
//! engine runs again, every node is active and nothing a test made is left on the cluster.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shipctl::swarm::SwarmCluster;

use super::docker::{TEST_IMAGE, require_docker};
use super::prereq;

/// The nodes, in order: n1 is the manager.
pub const NODES: [&str; 3] = ["n1", "n2", "n3"];
/// The test images every engine must have (scripts/test-image).
const TAGS: [&str; 5] = ["1.0.0", "1.1.0", "2.0.0", "3.0.0", "unhealthy"];
/// The host's bridge and the nodes' subnet (192.168.231.1N for node N).
const BRIDGE: &str = "shipctl-br";
const SUBNET: &str = "192.168.231";

/// `unix:///var/run/shipctl-nN.sock`: where the engine of node `n` answers.
pub fn socket(n: &str) -> String {
    format!("unix:///var/run/shipctl-{n}.sock")
}

/// The DOCKER_HOST for shipctl: the manager.
pub fn manager_host() -> String {
    socket("n1")
}

fn netns(n: &str) -> String {
    format!("shipctl-{n}")
}

/// The address node `n` advertises to the cluster.
pub fn node_address(n: &str) -> String {
    let i = NODES.iter().position(|x| *x == n).unwrap_or(0) + 1;
    format!("{SUBNET}.1{i}")
}

fn pidfile(n: &str) -> String {
    format!("/var/run/shipctl-{n}.pid")
}

fn data_root(n: &str) -> String {
    format!("/var/lib/shipctl-{n}")
}

fn log_file(n: &str) -> String {
    format!("/tmp/shipctl-{n}-dockerd.log")
}

/// Runs a program to its end; `Err` with its output when it fails.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `docker -H <node> ARGS`.
pub fn docker(n: &str, args: &[&str]) -> Result<String, String> {
    let host = socket(n);
    let mut all = vec!["-H", host.as_str()];
    all.extend_from_slice(args);
    run("docker", &all)
}

/// Polls `check` until it gives `Ok`, or `Err` with its last answer after `timeout`.
fn poll<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= timeout => {
                return Err(format!("{what}: not within {timeout:?}; last: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// What the node tests need from the machine, or what is missing.
fn prerequisites() -> Result<(), String> {
    if run("id", &["-u"]).as_deref() != Ok("0") {
        return Err("the node tests need root (network namespaces, extra dockerds)".into());
    }
    for program in ["ip", "nsenter", "unshare", "iptables", "dockerd"] {
        let found = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .chain(["/usr/sbin", "/sbin"])
            .any(|dir| Path::new(dir).join(program).exists());
        if !found {
            return Err(format!(
                "`{program}` is missing (scripts/prepare installs iproute2, util-linux, iptables \
                 and docker.io)"
            ));
        }
    }
    Ok(())
}

/// The cluster, held by one test at a time; restored on drop.
pub struct Nodes {
    /// The manager, as shipctl sees it.
    pub cluster: SwarmCluster,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One node test at a time: they stop and restart the engines the others use.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Nodes {
    /// Waits for its turn, then makes sure the three nodes run and are healthy (building the
    /// cluster when needed). `None` (test skipped) when the machine cannot run it outside CI;
    /// in CI that fails the test.
    pub async fn acquire(test: &str) -> Option<Nodes> {
        // The images come from the default engine (built there when missing).
        require_docker().await?;
        if let Err(why) = prerequisites() {
            prereq::missing(test, &why);
            return None;
        }
        let turn = TURN.lock().await;
        let started = Instant::now();
        let ready = tokio::task::spawn_blocking(ensure)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(e) = ready {
            panic!("{test}: the three-node Swarm could not be brought up: {e}");
        }
        eprintln!(
            "{test}: three-node Swarm ready in {:.1?}",
            started.elapsed()
        );
        let cluster = shipctl::swarm::connect(Some(&manager_host()))
            .await
            .unwrap_or_else(|e| panic!("{test}: connect to n1: {e}"));
        Some(Nodes {
            cluster,
            _turn: turn,
        })
    }

    /// The node's name in the Swarm (its hostname), which `docker node` commands accept.
    pub fn node_name(n: &str) -> String {
        format!("shipctl-{n}")
    }

    /// `docker node update --availability AVAILABILITY` on the node of `n`.
    pub fn set_availability(&self, n: &str, availability: &str) {
        let name = Nodes::node_name(n);
        docker(
            "n1",
            &["node", "update", "--availability", availability, &name],
        )
        .unwrap_or_else(|e| panic!("{availability} {n}: {e}"));
    }

    /// `(state, availability)` of every node, from the manager.
    pub fn node_states(&self) -> Result<Vec<(String, String, String)>, String> {
        node_states()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // Drop cannot await; the commands are blocking ones anyway.
        if let Err(e) = restore() {
            eprintln!("restoring the three-node Swarm: {e}; the next node test rebuilds it");
            // The next test must not trust a cluster this one could not restore.
            teardown();
        }
    }
}

/// Stops the engine of `n` (SIGTERM, as a shutdown or a crash supervisor would) and waits
/// until it has exited.
pub fn stop_engine_of(n: &str) {
    stop_engine(n).unwrap_or_else(|e| panic!("stop the engine of {n}: {e}"));
}

/// Kills the engine of `n` (SIGKILL: a crash; its containers keep running without it, as after
/// a real engine crash) and waits until it is gone.
pub fn kill_engine_of(n: &str) {
    let Some(pid) = engine_pid(n) else {
        panic!("the engine of {n} is not running");
    };
    run("kill", &["-KILL", &pid.to_string()]).unwrap_or_else(|e| panic!("kill {n}: {e}"));
    poll(
        &format!("dockerd of {n} gone"),
        Duration::from_secs(10),
        || match engine_pid(n) {
            Some(_) => Err("still there".into()),
            None => Ok(()),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until the manager lists the node of `n` with this status (`Down`, `Ready`).
pub fn wait_node_status(n: &str, status: &str, timeout: Duration) {
    let name = Nodes::node_name(n);
    poll(&format!("{name} {status}"), timeout, || {
        let now = docker(
            "n1",
            &["node", "inspect", "--format", "{{.Status.State}}", &name],
        )?;
        if now.eq_ignore_ascii_case(status) {
            Ok(())
        } else {
            Err(now)
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Starts the engine of `n` again and waits until it answers.
pub fn start_engine_of(n: &str) {
    start_engine(n).unwrap_or_else(|e| panic!("start the engine of {n}: {e}"));
    wait_engine(n, Duration::from_secs(60)).unwrap_or_else(|e| panic!("the engine of {n}: {e}"));
}

/// `docker node update --availability AVAILABILITY` on the node of `n`.
pub fn set_availability_of(n: &str, availability: &str) {
    let name = Nodes::node_name(n);
    docker(
        "n1",
        &["node", "update", "--availability", availability, &name],
    )
    .unwrap_or_else(|e| panic!("{availability} {n}: {e}"));
}

/// The Swarm node id of `n`, as the manager knows it.
pub fn node_id_of(n: &str) -> String {
    docker(
        "n1",
        &[
            "node",
            "inspect",
            "--format",
            "{{.ID}}",
            &Nodes::node_name(n),
        ],
    )
    .unwrap_or_else(|e| panic!("node id of {n}: {e}"))
}

/// `(hostname, status, availability)` of every node, as the manager lists them.
fn node_states() -> Result<Vec<(String, String, String)>, String> {
    let out = docker(
        "n1",
        &[
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}} {{.Availability}}",
        ],
    )?;
    Ok(out
        .lines()
        .map(|l| {
            let mut p = l.split_whitespace().map(str::to_string);
            (
                p.next().unwrap_or_default(),
                p.next().unwrap_or_default(),
                p.next().unwrap_or_default(),
            )
        })
        .collect())
}

/// The cluster is what the tests expect: three engines answering, the manager's swarm with
/// exactly our three nodes ready and active.
fn healthy() -> Result<(), String> {
    for n in NODES {
        let state = docker(n, &["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        if state != "active" {
            return Err(format!("{n}: swarm state {state}"));
        }
    }
    let nodes = node_states()?;
    let ours: Vec<String> = NODES.iter().map(|n| format!("shipctl-{n}")).collect();
    let mut names: Vec<String> = nodes.iter().map(|(h, _, _)| h.clone()).collect();
    names.sort();
    if names != ours {
        return Err(format!("nodes {nodes:?}"));
    }
    if let Some(bad) = nodes.iter().find(|(_, s, a)| s != "Ready" || a != "Active") {
        return Err(format!("node {bad:?}"));
    }
    Ok(())
}

/// Brings the cluster to health: reuse it, restore it, or build it again; then the test
/// images of the default engine on every node.
fn ensure() -> Result<(), String> {
    if restore().is_err() {
        teardown();
        build()?;
        poll("three nodes ready", Duration::from_secs(60), healthy)?;
    }
    sync_images()
}

/// The ids of the test images on an engine (`None`: the default one); `Err` if one is missing.
fn image_ids(n: Option<&str>) -> Result<String, String> {
    let images: Vec<String> = TAGS.iter().map(|t| format!("{TEST_IMAGE}:{t}")).collect();
    let mut args = vec!["image", "inspect", "--format", "{{.Id}}"];
    args.extend(images.iter().map(String::as_str));
    match n {
        Some(n) => docker(n, &args),
        None => run("docker", &args),
    }
}

/// Loads the default engine's test images into every node that lacks them or has other ones
/// (each engine has its own image store, and nothing can be pulled here).
fn sync_images() -> Result<(), String> {
    let wanted = image_ids(None)?;
    let stale: Vec<&str> = NODES
        .into_iter()
        .filter(|n| image_ids(Some(n)).as_ref() != Ok(&wanted))
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let tar = std::env::temp_dir().join(format!("shipctl-nodes-images-{}.tar", std::process::id()));
    let tar_path = tar.display().to_string();
    let images: Vec<String> = TAGS.iter().map(|t| format!("{TEST_IMAGE}:{t}")).collect();
    let mut args = vec!["save", "-o", tar_path.as_str()];
    args.extend(images.iter().map(String::as_str));
    run("docker", &args)?;
    let loaded = stale
        .iter()
        .try_for_each(|n| docker(n, &["load", "-q", "-i", &tar_path]).map(drop));
    let _ = std::fs::remove_file(&tar);
    loaded
}

/// Every engine running, every node ready and active, no services or networks left.
fn restore() -> Result<(), String> {
    for n in NODES {
        if !answers(n) {
            if !Path::new(&format!("/var/run/netns/{}", netns(n))).exists() {
                return Err(format!("{n}: no network namespace"));
            }
            start_engine(n)?;
        }
    }
    for n in NODES {
        wait_engine(n, Duration::from_secs(60))?;
    }
    // The manager may still be electing itself after a restart.
    let ids = poll(
        "the manager lists the nodes",
        Duration::from_secs(60),
        || docker("n1", &["node", "ls", "-q"]),
    )?;
    for id in ids.lines() {
        docker("n1", &["node", "update", "--availability", "active", id])?;
    }
    // Workers report their tasks gone only once they are connected again: the networks of
    // removed services stay in use until then.
    poll("three nodes ready", Duration::from_secs(60), healthy)?;
    remove_everything()
}

/// Removes every service and user network of the cluster (only node tests use it).
fn remove_everything() -> Result<(), String> {
    let services = docker("n1", &["service", "ls", "-q"])?;
    if !services.is_empty() {
        let mut args = vec!["service", "rm"];
        args.extend(services.lines());
        docker("n1", &args)?;
    }
    // Networks stay in use until the tasks of removed services are gone.
    poll("networks removed", Duration::from_secs(60), || {
        let nets = docker("n1", &["network", "ls", "-q", "--filter", "driver=overlay"])?;
        let ours: Vec<&str> = nets.lines().collect();
        let mut left = Vec::new();
        for id in ours {
            let name = docker("n1", &["network", "inspect", "-f", "{{.Name}}", id])?;
            if name == "ingress" {
                continue;
            }
            if docker("n1", &["network", "rm", id]).is_err() {
                left.push(name);
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("still in use: {left:?}"))
        }
    })
}

fn answers(n: &str) -> bool {
    docker(n, &["version", "--format", "{{.Server.Version}}"]).is_ok()
}

fn wait_engine(n: &str, timeout: Duration) -> Result<(), String> {
    poll(&format!("the engine of {n} answers"), timeout, || {
        docker(n, &["version", "--format", "{{.Server.Version}}"])
    })
    .map(drop)
}

fn engine_pid(n: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile(n))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // Alive and a dockerd (a stale pidfile may name a recycled pid).
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("dockerd")
        .then_some(pid)
}

/// Starts dockerd for `n` in its namespace, with a hostname of its own (the node's name in
/// `docker node ls`), in a process group of its own so it outlives this test run.
fn start_engine(n: &str) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    if engine_pid(n).is_some() {
        return Ok(());
    }
    let log = std::fs::File::create(log_file(n)).map_err(|e| format!("{}: {e}", log_file(n)))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let script = format!(
        "hostname shipctl-{n} && exec dockerd --data-root {} --exec-root /var/run/shipctl-{n} \
         -H {} --pidfile {} --bridge none --iptables=false --ip-masq=false",
        data_root(n),
        socket(n),
        pidfile(n)
    );
    Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", netns(n)))
        .args(["unshare", "--uts", "sh", "-c", &script])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("nsenter dockerd: {e}"))?;
    Ok(())
}

fn stop_engine(n: &str) -> Result<(), String> {
    let Some(pid) = engine_pid(n) else {
        return Ok(());
    };
    run("kill", &["-TERM", &pid.to_string()])?;
    let stopped = poll(
        &format!("dockerd of {n} exits"),
        Duration::from_secs(30),
        || match engine_pid(n) {
            Some(_) => Err("still running".into()),
            None => Ok(()),
        },
    );
    if stopped.is_err() {
        let _ = run("kill", &["-KILL", &pid.to_string()]);
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// Removes what an earlier run left: engines, namespaces, the bridge, the engines' state.
fn teardown() {
    for n in NODES {
        let _ = stop_engine(n);
        // The engine's containerd (and its shims) may outlive a dockerd that was killed.
        let containerd = format!("/var/run/shipctl-{n}/containerd/containerd.pid");
        if let Ok(pid) = std::fs::read_to_string(&containerd) {
            let _ = run("kill", &["-TERM", pid.trim()]);
        }
        let _ = run("ip", &["netns", "del", &netns(n)]);
        let _ = run("ip", &["link", "del", &format!("shipctl-v{n}")]);
        // Mounts an engine left behind keep its data root busy.
        let _ = run(
            "sh",
            &[
                "-c",
                &format!(
                    "grep -o ' {root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                    root = data_root(n)
                ),
            ],
        );
        let _ = std::fs::remove_dir_all(data_root(n));
        let _ = std::fs::remove_dir_all(format!("/var/run/shipctl-{n}"));
        let _ = std::fs::remove_file(pidfile(n));
    }
    let _ = run("ip", &["link", "del", BRIDGE]);
}

/// Builds the cluster from nothing.
fn build() -> Result<(), String> {
    run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
    run(
        "ip",
        &["addr", "add", &format!("{SUBNET}.1/24"), "dev", BRIDGE],
    )?;
    run("ip", &["link", "set", BRIDGE, "up"])?;
    // The host's Docker sets FORWARD to DROP, and bridged frames pass through it here
    // (bridge-nf-call-iptables): let the nodes talk to each other.
    let rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];
    if run("iptables", &[&["-C"][..], &rule].concat()).is_err() {
        run("iptables", &[&["-I"][..], &rule].concat())?;
    }
    for n in NODES {
        let ns = netns(n);
        let host_end = format!("shipctl-v{n}");
        run("ip", &["netns", "add", &ns])?;
        run(
            "ip",
            &[
                "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )?;
        run("ip", &["link", "set", &host_end, "master", BRIDGE])?;
        run("ip", &["link", "set", &host_end, "up"])?;
        let cidr = format!("{}/24", node_address(n));
        run("ip", &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        start_engine(n)?;
    }
    for n in NODES {
        wait_engine(n, Duration::from_secs(60)).map_err(|e| {
            let log = std::fs::read_to_string(log_file(n)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            format!(
                "{e}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })?;
    }
    let manager = node_address("n1");
    // A short heartbeat: a node that stops is marked down in seconds, not 15 s.
    docker(
        "n1",
        &[
            "swarm",
            "init",
            "--advertise-addr",
            &manager,
            "--listen-addr",
            &format!("{manager}:2377"),
            "--dispatcher-heartbeat",
            "2s",
        ],
    )?;
    let token = docker("n1", &["swarm", "join-token", "-q", "worker"])?;
    for n in ["n2", "n3"] {
        docker(
            n,
            &[
                "swarm",
                "join",
                "--token",
                &token,
                "--advertise-addr",
                &node_address(n),
                "--listen-addr",
                &format!("{}:2377", node_address(n)),
                &format!("{manager}:2377"),
            ],
        )?;
    }
    Ok(())
}

//! The router tests' shared pieces: a 2-replica project with host-mode ports, the real binary,
//! a background `shipctl route`, a real nginx, plain HTTP requests and cleanup of keys.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shipctl::ports::Cluster;
use shipctl::ports::Kv;
use shipctl::swarm::SwarmCluster;

use super::docker::{Cleanup, require_docker};

/// What differs between the projects of the router tests.
pub struct ProjectOptions {
    /// The container healthcheck's timeout (its interval is 1s).
    pub health_timeout: &'static str,
    /// `drain.time` in the spec.
    pub drain_time: &'static str,
    /// `drain.wait_for_router` in the spec.
    pub wait_for_router: bool,
}

/// A compose project with one service of 2 replicas, dnsrr, each task publishing 8080 in host
/// mode on a port Swarm picks (no routing mesh here; distinct per task and zone).
pub fn write_project(dir: &Path, service: &str, options: &ProjectOptions) {
    let ProjectOptions {
        health_timeout,
        drain_time,
        wait_for_router,
    } = options;
    let compose = format!(
        r#"services:
  {service}:
    image: shipctl-test-app:${{IMAGE_VERSION:-1.0.0}}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: {health_timeout}
      retries: 3
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
        "kv:\n  url: swarm://\n  layout: classic\nservices:\n  {service}:\n    health:\n      timeout: 1m\n      min_healthy: 1s\n    drain:\n      time: {drain_time}\n      wait_for_router: {wait_for_router}\n      router_timeout: 30s\n"
    );
    std::fs::write(dir.join("compose.yaml"), compose).expect("write compose");
    std::fs::write(dir.join("shipctl.yaml"), spec).expect("write spec");
}

/// The real binary in `dir`, with the Docker host passed through.
pub fn shipctl(dir: &Path, project: &str) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("shipctl"));
    cmd.env_clear()
        .current_dir(dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .args(["-p", project]);
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", host);
    }
    cmd
}

pub fn deploy(dir: &Path, project: &str, version: &str) {
    let out = shipctl(dir, project)
        .args(["deploy", "--version", version, "--yes"])
        .output()
        .expect("run shipctl deploy");
    assert!(
        out.status.success(),
        "deploy {version} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shipctl route --once` with the built-in nginx template listening on `listen`, into
/// `config`; insists that it worked.
pub fn route_once(dir: &Path, project: &str, listen: &str, config: &Path) {
    route_once_with(dir, project, "nginx", listen, config);
}

/// `shipctl route --once` with the built-in `template`; insists that it worked.
pub fn route_once_with(dir: &Path, project: &str, template: &str, listen: &str, config: &Path) {
    let out = shipctl(dir, project)
        .args([
            "route",
            "--once",
            "--template",
            template,
            "--listen",
            listen,
        ])
        .arg("--config")
        .arg(config)
        .output()
        .expect("route --once");
    assert!(
        out.status.success(),
        "route --once failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A background `shipctl route`, its stderr in a file; stopped with SIGINT on drop.
pub struct Background {
    pub child: Child,
    log: PathBuf,
}

impl Background {
    pub fn start(mut cmd: Command, log: PathBuf) -> Background {
        let file = std::fs::File::create(&log).expect("create log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start shipctl route");
        Background { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C; returns whether it exited 0.
    pub fn interrupt(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn lines(path: &Path) -> usize {
    read(path).lines().count()
}

/// Where a router on this node must send each running task of a zone service that publishes
/// its port in host mode: this one-node Swarm advertises only 127.0.0.1, so the container's
/// address on the node's bridge (`docker network inspect`, not shipctl's lookup) and the
/// target port. Each task is also checked to answer there.
pub async fn host_targets(cluster: &dyn Cluster, service_name: &str) -> Vec<String> {
    let mut bridged: HashMap<String, String> = HashMap::new();
    for bridge in ["bridge", "docker_gwbridge"] {
        let out = Command::new("docker")
            .args(["network", "inspect", bridge, "--format"])
            .arg("{{range $id, $e := .Containers}}{{$id}} {{$e.IPv4Address}}\n{{end}}")
            .output()
            .expect("docker network inspect");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((id, address)) = line.split_once(' ') {
                let ip = address.split('/').next().unwrap_or(address);
                bridged.insert(id.to_string(), ip.to_string());
            }
        }
    }
    let mut targets: Vec<String> = cluster
        .tasks(service_name)
        .await
        .expect("tasks")
        .into_iter()
        .filter(|t| t.state == shipctl::ports::TaskState::Running)
        .filter(|t| t.desired_state == shipctl::ports::TaskState::Running)
        // Swarm may list a port twice (IPv4 and IPv6): one per task.
        .filter_map(|t| {
            let (target, _) = t.host_ports.first().copied()?;
            let container = t
                .container_id
                .as_deref()
                .expect("a running task has a container");
            let ip = bridged
                .get(container)
                .unwrap_or_else(|| panic!("container {container} on no bridge: {bridged:?}"));
            Some(format!("{ip}:{target}"))
        })
        .collect();
    targets.sort();
    for target in &targets {
        let answer = http_get(target, "/version");
        assert!(
            answer.is_ok(),
            "task at {target} does not answer: {answer:?}"
        );
    }
    targets
}

/// GET `path` from `addr` with a plain HTTP/1.0 request; the body, or an error.
pub fn http_get(addr: &str, path: &str) -> Result<String, String> {
    match http_request(addr, path).map_err(|e| e.to_string())? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("HTTP status {status}")),
    }
}

/// GET `path` from `addr` with a plain HTTP/1.0 request (a new connection each time): the
/// status and the trimmed body; an error only when no complete HTTP answer came.
pub fn http_request(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP answer");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.trim().to_string()))
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A process stopped when the test ends, also on panic: SIGTERM first, so that a master such
/// as nginx stops its workers too (SIGKILL would leave them running), then SIGKILL.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx as a plain process on `config`. Without nginx the test goes on without it, except in
/// CI, which must provide it (scripts/test installs it).
pub fn start_nginx(test: &str, dir: &Path, config: &Path) -> Option<(KillOnDrop, PathBuf)> {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        crate::support::prereq::missing(test, "nginx is not installed");
        return None;
    };
    let pid = dir.join("nginx.pid");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(config)
        .arg("-g")
        .arg(format!(
            "daemon off; pid {}; error_log stderr;",
            pid.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((KillOnDrop(child), pid))
}

/// HAProxy as a plain process on `config`, in master-worker mode (`-W`): SIGUSR2 to the pid in
/// the returned file reloads it without closing its listener. Without HAProxy the test goes on
/// without it, except in CI.
pub fn start_haproxy(test: &str, dir: &Path, config: &Path) -> Option<(KillOnDrop, PathBuf)> {
    let Some(haproxy) = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        crate::support::prereq::missing(test, "haproxy is not installed");
        return None;
    };
    let pid = dir.join("haproxy.pid");
    let child = Command::new(haproxy)
        .args(["-W", "-db", "-f"])
        .arg(config)
        .arg("-p")
        .arg(&pid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((KillOnDrop(child), pid))
}

/// Caddy as a plain process (`caddy run --config FILE`), its autosave and data under `dir` and
/// its log in `dir/caddy.log`. Without Caddy the test goes on without it, except in CI.
pub fn start_caddy(test: &str, dir: &Path, config: &Path) -> Option<KillOnDrop> {
    let Some(caddy) = ["/usr/bin/caddy", "/usr/local/bin/caddy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        crate::support::prereq::missing(test, "caddy is not installed");
        return None;
    };
    let log = std::fs::File::create(dir.join("caddy.log")).expect("caddy log");
    let child = Command::new(caddy)
        .args(["run", "--config"])
        .arg(config)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .ok()?;
    Some(KillOnDrop(child))
}

/// The pace of a load: one request every 6 ms (about 160/s, one connection each).
const REQUEST_EVERY: Duration = Duration::from_millis(6);
/// A load stops by itself after this many requests or this long, whichever comes first.
const MAX_REQUESTS: usize = 20_000;
const MAX_LOAD_TIME: Duration = Duration::from_secs(120);

/// What a load saw: the answers in order and the failures.
#[derive(Default)]
pub struct Load {
    pub requests: usize,
    /// The body of each 2xx answer of `/version`, in order.
    pub versions: Vec<String>,
    pub non_2xx: Vec<String>,
    pub connection_errors: Vec<String>,
}

impl Load {
    pub fn failed(&self) -> usize {
        self.non_2xx.len() + self.connection_errors.len()
    }

    /// `N requests: N 2xx, N non-2xx, N connection errors; 1.0.0 answers N, ...`
    pub fn summary(&self, versions: &[&str]) -> String {
        let mut text = format!(
            "{} requests: {} 2xx, {} non-2xx, {} connection errors",
            self.requests,
            self.versions.len(),
            self.non_2xx.len(),
            self.connection_errors.len()
        );
        for v in versions {
            let n = self.versions.iter().filter(|a| a == v).count();
            text.push_str(&format!("; {v} answers {n}"));
        }
        text
    }

    /// The first failures, for an assertion message.
    pub fn failures(&self) -> String {
        format!(
            "non-2xx: {:?}\nconnection errors: {:?}",
            self.non_2xx.iter().take(20).collect::<Vec<_>>(),
            self.connection_errors.iter().take(20).collect::<Vec<_>>(),
        )
    }
}

/// GET /version on `addr` at a steady pace until `stop` is set or a bound is reached.
pub fn run_load(addr: &str, stop: &AtomicBool) -> Load {
    let mut load = Load::default();
    let start = Instant::now();
    let mut next = start;
    while !stop.load(Ordering::Relaxed)
        && load.requests < MAX_REQUESTS
        && start.elapsed() < MAX_LOAD_TIME
    {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += REQUEST_EVERY;
        load.requests += 1;
        let at = start.elapsed().as_secs_f32();
        match http_request(addr, "/version") {
            Ok((status, body)) if (200..300).contains(&status) => load.versions.push(body),
            Ok((status, body)) => load.non_2xx.push(format!("{at:.2}s: {status} {body}")),
            Err(e) => load.connection_errors.push(format!("{at:.2}s: {e}")),
        }
    }
    load
}

/// Sets its flag on drop: stops a load also when the test panics, so the thread never
/// outlives it for long.
pub struct StopOnDrop(pub Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A load on a thread of its own against `addr`; `stop` ends it.
pub fn start_load(addr: &str, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<Load> {
    let stop = stop.clone();
    let addr = addr.to_string();
    std::thread::spawn(move || run_load(&addr, &stop))
}

/// One router test's live project: the Swarm, a unique project and service name, a work
/// directory and the swarm:// KV store. On drop it deletes the service's keys, then (through
/// `Cleanup`) its Swarm services and networks.
pub struct LiveRouterProject {
    pub cluster: SwarmCluster,
    pub project: String,
    /// Unique per test run: the routing keys are named after the service.
    pub service: String,
    pub kv: Box<dyn Kv>,
    work: tempfile::TempDir,
    _cleanup: Cleanup,
}

impl LiveRouterProject {
    /// `None` (test skipped) without a Swarm outside CI. `prefix` starts the service name.
    pub async fn new(prefix: &str) -> Option<LiveRouterProject> {
        let cluster = require_docker().await?;
        let cleanup = Cleanup::new(&cluster);
        let project = cleanup.project.clone();
        let service = format!("{prefix}{}", &project[3..]);
        let kv = shipctl::kv::connect_with_docker(
            "swarm://",
            &HashMap::new(),
            Some(cluster.docker().clone()),
        )
        .await
        .expect("swarm kv");
        Some(LiveRouterProject {
            cluster,
            project,
            service,
            kv,
            work: tempfile::tempdir().expect("tempdir"),
            _cleanup: cleanup,
        })
    }

    pub fn dir(&self) -> &Path {
        self.work.path()
    }
}

impl Drop for LiveRouterProject {
    fn drop(&mut self) {
        let keys: Vec<String> = [
            "active-zone",
            "active-version",
            "traffic",
            "history",
            "router",
            "lock",
            "progress",
            "owner",
        ]
        .iter()
        .map(|k| format!("{}-{k}", self.service))
        .collect();
        let kv = &*self.kv;
        let registrations = format!("{}-router/", self.service);
        // Drop cannot await: block this (multi-threaded) runtime's worker briefly.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                // Routers killed by a test leave their registrations behind.
                let left: Vec<String> = kv
                    .list(&registrations)
                    .await
                    .map(|e| e.into_iter().map(|e| e.key).collect())
                    .unwrap_or_default();
                for k in keys.iter().chain(&left) {
                    let _ = kv.delete(k).await;
                }
            })
        });
    }
}

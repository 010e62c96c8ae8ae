//! One project deployed through the real `shipctl` binary on the live Swarm: a compose file and
//! a spec of its own in a `CliEnv` directory, commands run to the end or started side by side,
//! and everything it made (services, networks, Swarm-label keys) removed when it is dropped.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use shipctl::kv::SwarmKv;
use shipctl::ports::Kv;
use shipctl::ports::ZoneState;
use shipctl::ports::{Cluster, TaskState};
use shipctl::swarm::SwarmCluster;

use super::cli_env::CliEnv;
use super::consul_double::{ConsulDouble, Options};
use super::docker::{Cleanup, wait_until};

/// The user every command runs as: lock holders and history records name it.
pub const USER: &str = "deployer";

/// Where the routing keys live.
#[derive(Clone, Debug)]
pub enum Store {
    /// The default `swarm://`. Its keys are global labels shared by every project on the
    /// engine, so they are prefixed with the project (`{project}/web-active-zone`).
    Swarm,
    /// A store of the test's own (`consul://…`, `etcd://…`): the default key names, exactly
    /// as a router template reads them.
    Url(String),
}

/// What the spec and compose file say; the defaults keep deploys short.
#[derive(Clone, Debug)]
pub struct Setup {
    pub store: Store,
    pub replicas: u64,
    pub lock_ttl: &'static str,
    pub health_timeout: &'static str,
    pub drain: &'static str,
}

impl Setup {
    pub fn new(store: Store) -> Setup {
        Setup {
            store,
            replicas: 1,
            lock_ttl: "10s",
            health_timeout: "1m",
            drain: "1s",
        }
    }
}

pub struct Stack {
    pub project: String,
    pub env: CliEnv,
    pub setup: Setup,
    /// Dropped before `_cleanup` so the keys go even when the services cannot.
    _keys: Option<SwarmKeys>,
    _cleanup: Cleanup,
}

impl Stack {
    pub fn new(cluster: &SwarmCluster, setup: Setup) -> Stack {
        let cleanup = Cleanup::new(cluster);
        let project = cleanup.project.clone();
        for zone in ["blue", "green"] {
            cleanup.service(format!("{project}_web-{zone}"));
        }
        cleanup.network(format!("{project}_default"));
        let mut env = CliEnv::new();
        env.with_docker_host().set("USER", USER);
        let keys = matches!(setup.store, Store::Swarm).then(|| SwarmKeys {
            docker_host: cluster.host().to_string(),
            prefix: format!("{project}/"),
        });
        let stack = Stack {
            project,
            env,
            setup,
            _keys: keys,
            _cleanup: cleanup,
        };
        stack.write_compose("compose.yaml", None);
        stack.write_spec("shipctl.yaml", &stack.setup);
        stack
    }

    /// A compose file with the one service `web`; `start_period` keeps failing tasks in
    /// `starting` (so a deploy of `unhealthy` waits instead of failing at once).
    ///
    /// A healthy task passes its first check after about a second either way; the timeout and
    /// retries leave room for checks that run late on a loaded machine, which shipctl would
    /// otherwise take for a task stuck in `starting`.
    pub fn write_compose(&self, name: &str, start_period: Option<&str>) -> PathBuf {
        let start_period = start_period
            .map(|p| format!("      start_period: {p}\n"))
            .unwrap_or_default();
        let text = format!(
            "services:\n  web:\n    image: shipctl-test-app:${{IMAGE_VERSION:-1.0.0}}\n    \
             healthcheck:\n      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"/dev/null\", \
             \"http://127.0.0.1:8080/health\"]\n      interval: 1s\n      timeout: 2s\n      \
             retries: 3\n{start_period}    stop_grace_period: 2s\n    deploy:\n      \
             replicas: {}\n      endpoint_mode: dnsrr\n",
            self.setup.replicas
        );
        self.env.write(name, &text)
    }

    /// A spec with this setup's store, TTL, health timeout and drain.
    pub fn write_spec(&self, name: &str, setup: &Setup) -> PathBuf {
        // A store of its own is named with `--kv` on each command (see `command`), over this.
        let url = "swarm://";
        let keys = match &setup.store {
            Store::Swarm => [
                "active_zone",
                "active_version",
                "traffic",
                "lock",
                "history",
                "progress",
            ]
            .iter()
            .map(|k| {
                format!(
                    "    {k}: \"{{project}}/{{service}}-{}\"\n",
                    k.replace('_', "-")
                )
            })
            .collect::<String>(),
            // A store of its own: the classic names, as consul-template setups read them.
            Store::Url(_) => String::new(),
        };
        let keys = if keys.is_empty() {
            "  layout: classic\n".to_string()
        } else {
            format!("  keys:\n{keys}")
        };
        let text = format!(
            "kv:\n  url: {url}\n  lock_ttl: {}\n{keys}services:\n  web:\n    strategy: blue-green\n    \
             on_failure: rollback\n    health:\n      timeout: {}\n      min_healthy: 1s\n      \
             progress_deadline: {}\n    drain: {}\n",
            setup.lock_ttl, setup.health_timeout, setup.health_timeout, setup.drain
        );
        self.env.write(name, &text)
    }

    /// The name of a key of `web` in this stack's store (`active-zone`, `lock`, ...).
    pub fn key(&self, name: &str) -> String {
        match self.setup.store {
            Store::Swarm => format!("{}/web-{name}", self.project),
            Store::Url(_) => format!("web-{name}"),
        }
    }

    /// `shipctl SUBCOMMAND -p PROJECT ARGS…` in the stack's directory and environment.
    pub fn command(&self, subcommand: &str, args: &[&str]) -> std::process::Command {
        let cmd = self.env.shipctl();
        let mut std = std::process::Command::new(cmd.get_program());
        std.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                std.env(k, v);
            }
        }
        if let Some(dir) = cmd.get_current_dir() {
            std.current_dir(dir);
        }
        std.arg(subcommand).args(["-p", &self.project]);
        if let Store::Url(url) = &self.setup.store {
            std.args(["--kv", url]);
        }
        std.args(args);
        std.stdin(Stdio::null());
        std
    }

    /// Runs a command to its end.
    pub fn run(&self, subcommand: &str, args: &[&str]) -> Finished {
        self.start(subcommand, args).wait()
    }

    /// `shipctl deploy --version VERSION --yes ARGS…`, to its end.
    pub fn deploy(&self, version: &str, args: &[&str]) -> Finished {
        self.start_deploy(version, args).wait()
    }

    pub fn start_deploy(&self, version: &str, args: &[&str]) -> Running {
        let mut all = vec!["--version", version, "--yes"];
        all.extend_from_slice(args);
        self.start("deploy", &all)
    }

    /// Starts a command and returns at once; its output goes to files (no pipe to fill up
    /// while the test waits for something else).
    pub fn start(&self, subcommand: &str, args: &[&str]) -> Running {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let out = self.env.dir().join(format!("run-{n}.out"));
        let err = self.env.dir().join(format!("run-{n}.err"));
        let mut cmd = self.command(subcommand, args);
        cmd.stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"));
        let started = Instant::now();
        let child = cmd.spawn().expect("start shipctl");
        Running {
            child,
            out,
            err,
            started,
            what: format!("shipctl {subcommand} {}", args.join(" ")),
        }
    }

    /// The two zones as the Swarm sees them.
    pub async fn zones(&self, cluster: &SwarmCluster) -> IndexMap<String, ZoneState> {
        let names: Vec<(String, String)> = ["blue", "green"]
            .iter()
            .map(|z| (z.to_string(), format!("{}_web-{z}", self.project)))
            .collect();
        cluster
            .observe_zones(&self.project, "web", &names)
            .await
            .expect("observe the zones")
    }

    /// Tasks of a zone in state `running` (healthy: Swarm keeps unhealthy ones `starting`).
    pub async fn running_tasks(&self, cluster: &SwarmCluster, zone: &str) -> usize {
        cluster
            .tasks(&format!("{}_web-{zone}", self.project))
            .await
            .map(|tasks| {
                tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Running)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits until the zone's service exists (a deploy has started it).
    pub async fn wait_zone_exists(&self, cluster: &SwarmCluster, zone: &str, timeout: Duration) {
        wait_until(&format!("zone {zone} to exist"), timeout, || async {
            let zones = self.zones(cluster).await;
            match zones.get(zone) {
                Some(z) if z.desired > 0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    }
}

/// A command still running.
pub struct Running {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
    pub started: Instant,
    what: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit, if it has ended.
    pub fn poll(&mut self) -> Option<Finished> {
        let status = self.child.try_wait().expect("poll shipctl")?;
        Some(self.finished(status))
    }

    pub fn wait(mut self) -> Finished {
        let status = self.child.wait().expect("wait for shipctl");
        self.finished(status)
    }

    /// SIGKILL: the process ends without any chance to clean up.
    pub fn kill9(mut self) -> Finished {
        self.child.kill().expect("kill shipctl");
        self.wait()
    }

    fn finished(&self, status: ExitStatus) -> Finished {
        Finished {
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
            elapsed: self.started.elapsed(),
            what: self.what.clone(),
        }
    }
}

impl Drop for Running {
    /// A test that fails halfway must not leave a deploy running against its stack.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A command that ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From its start to when the test saw it end.
    pub elapsed: Duration,
    what: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Finished {
        assert_eq!(
            self.code(),
            Some(code),
            "`{}` exited with {:?} after {:.1?}, expected {code}\n{self}",
            self.what,
            self.status,
            self.elapsed
        );
        self
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Removes the keys under `prefix` (and the record of their deletes) from the Swarm labels on
/// drop, also when the test panics.
pub struct SwarmKeys {
    pub docker_host: String,
    pub prefix: String,
}

impl Drop for SwarmKeys {
    fn drop(&mut self) {
        let host = self.docker_host.clone();
        let prefix = self.prefix.clone();
        // Drop cannot await and may run inside the test's runtime: a thread of its own.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async {
                let cluster = shipctl::swarm::connect(Some(&host))
                    .await
                    .map_err(|e| e.to_string())?;
                let kv = SwarmKv::new(cluster.docker().clone());
                for entry in kv.list(&prefix).await.map_err(|e| e.to_string())? {
                    kv.delete(&entry.key).await.map_err(|e| e.to_string())?;
                }
                kv.forget_deletes(&prefix).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = result {
            eprintln!("removing the keys {}*: {e}", self.prefix);
        }
    }
}

/// The KV store of a swarm:// stack, for reading keys as a router or a second tool would.
pub fn swarm_kv(cluster: &SwarmCluster) -> SwarmKv {
    SwarmKv::new(cluster.docker().clone())
}

/// Values of keys in `kv` (missing keys are absent from the map).
pub async fn values(kv: &dyn Kv, keys: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for key in keys {
        if let Some(entry) = kv.get(key).await.expect("read a key") {
            out.insert(key.clone(), entry.value);
        }
    }
    out
}

/// Waits until `kv` says someone holds the lock `key`, and returns the holder's pid.
pub async fn wait_lock_held(kv: &dyn Kv, key: &str, timeout: Duration) -> u32 {
    wait_until(&format!("lock {key} to be held"), timeout, || async {
        match kv.lock_holder(key).await {
            Ok(Some(holder)) => Ok(holder.pid),
            Ok(None) => Err("free".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// The Consul double on a runtime of its own, so that it keeps answering a `shipctl` child
/// while the test's thread blocks waiting for that child.
pub struct ServedDouble {
    pub double: ConsulDouble,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServedDouble {
    pub fn start(options: Options) -> ServedDouble {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime for the Consul double");
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(ConsulDouble::start(options).await);
        });
        let double = rx.recv().expect("the Consul double started");
        ServedDouble {
            double,
            runtime: Some(runtime),
        }
    }
}

impl Drop for ServedDouble {
    fn drop(&mut self) {
        self.double.stop();
        // Dropping a runtime inside the test's async context would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Sends signal `name` (`STOP`, `CONT`, ...) to `pid`: a paused process or a hung store.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Removes a stack's named volume once its services are gone (declare it before the services'
/// clean-up, so that it is dropped after them); retried while a stopping task still holds it.
pub struct Volume(pub String);

impl Drop for Volume {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = std::process::Command::new("docker")
                .args(["volume", "rm", "-f", &self.0])
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

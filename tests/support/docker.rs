//! The live Docker Swarm for integration tests: skip or fail clearly without one, unique names,
//! cleanup of everything a test created, and polling with a deadline.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListConfigsOptions, ListNetworksOptions, ListSecretsOptions, ListServicesOptions,
};
use shipctl::swarm::{SwarmCluster, connect};

/// The test app image (see scripts/test-image).
pub const TEST_IMAGE: &str = "shipctl-test-app";

/// `shipctl-test-app:<tag>`.
pub fn test_image(tag: &str) -> String {
    format!("{TEST_IMAGE}:{tag}")
}

/// A connected Swarm, or `None` (with a notice) when no engine answers outside CI. In CI
/// (`CI` set) a missing engine fails the test: it would otherwise pass without testing anything.
pub async fn require_docker() -> Option<SwarmCluster> {
    match connect(None).await {
        Ok(cluster) => {
            ensure_test_images(&cluster).await;
            Some(cluster)
        }
        Err(e) => {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".into());
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set but no Docker Swarm manager answers at {host}: {e}\n\
                     run the tests with scripts/test, which installs and starts one"
                );
            }
            eprintln!("skipping: no Docker engine ({e}); scripts/test sets one up");
            None
        }
    }
}

/// Builds the test images when a tag is missing, once per test run (tests run in parallel).
async fn ensure_test_images(cluster: &SwarmCluster) {
    static CHECKED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CHECKED
        .get_or_init(|| async {
            let mut missing = false;
            for tag in ["1.0.0", "1.1.0", "2.0.0", "3.0.0", "unhealthy"] {
                if cluster
                    .docker()
                    .inspect_image(&test_image(tag))
                    .await
                    .is_err()
                {
                    missing = true;
                }
            }
            if !missing {
                return;
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-image/build.sh");
            let out = tokio::process::Command::new(script)
                .output()
                .await
                .expect("running scripts/test-image/build.sh");
            assert!(
                out.status.success(),
                "building the test images failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await;
}

/// `st-` and 8 random hex digits: names stay unique across runs and parallel tests, and
/// leftovers of a crashed run are easy to spot (`docker service ls --filter name=st-`).
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("st-{:08x}", h.finish() as u32)
}

/// Removes, on drop (also when the test panics), every service and network it was told about,
/// and every service, network, secret and config labelled with its project
/// (`com.docker.stack.namespace`).
pub struct Cleanup {
    pub project: String,
    host: String,
    services: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
}

impl Cleanup {
    /// A fresh project name, cleaned up on drop.
    pub fn new(cluster: &SwarmCluster) -> Cleanup {
        Cleanup {
            project: unique_name(),
            host: cluster.host().to_string(),
            services: Mutex::new(Vec::new()),
            networks: Mutex::new(Vec::new()),
        }
    }

    /// Remembers a service to remove; returns its name.
    pub fn service(&self, name: impl Into<String>) -> String {
        let name = name.into();
        self.services.lock().unwrap().push(name.clone());
        name
    }

    /// Remembers a network to remove; returns its name.
    pub fn network(&self, name: impl Into<String>) -> String {
        let name = name.into();
        self.networks.lock().unwrap().push(name.clone());
        name
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let project = self.project.clone();
        let host = self.host.clone();
        let services =
            std::mem::take(&mut *self.services.lock().unwrap_or_else(|e| e.into_inner()));
        let networks =
            std::mem::take(&mut *self.networks.lock().unwrap_or_else(|e| e.into_inner()));
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread with
        // a runtime of its own.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(remove_all(&host, &project, services, networks))
        })
        .join();
        if let Ok(Err(e)) = result {
            eprintln!("cleanup of {}: {e}", self.project);
        }
    }
}

async fn remove_all(
    host: &str,
    project: &str,
    mut services: Vec<String>,
    mut networks: Vec<String>,
) -> Result<(), String> {
    let cluster = connect(Some(host)).await.map_err(|e| e.to_string())?;
    let docker = cluster.docker();
    let by_label = HashMap::from([(
        "label".to_string(),
        vec![format!("com.docker.stack.namespace={project}")],
    )]);
    let labelled = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(by_label.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| e.to_string())?;
    services.extend(
        labelled
            .into_iter()
            .filter_map(|s| s.spec.and_then(|s| s.name)),
    );
    services.sort();
    services.dedup();
    for name in &services {
        let _ = docker.delete_service(name).await;
    }
    // The project's release records on the Swarm store, in either key layout: every run that
    // changes services writes one, whatever keys the test set for its services.
    let kv = shipctl::kv::SwarmKv::new(docker.clone());
    for key in [format!("{project}/releases"), format!("{project}-releases")] {
        let _ = shipctl::ports::Kv::delete(&kv, &key).await;
    }
    // Secrets and configs the test made, labelled like the rest of its project.
    let secrets = docker
        .list_secrets(Some(ListSecretsOptions {
            filters: Some(by_label.clone()),
        }))
        .await
        .map_err(|e| e.to_string())?;
    for id in secrets.into_iter().filter_map(|s| s.id) {
        let _ = docker.delete_secret(&id).await;
    }
    let configs = docker
        .list_configs(Some(ListConfigsOptions {
            filters: Some(by_label.clone()),
        }))
        .await
        .map_err(|e| e.to_string())?;
    for id in configs.into_iter().filter_map(|c| c.id) {
        let _ = docker.delete_config(&id).await;
    }
    let labelled = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(by_label),
        }))
        .await
        .map_err(|e| e.to_string())?;
    networks.extend(labelled.into_iter().filter_map(|n| n.name));
    networks.sort();
    networks.dedup();
    // A network stays in use until the removed services' tasks are gone: retry for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in &networks {
        loop {
            match docker.remove_network(name).await {
                Ok(()) => break,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("removing network {name}: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    Ok(())
}

/// Polls `check` until it gives `Ok`, or panics after `timeout` with what the last check said.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::from("(not checked yet)");
    while start.elapsed() < timeout {
        match check().await {
            Ok(v) => return v,
            Err(state) => last = state,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "timed out after {:.0?} waiting for {what}; last state: {last}",
        timeout
    );
}

//! `SwarmCluster` against the live Swarm (see scripts/test), plus the connection errors.

use std::time::Duration;

use indexmap::IndexMap;
use shipctl::compose::model::{EndpointMode, Network, Port, Protocol, PublishMode, Service};
use shipctl::ports::ZoneState;
use shipctl::ports::{Cluster, ClusterError, TaskInfo, TaskState, ZoneTarget};
use shipctl::swarm::{SwarmCluster, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::docker::{Cleanup, require_docker, test_image, unique_name, wait_until};

const DEADLINE: Duration = Duration::from_secs(90);

/// The zone `zone` of service `web` running the test app at `tag`, with a host-mode port (no
/// routing mesh on the test machines) on a dynamic host port, and dnsrr (no IPVS either).
fn zone(project: &str, zone: &str, tag: &str, replicas: u64) -> ZoneTarget {
    let mut definition = Service {
        name: "web".into(),
        image: format!("{}:${{VERSION}}", crate::support::docker::TEST_IMAGE),
        ports: vec![Port {
            target: 8080,
            published: None,
            protocol: Protocol::Tcp,
            mode: PublishMode::Host,
            host_ip: None,
        }],
        stop_grace_period: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    definition.deploy.endpoint_mode = Some(EndpointMode::Dnsrr);
    ZoneTarget {
        project: project.into(),
        service: "web".into(),
        zone: zone.into(),
        service_name: format!("{project}_web-{zone}"),
        definition,
        image: test_image(tag),
        version: tag.into(),
        replicas,
        networks: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
    }
}

fn zones(project: &str) -> Vec<(String, String)> {
    ["blue", "green"]
        .iter()
        .map(|z| (z.to_string(), format!("{project}_web-{z}")))
        .collect()
}

async fn observe(cluster: &SwarmCluster, project: &str) -> IndexMap<String, ZoneState> {
    cluster
        .observe_zones(project, "web", &zones(project))
        .await
        .unwrap()
}

/// Waits until the zone runs `n` healthy tasks of `version` and nothing else.
async fn wait_healthy(
    cluster: &SwarmCluster,
    project: &str,
    zone: &str,
    n: u64,
    version: &str,
) -> ZoneState {
    let name = format!("{project}_web-{zone}");
    wait_until(
        &format!("{n} healthy tasks of {version} in {name}"),
        DEADLINE,
        || async {
            let observed = observe(cluster, project).await;
            let state = observed.get(zone).cloned().ok_or("zone missing")?;
            let tasks = cluster.tasks(&name).await.map_err(|e| e.to_string())?;
            let running: Vec<&TaskInfo> = tasks
                .iter()
                .filter(|t| t.state == TaskState::Running)
                .collect();
            let all_new = running
                .iter()
                .all(|t| t.version.as_deref() == Some(version));
            if state.healthy == n && state.running == n && running.len() as u64 == n && all_new {
                Ok(state)
            } else {
                Err(format!("{state:?}; tasks: {:?}", summary(&tasks)))
            }
        },
    )
    .await
}

fn summary(tasks: &[TaskInfo]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| {
            format!(
                "{:?}->{:?} v={:?} {} {:?}",
                t.state, t.desired_state, t.version, t.message, t.error
            )
        })
        .collect()
}

/// GET on a task's published host port.
async fn http_get(port: u16, path: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body.trim().to_string())
    } else {
        Err(format!("{status}: {body}"))
    }
}

fn host_port(task: &TaskInfo) -> u16 {
    task.host_ports
        .iter()
        .find(|(target, _)| *target == 8080)
        .map(|(_, published)| *published)
        .unwrap_or_else(|| panic!("task {} has no host port for 8080: {task:?}", task.id))
}

#[tokio::test]
async fn zone_is_created_updated_and_scaled() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let project = cleanup.project.clone();
    let blue = zone(&project, "blue", "1.0.0", 2);
    cleanup.service(&blue.service_name);

    // Nothing yet.
    assert!(observe(&cluster, &project).await.is_empty());
    assert!(matches!(
        cluster.tasks(&blue.service_name).await,
        Err(ClusterError::NotFound(_))
    ));

    cluster.apply_zone(&blue).await.unwrap();
    let first = wait_healthy(&cluster, &project, "blue", 2, "1.0.0").await;
    assert_eq!(first.service_name, blue.service_name);
    assert_eq!(first.desired, 2);
    assert_eq!(first.version.as_deref(), Some("1.0.0"));
    assert_eq!(first.image.as_deref(), Some("shipctl-test-app:1.0.0"));
    // Only the zone that exists is reported.
    assert!(!observe(&cluster, &project).await.contains_key("green"));

    let tasks = cluster.tasks(&blue.service_name).await.unwrap();
    let running: Vec<&TaskInfo> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .collect();
    for t in &running {
        assert_eq!(t.desired_state, TaskState::Running);
        assert_eq!(t.image.as_deref(), Some("shipctl-test-app:1.0.0"));
        assert!(t.node_id.is_some());
        assert!(t.created_at.is_some() && t.updated_at.is_some());
        // On `{project}_default`, without the prefix length.
        assert_eq!(t.addresses.len(), 1, "{t:?}");
        assert!(!t.addresses[0].contains('/'), "{t:?}");
        assert_eq!(http_get(host_port(t), "/version").await.unwrap(), "1.0.0");
    }

    // New version: the index moves and the tasks are replaced.
    let green_v2 = zone(&project, "blue", "2.0.0", 2);
    cluster.apply_zone(&green_v2).await.unwrap();
    let second = wait_healthy(&cluster, &project, "blue", 2, "2.0.0").await;
    assert!(
        second.spec_index > first.spec_index,
        "{first:?} -> {second:?}"
    );
    assert_eq!(second.version.as_deref(), Some("2.0.0"));
    let tasks = cluster.tasks(&blue.service_name).await.unwrap();
    let new_task = tasks
        .iter()
        .find(|t| t.state == TaskState::Running)
        .expect("a running task");
    assert_eq!(new_task.version.as_deref(), Some("2.0.0"));
    assert_eq!(
        http_get(host_port(new_task), "/version").await.unwrap(),
        "2.0.0"
    );

    // Applying the same target again changes nothing that would restart tasks.
    let ids: Vec<String> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .map(|t| t.id.clone())
        .collect();
    cluster.apply_zone(&green_v2).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: Vec<String> = cluster
        .tasks(&blue.service_name)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
        .map(|t| t.id)
        .collect();
    assert_eq!(
        sorted(ids),
        sorted(after),
        "a re-apply must not replace tasks"
    );

    // Scale to 0 and back.
    cluster.scale(&blue.service_name, 0).await.unwrap();
    wait_until("zone scaled to 0", DEADLINE, || async {
        let state = observe(&cluster, &project).await["blue"].clone();
        let tasks = cluster
            .tasks(&blue.service_name)
            .await
            .map_err(|e| e.to_string())?;
        let live = tasks
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        if state.desired == 0 && state.running == 0 && live == 0 {
            Ok(())
        } else {
            Err(format!("{state:?}"))
        }
    })
    .await;
    cluster.scale(&blue.service_name, 2).await.unwrap();
    let third = wait_healthy(&cluster, &project, "blue", 2, "2.0.0").await;
    assert_eq!(third.desired, 2);
    assert_eq!(third.version.as_deref(), Some("2.0.0"));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn concurrent_updates_are_retried() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let target = zone(&cleanup.project, "green", "1.1.0", 0);
    cleanup.service(&target.service_name);
    cluster.apply_zone(&target).await.unwrap();

    // Both read the same index; one of them must retry after "update out of sequence".
    let name = target.service_name.as_str();
    let (a, b, c) = tokio::join!(
        cluster.scale(name, 1),
        cluster.scale(name, 2),
        cluster.apply_zone(&target)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let state = observe(&cluster, &cleanup.project).await["green"].clone();
    assert!(state.desired <= 2, "{state:?}");

    assert!(matches!(
        cluster.scale(&format!("{}-nope", name), 1).await,
        Err(ClusterError::NotFound(_))
    ));
}

#[tokio::test]
async fn missing_image_is_reported_on_the_tasks() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let tag = format!("missing-{}", unique_name());
    let target = zone(&cleanup.project, "blue", &tag, 1);
    cleanup.service(&target.service_name);
    cluster.apply_zone(&target).await.unwrap();

    let image = test_image(&tag);
    let task = wait_until("a task that names the missing image", DEADLINE, || async {
        let tasks = cluster
            .tasks(&target.service_name)
            .await
            .map_err(|e| e.to_string())?;
        tasks
            .iter()
            .find(|t| t.error.as_deref().is_some_and(|e| e.contains(&image)))
            .cloned()
            .ok_or_else(|| format!("{:?}", summary(&tasks)))
    })
    .await;
    assert!(
        matches!(task.state, TaskState::Rejected | TaskState::Failed),
        "{task:?}"
    );
    assert!(
        task.error
            .as_deref()
            .unwrap_or("")
            .contains("No such image"),
        "{task:?}"
    );
    let state = observe(&cluster, &cleanup.project).await["blue"].clone();
    assert_eq!(state.running, 0);
}

#[tokio::test]
async fn failing_healthcheck_is_reported_on_the_tasks() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let target = zone(&cleanup.project, "green", "unhealthy", 1);
    cleanup.service(&target.service_name);
    cluster.apply_zone(&target).await.unwrap();

    let task = wait_until("a task failed by its healthcheck", DEADLINE, || async {
        let tasks = cluster
            .tasks(&target.service_name)
            .await
            .map_err(|e| e.to_string())?;
        // Swarm holds it in `starting` while the healthcheck fails: never `running`.
        assert!(
            tasks.iter().all(|t| t.state != TaskState::Running),
            "{tasks:?}"
        );
        tasks
            .iter()
            .find(|t| t.error.as_deref().is_some_and(|e| e.contains("unhealthy")))
            .cloned()
            .ok_or_else(|| format!("{:?}", summary(&tasks)))
    })
    .await;
    assert_eq!(task.state, TaskState::Failed, "{task:?}");
    assert_eq!(task.exit_code, Some(143), "{task:?}");
    let state = observe(&cluster, &cleanup.project).await["green"].clone();
    assert_eq!((state.running, state.healthy), (0, 0));
}

#[tokio::test]
async fn network_creation_is_idempotent() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let name = cleanup.network(format!("{}_front", cleanup.project));
    let network = Network::default();
    // Concurrent creates (two deploys at once) and a repeat all succeed.
    let (a, b) = tokio::join!(
        cluster.ensure_network(&name, &network),
        cluster.ensure_network(&name, &network)
    );
    a.unwrap();
    b.unwrap();
    cluster.ensure_network(&name, &network).await.unwrap();

    // Swarm's allocator fills in the driver shortly after the create.
    let found = wait_until("the network allocated", Duration::from_secs(30), || async {
        let found = cluster
            .docker()
            .inspect_network(
                &name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(|e| e.to_string())?;
        if found.driver.as_deref() == Some("overlay") {
            Ok(found)
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
    assert_eq!(found.attachable, Some(true), "{found:?}");
    assert_eq!(found.scope.as_deref(), Some("swarm"), "{found:?}");
    assert_eq!(
        found
            .labels
            .unwrap_or_default()
            .get("com.docker.stack.namespace")
            .map(String::as_str),
        Some(cleanup.project.as_str())
    );

    let external = Network {
        external: true,
        ..Default::default()
    };
    let err = cluster
        .ensure_network(&format!("{}_absent", cleanup.project), &external)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("external"), "{err}");
}

#[tokio::test]
async fn missing_secret_is_a_clear_error() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let mut target = zone(&cleanup.project, "blue", "1.0.0", 1);
    cleanup.service(&target.service_name);
    target
        .definition
        .secrets
        .push(shipctl::compose::model::FileReference {
            source: "token".into(),
            target: None,
            uid: None,
            gid: None,
            mode: None,
        });
    target.secrets.insert(
        "token".into(),
        shipctl::compose::model::SecretOrConfig::default(),
    );
    let err = cluster.apply_zone(&target).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}_token", cleanup.project)),
        "{text}"
    );
    assert!(text.contains("docker secret create"), "{text}");
}

#[tokio::test]
async fn unreachable_engine_is_a_clear_error() {
    for host in ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"] {
        let err = connect(Some(host)).await.unwrap_err();
        let ClusterError::Unavailable { message, help } = &err else {
            panic!("{host}: expected Unavailable, got {err:?}");
        };
        let shown = host
            .trim_start_matches("unix://")
            .trim_start_matches("tcp://");
        assert!(message.contains(shown), "{host}: {message}");
        assert!(help.contains("DOCKER_HOST"), "{host}: {help}");
    }
}

/// An engine that answers every request with this `/info` body.
async fn fake_engine(info: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = info.to_string();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = Vec::new();
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("tcp://{addr}")
}

#[tokio::test]
async fn engine_outside_a_swarm_or_worker_is_a_clear_error() {
    let host = fake_engine(serde_json::json!({"Swarm": {"LocalNodeState": "inactive"}})).await;
    let err = connect(Some(&host)).await.unwrap_err();
    let ClusterError::Unavailable { message, help } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("not part of a Swarm"), "{message}");
    assert!(
        message.contains(host.trim_start_matches("tcp://")),
        "{message}"
    );
    assert!(help.contains("docker swarm init"), "{help}");

    let host = fake_engine(serde_json::json!({
        "Swarm": {"LocalNodeState": "active", "ControlAvailable": false}
    }))
    .await;
    let err = connect(Some(&host)).await.unwrap_err();
    let ClusterError::Unavailable { message, help } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("worker, not a manager"), "{message}");
    assert!(help.contains("manager"), "{help}");
}

#[tokio::test]
async fn secrets_configs_networks_and_labels_reach_the_service() {
    use base64::Engine;
    use bollard::models::{ConfigSpec, SecretSpec};
    use shipctl::compose::model::{FileReference, SecretOrConfig, ServiceNetwork};

    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let project = cleanup.project.clone();
    let docker = cluster.docker();
    let labels = std::collections::HashMap::from([(
        "com.docker.stack.namespace".to_string(),
        project.clone(),
    )]);
    let data = |text: &str| Some(base64::engine::general_purpose::STANDARD.encode(text));
    let secret_id = docker
        .create_secret(SecretSpec {
            name: Some(format!("{project}_token")),
            labels: Some(labels.clone()),
            data: data("s3cret"),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    // An external config with its own name.
    let config_name = format!("{project}-settings");
    docker
        .create_config(ConfigSpec {
            name: Some(config_name.clone()),
            labels: Some(labels),
            data: data("debug = true"),
            ..Default::default()
        })
        .await
        .unwrap();

    let mut target = zone(&project, "blue", "1.0.0", 1);
    cleanup.service(&target.service_name);
    let reference = |source: &str| FileReference {
        source: source.into(),
        target: None,
        uid: None,
        gid: None,
        mode: None,
    };
    target.definition.secrets.push(reference("token"));
    target.definition.configs.push(reference("settings"));
    target
        .secrets
        .insert("token".into(), SecretOrConfig::default());
    target.configs.insert(
        "settings".into(),
        SecretOrConfig {
            name: Some(config_name.clone()),
            external: true,
            ..Default::default()
        },
    );
    target.definition.networks.insert(
        "front".into(),
        ServiceNetwork {
            aliases: vec!["api".into()],
        },
    );
    target.networks.insert("front".into(), Network::default());
    target
        .definition
        .labels
        .insert("team".into(), "core".into());
    target
        .definition
        .deploy
        .labels
        .insert("router.enable".into(), "true".into());

    cluster.apply_zone(&target).await.unwrap();
    wait_healthy(&cluster, &project, "blue", 1, "1.0.0").await;

    let service = docker
        .inspect_service(
            &target.service_name,
            None::<bollard::query_parameters::InspectServiceOptions>,
        )
        .await
        .unwrap();
    let spec = service.spec.unwrap();
    let service_labels = spec.labels.unwrap();
    assert_eq!(service_labels["router.enable"], "true");
    assert_eq!(service_labels["com.docker.stack.namespace"], project);
    assert_eq!(service_labels["io.shipctl.zone"], "blue");
    let task = spec.task_template.unwrap();
    let container = task.container_spec.unwrap();
    let container_labels = container.labels.unwrap();
    assert_eq!(container_labels["team"], "core");
    assert_eq!(container_labels["io.shipctl.version"], "1.0.0");
    let secret = &container.secrets.unwrap()[0];
    assert_eq!(secret.secret_id.as_deref(), Some(secret_id.as_str()));
    let config = &container.configs.unwrap()[0];
    assert_eq!(config.config_name.as_deref(), Some(config_name.as_str()));
    let networks = task.networks.unwrap();
    assert_eq!(networks.len(), 1);
    assert_eq!(
        networks[0].aliases.as_deref(),
        Some(&["web".to_string(), "web-blue".to_string(), "api".to_string()][..])
    );
    let front = docker
        .inspect_network(
            &format!("{project}_front"),
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    assert_eq!(networks[0].target, front.id);

    // The running task has one address, on that network.
    let tasks = cluster.tasks(&target.service_name).await.unwrap();
    let running = tasks
        .iter()
        .find(|t| t.state == TaskState::Running)
        .unwrap();
    assert_eq!(running.addresses.len(), 1, "{running:?}");
}

/// Runs a command, panicking with its output when it fails.
fn run(program: &str, args: &[&str], dir: &std::path::Path) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`), a server certificate for localhost and a client certificate (`cert.pem`,
/// `key.pem`): the layout of DOCKER_CERT_PATH.
fn make_certificates(dir: &std::path::Path) {
    let days = ["-days", "2"];
    run(
        "openssl",
        &[
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=shipctl-test-ca",
            ][..],
            &days,
        ]
        .concat(),
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, subject, ext, key) in [
        (
            "server-cert.pem",
            "/CN=localhost",
            "server.ext",
            "server-key.pem",
        ),
        ("cert.pem", "/CN=client", "client.ext", "key.pem"),
    ] {
        run(
            "openssl",
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", "req.csr", "-subj",
                subject,
            ],
            dir,
        );
        run(
            "openssl",
            &[
                &[
                    "x509",
                    "-req",
                    "-in",
                    "req.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca-key.pem",
                    "-CAcreateserial",
                    "-out",
                    name,
                    "-extfile",
                    ext,
                ][..],
                &days,
            ]
            .concat(),
            dir,
        );
    }
}

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn tls_engine_is_reached_with_client_certificates() {
    use shipctl::swarm::{Endpoint, connect_endpoint};

    let Some(cluster) = require_docker().await else {
        return;
    };
    // The TLS engine is the local one behind socat, which needs its socket.
    let Some(socket) = cluster.host().strip_prefix("unix://").map(str::to_string) else {
        // CI runs the engine on a local socket (scripts/prepare): anything else there is a
        // broken set-up, not a reason to skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must reach the engine on a local socket for the TLS test, not {}",
            cluster.host()
        );
        eprintln!("skipping the TLS test: the engine is not a local socket");
        return;
    };
    if !(have("socat") && have("openssl")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs socat and openssl (scripts/test installs them)"
        );
        eprintln!("skipping: socat or openssl missing");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = certs.path();
    // rustls resumes sessions on its next connection; OpenSSL in socat (client certificates
    // required, no session id context) answers that with a fatal alert. No tickets: no resumption.
    std::fs::write(
        dir.join("openssl.cnf"),
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n\
         [tls]\nNumTickets = 0\nOptions = -SessionTicket\n",
    )
    .unwrap();
    let _socat = tokio::process::Command::new("socat")
        .env("OPENSSL_CONF", dir.join("openssl.cnf"))
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            dir.join("server-cert.pem").display(),
            dir.join("server-key.pem").display(),
            dir.join("ca.pem").display()
        ))
        .arg(format!("UNIX-CONNECT:{socket}"))
        // Its handshake errors (the readiness probe, the wrong-CA attempt) are expected.
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until("socat listening", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let host = format!("tcp://localhost:{port}");
    let endpoint = Endpoint::Tls {
        addr: format!("localhost:{port}"),
        cert_dir: dir.to_path_buf(),
    };
    let tls = connect_endpoint(&host, &endpoint).await.unwrap();

    // Services, and tasks with their addresses (the raw path) through TLS.
    let cleanup = Cleanup::new(&cluster);
    let target = zone(&cleanup.project, "blue", "1.0.0", 1);
    cleanup.service(&target.service_name);
    tls.apply_zone(&target).await.unwrap();
    wait_healthy(&tls, &cleanup.project, "blue", 1, "1.0.0").await;
    let tasks = tls.tasks(&target.service_name).await.unwrap();
    let running = tasks
        .iter()
        .find(|t| t.state == TaskState::Running)
        .unwrap();
    assert_eq!(running.addresses.len(), 1, "{running:?}");

    // A server certificate from another CA is refused, clearly.
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path());
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(dir.join(file), other.path().join(file)).unwrap();
    }
    let err = connect_endpoint(
        &host,
        &Endpoint::Tls {
            addr: format!("localhost:{port}"),
            cert_dir: other.path().to_path_buf(),
        },
    )
    .await
    .unwrap_err();
    let ClusterError::Unavailable { message, .. } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains(&host), "{message}");
}

#[tokio::test]
async fn observe_matches_service_names_exactly() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let project = cleanup.project.clone();
    let blue = zone(&project, "blue", "1.0.0", 0);
    // Swarm's name filter would also match this one (a prefix).
    let mut longer = zone(&project, "blue", "2.0.0", 1);
    longer.service_name = format!("{}-canary", blue.service_name);
    cleanup.service(&blue.service_name);
    cleanup.service(&longer.service_name);
    cluster.apply_zone(&blue).await.unwrap();
    cluster.apply_zone(&longer).await.unwrap();

    let observed = cluster
        .observe_zones(&project, "web", &zones(&project))
        .await
        .unwrap();
    assert_eq!(observed.len(), 1, "{observed:?}");
    let state = &observed["blue"];
    assert_eq!(state.service_name, blue.service_name);
    assert_eq!(state.desired, 0);
    assert_eq!(state.version.as_deref(), Some("1.0.0"));
}

/// Everything the translation sets is accepted by the engine, and the healthcheck override is
/// what Swarm waits for.
#[tokio::test]
async fn a_fully_specified_service_runs() {
    use shipctl::compose::model::{
        Healthcheck, Mount, MountKind, ResourceAmounts, RestartPolicy, UpdateConfig,
    };

    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let mut target = zone(&cleanup.project, "green", "3.0.0", 2);
    cleanup.service(&target.service_name);
    let def = &mut target.definition;
    def.healthcheck = Some(Healthcheck {
        test: vec![
            "CMD-SHELL".into(),
            "wget -q -O- http://127.0.0.1:8080/version | grep -q 3.0.0".into(),
        ],
        interval: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(3),
        start_period: Some(Duration::from_secs(1)),
        start_interval: None,
    });
    def.environment
        .insert("START_DELAY".into(), Some("0.2".into()));
    def.hostname = Some("{{.Service.Name}}-{{.Task.Slot}}".into());
    def.volumes.push(Mount {
        kind: MountKind::Tmpfs,
        source: None,
        target: "/scratch".into(),
        read_only: false,
    });
    def.extra_hosts.push("db:10.9.9.9".into());
    def.init = Some(false);
    def.deploy.resources.limits = Some(ResourceAmounts {
        nano_cpus: Some(250_000_000),
        memory_bytes: Some(64 << 20),
        pids: None,
    });
    def.deploy.resources.reservations = Some(ResourceAmounts {
        nano_cpus: Some(10_000_000),
        memory_bytes: Some(8 << 20),
        pids: None,
    });
    def.deploy
        .placement
        .constraints
        .push("node.role == manager".into());
    def.deploy
        .placement
        .preferences
        .push("node.labels.zone".into());
    def.deploy.placement.max_replicas_per_node = Some(4);
    def.deploy.restart_policy = Some(RestartPolicy {
        condition: "on-failure".into(),
        delay: Some(Duration::from_secs(1)),
        max_attempts: Some(5),
        window: Some(Duration::from_secs(30)),
    });
    def.deploy.update_config = Some(UpdateConfig {
        parallelism: Some(2),
        delay: Some(Duration::from_millis(100)),
        failure_action: Some("rollback".into()),
        monitor: Some(Duration::from_secs(2)),
        max_failure_ratio: Some(0.5),
        order: Some("start-first".into()),
    });
    def.deploy.rollback_config = Some(UpdateConfig {
        parallelism: Some(0),
        delay: None,
        failure_action: Some("pause".into()),
        monitor: None,
        max_failure_ratio: None,
        order: Some("stop-first".into()),
    });

    cluster.apply_zone(&target).await.unwrap();
    wait_healthy(&cluster, &cleanup.project, "green", 2, "3.0.0").await;
    let tasks = cluster.tasks(&target.service_name).await.unwrap();
    let running = tasks
        .iter()
        .find(|t| t.state == TaskState::Running)
        .unwrap();
    assert_eq!(
        http_get(host_port(running), "/version").await.unwrap(),
        "3.0.0"
    );
    let root = http_get(host_port(running), "/").await.unwrap();
    assert!(
        root.contains(&format!("host={}-", target.service_name)),
        "hostname template applied: {root}"
    );
}

#[tokio::test]
async fn global_zone_reports_swarm_desired_count() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let mut target = zone(&cleanup.project, "blue", "1.1.0", 0);
    target.definition.deploy.mode = Some("global".into());
    cleanup.service(&target.service_name);
    cluster.apply_zone(&target).await.unwrap();

    // One task per node: Swarm's own count, whatever `replicas` says.
    let nodes = cluster
        .docker()
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .unwrap()
        .iter()
        .filter(|n| {
            n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
        })
        .count() as u64;
    let state = wait_healthy(&cluster, &cleanup.project, "blue", nodes, "1.1.0").await;
    assert_eq!(state.desired, nodes);

    let err = cluster.scale(&target.service_name, 3).await.unwrap_err();
    assert!(err.to_string().contains("global"), "{err}");
}

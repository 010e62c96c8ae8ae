//! Reaching the Docker engine: `-H/--host`, else `DOCKER_HOST`, else the docker CLI context
//! (`DOCKER_CONTEXT` or the current one), else the local socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use super::SwarmCluster;
use super::failure::{chain, unreachable};
use super::raw::Raw;
use crate::ports::{ClusterError, EngineClock};

/// The engine's socket when neither `-H` nor `DOCKER_HOST` is given.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Seconds bollard waits for one request (a service create may resolve an image first).
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long the first contact may take before the engine counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// How to reach an engine, parsed from a Docker host string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
    /// `host:port` with TLS client certificates from this directory.
    Tls {
        addr: String,
        cert_dir: PathBuf,
    },
    /// The full `ssh://[user@]host[:port]` address.
    Ssh(String),
}

impl Endpoint {
    /// Parses a host as the docker CLI does. `tcp://` switches to TLS when `DOCKER_TLS_VERIFY` is
    /// set to a non-empty value; certificates come from `DOCKER_CERT_PATH`, else `~/.docker`.
    pub fn parse(
        host: &str,
        tls_verify: Option<&str>,
        cert_path: Option<&str>,
        home: Option<&str>,
    ) -> Result<Endpoint, ClusterError> {
        let cert_dir = || match cert_path.filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(home.unwrap_or("/root")).join(".docker"),
        };
        let tls = tls_verify.is_some_and(|v| !v.is_empty());
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let addr = with_default_port(addr.trim_end_matches('/'), tls);
            return Ok(if tls {
                Endpoint::Tls {
                    addr,
                    cert_dir: cert_dir(),
                }
            } else {
                Endpoint::Tcp(addr)
            });
        }
        if let Some(addr) = host.strip_prefix("https://") {
            return Ok(Endpoint::Tls {
                addr: with_default_port(addr.trim_end_matches('/'), true),
                cert_dir: cert_dir(),
            });
        }
        if host.starts_with("ssh://") {
            return Ok(Endpoint::Ssh(host.to_string()));
        }
        Err(ClusterError::Unavailable {
            message: format!("cannot use Docker host `{host}`: unsupported address"),
            help: "use unix:///path/to/docker.sock, tcp://HOST:PORT (TLS with DOCKER_TLS_VERIFY=1 \
                   and DOCKER_CERT_PATH) or ssh://USER@HOST"
                .into(),
        })
    }
}

/// The docker CLI's default ports: 2375 plain, 2376 with TLS.
fn with_default_port(addr: &str, tls: bool) -> String {
    let has_port = match addr.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((_, port)) => !port.contains(']') && port.chars().all(|c| c.is_ascii_digit()),
        None => false,
    };
    if has_port {
        addr.to_string()
    } else if tls {
        format!("{addr}:2376")
    } else {
        format!("{addr}:2375")
    }
}

/// Connects to the engine at `host` (else `DOCKER_HOST`, else the docker CLI context, else the
/// local socket) and checks that it is a Swarm manager.
pub async fn connect(host: Option<&str>) -> Result<SwarmCluster, ClusterError> {
    // bollard's TLS needs a process-wide rustls provider; an error only means one is installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let home = var("HOME");
    let env_host = var("DOCKER_HOST");
    let (host, context_tls) = match host.map(str::to_string).or(env_host) {
        Some(h) => (h, None),
        // Like the docker CLI, a context applies only without -H and DOCKER_HOST.
        None => {
            let config_dir = var("DOCKER_CONFIG").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(home.as_deref().unwrap_or("/root")).join(".docker")
            });
            match context_host(&config_dir, var("DOCKER_CONTEXT").as_deref())? {
                Some((h, tls)) => (h, tls),
                None => (DEFAULT_HOST.to_string(), None),
            }
        }
    };
    let endpoint = match (context_tls, host.strip_prefix("tcp://")) {
        // A context carries its own TLS files.
        (Some(cert_dir), Some(addr)) => Endpoint::Tls {
            addr: with_default_port(addr.trim_end_matches('/'), true),
            cert_dir,
        },
        _ => Endpoint::parse(
            &host,
            var("DOCKER_TLS_VERIFY").as_deref(),
            var("DOCKER_CERT_PATH").as_deref(),
            home.as_deref(),
        )?,
    };

    connect_endpoint(&host, &endpoint).await
}

/// The engine address of the docker CLI context `name` (else the config's `currentContext`),
/// and its TLS directory if it has one; `None` for the `default` context or no context at all.
///
/// Contexts live in `{config}/contexts/meta/<digest>/meta.json`; the TLS files of the same
/// context in `{config}/contexts/tls/<digest>/docker/`. Matching on the `Name` inside the meta
/// files avoids computing the digest.
pub fn context_host(
    config_dir: &Path,
    name: Option<&str>,
) -> Result<Option<(String, Option<PathBuf>)>, ClusterError> {
    let current = || -> Option<String> {
        let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_str(&text).ok()?;
        config
            .get("currentContext")?
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    };
    let Some(name) = name.map(str::to_string).or_else(current) else {
        return Ok(None);
    };
    if name == "default" {
        return Ok(None);
    }
    let meta_root = config_dir.join("contexts").join("meta");
    let entries = std::fs::read_dir(&meta_root)
        .into_iter()
        .flatten()
        .flatten();
    for entry in entries {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if meta.get("Name").and_then(|n| n.as_str()) != Some(name.as_str()) {
            continue;
        }
        let Some(host) = meta
            .pointer("/Endpoints/docker/Host")
            .and_then(|h| h.as_str())
        else {
            break;
        };
        let tls = config_dir
            .join("contexts")
            .join("tls")
            .join(entry.file_name())
            .join("docker");
        let tls = tls.join("ca.pem").is_file().then_some(tls);
        return Ok(Some((host.to_string(), tls)));
    }
    Err(ClusterError::Unavailable {
        message: format!("docker context `{name}` was not found (or has no Docker endpoint)"),
        help: format!(
            "`docker context ls` lists the contexts; pass -H/--host or set DOCKER_HOST instead              (contexts are read from {})",
            meta_root.display()
        ),
    })
}

/// Connects to an already parsed endpoint (`host` is how messages name it), without reading the
/// environment.
pub async fn connect_endpoint(
    host: &str,
    endpoint: &Endpoint,
) -> Result<SwarmCluster, ClusterError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (docker, raw) = clients(host, endpoint)?;
    let mut cluster = SwarmCluster::new(docker, raw, host.to_string());
    cluster.clock = check_manager(&cluster).await?;
    Ok(cluster)
}

fn clients(host: &str, endpoint: &Endpoint) -> Result<(Docker, Raw), ClusterError> {
    let version = API_DEFAULT_VERSION;
    match endpoint {
        Endpoint::Unix(path) => {
            if !path.exists() {
                return Err(unreachable(
                    host,
                    format!("no socket at {}", path.display()),
                ));
            }
            let docker = Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version)
                .map_err(|e| unreachable(host, chain(&e)))?;
            Ok((docker, Raw::unix(path)?))
        }
        Endpoint::Tcp(addr) => {
            let docker = Docker::connect_with_http(addr, REQUEST_TIMEOUT_SECS, version)
                .map_err(|e| unreachable(host, chain(&e)))?;
            Ok((docker, Raw::http(&format!("http://{addr}"))?))
        }
        Endpoint::Tls { addr, cert_dir } => {
            let file = |name: &str| cert_dir.join(name);
            for name in ["ca.pem", "cert.pem", "key.pem"] {
                if !file(name).is_file() {
                    return Err(ClusterError::Unavailable {
                        message: format!(
                            "cannot connect to {host} with TLS: {} is missing",
                            file(name).display()
                        ),
                        help: "set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and \
                               key.pem (or unset DOCKER_TLS_VERIFY for a plain tcp:// engine)"
                            .into(),
                    });
                }
            }
            let docker = Docker::connect_with_ssl(
                addr,
                &file("key.pem"),
                &file("cert.pem"),
                &file("ca.pem"),
                REQUEST_TIMEOUT_SECS,
                version,
            )
            .map_err(|e| unreachable(host, chain(&e)))?;
            let raw = Raw::https(&format!("https://{addr}"), cert_dir)?;
            Ok((docker, raw))
        }
        Endpoint::Ssh(addr) => {
            let docker = Docker::connect_with_ssh(addr, REQUEST_TIMEOUT_SECS, version, None)
                .map_err(|e| unreachable(host, chain(&e)))?;
            Ok((docker, Raw::ssh(addr)))
        }
    }
}

/// Refuses an engine that is no Swarm manager; passes on the engine's clock that `/info` shows.
async fn check_manager(cluster: &SwarmCluster) -> Result<Option<EngineClock>, ClusterError> {
    let host = cluster.host();
    let timed_out = || {
        unreachable(
            host,
            format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
        )
    };
    // Raw JSON: only two fields matter, and a model mismatch in the rest of `/info` (engines
    // newer or older than bollard's) must not read as "unreachable".
    let info = tokio::time::timeout(PROBE_TIMEOUT, cluster.raw.get(host, "/info", None, "/info"))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| match e {
            ClusterError::Unavailable { .. } => e,
            // Something answers, but not as an engine does (a wrong port, a proxy).
            other => unreachable(
                host,
                format!("it does not answer like a Docker engine: {other}"),
            ),
        })?;
    let answered = std::time::Instant::now();
    let swarm = info.get("Swarm").cloned().unwrap_or_default();
    let state = swarm
        .get("LocalNodeState")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_string();
    let control_available = swarm.get("ControlAvailable").and_then(|c| c.as_bool());
    if state != "active" {
        let state = if state.is_empty() {
            "inactive"
        } else {
            state.as_str()
        };
        return Err(ClusterError::Unavailable {
            message: format!(
                "the Docker engine at {host} is not part of a Swarm (node state: {state})"
            ),
            help: "run `docker swarm init` on it to make it a single-node Swarm, or point \
                   -H/--host or DOCKER_HOST at a Swarm manager"
                .into(),
        });
    }
    if control_available != Some(true) {
        return Err(ClusterError::Unavailable {
            message: format!("the Docker engine at {host} is a Swarm worker, not a manager"),
            help:
                "point -H/--host or DOCKER_HOST at a manager node (`docker node ls` on a manager \
                   lists them), or promote this node with `docker node promote`"
                    .into(),
        });
    }
    Ok(info
        .get("SystemTime")
        .and_then(|t| t.as_str())
        .map(|system_time| EngineClock {
            system_time: system_time.to_string(),
            answered,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(host: &str, tls: Option<&str>) -> Endpoint {
        Endpoint::parse(host, tls, Some("/certs"), Some("/home/u")).unwrap()
    }

    #[test]
    fn parses_docker_hosts() {
        assert_eq!(
            parse("unix:///var/run/docker.sock", None),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            parse("tcp://10.0.0.1:2375", None),
            Endpoint::Tcp("10.0.0.1:2375".into())
        );
        assert_eq!(
            parse("tcp://manager", None),
            Endpoint::Tcp("manager:2375".into())
        );
        assert_eq!(
            parse("tcp://manager", Some("1")),
            Endpoint::Tls {
                addr: "manager:2376".into(),
                cert_dir: "/certs".into()
            }
        );
        // An empty DOCKER_TLS_VERIFY means off, as for the docker CLI.
        assert_eq!(parse("tcp://m:1", Some("")), Endpoint::Tcp("m:1".into()));
        assert_eq!(
            parse("ssh://deploy@manager", None),
            Endpoint::Ssh("ssh://deploy@manager".into())
        );
        assert_eq!(
            parse("tcp://[::1]", None),
            Endpoint::Tcp("[::1]:2375".into())
        );
    }

    #[test]
    fn tls_certs_default_to_home() {
        let e = Endpoint::parse("tcp://m:2376", Some("1"), None, Some("/home/u")).unwrap();
        assert_eq!(
            e,
            Endpoint::Tls {
                addr: "m:2376".into(),
                cert_dir: "/home/u/.docker".into()
            }
        );
    }

    #[tokio::test]
    async fn missing_tls_files_are_named() {
        let dir = std::env::temp_dir().join("shipctl-no-such-cert-dir");
        let endpoint = Endpoint::Tls {
            addr: "127.0.0.1:1".into(),
            cert_dir: dir.clone(),
        };
        let err = connect_endpoint("tcp://127.0.0.1:1", &endpoint)
            .await
            .unwrap_err();
        let ClusterError::Unavailable { message, help } = err else {
            panic!("expected Unavailable");
        };
        assert!(
            message.contains(&dir.join("ca.pem").display().to_string()),
            "{message}"
        );
        assert!(help.contains("DOCKER_CERT_PATH"), "{help}");
    }

    #[test]
    fn reads_docker_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path();
        let meta = config.join("contexts/meta/0a1b");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"prod","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://prod:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let tls = config.join("contexts/tls/0a1b/docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();

        // Named, or current in config.json.
        assert_eq!(
            context_host(config, Some("prod")).unwrap(),
            Some(("tcp://prod:2376".to_string(), Some(tls.clone())))
        );
        assert_eq!(context_host(config, None).unwrap(), None);
        std::fs::write(config.join("config.json"), r#"{"currentContext":"prod"}"#).unwrap();
        assert_eq!(
            context_host(config, None).unwrap().map(|(h, _)| h),
            Some("tcp://prod:2376".to_string())
        );
        assert_eq!(context_host(config, Some("default")).unwrap(), None);
        let err = context_host(config, Some("staging")).unwrap_err();
        assert!(err.to_string().contains("staging"), "{err}");
    }

    #[test]
    fn rejects_unknown_schemes() {
        let err = Endpoint::parse("npipe:////./pipe/docker", None, None, None).unwrap_err();
        assert!(matches!(err, ClusterError::Unavailable { .. }));
        assert!(err.to_string().contains("unsupported"));
    }
}

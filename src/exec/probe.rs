//! HTTP probes of a zone's tasks, behind a trait so tests need no network.

use std::sync::OnceLock;

use async_trait::async_trait;

use crate::ports::TaskInfo;
use crate::spec::model::HttpProbe;

/// Checks one task with an HTTP request. `Err` carries what was wrong, for the user.
#[async_trait]
pub trait Prober: Send + Sync {
    async fn probe(&self, task: &TaskInfo, probe: &HttpProbe) -> Result<(), String>;
}

/// The URLs a task can be reached at for `probe`: its network addresses, then
/// `127.0.0.1:{published}` when it publishes the port in host mode (a manager running on the
/// node, or a cluster whose overlay is not reachable from here).
pub fn probe_urls(task: &TaskInfo, probe: &HttpProbe) -> Vec<String> {
    let path = if probe.path.starts_with('/') {
        probe.path.clone()
    } else {
        format!("/{}", probe.path)
    };
    let mut urls: Vec<String> = task
        .addresses
        .iter()
        .map(|a| {
            // IPv6 literals need brackets in URLs.
            if a.contains(':') && !a.starts_with('[') {
                format!("http://[{a}]:{}{path}", probe.port)
            } else {
                format!("http://{a}:{}{path}", probe.port)
            }
        })
        .collect();
    urls.extend(
        task.host_ports
            .iter()
            .filter(|(target, _)| *target == probe.port)
            .map(|(_, published)| format!("http://127.0.0.1:{published}{path}")),
    );
    urls
}

/// The real prober (reqwest).
pub struct HttpProber {
    /// Built at the first probe: building a client reads the system's root certificates, a
    /// cost that every run without an HTTP probe would pay for nothing.
    client: OnceLock<reqwest::Client>,
}

impl HttpProber {
    pub fn new() -> HttpProber {
        HttpProber {
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            // Proxies from the environment must not intercept requests to task addresses.
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default()
        })
    }

    async fn check(&self, url: &str, probe: &HttpProbe) -> Result<(), String> {
        let response = self
            .client()
            .get(url)
            .timeout(probe.timeout)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        if status != probe.expect_status {
            return Err(format!(
                "GET {url} answered {status}, expected {}",
                probe.expect_status
            ));
        }
        if let Some(expected) = &probe.expect_body {
            let body = response
                .text()
                .await
                .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
            if !body.contains(expected.as_str()) {
                return Err(format!("GET {url}: body does not contain {expected:?}"));
            }
        }
        Ok(())
    }
}

impl Default for HttpProber {
    fn default() -> Self {
        HttpProber::new()
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, task: &TaskInfo, probe: &HttpProbe) -> Result<(), String> {
        let urls = probe_urls(task, probe);
        if urls.is_empty() {
            return Err(format!(
                "task {} has no address to probe (no network address, port {} not published in host mode)",
                task.id, probe.port
            ));
        }
        let mut errors = Vec::new();
        // Any address that answers correctly is enough: the others may just not be routable
        // from where shipctl runs.
        for url in &urls {
            match self.check(url, probe).await {
                Ok(()) => return Ok(()),
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::ports::TaskState;

    fn task(addresses: &[&str], host_ports: &[(u16, u16)]) -> TaskInfo {
        TaskInfo {
            id: "t1".into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some("1.4.2".into()),
            image: None,
            message: "started".into(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            host_ports: host_ports.to_vec(),
            updated_at: None,
            created_at: None,
        }
    }

    fn probe(port: u16) -> HttpProbe {
        HttpProbe {
            path: "up".into(),
            port,
            expect_status: 200,
            expect_body: Some("ok".into()),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }

    /// Answers every connection with `response`; returns the port.
    async fn serve(response: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        port
    }

    #[test]
    fn urls_cover_task_addresses_and_host_ports() {
        let t = task(&["10.0.1.5", "fd00::5"], &[(8080, 30080), (9090, 30090)]);
        assert_eq!(
            probe_urls(&t, &probe(8080)),
            vec![
                "http://10.0.1.5:8080/up",
                "http://[fd00::5]:8080/up",
                "http://127.0.0.1:30080/up",
            ]
        );
    }

    #[tokio::test]
    async fn a_matching_answer_passes() {
        let port =
            serve("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nall ok\n")
                .await;
        let r = HttpProber::new()
            .probe(&task(&["127.0.0.1"], &[]), &probe(port))
            .await;
        assert_eq!(r, Ok(()));
    }

    #[tokio::test]
    async fn the_host_port_is_tried_when_the_address_does_not_answer() {
        let port =
            serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").port()
        };
        let r = HttpProber::new()
            .probe(&task(&["127.0.0.1"], &[(closed, port)]), &probe(closed))
            .await;
        assert_eq!(r, Ok(()));
    }

    #[tokio::test]
    async fn a_wrong_status_or_body_fails_with_what_was_seen() {
        let port = serve(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let r = HttpProber::new()
            .probe(&task(&["127.0.0.1"], &[]), &probe(port))
            .await;
        let e = r.expect_err("503");
        assert!(e.contains("answered 503, expected 200"), "{e}");

        let port =
            serve("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nstarting")
                .await;
        let e = HttpProber::new()
            .probe(&task(&["127.0.0.1"], &[]), &probe(port))
            .await
            .expect_err("body");
        assert!(e.contains("body does not contain \"ok\""), "{e}");
    }

    #[tokio::test]
    async fn a_task_without_address_cannot_be_probed() {
        let e = HttpProber::new()
            .probe(&task(&[], &[]), &probe(8080))
            .await
            .expect_err("no address");
        assert!(e.contains("no address to probe"), "{e}");
    }
}

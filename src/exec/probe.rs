//! HTTP probes of a zone's tasks, behind a trait so tests need no network.

use async_trait::async_trait;

use super::TaskInfo;
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
    client: reqwest::Client,
}

impl HttpProber {
    pub fn new() -> HttpProber {
        HttpProber {
            // Proxies from the environment must not intercept requests to task addresses.
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
        }
    }

    async fn check(&self, url: &str, probe: &HttpProbe) -> Result<(), String> {
        let response = self
            .client
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

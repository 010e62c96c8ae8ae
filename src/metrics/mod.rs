//! Where the metrics of canary analysis come from: the routers' traffic counters
//! (`shipctl route --stats-listen`), a Prometheus server, a webhook. [`Readers`] is the
//! [`MetricReader`] the session gives the executor.

mod prometheus;
mod router;
mod webhook;

use std::sync::OnceLock;

use async_trait::async_trait;

use crate::ports::{AnalysisTarget, Kv, MetricReader, Reading};
use crate::spec::env_refs;
use crate::spec::model::{Metric, Provider};

/// Reads every kind of metric; the router provider finds the routers through the KV store.
///
/// Its HTTP clients are built at their first read: building one reads the system's root
/// certificates, which a run without canary analysis should not wait for.
pub struct Readers<'a> {
    kv: &'a dyn Kv,
    /// For Prometheus and webhooks: proxies from the environment apply, as for any HTTP tool.
    client: OnceLock<reqwest::Client>,
    /// For the routers' statistics, on the addresses they register: never through a proxy.
    direct: OnceLock<reqwest::Client>,
}

impl Readers<'_> {
    pub fn new(kv: &dyn Kv) -> Readers<'_> {
        Readers {
            kv,
            client: OnceLock::new(),
            direct: OnceLock::new(),
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client
            .get_or_init(|| reqwest::Client::builder().build().unwrap_or_default())
    }

    fn direct(&self) -> &reqwest::Client {
        self.direct.get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default()
        })
    }
}

#[async_trait]
impl MetricReader for Readers<'_> {
    async fn read(&self, metric: &Metric, target: &AnalysisTarget) -> Result<Reading, String> {
        match &metric.provider {
            Provider::Router { .. } => router::read(self.kv, self.direct(), target)
                .await
                .map(Reading::Counters),
            Provider::Prometheus { address, query, .. } => {
                let address = env_refs::expand_from_process(address)?;
                prometheus::query(self.client(), &address, &target.fill(query))
                    .await
                    .map(Reading::Value)
                    // The address as written: a token read from the environment stays out.
                    .map_err(|e| e.replace(&address, address_shown(&address)))
            }
            Provider::Http { url, timeout } => {
                let full = env_refs::expand_from_process(&target.fill(url))?;
                webhook::ask(self.client(), &full, *timeout, metric, target)
                    .await
                    .map_err(|e| e.replace(&full, &target.fill(url)))
            }
        }
    }
}

/// An address for messages: scheme and host only, when it carries more (a path may hold a
/// token).
fn address_shown(address: &str) -> &str {
    let after_scheme = address.find("://").map_or(0, |i| i + 3);
    match address[after_scheme..].find('/') {
        Some(slash) => &address[..after_scheme + slash],
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::address_shown;

    #[test]
    fn addresses_are_shown_without_their_path() {
        assert_eq!(address_shown("http://p:9090"), "http://p:9090");
        assert_eq!(address_shown("https://p:9090/secret/x"), "https://p:9090");
    }
}

//! Where the metrics of canary analysis come from: the routers' traffic counters
//! (`shipctl route --stats-listen`), a Prometheus server, a webhook. [`Readers`] is the
//! [`MetricReader`] the session gives the executor.

mod prometheus;
mod router;
mod webhook;

use async_trait::async_trait;

use crate::ports::{AnalysisTarget, Kv, MetricReader, Reading};
use crate::spec::model::{Metric, Provider};

/// Reads every kind of metric; the router provider finds the routers through the KV store.
pub struct Readers<'a> {
    kv: &'a dyn Kv,
    /// For Prometheus and webhooks: proxies from the environment apply, as for any HTTP tool.
    client: reqwest::Client,
    /// For the routers' statistics, on the addresses they register: never through a proxy.
    direct: reqwest::Client,
}

impl Readers<'_> {
    pub fn new(kv: &dyn Kv) -> Readers<'_> {
        Readers {
            kv,
            client: reqwest::Client::builder().build().unwrap_or_default(),
            direct: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
        }
    }
}

#[async_trait]
impl MetricReader for Readers<'_> {
    async fn read(&self, metric: &Metric, target: &AnalysisTarget) -> Result<Reading, String> {
        match &metric.provider {
            Provider::Router { .. } => router::read(self.kv, &self.direct, target)
                .await
                .map(Reading::Counters),
            Provider::Prometheus { address, query, .. } => {
                prometheus::query(&self.client, address, &target.fill(query))
                    .await
                    .map(Reading::Value)
            }
            Provider::Http { url, timeout } => {
                webhook::ask(&self.client, &target.fill(url), *timeout, metric, target).await
            }
        }
    }
}

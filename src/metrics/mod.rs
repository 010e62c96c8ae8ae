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
                let address = from_env(address)?;
                prometheus::query(&self.client, &address, &target.fill(query))
                    .await
                    .map(Reading::Value)
                    // The address as written: a token read from the environment stays out.
                    .map_err(|e| e.replace(&address, address_shown(&address)))
            }
            Provider::Http { url, timeout } => {
                let full = from_env(&target.fill(url))?;
                webhook::ask(&self.client, &full, *timeout, metric, target)
                    .await
                    .map_err(|e| e.replace(&full, &target.fill(url)))
            }
        }
    }
}

/// `text` with each `${NAME}` replaced by the environment variable NAME, read when the metric
/// is: a token in a webhook URL then never appears in a plan, saved or printed.
fn from_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`${{` without `}}` in `{text}`"));
        };
        let name = &after[..end];
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(_) => {
                return Err(format!(
                    "the environment variable {name} is not set: set it where shipctl runs"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
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
    use super::{address_shown, from_env};

    #[test]
    fn environment_variables_are_read_when_the_metric_is() {
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            from_env("a${PATH}b").as_deref(),
            Ok(format!("a{path}b").as_str())
        );
        assert!(
            from_env("x${SHIPCTL_SURELY_UNSET_VARIABLE}")
                .unwrap_err()
                .contains("SHIPCTL_SURELY_UNSET_VARIABLE is not set")
        );
        assert!(from_env("x${oops").is_err());
        assert_eq!(from_env("plain").as_deref(), Ok("plain"));
    }

    #[test]
    fn addresses_are_shown_without_their_path() {
        assert_eq!(address_shown("http://p:9090"), "http://p:9090");
        assert_eq!(address_shown("https://p:9090/secret/x"), "https://p:9090");
    }
}

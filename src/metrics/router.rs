//! The `router` provider: per-zone traffic as `shipctl route --stats-listen` counts it. Every
//! router registered for the service (with a stats URL) is read, and their counts are added.

use std::time::Duration;

use crate::ports::{AnalysisTarget, Kv, RouterReport, ZoneCounters, registrations_prefix};

/// How long one router may take to answer: a router that does not is left out of this
/// reading, not waited for.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// The target zone's counters, summed over the routers that answered.
pub(super) async fn read(
    kv: &dyn Kv,
    client: &reqwest::Client,
    target: &AnalysisTarget,
) -> Result<ZoneCounters, String> {
    let prefix = registrations_prefix(&target.router_key);
    let entries = kv
        .list(&prefix)
        .await
        .map_err(|e| format!("reading the routers' registrations: {e}"))?;
    let mut urls: Vec<String> = entries
        .iter()
        .filter_map(|e| serde_json::from_str::<RouterReport>(&e.value).ok())
        .filter_map(|r| r.stats_url)
        .collect();
    urls.sort();
    urls.dedup();
    if urls.is_empty() {
        return Err(format!(
            "no router reports traffic for {}: run `shipctl route` with `--stats-listen`",
            target.service
        ));
    }
    let mut total = ZoneCounters::default();
    let mut errors = Vec::new();
    for url in &urls {
        match scrape(client, url).await {
            Ok(text) => match crate::ports::zone_counters(
                &text,
                &target.service,
                &target.zone,
                &target.version,
            ) {
                Ok(c) => total.add(&c),
                Err(e) => errors.push(format!("{url}: {e}")),
            },
            Err(e) => errors.push(e),
        }
    }
    if total.routers == 0 {
        return Err(format!(
            "no router answered with statistics: {}",
            errors.join("; ")
        ));
    }
    Ok(total)
}

async fn scrape(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client
        .get(url)
        .timeout(SCRAPE_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    response.text().await.map_err(|e| format!("{url}: {e}"))
}

//! The contract between the analysis of a canary and where its metrics come from (the
//! routers' traffic counters, Prometheus, a webhook).

use async_trait::async_trait;

use super::router_stats::{histogram_quantile, parse_router_stats};
use crate::spec::model::Metric;

/// What a metric is read about: one zone of one service, running one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisTarget {
    pub project: String,
    pub service: String,
    pub zone: String,
    pub version: String,
    /// The service's router key: live routers register under it (with their stats URL).
    pub router_key: String,
    /// `bake` or `canary step 2`: what the analysis gates, for webhooks.
    pub phase: String,
    /// The analysis interval, as written in queries (`15s`).
    pub interval: String,
}

impl AnalysisTarget {
    /// `text` with `{service}`, `{zone}`, `{version}`, `{project}` and `{interval}` replaced.
    pub fn fill(&self, text: &str) -> String {
        text.replace("{service}", &self.service)
            .replace("{zone}", &self.zone)
            .replace("{version}", &self.version)
            .replace("{project}", &self.project)
            .replace("{interval}", &self.interval)
    }
}

/// One reading of a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A value to compare with the metric's condition.
    Value(f64),
    /// The zone's traffic counters since each router started, summed over the routers: the
    /// analysis judges the difference between two readings.
    Counters(ZoneCounters),
    /// A webhook's answer: `Some(true)` pass, `Some(false)` fail, `None` not decided yet.
    Verdict {
        pass: Option<bool>,
        reason: Option<String>,
    },
}

/// Requests one zone answered, as routers count them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneCounters {
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Cumulative latency buckets: (upper bound in seconds, requests at most that long), in
    /// increasing order, the last one `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// How many routers reported.
    pub routers: usize,
}

impl ZoneCounters {
    /// The traffic between `earlier` and `self`. A counter that went back means a router
    /// restarted: its counts start again from 0, so `self` alone is the window.
    pub fn since(&self, earlier: &ZoneCounters) -> ZoneCounters {
        let restarted = self.requests < earlier.requests
            || self.errors < earlier.errors
            || self.buckets.len() != earlier.buckets.len()
            || self
                .buckets
                .iter()
                .zip(&earlier.buckets)
                .any(|((a, n), (b, m))| a != b || n < m);
        if restarted {
            return self.clone();
        }
        ZoneCounters {
            requests: self.requests - earlier.requests,
            errors: self.errors - earlier.errors,
            buckets: self
                .buckets
                .iter()
                .zip(&earlier.buckets)
                .map(|((le, n), (_, m))| (*le, n - m))
                .collect(),
            routers: self.routers,
        }
    }

    /// The `q` quantile of the latency, in seconds ([`histogram_quantile`]).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        histogram_quantile(q, &self.buckets)
    }

    /// Adds another router's counts of the same zone.
    pub fn add(&mut self, other: &ZoneCounters) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
        } else if self.buckets.len() == other.buckets.len() {
            for ((_, n), (_, m)) in self.buckets.iter_mut().zip(&other.buckets) {
                *n += m;
            }
        }
        self.routers += other.routers;
    }
}

/// The counters of one (service, zone, version) in a router's statistics (the text of
/// `shipctl route --stats-listen`, read by [`parse_router_stats`]).
pub fn zone_counters(
    text: &str,
    service: &str,
    zone: &str,
    version: &str,
) -> Result<ZoneCounters, String> {
    let mut out = ZoneCounters {
        routers: 1,
        ..ZoneCounters::default()
    };
    for s in parse_router_stats(text)?
        .iter()
        .filter(|s| s.service == service && s.zone == zone && s.version == version)
    {
        out.add(&ZoneCounters {
            requests: s.requests,
            errors: s.classes[3],
            buckets: s.buckets.clone(),
            routers: 0,
        });
    }
    Ok(out)
}

/// Reads metrics. Errors are words for the user (`Prometheus at http://...: connection
/// refused`); the analysis counts them as inconclusive.
#[async_trait]
pub trait MetricReader: Send + Sync {
    async fn read(&self, metric: &Metric, target: &AnalysisTarget) -> Result<Reading, String>;
}

#[cfg(test)]
mod tests {
    use super::ZoneCounters;

    fn counters(requests: u64, errors: u64, buckets: &[(f64, u64)]) -> ZoneCounters {
        ZoneCounters {
            requests,
            errors,
            buckets: buckets.to_vec(),
            routers: 1,
        }
    }

    #[test]
    fn a_window_is_the_difference_unless_a_router_restarted() {
        let a = counters(100, 2, &[(0.1, 90), (1.0, 100), (f64::INFINITY, 100)]);
        let b = counters(300, 12, &[(0.1, 250), (1.0, 300), (f64::INFINITY, 300)]);
        let w = b.since(&a);
        assert_eq!((w.requests, w.errors), (200, 10));
        assert_eq!(w.buckets[0], (0.1, 160));
        let restarted = counters(50, 0, &[(0.1, 50), (1.0, 50), (f64::INFINITY, 50)]);
        assert_eq!(restarted.since(&b), restarted);
    }

    #[test]
    fn a_zone_is_read_from_the_routers_statistics() {
        let text = r#"# TYPE shipctl_router_requests_total counter
shipctl_router_requests_total{project="p",service="web",zone="green",version="2.0"} 200
shipctl_router_requests_total{project="p",service="web",zone="blue",version="1.0"} 900
shipctl_router_responses_total{project="p",service="web",zone="green",version="2.0",class="2xx"} 190
shipctl_router_responses_total{project="p",service="web",zone="green",version="2.0",class="5xx"} 10
shipctl_router_request_duration_seconds_bucket{project="p",service="web",zone="green",version="2.0",le="+Inf"} 200
shipctl_router_request_duration_seconds_bucket{project="p",service="web",zone="green",version="2.0",le="0.1"} 150
shipctl_router_request_duration_seconds_bucket{project="p",service="we\"b",zone="green",version="2.0",le="0.1"} 7
"#;
        let c = super::zone_counters(text, "web", "green", "2.0").unwrap();
        assert_eq!((c.requests, c.errors), (200, 10));
        assert_eq!(c.buckets, vec![(0.1, 150), (f64::INFINITY, 200)]);
        let other = super::zone_counters(text, "we\"b", "green", "2.0").unwrap();
        assert_eq!(other.buckets, vec![(0.1, 7)]);
        // A router that has not seen a request yet: nothing, not an error.
        let none = super::zone_counters("# nothing yet\n", "web", "green", "2.0").unwrap();
        assert_eq!((none.requests, none.routers), (0, 1));
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let w = counters(
            100,
            0,
            &[(0.1, 50), (0.5, 90), (1.0, 100), (f64::INFINITY, 100)],
        );
        assert_eq!(w.quantile(0.5), Some(0.1));
        // Rank 70 of 100 lies halfway through the 0.1-0.5 bucket (50 to 90).
        let p70 = w.quantile(0.7).unwrap();
        assert!((p70 - 0.3).abs() < 1e-9, "{p70}");
        let slow = counters(10, 0, &[(0.1, 0), (10.0, 5), (f64::INFINITY, 10)]);
        assert_eq!(slow.quantile(0.99), Some(10.0));
        assert_eq!(counters(0, 0, &[(f64::INFINITY, 0)]).quantile(0.5), None);
    }
}

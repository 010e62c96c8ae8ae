//! The contract between the analysis of a canary and where its metrics come from (the
//! routers' traffic counters, Prometheus, a webhook).

use async_trait::async_trait;

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

    /// The `q` quantile of the latency, in seconds, interpolated linearly inside its bucket as
    /// Prometheus' `histogram_quantile` does; the highest finite bound when it falls in `+Inf`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut lower = (0.0, 0u64);
        for &(le, count) in &self.buckets {
            if count as f64 >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                let in_bucket = (count - lower.1) as f64;
                if in_bucket == 0.0 {
                    return Some(le);
                }
                return Some(lower.0 + (le - lower.0) * (rank - lower.1 as f64) / in_bucket);
            }
            lower = (le, count);
        }
        Some(lower.0)
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

/// The counters of one (service, zone, version) in a router's statistics (Prometheus text
/// format, the `shipctl_router_*` families that `shipctl route --stats-listen` serves).
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
    let mut families = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        if !name.starts_with("shipctl_router_") {
            continue;
        }
        families += 1;
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if label("service") != Some(service)
            || label("zone") != Some(zone)
            || label("version") != Some(version)
        {
            continue;
        }
        match name {
            "shipctl_router_requests_total" => out.requests += value as u64,
            "shipctl_router_responses_total" if label("class") == Some("5xx") => {
                out.errors += value as u64;
            }
            "shipctl_router_request_duration_seconds_bucket" => {
                let le = match label("le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => le.parse().map_err(|_| format!("bad bucket bound `{le}`"))?,
                    None => continue,
                };
                out.buckets.push((le, value as u64));
            }
            _ => {}
        }
    }
    if families == 0 {
        return Err("no shipctl_router_* series in the answer".into());
    }
    out.buckets
        .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    Ok(out)
}

/// `name{k="v",...} value` -> its parts; `None` for a line that is not a sample.
fn sample(line: &str) -> Option<(&str, Vec<(String, String)>, f64)> {
    let (head, value) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], line[close + 1..].trim())
        }
        None => line.split_once(' ')?,
    };
    let value: f64 = value.split_whitespace().next()?.parse().ok()?;
    let Some(open) = head.find('{') else {
        return Some((head.trim(), Vec::new(), value));
    };
    let name = &head[..open];
    let mut labels = Vec::new();
    let mut rest = &head[open + 1..head.len() - 1];
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let mut val = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, other)) => val.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                c => val.push(c),
            }
        }
        labels.push((key, val));
        rest = &rest[end?..];
    }
    Some((name, labels, value))
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
        assert!(super::zone_counters("hello 1\n", "web", "green", "2.0").is_err());
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

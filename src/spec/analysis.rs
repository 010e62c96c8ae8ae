//! Canary analysis in the spec (`analysis:` and `bake:`): which metrics judge a new zone by
//! its traffic, how often, and how many bad answers it may give before the deploy goes back.
//!
//! ```yaml
//! analysis:
//!   interval: 15s          # one measurement of every metric per interval
//!   count: 4               # measurements a run needs to pass
//!   failure_limit: 0       # failed measurements allowed; one more fails the run
//!   inconclusive_limit: 1  # measurements without an answer allowed; one more fails the run
//!   metrics:
//!     - {name: errors, provider: router, query: error_rate, condition: "< 1%"}
//!     - {name: latency, provider: router, query: p99, condition: "<= 500ms"}
//!     - name: prom-errors
//!       provider: prometheus
//!       address: http://prometheus:9090
//!       query: sum(rate(http_errors_total{zone="{zone}"}[{interval}]))
//!       condition: "< 0.5"
//!     - {name: approval, provider: http, url: "https://ci.example/approve/{service}/{version}"}
//! bake: 2m
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::reader::SpecRead;
use crate::error::InputError;
use crate::yaml::{Node, Reader};

/// How a service's new zone is judged by its traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Time between two measurements of each metric.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub interval: Duration,
    /// Measurements of each metric a run needs before it passes.
    pub count: u32,
    /// Failed measurements of one metric a run tolerates; one more fails it.
    pub failure_limit: u32,
    /// Measurements of one metric without an answer (too little traffic, provider down) a
    /// run tolerates; one more fails it: a canary nobody can judge is not promoted.
    pub inconclusive_limit: u32,
    pub metrics: Vec<Metric>,
}

/// The interval, count and limits a canary step may set for its own run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOverrides {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::yaml::duration::serde_opt_duration"
    )]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<u32>,
}

impl Analysis {
    /// This analysis with a step's own settings over it.
    pub fn with(&self, o: &AnalysisOverrides) -> Analysis {
        Analysis {
            interval: o.interval.unwrap_or(self.interval),
            count: o.count.unwrap_or(self.count),
            failure_limit: o.failure_limit.unwrap_or(self.failure_limit),
            inconclusive_limit: o.inconclusive_limit.unwrap_or(self.inconclusive_limit),
            metrics: self.metrics.clone(),
        }
    }
}

/// One metric: where it is read and what it must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    #[serde(flatten)]
    pub provider: Provider,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Provider {
    /// Per-zone traffic as `shipctl route --stats-listen` counts it: no monitoring stack.
    Router {
        query: RouterQuery,
        condition: Condition,
        /// Fewer requests to the zone in one interval make the measurement inconclusive.
        min_requests: u64,
    },
    /// An instant query against a Prometheus server; `{service}`, `{zone}`, `{version}`,
    /// `{project}` and `{interval}` are replaced.
    Prometheus {
        address: String,
        query: String,
        condition: Condition,
    },
    /// A webhook that answers pass, fail or wait (manual approval, any other system).
    Http {
        url: String,
        #[serde(with = "crate::yaml::duration::serde_duration")]
        timeout: Duration,
    },
}

/// What the router provider measures over one interval; written as in the spec (`p99`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RouterQuery {
    /// Share of answers with a 5xx status (0 to 1).
    ErrorRate,
    /// Share of answers without a 5xx status (0 to 1).
    SuccessRate,
    /// A latency quantile in seconds (`p99` = 0.99).
    Latency { quantile: f64 },
    /// Requests the zone got in the interval.
    Requests,
    /// Requests per second.
    RequestRate,
}

impl RouterQuery {
    pub fn parse(text: &str) -> Option<RouterQuery> {
        Some(match text {
            "error_rate" => RouterQuery::ErrorRate,
            "success_rate" => RouterQuery::SuccessRate,
            "requests" => RouterQuery::Requests,
            "request_rate" => RouterQuery::RequestRate,
            _ => {
                let digits = text.strip_prefix('p')?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                // p99 = 0.99, p999 = 0.999, p50 = 0.5.
                let q: f64 = format!("0.{digits}").parse().ok()?;
                if q <= 0.0 || q >= 1.0 {
                    return None;
                }
                RouterQuery::Latency { quantile: q }
            }
        })
    }

    /// What a value of this query is: decides how a condition's threshold is read.
    pub fn unit(self) -> Unit {
        match self {
            RouterQuery::ErrorRate | RouterQuery::SuccessRate => Unit::Ratio,
            RouterQuery::Latency { .. } => Unit::Seconds,
            RouterQuery::Requests | RouterQuery::RequestRate => Unit::Number,
        }
    }

    /// True when too little traffic cannot make the answer meaningless (it is the answer).
    pub fn counts_traffic(self) -> bool {
        matches!(self, RouterQuery::Requests | RouterQuery::RequestRate)
    }
}

impl fmt::Display for RouterQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterQuery::ErrorRate => f.write_str("error_rate"),
            RouterQuery::SuccessRate => f.write_str("success_rate"),
            RouterQuery::Requests => f.write_str("requests"),
            RouterQuery::RequestRate => f.write_str("request_rate"),
            RouterQuery::Latency { quantile } => {
                // 0.5 is p50, not p5.
                let digits = format!("{quantile}");
                let digits = digits.trim_start_matches("0.");
                write!(f, "p{digits:0<2}")
            }
        }
    }
}

impl From<RouterQuery> for String {
    fn from(q: RouterQuery) -> String {
        q.to_string()
    }
}

impl TryFrom<String> for RouterQuery {
    type Error = String;
    fn try_from(text: String) -> Result<RouterQuery, String> {
        RouterQuery::parse(&text).ok_or_else(|| format!("unknown router query `{text}`"))
    }
}

/// How a measured value is written in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0 to 1, shown as a percentage.
    Ratio,
    Seconds,
    Number,
}

impl Unit {
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Ratio => format!("{}%", trim_float(value * 100.0, 2)),
            Unit::Seconds if value < 1.0 => format!("{}ms", trim_float(value * 1000.0, 1)),
            Unit::Seconds => format!("{}s", trim_float(value, 3)),
            Unit::Number => trim_float(value, 3),
        }
    }
}

/// `value` with at most `places` decimals and no trailing zeros.
fn trim_float(value: f64, places: usize) -> String {
    let text = format!("{value:.places$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `< 1%`, `<= 500ms`, `>= 0.99`: a comparison against a threshold, kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Condition {
    pub op: Comparison,
    /// In the metric's unit: a ratio for rates (1% = 0.01), seconds for latencies.
    pub threshold: f64,
    /// As the user wrote it, for messages.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Condition {
    /// Parses `OP VALUE` where VALUE is a number, a percentage (`1%` = 0.01) or a duration
    /// (`500ms` = 0.5, in seconds).
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        let (op, rest) = if let Some(r) = t.strip_prefix("<=") {
            (Comparison::LessOrEqual, r)
        } else if let Some(r) = t.strip_prefix(">=") {
            (Comparison::GreaterOrEqual, r)
        } else if let Some(r) = t.strip_prefix('<') {
            (Comparison::Less, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (Comparison::Greater, r)
        } else {
            return Err(format!(
                "condition `{t}` does not start with a comparison (`<`, `<=`, `>`, `>=`)"
            ));
        };
        let value = rest.trim();
        if value.is_empty() {
            return Err(format!("condition `{t}` has no value to compare with"));
        }
        let threshold = if let Some(p) = value.strip_suffix('%') {
            p.trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("`{value}` is not a percentage"))?
        } else if let Ok(n) = value.parse::<f64>() {
            n
        } else {
            crate::yaml::duration::parse(value)
                .map(|d| d.as_secs_f64())
                .map_err(|_| {
                    format!(
                        "`{value}` is not a number, a percentage (`1%`) or a duration (`500ms`)"
                    )
                })?
        };
        if !threshold.is_finite() {
            return Err(format!("`{value}` is not a finite number"));
        }
        Ok(Condition {
            op,
            threshold,
            text: t.to_string(),
        })
    }

    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Comparison::Less => value < self.threshold,
            Comparison::LessOrEqual => value <= self.threshold,
            Comparison::Greater => value > self.threshold,
            Comparison::GreaterOrEqual => value >= self.threshold,
        }
    }
}

impl From<Condition> for String {
    fn from(c: Condition) -> String {
        c.text
    }
}

impl TryFrom<String> for Condition {
    type Error = String;
    fn try_from(text: String) -> Result<Condition, String> {
        Condition::parse(&text)
    }
}

impl Default for Analysis {
    fn default() -> Analysis {
        Analysis {
            interval: DEFAULT_INTERVAL,
            count: 4,
            failure_limit: 0,
            inconclusive_limit: 1,
            metrics: Vec::new(),
        }
    }
}

/// One measurement every 15 s, four to pass: a minute of traffic judges a step.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Below this many requests in an interval, a rate or a latency says little.
pub const DEFAULT_MIN_REQUESTS: u64 = 10;
/// How long one call of an `http` metric may take.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

const ANALYSIS_KEYS: &[&str] = &[
    "interval",
    "count",
    "failure_limit",
    "inconclusive_limit",
    "metrics",
];
const OVERRIDE_KEYS: &[&str] = &["interval", "count", "failure_limit", "inconclusive_limit"];
const METRIC_KEYS: &[&str] = &[
    "name",
    "provider",
    "query",
    "condition",
    "min_requests",
    "address",
    "url",
    "timeout",
];

/// Reads `analysis:`; `None` when it is empty or broken (errors are in `r`).
pub(super) fn read_analysis(r: &mut Reader, node: &Node, path: &str) -> Option<Analysis> {
    let map = r.section(node, path)?;
    r.known_keys(map, ANALYSIS_KEYS, path);
    let o = read_numbers(r, node, path)?;
    let mut analysis = Analysis::default().with(&o);
    let Some(list) = map.get("metrics") else {
        r.error(
            InputError::new(format!("`{path}` has no `metrics`"), node.span.clone())
                .with_label("nothing to measure")
                .with_help(
                    "list what judges the new zone, e.g. `metrics: [{name: errors, provider: router, query: error_rate, condition: \"< 1%\"}]`",
                ),
        );
        return None;
    };
    let Some(items) = list.as_seq() else {
        r.error(
            InputError::new(
                format!("`{path}.metrics` must be a list, found {}", list.kind()),
                list.span.clone(),
            )
            .with_label("expected a list")
            .with_help("write each metric as a list item: `- {name: errors, provider: router, query: error_rate, condition: \"< 1%\"}`"),
        );
        return None;
    };
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match read_metric(r, item, &format!("{path}.metrics[{i}]")) {
            Some(m) => {
                if analysis.metrics.iter().any(|other| other.name == m.name) {
                    r.error(
                        InputError::new(
                            format!("two metrics of `{path}` are named `{}`", m.name),
                            item.span.clone(),
                        )
                        .with_label("name used before")
                        .with_help("give each metric its own name: messages and history use it"),
                    );
                    ok = false;
                }
                analysis.metrics.push(m);
            }
            None => ok = false,
        }
    }
    if analysis.metrics.is_empty() && ok {
        r.error(
            InputError::new(format!("`{path}.metrics` is empty"), list.span.clone())
                .with_label("nothing to measure")
                .with_help("list at least one metric, or remove `analysis`"),
        );
        return None;
    }
    ok.then_some(analysis)
}

/// Reads the numbers of `analysis:` or of a canary step's `analysis:` (no metrics there).
pub(super) fn read_overrides(r: &mut Reader, node: &Node, path: &str) -> Option<AnalysisOverrides> {
    if node.is_null() {
        return Some(AnalysisOverrides::default());
    }
    let map = r.section(node, path)?;
    r.known_keys(map, OVERRIDE_KEYS, path);
    read_numbers(r, node, path)
}

fn read_numbers(r: &mut Reader, node: &Node, path: &str) -> Option<AnalysisOverrides> {
    let map = r.section(node, path)?;
    let mut o = AnalysisOverrides::default();
    if let Some(n) = map.get("interval") {
        o.interval = r.positive_duration(n, &format!("{path}.interval"));
    }
    let mut number = |key: &str, min: u64, example: &str| {
        map.get(key).and_then(|n| {
            r.exact_uint(n, &format!("{path}.{key}"), min, example)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        })
    };
    o.count = number("count", 1, "count: 4");
    o.failure_limit = number("failure_limit", 0, "failure_limit: 0");
    o.inconclusive_limit = number("inconclusive_limit", 0, "inconclusive_limit: 1");
    Some(o)
}

fn read_metric(r: &mut Reader, node: &Node, path: &str) -> Option<Metric> {
    let help =
        "a metric is `{name: errors, provider: router, query: error_rate, condition: \"< 1%\"}`";
    let Some(map) = node.as_map() else {
        r.error(
            InputError::new(
                format!("`{path}` must be a mapping, found {}", node.kind()),
                node.span.clone(),
            )
            .with_label("expected a metric")
            .with_help(help),
        );
        return None;
    };
    r.known_keys(map, METRIC_KEYS, path);
    let required = |r: &mut Reader, key: &str, example: &str| -> Option<(String, &Node)> {
        let Some(n) = map.get(key) else {
            r.error(
                InputError::new(format!("`{path}` needs `{key}`"), node.span.clone())
                    .with_label(format!("no `{key}`"))
                    .with_help(format!("add `{example}`")),
            );
            return None;
        };
        r.exact_string(n, &format!("{path}.{key}"), example)
            .map(|s| (s, n))
    };
    let (name, _) = required(r, "name", "name: errors")?;
    let (provider, provider_node) = required(r, "provider", "provider: router")?;
    let only = |r: &mut Reader, keys: &[&str], provider: &str| {
        for key in [
            "query",
            "condition",
            "min_requests",
            "address",
            "url",
            "timeout",
        ] {
            if !keys.contains(&key)
                && let Some(n) = map.get(key)
            {
                r.error(
                    InputError::new(
                        format!("`{path}.{key}` does not apply to the `{provider}` provider"),
                        n.span.clone(),
                    )
                    .with_label("not used")
                    .with_help(format!(
                        "the `{provider}` provider takes: {}",
                        keys.join(", ")
                    )),
                );
            }
        }
    };
    let condition = |r: &mut Reader| -> Option<Condition> {
        let (text, n) = required(r, "condition", "condition: \"< 1%\"")?;
        match Condition::parse(&text) {
            Ok(c) => Some(c),
            Err(why) => {
                r.error(
                    InputError::new(why, n.span.clone())
                        .with_label("not a condition")
                        .with_help("write a comparison and a value: `< 1%`, `<= 500ms`, `>= 0.99`"),
                );
                None
            }
        }
    };
    let provider = match provider.as_str() {
        "router" => {
            only(r, &["query", "condition", "min_requests"], "router");
            let (q, qn) = required(r, "query", "query: error_rate")?;
            let Some(query) = RouterQuery::parse(&q) else {
                r.error(
                    InputError::new(format!("unknown router query `{q}`"), qn.span.clone())
                        .with_label("not a router query")
                        .with_help(
                            "use `error_rate`, `success_rate`, `requests`, `request_rate`, or a latency quantile such as `p50`, `p95`, `p99`",
                        ),
                );
                return None;
            };
            let condition = condition(r)?;
            if query.unit() == Unit::Ratio && !(0.0..=1.0).contains(&condition.threshold) {
                r.error(
                    InputError::new(
                        format!("`{}` can never be compared with a rate", condition.text),
                        map.get("condition")
                            .map_or(node.span.clone(), |n| n.span.clone()),
                    )
                    .with_label("a rate goes from 0 to 1 (0% to 100%)")
                    .with_help(
                        "write the rate as a percentage, e.g. `< 1%`, or a fraction, `< 0.01`",
                    ),
                );
                return None;
            }
            let min_requests = match map.get("min_requests") {
                Some(n) => {
                    r.exact_uint(n, &format!("{path}.min_requests"), 0, "min_requests: 10")?
                }
                None => DEFAULT_MIN_REQUESTS,
            };
            Provider::Router {
                query,
                condition,
                min_requests,
            }
        }
        "prometheus" => {
            only(r, &["query", "condition", "address"], "prometheus");
            let (address, an) = required(r, "address", "address: http://prometheus:9090")?;
            check_url(r, &address, an, &format!("{path}.address"))?;
            let (query, _) = required(r, "query", "query: sum(rate(errors_total[1m]))")?;
            let condition = condition(r)?;
            Provider::Prometheus {
                address,
                query,
                condition,
            }
        }
        "http" => {
            only(r, &["url", "timeout"], "http");
            let (url, un) = required(r, "url", "url: https://ci.example/approve/{service}")?;
            check_url(r, &url, un, &format!("{path}.url"))?;
            let timeout = match map.get("timeout") {
                Some(n) => r.positive_duration(n, &format!("{path}.timeout"))?,
                None => DEFAULT_HTTP_TIMEOUT,
            };
            Provider::Http { url, timeout }
        }
        other => {
            r.error(
                InputError::new(
                    format!("unknown provider `{other}`"),
                    provider_node.span.clone(),
                )
                .with_label("not a provider")
                .with_help("use `router`, `prometheus` or `http`"),
            );
            return None;
        }
    };
    Some(Metric { name, provider })
}

fn check_url(r: &mut Reader, url: &str, node: &Node, path: &str) -> Option<()> {
    super::env_refs::check(r, url, node, path, "${PROMETHEUS_URL}")?;
    // `${PROMETHEUS_URL}`: the scheme comes with the variable, checked when it is read.
    if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("${") {
        return Some(());
    }
    r.error(
        InputError::new(format!("`{path}` is not an http(s) URL"), node.span.clone())
            .with_label("no http:// or https://")
            .with_help(format!("write it as `http://{url}`")),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_rates_durations_and_numbers() {
        let c = Condition::parse("< 1%").unwrap();
        assert_eq!((c.op, c.threshold), (Comparison::Less, 0.01));
        assert!(c.holds(0.009) && !c.holds(0.01));
        let c = Condition::parse("<= 500ms").unwrap();
        assert_eq!((c.op, c.threshold), (Comparison::LessOrEqual, 0.5));
        let c = Condition::parse(">=0.99").unwrap();
        assert!(c.holds(0.99) && !c.holds(0.98));
        let c = Condition::parse("> 2").unwrap();
        assert!(c.holds(3.0) && !c.holds(2.0));
        for bad in ["1%", "< ", "< lots", "= 3", "< inf"] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn router_queries_name_latency_quantiles() {
        assert_eq!(
            RouterQuery::parse("p99"),
            Some(RouterQuery::Latency { quantile: 0.99 })
        );
        assert_eq!(
            RouterQuery::parse("p999"),
            Some(RouterQuery::Latency { quantile: 0.999 })
        );
        assert_eq!(
            RouterQuery::parse("p50").map(|q| q.to_string()).as_deref(),
            Some("p50")
        );
        assert_eq!(RouterQuery::parse("p"), None);
        assert_eq!(RouterQuery::parse("p0"), None);
        assert_eq!(RouterQuery::parse("errors"), None);
        assert_eq!(
            RouterQuery::parse("p95").map(|q| q.to_string()).as_deref(),
            Some("p95")
        );
    }

    #[test]
    fn values_are_shown_in_their_unit() {
        assert_eq!(Unit::Ratio.show(0.0512), "5.12%");
        assert_eq!(Unit::Ratio.show(0.0), "0%");
        assert_eq!(Unit::Seconds.show(0.3124), "312.4ms");
        assert_eq!(Unit::Seconds.show(1.5), "1.5s");
        assert_eq!(Unit::Number.show(42.0), "42");
    }
}

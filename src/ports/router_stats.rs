//! The router's traffic statistics as `shipctl route --stats-listen` serves them on `/metrics`
//! (Prometheus text exposition format 0.0.4), and the pure functions a deploy uses to judge a
//! zone by its real traffic.
//!
//! Three families, cumulative since the route process started, one series per
//! `(project, service, zone, version)`; requests the router answered without any upstream have
//! `zone=""` and `version=""`:
//!
//! ```text
//! # TYPE shipctl_router_requests_total counter
//! shipctl_router_requests_total{project="P",service="web",zone="blue",version="1.2.0"} 1234
//! # TYPE shipctl_router_responses_total counter
//! shipctl_router_responses_total{project="P",service="web",zone="blue",version="1.2.0",class="5xx"} 12
//! # TYPE shipctl_router_request_duration_seconds histogram
//! shipctl_router_request_duration_seconds_bucket{...,le="0.005"} 100
//! shipctl_router_request_duration_seconds_sum{...} 12.5
//! shipctl_router_request_duration_seconds_count{...} 1234
//! ```
//!
//! - [`parse_router_stats`] reads that text into one [`ZoneStats`] per series;
//! - [`histogram_quantile`] estimates a latency quantile from a histogram's buckets,
//!   interpolated inside a bucket as Prometheus' `histogram_quantile` does. Windows between two
//!   scrapes are `ports::metrics::ZoneCounters::since`.

use std::collections::BTreeMap;

/// The upper bounds of the duration buckets, in seconds (`+Inf` follows).
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The response classes, in the order of [`ZoneStats::classes`].
pub const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

pub const REQUESTS: &str = "shipctl_router_requests_total";
pub const RESPONSES: &str = "shipctl_router_responses_total";
pub const DURATION: &str = "shipctl_router_request_duration_seconds";

/// The counters of one series: what one router saw of one zone's version of a service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneStats {
    pub project: String,
    pub service: String,
    /// Empty for requests answered by the router itself (no upstream).
    pub zone: String,
    pub version: String,
    pub requests: u64,
    /// Responses per class, in the order of [`CLASSES`] (`2xx`, `3xx`, `4xx`, `5xx`).
    pub classes: [u64; 4],
    /// Cumulative `(upper bound, count)` in ascending order, the last one `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Seconds summed over the requests.
    pub duration_sum: f64,
    pub duration_count: u64,
}

/// Reads the `/metrics` text of `shipctl route`. Other families and comments are skipped; a
/// malformed line of the three families is an error naming its line.
pub fn parse_router_stats(text: &str) -> Result<Vec<ZoneStats>, String> {
    let mut series: BTreeMap<(String, String, String, String), ZoneStats> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        let (name, labels, value) = sample(line).map_err(at)?;
        let family = match name {
            REQUESTS | RESPONSES => name,
            _ => match name.strip_prefix(DURATION) {
                Some("_bucket" | "_sum" | "_count") => name,
                _ => continue,
            },
        };
        let label = |key: &str| -> Result<String, String> {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| at(format!("{family} has no `{key}` label")))
        };
        let key = (
            label("project")?,
            label("service")?,
            label("zone")?,
            label("version")?,
        );
        let entry = series.entry(key.clone()).or_insert_with(|| ZoneStats {
            project: key.0,
            service: key.1,
            zone: key.2,
            version: key.3,
            ..ZoneStats::default()
        });
        let count = || -> Result<u64, String> {
            if value.is_finite() && value >= 0.0 {
                // Counters are whole numbers; the cast saturates at u64::MAX.
                Ok(value.round() as u64)
            } else {
                Err(at(format!("{family}: {value} is not a count")))
            }
        };
        match family {
            REQUESTS => entry.requests = count()?,
            RESPONSES => {
                let class = label("class")?;
                let i = CLASSES
                    .iter()
                    .position(|c| *c == class)
                    .ok_or_else(|| at(format!("unknown class `{class}`")))?;
                entry.classes[i] = count()?;
            }
            _ if family.ends_with("_bucket") => {
                let le = label("le")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse::<f64>()
                        .map_err(|_| at(format!("le=\"{le}\" is not a number")))?
                };
                entry.buckets.push((bound, count()?));
            }
            _ if family.ends_with("_sum") => entry.duration_sum = value,
            _ => entry.duration_count = count()?,
        }
    }
    let mut all: Vec<ZoneStats> = series.into_values().collect();
    for s in &mut all {
        s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(all)
}

/// A sample's labels, unescaped, in their order.
type Labels = Vec<(String, String)>;

/// One sample line: name, labels, value (a timestamp after it is ignored).
fn sample(line: &str) -> Result<(&str, Labels, f64), String> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("{name}: no value"))?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("{name}: `{v}` is not a number"))?,
    };
    Ok((name, labels, value))
}

/// `k="v",k2="v2"}` (after the `{`): the labels, unescaped, and the text after the `}`.
fn label_set(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([' ', ',']);
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = text.find('=').ok_or("a label without `=`")?;
        let key = text[..eq].trim().to_string();
        let quoted = text[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("label `{key}`: the value is not quoted"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label `{key}`: unfinished escape")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label `{key}`: unfinished value")),
            }
        };
        labels.push((key, value));
        text = &quoted[end + 1..];
    }
}

/// The `q` quantile (0 to 1) of a cumulative histogram (`(upper bound, count)` ascending, the
/// last `+Inf`), as Prometheus' `histogram_quantile`: linear inside the bucket that holds the
/// rank, from 0 for the first bucket; the highest finite bound when the rank falls in `+Inf`.
/// `None` without observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 || q.is_nan() {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in buckets {
        if count as f64 >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count.saturating_sub(lower.1) as f64;
            if in_bucket == 0.0 {
                return Some(bound);
            }
            return Some(lower.0 + (bound - lower.0) * (rank - lower.1 as f64) / in_bucket);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE shipctl_router_requests_total counter
shipctl_router_requests_total{project="p",service="web",zone="blue",version="1.0.0"} 100
shipctl_router_requests_total{project="p",service="web",zone="",version=""} 2
shipctl_router_requests_total{project="p",service="web",zone="green",version="1.1.0"} 10
# TYPE shipctl_router_responses_total counter
shipctl_router_responses_total{project="p",service="web",zone="blue",version="1.0.0",class="2xx"} 95
shipctl_router_responses_total{project="p",service="web",zone="blue",version="1.0.0",class="3xx"} 0
shipctl_router_responses_total{project="p",service="web",zone="blue",version="1.0.0",class="4xx"} 3
shipctl_router_responses_total{project="p",service="web",zone="blue",version="1.0.0",class="5xx"} 2
shipctl_router_responses_total{project="p",service="web",zone="green",version="1.1.0",class="5xx"} 1
# TYPE shipctl_router_request_duration_seconds histogram
shipctl_router_request_duration_seconds_bucket{project="p",service="web",zone="blue",version="1.0.0",le="0.005"} 50
shipctl_router_request_duration_seconds_bucket{project="p",service="web",zone="blue",version="1.0.0",le="0.01"} 90
shipctl_router_request_duration_seconds_bucket{project="p",service="web",zone="blue",version="1.0.0",le="+Inf"} 100
shipctl_router_request_duration_seconds_sum{project="p",service="web",zone="blue",version="1.0.0"} 0.75
shipctl_router_request_duration_seconds_count{project="p",service="web",zone="blue",version="1.0.0"} 100
other_family{a="b"} 7
"#;

    fn blue(stats: &[ZoneStats]) -> &ZoneStats {
        stats.iter().find(|s| s.zone == "blue").expect("blue")
    }

    #[test]
    fn the_exposition_text_reads_into_one_entry_per_series() {
        let stats = parse_router_stats(TEXT).expect("parse");
        assert_eq!(stats.len(), 3);
        let b = blue(&stats);
        assert_eq!((b.requests, b.classes), (100, [95, 0, 3, 2]));
        assert_eq!(
            b.buckets,
            vec![(0.005, 50), (0.01, 90), (f64::INFINITY, 100)]
        );
        assert_eq!((b.duration_sum, b.duration_count), (0.75, 100));
        let none = stats.iter().find(|s| s.zone.is_empty()).expect("no zone");
        assert_eq!((none.requests, none.version.as_str()), (2, ""));
    }

    #[test]
    fn escaped_label_values_and_timestamps_are_understood() {
        let text = "shipctl_router_requests_total{project=\"a\\\"b\\\\c\\nd\",service=\"s\",zone=\"z\",version=\"v\"} 3 1700000000000\n";
        let stats = parse_router_stats(text).expect("parse");
        assert_eq!(stats[0].project, "a\"b\\c\nd");
        assert_eq!(stats[0].requests, 3);
    }

    #[test]
    fn malformed_lines_of_the_families_are_errors_with_their_line() {
        for (text, expected) in [
            (
                "\nshipctl_router_requests_total{service=\"s\"} 1\n",
                "line 2:",
            ),
            (
                "shipctl_router_requests_total{project=\"p\",service=\"s\",zone=\"z\",version=\"v\"} many\n",
                "not a number",
            ),
            (
                "shipctl_router_requests_total{project=\"p\",service=\"s\",zone=\"z\",version=\"v} 1\n",
                "unfinished",
            ),
            (
                "shipctl_router_responses_total{project=\"p\",service=\"s\",zone=\"z\",version=\"v\",class=\"1xx\"} 1\n",
                "unknown class",
            ),
        ] {
            let e = parse_router_stats(text).expect_err(text);
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn quantiles_follow_prometheus() {
        let inf = f64::INFINITY;
        assert_eq!(histogram_quantile(0.5, &[(1.0, 0), (inf, 0)]), None);
        // In the first bucket: from 0.
        assert_eq!(histogram_quantile(0.5, &[(1.0, 10), (inf, 10)]), Some(0.5));
        // In +Inf: the highest finite bound.
        assert_eq!(
            histogram_quantile(0.99, &[(1.0, 1), (2.0, 2), (inf, 10)]),
            Some(2.0)
        );
    }
}

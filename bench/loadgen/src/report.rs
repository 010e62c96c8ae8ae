//! The benchmark's report: per scenario the counts, latency and deploy time as a Markdown table,
//! then a timeline of which version answered, second by second.

use std::fmt::Write as _;

use crate::args::ReportArgs;
use crate::record::{Outcome, Record};
use crate::scenario::Scenario;

pub fn run(args: &ReportArgs) -> Result<(), String> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let mut records: Vec<Record> = read(&args.requests)?
        .lines()
        .filter_map(Record::parse)
        .collect();
    records.sort_by_key(|r| r.due_ms);
    let scenarios = read(&args.marks)?
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(Scenario::parse)
        .collect::<Result<Vec<_>, _>>()?;
    print!("{}", render(&records, &scenarios));
    if let Some(path) = &args.json {
        let stats: Vec<Stats> = scenarios.iter().map(|s| Stats::of(&records, s)).collect();
        std::fs::write(path, json(&scenarios, &stats))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// What one scenario's requests came to.
pub struct Stats {
    pub requests: usize,
    pub non_2xx: usize,
    pub connection_errors: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Answers that took 1 s or more (a dropped SYN is retransmitted after 1 s).
    pub over_1s: usize,
    /// Connections to the router that took 1 s or more to open.
    pub slow_connects: usize,
    pub connect_max_us: u64,
    /// How late the load generator sent its requests (see `Record::lag_us`).
    pub lag_p99_us: u64,
    pub lag_max_us: u64,
    /// First answer of the new version and last of the old, in ms from the deploy's start.
    pub first_new_ms: Option<i64>,
    pub last_old_ms: Option<i64>,
    /// The first few failures: ms from the scenario's start and what happened.
    pub failures: Vec<(u64, String)>,
}

impl Stats {
    pub fn of(records: &[Record], s: &Scenario) -> Stats {
        let mine: Vec<&Record> = records.iter().filter(|r| s.contains(r.due_ms)).collect();
        let mut latencies: Vec<u64> = mine
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Answer { .. }))
            .map(|r| r.latency_us)
            .collect();
        latencies.sort_unstable();
        let mut lags: Vec<u64> = mine.iter().map(|r| r.lag_us).collect();
        lags.sort_unstable();
        let since_deploy = |r: &&Record| r.due_ms as i64 - s.deploy_start_ms as i64;
        Stats {
            requests: mine.len(),
            non_2xx: mine
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Answer { .. }) && !r.is_success())
                .count(),
            connection_errors: mine
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Error(_)))
                .count(),
            p50_us: percentile(&latencies, 50.0),
            p99_us: percentile(&latencies, 99.0),
            p999_us: percentile(&latencies, 99.9),
            max_us: latencies.last().copied().unwrap_or(0),
            over_1s: latencies.iter().filter(|&&l| l >= 1_000_000).count(),
            slow_connects: mine.iter().filter(|r| r.connect_us >= 1_000_000).count(),
            connect_max_us: mine.iter().map(|r| r.connect_us).max().unwrap_or(0),
            lag_p99_us: percentile(&lags, 99.0),
            lag_max_us: lags.last().copied().unwrap_or(0),
            first_new_ms: mine
                .iter()
                .find(|r| r.version() == Some(&s.to))
                .map(since_deploy),
            last_old_ms: mine
                .iter()
                .rev()
                .find(|r| r.version() == Some(&s.from))
                .map(since_deploy),
            failures: mine
                .iter()
                .filter(|r| !r.is_success())
                .take(5)
                .map(|r| {
                    let what = match &r.outcome {
                        Outcome::Answer { status, .. } => format!("HTTP {status}"),
                        Outcome::Error(kind) => kind.clone(),
                    };
                    (r.due_ms - s.start_ms, what)
                })
                .collect(),
        }
    }

    pub fn failed(&self) -> usize {
        self.non_2xx + self.connection_errors
    }
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // In thousandths, so that 99.9 % of 10,000 is rank 9,990 (floats make it 9,991).
    let per_mille = (p * 10.0).round() as usize;
    let rank = (per_mille * sorted.len()).div_ceil(1000);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn seconds(ms: i64) -> String {
    format!("{:+.1} s", ms as f64 / 1000.0)
}

pub fn render(records: &[Record], scenarios: &[Scenario]) -> String {
    let mut out = String::new();
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        let span = (last.due_ms - first.due_ms).max(1) as f64 / 1000.0;
        let failed = records.iter().filter(|r| !r.is_success()).count();
        let _ = writeln!(
            out,
            "The whole run: {} requests in {span:.0} s ({:.0}/s), {} failed.\n",
            thousands(records.len()),
            records.len() as f64 / span,
            thousands(failed),
        );
    }
    let _ = writeln!(
        out,
        "| Scenario | Versions | Requests | Non-2xx | Connection errors | p50 | p99 | p99.9 | max | Deploy wall time | New version first / old version last answered | Notes |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");
    let stats: Vec<Stats> = scenarios.iter().map(|s| Stats::of(records, s)).collect();
    for (s, st) in scenarios.iter().zip(&stats) {
        let moved = format!(
            "{} / {}",
            st.first_new_ms.map_or("never".to_string(), seconds),
            st.last_old_ms.map_or("never".to_string(), seconds)
        );
        let _ = writeln!(
            out,
            "| {} | {} → {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {moved} | {} |",
            s.label,
            s.from,
            s.to,
            thousands(st.requests),
            thousands(st.non_2xx),
            thousands(st.connection_errors),
            ms(st.p50_us),
            ms(st.p99_us),
            ms(st.p999_us),
            ms(st.max_us),
            (s.deploy_end_ms - s.deploy_start_ms) as f64 / 1000.0,
            s.note,
        );
    }
    let _ = writeln!(
        out,
        "\nThe tails, and the load generator's part in them: answers of 1 s or more, connections to\n\
         the router that took 1 s or more to open (a dropped SYN is sent again after 1 s), and how\n\
         late the load generator sent its requests (from due to the connection attempt).\n"
    );
    let _ = writeln!(
        out,
        "| Scenario | p50 | p99 | p99.9 | max | Answers ≥ 1 s | Connects ≥ 1 s | Connect max | Send lag p99 | Send lag max |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (s, st) in scenarios.iter().zip(&stats) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.label,
            ms(st.p50_us),
            ms(st.p99_us),
            ms(st.p999_us),
            ms(st.max_us),
            thousands(st.over_1s),
            thousands(st.slow_connects),
            ms(st.connect_max_us),
            ms(st.lag_p99_us),
            ms(st.lag_max_us),
        );
    }
    let _ = writeln!(
        out,
        "\nWhich version answered, one character per second of each scenario: `·` only the old\n\
         version, `▁`…`▇` a growing share of the new one, `█` only the new one, `✗` a second\n\
         with a failed request. The line below marks the deploy (`├`…`┤`).\n"
    );
    let _ = writeln!(out, "```");
    let width = scenarios
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    for s in scenarios {
        let (bars, deploy) = timeline(records, s);
        let _ = writeln!(out, "{:width$}  {bars}", s.label);
        let _ = writeln!(out, "{:width$}  {deploy}", "");
    }
    let _ = writeln!(out, "```");
    let failing: Vec<_> = scenarios
        .iter()
        .zip(&stats)
        .filter(|(_, st)| st.failed() > 0)
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(
            out,
            "\nFirst failed requests (seconds from the scenario's start):\n"
        );
        for (s, st) in failing {
            let list: Vec<String> = st
                .failures
                .iter()
                .map(|(at, what)| format!("{:.1} s {what}", *at as f64 / 1000.0))
                .collect();
            let _ = writeln!(out, "- {}: {}", s.label, list.join(", "));
        }
    }
    out
}

/// A JSON string (labels and notes are plain text; quotes, backslashes and control characters
/// escaped).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every scenario's figures as JSON (times in ms), for the benchmark suite's results file.
pub fn json(scenarios: &[Scenario], stats: &[Stats]) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    let opt = |v: Option<i64>| v.map_or("null".to_string(), |v| v.to_string());
    let rows: Vec<String> = scenarios
        .iter()
        .zip(stats)
        .map(|(s, st)| {
            format!(
                "{{\"scenario\":{},\"from\":{},\"to\":{},\"start_ms\":{},\"deploy_start_ms\":{},\"deploy_end_ms\":{},\"end_ms\":{},\"note\":{},\
                 \"requests\":{},\"non_2xx\":{},\"connection_errors\":{},\"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{},\
                 \"answers_over_1s\":{},\"connects_over_1s\":{},\"connect_max_ms\":{},\"lag_p99_ms\":{},\"lag_max_ms\":{},\
                 \"deploy_s\":{},\"first_new_ms\":{},\"last_old_ms\":{}}}",
                json_string(&s.label),
                json_string(&s.from),
                json_string(&s.to),
                s.start_ms,
                s.deploy_start_ms,
                s.deploy_end_ms,
                s.end_ms,
                json_string(&s.note),
                st.requests,
                st.non_2xx,
                st.connection_errors,
                ms(st.p50_us),
                ms(st.p99_us),
                ms(st.p999_us),
                ms(st.max_us),
                st.over_1s,
                st.slow_connects,
                ms(st.connect_max_us),
                ms(st.lag_p99_us),
                ms(st.lag_max_us),
                (s.deploy_end_ms - s.deploy_start_ms) as f64 / 1000.0,
                opt(st.first_new_ms),
                opt(st.last_old_ms),
            )
        })
        .collect();
    format!("[\n  {}\n]\n", rows.join(",\n  "))
}

/// The scenario's bars (one per second) and the deploy marker line under them.
fn timeline(records: &[Record], s: &Scenario) -> (String, String) {
    let seconds = (s.end_ms - s.start_ms).div_ceil(1000) as usize;
    // Per second: answers of the new version, all 2xx answers, failures.
    let mut buckets = vec![(0usize, 0usize, 0usize); seconds];
    for r in records.iter().filter(|r| s.contains(r.due_ms)) {
        let b = &mut buckets[((r.due_ms - s.start_ms) / 1000) as usize];
        match r.version() {
            Some(v) => {
                b.1 += 1;
                if v == s.to {
                    b.0 += 1;
                }
            }
            None => b.2 += 1,
        }
    }
    const STEPS: [char; 7] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇'];
    let bars = buckets
        .iter()
        .map(|&(new, ok, failed)| {
            if failed > 0 {
                '✗'
            } else if ok == 0 {
                ' '
            } else if new == 0 {
                '·'
            } else if new == ok {
                '█'
            } else {
                STEPS[(new * STEPS.len() / ok).min(STEPS.len() - 1)]
            }
        })
        .collect();
    let from = ((s.deploy_start_ms - s.start_ms) / 1000) as usize;
    let to = (((s.deploy_end_ms - s.start_ms) / 1000) as usize).max(from + 1);
    let deploy = format!(
        "{}├{}┤",
        " ".repeat(from),
        "─".repeat(to.saturating_sub(from + 1))
    );
    (bars, deploy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(due_ms: u64, status: u16, version: &str) -> Record {
        Record {
            due_ms,
            latency_us: due_ms % 7 * 1000,
            outcome: Outcome::Answer {
                status,
                version: version.into(),
            },
            lag_us: due_ms % 3 * 100,
            connect_us: 50,
        }
    }

    fn scenario() -> Scenario {
        Scenario::parse("bg\t1.0.0\t1.1.0\t0\t1000\t2000\t4000").expect("mark")
    }

    #[test]
    fn counts_failures_and_finds_when_traffic_moved() {
        let mut records: Vec<Record> = (0..40)
            .map(|i| answer(i * 100, 200, if i < 15 { "1.0.0" } else { "1.1.0" }))
            .collect();
        records[20] = answer(2000, 502, "-");
        records.push(Record {
            due_ms: 3500,
            latency_us: 1,
            outcome: Outcome::Error("connect-refused".into()),
            lag_us: 0,
            connect_us: 1_200_000,
        });
        records.push(answer(4000, 500, "-")); // after the scenario
        let st = Stats::of(&records, &scenario());
        assert_eq!(st.requests, 41);
        assert_eq!((st.non_2xx, st.connection_errors), (1, 1));
        assert_eq!(st.first_new_ms, Some(500));
        assert_eq!(st.last_old_ms, Some(400));
        assert_eq!(st.failures[0], (2000, "HTTP 502".to_string()));
        assert_eq!((st.max_us, st.over_1s, st.slow_connects), (6000, 0, 1));
        assert_eq!((st.lag_p99_us, st.lag_max_us), (200, 200));
        let json = json(&[scenario()], &[st]);
        assert!(json.contains("\"scenario\":\"bg\""), "{json}");
        assert!(json.contains("\"max_ms\":6,"), "{json}");
        assert!(json.contains("\"max_ms\":6,\"answers_over_1s\":0,\"connects_over_1s\":1"));
        let (bars, deploy) = timeline(&records, &scenario());
        assert_eq!(bars, "·▄✗✗");
        assert_eq!(deploy, " ├┤");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        let v: Vec<u64> = (1..=10_000).collect();
        assert_eq!(percentile(&v, 99.9), 9_990);
        assert_eq!(percentile(&[], 99.0), 0);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(json_string("a \"b\"\\\n"), "\"a \\\"b\\\"\\\\\\u000a\"");
    }
}

//! `shipctl history` as a table.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use crate::ports::{HistoryRecord, ReleaseRecord};

/// The releases of `project` as stored: newest first.
pub fn render_releases(project: &str, releases: &[ReleaseRecord]) -> String {
    if releases.is_empty() {
        return format!("no releases of {project} recorded yet\n");
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "release", "time", "action", "result", "services", "took", "by",
    ]);
    for r in releases {
        let result = match r.failure.as_ref().and_then(|f| f.service.as_ref()) {
            Some(service) => format!("{} ({service} failed)", r.result.word()),
            None => r.result.word().to_string(),
        };
        table.add_row([
            r.id.clone(),
            r.time.clone(),
            r.action.to_string(),
            result,
            r.changes_line(),
            format!("{:.1}s", r.duration_secs),
            by(&r.user, &r.host, r.ci_job.as_deref()),
        ]);
    }
    format!("{table}\n")
}

fn by(user: &str, host: &str, ci_job: Option<&str>) -> String {
    match ci_job {
        Some(job) => format!("{user}@{host} ({job})"),
        None => format!("{user}@{host}"),
    }
}

/// How many of the newest runs `--markdown` draws.
const CHARTS: usize = 3;

/// Newest first, as people read a history.
pub fn render(service: &str, records: &[HistoryRecord]) -> String {
    if records.is_empty() {
        return format!("no deploys of {service} recorded yet\n");
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "time", "action", "strategy", "from", "to", "result", "took", "by",
    ]);
    for r in records.iter().rev() {
        table.add_row([
            r.time.clone(),
            r.action.to_string(),
            r.strategy.to_string(),
            from(r),
            to(r),
            r.result.word().to_string(),
            format!("{:.1}s", r.duration_secs),
            by(&r.user, &r.host, r.ci_job.as_deref()),
        ]);
    }
    format!("{table}\n")
}

fn zone_version(zone: &Option<String>, version: &Option<String>) -> String {
    match (zone, version) {
        (Some(z), Some(v)) => format!("{z}@{v}"),
        (Some(z), None) => z.clone(),
        _ => "-".to_string(),
    }
}

fn from(r: &HistoryRecord) -> String {
    zone_version(&r.from_zone, &r.from_version)
}

fn to(r: &HistoryRecord) -> String {
    zone_version(&r.to_zone, &r.to_version)
}

/// `history --markdown`: the records as a Markdown table, newest first, then the newest runs
/// that kept their timeline as Mermaid charts.
pub fn markdown(service: &str, records: &[HistoryRecord]) -> String {
    let mut out = format!("## Deploys of {service}\n\n");
    if records.is_empty() {
        out.push_str("No deploys recorded yet.\n");
        return out;
    }
    out.push_str("| time | action | strategy | from | to | result | took | by |\n");
    out.push_str("|---|---|---|---|---|---|--:|---|\n");
    for r in records.iter().rev() {
        let by = match &r.ci_job {
            Some(job) => format!("{}@{} ([job]({job}))", r.user, r.host),
            None => format!("{}@{}", r.user, r.host),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1}s | {} |\n",
            r.time,
            r.action,
            r.strategy,
            from(r),
            to(r),
            r.result.word(),
            r.duration_secs,
            by.replace('|', "\\|")
        ));
    }
    for r in records
        .iter()
        .rev()
        .filter(|r| r.timeline.is_some())
        .take(CHARTS)
    {
        let Some(timeline) = &r.timeline else {
            continue;
        };
        let title = format!(
            "{service} {}, {}, {} → {}, {} in {:.1}s",
            r.action,
            r.strategy,
            from(r),
            to(r),
            r.result.word(),
            r.duration_secs
        );
        out.push_str(&format!("\n### {} {}\n\n", r.time, r.action));
        out.push_str(&super::timeline::markdown(&title, timeline));
    }
    out
}

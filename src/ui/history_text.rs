//! `shipctl history` as a table.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use crate::ports::HistoryRecord;

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
        let zone_version = |zone: &Option<String>, version: &Option<String>| match (zone, version) {
            (Some(z), Some(v)) => format!("{z}@{v}"),
            (Some(z), None) => z.clone(),
            _ => "-".to_string(),
        };
        let by = match &r.ci_job {
            Some(job) => format!("{}@{} ({job})", r.user, r.host),
            None => format!("{}@{}", r.user, r.host),
        };
        table.add_row([
            r.time.clone(),
            r.action.to_string(),
            r.strategy.to_string(),
            zone_version(&r.from_zone, &r.from_version),
            zone_version(&r.to_zone, &r.to_version),
            r.result.word().to_string(),
            format!("{:.1}s", r.duration_secs),
            by,
        ]);
    }
    format!("{table}\n")
}

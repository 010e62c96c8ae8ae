//! `shipctl history SERVICE`: the deploy records kept in the KV store.

use std::collections::HashMap;
use std::io::Write;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::inputs;
use super::world::World;
use super::{GlobalArgs, HistoryArgs, OutputFormat, runtime};
use crate::error::Error;
use crate::exec::kv_error;
use crate::kv::{self, HistoryRecord};
use crate::ui::Terminal;

pub fn run(
    global: &GlobalArgs,
    args: &HistoryArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let inputs = inputs::load(global, env, None)?;
    let key = inputs
        .spec
        .kv
        .keys
        .for_service(&inputs.project, &args.service)
        .history;
    runtime::block_on(async {
        let world = World::connect(global, env, &inputs.spec).await?;
        let mut records = kv::read_history(world.kv.as_ref(), &key)
            .await
            .map_err(kv_error)?;
        let skip = records.len().saturating_sub(args.limit);
        records.drain(..skip);
        let text = match terminal.format {
            OutputFormat::Json => serde_json::to_string_pretty(&records).unwrap_or_default() + "\n",
            OutputFormat::Text => render(&args.service, &records),
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(())
    })
}

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
            r.action.clone(),
            r.strategy.clone(),
            zone_version(&r.from_zone, &r.from_version),
            zone_version(&r.to_zone, &r.to_version),
            r.result.clone(),
            format!("{:.1}s", r.duration_secs),
            by,
        ]);
    }
    format!("{table}\n")
}

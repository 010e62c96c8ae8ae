//! `shipctl history SERVICE`: the deploy records kept in the KV store.

use super::HistoryArgs;
use crate::error::Error;
use crate::kv;
use crate::session::{self, Session, Settings, kv_error};
use crate::ui::{OutputFormat, Printer, history_text};

pub fn run(settings: &Settings, args: &HistoryArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let key = inputs.spec.keys(&inputs.project, &args.service).history;
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        let mut records = kv::read_history(session.kv.as_ref(), &key)
            .await
            .map_err(kv_error)?;
        let skip = records.len().saturating_sub(args.limit);
        records.drain(..skip);
        let text = match printer.format() {
            _ if args.markdown => history_text::markdown(&args.service, &records),
            OutputFormat::Json => serde_json::to_string_pretty(&records).unwrap_or_default() + "\n",
            OutputFormat::Text => history_text::render(&args.service, &records),
        };
        printer.out(&text);
        Ok(())
    })
}

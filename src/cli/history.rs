//! `shipctl history [SERVICE]`: the project's releases, or one service's deploy records, as
//! kept in the KV store.

use super::HistoryArgs;
use crate::error::Error;
use crate::kv;
use crate::session::{self, Session, Settings, kv_error};
use crate::ui::{OutputFormat, Printer, history_text};

pub fn run(settings: &Settings, args: &HistoryArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        let text = match &args.service {
            Some(service) => {
                let key = inputs.spec.keys(&inputs.project, service).history;
                let mut records = kv::read_history(session.kv.as_ref(), &key)
                    .await
                    .map_err(kv_error)?;
                let skip = records.len().saturating_sub(args.limit);
                records.drain(..skip);
                match printer.format() {
                    _ if args.markdown => history_text::markdown(service, &records),
                    OutputFormat::Json => {
                        serde_json::to_string_pretty(&records).unwrap_or_default() + "\n"
                    }
                    OutputFormat::Text => history_text::render(service, &records),
                }
            }
            None => {
                let key = inputs.spec.releases_key(&inputs.project);
                let mut releases = kv::read_releases(session.kv.as_ref(), &key)
                    .await
                    .map_err(kv_error)?;
                releases.truncate(args.limit);
                match printer.format() {
                    OutputFormat::Json => {
                        serde_json::to_string_pretty(&releases).unwrap_or_default() + "\n"
                    }
                    OutputFormat::Text => history_text::render_releases(&inputs.project, &releases),
                }
            }
        };
        printer.out(&text);
        Ok(())
    })
}

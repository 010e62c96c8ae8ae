//! `shipctl init`: writes a commented `shipctl.yaml` for the compose files.

use super::InitArgs;
use crate::error::Error;
use crate::session::{self, Settings};
use crate::ui::Printer;

pub fn run(settings: &Settings, args: &InitArgs, printer: &Printer) -> Result<(), Error> {
    let written = session::init(settings, args.force)?;
    let path = written
        .path
        .strip_prefix(&settings.cwd)
        .unwrap_or(&written.path);
    let mut text = format!("wrote {}\n", path.display());
    for (service, strategy) in &written.services {
        text.push_str(&format!("  {service}: {strategy}\n"));
    }
    text.push_str("next: `shipctl plan` shows what a deploy would do with it\n");
    printer.out(&text);
    Ok(())
}

//! `shipctl completions <shell>`: prints the completion script.

use super::{CompletionsArgs, generate};
use crate::error::Error;
use crate::ui::Printer;

pub fn run(args: &CompletionsArgs, printer: &Printer) -> Result<(), Error> {
    let script = generate::completion(args.shell);
    printer.out(&String::from_utf8_lossy(&script));
    Ok(())
}

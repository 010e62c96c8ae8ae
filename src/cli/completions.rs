//! `shipctl completions <shell>`: prints the completion script.

use std::io::Write;

use super::{CompletionsArgs, generate};
use crate::error::Error;

pub fn run(args: &CompletionsArgs) -> Result<(), Error> {
    let script = generate::completion(args.shell);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| Error::usage(format!("cannot write to stdout: {e}"), "check the pipe"))
}

//! Command-line definitions and one short file per subcommand. Flags are resolved once into
//! settings (`session::Settings`); each command says only what is specific to it and leaves the
//! rest to the session.

mod args;
mod canary;
mod completions;
mod deploy;
pub mod generate;
mod history;
mod init;
mod rollback;
mod route;
mod settings;
mod status;
mod unlock;

use clap::Parser;

pub use args::{
    Cli, Command, CompletionsArgs, DeployArgs, GlobalArgs, HistoryArgs, InitArgs, RollbackArgs,
    RouteAction, RouteArgs, RouteDeployArgs, ServiceArgs, StatusArgs, UnlockArgs,
};

use crate::error::{Error, exit};
use crate::session::Settings;
use crate::ui::{Printer, Terminal, report_error};
use canary::CanaryAction;

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let (settings, terminal) = match settings::resolve(&cli.global) {
        Ok(resolved) => resolved,
        Err(e) => {
            let printer = Printer::new(Terminal::plain(cli.global.output));
            report_error(&e, &printer, false);
            return e.exit_code();
        }
    };
    let printer = match open_events(&cli.global, Printer::new(terminal)) {
        Ok(printer) => printer,
        Err(e) => {
            let printer = Printer::new(terminal);
            report_error(&e, &printer, false);
            return e.exit_code();
        }
    };
    settings::init_tracing(cli.global.verbose, &settings);
    match run(&cli, &settings, &printer) {
        Ok(()) => exit::OK,
        Err(e) => {
            let github = settings.var("GITHUB_ACTIONS") == Some("true");
            report_error(&e, &printer, github);
            e.exit_code()
        }
    }
}

/// `--events FILE`: opened before anything runs, so a path that cannot be written is a usage
/// error (exit 2) and not a deploy without its record. Appended to: one job may run several
/// commands into one file.
fn open_events(global: &GlobalArgs, printer: Printer) -> Result<Printer, Error> {
    let Some(path) = &global.events else {
        return Ok(printer);
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|file| printer.with_events(Box::new(file)))
        .map_err(|e| {
            Error::usage(
                format!("cannot write the events file {}: {e}", path.display()),
                "give --events a path in a directory that exists and can be written",
            )
        })
}

/// Dispatches to the subcommand.
pub fn run(cli: &Cli, settings: &Settings, printer: &Printer) -> Result<(), Error> {
    match &cli.command {
        Command::Plan(args) => deploy::run(settings, args, true, printer),
        Command::Deploy(args) => deploy::run(settings, args, false, printer),
        Command::Promote(args) => canary::run(CanaryAction::Promote, settings, args, printer),
        Command::Abort(args) => canary::run(CanaryAction::Abort, settings, args, printer),
        Command::History(args) => history::run(settings, args, printer),
        Command::Unlock(args) => unlock::run(settings, args, printer),
        Command::Route(args) => route::run(settings, args, printer),
        Command::Init(args) => init::run(settings, args, printer),
        Command::Completions(args) => completions::run(args, printer),
        Command::Status(args) => status::run(settings, args, printer),
        Command::Rollback(args) => rollback::run(settings, args, printer),
    }
}

//! Command-line definitions and one file per subcommand. Each subcommand only gathers its
//! inputs and calls into the engine; nothing here decides how a deploy works.

mod apply;
mod args;
mod canary;
mod ci;
mod completions;
mod deploy;
pub mod generate;
mod history;
mod hooks;
mod inputs;
mod rollback;
mod route;
mod runtime;
mod saved_plan;
mod status;
pub mod status_report;
mod unlock;
mod world;

use std::collections::HashMap;

use clap::Parser;

pub use args::{
    Cli, Command, CompletionsArgs, DeployArgs, GlobalArgs, HistoryArgs, OutputFormat, RollbackArgs,
    RouteArgs, ServiceArgs, StatusArgs, UnlockArgs,
};

use crate::error::{Error, exit};
use crate::ui::{Terminal, report_error};
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
    let env: HashMap<String, String> = std::env::vars().collect();
    let terminal = Terminal::detect(cli.global.output, cli.global.non_interactive, &env);
    init_tracing(cli.global.verbose, &env);
    let cli_format = cli.global.output;
    match run(cli, &env, &terminal) {
        Ok(()) => exit::OK,
        Err(e) => {
            report_error(&e, &terminal);
            // GitHub reads workflow commands from stdout only, which JSON mode keeps NDJSON.
            if env.get("GITHUB_ACTIONS").is_some_and(|v| v == "true")
                && cli_format == OutputFormat::Text
            {
                println!("{}", ci::error_annotation(&e.to_string()));
            }
            e.exit_code()
        }
    }
}

/// Dispatches to the subcommand.
pub fn run(cli: Cli, env: &HashMap<String, String>, terminal: &Terminal) -> Result<(), Error> {
    let global = &cli.global;
    match &cli.command {
        Command::Plan(args) => deploy::run(global, args, true, env, terminal),
        Command::Deploy(args) => deploy::run(global, args, false, env, terminal),
        Command::Promote(args) => canary::run(CanaryAction::Promote, global, args, env, terminal),
        Command::Abort(args) => canary::run(CanaryAction::Abort, global, args, env, terminal),
        Command::History(args) => history::run(global, args, env, terminal),
        Command::Unlock(args) => unlock::run(global, args, env, terminal),
        Command::Route(args) => route::run(global, args, env, terminal),
        Command::Completions(args) => completions::run(args),
        Command::Status(args) => status::run(global, args, env, terminal),
        Command::Rollback(args) => rollback::run(global, args, env, terminal),
    }
}

/// `-v` raises the log level; `RUST_LOG` wins when set. Logs go to stderr.
fn init_tracing(verbose: u8, env: &HashMap<String, String>) {
    let default = match verbose {
        0 => "warn",
        1 => "shipctl=info",
        _ => "shipctl=debug",
    };
    let filter = env
        .get("RUST_LOG")
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

//! The zero-downtime benchmark's load generator and report.
//!
//! `run` sends GET requests at a fixed rate (open loop: a request is due every 1/rate
//! seconds whether or not earlier ones answered) and writes one line per request; `report`
//! slices those lines into the benchmark's scenarios and prints the table and timelines.

mod args;
mod load;
mod record;
mod report;
mod scenario;

use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return Err(args::USAGE.to_string());
    }
    match args.remove(0).as_str() {
        "run" => load::run(&args::LoadArgs::parse(&args)?),
        "report" => report::run(&args::ReportArgs::parse(&args)?),
        "-h" | "--help" => {
            println!("{}", args::USAGE);
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{}", args::USAGE)),
    }
}

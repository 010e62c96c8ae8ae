//! Command-line arguments, parsed by hand: the crate has no dependencies so that the
//! benchmark builds it in seconds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage:
  loadgen run --target HOST:PORT --rate N --out FILE --until FILE [--path /version]
              [--workers N] [--timeout SECONDS]
      GET http://HOST:PORT/PATH N times a second, each on a new connection, until FILE exists;
      one line per request in the output FILE.
  loadgen report --requests FILE --marks FILE [--json FILE]
      the benchmark's tables and timelines (Markdown) from the requests and the scenario marks;
      with --json, every scenario's figures also as JSON in that file.";

pub struct LoadArgs {
    pub target: SocketAddr,
    pub path: String,
    pub rate: f64,
    pub out: PathBuf,
    pub until: PathBuf,
    pub workers: usize,
    pub timeout: Duration,
}

pub struct ReportArgs {
    pub requests: PathBuf,
    pub marks: PathBuf,
    pub json: Option<PathBuf>,
}

/// `--name value` pairs; every option takes a value.
fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    if !args.len().is_multiple_of(2) {
        return Err(format!("every option takes a value\n{USAGE}"));
    }
    Ok(args
        .chunks(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect())
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name} {value:?}: not a number"))
}

impl LoadArgs {
    pub fn parse(args: &[String]) -> Result<LoadArgs, String> {
        let (mut target, mut rate, mut out, mut until) = (None, None, None, None);
        let mut path = "/version".to_string();
        let mut workers = 128;
        let mut timeout = Duration::from_secs(5);
        for (name, value) in pairs(args)? {
            match name {
                "--target" => {
                    let addr = value
                        .to_socket_addrs()
                        .map_err(|e| format!("--target {value:?}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("--target {value:?}: no address"))?;
                    target = Some(addr);
                }
                "--rate" => rate = Some(number::<f64>(name, value)?),
                "--out" => out = Some(PathBuf::from(value)),
                "--until" => until = Some(PathBuf::from(value)),
                "--path" => path = value.to_string(),
                "--workers" => workers = number(name, value)?,
                "--timeout" => timeout = Duration::from_secs_f64(number(name, value)?),
                _ => return Err(format!("unknown option {name}\n{USAGE}")),
            }
        }
        let missing = |n: &str| format!("{n} is required\n{USAGE}");
        let rate = rate.ok_or_else(|| missing("--rate"))?;
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err(format!("--rate {rate}: must be between 0 and 100000"));
        }
        if workers == 0 {
            return Err("--workers must be at least 1".to_string());
        }
        Ok(LoadArgs {
            target: target.ok_or_else(|| missing("--target"))?,
            path,
            rate,
            out: out.ok_or_else(|| missing("--out"))?,
            until: until.ok_or_else(|| missing("--until"))?,
            workers,
            timeout,
        })
    }
}

impl ReportArgs {
    pub fn parse(args: &[String]) -> Result<ReportArgs, String> {
        let (mut requests, mut marks, mut json) = (None, None, None);
        for (name, value) in pairs(args)? {
            match name {
                "--requests" => requests = Some(PathBuf::from(value)),
                "--marks" => marks = Some(PathBuf::from(value)),
                "--json" => json = Some(PathBuf::from(value)),
                _ => return Err(format!("unknown option {name}\n{USAGE}")),
            }
        }
        Ok(ReportArgs {
            requests: requests.ok_or_else(|| format!("--requests is required\n{USAGE}"))?,
            marks: marks.ok_or_else(|| format!("--marks is required\n{USAGE}"))?,
            json,
        })
    }
}

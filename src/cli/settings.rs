//! Flags and environment -> [`Settings`] and the [`Terminal`], once per command.

use std::collections::HashMap;
use std::time::Duration;

use super::GlobalArgs;
use crate::error::Error;
use crate::session::Settings;
use crate::ui::Terminal;

pub fn resolve(global: &GlobalArgs) -> Result<(Settings, Terminal), Error> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let terminal = Terminal::detect(global.output, global.non_interactive, &env);
    let cwd = std::env::current_dir().map_err(|e| {
        Error::usage(
            format!("cannot read the working directory: {e}"),
            "cd into your project",
        )
    })?;
    let docker_host = global
        .host
        .clone()
        .or_else(|| env.get("DOCKER_HOST").cloned());
    let settings = Settings {
        cwd,
        compose_files: global.files.clone(),
        project: global.project.clone(),
        spec: global.spec.clone(),
        env_file: global.env_file.clone(),
        docker_host,
        kv_url: global.kv.clone(),
        yes: global.yes,
        env,
    };
    Ok((settings, terminal))
}

/// A duration flag such as `--lock-wait 2m`.
pub fn duration_flag(flag: &str, text: &str) -> Result<Duration, Error> {
    crate::spec::duration::parse(text).map_err(|e| {
        Error::usage(
            format!("invalid {flag} `{text}`: {e}"),
            "write a duration like `30s` or `2m`",
        )
    })
}

/// `-v` raises the log level; `RUST_LOG` wins when set. Logs go to stderr.
pub fn init_tracing(verbose: u8, settings: &Settings) {
    let default = match verbose {
        0 => "warn",
        1 => "shipctl=info",
        _ => "shipctl=debug",
    };
    let filter = settings
        .var("RUST_LOG")
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

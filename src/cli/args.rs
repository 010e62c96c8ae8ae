//! The command line, as clap sees it. Completions and the man page are generated from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::spec::Strategy;
use crate::ui::OutputFormat;

/// Zero-downtime blue-green, canary and rolling deploys on Docker Swarm.
///
/// shipctl plans every step, gates each on health, flips the routing keys atomically and can
/// always go back. Every command can show its plan without touching anything.
#[derive(Debug, Parser)]
#[command(name = "shipctl", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Compose file(s); repeat to merge like `docker compose -f a -f b`
    /// [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml,
    /// docker-compose.yml]
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the
    /// compose file's directory name]
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    pub project: Option<String>,

    /// Strategy spec [default: shipctl.yaml if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub spec: Option<PathBuf>,

    /// Variables file for interpolation [default: .env next to the first compose file]
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]
    #[arg(short = 'H', long, global = true, value_name = "URL")]
    pub host: Option<String>,

    /// KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT,
    /// etcd://HOST:PORT [default: spec `kv.url`, else swarm://]
    #[arg(long, global = true, value_name = "URL")]
    pub kv: Option<String>,

    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Answer yes to every confirmation
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Never prompt (implied when stdin is not a terminal or CI is set)
    #[arg(long, global = true)]
    pub non_interactive: bool,

    /// More detail (-v, -vv); RUST_LOG works too
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `deploy` would do, without touching anything (same as `deploy --dry-run`)
    Plan(DeployArgs),
    /// Deploy new versions of services with zero downtime
    Deploy(DeployArgs),
    /// Show each service's active zone, versions, health, traffic and locks
    Status(StatusArgs),
    /// Finish a canary: new zone to full, flip the keys, drain the old zone
    Promote(ServiceArgs),
    /// Undo a canary: old zone back to full, traffic to the old version, new zone to 0
    Abort(ServiceArgs),
    /// Go back to an earlier version of a service, or of the whole stack (warm zones are
    /// instant)
    Rollback(RollbackArgs),
    /// Show the project's releases, or the deploy history of a service
    History(HistoryArgs),
    /// Keep a router config (nginx, HAProxy) in line with the routing keys
    Route(RouteArgs),
    /// Break a deploy lock left by someone else
    Unlock(UnlockArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
}

/// Options of `deploy` and `plan`.
#[derive(Debug, Args, Clone, Default)]
pub struct DeployArgs {
    /// Services to deploy [default: every service in the compose files]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// The version to deploy; sets IMAGE_VERSION (and BLUE_/GREEN_IMAGE_VERSION) or
    /// replaces the image tag
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// How to move traffic [default: spec, else blue-green]
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,

    /// Canary: replicas of the new version
    #[arg(long, value_name = "N")]
    pub new: Option<u64>,

    /// Canary: replicas of the old version kept alongside
    #[arg(long, value_name = "N")]
    pub old: Option<u64>,

    /// Rolling: replicas moved per batch
    #[arg(long, value_name = "N")]
    pub step: Option<u64>,

    /// Full replica count of a zone [default: spec, else compose deploy.replicas, else 1]
    #[arg(long, value_name = "N")]
    pub replicas: Option<u64>,

    /// Canary: promote at the end instead of leaving the canary running
    #[arg(long)]
    pub promote: bool,

    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Plan against this state instead of reading the cluster, e.g. `blue@1.3.0`, `none`,
    /// `web=blue@1.3.0,api=green@2.0`
    #[arg(long, value_name = "STATE")]
    pub assume_state: Option<String>,

    /// Save the plan as JSON (with `plan`)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Apply a plan saved with `plan --out`; refused if the cluster changed since
    #[arg(long, value_name = "FILE", conflicts_with_all = ["services", "version", "strategy", "assume_state"])]
    pub plan: Option<PathBuf>,

    /// Wait this long for another deploy's lock instead of failing (e.g. 2m)
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,

    /// A note stored with the lock and the history record
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ServiceArgs {
    /// The service
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,

    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// A note stored with the lock and the history record
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// Services to show [default: all]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Redraw live on a terminal
    #[arg(long)]
    pub watch: bool,

    /// Exit 0 only once every service is settled and healthy
    #[arg(long)]
    pub wait: bool,

    /// How long `--wait` waits (e.g. 2m)
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub timeout: String,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    /// The service [default: the whole stack, back to before its latest release]
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,

    /// With SERVICE: the version to go back to. Without: the release whose versions to go
    /// back to (its id from `shipctl history`) [default: ask on a terminal]
    #[arg(long, value_name = "VERSION|RELEASE")]
    pub to: Option<String>,

    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// The service [default: the project's releases, newest first]
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,

    /// How many records to show
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args, Clone)]
pub struct RouteArgs {
    /// Services to route [default: every service in the compose files]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Built-in template or a template file
    #[arg(long, value_name = "nginx|haproxy|FILE", default_value = "nginx")]
    pub template: String,

    /// Where to write the rendered config
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Command that reloads the router after a change
    #[arg(long, value_name = "CMD")]
    pub reload: Option<String>,

    /// Command that validates a rendered file first (`{file}` is replaced)
    #[arg(long, value_name = "CMD")]
    pub check: Option<String>,

    /// Render once and exit
    #[arg(long)]
    pub once: bool,

    /// Address the router listens on (template variable `listen`)
    #[arg(long, value_name = "ADDR", default_value = "80")]
    pub listen: String,

    /// Port of the tasks that get the traffic (template variable `port`) [default: the
    /// service's first `ports:` target, else 80]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// How often the zone tasks are read (the keys are watched)
    #[arg(long, value_name = "DURATION", default_value = "250ms")]
    pub interval: String,

    /// An extra template variable, available as `vars.KEY`; repeatable
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,

    /// This router's name: it registers as `{router key}/ID` and deploys wait for every live
    /// router [default: host name, config file name and a hash of its path]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// How often the registration is rewritten; a deploy stops waiting for a router whose
    /// registration did not change for three heartbeats
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub heartbeat: String,
}

#[derive(Debug, Args, Clone)]
pub struct UnlockArgs {
    /// The service whose deploy lock to break
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

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

    /// Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON,
    /// whatever --output says: a CI job keeps readable logs and a file for programs
    #[arg(long, global = true, value_name = "FILE")]
    pub events: Option<PathBuf>,

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
    /// Write a commented shipctl.yaml for the compose files: a strategy per service with the
    /// reason, health gates from their healthchecks, the KV keys
    Init(InitArgs),
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

    /// Start and stop a zone's tasks at most N at a time, each started batch gated healthy
    /// before the next [default: spec `task_batch`, else all at once]
    #[arg(long, value_name = "N")]
    pub task_batch: Option<u64>,

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

    /// Start and gate at most N services of a release at once [default: the spec's
    /// `release.parallel`, else 32]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: Option<u64>,

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

    /// Print Markdown for a CI summary, an issue or a merge request: the table, then the
    /// newest runs as Mermaid charts of their steps and traffic (GitHub and GitLab draw them)
    #[arg(long, conflicts_with = "output")]
    pub markdown: bool,
}

#[derive(Debug, Args, Clone)]
#[command(disable_help_subcommand = true)]
pub struct RouteArgs {
    #[command(subcommand)]
    pub action: Option<RouteAction>,

    /// Services to route [default: every service in the compose files]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Built-in template or a template file
    #[arg(long, value_name = "nginx|haproxy|caddy|FILE", default_value = "nginx")]
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
    #[arg(long, value_name = "ID", env = "SHIPCTL_ROUTE_ID")]
    pub id: Option<String>,

    /// How often the registration is rewritten; a deploy stops waiting for a router whose
    /// registration did not change for three heartbeats
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub heartbeat: String,

    /// How traffic reaches the tasks: `auto` takes a task's host-mode port at its node's address
    /// (or its container's bridge address) when it publishes one, `overlay` always its address
    /// on the stack's network (a router in a container)
    #[arg(long, value_enum, default_value_t = ViaArg::Auto)]
    pub via: ViaArg,

    /// Run the router program (e.g. `nginx -g 'daemon off;'`) once the first config is
    /// installed, as `sh -c 'exec CMD'` (one program, so that signals reach it); `route` exits
    /// when it exits, and stops it (SIGTERM) when `route` stops
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Serve per-zone traffic counters on `GET http://ADDR/metrics` (Prometheus text), e.g.
    /// 127.0.0.1:9180, taken from one log line per request that the rendered config sends to
    /// `--stats-syslog`; the URL is advertised in the registration [default: off]
    #[arg(long, value_name = "IP:PORT")]
    pub stats_listen: Option<String>,

    /// Where the router sends its log lines with `--stats-listen` (UDP syslog; template
    /// variable `stats_syslog`) [default: 127.0.0.1 on a free port]
    #[arg(long, value_name = "IP:PORT", requires = "stats_listen")]
    pub stats_syslog: Option<String>,

    /// The host name in the advertised stats URL [default: the `--stats-listen` address, or the
    /// host name when it listens on every address]
    #[arg(long, value_name = "HOST", requires = "stats_listen")]
    pub stats_advertise: Option<String>,
    /// HAProxy's stats socket (template variable `haproxy_socket`, declared `level admin` by
    /// the built-in template): weight and task changes that keep the config's shape go through
    /// its runtime API, without a reload; the file is still written
    #[arg(long, value_name = "PATH")]
    pub haproxy_socket: Option<PathBuf>,

    /// Caddy's admin API, e.g. http://127.0.0.1:2019 (template variable `caddy_admin`, its
    /// HOST:PORT, which the built-in template keeps as `admin.listen`): each changed config is
    /// loaded there with `POST /load` instead of a reload command; the file is still written
    #[arg(long, value_name = "URL", conflicts_with = "reload")]
    pub caddy_admin: Option<String>,

    /// The services to route as `route deploy` resolved them (JSON), instead of reading the
    /// compose files and the spec; needs `--project`
    #[arg(long, value_name = "JSON")]
    pub targets_json: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ViaArg {
    Auto,
    Overlay,
}

#[derive(Debug, Subcommand, Clone)]
pub enum RouteAction {
    /// Run the router (shipctl route with nginx or HAProxy) as a Swarm service in front of
    /// the stack
    Deploy(Box<RouteDeployArgs>),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RouterMode {
    /// One router per node (where the constraints allow)
    Global,
    /// `--replicas` routers
    Replicated,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RouterProxy {
    Nginx,
    Haproxy,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PortMode {
    /// On each node that runs a router (works without the routing mesh)
    Host,
    /// Through the routing mesh, on every node
    Ingress,
}

#[derive(Debug, Args, Clone)]
pub struct RouteDeployArgs {
    /// Services to route [default: every service in the compose files]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// The router image (docker/router.Dockerfile)
    #[arg(long, value_name = "IMAGE", default_value = "shipctl-router")]
    pub image: String,

    /// The router service's name [default: {project}_router]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The proxy that serves the traffic
    #[arg(long, value_enum, default_value_t = RouterProxy::Nginx)]
    pub proxy: RouterProxy,

    /// One router per node, or a number of replicas
    #[arg(long, value_enum, default_value_t = RouterMode::Global)]
    pub mode: RouterMode,

    /// Routers in replicated mode
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub replicas: u64,

    /// Port published on the nodes (repeatable; none: reach the routers over the network)
    #[arg(long, value_name = "PORT")]
    pub publish: Vec<u16>,

    /// How the ports are published
    #[arg(long, value_enum, default_value_t = PortMode::Host)]
    pub publish_mode: PortMode,

    /// Placement constraint, e.g. `node.labels.edge == true` (repeatable)
    #[arg(long, value_name = "EXPR")]
    pub constraint: Vec<String>,

    /// How the routers reach a manager's API, e.g. tcp://manager:2376 (with `--env
    /// DOCKER_TLS_VERIFY=1` and certificates); without it they mount the manager's socket and
    /// run on managers
    #[arg(long, value_name = "URL")]
    pub router_docker_host: Option<String>,

    /// With the socket: a group id that may use it (e.g. the `docker` group's); without it
    /// the routers run as root in their containers
    #[arg(long, value_name = "GID")]
    pub socket_gid: Option<u32>,

    /// Another network for the routers to join besides the services' own, e.g. one where a
    /// socket proxy serves a manager's API (repeatable)
    #[arg(long, value_name = "NAME")]
    pub network: Vec<String>,

    /// The KV store as the routers reach it [default: the one this command uses]
    #[arg(long, value_name = "URL")]
    pub router_kv: Option<String>,

    /// An environment variable for the routers, e.g. CONSUL_HTTP_TOKEN=… (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Port of the tasks that get the traffic [default: the service's first `ports:` target,
    /// else 80]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// How often each router rewrites its registration
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub heartbeat: String,

    /// How often each router reads the zone tasks
    #[arg(long, value_name = "DURATION", default_value = "250ms")]
    pub interval: String,

    /// Print the service spec (JSON) and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct UnlockArgs {
    /// The service whose deploy lock to break
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Replace an existing spec file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

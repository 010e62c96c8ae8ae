//! The router loop: follow the routing keys (KV watch) and the zone tasks (polled), re-render
//! on change, install only what passes `--check`, reload only when the file changed, then
//! report what is served under `{service}-router` and in this router's registration
//! `{service}-router/{id}`, rewritten every heartbeat and deleted on a clean shutdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::caddy;
use super::context::{KeyValues, RouteContext, Via, ZoneTasks, runtime_shape, service_view};
use super::event::{RouteEvent, RouteSink};
use super::haproxy;
use super::install::{self, CommandFailure};
use super::program::Program;
use super::registration::{Registry, write_batched};
use super::render::{Renderer, TemplateError};
use super::stats::{self, Stats, StatsSockets, stats_url};
use super::target::RouteTarget;
use crate::ports::{
    Cluster, ClusterError, KeyWrite, NodeAddresses, RouterReport, TaskInfo, TaskState,
};
use crate::ports::{Kv, KvError, traffic, values};

/// How long one KV watch blocks before it is renewed.
const WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The shortest time between two watches that saw no change.
const MIN_WATCH: Duration = Duration::from_millis(100);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How the router runs.
#[derive(Debug, Clone)]
pub struct RouteOptions {
    pub project: String,
    pub config: PathBuf,
    pub check: Option<String>,
    pub reload: Option<String>,
    pub once: bool,
    /// How often the zone tasks are read.
    pub interval: Duration,
    pub listen: String,
    /// Default target port (`--port`); each target carries its own.
    pub port: u16,
    pub vars: BTreeMap<String, String>,
    /// This router's id: its registrations are `{router key}/{id}`.
    pub id: String,
    /// How often the registrations are rewritten.
    pub heartbeat: Duration,
    /// How traffic reaches the tasks (`--via`).
    pub via: Via,
    /// The router program to run once the first config is installed (`--exec`); the loop
    /// ends when it exits, and stops it when the loop ends.
    pub exec: Option<String>,
    /// Per-zone traffic counters (`--stats-listen`); none by default.
    pub stats: Option<StatsOptions>,
    /// HAProxy's admin socket (`--haproxy-socket`): weights and slots change there without a
    /// reload when the config keeps its shape.
    pub haproxy_socket: Option<PathBuf>,
    /// Caddy's admin API (`--caddy-admin`, `http://HOST:PORT`): each changed config is loaded
    /// there (`POST /load`) instead of running a reload command.
    pub caddy_admin: Option<String>,
}

/// Where the traffic counters are taken and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsOptions {
    /// `GET /metrics` is served here (`--stats-listen`).
    pub listen: String,
    /// The UDP address the router's log lines come to (`--stats-syslog`); port 0 picks one.
    pub syslog: String,
    /// The host name in the registered `stats_url` (`--stats-advertise`).
    pub advertise: Option<String>,
}

/// Why `--once` failed (the loop reports these as events and goes on).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("the rendered config failed the check, nothing was installed: {0}")]
    Check(String),
    #[error("the config was installed but the reload failed: {0}")]
    Reload(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] KvError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("the router program `{command}` {reason}")]
    Program { command: String, reason: String },
    #[error("cannot serve the traffic statistics: {0}")]
    Stats(String),
}

/// Runs the router until `cancel` (or once, with `options.once`).
pub async fn run(
    kv: Arc<dyn Kv>,
    cluster: &dyn Cluster,
    targets: &[RouteTarget],
    renderer: &Renderer,
    options: &RouteOptions,
    sink: &dyn RouteSink,
    cancel: CancellationToken,
) -> Result<(), RouteError> {
    let mut router = Router {
        kv: kv.clone(),
        targets,
        renderer,
        options,
        sink,
        // An unchanged file on disk needs no reload after a restart of the router.
        installed: std::fs::read_to_string(&options.config).ok(),
        refused: None,
        reload_pending: false,
        report_pending: false,
        published: HashMap::new(),
        last_context: None,
        last_problem: None,
        registry: None,
        program: None,
        stats: None,
        stats_syslog: None,
        running: None,
        reloads: 0,
        runtime_changes: 0,
        nodes: NodeAddresses::default(),
        asked: BTreeSet::new(),
    };
    // Bound before the first render: the config names the syslog port actually taken.
    let stats_setup = match (&options.stats, options.once) {
        (Some(o), false) => {
            let sockets = StatsSockets::bind(&o.listen, &o.syslog)
                .await
                .map_err(|e| RouteError::Stats(e.to_string()))?;
            let (http, syslog) = sockets
                .http_addr()
                .and_then(|h| Ok((h, sockets.syslog_addr()?)))
                .map_err(|e| RouteError::Stats(e.to_string()))?;
            router.stats_syslog = Some(syslog.to_string());
            let url = stats_url(http, o.advertise.as_deref());
            Some((Stats::new(&options.project), sockets, url))
        }
        _ => None,
    };
    if options.once {
        // A single render registers nothing: no heartbeat would follow it.
        let keys = read_keys(kv.as_ref(), targets).await?;
        let tasks = read_tasks(cluster, targets).await?;
        router.learn_nodes(cluster, &tasks).await;
        let context = router.context(&keys, &tasks);
        return router.apply(&context, &keys).await;
    }

    let mut registry = Registry::new(kv.clone(), &options.id, options.heartbeat, targets);
    let (stats, stats_sockets) = match stats_setup {
        Some((stats, sockets, url)) => {
            sink.emit(&RouteEvent::StatsServed {
                url: url.clone(),
                syslog: router.stats_syslog.clone().unwrap_or_default(),
            });
            registry.set_stats_url(url);
            (Some(stats), Some(sockets))
        }
        None => (None, None),
    };
    router.stats = stats.clone();
    sink.emit(&RouteEvent::Registered {
        id: options.id.clone(),
        keys: registry.keys().to_vec(),
        heartbeat_ms: millis(options.heartbeat),
    });
    router.registry = Some(&registry);
    let stop_beats = CancellationToken::new();
    // One task for all: the heartbeats and the counters go on while a reload command runs.
    let (result, (), ()) = tokio::join!(
        async {
            let result = serve(&mut router, cluster, cancel).await;
            stop_beats.cancel();
            result
        },
        registry.heartbeats(sink, stop_beats.clone()),
        async {
            if let (Some(stats), Some(sockets)) = (&stats, stats_sockets) {
                stats::serve(stats, sockets, sink, stop_beats.clone()).await;
            }
        },
    );
    // Both loops have ended: no write can follow the delete.
    registry.deregister(sink).await;
    // Stopped only now: it served until no deploy waited for it any more.
    if let Some(program) = router.program.take() {
        let command = program.command.clone();
        let status = program.stop().await;
        sink.emit(&RouteEvent::Exited { command, status });
    }
    result
}

/// The loop of [`run`] until `cancel`.
async fn serve(
    router: &mut Router<'_>,
    cluster: &dyn Cluster,
    cancel: CancellationToken,
) -> Result<(), RouteError> {
    let (kv, targets, options) = (router.kv.clone(), router.targets, router.options);
    let all_keys: Vec<String> = targets
        .iter()
        .flat_map(|t| t.keys().map(str::to_string))
        .collect();
    let (tx, mut rx) = watch::channel(Signal::default());
    let watcher_cancel = cancel.child_token();
    tokio::spawn(watch_keys(kv.clone(), all_keys, tx, watcher_cancel.clone()));
    let _stop_watcher = watcher_cancel.drop_guard();

    let mut keys: Option<BTreeMap<String, KeyValues>> = None;
    let mut keys_dirty = true;
    let mut key_retry = Backoff::default();
    let mut tasks: Option<BTreeMap<String, Vec<TaskInfo>>> = None;
    let mut retry = Backoff::default();
    let mut watching = true;
    while !cancel.is_cancelled() {
        if let Some(program) = router.program.as_mut()
            && let Some(status) = program.exited()
        {
            let command = program.command.clone();
            router.program = None;
            router.sink.emit(&RouteEvent::Exited {
                command: command.clone(),
                status: status.clone(),
            });
            return Err(RouteError::Program {
                command,
                reason: format!("exited ({status})"),
            });
        }
        if keys_dirty && key_retry.due() {
            match read_keys(kv.as_ref(), targets).await {
                Ok(k) => {
                    // A hostile or broken value is never rendered: the last good keys stay
                    // until the next change of the keys.
                    match refused_keys(targets, &k) {
                        Some((service, message)) => {
                            router.problem(RouteEvent::KeysRefused { service, message });
                        }
                        None => keys = Some(k),
                    }
                    keys_dirty = false;
                    key_retry.reset();
                }
                Err(e) => {
                    let wait = key_retry.fail();
                    router.store_failed(&e, wait);
                }
            }
        }
        match read_tasks(cluster, targets).await {
            Ok(t) => {
                router.learn_nodes(cluster, &t).await;
                tasks = Some(t);
            }
            Err(e) => router.problem(RouteEvent::ClusterFailed {
                message: e.to_string(),
            }),
        }
        if let (Some(keys), Some(tasks)) = (&keys, &tasks) {
            let context = router.context(keys, tasks);
            let changed = router.last_context.as_ref() != Some(&context);
            if changed || (router.pending() && retry.due()) {
                match router.apply(&context, keys).await {
                    Ok(()) => retry.reset(),
                    Err(RouteError::Store(e)) => {
                        let wait = retry.fail();
                        router.store_failed(&e, wait);
                    }
                    // Without its program the router serves nothing: stop, and let the
                    // supervisor (Swarm) start it again.
                    Err(e @ RouteError::Program { .. }) => return Err(e),
                    // Already reported as events: wait for the next change or retry.
                    Err(_) => {
                        retry.fail();
                    }
                }
                if let Some(stats) = &router.stats {
                    stats.learn(&context);
                }
                router.last_context = Some(context);
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(options.interval) => {}
            changed = rx.changed(), if watching => match changed {
                Ok(()) => {
                    let signal = rx.borrow_and_update().clone();
                    match signal.error {
                        Some((message, retry_ms)) => {
                            router.problem(RouteEvent::StoreFailed { message, retry_ms });
                        }
                        None => {
                            keys_dirty = true;
                            key_retry.reset();
                        }
                    }
                }
                // The watcher only ends when we stop; fall back to polling meanwhile.
                Err(_) => watching = false,
            },
        }
    }
    Ok(())
}

/// What the KV watcher tells the loop: a key changed (`error` empty) or the store failed.
#[derive(Debug, Clone, Default)]
struct Signal {
    error: Option<(String, u64)>,
}

async fn watch_keys(
    kv: Arc<dyn Kv>,
    keys: Vec<String>,
    tx: watch::Sender<Signal>,
    cancel: CancellationToken,
) {
    let mut since = 0;
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            () = cancel.cancelled() => return,
            r = kv.watch(&keys, since, WATCH_TIMEOUT) => r,
        };
        match result {
            Ok(index) => {
                backoff.reset();
                // A store that answers at once without a change must not make this spin.
                if index == since && started.elapsed() < MIN_WATCH {
                    tokio::time::sleep(MIN_WATCH).await;
                }
                if index != since {
                    since = index;
                    let _ = tx.send(Signal { error: None });
                }
            }
            Err(e) => {
                // Start over once the store is back: its index may have been reset.
                since = 0;
                let wait = backoff.fail();
                let _ = tx.send(Signal {
                    error: Some((e.to_string(), millis(wait))),
                });
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

struct Router<'a> {
    kv: Arc<dyn Kv>,
    targets: &'a [RouteTarget],
    renderer: &'a Renderer,
    options: &'a RouteOptions,
    sink: &'a dyn RouteSink,
    /// The text of the installed config.
    installed: Option<String>,
    /// The last output the check refused (not checked again until the output changes).
    refused: Option<String>,
    reload_pending: bool,
    /// A report could not be written; retried with backoff.
    report_pending: bool,
    /// The keys last reported per service.
    published: HashMap<String, BTreeMap<String, String>>,
    last_context: Option<RouteContext>,
    /// The last error reported, so a persisting one is not repeated every poll.
    last_problem: Option<RouteEvent>,
    /// This router's registrations (none with `--once`).
    registry: Option<&'a Registry>,
    /// The running `--exec` program.
    program: Option<Program>,
    /// The traffic counters, taught the names of each new context.
    stats: Option<Stats>,
    /// The template variable `stats_syslog`.
    stats_syslog: Option<String>,
    /// The context the running router was last given (reloaded, started or changed at run
    /// time): what the runtime API changes start from.
    running: Option<RouteContext>,
    reloads: u64,
    runtime_changes: u64,
    /// The nodes' addresses and this node's containers on its bridges, for `--via auto`.
    nodes: NodeAddresses,
    /// The containers `nodes` was looked up for (found there or not).
    asked: BTreeSet<String>,
}

impl Router<'_> {
    /// Looks up the nodes' addresses and this node's bridges when a running task with a
    /// host-mode port appears that was not looked up yet: while the tasks stay the same, the
    /// engine is not asked again.
    async fn learn_nodes(
        &mut self,
        cluster: &dyn Cluster,
        tasks: &BTreeMap<String, Vec<TaskInfo>>,
    ) {
        if self.options.via != Via::Auto {
            return;
        }
        let candidates: BTreeSet<&str> = tasks
            .values()
            .flatten()
            .filter(|t| t.state == TaskState::Running && !t.host_ports.is_empty())
            .filter_map(|t| t.container_id.as_deref())
            .collect();
        // Containers that are gone are forgotten: the set stays the size of the tasks.
        self.asked.retain(|id| candidates.contains(id.as_str()));
        if candidates.iter().all(|id| self.asked.contains(*id)) {
            return;
        }
        match cluster.node_addresses().await {
            Ok(nodes) => {
                self.nodes = nodes;
                self.asked
                    .extend(candidates.into_iter().map(str::to_string));
            }
            // Asked again at the next look; the new tasks are reached through 127.0.0.1
            // meanwhile, as without the lookup.
            Err(e) => self.problem(RouteEvent::ClusterFailed {
                message: e.to_string(),
            }),
        }
    }

    fn context(
        &self,
        keys: &BTreeMap<String, KeyValues>,
        tasks: &BTreeMap<String, Vec<TaskInfo>>,
    ) -> RouteContext {
        let services = self
            .targets
            .iter()
            .map(|t| {
                let zones: Vec<ZoneTasks> = t
                    .zones
                    .iter()
                    .map(|(zone, name)| ZoneTasks {
                        zone: zone.clone(),
                        service_name: name.clone(),
                        tasks: tasks.get(name).cloned().unwrap_or_default(),
                    })
                    .collect();
                let values = keys.get(&t.service).cloned().unwrap_or_default();
                service_view(
                    &self.options.project,
                    &t.service,
                    &values,
                    &zones,
                    t.port,
                    self.options.via,
                    &self.nodes,
                )
            })
            .collect();
        RouteContext {
            project: self.options.project.clone(),
            listen: self.options.listen.clone(),
            port: self.options.port,
            vars: self.options.vars.clone(),
            stats_syslog: self.stats_syslog.clone(),
            haproxy_socket: self
                .options
                .haproxy_socket
                .as_ref()
                .map(|p| p.display().to_string()),
            caddy_admin: self
                .options
                .caddy_admin
                .as_deref()
                .and_then(|url| caddy::admin_listen(url).ok()),
            services,
        }
    }

    /// Something left to do for the current inputs: a reload or a report that failed.
    fn pending(&self) -> bool {
        self.reload_pending || self.report_pending
    }

    /// Renders, checks, installs, reloads and reports.
    async fn apply(
        &mut self,
        context: &RouteContext,
        keys: &BTreeMap<String, KeyValues>,
    ) -> Result<(), RouteError> {
        let file = self.options.config.display().to_string();
        let output = match self.renderer.render(context) {
            Ok(o) => o,
            Err(e) => {
                self.problem(RouteEvent::TemplateFailed {
                    message: e.to_string(),
                });
                return Err(e.into());
            }
        };
        let summary = summarize(context);
        for s in &context.services {
            if s.servers.is_empty() {
                self.problem(RouteEvent::Warning {
                    message: format!("{}: no running task gets traffic", s.name),
                });
            } else if self.renderer.name() == "caddy"
                && let Some(served) = caddy::served_split(s)
            {
                self.problem(RouteEvent::Warning {
                    message: format!(
                        "{}: Caddy 2.6 cannot weight its upstreams: the split {} is served as \
                         {served}, the ratio of the tasks",
                        s.name,
                        s.traffic.as_deref().unwrap_or("asked for")
                    ),
                });
            }
        }
        if self.installed.as_deref() != Some(output.as_str()) {
            if self.refused.as_deref() == Some(output.as_str()) {
                return Err(RouteError::Check("unchanged since the last refusal".into()));
            }
            let runtime = self.runtime_commands(context);
            self.install(&output).await?;
            self.sink.emit(&RouteEvent::Rendered {
                file,
                changed: true,
                services: summary,
            });
            let changed_at_run_time = match runtime {
                Some(commands) => self.change_at_run_time(&commands).await,
                None => false,
            };
            if !changed_at_run_time {
                self.reload_pending =
                    self.options.reload.is_some() || self.options.caddy_admin.is_some();
            }
        } else if self.last_context.as_ref() != Some(context) {
            self.sink.emit(&RouteEvent::Rendered {
                file,
                changed: false,
                services: summary,
            });
        }
        let mut reloaded = false;
        if let Some(command) = &self.options.exec
            && self.program.is_none()
            && self.installed.is_some()
            && !self.options.once
        {
            // The program reads the config as it starts: no reload before or right after.
            let program = Program::start(command).map_err(|e| RouteError::Program {
                command: command.clone(),
                reason: format!("cannot start: {e}"),
            })?;
            self.sink.emit(&RouteEvent::Started {
                command: command.clone(),
                pid: program.pid,
            });
            self.program = Some(program);
            self.reload_pending = false;
            reloaded = true;
        }
        let start = Instant::now();
        if self.reload_pending
            && let Some((command, result)) = self.reload(&output).await
        {
            match result {
                Ok(()) => {
                    self.reload_pending = false;
                    reloaded = true;
                    self.reloads += 1;
                    self.sink.emit(&RouteEvent::Reloaded {
                        command: command.clone(),
                        elapsed_ms: millis(start.elapsed()),
                    });
                }
                Err(CommandFailure { output }) => {
                    self.problem(RouteEvent::ReloadFailed {
                        command: command.clone(),
                        output: output.clone(),
                    });
                    return Err(RouteError::Reload(output));
                }
            }
        }
        self.last_problem = None;
        if !self.reload_pending {
            self.running = Some(context.clone());
        }
        self.report(keys, reloaded).await
    }

    /// Reloads the router: loads `output` into Caddy's admin API with `--caddy-admin`, else
    /// runs `--reload`; `None` when there is neither. The command as reported, and how it went.
    async fn reload(&self, output: &str) -> Option<(String, Result<(), CommandFailure>)> {
        if let Some(admin) = &self.options.caddy_admin {
            let result = caddy::load(admin, output)
                .await
                .map_err(|output| CommandFailure { output });
            return Some((caddy::load_command(admin), result));
        }
        let command = self.options.reload.clone()?;
        let result = install::run_command(&command, &self.options.config).await;
        Some((command, result))
    }

    /// The runtime API commands that take the running HAProxy to `context`, when it has a
    /// socket and the new config keeps the running one's shape; `None` when a reload is needed.
    fn runtime_commands(&self, context: &RouteContext) -> Option<Vec<String>> {
        self.options.haproxy_socket.as_ref()?;
        let running = self.running.as_ref()?;
        if self.reload_pending || (self.program.is_none() && self.options.exec.is_some()) {
            return None;
        }
        // Comments (the active zone and version the built-in template notes) change nothing
        // HAProxy does; a template that uses those values in a directive still reloads.
        let same = without_comments(&self.renderer.render(&runtime_shape(running)).ok()?)
            == without_comments(&self.renderer.render(&runtime_shape(context)).ok()?);
        same.then(|| haproxy::runtime_commands(running, context))
    }

    /// Sends `commands` to HAProxy; false (and a warning) when it refused them: the caller
    /// reloads instead. No command (only comments changed) needs nothing.
    async fn change_at_run_time(&mut self, commands: &[String]) -> bool {
        let Some(socket) = self.options.haproxy_socket.clone() else {
            return false;
        };
        if commands.is_empty() {
            return true;
        }
        let start = Instant::now();
        match haproxy::send(&socket, commands).await {
            Ok(()) => {
                self.runtime_changes += 1;
                self.sink.emit(&RouteEvent::RuntimeChanged {
                    socket: socket.display().to_string(),
                    commands: commands.to_vec(),
                    elapsed_ms: millis(start.elapsed()),
                    changes: self.runtime_changes,
                    reloads: self.reloads,
                });
                true
            }
            Err(e) => {
                self.sink.emit(&RouteEvent::Warning {
                    message: format!(
                        "HAProxy's runtime API refused the change ({e}); reloading instead"
                    ),
                });
                false
            }
        }
    }

    /// Writes the temp file, checks it and moves it in place; the installed file is never
    /// touched by an output that fails.
    async fn install(&mut self, output: &str) -> Result<(), RouteError> {
        let config = &self.options.config;
        let write_error = |e: std::io::Error| RouteError::Write {
            path: config.display().to_string(),
            reason: e.to_string(),
        };
        // Held until this output is installed or refused: another router on the same file
        // waits instead of renaming over it in between. Taken off the async threads, so the
        // heartbeats go on while the other router's check runs.
        let path = config.clone();
        let taken = tokio::task::spawn_blocking(move || install::ConfigLock::take(&path))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        let _lock = match taken {
            Ok(lock) => lock,
            Err(e) => {
                let e = write_error(e);
                self.problem(RouteEvent::Warning {
                    message: e.to_string(),
                });
                return Err(e);
            }
        };
        let temp = match install::write_temp(config, output) {
            Ok(t) => t,
            Err(e) => {
                let e = write_error(e);
                self.problem(RouteEvent::Warning {
                    message: e.to_string(),
                });
                return Err(e);
            }
        };
        if let Some(check) = &self.options.check
            && let Err(CommandFailure { output: failure }) =
                install::run_command(check, &temp).await
        {
            let _ = std::fs::remove_file(&temp);
            self.refused = Some(output.to_string());
            self.problem(RouteEvent::CheckFailed {
                command: check.clone(),
                output: failure.clone(),
            });
            return Err(RouteError::Check(failure));
        }
        if let Err(e) = install::install(&temp, config) {
            let _ = std::fs::remove_file(&temp);
            let e = write_error(e);
            self.problem(RouteEvent::Warning {
                message: e.to_string(),
            });
            return Err(e);
        }
        self.refused = None;
        self.installed = Some(output.to_string());
        Ok(())
    }

    /// Tells `deploy` which key values the live config was rendered from: in the
    /// registration when they changed or the router reloaded, and in the single router key
    /// (read by deploys that know no registrations) when they changed.
    async fn report(
        &mut self,
        keys: &BTreeMap<String, KeyValues>,
        reloaded: bool,
    ) -> Result<(), RouteError> {
        let result = self.write_reports(keys, reloaded).await;
        // A failed write is retried with backoff, with the keys as they are then.
        self.report_pending = result.is_err();
        result
    }

    /// Every report of this round goes out in one write: the registrations and the router
    /// keys of the services whose keys changed, however many services this router serves.
    async fn write_reports(
        &mut self,
        keys: &BTreeMap<String, KeyValues>,
        reloaded: bool,
    ) -> Result<(), RouteError> {
        let reloaded_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let mut registrations = Vec::new();
        let mut router_keys = Vec::new();
        let mut changed = Vec::new();
        for target in self.targets {
            let values = keys.get(&target.service).cloned().unwrap_or_default();
            let served: BTreeMap<String, String> = target
                .keys()
                .into_iter()
                .zip([values.active_zone, values.active_version, values.traffic])
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .collect();
            let unchanged = self.published.get(&target.service) == Some(&served);
            if unchanged && !reloaded {
                continue;
            }
            let report = RouterReport {
                keys: served.clone(),
                reloaded_at: Some(reloaded_at.clone()),
                id: Some(self.options.id.clone()),
                ..RouterReport::default()
            };
            if !unchanged {
                router_keys.push(KeyWrite {
                    key: target.router_key.clone(),
                    value: serde_json::to_string(&report).unwrap_or_default(),
                });
                changed.push((target, served));
            }
            registrations.push((target.router_key.clone(), report));
        }
        match self.registry {
            Some(registry) => registry.publish(registrations, &router_keys).await?,
            None => write_batched(self.kv.as_ref(), &router_keys).await?,
        }
        for (target, served) in changed {
            self.published.insert(target.service.clone(), served);
            self.sink.emit(&RouteEvent::Reported {
                service: target.service.clone(),
                key: target.router_key.clone(),
            });
        }
        Ok(())
    }

    fn store_failed(&mut self, e: &KvError, wait: Duration) {
        // Each retry is reported: the backoff already spaces them out.
        self.last_problem = None;
        self.problem(RouteEvent::StoreFailed {
            message: e.to_string(),
            retry_ms: millis(wait),
        });
    }

    /// Emits a problem unless it is the one already reported.
    fn problem(&mut self, event: RouteEvent) {
        if self.last_problem.as_ref() != Some(&event) {
            self.sink.emit(&event);
            self.last_problem = Some(event);
        }
    }
}

/// `web: green 1.1.0 (blue=0,green=100), 2 servers`
fn summarize(context: &RouteContext) -> Vec<String> {
    context
        .services
        .iter()
        .map(|s| {
            let mut line = format!("{}: {}", s.name, s.active_zone.as_deref().unwrap_or("none"));
            if let Some(v) = &s.active_version {
                line.push(' ');
                line.push_str(v);
            }
            if let Some(t) = &s.traffic {
                line.push_str(&format!(" ({t})"));
            }
            let n = s.servers.len();
            line.push_str(&format!(", {n} server{}", if n == 1 { "" } else { "s" }));
            line
        })
        .collect()
}

/// The first service whose keys hold a value shipctl would never write, and why.
fn refused_keys(
    targets: &[RouteTarget],
    keys: &BTreeMap<String, KeyValues>,
) -> Option<(String, String)> {
    for t in targets {
        let Some(values) = keys.get(&t.service) else {
            continue;
        };
        let zones: Vec<&str> = t.zones.iter().map(|(z, _)| z.as_str()).collect();
        let checks = [
            values.active_zone.as_deref().map(|v| {
                values::check_zone(v, &zones).map_err(|e| format!("{}: {e}", t.active_zone_key))
            }),
            values.active_version.as_deref().map(|v| {
                values::check_version(v).map_err(|e| format!("{}: {e}", t.active_version_key))
            }),
            values
                .traffic
                .as_deref()
                .map(|v| traffic::check(v, &zones).map_err(|e| format!("{}: {e}", t.traffic_key))),
        ];
        if let Some(Err(message)) = checks.into_iter().flatten().find(Result::is_err) {
            return Some((t.service.clone(), message));
        }
    }
    None
}

/// The routing keys of every target in one read of the store, however many services.
async fn read_keys(
    kv: &dyn Kv,
    targets: &[RouteTarget],
) -> Result<BTreeMap<String, KeyValues>, KvError> {
    let names: Vec<String> = targets
        .iter()
        .flat_map(|t| t.keys().map(str::to_string))
        .collect();
    let entries = kv.get_many(&names).await?;
    if entries.len() != names.len() {
        return Err(KvError::Other(format!(
            "{} answered {} of {} keys",
            kv.describe(),
            entries.len(),
            names.len()
        )));
    }
    let mut values = entries.into_iter().map(|e| e.map(|e| e.value));
    let mut all = BTreeMap::new();
    for t in targets {
        // In the order of `RouteTarget::keys`.
        let mut next = || values.next().flatten();
        let (active_zone, active_version, traffic) = (next(), next(), next());
        all.insert(
            t.service.clone(),
            KeyValues {
                active_zone,
                active_version,
                traffic,
            },
        );
    }
    Ok(all)
}

async fn read_tasks(
    cluster: &dyn Cluster,
    targets: &[RouteTarget],
) -> Result<BTreeMap<String, Vec<TaskInfo>>, ClusterError> {
    let names: Vec<String> = targets
        .iter()
        .flat_map(|t| t.zones.iter().map(|(_, name)| name.clone()))
        .collect();
    // Every zone of every service in one list: the manager sees one request per tick, however
    // many services the router serves.
    let mut all = BTreeMap::new();
    for (name, answer) in cluster.tasks_of(&names).await {
        let tasks = match answer {
            Ok(t) => t,
            // A zone that was never created has no tasks.
            Err(ClusterError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        all.insert(name, tasks);
    }
    Ok(all)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Exponential backoff between retries: 250 ms doubling to 5 s.
#[derive(Default)]
struct Backoff {
    wait: Option<Duration>,
    until: Option<Instant>,
}

impl Backoff {
    fn due(&self) -> bool {
        self.until.is_none_or(|u| Instant::now() >= u)
    }

    fn fail(&mut self) -> Duration {
        let wait = self.wait.map_or(BACKOFF_MIN, |w| (w * 2).min(BACKOFF_MAX));
        self.wait = Some(wait);
        self.until = Some(Instant::now() + wait);
        wait
    }

    fn reset(&mut self) {
        self.wait = None;
        self.until = None;
    }
}

/// A rendered HAProxy config without its comment lines and blank lines.
fn without_comments(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_changed_comment_is_not_a_change_of_shape() {
        let a = "# web: active blue (1.0.0)\nbackend web\n    server blue-1 127.0.0.1:9 weight 0\n";
        let b =
            "# web: active green (1.1.0)\n\nbackend web\n    server blue-1 127.0.0.1:9 weight 0\n";
        assert_eq!(super::without_comments(a), super::without_comments(b));
        let c = "backend web\n    use_backend green\n";
        assert_ne!(super::without_comments(a), super::without_comments(c));
    }

    use super::super::target::test_target;
    use super::*;
    use crate::exec::fake::FakeKv;

    struct Quiet;

    impl RouteSink for Quiet {
        fn emit(&self, _: &RouteEvent) {}
    }

    fn options() -> RouteOptions {
        RouteOptions {
            project: "p".into(),
            config: PathBuf::from("/nonexistent/router.conf"),
            check: None,
            reload: None,
            once: false,
            interval: Duration::from_secs(1),
            listen: "127.0.0.1:8080".into(),
            port: 80,
            vars: BTreeMap::new(),
            id: "lb1".into(),
            heartbeat: Duration::from_secs(2),
            via: Via::Auto,
            exec: None,
            stats: None,
            haproxy_socket: None,
            caddy_admin: None,
        }
    }

    fn router<'a>(
        kv: Arc<dyn Kv>,
        targets: &'a [RouteTarget],
        renderer: &'a Renderer,
        options: &'a RouteOptions,
        registry: Option<&'a Registry>,
    ) -> Router<'a> {
        Router {
            kv,
            targets,
            renderer,
            options,
            sink: &Quiet,
            installed: None,
            refused: None,
            reload_pending: false,
            report_pending: false,
            published: HashMap::new(),
            last_context: None,
            last_problem: None,
            registry,
            program: None,
            stats: None,
            stats_syslog: None,
            running: None,
            reloads: 0,
            runtime_changes: 0,
            nodes: NodeAddresses::default(),
            asked: BTreeSet::new(),
        }
    }

    /// A node's engine as the router's lookup sees it: only `node_addresses`, counted.
    struct Nodes {
        nodes: NodeAddresses,
        lookups: std::sync::atomic::AtomicUsize,
        /// Lookups left that fail.
        failures: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Cluster for Nodes {
        async fn observe_zones(
            &self,
            _: &str,
            _: &str,
            _: &[(String, String)],
        ) -> Result<indexmap::IndexMap<String, crate::ports::ZoneState>, ClusterError> {
            unreachable!("a router does not observe zones")
        }
        async fn ensure_network(
            &self,
            _: &str,
            _: &crate::compose::model::Network,
        ) -> Result<(), ClusterError> {
            unreachable!("a router creates no network")
        }
        async fn apply_zone(&self, _: &crate::ports::ZoneTarget) -> Result<(), ClusterError> {
            unreachable!("a router changes no service")
        }
        async fn scale(&self, _: &str, _: u64) -> Result<(), ClusterError> {
            unreachable!("a router changes no service")
        }
        async fn revert(&self, _: &str) -> Result<(), ClusterError> {
            unreachable!("a router changes no service")
        }
        async fn tasks(&self, _: &str) -> Result<Vec<TaskInfo>, ClusterError> {
            unreachable!("the test gives the tasks")
        }
        async fn node_addresses(&self) -> Result<NodeAddresses, ClusterError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.lookups.fetch_add(1, SeqCst);
            if self
                .failures
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(ClusterError::Api("GET /nodes: HTTP 500".into()));
            }
            Ok(self.nodes.clone())
        }
    }

    fn running(id: &str, node: &str, container: &str) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some("1.0.0".into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: Some(node.into()),
            container_id: Some(container.into()),
            addresses: vec!["10.0.1.2".into()],
            host_ports: vec![(80, 30001)],
            updated_at: None,
            created_at: None,
        }
    }

    #[tokio::test]
    async fn the_nodes_are_looked_up_only_when_a_task_appears() {
        let kv: Arc<dyn Kv> = Arc::new(FakeKv::alone());
        let targets = services(1);
        let renderer = Renderer::from_text("t", String::new()).expect("template");
        let options = options();
        let mut router = router(kv, &targets, &renderer, &options, None);
        let engine = Nodes {
            nodes: NodeAddresses {
                nodes: [
                    ("here".to_string(), "127.0.0.1".to_string()),
                    ("there".to_string(), "192.168.1.12".to_string()),
                ]
                .into(),
                bridges: [("c1".to_string(), "172.18.0.3".to_string())].into(),
            },
            lookups: 0.into(),
            failures: 1.into(),
        };
        let lookups = || engine.lookups.load(std::sync::atomic::Ordering::SeqCst);
        let zone = targets[0].zones[0].1.clone();
        let tasks = |list: Vec<TaskInfo>| BTreeMap::from([(zone.clone(), list)]);

        router
            .learn_nodes(&engine, &tasks(vec![running("t1", "here", "c1")]))
            .await;
        assert_eq!(lookups(), 1, "the first task is looked up");
        assert_eq!(router.nodes, NodeAddresses::default(), "the lookup failed");
        router
            .learn_nodes(&engine, &tasks(vec![running("t1", "here", "c1")]))
            .await;
        assert_eq!(lookups(), 2, "a failed lookup is made again");
        assert_eq!(router.nodes, engine.nodes);
        for _ in 0..3 {
            router
                .learn_nodes(&engine, &tasks(vec![running("t1", "here", "c1")]))
                .await;
        }
        assert_eq!(lookups(), 2, "the same tasks ask nothing");
        let more = tasks(vec![
            running("t1", "here", "c1"),
            running("t2", "there", "c2"),
            running("t3", "gone", "c3"),
        ]);
        router.learn_nodes(&engine, &more).await;
        assert_eq!(lookups(), 3, "new tasks are looked up, together");
        let context = router.context(&zones(&targets, "blue"), &more);
        let served: Vec<_> = context.services[0]
            .servers
            .iter()
            .map(|s| s.target.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            served,
            ["127.0.0.1:30001", "172.18.0.3:80", "192.168.1.12:30001"]
        );
    }

    fn services(n: usize) -> Vec<RouteTarget> {
        (0..n).map(|i| test_target(&format!("s{i}"))).collect()
    }

    fn zones(targets: &[RouteTarget], zone: &str) -> BTreeMap<String, KeyValues> {
        targets
            .iter()
            .map(|t| {
                let values = KeyValues {
                    active_zone: Some(zone.to_string()),
                    ..KeyValues::default()
                };
                (t.service.clone(), values)
            })
            .collect()
    }

    #[tokio::test]
    async fn one_read_gets_the_keys_of_every_service() {
        let kv = FakeKv::alone();
        let targets = services(50);
        kv.set("s3-active-zone", "blue");
        kv.set("s3-traffic", "blue=100");
        kv.set("s7-active-version", "1.2.0");
        let keys = read_keys(&kv, &targets).await.expect("read");
        assert_eq!(kv.requests(), vec!["get_many 150"]);
        assert_eq!(keys.len(), 50);
        let s3 = KeyValues {
            active_zone: Some("blue".into()),
            active_version: None,
            traffic: Some("blue=100".into()),
        };
        assert_eq!(keys["s3"], s3);
        assert_eq!(keys["s7"].active_version.as_deref(), Some("1.2.0"));
        assert_eq!(keys["s0"], KeyValues::default());
    }

    #[tokio::test]
    async fn a_report_round_is_one_write_and_router_keys_follow_only_changed_keys() {
        let kv = Arc::new(FakeKv::alone());
        let targets = services(20);
        let options = options();
        let renderer = Renderer::from_text("t", String::new()).expect("template");
        let registry = Registry::new(kv.clone(), "lb1", options.heartbeat, &targets);
        let mut router = router(kv.clone(), &targets, &renderer, &options, Some(&registry));
        let blue = zones(&targets, "blue");
        router.write_reports(&blue, false).await.expect("report");
        assert_eq!(
            kv.requests(),
            vec!["write 40"],
            "20 registrations, 20 router keys"
        );
        let report: RouterReport =
            serde_json::from_str(&kv.value("s4-router").expect("router key")).expect("report");
        assert_eq!(
            report.keys.get("s4-active-zone").map(String::as_str),
            Some("blue")
        );
        assert!(kv.value("s4-router/lb1").is_some(), "registered");

        router.write_reports(&blue, false).await.expect("report");
        assert!(
            kv.requests().is_empty(),
            "nothing changed, nothing reloaded"
        );

        let before = kv.value("s4-router");
        router.write_reports(&blue, true).await.expect("report");
        assert_eq!(
            kv.requests(),
            vec!["write 20"],
            "a reload: registrations only"
        );
        assert_eq!(kv.value("s4-router"), before);

        let mut one_changed = blue.clone();
        one_changed.insert("s4".into(), zones(&targets[4..5], "green")["s4"].clone());
        router
            .write_reports(&one_changed, false)
            .await
            .expect("report");
        assert_eq!(kv.requests(), vec!["write 2"]);
        let report: RouterReport =
            serde_json::from_str(&kv.value("s4-router").expect("router key")).expect("report");
        assert_eq!(
            report.keys.get("s4-active-zone").map(String::as_str),
            Some("green")
        );
    }

    #[tokio::test]
    async fn without_registrations_the_router_keys_are_one_write_within_the_store_limit() {
        let kv = Arc::new(FakeKv::alone());
        kv.limit_atomic_ops(8);
        let targets = services(20);
        let options = options();
        let renderer = Renderer::from_text("t", String::new()).expect("template");
        let mut router = router(kv.clone(), &targets, &renderer, &options, None);
        router
            .write_reports(&zones(&targets, "blue"), false)
            .await
            .expect("report");
        assert_eq!(kv.requests(), vec!["write 8", "write 8", "write 4"]);
        assert!(kv.value("s19-router").is_some());
        assert_eq!(kv.value("s19-router/lb1"), None, "--once registers nothing");
    }
}

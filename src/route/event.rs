//! What the router reports while it runs. The UI renders these; `route` never prints.

use serde::Serialize;

/// One thing that happened, serialised as one NDJSON object (`{"event":"rendered",...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RouteEvent {
    /// The inputs changed and the template was rendered.
    Rendered {
        file: String,
        /// False when the output equals the installed file (nothing installed or reloaded).
        changed: bool,
        /// One line per service: `web: green 1.1.0 (green=100), 2 servers`.
        services: Vec<String>,
    },
    /// The reload command succeeded.
    Reloaded { command: String, elapsed_ms: u64 },
    /// HAProxy took the change through its runtime API: the file was written, no reload.
    /// `changes` and `reloads` count those of this process so far.
    RuntimeChanged {
        socket: String,
        commands: Vec<String>,
        elapsed_ms: u64,
        changes: u64,
        reloads: u64,
    },
    /// The check command refused the rendered file; the installed file is unchanged.
    CheckFailed { command: String, output: String },
    /// The reload command failed; it is retried.
    ReloadFailed { command: String, output: String },
    /// The template could not be rendered; the installed file is unchanged.
    TemplateFailed { message: String },
    /// The report that `deploy` waits for was written.
    Reported { service: String, key: String },
    /// The router registered (`{router key}/{id}` per service): deploys wait for it while
    /// it rewrites these keys every heartbeat.
    Registered {
        id: String,
        keys: Vec<String>,
        heartbeat_ms: u64,
    },
    /// A clean shutdown deleted the registrations: deploys no longer wait for this router.
    Deregistered { keys: Vec<String> },
    /// The KV store failed; the last good config stays in place.
    StoreFailed { message: String, retry_ms: u64 },
    /// A key holds a value shipctl never writes (not a zone, not a version, not a split): it
    /// never reaches the config, and the last good keys stay in use.
    KeysRefused { service: String, message: String },
    /// The cluster could not be read; the last known tasks are used.
    ClusterFailed { message: String },
    /// The router program of `--exec` started, after the first config was installed.
    Started { command: String, pid: u32 },
    /// The router program of `--exec` exited (on its own or when asked to stop).
    Exited { command: String, status: String },
    /// The traffic counters are served at `url` (advertised in the registrations), from the
    /// router's log lines sent to `syslog`.
    StatsServed { url: String, syslog: String },
    /// Something the user should know.
    Warning { message: String },
}

/// Receives router events.
pub trait RouteSink: Send + Sync {
    fn emit(&self, event: &RouteEvent);
}

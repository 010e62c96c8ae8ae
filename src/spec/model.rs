//! The strategy spec after validation, and the policy that applies to one service.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use super::analysis::{
    Analysis, AnalysisOverrides, Comparison, Condition, Metric, Provider, RouterQuery, Unit,
};
pub use super::notify::{NotifyEvent, NotifyTarget};

/// How a service moves to a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    BlueGreen,
    Canary,
    Rolling,
    /// One Swarm service updated by Swarm itself, for what must never run twice side by side.
    InPlace,
}

/// What to do when a health gate fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// New zone back to 0, keys untouched (default without a terminal).
    Rollback,
    /// Leave everything as it is and stop; `promote`/`abort` decide later.
    Pause,
    /// Ask on the terminal (default on a terminal).
    Prompt,
}

/// The validated `shipctl.yaml` (or the defaults when there is none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub project: Option<String>,
    /// The two zone names, `[blue, green]` by default.
    pub zones: [String; 2],
    /// Template of a zone's Swarm service name: `{project}_{service}-{zone}`.
    pub service_name: String,
    pub kv: KvSettings,
    /// Settings for every service, overridden per service in `services:`.
    pub defaults: Policy,
    /// Per-service policies, already merged over `defaults`.
    pub services: IndexMap<String, Policy>,
    pub hooks: Hooks,
    /// How the services of one run move together (`release:`).
    #[serde(default)]
    pub release: ReleaseSettings,
    /// Webhooks told about each phase of a run (`notify:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyTarget>,
}

/// `release:` in the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSettings {
    /// At most this many services start and are gated at once (`--parallel` overrides).
    pub parallel: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvSettings {
    /// `swarm://`, `consul://host:port`, `consul+https://...`, `etcd://host:port`.
    pub url: String,
    pub keys: KeyTemplates,
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub lock_ttl: Duration,
    /// How many deploy records `history` keeps.
    pub history_limit: usize,
}

/// Templates of the KV keys; `{service}` and `{project}` are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTemplates {
    pub active_zone: String,
    pub active_version: String,
    pub traffic: String,
    pub lock: String,
    pub history: String,
    /// Where an unfinished deploy records its progress (for resume).
    pub progress: String,
    /// The project that owns the keys above: no other project may act on them.
    pub owner: String,
    /// Where `shipctl route` reports what it serves.
    pub router: String,
    /// The project's release records (one per run, every service it changed); `{project}`
    /// only.
    #[serde(default = "default_releases")]
    pub releases: String,
}

fn default_releases() -> String {
    KeyTemplates::default().releases
}

/// Where the keys live: under the project by default, or the classic consul-template names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLayout {
    /// `{project}/{service}-active-zone`: two projects never share a key.
    Project,
    /// `{service}-active-zone`, as the classic consul-template + nginx setup reads them.
    Classic,
}

impl KeyTemplates {
    pub fn for_layout(layout: KeyLayout) -> KeyTemplates {
        let prefix = match layout {
            KeyLayout::Project => "{project}/{service}",
            KeyLayout::Classic => "{service}",
        };
        let key = |name: &str| format!("{prefix}-{name}");
        KeyTemplates {
            active_zone: key("active-zone"),
            active_version: key("active-version"),
            traffic: key("traffic"),
            lock: key("lock"),
            history: key("history"),
            progress: key("progress"),
            owner: key("owner"),
            router: key("router"),
            // Per project in both layouts: a release spans the services of one project.
            releases: match layout {
                KeyLayout::Project => "{project}/releases".to_string(),
                KeyLayout::Classic => "{project}-releases".to_string(),
            },
        }
    }

    /// The key of `project`'s release records.
    pub fn for_releases(&self, project: &str) -> String {
        super::placeholders::fill(&self.releases, &[("project", project)])
    }

    /// The template of a key kept beside `active_zone` (`owner`, `router`): the active-zone
    /// key with its last word replaced, so it lives wherever the user put the others.
    pub fn beside_active_zone(&self, word: &str) -> String {
        for suffix in ["active-zone", "active_zone", "zone"] {
            if let Some(stem) = self.active_zone.strip_suffix(suffix) {
                return format!("{stem}{word}");
            }
        }
        format!("{}-{word}", self.active_zone)
    }
}

impl Default for KeyTemplates {
    fn default() -> Self {
        KeyTemplates::for_layout(KeyLayout::Project)
    }
}

/// The concrete KV keys of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceKeys {
    pub active_zone: String,
    pub active_version: String,
    pub traffic: String,
    pub lock: String,
    pub history: String,
    pub progress: String,
    pub owner: String,
    pub router: String,
}

impl KeyTemplates {
    pub fn for_service(&self, project: &str, service: &str) -> ServiceKeys {
        let values = [("service", service), ("project", project)];
        let fill = |t: &str| super::placeholders::fill(t, &values);
        ServiceKeys {
            active_zone: fill(&self.active_zone),
            active_version: fill(&self.active_version),
            traffic: fill(&self.traffic),
            lock: fill(&self.lock),
            history: fill(&self.history),
            progress: fill(&self.progress),
            owner: fill(&self.owner),
            router: fill(&self.router),
        }
    }
}

/// Everything that decides how one service is deployed, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub strategy: Strategy,
    /// Full replica count of a zone; `None` = compose `deploy.replicas`, else 1.
    pub replicas: Option<u64>,
    pub canary: Canary,
    pub rolling: Rolling,
    /// Start a zone at most this many tasks at a time, each batch gated healthy before the
    /// next starts, and stop the old zone as many at a time (`None` = all at once). Spreads
    /// the cost of starting and stopping containers on a small cluster, at the price of a
    /// longer deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_batch: Option<u64>,
    pub health: Health,
    pub drain: Drain,
    /// `None` = prompt on a terminal, roll back otherwise.
    pub on_failure: Option<OnFailure>,
    /// Canary: promote at the end instead of leaving the canary running.
    pub promote: bool,
    /// Deploy a service that would run in place (a read-write named volume, global mode, an
    /// ingress port) as two zones anyway.
    pub allow_zoned: bool,
    /// Metrics that judge the new zone by its traffic: after each canary step, and during the
    /// bake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// After the switch, keep the old zone warm this long while the new one serves (and is
    /// analysed); a failure switches the keys back at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::yaml::duration::serde_opt_duration"
    )]
    pub bake: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// Replicas of the new version in the first canary step.
    pub new: u64,
    /// Replicas of the old version kept in the first canary step (`None` = full - new).
    pub old: Option<u64>,
    pub steps: Vec<CanaryStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryStep {
    /// Scale both zones; traffic follows the replica ratio.
    Scale { new: u64, old: u64 },
    /// Wait this long (health still watched), then go on.
    Pause {
        #[serde(with = "crate::yaml::duration::serde_duration")]
        duration: Duration,
    },
    /// Stop until `shipctl promote` (or `abort`).
    PauseUntilPromoted,
    /// Run the service's analysis here, with these settings over its own.
    Analysis(AnalysisOverrides),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rolling {
    /// Replicas moved per batch.
    pub step: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// How long a zone may take to become healthy.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub timeout: Duration,
    /// How long the tasks must stay healthy before the gate passes.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub min_healthy: Duration,
    /// A stall with no progress for this long fails the deploy with a named cause.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub progress_deadline: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<HttpProbe>,
}

/// An HTTP check against each task of the zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpProbe {
    pub path: String,
    pub port: u16,
    /// Accepted status (default 200).
    pub expect_status: u16,
    /// Text the body must contain, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<String>,
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub interval: Duration,
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drain {
    /// Time between the flip and scaling the old zone down, for in-flight requests.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub time: Duration,
    /// Wait until `shipctl route` reports it serves the new keys before draining.
    pub wait_for_router: bool,
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub router_timeout: Duration,
}

/// Commands run around a deploy (`hooks:` in the spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_deploy: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_switch: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_deploy: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_failure: Vec<String>,
    /// How long one hook command may run before it is killed and counts as failed.
    #[serde(
        default = "default_hook_timeout",
        with = "crate::yaml::duration::serde_duration"
    )]
    pub timeout: Duration,
}

/// A hook that hangs (a health check of a dependency that never answers) must not hold the
/// deploy lock forever.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(600);

fn default_hook_timeout() -> Duration {
    DEFAULT_HOOK_TIMEOUT
}

impl Default for Hooks {
    fn default() -> Hooks {
        Hooks {
            pre_deploy: Vec::new(),
            post_switch: Vec::new(),
            post_deploy: Vec::new(),
            on_failure: Vec::new(),
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

/// Flags given on the command line; they win over the spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    pub strategy: Option<Strategy>,
    pub new: Option<u64>,
    pub old: Option<u64>,
    pub step: Option<u64>,
    pub replicas: Option<u64>,
    pub promote: bool,
    /// `--task-batch`: over the spec's `task_batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_batch: Option<u64>,
}

//! The built-in defaults: what a deploy does with no `shipctl.yaml` at all.

use std::time::Duration;

use indexmap::IndexMap;

use super::model::{
    Canary, Drain, Health, Hooks, KeyTemplates, KvSettings, Policy, ReleaseSettings, Rolling, Spec,
    Strategy,
};

/// Default zone names.
pub const ZONES: [&str; 2] = ["blue", "green"];
/// Default template of a zone's Swarm service name.
pub const SERVICE_NAME: &str = "{project}_{service}-{zone}";
/// The zone name of a service deployed in place (one Swarm service, no zones); never a zone
/// of the spec.
pub const IN_PLACE: &str = "in-place";
/// Default KV backend: labels on the Swarm itself, nothing else to run.
pub const KV_URL: &str = "swarm://";
pub const LOCK_TTL: Duration = Duration::from_secs(30);
pub const HISTORY_LIMIT: usize = 50;

impl Default for Spec {
    fn default() -> Self {
        Spec {
            project: None,
            zones: ZONES.map(String::from),
            service_name: SERVICE_NAME.to_string(),
            kv: KvSettings::default(),
            defaults: Policy::default(),
            services: IndexMap::new(),
            hooks: Hooks::default(),
            release: Default::default(),
            notify: Vec::new(),
        }
    }
}

impl Default for KvSettings {
    fn default() -> Self {
        KvSettings {
            url: KV_URL.to_string(),
            keys: KeyTemplates::default(),
            lock_ttl: LOCK_TTL,
            history_limit: HISTORY_LIMIT,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            strategy: Strategy::BlueGreen,
            replicas: None,
            canary: Canary::default(),
            rolling: Rolling::default(),
            task_batch: None,
            health: Health::default(),
            drain: Drain::default(),
            on_failure: None,
            promote: false,
            allow_zoned: false,
            analysis: None,
            bake: None,
        }
    }
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            new: 1,
            old: None,
            steps: Vec::new(),
        }
    }
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling { step: 1 }
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            timeout: Duration::from_secs(120),
            // Long enough to catch a container that crashes right after its first healthcheck,
            // short enough not to slow every deploy down (Nomad's min_healthy_time is 10s).
            min_healthy: Duration::from_secs(5),
            progress_deadline: Duration::from_secs(60),
            probe: None,
        }
    }
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            time: Duration::from_secs(10),
            wait_for_router: false,
            router_timeout: Duration::from_secs(30),
        }
    }
}

/// Services of a release started and gated at once: a typical stack gates all its services
/// at once, while a release of hundreds does not start them all in one burst on the manager.
pub const RELEASE_PARALLEL: usize = 32;

impl Default for ReleaseSettings {
    fn default() -> ReleaseSettings {
        ReleaseSettings {
            parallel: RELEASE_PARALLEL,
        }
    }
}

//! The typed steps of a plan.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ports::KeyWrite;
use crate::spec::model::Analysis;

/// One step and why it is in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    /// Why this step exists, in words a user reads in the plan.
    pub reason: String,
}

/// What a step does. Zones are named (`blue`); `service` is the Swarm service name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create an overlay network the service needs (named as `docker stack deploy` would).
    EnsureNetwork { name: String },
    /// Create the zone's Swarm service from the plan's definition.
    CreateZone {
        zone: String,
        service: String,
        image: String,
        version: String,
        replicas: u64,
    },
    /// Update the zone's service to the plan's definition (new image/version).
    UpdateZone {
        zone: String,
        service: String,
        image: String,
        version: String,
        replicas: u64,
    },
    /// Change only the replica count.
    Scale {
        zone: String,
        service: String,
        replicas: u64,
    },
    /// Wait until `replicas` tasks of `version` run healthy and stay so for `min_healthy`.
    WaitHealthy {
        zone: String,
        service: String,
        replicas: u64,
        version: String,
        #[serde(with = "crate::spec::duration::serde_duration")]
        timeout: Duration,
        #[serde(with = "crate::spec::duration::serde_duration")]
        min_healthy: Duration,
    },
    /// Write these keys in one atomic operation (all or none).
    WriteKeys { writes: Vec<KeyWrite> },
    /// Wait until `zone` runs at most `replicas` tasks: the tasks of a scale-down are gone
    /// before the next batch stops. Waiting longer than `timeout` is no failure: the deploy
    /// goes on.
    WaitStopped {
        zone: String,
        service: String,
        replicas: u64,
        #[serde(with = "crate::spec::duration::serde_duration")]
        timeout: Duration,
    },
    /// Wait until the router reports it serves the new keys.
    WaitRouter {
        #[serde(with = "crate::spec::duration::serde_duration")]
        timeout: Duration,
    },
    /// Let in-flight requests finish before scaling down.
    WaitDrain {
        #[serde(with = "crate::spec::duration::serde_duration")]
        duration: Duration,
    },
    /// Judge `zone` (running `version`) by its traffic: each metric every interval, until
    /// `count` measurements passed, or for the whole `bake` (the old zone is kept warm then, so
    /// a failure switches the keys straight back). A bake without analysis only waits,
    /// watching health.
    Analyze {
        zone: String,
        version: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        analysis: Option<Analysis>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::compose::model::opt_duration"
        )]
        bake: Option<Duration>,
    },
    /// Wait; `None` = until `shipctl promote`.
    Pause {
        #[serde(default, with = "crate::compose::model::opt_duration")]
        duration: Option<Duration>,
    },
}

impl Action {
    /// Create the service of `zone` if it does not exist yet, else update it.
    pub fn deploy(
        exists: bool,
        zone: String,
        service: String,
        image: String,
        version: String,
        replicas: u64,
    ) -> Action {
        if exists {
            Action::UpdateZone {
                zone,
                service,
                image,
                version,
                replicas,
            }
        } else {
            Action::CreateZone {
                zone,
                service,
                image,
                version,
                replicas,
            }
        }
    }
}

//! A plan: everything a deploy will do, as a value.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::{ObservedState, Step};
use crate::compose::model::{Network, SecretOrConfig, Service};
use crate::spec::model::{Policy, ServiceKeys, Strategy};

/// The plan for one command run: one [`ServicePlan`] per service it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub project: String,
    pub services: Vec<ServicePlan>,
    /// Top-level networks the services use, by their compose key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Network>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, SecretOrConfig>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, SecretOrConfig>,
    /// For each service of the plan, the services of the plan it depends on (`depends_on`,
    /// directly or through services left out): a release gates those healthy first. The
    /// services are listed in an order that puts dependencies first.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub needs: IndexMap<String, Vec<String>>,
    /// The state the plan was made from; a saved plan is refused if the cluster moved since.
    pub observed: ObservedState,
    /// Warnings from loading the compose files (fields Swarm ignores, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The salt of the fingerprints that stand for environment values in a plan shown or
    /// saved (see [`super::redact`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_salt: Option<String>,
}

/// What happens to one logical service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePlan {
    /// Logical name (`web`).
    pub service: String,
    pub strategy: Strategy,
    /// Where traffic is now (`None` on a first deploy).
    pub from: Option<ZoneVersion>,
    /// Where traffic will be at the end.
    pub to: ZoneVersion,
    pub keys: ServiceKeys,
    pub policy: Policy,
    /// The definition the target zone gets (image already set to the new version).
    pub definition: Service,
    pub steps: Vec<Step>,
    /// Things the user should know (capacity vs traffic share, unreachable canary, ...).
    pub warnings: Vec<String>,
    /// True when nothing needs to change; `steps` is then empty.
    pub up_to_date: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneVersion {
    pub zone: String,
    pub version: String,
}

impl Plan {
    /// True when no service needs a change.
    pub fn up_to_date(&self) -> bool {
        self.services.iter().all(|s| s.up_to_date)
    }

    /// Every warning of the plan: the plan's own, then each service's, prefixed with its name.
    pub fn all_warnings(&self) -> Vec<String> {
        let mut out = self.warnings.clone();
        for s in &self.services {
            out.extend(s.warnings.iter().map(|w| format!("{}: {w}", s.service)));
        }
        out
    }
}

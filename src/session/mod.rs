//! What every command shares: the inputs, the cluster and the KV store, opened once from the
//! resolved [`Settings`]; and the one way a plan is carried out.
//!
//! ```text
//! Settings -> Session::open (inputs, cluster, KV) -> observe -> pure plan
//!          -> confirm -> locks -> hooks -> executor -> history -> outcome
//! ```
//!
//! Commands in `cli` only say what is specific to them (which plan, which request) and call
//! [`Session::carry_out`]; the terminal is reached only through [`crate::ui::Printer`].

mod apply;
mod hooks;
mod init;
mod inputs;
mod locks;
mod notify;
mod observe;
mod owner;
mod release;
mod runtime;
mod saved_plan;
mod settings;

use std::path::Path;

use crate::error::Error;
use crate::kv;
use crate::plan::ObservedState;
use crate::ports::{Action, Kv, KvError};
use crate::spec::Spec;
use crate::swarm::{self, SwarmCluster};

pub use init::init;
pub use inputs::{Inputs, load as load_inputs, load_spec};
pub use observe::{cluster_error, kv_error};
pub use runtime::{block_on, cancel_on_signals};
pub use saved_plan::{first_change, read_plan, save_plan};
pub use settings::{RunRequest, Settings};

/// One command's connection to the world.
pub struct Session<'s> {
    pub settings: &'s Settings,
    pub cluster: SwarmCluster,
    pub kv: Box<dyn Kv>,
}

impl<'s> Session<'s> {
    /// Connects to the Swarm manager (`-H`, else `DOCKER_HOST`) and the KV store (`--kv`, else
    /// `kv_url` from the spec, else the Swarm itself).
    pub async fn open(settings: &'s Settings, kv_url: &str) -> Result<Session<'s>, Error> {
        let cluster = swarm::connect(settings.docker_host.as_deref())
            .await
            .map_err(cluster_error)?;
        let url = settings.kv_url.as_deref().unwrap_or(kv_url);
        // The engine's clock read when connecting serves the locks of `swarm://` too.
        let kv = kv::connect_with_engine(
            url,
            &settings.env,
            Some(cluster.docker().clone()),
            cluster.engine_clock(),
        )
        .await
        .map_err(|e| match e {
            KvError::Other(message) => Error::usage(message, kv::SCHEMES_HELP),
            other => kv_error(other),
        })?;
        Ok(Session {
            settings,
            cluster,
            kv,
        })
    }

    /// The live state of `services` (logical names) in `project`.
    /// Refuses (exit 2) when another project owns the keys of `services`.
    pub async fn check_owner(
        &self,
        spec: &Spec,
        project: &str,
        services: &[String],
    ) -> Result<(), Error> {
        owner::check(self.kv.as_ref(), spec, project, services, None).await?;
        Ok(())
    }

    pub async fn observe(
        &self,
        project: &str,
        spec: &Spec,
        services: &[String],
    ) -> Result<ObservedState, Error> {
        observe::observe(&self.cluster, self.kv.as_ref(), project, spec, services).await
    }

    /// What a job plans from: its services, and the overlay networks they may use.
    pub async fn observe_for(&self, job: &Job<'_>) -> Result<ObservedState, Error> {
        let mut state = self.observe(job.project, job.spec, &job.services).await?;
        state.networks = observe::networks(&self.cluster, &job.networks).await?;
        Ok(state)
    }
}

/// What a run that may change the cluster is, besides its plan.
pub struct Job<'a> {
    pub action: Action,
    pub request: RunRequest,
    pub project: &'a str,
    pub spec: &'a Spec,
    /// Where hooks run.
    pub spec_dir: &'a Path,
    /// Logical services to observe before planning.
    pub services: Vec<String>,
    /// Overlay networks (full names) whose address space the plan checks.
    pub networks: Vec<String>,
    /// Print the plan and stop.
    pub dry_run: bool,
    /// Where `--out FILE` writes a dry run's plan.
    pub save_to: Option<&'a Path>,
    /// The id of the release this run makes, set once when it starts changing services.
    pub release: std::sync::OnceLock<String>,
}

impl<'a> Job<'a> {
    /// `action` on `services` of the loaded inputs; no lock wait, no dry run.
    pub fn new(action: Action, inputs: &'a Inputs, services: Vec<String>) -> Job<'a> {
        Job {
            action,
            request: RunRequest::default(),
            project: &inputs.project,
            spec: &inputs.spec,
            spec_dir: &inputs.spec_dir,
            services,
            networks: crate::plan::headroom::overlay_names(
                &inputs.project,
                &inputs.compose.networks,
            ),
            dry_run: false,
            save_to: None,
            release: std::sync::OnceLock::new(),
        }
    }
}

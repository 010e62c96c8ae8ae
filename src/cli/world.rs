//! The cluster and the KV store a command talks to.

use std::collections::HashMap;

use super::GlobalArgs;
use crate::error::Error;
use crate::exec::{cluster_error, kv_error};
use crate::kv;
use crate::ports::{Kv, KvError};
use crate::spec::Spec;
use crate::swarm::{self, SwarmCluster};

pub struct World {
    pub cluster: SwarmCluster,
    pub kv: Box<dyn Kv>,
}

impl World {
    /// Connects to the Swarm manager (`-H`, else `DOCKER_HOST`) and the KV store (`--kv`, else
    /// the spec's `kv.url`, else the Swarm itself).
    pub async fn connect(
        global: &GlobalArgs,
        env: &HashMap<String, String>,
        spec: &Spec,
    ) -> Result<World, Error> {
        let host = global
            .host
            .clone()
            .or_else(|| env.get("DOCKER_HOST").cloned());
        let cluster = swarm::connect(host.as_deref())
            .await
            .map_err(cluster_error)?;
        let url = global.kv.clone().unwrap_or_else(|| spec.kv.url.clone());
        let kv = kv::connect_with_docker(&url, env, Some(cluster.docker().clone()))
            .await
            .map_err(|e| match e {
                KvError::Other(message) => Error::usage(message, kv::SCHEMES_HELP),
                other => kv_error(other),
            })?;
        Ok(World { cluster, kv })
    }
}

//! Runs a [`crate::plan::Plan`] step by step against a [`Cluster`] and a [`crate::kv::Kv`].

mod cluster;
mod observe;

pub use cluster::{Cluster, ClusterError, TaskInfo, TaskState, ZoneTarget};
pub use observe::{cluster_error, kv_error, observe, zone_service_name};

//! Runs a [`crate::plan::Plan`] step by step against a [`Cluster`] and a [`crate::kv::Kv`].

mod cluster;

pub use cluster::{Cluster, ClusterError, TaskInfo, TaskState, ZoneTarget};

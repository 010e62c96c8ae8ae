//! shipctl: zero-downtime blue-green, canary and rolling deploys on Docker Swarm.
//!
//! The binary calls [`cli::main`]. The integration tests reach the pure parts (compose loader,
//! spec, planner, plan text) and the adapters (Swarm, KV stores) through the modules below.

pub mod cli;
pub mod compose;
pub mod error;
mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod kv;
mod metrics;
mod parallel;
pub mod plan;
pub mod ports;
mod route;
mod session;
pub mod spec;
pub mod swarm;
pub mod ui;
mod yaml;

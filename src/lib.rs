//! shipctl: zero-downtime blue-green, canary and rolling deploys on Docker Swarm.

pub mod cli;
pub mod compose;
pub mod error;
pub mod exec;
pub mod kv;
pub mod plan;
pub mod ports;
pub mod route;
pub mod spec;
pub mod swarm;
pub mod ui;
pub mod yaml;

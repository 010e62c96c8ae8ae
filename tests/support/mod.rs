//! Helpers shared by the integration tests (one module per external system).
#![allow(dead_code)]

pub mod cli_env;
pub mod docker;

//! Helpers shared by the integration tests (one module per external system).
#![allow(dead_code)]

pub mod ci_tools;
pub mod cli_env;
pub mod consul_double;
pub mod docker;
pub mod etcd;
pub mod images;
pub mod live;
pub mod nodes;
pub mod prereq;
pub mod proxy;
pub mod recorder;
pub mod router;
pub mod stack;
pub mod tls;
pub mod tmux;
pub mod webhook;

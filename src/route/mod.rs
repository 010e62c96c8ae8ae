//! `shipctl route`: renders a router config from the KV keys and zone tasks.
//!
//! [`context`] and [`render`] are pure: values in, text out. [`runner`] is the loop that reads
//! the keys and tasks, installs the rendered file atomically after `--check`, reloads the router
//! and reports what it serves under `{service}-router` and in its registration
//! `{service}-router/{id}` ([`registration`], see [`crate::ports::RouterReport`]).
//!
//! The store sees the same few requests however many services a router serves: one read of
//! every routing key per look ([`crate::ports::Kv::get_many`]), one atomic write per report
//! round and per heartbeat (split only where the store limits the operations per write).

pub mod caddy;
pub mod context;
pub mod event;
pub mod haproxy;
pub mod install;
mod program;
pub mod registration;
pub mod render;
pub mod runner;
pub mod service;
pub mod stats;
pub mod target;

pub use event::{RouteEvent, RouteSink};
pub use render::{Renderer, TemplateSource};
pub use runner::{RouteError, RouteOptions, run};
pub use target::RouteTarget;

//! `shipctl route`: renders a router config from the KV keys and zone tasks.
//!
//! [`context`] and [`render`] are pure: values in, text out. [`runner`] is the loop that reads
//! the keys and tasks, installs the rendered file atomically after `--check`, reloads the router
//! and reports what it serves under `{service}-router` and in its registration
//! `{service}-router/{id}` ([`registration`], see [`crate::ports::RouterReport`]).

pub mod context;
pub mod event;
pub mod install;
mod program;
pub mod registration;
pub mod render;
pub mod runner;
pub mod service;
pub mod target;

pub use event::{RouteEvent, RouteSink};
pub use render::{Renderer, TemplateSource};
pub use runner::{RouteError, RouteOptions, run};
pub use target::RouteTarget;

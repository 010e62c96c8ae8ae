//! Helpers shared by the integration tests (one module per external system).

pub mod docker;

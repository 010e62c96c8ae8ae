//! The single integration-test binary: one module per area.

mod planner;
mod spec_errors;

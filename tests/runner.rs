//! The one integration-test binary: every module below is a group of tests.

mod cli;
mod compose;
mod consul_double;
mod hooks;
mod kv_conformance;
mod planner;
mod rollback;
mod spec_errors;
mod status;
mod support;
mod swarm;

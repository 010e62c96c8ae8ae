//! The one integration-test binary: every module below is a group of tests.

mod canary_counts;
mod cli;
mod compose;
mod consul_double;
mod deploy;
mod fuzz_corpus;
mod hooks;
mod in_place;
mod kv_conformance;
mod kv_deploy;
mod locks;
mod operator;
mod planner;
mod projects;
mod real_stack;
mod rollback;
mod route;
mod saved_plans;
mod spec_errors;
mod status;
mod structure;
mod support;
mod swarm;
mod terminal;
mod zero_downtime;

//! The single integration-test binary: every suite is a module here (one link, one run).

mod support;
mod swarm;

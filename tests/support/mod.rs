//! Helpers shared by the integration tests.

pub mod consul_double;
pub mod etcd;
pub mod prereq;
pub mod tls;

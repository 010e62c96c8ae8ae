//! The one integration-test binary: every module below is a group of tests.

mod consul_double;
mod kv_conformance;
mod support;

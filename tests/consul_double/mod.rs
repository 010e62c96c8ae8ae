//! The Consul double pinned against the documented semantics.

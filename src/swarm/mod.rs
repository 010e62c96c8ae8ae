//! The `Cluster` implementation over Docker Swarm (bollard).

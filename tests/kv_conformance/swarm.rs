//! Swarm-only behaviour of the backend: labels readable with `docker swarm inspect`.

//! Consul-only behaviour of the backend: TLS, ACL tokens, secrets kept out of messages.

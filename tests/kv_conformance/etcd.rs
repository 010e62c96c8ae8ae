//! etcd-only behaviour of the backend: authentication, secrets kept out of messages.

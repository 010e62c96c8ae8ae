//! `shipctl route`: renders a router config from the KV keys and zone tasks.

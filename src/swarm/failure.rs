//! How a failure to reach or talk to the engine is told to the user.

use std::path::Path;

use crate::ports::ClusterError;

/// The engine at `host` did not answer.
pub fn unreachable(host: &str, cause: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable {
        message: format!("cannot reach the Docker engine at {host}: {cause}"),
        help: "start the Docker engine (dockerd), or point -H/--host or DOCKER_HOST at a Swarm \
               manager (e.g. -H ssh://user@manager or -H tcp://manager:2376 with \
               DOCKER_TLS_VERIFY=1)"
            .into(),
    }
}

/// An error and its causes on one line: bollard's own message alone ("error in the hyper legacy
/// client") does not say what went wrong.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Reads a PEM file for the raw client, with the same help as a missing one.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, ClusterError> {
    std::fs::read(path).map_err(|e| ClusterError::Unavailable {
        message: format!("cannot read {}: {e}", path.display()),
        help: "set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem".into(),
    })
}

//! Plain JSON GETs on the engine API, for what bollard's models leave out.
//!
//! bollard's `Task` has no `NetworksAttachments` (Docker's OpenAPI file never declared it), and
//! those hold the task addresses the router needs. So tasks are listed here as raw JSON.

use std::path::Path;
use std::time::Duration;

use super::connect::{chain, read_pem, unreachable};
use crate::exec::ClusterError;

#[derive(Debug, Clone)]
pub enum Raw {
    /// `base` is `http://localhost` for a unix socket, else the engine's own URL.
    Http {
        client: reqwest::Client,
        base: String,
    },
    /// The transport has no plain HTTP path (ssh): callers fall back to bollard.
    None,
}

fn build_error(e: reqwest::Error) -> ClusterError {
    ClusterError::Unavailable {
        message: format!(
            "cannot set up an HTTP client for the Docker engine: {}",
            chain(&e)
        ),
        help: "check DOCKER_HOST and the TLS files in DOCKER_CERT_PATH".into(),
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
}

impl Raw {
    pub fn unix(path: &Path) -> Result<Raw, ClusterError> {
        let client = builder()
            .unix_socket(path.to_path_buf())
            .build()
            .map_err(build_error)?;
        Ok(Raw::Http {
            client,
            base: "http://localhost".into(),
        })
    }

    pub fn http(base: &str) -> Result<Raw, ClusterError> {
        let client = builder().build().map_err(build_error)?;
        Ok(Raw::Http {
            client,
            base: base.to_string(),
        })
    }

    pub fn https(base: &str, cert_dir: &Path) -> Result<Raw, ClusterError> {
        let ca = read_pem(&cert_dir.join("ca.pem"))?;
        let mut identity = read_pem(&cert_dir.join("cert.pem"))?;
        identity.push(b'\n');
        identity.extend(read_pem(&cert_dir.join("key.pem"))?);
        let client = builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).map_err(build_error)?)
            .identity(reqwest::Identity::from_pem(&identity).map_err(build_error)?)
            .build()
            .map_err(build_error)?;
        Ok(Raw::Http {
            client,
            base: base.to_string(),
        })
    }

    /// GETs `path`, with `filters` (Docker's JSON filter map) if any; `Ok(None)` when there is
    /// no HTTP path to the engine. A 404 becomes `NotFound(not_found)`.
    pub async fn get(
        &self,
        host: &str,
        path: &str,
        filters: Option<&serde_json::Value>,
        not_found: &str,
    ) -> Result<Option<serde_json::Value>, ClusterError> {
        let Raw::Http { client, base } = self else {
            return Ok(None);
        };
        let url = match filters {
            Some(f) => format!("{base}{path}?filters={}", percent_encode(&f.to_string())),
            None => format!("{base}{path}"),
        };
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(host, chain(&e)))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            ClusterError::Api(format!("reading GET {path} from {host}: {}", chain(&e)))
        })?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ClusterError::NotFound(not_found.to_string()));
        }
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or(body);
            return Err(ClusterError::Api(format!(
                "GET {path}: {status}: {message}"
            )));
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| ClusterError::Api(format!("GET {path}: unexpected answer: {e}")))
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_filters() {
        assert_eq!(
            super::percent_encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
    }
}

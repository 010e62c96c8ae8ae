//! Where Consul is and how to talk to it, from a `consul://` URL and the Consul CLI's
//! environment.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::ports::KvError;

/// How to reach Consul; built from a `consul://` URL and the `CONSUL_*` environment.
#[derive(Clone)]
pub struct ConsulConfig {
    /// `host:port`.
    pub address: String,
    pub https: bool,
    pub token: Option<String>,
    /// PEM bundle that replaces the system roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// PEM certificate + key for mutual TLS.
    pub client_identity_pem: Option<Vec<u8>>,
    pub verify: bool,
    /// Name to verify the server certificate against instead of the host.
    pub tls_server_name: Option<String>,
    /// How long a released-by-expiry lock stays unavailable (Consul's LockDelay).
    pub lock_delay: Duration,
}

/// Consul's own defaults: the local agent, plain HTTP, certificates verified.
impl Default for ConsulConfig {
    fn default() -> ConsulConfig {
        ConsulConfig {
            address: "127.0.0.1:8500".into(),
            https: false,
            token: None,
            ca_cert_pem: None,
            client_identity_pem: None,
            verify: true,
            tls_server_name: None,
            lock_delay: DEFAULT_LOCK_DELAY,
        }
    }
}

/// Short: shipctl's holders notice a lost session at their next renewal (TTL/3), and a
/// long delay would only hold up the next deploy after a crash.
const DEFAULT_LOCK_DELAY: Duration = Duration::from_secs(1);

impl fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("address", &self.address)
            .field("https", &self.https)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("ca_cert", &self.ca_cert_pem.is_some())
            .field("client_identity", &self.client_identity_pem.is_some())
            .field("verify", &self.verify)
            .field("tls_server_name", &self.tls_server_name)
            .finish()
    }
}

impl ConsulConfig {
    /// Reads a `consul://[host:port]` or `consul+https://...` URL and the Consul CLI's
    /// environment (`CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN[_FILE]`, `CONSUL_HTTP_SSL[_VERIFY]`,
    /// `CONSUL_CACERT`, `CONSUL_CLIENT_CERT`/`_KEY`, `CONSUL_TLS_SERVER_NAME`).
    pub fn from_url(url: &str, env: &HashMap<String, String>) -> Result<ConsulConfig, KvError> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let bad = |m: String| KvError::Other(m);
        let (mut https, rest) = if let Some(r) = url.strip_prefix("consul+https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("consul://") {
            (false, r)
        } else {
            return Err(bad(format!("not a consul URL: {url}")));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(bad(
                "a consul URL takes no credentials: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE"
                    .into(),
            ));
        }
        let mut address = rest.to_string();
        if address.is_empty() {
            let from_env = get("CONSUL_HTTP_ADDR").unwrap_or("127.0.0.1:8500");
            if let Some(a) = from_env.strip_prefix("https://") {
                https = true;
                address = a.to_string();
            } else if let Some(a) = from_env.strip_prefix("http://") {
                address = a.to_string();
            } else if from_env.starts_with("unix://") {
                return Err(bad(
                    "CONSUL_HTTP_ADDR with unix:// is not supported: use host:port".into(),
                ));
            } else {
                address = from_env.to_string();
            }
            address = address.trim_end_matches('/').to_string();
        }
        if !address.contains(':') {
            address.push_str(":8500");
        }
        if let Some(ssl) = get("CONSUL_HTTP_SSL") {
            https |= parse_bool(ssl)
                .ok_or_else(|| bad(format!("CONSUL_HTTP_SSL={ssl} is not a boolean")))?;
        }
        let verify = match get("CONSUL_HTTP_SSL_VERIFY") {
            Some(v) => parse_bool(v)
                .ok_or_else(|| bad(format!("CONSUL_HTTP_SSL_VERIFY={v} is not a boolean")))?,
            None => true,
        };
        let token = match (get("CONSUL_HTTP_TOKEN"), get("CONSUL_HTTP_TOKEN_FILE")) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(file)) => {
                let t = std::fs::read_to_string(file)
                    .map_err(|e| bad(format!("cannot read CONSUL_HTTP_TOKEN_FILE {file}: {e}")))?;
                Some(t.trim().to_string()).filter(|t| !t.is_empty())
            }
            (None, None) => None,
        };
        let read = |var: &str| -> Result<Option<Vec<u8>>, KvError> {
            match get(var) {
                Some(path) => std::fs::read(path)
                    .map(Some)
                    .map_err(|e| bad(format!("cannot read {var} {path}: {e}"))),
                None => Ok(None),
            }
        };
        let mut ca_cert_pem = read("CONSUL_CACERT")?;
        if let Some(dir) = get("CONSUL_CAPATH") {
            ca_cert_pem
                .get_or_insert_with(Vec::new)
                .extend(read_ca_dir(dir)?);
        }
        let client_identity_pem = match (read("CONSUL_CLIENT_CERT")?, read("CONSUL_CLIENT_KEY")?) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                Some(cert)
            }
            (None, None) => None,
            _ => {
                return Err(bad(
                    "CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY must be set together".into(),
                ));
            }
        };
        Ok(ConsulConfig {
            address,
            https,
            token,
            ca_cert_pem,
            client_identity_pem,
            verify,
            tls_server_name: get("CONSUL_TLS_SERVER_NAME").map(str::to_string),
            lock_delay: DEFAULT_LOCK_DELAY,
        })
    }
}

/// Every PEM certificate file in `dir` (as `CONSUL_CAPATH` names it), concatenated.
fn read_ca_dir(dir: &str) -> Result<Vec<u8>, KvError> {
    let err = |e: std::io::Error| KvError::Other(format!("cannot read CONSUL_CAPATH {dir}: {e}"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut pem = Vec::new();
    for p in paths {
        let text = std::fs::read(&p).map_err(err)?;
        if text.windows(11).any(|w| w == b"-----BEGIN ") {
            pem.extend_from_slice(&text);
            pem.push(b'\n');
        }
    }
    Ok(pem)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" => Some(true),
        "0" | "f" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn address_from_url_and_env() {
        let c = ConsulConfig::from_url("consul://", &env(&[])).unwrap();
        assert_eq!(c.address, "127.0.0.1:8500");
        assert!(!c.https);
        let c = ConsulConfig::from_url(
            "consul://",
            &env(&[("CONSUL_HTTP_ADDR", "https://c.example:8501")]),
        )
        .unwrap();
        assert_eq!(c.address, "c.example:8501");
        assert!(c.https);
        let c = ConsulConfig::from_url(
            "consul://h:1",
            &env(&[("CONSUL_HTTP_SSL", "true"), ("CONSUL_HTTP_TOKEN", "t0k")]),
        )
        .unwrap();
        assert!(c.https);
        assert_eq!(c.token.as_deref(), Some("t0k"));
        assert!(!format!("{c:?}").contains("t0k"));
        assert!(ConsulConfig::from_url("consul://u:p@h:1", &env(&[])).is_err());
        assert!(
            ConsulConfig::default().verify,
            "verification is on unless turned off"
        );
    }
}

//! Where etcd is and whose credentials to use, from an `etcd://` URL and `ETCDCTL_*`.

use std::collections::HashMap;
use std::fmt;

use crate::kv::redact::redact_url;
use crate::ports::KvError;

/// How to reach etcd.
///
/// Credentials come from the URL (`etcd://user:pass@host:port`) or, as for `etcdctl`, from
/// `ETCDCTL_USER=user:pass` (or `ETCDCTL_USER=user` + `ETCDCTL_PASSWORD`). `etcd+https://`
/// uses TLS, verified against `ETCDCTL_CACERT` when set, else the system roots, with the
/// client certificate `ETCDCTL_CERT` + `ETCDCTL_KEY` when set.
#[derive(Clone, Default)]
pub struct EtcdConfig {
    /// `host:port`.
    pub address: String,
    pub https: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ca_cert_pem: Option<Vec<u8>>,
    /// PEM certificate + key for mutual TLS.
    pub client_identity_pem: Option<Vec<u8>>,
}

impl fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("address", &self.address)
            .field("https", &self.https)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_cert", &self.ca_cert_pem.is_some())
            .field("client_identity", &self.client_identity_pem.is_some())
            .finish()
    }
}

impl EtcdConfig {
    pub fn from_url(url: &str, env: &HashMap<String, String>) -> Result<EtcdConfig, KvError> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
        let (https, rest) = if let Some(r) = url.strip_prefix("etcd+https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("etcd://") {
            (false, r)
        } else {
            return Err(KvError::Other(format!(
                "not an etcd URL: {}",
                redact_url(url)
            )));
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, host) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let mut address = if host.is_empty() {
            "127.0.0.1:2379".to_string()
        } else {
            host.to_string()
        };
        if address.contains('/') {
            return Err(KvError::Other(format!(
                "an etcd URL has no path: {}",
                redact_url(url)
            )));
        }
        if !address.contains(':') {
            address.push_str(":2379");
        }
        let split = |s: &str| match s.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
            None => (Some(s.to_string()), None),
        };
        let (user, mut password) = match (userinfo, get("ETCDCTL_USER")) {
            (Some(ui), _) => split(ui),
            (None, Some(u)) => split(u),
            (None, None) => (None, None),
        };
        if password.is_none() && user.is_some() {
            password = get("ETCDCTL_PASSWORD").cloned();
        }
        if user.is_some() && password.is_none() {
            return Err(KvError::Other(format!(
                "etcd user {} has no password: use etcd://user:pass@host:port \
                 or ETCDCTL_USER=user:pass",
                user.unwrap_or_default()
            )));
        }
        let read = |var: &str| -> Result<Option<Vec<u8>>, KvError> {
            match get(var) {
                Some(path) => std::fs::read(path)
                    .map(Some)
                    .map_err(|e| KvError::Other(format!("cannot read {var} {path}: {e}"))),
                None => Ok(None),
            }
        };
        let ca_cert_pem = read("ETCDCTL_CACERT")?;
        let client_identity_pem = match (read("ETCDCTL_CERT")?, read("ETCDCTL_KEY")?) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                Some(cert)
            }
            (None, None) => None,
            _ => {
                return Err(KvError::Other(
                    "ETCDCTL_CERT and ETCDCTL_KEY must be set together".into(),
                ));
            }
        };
        Ok(EtcdConfig {
            address,
            https,
            user,
            password,
            ca_cert_pem,
            client_identity_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_url_or_env() {
        let env = HashMap::new();
        let c = EtcdConfig::from_url("etcd://root:pw@h:1", &env).unwrap();
        assert_eq!(c.user.as_deref(), Some("root"));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert!(!format!("{c:?}").contains("pw\""));
        let env: HashMap<String, String> = [("ETCDCTL_USER".to_string(), "u:p".to_string())].into();
        let c = EtcdConfig::from_url("etcd://h", &env).unwrap();
        assert_eq!(c.address, "h:2379");
        assert_eq!(c.user.as_deref(), Some("u"));
        assert!(EtcdConfig::from_url("etcd://u@h:1", &HashMap::new()).is_err());
    }
}

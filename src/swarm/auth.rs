//! Registry credentials for private images, as `docker stack deploy --with-registry-auth` sends
//! them: bollard does not read `~/.docker/config.json` or credential helpers itself.

use std::path::PathBuf;

use base64::Engine;
use bollard::auth::DockerCredentials;
use tokio::io::AsyncWriteExt;

/// The key Docker Hub credentials are stored under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry host of an image reference; `None` for Docker Hub.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    // Like the docker CLI: a first component with a dot, a port or `localhost` is a registry.
    (first.contains('.') || first.contains(':') || first == "localhost")
        .then_some(first)
        .filter(|r| *r != "docker.io" && *r != "index.docker.io")
}

fn config_path() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var("HOME")
        .ok()
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// Where credentials for `image` are found in a docker config file.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Stored in the file itself.
    Inline(DockerCredentials),
    /// Ask `docker-credential-<helper> get` for `server`.
    Helper { helper: String, server: String },
}

/// Looks `image`'s registry up in a parsed `config.json`.
pub fn find(config: &serde_json::Value, image: &str) -> Option<Source> {
    let registry = registry_of(image);
    let server = registry.unwrap_or(DOCKER_HUB).to_string();
    if let Some(helper) = registry
        .and_then(|r| config.pointer(&format!("/credHelpers/{}", escape(r))))
        .and_then(|h| h.as_str())
    {
        return Some(Source::Helper {
            helper: helper.to_string(),
            server,
        });
    }
    let auths = config.get("auths").and_then(|a| a.as_object());
    let entry = auths.and_then(|auths| {
        auths.iter().find_map(|(key, value)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            let matches = match registry {
                Some(r) => host == r,
                None => matches!(
                    host,
                    "index.docker.io" | "docker.io" | "registry-1.docker.io"
                ),
            };
            matches.then_some(value)
        })
    });
    if let Some(entry) = entry {
        let field = |k: &str| {
            entry
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (username, password) = match field("auth")
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
        {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).to_string();
                match text.split_once(':') {
                    Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                    None => (None, None),
                }
            }
            None => (field("username"), field("password")),
        };
        let identitytoken = field("identitytoken");
        if username.is_some() || identitytoken.is_some() {
            return Some(Source::Inline(DockerCredentials {
                username,
                password,
                identitytoken,
                serveraddress: Some(server),
                ..Default::default()
            }));
        }
    }
    config
        .get("credsStore")
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .map(|helper| Source::Helper {
            helper: helper.to_string(),
            server,
        })
}

/// JSON pointer escaping of a map key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Credentials for pulling `image`, from the docker config and its helpers; `None` when there
/// are none (public images), and also when a helper fails: the engine's own pull error then
/// says what is wrong.
pub async fn credentials_for(image: &str) -> Option<DockerCredentials> {
    let text = tokio::fs::read_to_string(config_path()?).await.ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    match find(&config, image)? {
        Source::Inline(c) => Some(c),
        Source::Helper { helper, server } => from_helper(&helper, &server).await,
    }
}

async fn from_helper(helper: &str, server: &str) -> Option<DockerCredentials> {
    let mut child = tokio::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    stdin.write_all(server.as_bytes()).await.ok()?;
    drop(stdin);
    let out = child.wait_with_output().await.ok()?;
    if !out.status.success() {
        tracing::debug!(helper, server, "credential helper found nothing");
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let username = v.get("Username")?.as_str()?.to_string();
    let secret = v.get("Secret")?.as_str()?.to_string();
    // Helpers return identity tokens with this user name (docker CLI convention).
    Some(if username == "<token>" {
        DockerCredentials {
            identitytoken: Some(secret),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        }
    } else {
        DockerCredentials {
            username: Some(username),
            password: Some(secret),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_of("nginx:1.25"), None);
        assert_eq!(registry_of("library/nginx"), None);
        assert_eq!(registry_of("docker.io/library/nginx"), None);
        assert_eq!(registry_of("ghcr.io/acme/app:1"), Some("ghcr.io"));
        assert_eq!(registry_of("localhost:5000/app"), Some("localhost:5000"));
        assert_eq!(registry_of("localhost/app"), Some("localhost"));
    }

    #[test]
    fn inline_auth_and_helpers() {
        let config = serde_json::json!({
            "auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                "registry.example.com": {"auth": "YWxpY2U6czNjcjN0"}
            },
            "credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
            "credsStore": "pass"
        });
        let Some(Source::Inline(hub)) = find(&config, "acme/app:1") else {
            panic!("no hub credentials");
        };
        assert_eq!(hub.username.as_deref(), Some("user"));
        assert_eq!(hub.password.as_deref(), Some("pass"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB));
        let Some(Source::Inline(own)) = find(&config, "registry.example.com/app:2") else {
            panic!("no registry credentials");
        };
        assert_eq!(own.username.as_deref(), Some("alice"));
        assert_eq!(own.serveraddress.as_deref(), Some("registry.example.com"));
        assert_eq!(
            find(&config, "123.dkr.ecr.eu-west-1.amazonaws.com/app"),
            Some(Source::Helper {
                helper: "ecr-login".into(),
                server: "123.dkr.ecr.eu-west-1.amazonaws.com".into()
            })
        );
        // Not in `auths`: the default store is asked.
        assert_eq!(
            find(&config, "ghcr.io/acme/app"),
            Some(Source::Helper {
                helper: "pass".into(),
                server: "ghcr.io".into()
            })
        );
        assert_eq!(find(&serde_json::json!({}), "ghcr.io/acme/app"), None);
    }
}

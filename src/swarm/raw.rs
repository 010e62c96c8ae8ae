//! Plain JSON GETs on the engine API, for what bollard's models leave out.
//!
//! bollard's `Task` has no `NetworksAttachments` (Docker's OpenAPI file never declared it), and
//! those hold the task addresses the router needs. So tasks are listed here as raw JSON.
//!
//! Over ssh there is no socket to reach: like the docker CLI, each request runs
//! `ssh HOST docker system dial-stdio` and speaks HTTP/1.0 over its stdin and stdout.

use std::path::Path;
use std::time::Duration;

use super::failure::{chain, read_pem, unreachable};
use super::retry::{BUSY_ATTEMPTS, backoff, is_busy_status};
use crate::ports::ClusterError;

#[derive(Debug, Clone)]
pub enum Raw {
    /// `base` is `http://localhost` for a unix socket, else the engine's own URL.
    Http {
        client: reqwest::Client,
        base: String,
    },
    /// Each request runs `program args`, whose stdin and stdout are a connection to the engine.
    Pipe { program: String, args: Vec<String> },
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

/// For a socket or plain HTTP, where no TLS is spoken: with no roots of its own, a client
/// reads every root certificate of the system when it is built (several ms, at every start).
fn plain() -> reqwest::ClientBuilder {
    builder().tls_certs_only([])
}

impl Raw {
    pub fn unix(path: &Path) -> Result<Raw, ClusterError> {
        let client = plain()
            .unix_socket(path.to_path_buf())
            .build()
            .map_err(build_error)?;
        Ok(Raw::Http {
            client,
            base: "http://localhost".into(),
        })
    }

    pub fn http(base: &str) -> Result<Raw, ClusterError> {
        let client = plain().build().map_err(build_error)?;
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

    /// Through `ssh [-p PORT] [USER@]HOST docker system dial-stdio`, as the docker CLI does.
    /// A shared master connection keeps the later requests from paying for a handshake each.
    pub fn ssh(address: &str) -> Raw {
        let rest = address.trim_start_matches("ssh://").trim_end_matches('/');
        let mut args = vec![
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-o".to_string(),
            "ControlMaster=auto".to_string(),
            "-o".to_string(),
            format!(
                "ControlPath={}",
                std::env::temp_dir().join("shipctl-ssh-%C").display()
            ),
            "-o".to_string(),
            "ControlPersist=60".to_string(),
        ];
        // `[user@]host[:port]`; an IPv6 host comes in brackets.
        let (destination, port) = match rest.rsplit_once(':') {
            Some((d, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (d, Some(p)),
            _ => (rest, None),
        };
        if let Some(port) = port {
            args.push("-p".into());
            args.push(port.into());
        }
        args.push(
            destination
                .trim_matches(|c| c == '[' || c == ']')
                .to_string(),
        );
        args.extend(["docker", "system", "dial-stdio"].map(String::from));
        Raw::Pipe {
            program: "ssh".into(),
            args,
        }
    }

    /// GETs `path`, with `filters` (Docker's JSON filter map) if any. A 404 becomes
    /// `NotFound(not_found)`.
    pub async fn get(
        &self,
        host: &str,
        path: &str,
        filters: Option<&serde_json::Value>,
        not_found: &str,
    ) -> Result<serde_json::Value, ClusterError> {
        let query = filters
            .map(|f| format!("filters={}", percent_encode(&f.to_string())))
            .unwrap_or_default();
        self.get_query(host, path, &query, not_found).await
    }

    /// GETs `path?query` (`query` already encoded; empty for none). A 404 becomes
    /// `NotFound(not_found)`.
    pub async fn get_query(
        &self,
        host: &str,
        path: &str,
        query: &str,
        not_found: &str,
    ) -> Result<serde_json::Value, ClusterError> {
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut attempt = 0;
        loop {
            match self.get_once(host, path, &target, not_found).await {
                Err(Busy(_)) if attempt + 1 < BUSY_ATTEMPTS => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(Busy(e)) | Err(Failed(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    /// One GET of `target`; an answer that says "later" (429, 503) comes back as `Busy`.
    async fn get_once(
        &self,
        host: &str,
        path: &str,
        target: &str,
        not_found: &str,
    ) -> Result<serde_json::Value, GetError> {
        let (status, body) = match self {
            Raw::Http { client, base } => {
                let response = client
                    .get(format!("{base}{target}"))
                    .send()
                    .await
                    .map_err(|e| Failed(unreachable(host, chain(&e))))?;
                let status = response.status().as_u16();
                let body = response.text().await.map_err(|e| {
                    Failed(ClusterError::Api(format!(
                        "reading GET {path} from {host}: {}",
                        chain(&e)
                    )))
                })?;
                (status, body)
            }
            Raw::Pipe { program, args } => {
                let answer =
                    tokio::time::timeout(Duration::from_secs(60), pipe_get(program, args, target))
                        .await
                        .map_err(|_| {
                            Failed(unreachable(
                                host,
                                format!("no answer to GET {path} within 60s"),
                            ))
                        })?
                        .map_err(|e| Failed(unreachable(host, e)))?;
                parse_response(&answer).map_err(|e| Failed(unreachable(host, e)))?
            }
        };
        if status == 404 {
            return Err(Failed(ClusterError::NotFound(not_found.to_string())));
        }
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or(body);
            let error = ClusterError::Api(format!("GET {path}: {status}: {message}"));
            return Err(if is_busy_status(Some(status)) {
                Busy(error)
            } else {
                Failed(error)
            });
        }
        serde_json::from_str(&body).map_err(|e| {
            Failed(ClusterError::Api(format!(
                "GET {path}: unexpected answer: {e}"
            )))
        })
    }
}

/// Why a GET failed: worth asking again later, or not.
enum GetError {
    Busy(ClusterError),
    Failed(ClusterError),
}
use GetError::{Busy, Failed};

/// One HTTP/1.0 GET over a command's stdio; the whole answer, up to the engine closing.
async fn pipe_get(program: &str, args: &[String], target: &str) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(format!("{program}: no pipes"));
    };
    let request = format!("GET {target} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n");
    stdin
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("writing to {program}: {e}"))?;
    // stdin stays open until the answer is in: closing it early may end the connection first.
    let mut answer = Vec::new();
    stdout
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("reading from {program}: {e}"))?;
    drop(stdin);
    if answer.is_empty() {
        let out = child.wait_with_output().await.ok();
        let stderr = out
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            .unwrap_or_default();
        return Err(format!("{program} gave no answer: {stderr}"));
    }
    // The connection is done; the helper may wait for stdin, which is closed now.
    let _ = child.wait().await;
    Ok(answer)
}

/// Status and body of an HTTP/1.0 answer (a body delimited by the end of the stream).
fn parse_response(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "the answer is not HTTP".to_string())?;
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            format!(
                "the answer is not HTTP: {}",
                head.lines().next().unwrap_or("")
            )
        })?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub(super) fn percent_encode(text: &str) -> String {
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
    use super::*;

    #[test]
    fn ssh_command_like_the_docker_cli() {
        let Raw::Pipe { program, args } = Raw::ssh("ssh://deploy@manager:2222") else {
            panic!("not a pipe");
        };
        assert_eq!(program, "ssh");
        let tail: Vec<&str> = args
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "-p",
                "2222",
                "deploy@manager",
                "docker",
                "system",
                "dial-stdio"
            ]
        );
        assert!(args.contains(&"BatchMode=yes".to_string()));
        let Raw::Pipe { args, .. } = Raw::ssh("ssh://manager") else {
            panic!("not a pipe");
        };
        assert!(!args.contains(&"-p".to_string()));
        assert!(args.contains(&"manager".to_string()));
    }

    #[test]
    fn parses_http_answers() {
        let answer =
            b"HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"message\":\"no\"}";
        assert_eq!(
            parse_response(answer).unwrap(),
            (404, "{\"message\":\"no\"}".to_string())
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH").is_err());
    }

    /// The pipe transport against the local engine, with socat standing in for ssh.
    #[tokio::test]
    async fn pipe_transport_reaches_the_engine() {
        let socket = "/var/run/docker.sock";
        let have_socat = std::process::Command::new("socat")
            .arg("-V")
            .output()
            .is_ok();
        if !std::path::Path::new(socket).exists() || !have_socat {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs the local engine socket and socat (scripts/test provides both)"
            );
            eprintln!("skipping: no local engine socket or no socat");
            return;
        }
        let raw = Raw::Pipe {
            program: "socat".into(),
            args: vec!["-".into(), format!("UNIX-CONNECT:{socket}")],
        };
        let info = raw.get("test", "/info", None, "/info").await.unwrap();
        assert!(info.get("Swarm").is_some(), "{info}");
        let filters = serde_json::json!({"service": ["shipctl-no-such-service"]});
        let err = raw
            .get("test", "/tasks", Some(&filters), "gone")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClusterError::NotFound(ref n) if n == "gone"),
            "{err:?}"
        );
    }

    #[test]
    fn encodes_filters() {
        assert_eq!(
            super::percent_encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
    }
}

//! A real etcd on free loopback ports with a throw-away data directory, killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::prereq::missing;
use super::tls::{TestCa, install_provider};

pub struct Etcd {
    child: Child,
    pub client_port: u16,
    https: bool,
    /// The command line it was started with, so [`Etcd::restart`] can start it again.
    bin: String,
    args: Vec<std::ffi::OsString>,
    /// Kept so the data directory lives as long as the process (and a restart reuses it).
    _dir: tempfile::TempDir,
}

/// Serve the client URL over TLS.
pub struct EtcdTls<'a> {
    pub ca: &'a TestCa,
    /// Require client certificates signed by `ca` (`--client-cert-auth`).
    pub client_cert_auth: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

impl Etcd {
    /// Starts etcd, or returns None (after a notice; a panic in CI) when it is not installed.
    pub async fn start(test: &str) -> Option<Etcd> {
        Etcd::start_with(test, None).await
    }

    /// As [`Etcd::start`], with TLS on the client URL when `tls` is given.
    pub async fn start_with(test: &str, tls: Option<EtcdTls<'_>>) -> Option<Etcd> {
        let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".to_string());
        if Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            missing(test, "etcd is not on PATH (Debian package etcd-server)");
            return None;
        }
        install_provider();
        // A port can be taken between the probe and etcd's bind: try a few times.
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let client = free_port();
            let peer = free_port();
            let scheme = if tls.is_some() { "https" } else { "http" };
            let client_url = format!("{scheme}://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log file");
            let mut cmd = Command::new(&bin);
            cmd.arg("--name")
                .arg("test")
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("--listen-client-urls")
                .arg(&client_url)
                .arg("--advertise-client-urls")
                .arg(&client_url)
                .arg("--listen-peer-urls")
                .arg(&peer_url)
                .arg("--initial-advertise-peer-urls")
                .arg(&peer_url)
                .arg("--initial-cluster")
                .arg(format!("test={peer_url}"));
            let mut probe = reqwest::Client::builder();
            if let Some(tls) = &tls {
                let (cert, key) = tls.ca.server_cert_pem(&["127.0.0.1", "localhost"]);
                cmd.arg("--cert-file")
                    .arg(write(&dir, "server.pem", &cert))
                    .arg("--key-file")
                    .arg(write(&dir, "server-key.pem", &key));
                let ca = reqwest::Certificate::from_pem(tls.ca.pem.as_bytes()).expect("CA");
                probe = probe.tls_certs_only([ca]);
                if tls.client_cert_auth {
                    cmd.arg("--client-cert-auth")
                        .arg("--trusted-ca-file")
                        .arg(write(&dir, "ca.pem", &tls.ca.pem));
                    let (cert, key) = tls.ca.client_cert("etcd-probe");
                    let id = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
                        .expect("client identity");
                    probe = probe.identity(id);
                }
            }
            let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
            let child = cmd
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn etcd");
            let mut etcd = Etcd {
                child,
                client_port: client,
                https: tls.is_some(),
                bin: bin.clone(),
                args,
                _dir: dir,
            };
            if etcd.wait_ready(probe.build().expect("probe client")).await {
                return Some(etcd);
            }
            last_log =
                std::fs::read_to_string(etcd._dir.path().join("etcd.log")).unwrap_or_default();
        }
        let tail: Vec<&str> = last_log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{test}: etcd did not start; its log ends with:\n{}",
            tail.join("\n")
        );
    }

    /// Kills etcd (SIGKILL): the store is gone, as when its machine fails.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts etcd again on the same data directory and ports, after [`Etcd::kill`]
    /// (plain HTTP only).
    pub async fn restart(&mut self) {
        assert!(!self.https, "restart supports plain-HTTP etcd only");
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self._dir.path().join("etcd.log"))
            .expect("log file");
        self.child = Command::new(&self.bin)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        assert!(
            self.wait_ready(reqwest::Client::new()).await,
            "etcd did not start again"
        );
    }

    async fn wait_ready(&mut self, http: reqwest::Client) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let ok = http
                .post(format!("{}/v3/kv/range", self.http_url()))
                .body(r#"{"key":"AA=="}"#)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The client URL (`http://` or `https://`).
    pub fn http_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The `etcd://` (or `etcd+https://`) URL of this etcd.
    /// The etcd process, for signals (SIGSTOP makes a store that hangs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "etcd+https" } else { "etcd" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

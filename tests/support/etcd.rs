//! A real etcd on free loopback ports with a throw-away data directory, killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::prereq::missing;

pub struct Etcd {
    child: Child,
    bin: String,
    pub client_port: u16,
    peer_port: u16,
    /// Kept so the data directory lives as long as the process (and a restart reuses it).
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Etcd {
    /// Starts etcd, or returns None (after a notice; a panic in CI) when it is not installed.
    pub async fn start(test: &str) -> Option<Etcd> {
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
        // A port can be taken between the probe and etcd's bind: try a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let client = free_port();
            let peer = free_port();
            let child = spawn(&bin, dir.path(), client, peer);
            let mut etcd = Etcd {
                child,
                bin: bin.clone(),
                client_port: client,
                peer_port: peer,
                dir,
            };
            if etcd.wait_ready().await {
                return Some(etcd);
            }
        }
        panic!("{test}: etcd did not start");
    }

    /// Kills etcd (SIGKILL): the store is gone, as when its machine fails.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts etcd again on the same data directory and ports, after [`Etcd::kill`].
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.bin, self.dir.path(), self.client_port, self.peer_port);
        assert!(self.wait_ready().await, "etcd did not start again");
    }

    async fn wait_ready(&mut self) -> bool {
        let http = reqwest::Client::new();
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

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The `etcd://` URL of this etcd.
    pub fn url(&self) -> String {
        format!("etcd://127.0.0.1:{}", self.client_port)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &str, dir: &std::path::Path, client: u16, peer: u16) -> Child {
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .expect("log file");
    Command::new(bin)
        .arg("--name")
        .arg("test")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(format!("test={peer_url}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn etcd")
}

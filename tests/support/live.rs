//! A project on the live Swarm driven through the real binary: the demo compose file, a lean
//! spec (2 replicas, short gates) whose KV keys carry the project name, so parallel tests never
//! share keys, and cleanup of services, networks and keys on drop.

use std::collections::HashMap;
use std::process::Output;

use super::cli_env::CliEnv;
use super::docker::{Cleanup, require_docker};

/// The spec every live CLI test starts from; `extra` is appended (e.g. `hooks:`).
pub fn lean_spec(extra: &str) -> String {
    format!(
        r#"kv:
  url: swarm://
  keys:
    active_zone: "{{project}}-{{service}}-active-zone"
    active_version: "{{project}}-{{service}}-active-version"
    traffic: "{{project}}-{{service}}-traffic"
    lock: "{{project}}-{{service}}-lock"
    history: "{{project}}-{{service}}-history"
    progress: "{{project}}-{{service}}-progress"
defaults:
  health:
    timeout: 1m
    min_healthy: 1s
  drain: 1s
  on_failure: rollback
{extra}"#
    )
}

pub struct LiveProject {
    pub env: CliEnv,
    pub cleanup: Cleanup,
}

impl LiveProject {
    /// `None` (test skipped) without a Swarm outside CI.
    pub async fn new(spec_extra: &str) -> Option<LiveProject> {
        let cluster = require_docker().await?;
        let cleanup = Cleanup::new(&cluster);
        let mut env = CliEnv::new();
        env.with_docker_host();
        env.copy_fixture("demo/compose.yaml", "compose.yaml");
        env.write("shipctl.yaml", &lean_spec(spec_extra));
        Some(LiveProject { env, cleanup })
    }

    pub fn project(&self) -> &str {
        &self.cleanup.project
    }

    /// `shipctl ARGS -p PROJECT` in the project's directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.env
            .shipctl()
            .args(args)
            .args(["-p", self.project()])
            .output()
            .expect("run shipctl")
    }

    /// Deploys `version` of web and insists that it worked.
    pub fn deploy(&self, version: &str) {
        let out = self.run(&["deploy", "--version", version, "--yes"]);
        assert!(
            out.status.success(),
            "deploy {version} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The value of one of web's keys (`active-zone`, `active-version`, ...).
    pub async fn key(&self, name: &str) -> Option<String> {
        let kv = shipctl::kv::connect("swarm://", &HashMap::new())
            .await
            .expect("connect to the Swarm KV");
        let key = format!("{}-web-{name}", self.project());
        kv.get(&key).await.expect("read key").map(|e| e.value)
    }
}

impl Drop for LiveProject {
    fn drop(&mut self) {
        let project = self.project().to_string();
        // Drop cannot await and may run inside the test's runtime: a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(kv) = shipctl::kv::connect("swarm://", &HashMap::new()).await {
                    for name in [
                        "active-zone",
                        "active-version",
                        "traffic",
                        "lock",
                        "history",
                        "progress",
                        "owner",
                        "router",
                    ] {
                        let _ = kv.delete(&format!("{project}-web-{name}")).await;
                    }
                }
            });
        })
        .join();
    }
}

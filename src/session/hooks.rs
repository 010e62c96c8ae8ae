//! The spec's hooks (`pre_deploy`, `post_switch`, `post_deploy`, `on_failure`): shell commands
//! run around a deploy, with variables describing it, as Kamal's hooks are.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;

use crate::exec::{Event, EventSink, OnSwitch};
use crate::plan::ServicePlan;

/// The spec's `post_switch` hooks, run as each service's keys switch to its new zone (before
/// the old zone drains) with `SHIPCTL_RESULT=switched`. A failure is a warning.
pub struct PostSwitch<'a> {
    pub commands: &'a [String],
    pub timeout: Duration,
    pub dir: &'a Path,
    pub sink: &'a dyn EventSink,
}

#[async_trait]
impl OnSwitch for PostSwitch<'_> {
    async fn switched(&self, service: &ServicePlan) {
        let vars = variables(service, "switched");
        if let Err(message) = run("post_switch", self.commands, self.timeout, self.dir, &vars).await
        {
            self.sink.emit(&Event::Warning {
                service: Some(service.service.clone()),
                message,
            });
        }
    }
}

/// The variables a hook sees for one service.
pub fn variables(service: &ServicePlan, result: &str) -> Vec<(String, String)> {
    vec![
        ("SHIPCTL_SERVICE".into(), service.service.clone()),
        ("SHIPCTL_VERSION".into(), service.to.version.clone()),
        (
            "SHIPCTL_PREVIOUS_VERSION".into(),
            service
                .from
                .as_ref()
                .map(|z| z.version.clone())
                .unwrap_or_default(),
        ),
        ("SHIPCTL_ZONE".into(), service.to.zone.clone()),
        (
            "SHIPCTL_STRATEGY".into(),
            service.strategy.as_str().to_string(),
        ),
        ("SHIPCTL_RESULT".into(), result.to_string()),
    ]
}

/// Runs `commands` in order with `sh -c` in `dir`; stops at the first that fails. Their output
/// goes to stderr, so stdout stays the command's own (NDJSON with `--output json`).
pub async fn run(
    stage: &str,
    commands: &[String],
    timeout: Duration,
    dir: &Path,
    vars: &[(String, String)],
) -> Result<(), String> {
    for command in commands {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            // A group of its own, so a timeout kills what the hook started too (whatever
            // still holds our stderr would keep a CI step open).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{stage} hook `{command}` could not start: {e}"))?;
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => status
                .map_err(|e| format!("{stage} hook `{command}` could not be waited for: {e}"))?,
            Err(_) => {
                if let Some(pid) = child.id() {
                    let _ = tokio::process::Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pid}")])
                        .status()
                        .await;
                }
                let _ = child.kill().await;
                return Err(format!(
                    "{stage} hook `{command}` did not finish within {} (spec `hooks.timeout`) and was killed",
                    crate::spec::duration::format(timeout)
                ));
            }
        };
        if !status.success() {
            let how = status
                .code()
                .map_or_else(|| "was killed".to_string(), |c| format!("exited {c}"));
            return Err(format!("{stage} hook `{command}` {how}"));
        }
    }
    Ok(())
}

//! The router program that `--exec` runs beside the loop (nginx, HAProxy in the foreground), as
//! a container's one entry point needs: started once the first config is installed, watched
//! for an early exit, and stopped when the loop stops.

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long the program may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running router program.
pub(super) struct Program {
    pub command: String,
    pub pid: u32,
    /// Receives how the program ended.
    exited: oneshot::Receiver<String>,
    stop: CancellationToken,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Program {
    /// Starts `command` with `sh -c exec …`, so that signals reach the program itself.
    pub fn start(command: &str) -> std::io::Result<Program> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let (tx, exited) = oneshot::channel();
        let stop = CancellationToken::new();
        let stopping = stop.clone();
        let supervisor = tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                () = stopping.cancelled() => {
                    terminate(pid).await;
                    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
                        Ok(status) => status,
                        Err(_) => {
                            let _ = child.kill().await;
                            child.wait().await
                        }
                    }
                }
            };
            let text = match status {
                Ok(s) => match s.code() {
                    Some(code) => format!("exit status {code}"),
                    None => "killed by a signal".to_string(),
                },
                Err(e) => format!("cannot wait for it: {e}"),
            };
            let _ = tx.send(text);
        });
        Ok(Program {
            command: command.to_string(),
            pid,
            exited,
            stop,
            supervisor,
        })
    }

    /// How the program ended, if it has.
    pub fn exited(&mut self) -> Option<String> {
        match self.exited.try_recv() {
            Ok(status) => Some(status),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some("gone".to_string()),
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; how it ended.
    pub async fn stop(mut self) -> String {
        if let Some(status) = self.exited() {
            return status;
        }
        self.stop.cancel();
        let _ = (&mut self.supervisor).await;
        self.exited().unwrap_or_else(|| "gone".to_string())
    }
}

/// Sends SIGTERM through the shell's `kill`, which every image with `sh` has.
async fn terminate(pid: u32) {
    let _ = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -TERM {pid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_early_exit_is_seen_and_a_stop_ends_the_program() {
        let mut quick = Program::start("sh -c 'exit 3'").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = quick.exited() {
                break s;
            }
            assert!(tokio::time::Instant::now() < deadline, "no exit seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status, "exit status 3");

        let mut long = Program::start("sleep 60").unwrap();
        assert!(long.exited().is_none());
        let started = std::time::Instant::now();
        let status = long.stop().await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stopped by SIGTERM"
        );
        assert_eq!(status, "killed by a signal");
    }
}

//! Running shipctl in a real pseudo-terminal (tmux): what a person at a terminal sees and
//! answers.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::live::LiveProject;

/// tmux is part of the test bed (scripts/test installs it): in CI its absence is a failure.
pub fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but tmux is missing; scripts/test installs it"
        );
        eprintln!("skipping the terminal part: no tmux");
    }
    found
}

/// How a command in tmux ended: its exit code and the last screen.
pub struct Finished {
    pub code: String,
    pub screen: String,
}

/// Runs `shipctl ARGS -p PROJECT` in a detached tmux session; each time the screen shows a
/// prompt, sends its keys. Returns what the command exited with.
pub fn in_tmux(p: &LiveProject, args: &str, answers: &[(&str, &[&str])]) -> String {
    run_in_tmux(p, args, answers).code
}

/// As [`in_tmux`], also returning the screen the command left.
pub fn run_in_tmux(p: &LiveProject, args: &str, answers: &[(&str, &[&str])]) -> Finished {
    let dir = p.env.dir();
    let session = format!("shipctl-{}", p.project());
    let exit_file = dir.join("exit-code");
    // A file left by an earlier run in this directory would end the wait at once.
    let _ = std::fs::remove_file(&exit_file);
    let binary = assert_cmd::cargo::cargo_bin!("shipctl");
    let script = dir.join("run.sh");
    let docker_host = std::env::var("DOCKER_HOST")
        .map(|h| format!("DOCKER_HOST={h} "))
        .unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            "cd {dir}\nenv -i PATH=\"$PATH\" HOME={dir} TERM=xterm NO_COLOR=1 {docker_host}{bin} {args} -p {project}\necho $? > {exit}\nsleep 30\n",
            dir = dir.display(),
            bin = binary.display(),
            project = p.project(),
            exit = exit_file.display(),
        ),
    )
    .expect("write the tmux script");
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "50",
            "sh",
        ])
        .arg(&script)
        .status()
        .expect("start tmux");
    assert!(started.success());
    let _kill = KillSession(session.clone());
    for (prompt, keys) in answers {
        wait_for_screen(&session, prompt, &exit_file);
        let sent = Command::new("tmux")
            .args(["send-keys", "-t", &session])
            .args(*keys)
            .status()
            .expect("tmux send-keys");
        assert!(sent.success());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(code) = std::fs::read_to_string(&exit_file) {
            return Finished {
                code,
                screen: screen(&session),
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("shipctl did not finish in tmux:\n{}", screen(&session));
}

pub fn screen(session: &str) -> String {
    Command::new("tmux")
        .args(["capture-pane", "-p", "-J", "-t", session])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn wait_for_screen(session: &str, text: &str, exit_file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let now = screen(session);
        if now.contains(text) {
            return;
        }
        assert!(
            !exit_file.exists(),
            "shipctl exited before asking `{text}`:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("`{text}` never appeared:\n{}", screen(session));
}

struct KillSession(String);

impl Drop for KillSession {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

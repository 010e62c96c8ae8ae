//! The CI clients and renderers the CI template tests drive: gitlab-ci-local (a real GitLab CI
//! runner for `.gitlab-ci.yml`) and Mermaid (the library GitHub and GitLab draw charts with).
//! scripts/prepare installs both, with the Node they need, into /opt/shipctl-tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::prereq;

/// Where scripts/prepare puts them (`SHIPCTL_TOOLS` moves it).
fn tools() -> PathBuf {
    std::env::var_os("SHIPCTL_TOOLS")
        .map_or_else(|| PathBuf::from("/opt/shipctl-tools"), PathBuf::from)
}

/// A gitlab-ci-local that runs (`SHIPCTL_GITLAB_CI_LOCAL`, else the one scripts/prepare
/// installs, else the PATH's), with git and rsync beside it; `None` (test skipped, or failed in
/// CI) otherwise.
pub fn gitlab_ci_local(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SHIPCTL_GITLAB_CI_LOCAL").map(PathBuf::from),
        Some(tools().join("bin/gitlab-ci-local")),
        Some(PathBuf::from("gitlab-ci-local")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(found) = found else {
        prereq::missing(
            test,
            "no gitlab-ci-local 4.75 that runs (scripts/prepare installs it with Node 22 into /opt/shipctl-tools)",
        );
        return None;
    };
    for program in ["git", "rsync"] {
        if !runs(program, "--version") {
            prereq::missing(
                test,
                &format!("{program} is missing (gitlab-ci-local needs it)"),
            );
            return None;
        }
    }
    Some(found)
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Parses every ```` ```mermaid ```` block of `markdown` with Mermaid itself and computes its
/// gantt tasks' dates as Mermaid does to draw them; panics naming the block that fails.
/// Skipped (or failed in CI) when Mermaid is not installed.
pub fn assert_mermaid_draws(test: &str, markdown: &str) {
    let node = tools().join("node_modules/.bin/node");
    let node = if node.exists() {
        node
    } else {
        // The node-linux-* package's binary, by architecture.
        match std::fs::read_dir(tools().join("node_modules"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/node"))
            .find(|p| p.exists())
        {
            Some(p) => p,
            None => {
                prereq::missing(
                    test,
                    "no Node 22 in /opt/shipctl-tools (scripts/prepare installs it)",
                );
                return;
            }
        }
    };
    if !tools().join("node_modules/mermaid").is_dir() {
        prereq::missing(
            test,
            "Mermaid is not installed in /opt/shipctl-tools (scripts/prepare installs it)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("summary.md");
    std::fs::write(&file, markdown).expect("write the Markdown");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mermaid-check.mjs");
    let out = Command::new(&node)
        .arg(&script)
        .arg(&file)
        .env("NODE_PATH", tools().join("node_modules"))
        .current_dir(tools())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "Mermaid cannot draw this Markdown:\n{}\n{}\n---\n{markdown}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("ok "),
        "no Mermaid block was checked:\n{report}\n---\n{markdown}"
    );
}

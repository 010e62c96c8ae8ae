//! Asks the user what to do about a failed deploy (on a terminal only).

use std::io::IsTerminal;

use async_trait::async_trait;
use dialoguer::Select;
use dialoguer::console::Term;
use indicatif::MultiProgress;

use crate::exec::{Decision, FailureDecider, FailureReport};

/// A dialoguer menu: roll back, keep waiting, or leave it as it is.
#[derive(Default)]
pub struct PromptDecider {
    /// The live progress view, hidden while the question is shown.
    progress: Option<MultiProgress>,
}

impl PromptDecider {
    pub fn new() -> PromptDecider {
        PromptDecider { progress: None }
    }

    /// Hides `progress` (from [`super::progress::TtySink::multi`]) while asking.
    pub fn with_progress(progress: MultiProgress) -> PromptDecider {
        PromptDecider {
            progress: Some(progress),
        }
    }
}

fn ask(failure: &FailureReport) -> Decision {
    let term = Term::stderr();
    let _ = term.write_line(&format!(
        "{}: {} failed: {}",
        failure.service, failure.step, failure.cause
    ));
    for e in &failure.task_errors {
        let _ = term.write_line(&format!("  {e}"));
    }
    let _ = term.write_line(&failure.situation);
    let answer = Select::new()
        .with_prompt("What now?")
        .items([
            "Roll back (new zone back to its replicas, keys restored)",
            "Keep waiting (retry this step)",
            "Leave it as it is (exit 3; promote/abort later)",
        ])
        .default(0)
        .interact_on_opt(&term);
    match answer {
        Ok(Some(0)) => Decision::Rollback,
        Ok(Some(1)) => Decision::KeepWaiting,
        // Escape, a closed terminal, or anything unexpected: change nothing more.
        _ => Decision::Leave,
    }
}

#[async_trait]
impl FailureDecider for PromptDecider {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    async fn decide(&self, failure: &FailureReport) -> Decision {
        let failure = failure.clone();
        let progress = self.progress.clone();
        // dialoguer blocks; keep the runtime free meanwhile.
        let answer = tokio::task::spawn_blocking(move || match progress {
            Some(p) => p.suspend(|| ask(&failure)),
            None => ask(&failure),
        })
        .await;
        answer.unwrap_or(Decision::Leave)
    }
}

/// Asks a yes/no question on the terminal (default no).
pub fn confirm(question: &str) -> std::io::Result<bool> {
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact_opt()
        .map(|answer| answer.unwrap_or(false))
        .map_err(|e| match e {
            dialoguer::Error::IO(io) => io,
        })
}

/// Asks to pick one of `items` on stderr (first one preselected); `None` on Escape.
pub fn select(question: &str, items: &[String]) -> std::io::Result<Option<usize>> {
    Select::new()
        .with_prompt(question)
        .items(items)
        .default(0)
        .interact_on_opt(&Term::stderr())
        .map_err(|e| match e {
            dialoguer::Error::IO(io) => io,
        })
}

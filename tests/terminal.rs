//! What a person at a terminal meets: shipctl asks what to do about a failed gate only where
//! someone can answer, and never when a program reads its output (`--output json`).

use crate::support::live::{LiveProject, lean_spec};
use crate::support::tmux::{run_in_tmux, tmux_available};

/// The lean spec, but leaving `on_failure` to its default: ask on a terminal.
fn asking_spec() -> String {
    lean_spec("").replace("  on_failure: rollback\n", "")
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_on_a_terminal_never_asks_and_text_output_does() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    if !tmux_available() {
        return;
    }
    p.env.write("shipctl.yaml", &asking_spec());
    p.deploy("1.0.0");

    // NDJSON on a terminal: a failing gate rolls back on its own (exit 1), no question.
    let json = run_in_tmux(&p, "deploy --version unhealthy --output json --yes", &[]);
    assert_eq!(json.code.trim(), "1", "{}", json.screen);
    assert!(!json.screen.contains("What now?"), "{}", json.screen);
    assert!(
        json.screen.contains(r#""event":"rollback_finished""#),
        "{}",
        json.screen
    );
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));

    // Text on the same terminal: the same failure is asked about; Enter picks "Roll back".
    let text = run_in_tmux(
        &p,
        "deploy --version unhealthy --yes",
        &[("What now?", &["Enter"])],
    );
    assert_eq!(text.code.trim(), "1", "{}", text.screen);
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

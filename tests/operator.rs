//! What an operator reads from `deploy` (canary), `promote`, `abort` and `history` on the live
//! Swarm, text and JSON, with times and names normalised.

use serde_json::Value;

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"st-[0-9a-f]{8}", "st-XXXXXXXX"),
        (r"done in [0-9.]+m?s", "done in DURATION"),
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME"),
        (r"\d+\.\ds ", "D.Ds "),
        (r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+ +│", "USER@HOST │"),
        // Column widths follow the longest cell (host names, durations): keep the cells only.
        (r"[─═┌┐└┘╞╡]+", ""),
        (r" {2,}", " "),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_then_promote_then_abort_and_the_history_of_it_all() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.deploy("1.0.0");
    let canary = ["--strategy", "canary", "--new", "1", "--old", "1", "--yes"];

    let out = p.run(&[&["deploy", "--version", "1.1.0"][..], &canary[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!(stdout(&out), @"
        web: canary green@1.1.0 is running; green 1.1.0 runs as a canary and waits: `shipctl promote web` to go on, `shipctl abort web` to go back
        release RELEASE done in DURATION
        ");
    });
    assert_eq!(p.key("traffic").await.as_deref(), Some("blue=50,green=50"));

    let out = p.run(&["promote", "web", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!(stdout(&out), @"
        web: green@1.1.0 is live
        release RELEASE done in DURATION
        ");
    });
    assert_eq!(p.key("active-zone").await.as_deref(), Some("green"));

    let out = p.run(&[&["deploy", "--version", "2.0.0"][..], &canary[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = p.run(&["abort", "web", "--yes", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let mut summary = events.last().cloned().expect("a summary");
    summary["duration"] = Value::from("[duration]");
    // The release the abort made: named in its first event and in the summary.
    assert_eq!(events[0]["event"], "release_started");
    assert_eq!(summary["release"], events[0]["id"]);
    summary["release"] = Value::from("[release]");
    insta::assert_json_snapshot!(summary, @r#"
    {
      "event": "summary",
      "result": "done",
      "services": [
        {
          "service": "web",
          "result": {
            "result": "done",
            "to": {
              "zone": "green",
              "version": "1.1.0"
            }
          }
        }
      ],
      "duration": "[duration]",
      "release": "[release]"
    }
    "#);
    assert_eq!(p.key("active-zone").await.as_deref(), Some("green"));
    assert_eq!(p.key("traffic").await.as_deref(), Some("blue=0,green=100"));

    let out = p.run(&["history", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!(stdout(&out), @"

        │ time action strategy from to result took by │

        │ TIME abort canary blue@2.0.0 green@1.1.0 success D.Ds USER@HOST │
        │ TIME deploy canary green@1.1.0 blue@2.0.0 awaiting_promotion D.Ds USER@HOST │
        │ TIME promote canary blue@1.0.0 green@1.1.0 success D.Ds USER@HOST │
        │ TIME deploy canary blue@1.0.0 green@1.1.0 awaiting_promotion D.Ds USER@HOST │
        │ TIME deploy blue-green - blue@1.0.0 success D.Ds USER@HOST │
        ");
    });
    let out = p.run(&["history", "web", "--output", "json"]);
    let records: Vec<Value> = serde_json::from_str(&stdout(&out)).expect("JSON array");
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or(""),
                r["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("deploy", "success"),
            ("deploy", "awaiting_promotion"),
            ("promote", "success"),
            ("deploy", "awaiting_promotion"),
            ("abort", "success"),
        ]
    );
}

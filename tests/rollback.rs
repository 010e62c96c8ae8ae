//! `shipctl rollback` against the live Swarm: the warm zone (instant), the refusals without a
//! terminal, the history record, and the interactive menu in a real pseudo-terminal (tmux).

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;
use crate::support::tmux::{in_tmux, tmux_available};

#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_the_warm_zone_then_pick_an_older_version_in_a_terminal() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.deploy("1.0.0");
    p.deploy("1.1.0");

    // Without a terminal, going ahead needs --yes.
    let out = p.run(&["rollback", "web"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("add --yes"), "{}", stderr(&out));

    let out = p.run(&["rollback", "web", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => vec![(r"st-[0-9a-f]{8}", "st-XXXXXXXX")]}, {
        insta::assert_snapshot!(stdout(&out), @"
        Plan for project st-XXXXXXXX, from the state of the cluster

        web: blue-green  green@1.1.0 -> blue@1.0.0
          1. scale st-XXXXXXXX_web-blue to 2
               rollback: scale the warm zone blue (1.0.0) up to 2 replica(s); its service still holds 1.0.0, so nothing is recreated
          2. wait until st-XXXXXXXX_web-blue runs 2 replicas of 1.0.0, healthy
               before it takes all traffic back: 2 task(s) of 1.0.0 in blue must run healthy for 1s (timeout 1m)
          3. write keys (atomically)
                 st-XXXXXXXX-web-active-zone = blue
                 st-XXXXXXXX-web-active-version = 1.0.0
                 st-XXXXXXXX-web-traffic = blue=100,green=0
               rollback: switch active zone blue, version 1.0.0 and all traffic, in one atomic write
          4. drain for 1s
               let requests in flight on green finish before its tasks stop (1s)
          5. scale st-XXXXXXXX_web-green to 0
               scale green down to 0; the service is kept, so a rollback is a key flip and a scale-up away
          inside the stack, web answers: green (1.1.0); after step 2 blue (1.0.0) and green (1.1.0); after step 5 blue (1.0.0)

        1 service to change (5 steps), 0 up to date, 0 warnings.
        ");
    });

    let out = p.run(&["rollback", "web", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("web: blue@1.0.0 is live"));
    assert_eq!(p.key("active-zone").await.as_deref(), Some("blue"));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
    let out = p.run(&["history", "web", "--output", "json"]);
    let records: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("history JSON");
    let last = &records[records.as_array().map_or(0, Vec::len) - 1];
    assert_eq!(last["action"], "rollback");
    assert_eq!(last["to_version"], "1.0.0");
    assert_eq!(last["result"], "success");

    // Now 2.0.0 serves from green; blue keeps 1.0.0 warm and 1.1.0 is in the history.
    p.deploy("2.0.0");
    let out = p.run(&["rollback", "web", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("add --to VERSION"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("1.0.0 (instant: warm zone blue"));

    if !tmux_available() {
        return;
    }
    // The menu lists the warm 1.0.0 first; Down picks 1.1.0, deployed again into blue.
    let code = in_tmux(
        &p,
        "rollback web",
        &[
            ("Roll web back to", &["Down", "Enter"]),
            ("Apply this plan?", &["y", "Enter"]),
        ],
    );
    assert_eq!(code.trim(), "0");
    assert_eq!(p.key("active-zone").await.as_deref(), Some("blue"));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
}

//! `shipctl status` against the live Swarm: the table, JSON, `--wait` as a CI gate and
//! `--watch` without a terminal.

use std::time::Duration;

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_zones_keys_and_settles() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.deploy("1.0.0");
    p.deploy("1.1.0");

    let out = p.run(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => vec![
        (r"st-[0-9a-f]{8}", "st-XXXXXXXX"),
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME"),
        (r"(?m)(\d{1,2}[smhd]) {1,2}│$", "AGE │"),
    ]}, {
        insta::assert_snapshot!(stdout(&out), @"
        latest release RELEASE: deploy, success, at TIME
          web 1.0.0 -> 1.1.0

        web: green serves 1.1.0, traffic blue=0,green=100
        ┌────────────────────────────────────────────────────────────────────────────────────────┐
        │ zone      service                 replicas      image                    version   age │
        ╞════════════════════════════════════════════════════════════════════════════════════════╡
        │ blue      st-XXXXXXXX_web-blue    0/0 healthy   shipctl-test-app:1.0.0   1.0.0     AGE │
        │ green *   st-XXXXXXXX_web-green   2/2 healthy   shipctl-test-app:1.1.0   1.1.0     AGE │
        └────────────────────────────────────────────────────────────────────────────────────────┘
        settled
        ");
    });

    let out = p.run(&["status", "web", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(json["settled"], true);
    let web = &json["services"][0];
    assert_eq!(web["active_zone"], "green");
    assert_eq!(web["active_version"], "1.1.0");
    assert_eq!(web["zones"][1]["healthy"], 2);
    assert_eq!(web["zones"][0]["desired"], 0);
    assert!(web["zones"][1]["age_secs"].is_u64());

    let out = p.run(&["status", "--wait", "--timeout", "20s"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The warm zone starts serving too: not settled, and `--wait` says why after its timeout.
    let blue = format!("{}_web-blue", p.project());
    let scaled = std::process::Command::new("docker")
        .args(["service", "scale", "-d", &format!("{blue}=1")])
        .output()
        .expect("docker service scale");
    assert!(scaled.status.success());
    let out = p.run(&["status", "--wait", "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(7), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not settled after 2s: web: both zones run replicas"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("deploy: both zones run replicas"));
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_without_a_terminal_prints_only_changes() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.deploy("1.0.0");
    let out = p
        .env
        .shipctl()
        .args(["status", "--watch", "-p", p.project()])
        .timeout(Duration::from_millis(3500))
        .output()
        .expect("status --watch");
    let text = String::from_utf8_lossy(&out.stdout);
    // Three polls, one unchanged state: one table.
    assert_eq!(text.matches("web: blue serves 1.0.0").count(), 1, "{text}");
    assert!(
        !text.contains('\x1b'),
        "no screen control codes without a terminal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_waiting_for_promote_is_shown_with_its_step() {
    let spec = "services:\n  web:\n    strategy: canary\n    canary:\n      new: 1\n      steps:\n        - pause: {}\n";
    let Some(p) = LiveProject::new(spec).await else {
        return;
    };
    p.deploy("1.0.0");
    p.deploy("1.1.0");
    let out = p.run(&["status", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => vec![
        (r"st-[0-9a-f]{8}", "st-XXXXXXXX"),
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME"),
        (r"(?m)(\d{1,2}[smhd]) {1,2}│$", "AGE │"),
    ]}, {
        insta::assert_snapshot!(stdout(&out), @"
        latest release RELEASE: deploy, awaiting_promotion, at TIME
          web 1.0.0 -> 1.1.0

        web: blue serves 1.0.0, traffic blue=50,green=50
        ┌───────────────────────────────────────────────────────────────────────────────────────┐
        │ zone     service                 replicas      image                    version   age │
        ╞═══════════════════════════════════════════════════════════════════════════════════════╡
        │ blue *   st-XXXXXXXX_web-blue    1/1 healthy   shipctl-test-app:1.0.0   1.0.0     AGE │
        │ green    st-XXXXXXXX_web-green   1/1 healthy   shipctl-test-app:1.1.0   1.1.0     AGE │
        └───────────────────────────────────────────────────────────────────────────────────────┘
        deploy: canary waiting for `shipctl promote`, blue@1.0.0 -> green@1.1.0, step 8/13 done; next: scale green to 2
          green 1.1.0 runs as a canary and waits: `shipctl promote web` to go on, `shipctl abort web` to go back
        not settled: both zones run replicas; a deploy is in progress (awaiting_promotion)
        ");
    });
    // A rollback now would fight the canary: abort is the way back.
    let out = p.run(&["rollback", "web", "--to", "1.0.0", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("shipctl abort web"),
        "{}",
        stderr(&out)
    );
}

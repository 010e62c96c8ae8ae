//! Hooks and CI output against the live Swarm: a failing or hanging pre_deploy hook changes
//! nothing, a
//! post_switch hook runs at the switch, before the old zone drains, a post_deploy hook sees the
//! deploy's variables, GitHub Actions gets a job summary and
//! `::error` annotations (not in JSON mode, whose stdout stays NDJSON).

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::{LiveProject, lean_spec};

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_pre_deploy_hook_changes_nothing() {
    let hooks = "hooks:\n  pre_deploy:\n    - echo checking migrations\n    - exit 3\n";
    let Some(mut p) = LiveProject::new(hooks).await else {
        return;
    };
    p.env.set("GITHUB_ACTIONS", "true");
    let out = p.run(&["deploy", "--version", "1.0.0", "--yes"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checking migrations"),
        "hook output on stderr"
    );
    assert_eq!(
        stdout(&out).trim(),
        "::error title=shipctl::web: pre_deploy hook `exit 3` exited 3; nothing was changed"
    );

    let out = p.run(&["deploy", "--version", "1.0.0", "--yes", "--output", "json"]);
    assert_eq!(out.status.code(), Some(6));
    for line in stdout(&out).lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("stdout is NDJSON");
        assert!(event.get("event").is_some(), "{line}");
    }
    assert!(!stdout(&out).contains("::error"));

    let out = p.run(&["status", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
    let zones = &json["services"][0]["zones"];
    assert_eq!(zones[0]["exists"], false, "no service was created");
    assert_eq!(zones[1]["exists"], false, "no service was created");
    assert_eq!(p.key("active-zone").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_that_hangs_is_killed_after_hooks_timeout_and_changes_nothing() {
    let hooks = "hooks:\n  timeout: 2s\n  pre_deploy:\n    - sleep 300\n";
    let Some(p) = LiveProject::new(hooks).await else {
        return;
    };
    let started = std::time::Instant::now();
    let out = p.run(&["deploy", "--version", "1.0.0", "--yes"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "pre_deploy hook `sleep 300` did not finish within 2s (spec `hooks.timeout`) and was killed"
        ),
        "{}",
        stderr(&out)
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert_eq!(p.key("active-zone").await, None);
    // The lock was released: the next deploy is not refused.
    assert_eq!(p.key("lock").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn post_deploy_hooks_see_the_deploy_and_ci_gets_a_summary() {
    let hooks = "hooks:\n  post_deploy:\n    - env | grep '^SHIPCTL_' | sort > hook-env.txt\n";
    let Some(mut p) = LiveProject::new(hooks).await else {
        return;
    };
    p.deploy("1.0.0");
    let summary = p.env.dir().join("summary.md");
    p.env
        .set("GITHUB_STEP_SUMMARY", &summary.display().to_string())
        .set("GITHUB_ACTIONS", "true");
    p.deploy("1.1.0");

    let seen = std::fs::read_to_string(p.env.dir().join("hook-env.txt")).expect("hook ran");
    insta::assert_snapshot!(seen, @"
    SHIPCTL_PREVIOUS_VERSION=1.0.0
    SHIPCTL_RESULT=success
    SHIPCTL_SERVICE=web
    SHIPCTL_STRATEGY=blue-green
    SHIPCTL_VERSION=1.1.0
    SHIPCTL_ZONE=green
    ");

    let md = std::fs::read_to_string(&summary).expect("summary written");
    insta::with_settings!({filters => vec![
        (r"st-[0-9a-f]{8}", "st-XXXXXXXX"),
        (r"\d\d:\d\d:\d\d\.\d{3}", "[CLOCK]"),
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d+(\.\d+)?m?s\b", "[T]"),
        // Where a long label is cut depends on the project name's length.
        (r"\S*…", "…"),
    ]}, {
        insta::assert_snapshot!(md, @"
        ### shipctl deploy: success

        Release `RELEASE` (`shipctl history` lists it)

        | service | from | to | result | duration |
        |---|---|---|---|---|
        | web | blue@1.0.0 | green@1.1.0 | success | [T] |

        ```mermaid
        gantt
            title web deploy, blue-green, blue@1.0.0 → green@1.1.0, success in [T]
            dateFormat HH:mm:ss.SSS
            axisFormat %M:%S
            section steps
            1/6 ensure network st-XXXXXXXX_front ([T]) :done, [CLOCK], [CLOCK]
            2/6 create green with 1.1.0 (2 replicas) ([T]) :done, [CLOCK], [CLOCK]
            3/6 wait for 2 healthy green tasks of 1.1.0 ([T]) :done, [CLOCK], [CLOCK]
            4/6 write st-XXXXXXXX-web-active-zone=green, … ([T]) :done, [CLOCK], [CLOCK]
            5/6 drain for [T] ([T]) :done, [CLOCK], [CLOCK]
            6/6 scale blue to 0 ([T]) :done, [CLOCK], [CLOCK]
            section traffic
            blue 100%, green 0% :[CLOCK], [CLOCK]
            blue 0%, green 100% :[CLOCK], [CLOCK]
        ```

        | from | traffic |
        |--:|---|
        | [T] | blue 100%, green 0% |
        | [T] | blue 0%, green 100% |

        <details><summary>Steps of web</summary>

        - 1/6 ensure network st-XXXXXXXX_front ([T])
        - 2/6 create green with 1.1.0 (2 replicas) ([T])
        - 3/6 wait for 2 healthy green tasks of 1.1.0 ([T])
        - 4/6 write st-XXXXXXXX-web-active-zone=green, st-XXXXXXXX-web-active-version=1.1.0, st-XXXXXXXX-web-traffic=blue=0,green=100 ([T])
        - 5/6 drain for [T] ([T])
        - 6/6 scale blue to 0 ([T])

        </details>
        ");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn post_switch_hooks_run_at_the_switch_before_the_old_zone_drains() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    // The hook records what it sees of the old zone: still at full strength at the switch.
    let hooks = format!(
        "hooks:\n  post_switch:\n    - >-\n      echo \"$SHIPCTL_RESULT $SHIPCTL_ZONE $SHIPCTL_VERSION \
         blue=$(docker service inspect --format '{{{{.Spec.Mode.Replicated.Replicas}}}}' \
         {}_web-blue)\" >> switch.txt\n",
        p.project()
    );
    p.env.write("shipctl.yaml", &lean_spec(&hooks));
    p.deploy("1.0.0");
    p.deploy("1.1.0");

    let seen = std::fs::read_to_string(p.env.dir().join("switch.txt")).expect("hook ran");
    let lines: Vec<&str> = seen.lines().collect();
    // The first deploy switched to blue (which it had just started); the second to green while
    // blue still ran its 2 replicas, which the drain then took to 0.
    assert_eq!(
        lines,
        ["switched blue 1.0.0 blue=2", "switched green 1.1.0 blue=2"],
        "{seen}"
    );
    let out = p.run(&["status", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
    assert_eq!(json["services"][0]["zones"][0]["desired"], 0, "{json}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deploy_runs_on_failure_and_annotates() {
    let extra = "services:\n  web:\n    health:\n      timeout: 15s\nhooks:\n  on_failure:\n    - echo \"$SHIPCTL_RESULT $SHIPCTL_VERSION\" > failure.txt\n";
    let Some(mut p) = LiveProject::new(extra).await else {
        return;
    };
    p.deploy("1.0.0");
    p.env.set("GITHUB_ACTIONS", "true");
    let out = p.run(&["deploy", "--version", "unhealthy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let seen = std::fs::read_to_string(p.env.dir().join("failure.txt")).expect("on_failure ran");
    assert_eq!(seen.trim(), "rolled_back unhealthy");
    let annotation = stdout(&out);
    assert!(
        annotation.starts_with("::error title=shipctl::") && annotation.lines().count() == 1,
        "{annotation}"
    );
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

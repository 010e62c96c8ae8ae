//! Releases on the live Swarm through the real binary: a stack of two services (the real-stack
//! API image and the small test app) deployed in several releases, then rolled back as a whole:
//! to before its latest release, and to the versions of a named release (`--to`). The release
//! records, `history` and `status` are read as a user reads them.

use std::collections::HashMap;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;
use crate::support::prereq;
use crate::support::stack::SwarmKeys;

const COMPOSE: &str = r#"
services:
  api:
    image: shipctl-stack-api:${IMAGE_VERSION:-1.0.0}
    environment:
      # No Redis in this stack: the API's liveness alone.
      HEALTH_NEEDS_REDIS: "0"
    stop_grace_period: 2s
    deploy:
      endpoint_mode: dnsrr
  web:
    image: shipctl-test-app:${IMAGE_VERSION:-1.0.0}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
    stop_grace_period: 2s
    deploy:
      endpoint_mode: dnsrr
"#;

/// The default key layout (`{project}/{service}-…`, `{project}/releases`): every key of the
/// test is under `{project}/`, removed on drop.
const SPEC: &str = "kv:\n  url: swarm://\ndefaults:\n  health:\n    timeout: 45s\n    min_healthy: 1s\n  drain: 1s\n  on_failure: rollback\n";

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME"),
        (r"\b\d+\.\ds\b", "D.Ds"),
        (r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+ +│", "USER@HOST │"),
        (r"st-[0-9a-f]{8}", "PROJECT"),
        // Both services fail their gate; which one the run stops on first is the executor's
        // business (asserted above from the JSON record).
        (r"\((api|web) failed\)", "(SERVICE failed)"),
        // The age column of `status`.
        (r"(?m) \d{1,3}[smhd] +│$", " AGE │"),
        (r"\b[0-9a-f]{12}\b", "ID"),
        // Column widths follow the longest cell: keep the cells only.
        (r"[─═┌┐└┘╞╡┬┴┼├┤]+", ""),
        (r" {2,}", " "),
    ]
}

/// `docker service inspect`: the version label, replicas and image of a Swarm service.
fn swarm_service(name: &str) -> Option<(String, u64, String)> {
    let out = Command::new("docker")
        .args([
            "service",
            "inspect",
            name,
            "--format",
            r#"{{index .Spec.Labels "io.shipctl.version"}} {{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}}"#,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    let version = words.next()?.to_string();
    let replicas = words.next()?.parse().ok()?;
    let image = words.next()?.to_string();
    Some((version, replicas, image))
}

/// The project's keys in the Swarm store.
async fn key(project: &str, name: &str) -> Option<String> {
    let kv = shipctl::kv::connect("swarm://", &HashMap::new())
        .await
        .expect("connect to the Swarm KV");
    kv.get(&format!("{project}/{name}"))
        .await
        .expect("read a key")
        .map(|e| e.value)
}

/// Each service serves `version`: its keys say so, and the Swarm service of its active zone
/// runs that version's image with replicas.
async fn assert_serves(project: &str, expected: &[(&str, &str)]) {
    for (service, version) in expected {
        let active_version = key(project, &format!("{service}-active-version")).await;
        assert_eq!(
            active_version.as_deref(),
            Some(*version),
            "{service}'s version key"
        );
        let zone = key(project, &format!("{service}-active-zone"))
            .await
            .expect("an active zone");
        let name = format!("{project}_{service}-{zone}");
        let (label, replicas, image) = swarm_service(&name).expect("the active zone's service");
        assert_eq!(label, *version, "{name}'s version label");
        assert!(replicas > 0, "{name} has no replicas");
        assert!(
            image.contains(&format!(":{version}")),
            "{name} runs {image}"
        );
    }
}

/// `shipctl history --output json`: the releases, newest first.
fn releases(p: &LiveProject) -> Vec<Value> {
    let out = p.run(&["history", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<Vec<Value>>(&stdout(&out)).expect("a JSON list of releases")
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The release id in `release ID…` lines.
fn release_id_in(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("release "))
        .and_then(|rest| rest.split([' ', ':']).next())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_rolls_back_as_a_whole_and_its_releases_say_what_happened() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let images = Command::new("docker")
        .args(["image", "inspect", "shipctl-stack-api:1.0.0"])
        .output();
    if !images.is_ok_and(|o| o.status.success()) {
        prereq::missing(
            "releases",
            "the real-stack images (scripts/stack-images/build.sh)",
        );
        return;
    }
    let project = p.project().to_string();
    let _keys = SwarmKeys {
        docker_host: std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        prefix: format!("{project}/"),
    };
    p.env.write("compose.yaml", COMPOSE);
    p.env.write("shipctl.yaml", SPEC);

    // r1 creates both; its id opens the run's messages and ends its output.
    let out = ok(p.run(&["deploy", "--version", "1.0.0", "--yes"]), "r1");
    let r1 = release_id_in(&stderr(&out)).expect("a release line");
    assert!(
        stderr(&out).starts_with(&format!("release {r1}: api, web\n")),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out)
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(&format!("release {r1} done in "))),
        "{}",
        stdout(&out)
    );

    // r2 moves the API alone; NDJSON names the release first and in the summary.
    let out = ok(
        p.run(&[
            "deploy",
            "api",
            "--version",
            "2.0.0",
            "--yes",
            "--output",
            "json",
        ]),
        "r2",
    );
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(events[0]["event"], "release_started", "{events:?}");
    assert_eq!(events[0]["services"], serde_json::json!(["api"]));
    let r2 = events[0]["id"].as_str().expect("an id").to_string();
    let finished = events
        .iter()
        .find(|e| e["event"] == "release_finished")
        .expect("a release_finished event");
    assert_eq!(finished["id"], r2.as_str());
    assert_eq!(finished["result"], "done");
    assert_eq!(finished["changes"], "api 1.0.0 -> 2.0.0");
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["release"], r2.as_str());

    // r3 moves both: api 2.0.0 -> 3.0.0, web 1.0.0 -> 3.0.0.
    ok(p.run(&["deploy", "--version", "3.0.0", "--yes"]), "r3");
    assert_serves(&project, &[("api", "3.0.0"), ("web", "3.0.0")]).await;

    // The plan of a rollback of the whole stack: each service to its own earlier version.
    let out = ok(p.run(&["rollback", "--dry-run"]), "rollback --dry-run");
    let plan = stdout(&out);
    assert!(plan.contains("api") && plan.contains("2.0.0"), "{plan}");
    assert!(plan.contains("web") && plan.contains("1.0.0"), "{plan}");
    assert_serves(&project, &[("api", "3.0.0"), ("web", "3.0.0")]).await;

    // Without a terminal, applying it needs --yes; the refusal says what it would do.
    let out = p.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("api 2.0.0, web 1.0.0") && stderr(&out).contains("add --yes"),
        "{}",
        stderr(&out)
    );

    // Without a service, without --to: back to before r3, both from their warm zones.
    let out = ok(p.run(&["rollback", "--yes"]), "rollback");
    let r4 = release_id_in(&stderr(&out)).expect("a release line");
    assert_serves(&project, &[("api", "2.0.0"), ("web", "1.0.0")]).await;

    let list = releases(&p);
    let actions: Vec<(&str, &str)> = list
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
            ("rollback", "success"),
            ("deploy", "success"),
            ("deploy", "success"),
            ("deploy", "success")
        ]
    );
    assert_eq!(list[0]["id"], r4.as_str());
    assert_eq!(list[2]["id"], r2.as_str());
    assert_eq!(list[3]["id"], r1.as_str());
    let back: Vec<(String, String, String)> = list[0]["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|c| {
            (
                c["service"].as_str().unwrap_or("").to_string(),
                c["from_version"].as_str().unwrap_or("").to_string(),
                c["to_version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        back,
        [
            ("api".into(), "3.0.0".into(), "2.0.0".into()),
            ("web".into(), "3.0.0".into(), "1.0.0".into())
        ]
    );

    // --to r1: the versions r1 deployed. The API's 1.0.0 is not warm any more (its warm zone
    // holds 3.0.0): deployed again; web is on 1.0.0 already: up to date.
    let out = ok(p.run(&["rollback", "--to", &r1, "--yes"]), "rollback --to");
    assert!(stdout(&out).contains("web: up to date"), "{}", stdout(&out));
    assert_serves(&project, &[("api", "1.0.0"), ("web", "1.0.0")]).await;
    let list = releases(&p);
    assert_eq!(list.len(), 5);
    assert_eq!(list[0]["action"], "rollback");
    assert_eq!(list[0]["services"].as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["services"][0]["service"], "api");

    // A release that fails: rolled back, and its record says which service failed and why.
    let out = p.run(&["deploy", "--version", "unhealthy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_serves(&project, &[("api", "1.0.0"), ("web", "1.0.0")]).await;
    let list = releases(&p);
    let failed = &list[0];
    assert_eq!(failed["result"], "rolled_back", "{failed}");
    let service = failed["failure"]["service"]
        .as_str()
        .expect("the failed service");
    assert!(["api", "web"].contains(&service), "{failed}");
    let message = failed["failure"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("{service} unhealthy failed")),
        "{failed}"
    );
    assert!(
        stderr(&out).contains(&format!(
            "release {} rolled_back, {service} failed: ",
            failed["id"].as_str().unwrap_or("?")
        )),
        "{}",
        stderr(&out)
    );

    // What a user reads: every release, newest first; and the latest above the services.
    let out = ok(p.run(&["history"]), "history");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("releases_history", stdout(&out));
    });
    let out = ok(p.run(&["status"]), "status");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("releases_status", stdout(&out));
    });
    // What each release took (the figures of the report).
    for r in list.iter().rev() {
        eprintln!(
            "release {} {} {}: {} service(s) in {}s",
            r["id"].as_str().unwrap_or("?"),
            r["action"].as_str().unwrap_or("?"),
            r["result"].as_str().unwrap_or("?"),
            r["services"].as_array().map_or(0, Vec::len),
            r["duration_secs"]
        );
    }
    let out = ok(
        p.run(&["status", "--output", "json"]),
        "status --output json",
    );
    let status: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(status["release"]["id"], list[0]["id"]);
    assert_eq!(status["release"]["result"], "rolled_back");
}

/// One service (the demo's `web`): a stack deployed before releases were recorded rolls back
/// its service as before; that rollback is a release, which a second rollback undoes; and on
/// a terminal the releases are a menu.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_rollback_undoes_the_first_and_a_terminal_picks_the_release() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.deploy("1.0.0");
    p.deploy("1.1.0");
    // What an older shipctl left: histories, no release records.
    let kv = shipctl::kv::connect("swarm://", &HashMap::new())
        .await
        .expect("connect to the Swarm KV");
    kv.delete(&format!("{}/releases", p.project()))
        .await
        .expect("delete the releases");

    ok(p.run(&["rollback", "--yes"]), "rollback without releases");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
    let list = releases(&p);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["action"], "rollback");
    assert_eq!(list[0]["services"][0]["from_version"], "1.1.0");

    ok(p.run(&["rollback", "--yes"]), "the second rollback");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
    let list = releases(&p);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["services"][0]["to_version"], "1.1.0");

    if !crate::support::tmux::tmux_available() {
        return;
    }
    // The menu lists the releases before the latest: only the first rollback (to 1.0.0).
    let code = crate::support::tmux::in_tmux(
        &p,
        "rollback",
        &[
            ("Roll the stack back to the versions of release", &["Enter"]),
            ("Apply this plan?", &["y", "Enter"]),
        ],
    );
    assert_eq!(code.trim(), "0");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
    assert_eq!(releases(&p).len(), 3);
}

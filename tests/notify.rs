//! Webhook notifications (`notify:`) on the live Swarm through the real binary: a receiver that
//! answers 503 once, at a URL that comes from the environment, gets every notification
//! anyway (retried), in order, with the versions of each deploy; a failed deploy notifies its rollback with the cause; a receiver that never
//! answers delays neither the rollback nor the exit beyond the bounded wait at the end.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::{LiveProject, lean_spec};
use crate::support::webhook::{Reply, Webhook};

/// The API of the test stack as the one service `web`; its health needs no Redis here.
const COMPOSE: &str = r#"
services:
  web:
    image: shipctl-stack-api:${IMAGE_VERSION:-1.0.0}
    environment:
      HEALTH_NEEDS_REDIS: "0"
    networks: [front]
    stop_grace_period: 2s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
networks:
  front:
    driver: overlay
    attachable: true
"#;

/// The token part of the webhook's URL: it must never show in the output.
const SECRET: &str = "services/T000/B000/secret-token-1234";

/// Reads one HTTP request from `stream`; its body as JSON, if it is.
/// A webhook receiver that answers 503 to its first call and 200 after, keeping the bodies it
/// accepted.
fn receiver() -> Webhook {
    Webhook::start(|call| Reply {
        status: if call == 0 {
            "503 Service Unavailable"
        } else {
            "200 OK"
        },
        body: "{}",
        keep: call > 0,
    })
}

/// The accepted bodies about `version`, once `count` of them came (or after 15 s).
fn about(receiver: &Webhook, version: &str, count: usize) -> Vec<Value> {
    receiver.wait_for(count, |b| b["to_version"] == version)
}

fn events(bodies: &[Value]) -> Vec<&str> {
    bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap_or("?"))
        .collect()
}

fn notify_spec(url: &str, timeout: &str) -> String {
    format!(
        "services:\n  web:\n    health:\n      timeout: 25s\nnotify:\n  - url: {url}\n    timeout: {timeout}\n    retries: 3\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn deploys_notify_each_phase_in_order_and_a_rollback_names_its_cause() {
    let receiver = receiver();
    // The URL comes from the environment, as a CI secret: the spec file never holds it.
    let url = format!("http://{}/{SECRET}", receiver.addr);
    let Some(mut p) = LiveProject::new(&notify_spec("${SHIPCTL_HOOK_URL}", "5s")).await else {
        return;
    };
    p.env.set("SHIPCTL_HOOK_URL", &url);
    p.env.write("compose.yaml", COMPOSE);
    let project = p.project().to_string();

    // The plan lists the webhook by its variable.
    let out = p.run(&["deploy", "--version", "1.0.0", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Notifications (spec `notify`):\n  ${SHIPCTL_HOOK_URL} on started"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(SECRET), "{}", stdout(&out));

    p.deploy("1.0.0");
    let first = about(&receiver, "1.0.0", 3);
    assert_eq!(events(&first), ["started", "switched", "done"], "{first:?}");
    assert!(receiver.calls() > first.len(), "the 503 was retried");

    let out = p.run(&["deploy", "--version", "1.1.0", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for shown in [stdout(&out), stderr(&out)] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    let second = about(&receiver, "1.1.0", 3);
    assert_eq!(
        events(&second),
        ["started", "switched", "done"],
        "{second:?}"
    );
    for body in &second {
        assert_eq!(body["project"], project.as_str());
        assert_eq!(body["service"], "web");
        assert_eq!(body["from_version"], "1.0.0");
        assert_eq!(body["zone"], "green");
    }
    assert_eq!(
        second[2]["text"].as_str().unwrap_or(""),
        format!(
            "shipctl: {project}/web 1.1.0 done: live on green after {}",
            {
                let ms = second[2]["duration_ms"].as_u64().unwrap_or(0);
                shipctl::spec::duration::format(Duration::from_secs((ms + 500) / 1000))
            }
        )
    );

    let out = p.run(&["deploy", "--version", "unhealthy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed = about(&receiver, "unhealthy", 3);
    assert_eq!(
        events(&failed),
        ["started", "rolled_back", "failed"],
        "{failed:?}"
    );
    let text = failed[1]["text"].as_str().unwrap_or("");
    assert!(
        text.starts_with(&format!(
            "shipctl: {project}/web unhealthy rolled back: healthcheck failing: "
        )),
        "{text}"
    );
    assert!(text.ends_with("(green 1.1.0 serves)"), "{text}");
    assert_eq!(failed[1]["ok"], true);
    assert_eq!(failed[2]["result"], "rolled_back");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
}

/// The NDJSON events of a run as they came, with when; and when the process ended.
fn run_timed(p: &LiveProject, args: &[&str]) -> (Vec<(Instant, Value)>, Instant, Option<i32>) {
    let mut child = p
        .env
        .process()
        .args(args)
        .args(["-p", p.project(), "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shipctl");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            lines.push((Instant::now(), v));
        }
    }
    let status = child.wait().expect("wait for shipctl");
    (lines, Instant::now(), status.code())
}

fn when(events: &[(Instant, Value)], name: &str) -> Instant {
    events
        .iter()
        .find(|(_, e)| e["event"] == name)
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("no {name} event"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_webhook_delays_neither_the_rollback_nor_the_exit_beyond_the_drain() {
    // Accepts every connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/{SECRET}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.env.write("compose.yaml", COMPOSE);
    p.deploy("1.0.0");
    // Each notification could hold a sender for 4 attempts of 10 s and 7 s of back-off.
    p.env
        .write("shipctl.yaml", &lean_spec(&notify_spec(&url, "10s")));

    let started = Instant::now();
    let (events, exited, code) = run_timed(&p, &["deploy", "--version", "unhealthy", "--yes"]);
    assert_eq!(code, Some(1), "{events:?}");
    let failure = when(&events, "failure");
    let rolled_back = when(&events, "rollback_finished");
    let finished = when(&events, "deploy_finished");
    let rollback = rolled_back - failure;
    let exit_wait = exited - finished;
    eprintln!(
        "silent webhook: run {:?}, rollback {rollback:?}, exit waited {exit_wait:?} after deploy_finished",
        exited - started
    );
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the started notification was on its way during the deploy"
    );
    assert!(
        rollback < Duration::from_secs(15),
        "rollback took {rollback:?}"
    );
    // The bounded wait (5 s) and the history and lock release after the last event.
    assert!(
        exit_wait < Duration::from_secs(8),
        "the exit waited {exit_wait:?}"
    );
    let warnings: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e["event"] == "warning")
        .filter_map(|(_, e)| e["message"].as_str())
        .filter(|m| m.contains("not sent"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("notifications to http://127.0.0.1:")
            && warnings[0].contains("/… not sent: no answer within the 5s"),
        "{}",
        warnings[0]
    );
    assert!(events.iter().all(|(_, e)| !e.to_string().contains(SECRET)));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

//! shipctl on a big or busy Swarm: what it asks the engine (never every task or service of the
//! cluster), how it rides out a busy engine and a concurrent update of the same service, and the
//! overlay address space a release needs, in the plan.
//!
//! The live tests put a recording proxy (`support::recorder`) between the real binary and the
//! engine.

use std::sync::{Arc, Mutex};

use crate::support::cli_env::{CliEnv, stderr, stdout};
use crate::support::live::LiveProject;
use crate::support::recorder::{DockerRecorder, endpoint};

/// A project whose every request to the engine goes through a recorder.
async fn recorded(spec_extra: &str) -> Option<(LiveProject, DockerRecorder)> {
    let mut p = LiveProject::new(spec_extra).await?;
    let recorder = DockerRecorder::start(&DockerRecorder::local_engine());
    p.env.set("DOCKER_HOST", &recorder.host());
    Some((p, recorder))
}

/// `%7B%22a%22%7D` -> `{"a"}`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `filters` of a request line, as JSON (`Null` when there are none).
fn filters(line: &str) -> serde_json::Value {
    let query = line.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once(' ').map_or(query, |(q, _)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("filters="))
        .and_then(|f| serde_json::from_str(&percent_decode(f)).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_lists_tasks_and_services_only_through_a_filter() {
    let Some((p, recorder)) = recorded("").await else {
        return;
    };
    p.deploy("1.0.0");
    p.deploy("1.1.0");
    let requests = recorder.requests();
    let lists: Vec<&String> = requests
        .iter()
        .filter(|l| l.starts_with("GET ") && matches!(endpoint(l), "/tasks" | "/services"))
        .collect();
    for wanted in ["/tasks", "/services"] {
        assert!(
            lists.iter().any(|l| endpoint(l) == wanted),
            "no GET {wanted} among the requests of two deploys: {requests:#?}"
        );
    }
    for line in &lists {
        let filters = filters(line);
        // A service (id or name), a name or a label, with at least one value.
        let narrowed = ["service", "name", "label", "id"].iter().any(|key| {
            filters
                .get(key)
                .and_then(|v| v.as_array())
                .is_some_and(|values| !values.is_empty())
        });
        assert!(narrowed, "a list of the whole cluster: {line}");
    }
    // The service lists name this project's services only.
    for line in lists.iter().filter(|l| endpoint(l) == "/services") {
        let names = filters(line)["name"].clone();
        let names = names.as_array().cloned().unwrap_or_default();
        assert!(
            names
                .iter()
                .all(|n| n.as_str().is_some_and(|n| n.starts_with(p.project()))),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_engine_is_asked_again_until_it_answers() {
    let Some((p, recorder)) = recorded("").await else {
        return;
    };
    // The first three service reads (the listing of the zones, then inspections) get 503.
    recorder.busy(&["GET ", "/services"], 3);
    p.deploy("1.0.0");
    assert_eq!(recorder.busy_answers(), 3);
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_update_of_the_same_service_is_read_again_and_retried() {
    let Some((p, recorder)) = recorded("").await else {
        return;
    };
    p.deploy("1.0.0");
    // Just before shipctl's first update of a service reaches the engine, someone else updates
    // that service (a label, as a CI job or an operator would): shipctl's update then carries a
    // stale version and Swarm refuses it as "update out of sequence".
    let raced = Arc::new(Mutex::new(None::<String>));
    let seen = raced.clone();
    let engine = DockerRecorder::local_engine();
    recorder.before_first(
        &["POST ", "/services/", "/update"],
        Box::new(move |line| {
            let name = line
                .split("/services/")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_string();
            let out = std::process::Command::new("docker")
                .args(["-H", &format!("unix://{}", engine.display())])
                .args(["service", "update", "--detach", "--label-add"])
                .args(["io.shipctl.test.race=1", &name])
                .output();
            let ok = out.is_ok_and(|o| o.status.success());
            *seen.lock().unwrap() = ok.then_some(name);
        }),
    );
    p.deploy("1.1.0");
    assert_eq!(recorder.hooks_run(), 1, "no update of a service was seen");
    let name = raced
        .lock()
        .unwrap()
        .clone()
        .expect("the concurrent `docker service update` failed");
    let updates: Vec<String> = recorder
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("POST ") && l.contains(&format!("/services/{name}/update")))
        .collect();
    assert!(
        updates.len() >= 2,
        "the refused update of {name} was not sent again: {updates:#?}"
    );
    assert_ne!(
        updates[0]
            .split("version=")
            .nth(1)
            .map(|v| v.split('&').next()),
        updates[1]
            .split("version=")
            .nth(1)
            .map(|v| v.split('&').next()),
        "sent again at the same, stale version"
    );
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
}

/// A compose file with `web` on a small overlay subnet.
fn small_subnet_compose(subnet: &str, replicas: u64) -> String {
    format!(
        r#"services:
  web:
    image: shipctl-test-app:${{IMAGE_VERSION:-1.0.0}}
    networks: [front]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 10
    deploy:
      replicas: {replicas}
      endpoint_mode: dnsrr
networks:
  front:
    driver: overlay
    ipam:
      config:
        - subnet: {subnet}
"#
    )
}

#[test]
fn a_first_release_bigger_than_its_subnet_is_warned_about_in_the_plan() {
    let env = CliEnv::new();
    env.write("compose.yaml", &small_subnet_compose("10.99.0.0/28", 14));
    let out = env.run(&[
        "plan",
        "-p",
        "shop",
        "--assume-state",
        "none",
        "--version",
        "1.0.0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "network shop_front 10.99.0.0/28: 13 usable, 0 in use, this release adds 14 during the overlap: 1 short"
        ),
        "{text}"
    );
    // Half the replicas fit with room to spare: no warning.
    env.write("compose.yaml", &small_subnet_compose("10.99.0.0/28", 7));
    let text = stdout(&env.run(&[
        "plan",
        "-p",
        "shop",
        "--assume-state",
        "none",
        "--version",
        "1.0.0",
    ]));
    assert!(!text.contains("! network shop_front"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_counts_what_a_small_subnet_holds_and_warns_before_it_runs_out() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    // A /28 holds 13 endpoints. 5 tasks and the node's load balancer take at least 6; the next
    // release runs 5 more beside them: 11 or more of 13.
    let subnet = format!("10.{}.{}.0/28", 180 + rand_byte() % 20, rand_byte());
    p.env
        .write("compose.yaml", &small_subnet_compose(&subnet, 5));
    p.deploy("1.0.0");
    let out = p.run(&["plan", "--version", "1.1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let network = format!("{}_front", p.project());
    let head = format!("! network {network} {subnet}: 13 usable, ");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(head.as_str()))
        .unwrap_or_else(|| panic!("no warning about {network}:\n{text}"));
    let in_use: u64 = line
        .split(" in use")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in use: {line}"));
    assert!((6..=8).contains(&in_use), "{line}");
    assert!(
        line.contains("in use, this release adds 5 during the overlap: "),
        "{line}"
    );
    let fullest = in_use + 5;
    let verdict = if fullest > 13 {
        format!("{} short", fullest - 13)
    } else {
        format!("{} left at the fullest point", 13 - fullest)
    };
    assert!(line.contains(&verdict), "{line}");
}

/// A byte that differs between runs, so parallel runs pick different subnets.
fn rand_byte() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() % 256) as u32
}

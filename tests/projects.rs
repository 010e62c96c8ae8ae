//! Several projects on one Swarm: two stacks that both have a `web` keep their own keys with the
//! default layout, and with keys shared on purpose (`kv.layout: classic`) the second project
//! is refused before it reads or writes the first one's.

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;
use crate::support::stack::SwarmKeys;

const SPEC: &str = "kv:\n  url: swarm://\ndefaults:\n  health:\n    timeout: 1m\n    min_healthy: 1s\n  drain: 1s\n  on_failure: rollback\n";

/// A live project with the default (per-project) keys; its keys are removed on drop.
async fn project() -> Option<(LiveProject, SwarmKeys)> {
    let p = LiveProject::new("").await?;
    p.env.write("shipctl.yaml", SPEC);
    let keys = SwarmKeys {
        docker_host: std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        prefix: format!("{}/", p.project()),
    };
    Some((p, keys))
}

async fn key(p: &LiveProject, name: &str) -> Option<String> {
    let kv = shipctl::kv::connect("swarm://", &std::collections::HashMap::new())
        .await
        .expect("connect to the Swarm KV");
    kv.get(&format!("{}/web-{name}", p.project()))
        .await
        .expect("read key")
        .map(|e| e.value)
}

/// The zone services of project `p` and their versions, as Swarm has them.
fn zones(p: &LiveProject) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "ls",
            "--filter",
            &format!("label=com.docker.stack.namespace={}", p.project()),
            "--format",
            "{{.Name}} {{.Replicas}}",
        ])
        .output()
        .expect("docker service ls");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn two_projects_with_a_web_service_never_touch_each_others_keys() {
    let Some((x, _x_keys)) = project().await else {
        return;
    };
    let Some((y, _y_keys)) = project().await else {
        return;
    };
    x.deploy("1.0.0");
    assert_eq!(key(&x, "owner").await.as_deref(), Some(x.project()));
    // y has nothing yet: its first deploy is a first deploy, not "green -> blue".
    let out = y.run(&["plan", "--version", "2.0.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("first deploy"),
        "y plans from its own empty keys:\n{}",
        stdout(&out)
    );
    y.deploy("2.0.0");
    x.deploy("1.1.0");
    y.deploy("3.0.0");
    assert_eq!(key(&x, "active-version").await.as_deref(), Some("1.1.0"));
    assert_eq!(key(&x, "active-zone").await.as_deref(), Some("green"));
    assert_eq!(key(&y, "active-version").await.as_deref(), Some("3.0.0"));
    assert_eq!(key(&y, "active-zone").await.as_deref(), Some("green"));

    // Rolling one back leaves the other as it is.
    let out = x.run(&["rollback", "web", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(key(&x, "active-version").await.as_deref(), Some("1.0.0"));
    assert_eq!(key(&y, "active-version").await.as_deref(), Some("3.0.0"));
    let out = y.run(&["rollback", "web", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(key(&y, "active-version").await.as_deref(), Some("2.0.0"));
    assert_eq!(key(&x, "active-version").await.as_deref(), Some("1.0.0"));

    // Each project's history has only its own deploys.
    let out = x.run(&["history", "web", "--output", "json"]);
    let records: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("history JSON");
    let versions: Vec<&str> = records
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["to_version"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.0.0"], "{records}");
    let names: Vec<String> = zones(&x);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("{}_web-", x.project()))),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_shared_keys_the_second_project_is_refused_naming_the_first() {
    let Some((x, _x_keys)) = project().await else {
        return;
    };
    let Some((y, _y_keys)) = project().await else {
        return;
    };
    // Shared on purpose: the classic names, here under a prefix of this test's own.
    let shared = format!(
        "kv:\n  url: swarm://\n  keys:\n    active_zone: \"{p}/{{service}}-active-zone\"\n    \
         active_version: \"{p}/{{service}}-active-version\"\n    traffic: \"{p}/{{service}}-traffic\"\n    \
         lock: \"{p}/{{service}}-lock\"\n    history: \"{p}/{{service}}-history\"\n    \
         progress: \"{p}/{{service}}-progress\"\n\
         defaults:\n  health:\n    timeout: 1m\n    min_healthy: 1s\n  drain: 1s\n",
        p = x.project()
    );
    x.env.write("shipctl.yaml", &shared);
    y.env.write("shipctl.yaml", &shared);
    x.deploy("1.0.0");
    let before = key(&x, "active-zone").await;

    for args in [
        vec!["deploy", "--version", "2.0.0", "--yes"],
        vec!["plan", "--version", "2.0.0"],
        vec!["rollback", "web", "--to", "1.0.0", "--yes"],
        vec!["promote", "web", "--yes"],
        vec!["abort", "web", "--yes"],
        vec!["unlock", "web", "--yes"],
        vec!["route", "web", "--once", "--config", "router.conf"],
    ] {
        let out = y.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("belong to project `{}`", x.project())),
            "{args:?} names the owner: {err}"
        );
        assert!(
            err.contains("{project}"),
            "{args:?} says what to change: {err}"
        );
    }
    // y changed nothing: no service of its own, x's keys as they were.
    assert!(zones(&y).is_empty(), "{:?}", zones(&y));
    assert_eq!(key(&x, "active-zone").await, before);
    assert_eq!(key(&x, "active-version").await.as_deref(), Some("1.0.0"));
}

/// The classic keys of `web` on the Swarm store, removed on drop.
struct ClassicKeys;

impl ClassicKeys {
    const NAMES: [&'static str; 8] = [
        "active-zone",
        "active-version",
        "traffic",
        "lock",
        "history",
        "progress",
        "owner",
        "router",
    ];
}

impl Drop for ClassicKeys {
    fn drop(&mut self) {
        let _ = std::thread::spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(kv) =
                    shipctl::kv::connect("swarm://", &std::collections::HashMap::new()).await
                {
                    for name in ClassicKeys::NAMES {
                        let _ = kv.delete(&format!("web-{name}")).await;
                    }
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_left_in_the_classic_layout_are_refused_until_the_spec_says_so() {
    let Some((x, _x_keys)) = project().await else {
        return;
    };
    let Some((y, _y_keys)) = project().await else {
        return;
    };
    let _classic = ClassicKeys;
    let kv = shipctl::kv::connect("swarm://", &std::collections::HashMap::new())
        .await
        .expect("connect to the Swarm KV");
    x.deploy("1.0.0");
    // As an earlier release left them: the classic names, no owner, no per-project keys.
    for name in ["active-zone", "active-version", "traffic", "owner"] {
        let key = format!("{}/web-{name}", x.project());
        let value = kv.get(&key).await.expect("read").map(|e| e.value);
        kv.delete(&key).await.expect("delete");
        if let Some(value) = value.filter(|_| name != "owner") {
            kv.put(&format!("web-{name}"), &value).await.expect("put");
        }
    }

    let out = x.run(&["plan", "--version", "1.1.0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("still the classic ones"), "{err}");
    assert!(err.contains("layout: classic"), "says what to add: {err}");

    // With the one line, the project goes on from the keys its routers read, and owns them.
    let classic = SPEC.replace("kv:\n", "kv:\n  layout: classic\n");
    x.env.write("shipctl.yaml", &classic);
    let out = x.run(&["plan", "--version", "1.1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("blue@1.0.0 -> green@1.1.0"),
        "{}",
        stdout(&out)
    );
    x.deploy("1.1.0");
    let owner = kv.get("web-owner").await.expect("read").map(|e| e.value);
    assert_eq!(owner.as_deref(), Some(x.project()));

    // Keys without an owner where this project runs nothing: another project wrote them.
    kv.delete("web-owner").await.expect("delete");
    y.env.write("shipctl.yaml", &classic);
    let out = y.run(&["plan", "--version", "2.0.0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("no owner is recorded"), "{err}");
    assert!(err.contains("web-owner"), "names the key to set: {err}");
    assert!(zones(&y).is_empty(), "{:?}", zones(&y));
}

//! Saved plans on the live Swarm: `plan --out` writes no secret value, `deploy --plan` applies
//! exactly the reviewed plan with the values read again, and refuses when one changed.

use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;

const COMPOSE: &str = r#"
services:
  web:
    image: shipctl-test-app:${IMAGE_VERSION:-1.0.0}
    environment:
      DB_PASSWORD: ${DB_PASSWORD}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
"#;

fn env_of(service: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "inspect",
            service,
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ])
        .output()
        .expect("docker service inspect");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_holds_no_secret_and_applies_with_the_values_read_again() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    p.env.write("compose.yaml", COMPOSE);
    p.env.write(".env", "DB_PASSWORD=hunter2-planted\n");
    p.deploy("1.0.0");

    let out = p.run(&["plan", "--version", "1.1.0", "--out", "saved.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("hunter2-planted"));
    let saved = std::fs::read_to_string(p.env.dir().join("saved.json")).expect("saved");
    assert!(!saved.contains("hunter2-planted"), "{saved}");

    let out = p.run(&["deploy", "--plan", "saved.json", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let green = format!("{}_web-green", p.project());
    assert!(
        env_of(&green).contains("DB_PASSWORD=hunter2-planted"),
        "the service got the real value: {}",
        env_of(&green)
    );

    // A value that changed since the plan was reviewed: refused, nothing changed.
    let out = p.run(&["plan", "--version", "1.0.0", "--out", "back.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    p.env.write(".env", "DB_PASSWORD=something-else\n");
    let out = p.run(&["deploy", "--plan", "back.json", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("DB_PASSWORD"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("something-else"), "{}", stderr(&out));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
}
